"""From stored judgments and answers (I/O at the edge) to what style-controlled ratings read: the decided
matches and, row by row, the normalised style differences between the two answers.

The matches come from the store's columnar cache, as for every other rating method (`arena.store.columns`,
`arena.ratings.matches.matches_and_rows`): model indices, outcome and question of each match are arrays, and
the answers' text is read only to measure the style of the answers those matches compare. Judgments that
exist only as objects (a panel's majority verdicts, --exclude-self's selection) take `styled_matches`, which
builds the same arrays from the objects. Either way each (model, question) answer is measured once, into a
(models × questions) table that both sides of every match are gathered from."""

from __future__ import annotations

import numpy as np

from arena.errors import AnswersMissing
from arena.ratings.matches import OUTCOME, Matches, build_matches, matches_and_rows
from arena.ratings.style.features import FEATURES, answer_features
from arena.ratings.style.fit import normalised_difference
from arena.store import Judgment, ResultsStore


def styled_matches_from_columns(
    store: ResultsStore, benchmark: str, columns, protocol: str, judges: list[str] | None, names: tuple[str, ...]
) -> tuple[Matches, np.ndarray]:
    """Decided matches of these judges (all when None) from the store's columns, and their style differences
    in the same order: what `styled_matches` gives for the same judgments as objects."""
    matches, rows = matches_and_rows(columns, protocol, judges)
    matches = _decided_models(matches)
    codes, question = np.unique(columns.codes["question_id"][rows], return_inverse=True)
    questions = [columns.vocab["question_id"][c] for c in codes]
    return matches, _style_differences(store, benchmark, matches, questions, question.reshape(-1), names)


def styled_matches(
    store: ResultsStore, benchmark: str, judgments: list[Judgment], names: tuple[str, ...]
) -> tuple[Matches, np.ndarray]:
    """Decided matches and their style differences, in the same order, from judgment objects."""
    decided = [j for j in judgments if j.verdict in OUTCOME]
    errors = build_matches(judgments).errors
    matches = build_matches(decided)
    matches = Matches(matches.models, matches.model_a, matches.model_b, matches.outcome, errors)
    questions, question = np.unique(np.array([j.question_id for j in decided], dtype=str), return_inverse=True)
    return matches, _style_differences(store, benchmark, matches, questions.tolist(), question.reshape(-1), names)


def _decided_models(matches: Matches) -> Matches:
    """Only the models with a decided match (one whose every verdict was unreadable has none to rate); the
    error counts stay whole."""
    present = np.unique(np.concatenate([matches.model_a, matches.model_b]))
    if len(present) == len(matches.models):
        return matches
    position = np.full(len(matches.models), -1, dtype=np.int64)
    position[present] = np.arange(len(present))
    return Matches(
        tuple(matches.models[i] for i in present),
        position[matches.model_a],
        position[matches.model_b],
        matches.outcome,
        matches.errors,
    )


def _style_differences(
    store: ResultsStore,
    benchmark: str,
    matches: Matches,
    questions: list[str],
    question: np.ndarray,
    names: tuple[str, ...],
) -> np.ndarray:
    """(matches, len(names)) normalised differences, answer shown first minus answer shown second. `question`:
    each match's index into `questions`."""
    where = {q: i for i, q in enumerate(questions)}
    wanted = [FEATURES.index(n) for n in names]
    counts = np.zeros((len(matches.models), len(questions), len(names)))
    stored = np.zeros((len(matches.models), len(questions)), dtype=bool)
    for i, model in enumerate(matches.models):
        for qid, answer in store.answers(benchmark, model).items():
            if (q := where.get(qid)) is not None:
                features = answer_features(answer.turns)
                counts[i, q] = [features[FEATURES[f]] for f in wanted]
                stored[i, q] = True
    missing_a, missing_b = ~stored[matches.model_a, question], ~stored[matches.model_b, question]
    if missing_a.any() or missing_b.any():
        n = len(matches.models)
        per_model = np.bincount(matches.model_a[missing_a], minlength=n) + np.bincount(
            matches.model_b[missing_b], minlength=n
        )
        _answers_missing({m: int(c) for m, c in zip(matches.models, per_model) if c}, "style control", store)
    return normalised_difference(counts[matches.model_a, question], counts[matches.model_b, question])


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
    missing: dict[str, int] = {}
    for j in decided:
        for model in (j.model_a, j.model_b):
            if (model, j.question_id) not in lengths:
                missing[model] = missing.get(model, 0) + 1
    _answers_missing(missing, "length control", store)
    return {
        j.judgment_id: float(lengths[(j.model_a, j.question_id)] - lengths[(j.model_b, j.question_id)]) for j in decided
    }


def _answers_missing(missing: dict[str, int], what: str, store: ResultsStore) -> None:
    """One error naming every model whose answers behind the verdicts are not stored (matches per model)."""
    if missing:
        described = ", ".join(f"{m} ({n} matches)" for m, n in sorted(missing.items()))
        raise AnswersMissing(
            f"{what} needs the answers behind the verdicts; no stored answer for: {described}. "
            f"Import them (arena import qlora with the generations, arena import fastchat or "
            f"alpaca-eval, or arena generate) into {store.root}"
        )
