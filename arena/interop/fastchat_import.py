"""FastChat llm_judge data into the results store: answers from model_answer/ and judgments from
model_judgment/. Every file is read and checked before anything is written, so a bad file imports nothing.
Judgment files are then streamed (a million rows in bounded memory) into temporary files beside the logs, which
are appended to the logs once all have been read. Judgments already stored are skipped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from arena.errors import ArenaError
from arena.inputs import id_field, iter_jsonl_objects, require_fields, text_field
from arena.store.records import Answer, Judgment, stable_id, utc_now
from arena.store.results import ResultsStore

_FASTCHAT_WINNER = {"model_1": 1, "model_2": 2, "tie": 0, "error": None}


@dataclass(frozen=True)
class _Line:
    """What every judgment read from one line of a judgment file shares."""

    benchmark: str
    question_id: str
    judge: str
    template_hash: str | None
    source: str
    turn: int
    created: str

    def judgment(
        self, model_a: str, model_b: str, protocol: str, verdict: str, text: str, score_a: float | None = None
    ) -> Judgment:
        """The id is the one imports made before judgments had a turn field (the turn is in the source), so a
        store imported then is not duplicated by importing the same file again."""
        judgment_id = stable_id(
            self.benchmark, self.question_id, model_a, model_b, self.judge, protocol, self.template_hash, self.source
        )
        return Judgment(
            benchmark=self.benchmark,
            question_id=self.question_id,
            model_a=model_a,
            model_b=model_b,
            judge=self.judge,
            protocol=protocol,
            verdict=verdict,
            score_a=score_a,
            explanation=text,
            raw=text,
            template_hash=self.template_hash,
            source=self.source,
            judgment_id=judgment_id,
            created=self.created,
            meta={"turn": self.turn},
            turn=self.turn,
        )


def _judge_field(row: dict, where: str) -> tuple[str | None, str | None]:
    """FastChat's `"judge": [judge model, prompt name]` as (judge, template); (None, None) when absent."""
    if "judge" not in row:
        return None, None
    info = row["judge"]
    if not (
        isinstance(info, list) and 1 <= len(info) <= 2 and all(isinstance(part, str) and part.strip() for part in info)
    ):
        raise ArenaError(f"{where}: field 'judge' must be [judge model, prompt name] (two strings), got {info!r}")
    return info[0], info[1] if len(info) > 1 else None


def _optional_text(row: dict, name: str, where: str) -> str:
    """A judge's written judgment: a string, or absent or null (then empty)."""
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ArenaError(f"{where}: field '{name}' must be a string, got {value!r}")
    return value


def iter_fastchat_judgments(
    path: Path, benchmark: str, judge: str | None, prompt_ids: set[str] | None = None
) -> Iterator[Judgment]:
    """Pairwise rows give two judgments (g1: model_1 shown first; g2: model_2 shown first); single rows one.
    Every field read is checked: a wrong type is one message naming the file, the line and the field. With
    `prompt_ids` (the set is available here), a judgment of a question the set does not have is refused, as
    answers are; a model judged against itself always is."""
    imported = utc_now()  # one stamp for the file: the time of import, not of each row
    for number, row in iter_jsonl_objects(path):
        where = f"{path}:{number}"
        question_id = id_field(row, "question_id", where)
        if prompt_ids is not None and question_id not in prompt_ids:
            raise ArenaError(
                f"{where}: question_id {question_id!r} matches no question of prompt set '{benchmark}' "
                f"({len(prompt_ids)} questions)"
            )
        judge_model, template = _judge_field(row, where)
        judge_name = judge or judge_model or path.stem.split("_")[0]
        turn = row.get("turn", 1)
        if not isinstance(turn, int) or isinstance(turn, bool) or turn < 1:
            raise ArenaError(f"{where}: field 'turn' must be a turn number (1, 2, ...), got {turn!r}")
        source = f"fastchat:{path.name}:turn{turn}"
        line = _Line(benchmark, question_id, judge_name, template, source, turn, imported)
        if "model_1" in row:
            models = {"model_1": text_field(row, "model_1", where), "model_2": text_field(row, "model_2", where)}
            if models["model_1"] == models["model_2"]:
                raise ArenaError(
                    f"{where}: fields 'model_1' and 'model_2' are both {models['model_1']!r}: "
                    "a model cannot be judged against itself"
                )
            require_fields(row, ("g1_winner", "g2_winner"), where)
            for order, (first, second) in (("g1", ("model_1", "model_2")), ("g2", ("model_2", "model_1"))):
                winner = row[f"{order}_winner"]
                if not isinstance(winner, str) or winner not in _FASTCHAT_WINNER:
                    raise ArenaError(
                        f"{where}: field '{order}_winner' must be model_1, model_2, tie or error, got {winner!r}"
                    )
                verdict = (
                    "error" if winner == "error" else "tie" if winner == "tie" else "A" if winner == first else "B"
                )
                text = _optional_text(row, f"{order}_judgment", where)
                yield line.judgment(models[first], models[second], "pairwise", verdict, text)
        elif "model" in row:
            model = text_field(row, "model", where)
            require_fields(row, ("score",), where)
            score = row["score"]
            if not isinstance(score, (int, float)) or isinstance(score, bool) or score != score:
                raise ArenaError(f"{where}: field 'score' must be a number, got {score!r}")
            readable = 1 <= score <= 10  # FastChat writes -1 for a judgment it could not read
            yield line.judgment(
                model,
                "",
                "single",
                "graded" if readable else "error",
                _optional_text(row, "judgment", where),
                float(score) if readable else None,
            )
        else:
            raise ArenaError(f"{where}: missing field 'model_1' (pairwise) or 'model' (single)")


