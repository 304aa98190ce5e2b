"""Readers for the prompt-file shapes people have: Vicuna (`text`), FastChat (`turns`), OpenAssistant
(`input` dialogue in the Guanaco format) as JSONL, and CSV with a prompt column."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import open_text, read_jsonl_objects
from arena.prompts.records import Message, Prompt

_SPEAKER = re.compile(r"###\s*(Human|Assistant)\s*:")
CSV_PROMPT_COLUMNS = ("prompt", "text", "question", "instruction")


def parse_guanaco_dialogue(dialogue: str, where: str) -> tuple[Message, ...]:
    """Split `### Human: .. ### Assistant: ..` into turns; the trailing empty assistant cue is dropped."""
    pieces = _SPEAKER.split(dialogue)
    if pieces[0].strip() or len(pieces) < 3:
        raise ArenaError(f"{where}: field 'input' is not a '### Human: ... ### Assistant:' dialogue")
    turns = []
    for speaker, content in zip(pieces[1::2], pieces[2::2]):
        content = content.strip()
        if speaker == "Assistant" and not content:
            continue
        turns.append(Message("user" if speaker == "Human" else "assistant", content))
    if not turns or turns[-1].role != "user":
        raise ArenaError(f"{where}: the dialogue in 'input' must end with a Human turn to answer")
    return tuple(turns)


def _messages(items: list, where: str) -> tuple[Message, ...]:
    turns = []
    for index, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or item.get("role") not in ("user", "assistant")
            or not isinstance(item.get("content"), str)
        ):
            raise ArenaError(
                f"{where}: messages[{index}] must be an object with role 'user' or 'assistant' and a string content"
            )
        turns.append(Message(item["role"], item["content"]))
    if not turns or turns[-1].role != "user":
        raise ArenaError(f"{where}: field 'messages' must end with a user message to answer")
    return tuple(turns)


def _field(row: dict, name: str, where: str, kind: type = str):
    if name not in row:
        raise ArenaError(f"{where}: missing field '{name}'")
    value = row[name]
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise ArenaError(f"{where}: field '{name}' must be a non-empty {kind.__name__}")
    return value


def prompt_from_row(row: dict, where: str, source: str) -> Prompt:
    """Normalize one JSON object of any supported shape."""
    qid = row.get("question_id", row.get("id"))
    if qid is None or isinstance(qid, (dict, list)) or str(qid).strip() == "":
        raise ArenaError(f"{where}: missing field 'question_id' (or 'id')")
    if "messages" in row:
        turns = _messages(_field(row, "messages", where, list), where)
    elif "input" in row:
        turns = parse_guanaco_dialogue(_field(row, "input", where), where)
    elif "turns" in row:
        user_turns = _field(row, "turns", where, list)
        if not user_turns or not all(isinstance(t, str) and t.strip() for t in user_turns):
            raise ArenaError(f"{where}: field 'turns' must be a list of non-empty strings")
        turns = tuple(Message("user", t) for t in user_turns)
    elif "text" in row:
        turns = (Message("user", _field(row, "text", where)),)
    else:
        raise ArenaError(f"{where}: no prompt found: expected field 'text', 'turns' or 'input'")
    reference = row.get("output") or row.get("reference")
    if isinstance(reference, list):
        reference = reference[-1] if reference else None
    return Prompt(
        id=str(qid),
        category=str(row.get("category") or "general"),
        turns=turns,
        language=row.get("lang") or row.get("language"),
        reference=reference if isinstance(reference, str) else None,
        source=source,
    )


def _check_unique(prompts: list[Prompt], lines: list[int], path: Path) -> None:
    seen: dict[str, int] = {}
    for prompt, line in zip(prompts, lines):
        if prompt.id in seen:
            raise ArenaError(
                f"{path}:{line}: duplicate question id {prompt.id!r} (first seen on line {seen[prompt.id]})"
            )
        seen[prompt.id] = line


def read_prompt_jsonl(path: Path, source: str | None = None) -> list[Prompt]:
    source = source or str(path)
    rows = read_jsonl_objects(path)
    if not rows:
        raise ArenaError(f"{path}: contains no prompts")
    prompts = [prompt_from_row(row, f"{path}:{number}", source) for number, row in rows]
    _check_unique(prompts, [number for number, _ in rows], path)
    return prompts


def read_prompt_csv(path: Path, source: str | None = None) -> list[Prompt]:
    source = source or str(path)
    with open_text(path, newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        column = next((c for c in CSV_PROMPT_COLUMNS if c in header), None)
        if column is None:
            raise ArenaError(
                f"{path}:1: no prompt column; expected one of {', '.join(CSV_PROMPT_COLUMNS)} in the header"
            )
        prompts, lines = [], []
        for number, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            text = row.get(column, "")
            if not text:
                raise ArenaError(f"{path}:{number}: empty '{column}' value")
            qid = row.get("question_id") or row.get("id") or str(number - 1)
            prompts.append(
                Prompt(
                    id=qid,
                    category=row.get("category") or "general",
                    turns=(Message("user", text),),
                    language=row.get("lang") or row.get("language") or None,
                    reference=row.get("reference") or None,
                    source=source,
                )
            )
            lines.append(number)
    if not prompts:
        raise ArenaError(f"{path}: contains no prompts")
    _check_unique(prompts, lines, path)
    return prompts


def read_prompt_file(path: Path, source: str | None = None) -> list[Prompt]:
    reader = read_prompt_csv if path.suffix.lower() == ".csv" else read_prompt_jsonl
    try:
        return reader(path, source)
    except UnicodeDecodeError as exc:
        raise ArenaError(f"{path}: not UTF-8 text (byte {exc.start})") from None
