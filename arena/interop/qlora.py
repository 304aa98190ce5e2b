"""The QLoRA paper's published evaluation (`eval/` of its repository) into the results store: GPT-4 review
files (pairwise three-class and relative 1-10), on the Vicuna and OpenAssistant benchmarks, and the answers
that were judged.

Two facts about the published files shape this module:
- OpenAssistant review rows are keyed by `message_id`, Vicuna rows by `question_id`.
- A review file's name does not always say which answer was shown first: in `relative-gpt-3.5` most files
  show ChatGPT's answer as "Assistant 1" whatever the name says. The rows' `answer1_id` / `answer2_id`,
  looked up in the answer files, are the truth; the file name is only the fallback.

Everything is parsed and checked before anything is written, so a bad file imports nothing; judgments and
answers already stored are skipped, so importing twice adds nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects, require_fields
from arena.models.answers import question_id_of, read_published_answer_rows
from arena.store.records import Answer, Judgment
from arena.store.results import ResultsStore

_REVIEWER = re.compile(r"-(gpt-?4[\w.]*(?:-\d+)*|gpt-?3\.?5(?:-turbo)?[\w.]*|chatgpt|claude[\w.-]*|human)$", re.I)
_SIZE_FIRST = re.compile(r"^(\d+(?:\.\d+)?)b-([a-z][\w.-]*?)$", re.I)
# LLaMA "30B" is the model the QLoRA paper calls Guanaco 33B.
_PAPER_SIZES = {"guanaco": {"30": "33"}}
_GENERATION_SUFFIX = re.compile(r"-(vicuna|oa)?-?generations.*$", re.I)
_ANSWER_PREFIX = re.compile(r"^answer[-_]", re.I)
_ALIASES = {
    "gpt35": "gpt-3.5",
    "gpt-35": "gpt-3.5",
    "chatgpt": "gpt-3.5",
    "gpt3.5": "gpt-3.5",
    "gpt4": "gpt-4",
    "gpt-4": "gpt-4",
    "gpt-3.5": "gpt-3.5",
    "gpt-3.5-turbo": "gpt-3.5",
}
# Words in folder and file names that tell which benchmark a review folder belongs to.
_BENCHMARK_WORDS = {"vicuna": "vicuna80", "oa": "oa953"}


# The paper's relative (1-10) reviews score every model against ChatGPT's answer: the reference of its "% of ChatGPT".
PAPER_RELATIVE_BASELINE = "gpt-3.5"


def readable_model_name(original: str) -> str:
    """One name per model for review files and answer files alike: `65b-guanaco-vicuna-generations-topp0.9-temp0.7`
    -> `guanaco-65b`, `answer_gpt35` / `answer-gpt35` -> `gpt-3.5`, `13b-hh-rlhf` -> `hh-rlhf-13b`."""
    name = _GENERATION_SUFFIX.sub("", _ANSWER_PREFIX.sub("", original))
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


# --- answers -------------------------------------------------------------------------------------
@dataclass
class QLoRAGenerations:
    """The answers of one benchmark's generation files, and which model gave each published answer id."""

    answers: list[Answer] = field(default_factory=list)
    owner: dict[str, str] = field(default_factory=dict)  # answer_id -> readable model name


def read_generations(folders: list[Path], benchmark: str) -> QLoRAGenerations:
    published = QLoRAGenerations()
    where_seen: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.jsonl")):
            model = readable_model_name(path.stem)
            for row in read_published_answer_rows(path):
                where = f"{path}:{row.line}"
                if row.answer_id is not None:
                    if row.answer_id in where_seen:
                        raise ArenaError(
                            f"{where}: answer id {row.answer_id!r} is also listed in {where_seen[row.answer_id]}"
                        )
                    where_seen[row.answer_id] = where
                    published.owner[row.answer_id] = model
                published.answers.append(
                    Answer(
                        benchmark,
                        row.question_id,
                        model,
                        [row.text],
                        answer_id=row.answer_id or f"{path.stem}:{row.question_id}",
                        finish_reason="stop",
                        meta={"imported_from": str(path), "original_model": path.stem},
                    )
                )
    return published


# --- reviews -------------------------------------------------------------------------------------
_THREE_CLASS = {1: "A", 2: "B", 3: "tie", -1: "error"}


@dataclass(frozen=True)
class ReviewFile:
    path: Path
    judgments: list[Judgment]
    corrected: int  # rows whose answer ids contradicted the file name's order

    @property
    def unparsed(self) -> int:
        return sum(j.verdict == "error" for j in self.judgments)


