"""AlpacaEval annotations into the results store, and back out in the same shape.

AlpacaEval publishes, per model, `results/<model>/<annotator>/annotations.json`: a JSON list with one row per
instruction, holding the instruction, the baseline's answer (`output_1`, by `generator_1`) shown first, the
model's (`output_2`, `generator_2`), the `annotator`, the `dataset` it came from, and the judge's
`preference`: 1 = the baseline's answer preferred, 2 = the model's, 1.5 a draw, and for the weighted
annotators any number in between, read from the judge's token probabilities. An older convention writes a
draw as 0.

Each row becomes one pairwise judgment with its soft verdict kept (`preference_b` = preference − 1, not
rounded; 0 reads as a draw) and its published preference in `meta`, so an export writes back exactly what was
read. Both answers are stored as the models' answers, and the instructions become a prompt set (default
`alpaca-eval`) keyed by a hash of the instruction text, so the same instruction gets the same id in every
model's file and on every import. A row may carry its own id (`instruction_id`); it is then checked against
the text already known for that id. Every file is read and checked before anything is stored, and what is
already stored is skipped: importing twice adds nothing.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import id_field, json_error_text
from arena.store.records import Answer, Judgment, stable_id, utc_now, verdict_of_preference
from arena.store.results import ResultsStore

log = logging.getLogger(__name__)

ANNOTATIONS = "annotations.json"
PREFERENCE_RANGE = (0.0, 2.5)  # what AlpacaEval's annotators can write; anything else is a damaged file
_SOURCE = "alpaca-eval"  # one source for every import, whatever the folder, so a copy re-imports as nothing new
_REQUIRED = ("instruction", "output_1", "generator_1", "output_2", "generator_2")


def instruction_id(text: str) -> str:
    """The id an instruction gets from its text alone: stable across files, imports and machines."""
    return "ae-" + stable_id("alpaca-eval instruction", text)[:12]


def soft_preference(preference: float) -> float:
    """AlpacaEval's preference (1 baseline, 2 model, 0 or 1.5 a draw) as P(the answer shown second is better)."""
    if preference == 0:
        return 0.5
    return min(max(preference - 1.0, 0.0), 1.0)


@dataclass(frozen=True)
class Instruction:
    id: str
    text: str
    category: str


@dataclass
class AlpacaImport:
    """Everything read from the files, checked, before anything is stored."""

    benchmark: str
    files: list[Path] = field(default_factory=list)
    judgments: list[Judgment] = field(default_factory=list)
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)  # (model, question) -> first seen
    answer_origins: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, question) -> "file: row n"
    instructions: dict[str, Instruction] = field(default_factory=dict)  # id -> instruction, in file order
    without_preference: int = 0
    added: int = 0
    already_stored: int = 0
    answers_added: int = 0
    instructions_added: int = 0

    def describe(self) -> list[str]:
        models = sorted({j.model_b for j in self.judgments})
        return [
            f"{self.benchmark}: read {len(self.files)} annotation files ({len(models)} models, "
            f"{len(self.instructions)} instructions): {self.added} judgments added, {self.already_stored} "
            f"already stored, {self.without_preference} rows without a preference skipped; "
            f"{self.answers_added} answers and {self.instructions_added} instructions added"
        ]


