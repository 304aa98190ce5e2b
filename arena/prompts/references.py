"""Reference answers that travel with a prompt set: a judge template that grades against a reference (MT-bench's
math, reasoning and coding questions) shows the judge the reference for the turn it grades.

Accepted shapes, one JSON object a line keyed by `question_id`: FastChat's reference_answer files
(`choices[0].turns`, one reference per user turn) or `reference` (a string, or a list of one per turn)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects
from arena.prompts.records import Prompt

# The categories FastChat grades with a reference (its NEED_REF_CATS): a template set with a reference variant
# uses it, and needs a reference, exactly for these.
REFERENCE_CATEGORIES = ("math", "reasoning", "coding")


def needs_reference(category: str | None) -> bool:
    return (category or "").lower() in REFERENCE_CATEGORIES


def _turns_of(row: dict, where: str) -> tuple[str, ...]:
    if "choices" in row:
        try:
            turns = row["choices"][0]["turns"]
        except (KeyError, IndexError, TypeError):
            raise ArenaError(f"{where}: field 'choices' must be a list whose first item has 'turns'") from None
    elif "reference" in row:
        turns = row["reference"] if isinstance(row["reference"], list) else [row["reference"]]
    else:
        raise ArenaError(
            f"{where}: no reference found: expected field 'choices' (FastChat reference_answer) or 'reference'"
        )
    if not turns or not all(isinstance(t, str) for t in turns):
        raise ArenaError(f"{where}: the reference must be a non-empty list of strings, one per user turn")
    return tuple(turns)


def read_references(path: Path, prompts: list[Prompt]) -> dict[str, tuple[str, ...]]:
    """question id -> reference turns. Every id must name a question of the set: a reference file for another
    set (or with mistyped ids) is refused, naming the line."""
    known = {p.id for p in prompts}
    references: dict[str, tuple[str, ...]] = {}
    lines: dict[str, int] = {}
    rows = read_jsonl_objects(path)
    if not rows:
        raise ArenaError(f"{path}: contains no reference answers")
    for number, row in rows:
        where = f"{path}:{number}"
        if "question_id" not in row:
            raise ArenaError(f"{where}: missing field 'question_id'")
        qid = str(row["question_id"])
        if qid not in known:
            raise ArenaError(f"{where}: question id {qid!r} matches no question of the prompt set")
        if qid in references:
            raise ArenaError(f"{where}: duplicate question id {qid!r} (first seen on line {lines[qid]})")
        references[qid] = _turns_of(row, where)
        lines[qid] = number
    return references


def with_references(prompts: list[Prompt], path: Path) -> list[Prompt]:
    references = read_references(path, prompts)
    return [replace(p, references=references[p.id]) if p.id in references else p for p in prompts]