def _sides(by_name: tuple[str, str], row: dict, owner: dict[str, str], where: str) -> tuple[str, str, str]:
    """(model shown first, model shown second, how that was known): answer ids first, the file name's order
    `by_name` last."""
    first, second = owner.get(str(row.get("answer1_id"))), owner.get(str(row.get("answer2_id")))

    def require_named_by_file(known: str, label: str) -> None:
        if known not in by_name:
            raise ArenaError(
                f"{where}: {label} {row.get(label)!r} is an answer of '{known}', which the file name "
                f"does not name ({by_name[0]} vs {by_name[1]})"
            )

    def other_than(known: str) -> str:
        return by_name[1] if known == by_name[0] else by_name[0]

    if first is None:
        if second is None:
            return *by_name, "file name"
        require_named_by_file(second, "answer2_id")
        return other_than(second), second, "answer ids"
    require_named_by_file(first, "answer1_id")
    if second is None:
        return first, other_than(first), "answer ids"
    require_named_by_file(second, "answer2_id")
    if first == second:
        raise ArenaError(f"{where}: answer1_id and answer2_id are both answers of '{first}'")
    return first, second, "answer ids"


def _verdict(score, pairwise: bool, where: str) -> tuple[str, float | None, float | None]:
    if pairwise:
        if not isinstance(score, int) or isinstance(score, bool) or score not in _THREE_CLASS:
            raise ArenaError(f"{where}: field 'score' must be 1, 2, 3 or -1 in a three-class file, got {score!r}")
        return _THREE_CLASS[score], None, None
    if not (
        isinstance(score, list)
        and len(score) == 2
        and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in score)
    ):
        raise ArenaError(f"{where}: field 'score' must be [score_first, score_second], got {score!r}")
    first, second = float(score[0]), float(score[1])
    if first < 0 or second < 0:
        return "error", None, None
    return ("A" if first > second else "B" if second > first else "tie"), first, second


def read_review_file(
    path: Path, benchmark: str, judge: str, owner: dict[str, str] | None = None, prompt_ids: set[str] | None = None
) -> ReviewFile:
    names = parse_review_file_name(path)
    by_name = (readable_model_name(names.model_a), readable_model_name(names.model_b))
    if by_name[0] == by_name[1]:
        raise ArenaError(
            f"{path}: the file name compares '{by_name[0]}' with itself: a model cannot be judged against itself"
        )
    protocol = "pairwise" if names.pairwise else "relative"
    judgments: list[Judgment] = []
    seen: dict[str, int] = {}
    corrected = 0
    for number, row in read_jsonl_objects(path):
        where = f"{path}:{number}"
        require_fields(row, ("score", "text"), where)
        qid = question_id_of(row, where)
        text = row["text"]
        if not isinstance(text, str):
            raise ArenaError(f"{where}: field 'text' must be a string, got {text!r}")
        if prompt_ids is not None and qid not in prompt_ids:
            raise ArenaError(f"{where}: question id {qid!r} matches no prompt of '{benchmark}'")
        if qid in seen:
            raise ArenaError(f"{where}: duplicate question id {qid!r} (first seen on line {seen[qid]})")
        seen[qid] = number
        model_a, model_b, sides_from = _sides(by_name, row, owner or {}, where)
        corrected += model_a != by_name[0]
        verdict, score_a, score_b = _verdict(row["score"], names.pairwise, where)
        judgments.append(
            Judgment(
                benchmark=benchmark,
                question_id=qid,
                model_a=model_a,
                model_b=model_b,
                judge=judge,
                protocol=protocol,
                verdict=verdict,
                score_a=score_a,
                score_b=score_b,
                explanation=text,
                raw=text,
                source=f"qlora:{path.name}",
                meta={
                    "file": path.name,
                    "original_model_a": names.model_a,
                    "original_model_b": names.model_b,
                    "sides_from": sides_from,
                    "order_corrected": model_a != by_name[0],
                    "reviewer": names.reviewer,
                    "review_id": row.get("review_id"),
                    "answer1_id": row.get("answer1_id"),
                    "answer2_id": row.get("answer2_id"),
                    **(
                        {"baseline": PAPER_RELATIVE_BASELINE}
                        if protocol == "relative" and PAPER_RELATIVE_BASELINE in (model_a, model_b)
                        else {}
                    ),
                },
            )
        )
    return ReviewFile(path, judgments, corrected)


# --- finding the folders of an eval/ tree ---------------------------------------------------------
def _is_review_file(path: Path) -> bool:
    return "-vs-" in path.name


def review_folders(root: Path) -> list[Path]:
    """`root` itself when it holds .jsonl files (all must be review files), else every folder below it that
    holds review files, outside generations/ (the QLoRA repository's eval/ layout, or any part of it)."""
    if not root.is_dir():
        raise ArenaError(f"{root}: not a directory")
    if any(root.glob("*.jsonl")):
        return [root]
    folders = sorted(
        {
            p.parent
            for p in root.rglob("*.jsonl")
            if _is_review_file(p) and "generations" not in p.relative_to(root).parts
        }
    )
    if not folders:
        raise ArenaError(
            f"{root}: no review files (<A>-vs-<B>-<reviewer>-reviewer[-threeclass].jsonl) found in it or below it"
        )
    return folders


def _words(text: str) -> set[str]:
    return set(re.split(r"[-_./]", text.lower()))