def annotation_files(path: Path) -> list[Path]:
    """A results/ folder (every annotations.json under it) or one annotations file."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ArenaError(f"{path}: no such file or directory")
    found = sorted(path.rglob(ANNOTATIONS))
    if not found:
        raise ArenaError(
            f"{path}: no {ANNOTATIONS} under this folder (expected AlpacaEval's "
            f"results/<model>/<annotator>/{ANNOTATIONS} layout)"
        )
    return found


def _read_rows(path: Path) -> list:
    try:
        with open(path, "rb") as handle:
            rows = json.loads(handle.read())
    except OSError as exc:
        raise ArenaError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ArenaError(f"{path}: not valid JSON ({json_error_text(exc)})") from None
    except ValueError:  # bytes that are not UTF-8 text
        raise ArenaError(f"{path}: not UTF-8 text") from None
    if not isinstance(rows, list):
        raise ArenaError(f"{path}: expected a JSON list of annotation rows, got {type(rows).__name__}")
    return rows


def read_annotations(
    path: Path, benchmark: str, judge: str | None, known: dict[str, Instruction], result: AlpacaImport
) -> None:
    """Add one file's rows to `result`; `known` holds the instructions already stored for the set. Raises on
    the first bad row, naming the file and the row (1-based)."""
    imported = utc_now()
    baseline_seen: tuple[str, int] | None = None
    row_of_instruction: dict[str, int] = {}  # one file judges each instruction once; a repeat would count twice
    for number, row in enumerate(_read_rows(path), start=1):
        where = f"{path}: row {number}"
        if not isinstance(row, dict):
            raise ArenaError(f"{where}: expected a JSON object, got {type(row).__name__}")
        for name in _REQUIRED:
            if not isinstance(row.get(name), str):
                raise ArenaError(f"{where}: field '{name}' must be a string" + ("" if name in row else " (missing)"))
        baseline, model, text = row["generator_1"], row["generator_2"], row["instruction"]
        if baseline == model:
            raise ArenaError(
                f"{where}: fields 'generator_1' and 'generator_2' are both {model!r}: "
                "a model cannot be judged against itself"
            )
        if baseline_seen is None:
            baseline_seen = (baseline, number)
        elif baseline != baseline_seen[0]:
            raise ArenaError(
                f"{where}: baseline (generator_1) is '{baseline}', but row {baseline_seen[1]} of this "
                f"file names '{baseline_seen[0]}': one file compares one model with one baseline"
            )
        for name in ("annotator", "dataset"):  # optional, but when given, strings
            if row.get(name) is not None and not isinstance(row[name], str):
                raise ArenaError(f"{where}: field '{name}' must be a string, got {row[name]!r}")
        given = row.get("instruction_id") not in (None, "")
        qid = id_field(row, "instruction_id", where) if given else instruction_id(text)
        seen = result.instructions.get(qid) or known.get(qid)
        if seen is not None and seen.text != text:
            raise ArenaError(
                f"{where}: instruction id '{qid}' has a different text than elsewhere "
                f"({seen.text[:60]!r} vs {text[:60]!r})"
            )
        if qid in row_of_instruction:
            raise ArenaError(
                f"{where}: duplicate id: instruction '{qid}' ({text[:60]!r}) is already row "
                f"{row_of_instruction[qid]} of this file"
            )
        row_of_instruction[qid] = number
        if qid not in result.instructions:
            result.instructions[qid] = Instruction(qid, text, str(row.get("dataset") or "alpaca-eval"))
        preference = row.get("preference")
        if preference is None or (isinstance(preference, float) and math.isnan(preference)):
            result.without_preference += 1
            continue
        if (
            isinstance(preference, bool)
            or not isinstance(preference, (int, float))
            or not PREFERENCE_RANGE[0] <= preference <= PREFERENCE_RANGE[1]
        ):
            raise ArenaError(
                f"{where}: field 'preference' must be a number in [{PREFERENCE_RANGE[0]:g}, "
                f"{PREFERENCE_RANGE[1]:g}], got {preference!r}"
            )
        soft = soft_preference(float(preference))
        judge_name = judge or str(row.get("annotator") or "alpaca-eval")
        result.judgments.append(
            Judgment(
                benchmark=benchmark,
                question_id=qid,
                model_a=baseline,
                model_b=model,
                judge=judge_name,
                protocol="pairwise",
                verdict=verdict_of_preference(soft),
                preference_b=soft,
                category=result.instructions[qid].category,
                source=_SOURCE,
                created=imported,
                meta={"preference": preference},
            )
        )
        for who, output in ((baseline, row["output_1"]), (model, row["output_2"])):
            first = result.answers.get((who, qid))
            if first is not None:
                if first.turns != [output]:
                    raise ArenaError(
                        f"{where}: {who}'s answer to instruction '{qid}' differs from the one in "
                        f"{result.answer_origins[(who, qid)]}: one model has one answer per instruction"
                    )
                continue
            result.answer_origins[(who, qid)] = where
            result.answers[(who, qid)] = Answer(
                benchmark=benchmark,
                question_id=qid,
                model=who,
                turns=[output],
                answer_id=stable_id(_SOURCE, who, qid),
                created=imported,
                meta={"source": _SOURCE},
            )
    result.files.append(path)


def read_alpaca_eval(path: Path, benchmark: str, judge: str | None, known: dict[str, Instruction]) -> AlpacaImport:
    result = AlpacaImport(benchmark)
    for file in annotation_files(path):
        read_annotations(file, benchmark, judge, known, result)
    return result


def store_alpaca_eval(store: ResultsStore, result: AlpacaImport) -> None:
    """Append what is not stored yet: judgments, then answers (per model), then the prompt set's new
    instructions. Called only once every file has been read and checked."""
    existing = set(store.judgment_columns(result.benchmark).judgment_id.tolist())
    new = [j for j in result.judgments if j.judgment_id.encode() not in existing]
    store.save_judgments(new)
    result.added, result.already_stored = len(new), len(result.judgments) - len(new)
    by_model: dict[str, list[Answer]] = {}
    for (model, _), answer in result.answers.items():
        by_model.setdefault(model, []).append(answer)
    for model, answers in sorted(by_model.items()):
        stored = store.answers(result.benchmark, model)
        fresh = [a for a in answers if a.question_id not in stored]
        result.answers_added += store.save_answers(fresh)


def stored_instructions(prompt_path: Path) -> dict[str, Instruction]:
    """The instructions of the prompt set file written by an earlier import (empty when there is none)."""
    from arena.inputs import iter_jsonl_objects

    if not prompt_path.exists():
        return {}
    return {
        str(row["question_id"]): Instruction(
            str(row["question_id"]), str(row["text"]), str(row.get("category") or "alpaca-eval")
        )
        for _, row in iter_jsonl_objects(prompt_path)
        if "question_id" in row and "text" in row
    }


def write_instructions(prompt_path: Path, known: dict[str, Instruction], result: AlpacaImport) -> None:
    """The prompt set file: what it held, then the new instructions in the order first read."""
    from arena.store.atomic import write_atomically

    fresh = [i for qid, i in result.instructions.items() if qid not in known]
    result.instructions_added = len(fresh)
    if not fresh:
        return
    rows = [*known.values(), *fresh]
    write_atomically(
        prompt_path,
        "".join(
            json.dumps({"question_id": i.id, "text": i.text, "category": i.category}, ensure_ascii=False) + "\n"
            for i in rows
        ),
    )


# --- export ------------------------------------------------------------------------------------------------
def _published_preference(judgment: Judgment, flipped: bool) -> float | None:
    """The preference AlpacaEval would have written: the one read at import when there was one, else from the
    soft or hard verdict; seen from the baseline's side (`flipped`: the baseline was shown second)."""
    if judgment.verdict == "error":
        return None
    if not flipped and isinstance(judgment.meta.get("preference"), (int, float)):
        return judgment.meta["preference"]
    from arena.ratings.matches import outcome_of

    model_share = 1.0 - outcome_of(judgment) if not flipped else outcome_of(judgment)
    return 1.0 + model_share