@dataclass(frozen=True)
class FastchatSource:
    """What a FastChat folder holds, checked before anything is opened in the store: its answers parsed, its
    judgment files read through once and checked (they are read again, streamed, at import: being large, they
    are not kept in memory)."""

    directory: Path
    answers: list[list[Answer]]
    judgment_files: list[Path]
    prompt_ids: set[str] | None = None


def read_fastchat_source(directory: Path, benchmark: str) -> FastchatSource:
    """Answers from model_answer/ and judgment files from model_judgment/, whichever DIR has."""
    from arena.interop.fastchat_export import read_answer_files
    from arena.prompts.registry import find_prompt_set

    if not directory.is_dir():
        raise ArenaError(f"{directory}: not a directory")
    answer_dir, judgment_dir = directory / "model_answer", directory / "model_judgment"
    if not answer_dir.is_dir() and not judgment_dir.is_dir():
        raise ArenaError(f"{directory}: has neither model_answer/ nor model_judgment/")
    answers = read_answer_files(directory, benchmark) if answer_dir.is_dir() else []
    judgment_files = sorted(judgment_dir.glob("*.jsonl")) if judgment_dir.is_dir() else []
    prompt_set = find_prompt_set(benchmark) if judgment_files else None
    prompt_ids = None if prompt_set is None else set(prompt_set.by_id)
    for path in judgment_files:  # every row checked before the import writes anything, answers included
        for _ in iter_fastchat_judgments(path, benchmark, None, prompt_ids):
            pass
    return FastchatSource(directory, answers, judgment_files, prompt_ids)


def import_fastchat(store: ResultsStore, source: FastchatSource, benchmark: str, judge: str | None) -> list[str]:
    from arena.interop.fastchat_export import store_answer_files

    lines = [
        f"answers {model}: {count} added"
        for model, count in store_answer_files(store, source.answers, benchmark).items()
    ]
    if source.judgment_files:
        lines.append(_import_judgments(store, source.judgment_files, benchmark, judge, source.prompt_ids))
    return lines


def _import_judgments(
    store: ResultsStore, paths: list[Path], benchmark: str, judge: str | None, prompt_ids: set[str] | None
) -> str:
    import orjson

    existing = set(store.judgment_columns(benchmark).judgment_id.tolist())
    staged: dict[str, tuple[Path, BinaryIO]] = {}  # judge -> (temporary file, its handle)
    seen: set[bytes] = set()
    added, already, errors = 0, 0, 0
    try:
        for path in paths:
            for judgment in iter_fastchat_judgments(path, benchmark, judge, prompt_ids):
                key = judgment.judgment_id.encode()
                if key in existing or key in seen:
                    already += 1
                    continue
                seen.add(key)
                if judgment.judge not in staged:
                    staged[judgment.judge] = store.stage_judgments(benchmark, judgment.judge)
                staged[judgment.judge][1].write(orjson.dumps(judgment.to_dict()) + b"\n")
                added += 1
                errors += judgment.verdict == "error"
        for _, handle in staged.values():
            handle.close()
        for judge_name, (temporary, _) in staged.items():  # every file was read without a fault: now store
            store.append_staged(benchmark, judge_name, temporary)
    finally:
        for temporary, handle in staged.values():
            handle.close()
            temporary.unlink(missing_ok=True)
    return f"read {len(paths)} files: {added} judgments added, {already} already stored" + (
        f", {errors} of them errors" if errors else ""
    )
