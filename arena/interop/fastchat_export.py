"""Answers in FastChat llm_judge's layout, so its tools (and people used to them) can read ours and we theirs:

DIR/question.jsonl               {"question_id", "category", "turns": [user turns]}
DIR/model_answer/<model>.jsonl   {"question_id", "answer_id", "model_id", "choices": [{"index": 0, "turns": [...]}],
                                  "tstamp"}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects, require_fields
from arena.prompts.records import PromptSet
from arena.store.atomic import write_atomically
from arena.store.records import Answer
from arena.store.results import ResultsStore, file_safe


def fastchat_question_id(question_id: str) -> int | str:
    """FastChat's question.jsonl (and the published files) number questions with ints: an id that is a
    plain number ("81", not "081") is written as one; the import reads either back as the same id."""
    return (
        int(question_id)
        if question_id.isascii() and question_id.isdigit() and str(int(question_id)) == question_id
        else question_id
    )


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def export_answers(store: ResultsStore, prompt_set: PromptSet, out_dir: Path, models: list[str] | None = None) -> dict:
    models = models or store.answered_models(prompt_set.name)
    if not models:
        raise ArenaError(f"no answers stored for prompt set '{prompt_set.name}' in {store.root}")
    # Each file is written whole and renamed into place: a FastChat tool reading the folder, or an interrupted
    # export, never sees half a file.
    questions = [
        {"question_id": fastchat_question_id(p.id), "category": p.category, "turns": p.user_turns}
        for p in prompt_set.prompts
    ]
    write_atomically(out_dir / "question.jsonl", _jsonl(questions))
    counts = {}
    for model in models:
        answers = store.answers(prompt_set.name, model)
        rows = [
            {
                "question_id": fastchat_question_id(prompt.id),
                "answer_id": answers[prompt.id].answer_id,
                "model_id": model,
                "choices": [{"index": 0, "turns": answers[prompt.id].turns}],
                "tstamp": time.time(),
            }
            for prompt in prompt_set.prompts
            if prompt.id in answers
        ]
        write_atomically(out_dir / "model_answer" / f"{file_safe(model)}.jsonl", _jsonl(rows))
        counts[model] = len(answers)
    return counts


def read_fastchat_answers(
    path: Path, benchmark: str, model: str | None = None, prompt_ids: set[str] | None = None
) -> list[Answer]:
    """Parse a whole model_answer file before anything is stored, so a bad line imports nothing. With
    `prompt_ids` (the set is available here), an answer to a question the set does not have is refused: it
    could never be judged, and most often means the file belongs to another set."""
    answers: list[Answer] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl_objects(path):
        where = f"{path}:{number}"
        require_fields(row, ("question_id", "choices"), where)
        try:
            turns = row["choices"][0]["turns"]
        except (KeyError, IndexError, TypeError):
            raise ArenaError(f"{where}: field 'choices' must be a list whose first item has 'turns'") from None
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise ArenaError(f"{where}: field 'choices[0].turns' must be a list of strings")
        qid = str(row["question_id"])
        if prompt_ids is not None and qid not in prompt_ids:
            raise ArenaError(
                f"{where}: question_id {qid!r} matches no question of prompt set '{benchmark}' "
                f"({len(prompt_ids)} questions)"
            )
        if qid in seen:
            raise ArenaError(f"{where}: duplicate question id {qid!r} (first seen on line {seen[qid]})")
        seen[qid] = number
        answers.append(
            Answer(
                benchmark=benchmark,
                question_id=qid,
                model=model or row.get("model_id") or path.stem,
                turns=turns,
                answer_id=str(row.get("answer_id") or f"{path.stem}-{qid}"),
                meta={"imported_from": str(path)},
            )
        )
    if not answers:
        raise ArenaError(f"{path}: contains no answers")
    return answers


def read_answer_files(directory: Path, benchmark: str) -> list[list[Answer]]:
    """Every model_answer file, parsed and checked (against the prompt set when it is available here)."""
    from arena.prompts.registry import find_prompt_set

    folder = directory / "model_answer" if (directory / "model_answer").is_dir() else directory
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise ArenaError(f"{directory}: no model_answer/*.jsonl files found")
    prompt_set = find_prompt_set(benchmark)
    prompt_ids = None if prompt_set is None else set(prompt_set.by_id)
    return [read_fastchat_answers(path, benchmark, prompt_ids=prompt_ids) for path in files]


def store_answer_files(store: ResultsStore, parsed: list[list[Answer]], benchmark: str) -> dict[str, int]:
    added = {}
    for answers in parsed:
        model = answers[0].model
        existing = store.answers(benchmark, model)
        new = [a for a in answers if a.question_id not in existing]
        store.save_answers(new)
        added[model] = len(new)
    return added