def export_alpaca_eval(
    store: ResultsStore, benchmark: str, out: Path, baseline: str | None, judges: list[str] | None
) -> dict[tuple[str, str], int]:
    """`out/<model>/<judge>/annotations.json` for every model judged against the baseline: (model, judge) ->
    rows written. The baseline's answer is always `output_1`; a judgment that showed it second is turned round."""
    from arena.prompts.registry import find_prompt_set

    judgments = [
        j for j in store.judgments(benchmark) if j.protocol == "pairwise" and (not judges or j.judge in judges)
    ]
    if not judgments:
        raise ArenaError(
            f"no pairwise judgments stored for prompt set '{benchmark}' in {store.root}"
            + (f" by {', '.join(judges)}" if judges else "")
        )
    if baseline is None:
        shown_first = {j.model_a for j in judgments}
        if len(shown_first) != 1:
            raise ArenaError(f"give --baseline MODEL: the judgments show {', '.join(sorted(shown_first))} first")
        baseline = shown_first.pop()
    prompt_set = find_prompt_set(benchmark)
    if prompt_set is None:
        raise ArenaError(f"prompt set '{benchmark}' is not available here: the export needs its instruction texts")
    order = {p.id: i for i, p in enumerate(prompt_set.prompts)}
    files: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    answers: dict[str, dict[str, Answer]] = {}
    for j in judgments:
        if baseline not in (j.model_a, j.model_b) or j.model_a == j.model_b:
            continue
        flipped = j.model_b == baseline
        model = j.model_a if flipped else j.model_b
        for who in (model, baseline):
            if who not in answers:
                answers[who] = store.answers(benchmark, who)
        prompt = prompt_set.by_id.get(j.question_id)
        missing = [who for who in (baseline, model) if j.question_id not in answers[who]]
        if prompt is None or missing:
            what = (
                f"question '{j.question_id}' in prompt set '{benchmark}'"
                if prompt is None
                else f"the stored answer of {', '.join(missing)} to question '{j.question_id}'"
            )
            raise ArenaError(f"cannot export {model} vs {baseline}: no {what}")
        row = {
            "instruction": prompt.question,
            "output_1": answers[baseline][j.question_id].text,
            "generator_1": baseline,
            "output_2": answers[model][j.question_id].text,
            "generator_2": model,
            "annotator": j.judge,
            "preference": _published_preference(j, flipped),
            "dataset": prompt.category,
        }
        files.setdefault((model, j.judge), []).append((order.get(j.question_id, len(order)), row))
    if not files:
        raise ArenaError(f"no judgments against '{baseline}' to export")
    from arena.store.atomic import write_atomically
    from arena.store.results import file_safe

    for (model, judge), rows in files.items():
        rows.sort(key=lambda item: item[0])
        write_atomically(
            out / file_safe(model) / file_safe(judge) / ANNOTATIONS,
            json.dumps([r for _, r in rows], ensure_ascii=False, indent=2) + "\n",
        )
    return {key: len(rows) for key, rows in sorted(files.items())}
