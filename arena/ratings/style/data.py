"""From stored judgments and answers (I/O at the edge) to what style-controlled ratings read: the decided
matches and, row by row, the normalised style differences between the two answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from arena.errors import AnswersMissing
from arena.ratings.matches import OUTCOME, Matches, build_matches
from arena.ratings.style.features import FEATURES, answer_features
from arena.ratings.style.fit import normalised_difference
from arena.store import Judgment, ResultsStore


def answer_styles(store: ResultsStore, benchmark: str, models: set[str]) -> dict[tuple[str, str], np.ndarray]:
    """(model, question) -> feature counts, for every stored answer of these models."""
    styles = {}
    for model in sorted(models):
        for qid, answer in store.answers(benchmark, model).items():
            features = answer_features(answer.turns)
            styles[(model, qid)] = np.array([features[f] for f in FEATURES], dtype=np.float64)
    return styles


def style_differences(
    store: ResultsStore, benchmark: str, judgments: list[Judgment], names: tuple[str, ...]
) -> np.ndarray:
    """(judgments, len(names)) normalised differences, answer shown first minus answer shown second."""
    models = {j.model_a for j in judgments} | {j.model_b for j in judgments}
    styles = answer_styles(store, benchmark, models)
    _require_answers(styles, judgments, "style control", store)
    columns = [FEATURES.index(n) for n in names]
    first = np.array([styles[(j.model_a, j.question_id)][columns] for j in judgments]).reshape(
        len(judgments), len(names)
    )
    second = np.array([styles[(j.model_b, j.question_id)][columns] for j in judgments]).reshape(
        len(judgments), len(names)
    )
    return normalised_difference(first, second)


def styled_matches(
    store: ResultsStore, benchmark: str, judgments: list[Judgment], names: tuple[str, ...]
) -> tuple[Matches, np.ndarray]:
    """Decided matches and their style differences, in the same order."""
    decided = [j for j in judgments if j.verdict in OUTCOME]
    matches = replace(build_matches(decided), errors=build_matches(judgments).errors)
    return matches, style_differences(store, benchmark, decided, names)


def length_differences(store: ResultsStore, benchmark: str, judgments: list[Judgment]) -> dict[str, float]:
    """judgment id -> characters of the answer shown first minus the answer shown second (all turns), for its
    decided judgments: the length gap the length-controlled win rate standardises."""
    decided = [j for j in judgments if j.verdict in OUTCOME]
    models = {j.model_a for j in decided} | {j.model_b for j in decided}
    lengths = {
        (model, qid): sum(len(turn) for turn in answer.turns)
        for model in sorted(models)
        for qid, answer in store.answers(benchmark, model).items()
    }
    _require_answers(lengths, decided, "length control", store)
    return {
        j.judgment_id: float(lengths[(j.model_a, j.question_id)] - lengths[(j.model_b, j.question_id)]) for j in decided
    }


def _require_answers(stored: dict, judgments: list[Judgment], what: str, store: ResultsStore) -> None:
    """Every (model, question) behind the judgments has a stored answer, or one error naming what is missing."""
    missing: dict[str, int] = {}
    for j in judgments:
        for model in (j.model_a, j.model_b):
            if (model, j.question_id) not in stored:
                missing[model] = missing.get(model, 0) + 1
    if missing:
        described = ", ".join(f"{m} ({n} matches)" for m, n in sorted(missing.items()))
        raise AnswersMissing(
            f"{what} needs the answers behind the verdicts; no stored answer for: {described}. "
            f"Import them (arena import qlora with the generations, arena import fastchat or "
            f"alpaca-eval, or arena generate) into {store.root}"
        )
