"""Published judgments into the results store: the QLoRA paper's GPT-4 review files and FastChat llm_judge
model_judgment files. Every file is parsed in full before anything is written, so a bad file imports
nothing; judgments already stored are skipped, so importing twice adds nothing."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects, require_fields
from arena.store.records import Answer, Judgment
from arena.store.results import ResultsStore

_REVIEWER = re.compile(r"-(gpt-?4[\w.]*(?:-\d+)*|gpt-?3\.?5(?:-turbo)?[\w.]*|chatgpt|claude[\w.-]*|human)$", re.I)
_SIZE_FIRST = re.compile(r"^(\d+(?:\.\d+)?)b-([a-z][\w.]*?)$", re.I)
# LLaMA "30B" is the model the QLoRA paper calls Guanaco 33B.
_PAPER_SIZES = {"guanaco": {"30": "33"}}
_GENERATION_SUFFIX = re.compile(r"-(vicuna|oa)?-?generations.*$", re.I)
_ALIASES = {"gpt35": "gpt-3.5", "gpt-35": "gpt-3.5", "chatgpt": "gpt-3.5", "gpt3.5": "gpt-3.5",
            "gpt4": "gpt-4", "gpt-4": "gpt-4", "gpt-3.5": "gpt-3.5", "gpt-3.5-turbo": "gpt-3.5"}


def readable_model_name(original: str) -> str:
    """`65b-guanaco-vicuna-generations-topp0.9-temp0.7` -> `guanaco-65b`, `answer-gpt35` -> `gpt-3.5`."""
    name = original
    if name.lower().startswith("answer-"):
        name = name[len("answer-"):]
    name = _GENERATION_SUFFIX.sub("", name)
    if name.lower() in _ALIASES:
        return _ALIASES[name.lower()]
    sized = _SIZE_FIRST.match(name)
    if sized:
        size, family = sized.group(1), sized.group(2).lower()
        size = _PAPER_SIZES.get(family, {}).get(size, size)
        return f"{family}-{size}b"
    return name


@dataclass(frozen=True)
class ReviewFileName:
    model_a: str
    model_b: str
    reviewer: str
    pairwise: bool


def parse_review_file_name(path: Path) -> ReviewFileName:
    stem = path.name.removesuffix(".jsonl")
    pairwise = stem.endswith("-threeclass")
    stem = stem.removesuffix("-threeclass")
    if "-vs-" not in stem:
        raise ArenaError(f"{path}: file name has no '-vs-'; expected <A>-vs-<B>-<reviewer>-reviewer[-threeclass].jsonl")
    if not stem.endswith("-reviewer"):
        raise ArenaError(f"{path}: file name does not end in '-reviewer[-threeclass].jsonl'")
    stem = stem.removesuffix("-reviewer")
    first, rest = stem.split("-vs-", 1)
    reviewer = _REVIEWER.search(rest)
    if reviewer:
        second, reviewer_name = rest[: reviewer.start()], reviewer.group(1)
    elif "-" in rest:
        second, reviewer_name = rest.rsplit("-", 1)
    else:
        raise ArenaError(f"{path}: cannot tell the second model from the reviewer in '{rest}'")
    if not first or not second:
        raise ArenaError(f"{path}: a model name in the file name is empty")
    return ReviewFileName(first, second, reviewer_name, pairwise)


_THREE_CLASS = {1: "A", 2: "B", 3: "tie", -1: "error"}


def read_review_file(path: Path, benchmark: str, judge: str) -> list[Judgment]:
    names = parse_review_file_name(path)
    model_a, model_b = readable_model_name(names.model_a), readable_model_name(names.model_b)
    protocol = "pairwise" if names.pairwise else "relative"
    judgments, seen = [], {}
    for number, row in read_jsonl_objects(path):
        where = f"{path}:{number}"
        require_fields(row, ("question_id", "score", "text"), where)
        score = row["score"]
        score_a = score_b = None
        if names.pairwise:
            if isinstance(score, bool) or score not in _THREE_CLASS:
                raise ArenaError(f"{where}: field 'score' must be 1, 2, 3 or -1 in a three-class file, got {score!r}")
            verdict = _THREE_CLASS[score]
        else:
            if not (isinstance(score, list) and len(score) == 2 and all(isinstance(s, (int, float)) for s in score)):
                raise ArenaError(f"{where}: field 'score' must be [score_first, score_second], got {score!r}")
            score_a, score_b = float(score[0]), float(score[1])
            if score_a < 0 or score_b < 0:
                verdict, score_a, score_b = "error", None, None
            else:
                verdict = "A" if score_a > score_b else "B" if score_b > score_a else "tie"
        qid = str(row["question_id"])
        if qid in seen:
            raise ArenaError(f"{where}: duplicate question id {qid!r} (first seen on line {seen[qid]})")
        seen[qid] = number
        judgments.append(Judgment(
            benchmark=benchmark, question_id=qid, model_a=model_a, model_b=model_b, judge=judge,
            protocol=protocol, verdict=verdict, score_a=score_a, score_b=score_b, explanation=str(row["text"]),
            raw=str(row["text"]), source=f"qlora:{path.name}",
            meta={"original_model_a": names.model_a, "original_model_b": names.model_b,
                  "reviewer": names.reviewer, "review_id": row.get("review_id"),
                  "answer1_id": row.get("answer1_id"), "answer2_id": row.get("answer2_id")},
        ))
    return judgments


@dataclass
class ImportSummary:
    files: int = 0
    added: int = 0
    already_stored: int = 0
    errors_by_file: dict[str, int] = field(default_factory=dict)
    protocols: Counter = field(default_factory=Counter)
    answers: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"read {self.files} files: {self.added} judgments added, {self.already_stored} already stored"]
        lines += [f"  answers of {model}: {count} added" for model, count in sorted(self.answers.items())]
        lines += [f"  {protocol}: {count}" for protocol, count in sorted(self.protocols.items())]
        unparsed = sum(self.errors_by_file.values())
        if unparsed:
            lines.append(f"{unparsed} reviews could not be parsed by the judge's own script; kept as verdict "
                         "'error' (never counted as ties):")
            lines += [f"  {name}: {count}" for name, count in sorted(self.errors_by_file.items()) if count]
        return "\n".join(lines)


def _store_new(store: ResultsStore, benchmark: str, judgments: list[Judgment], summary: ImportSummary) -> None:
    existing = {j.judgment_id for j in store.judgments(benchmark)}
    new = [j for j in judgments if j.judgment_id not in existing]
    store.save_judgments(new)
    summary.added += len(new)
    summary.already_stored += len(judgments) - len(new)
    summary.protocols.update(j.protocol for j in new)


def read_generations(directory: Path, benchmark: str) -> list[Answer]:
    """The paper's generation files (`<model>.jsonl` with question_id and generation), under the same
    readable model names as the reviews, so the report can show the answers behind each verdict."""
    from arena.models.answers import read_published_answers

    answers = []
    for path in sorted(directory.glob("*.jsonl")):
        model = readable_model_name(path.stem)
        for qid, text in read_published_answers(path).items():
            answers.append(Answer(benchmark, qid, model, [text], answer_id=f"{path.stem}:{qid}",
                                  finish_reason="stop", meta={"imported_from": str(path), "original_model": path.stem}))
    return answers


def import_qlora_reviews(store: ResultsStore, directory: Path, benchmark: str, judge: str,
                         generations: Path | None = None) -> ImportSummary:
    if not directory.is_dir():
        raise ArenaError(f"{directory}: not a directory of review files")
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise ArenaError(f"{directory}: no .jsonl review files found")
    if generations is None and (directory.parent / "generations").is_dir():
        generations = directory.parent / "generations"
    summary = ImportSummary(files=len(files))
    parsed = []
    for path in files:
        judgments = read_review_file(path, benchmark, judge)
        summary.errors_by_file[path.name] = sum(j.verdict == "error" for j in judgments)
        parsed.extend(judgments)
    answers = read_generations(generations, benchmark) if generations is not None else []
    _store_new(store, benchmark, parsed, summary)
    for model in sorted({a.model for a in answers}):
        stored = store.answers(benchmark, model)
        new = [a for a in answers if a.model == model and a.question_id not in stored]
        store.save_answers(new)
        summary.answers[model] = len(new)
    return summary


# --- FastChat llm_judge --------------------------------------------------------------------------
_FASTCHAT_WINNER = {"model_1": 1, "model_2": 2, "tie": 0, "error": None}


def read_fastchat_judgments(path: Path, benchmark: str, judge: str | None) -> list[Judgment]:
    """Pairwise rows give two judgments (g1: model_1 shown first; g2: model_2 shown first); single rows one."""
    judgments = []
    for number, row in read_jsonl_objects(path):
        where = f"{path}:{number}"
        require_fields(row, ("question_id",), where)
        judge_info = row.get("judge") or []
        judge_name = judge or (judge_info[0] if judge_info else path.stem.split("_")[0])
        template = judge_info[1] if len(judge_info) > 1 else None
        turn = row.get("turn", 1)
        common = dict(benchmark=benchmark, question_id=str(row["question_id"]), judge=judge_name,
                      template_hash=template, source=f"fastchat:{path.name}:turn{turn}", meta={"turn": turn})
        if "model_1" in row:
            require_fields(row, ("model_2", "g1_winner", "g2_winner"), where)
            for order, (first, second) in (("g1", ("model_1", "model_2")), ("g2", ("model_2", "model_1"))):
                winner = row[f"{order}_winner"]
                if winner not in _FASTCHAT_WINNER:
                    raise ArenaError(f"{where}: field '{order}_winner' must be model_1, model_2, tie or error, got {winner!r}")
                verdict = ("error" if winner == "error" else "tie" if winner == "tie"
                           else "A" if winner == first else "B")
                text = str(row.get(f"{order}_judgment", ""))
                judgments.append(Judgment(model_a=row[first], model_b=row[second], protocol="pairwise",
                                          verdict=verdict, explanation=text, raw=text, **common))
        elif "model" in row:
            require_fields(row, ("score",), where)
            score = row["score"]
            if not isinstance(score, (int, float)) or isinstance(score, bool):
                raise ArenaError(f"{where}: field 'score' must be a number, got {score!r}")
            text = str(row.get("judgment", ""))
            judgments.append(Judgment(model_a=row["model"], model_b="", protocol="single",
                                      verdict="error" if score < 0 else "graded",
                                      score_a=None if score < 0 else float(score), explanation=text, raw=text,
                                      **common))
        else:
            raise ArenaError(f"{where}: missing field 'model_1' (pairwise) or 'model' (single)")
    return judgments


def import_fastchat(store: ResultsStore, directory: Path, benchmark: str, judge: str | None) -> list[str]:
    """Answers from model_answer/ and judgments from model_judgment/, whichever DIR has."""
    from arena.store.fastchat import import_answers

    if not directory.is_dir():
        raise ArenaError(f"{directory}: not a directory")
    answer_dir, judgment_dir = directory / "model_answer", directory / "model_judgment"
    if not answer_dir.is_dir() and not judgment_dir.is_dir():
        raise ArenaError(f"{directory}: has neither model_answer/ nor model_judgment/")
    judgment_files = sorted(judgment_dir.glob("*.jsonl")) if judgment_dir.is_dir() else []
    parsed = [j for path in judgment_files for j in read_fastchat_judgments(path, benchmark, judge)]
    lines = []
    if answer_dir.is_dir():
        for model, count in import_answers(store, directory, benchmark).items():
            lines.append(f"answers {model}: {count} added")
    if judgment_files:
        summary = ImportSummary(files=len(judgment_files))
        _store_new(store, benchmark, parsed, summary)
        lines.append(summary.describe())
    return lines