def benchmark_of(folder: Path, root: Path) -> str:
    """vicuna80 or oa953, from the folder's path (`ratings-gpt4/oa`) or else from its file names
    (`...-oa-generations-...`)."""
    for part in reversed((root.name, *folder.relative_to(root).parts)):
        found = {_BENCHMARK_WORDS[w] for w in _words(part) if w in _BENCHMARK_WORDS}
        if len(found) == 1:
            return found.pop()
    votes = Counter(
        _BENCHMARK_WORDS[w] for p in folder.glob("*.jsonl") for w in _words(p.name) if w in _BENCHMARK_WORDS
    )
    if len(votes) == 1:
        return next(iter(votes))
    raise ArenaError(f"{folder}: cannot tell whether these reviews are on vicuna80 or oa953; give --benchmark")


def generation_folders(folder: Path, benchmark: str) -> list[Path]:
    """The answers judged in `folder`: generations/<vicuna|oa>/ or generations/ in the nearest folder above
    it (eval/generations/oa for eval/ratings-gpt4/oa, sample/generations for sample/ratings)."""
    keys = [w for w, b in _BENCHMARK_WORDS.items() if b == benchmark]
    folder = folder.absolute()
    for ancestor in (folder, *folder.parents):
        for candidate in [ancestor / "generations" / key for key in keys] + [ancestor / "generations"]:
            if candidate.is_dir() and any(candidate.glob("*.jsonl")):
                return [candidate]
    return []


# --- the whole import ------------------------------------------------------------------------------
@dataclass
class BenchmarkImport:
    benchmark: str
    files: list[ReviewFile] = field(default_factory=list)
    answers: QLoRAGenerations = field(default_factory=QLoRAGenerations)
    added: int = 0
    already_stored: int = 0
    answers_added: Counter = field(default_factory=Counter)

    def describe(self) -> list[str]:
        judgments = sum(len(f.judgments) for f in self.files)
        protocols = Counter(j.protocol for f in self.files for j in f.judgments)
        lines = [
            f"{self.benchmark}: {len(self.files)} review files, {judgments} judgments "
            f"({', '.join(f'{n} {p}' for p, n in sorted(protocols.items()))}): "
            f"{self.added} added, {self.already_stored} already stored"
        ]
        lines += [f"  answers of {model}: {count} added" for model, count in sorted(self.answers_added.items())]
        unparsed = [(f.path.name, f.unparsed) for f in self.files if f.unparsed]
        if unparsed:
            lines.append(
                f"  {sum(n for _, n in unparsed)} reviews could not be parsed by the judge's own script; "
                "kept as verdict 'error' (never counted as ties):"
            )
            lines += [f"    {name}: {count}" for name, count in unparsed]
        corrected = [(f.path.name, f.corrected, len(f.judgments)) for f in self.files if f.corrected]
        if corrected:
            lines.append(
                f"  {sum(n for _, n, _ in corrected)} rows showed the answers in the other order than their "
                "file name says; sides taken from the rows' answer ids:"
            )
            lines += [f"    {name}: {n} of {total} rows" for name, n, total in corrected]
        return lines


def _prompt_ids(benchmark: str) -> set[str] | None:
    from arena.prompts.registry import find_prompt_set

    prompt_set = find_prompt_set(benchmark)
    return None if prompt_set is None else set(prompt_set.by_id)


def read_qlora_eval(
    root: Path, judge: str, benchmark: str | None = None, generations: Path | None = None
) -> list[BenchmarkImport]:
    """Parse and check every review and answer file under `root`; nothing is written."""
    if generations is not None and not generations.is_dir():
        raise ArenaError(f"{generations}: not a directory of answer files")
    grouped: dict[str, tuple[list[Path], list[Path]]] = {}
    for folder in review_folders(root):
        name = benchmark or benchmark_of(folder, root)
        reviews, answers = grouped.setdefault(name, ([], []))
        reviews.append(folder)
        for found in [generations] if generations else generation_folders(folder, name):
            if found not in answers:
                answers.append(found)
    imports = []
    for name, (folders, answer_folders) in sorted(grouped.items()):
        result = BenchmarkImport(name, answers=read_generations(answer_folders, name))
        prompt_ids = _prompt_ids(name)
        for folder in folders:
            result.files += [
                read_review_file(path, name, judge, result.answers.owner, prompt_ids)
                for path in sorted(folder.glob("*.jsonl"))
            ]
        imports.append(result)
    return imports


def store_imports(store: ResultsStore, imports: list[BenchmarkImport]) -> None:
    for result in imports:
        existing = {j.judgment_id for j in store.judgments(result.benchmark)}
        parsed = [j for f in result.files for j in f.judgments]
        new = [j for j in parsed if j.judgment_id not in existing]
        store.save_judgments(new)
        result.added, result.already_stored = len(new), len(parsed) - len(new)
        for model in sorted({a.model for a in result.answers.answers}):
            stored = store.answers(result.benchmark, model)
            fresh = [a for a in result.answers.answers if a.model == model and a.question_id not in stored]
            store.save_answers(fresh)
            result.answers_added[model] = len(fresh)
