"""MT-bench scores from single-answer grades: per model the mean over every graded turn (FastChat's MT-bench
score), the means of turn 1 and turn 2, per-category means, and a bootstrap 95% interval over questions
(a question's turns stay together: they are one draw, the way the questions were sampled).

Unreadable grades (verdict 'error', FastChat's score -1) are left out of every mean, as FastChat does, and
counted apart. When a turn of a question was graded more than once (another template), the last grade counts."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from arena.errors import ArenaError
from arena.ratings import DEFAULT_RESAMPLES
from arena.store import Judgment

SCORE_COLUMNS = ["model", "score", "ci", "turn1", "turn2", "graded", "errors"]
JSON_FIELDS = ("model", "score", "turn1", "turn2", "categories", "ci")

if TYPE_CHECKING:
    from arena.ratings.options import RatingsOptions


@dataclass(frozen=True)
class Grade:
    question_id: str
    model: str
    turn: int
    category: str
    score: float | None  # None: unreadable


def grades_of(judgments: list[Judgment], categories: dict[str, str]) -> list[Grade]:
    """The last grade per (question, model, turn) of single-protocol judgments; `categories` maps question ids
    to categories for records that carry none (FastChat imports)."""
    latest: dict[tuple[str, str, int], Grade] = {}
    for j in judgments:
        if j.protocol != "single":
            continue
        turn = j.turn or int(j.meta.get("turn", 1))
        category = j.category or categories.get(j.question_id, "uncategorized")
        latest[(j.question_id, j.model_a, turn)] = Grade(
            j.question_id, j.model_a, turn, category, j.score_a if j.verdict == "graded" else None
        )
    return list(latest.values())


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def bootstrap_interval(questions: np.ndarray, scores: np.ndarray, resamples: int, seed: int) -> list[float] | None:
    """95% interval of the mean grade with questions resampled: each resample weighs every question by how
    often it was drawn (a multinomial draw of counts), and the mean is the weighted sum over the weighted count."""
    ids, index = np.unique(questions, return_inverse=True)
    if len(ids) < 2:
        return None
    sums = np.bincount(index, weights=scores, minlength=len(ids))
    counts = np.bincount(index, minlength=len(ids)).astype(float)
    draws = np.random.default_rng(seed).multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=resamples)
    means = (draws @ sums) / (draws @ counts)
    low, high = np.percentile(means, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def score_rows(grades: list[Grade], resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> list[dict]:
    """One row per model, best score first."""
    rows = []
    for model in sorted({g.model for g in grades}):
        mine = [g for g in grades if g.model == model]
        read = [(g, g.score) for g in mine if g.score is not None]
        categories = {
            c: _mean([score for g, score in read if g.category == c]) for c in sorted({g.category for g, _ in read})
        }
        interval = (
            bootstrap_interval(
                np.array([g.question_id for g, _ in read]), np.array([score for _, score in read]), resamples, seed
            )
            if read
            else None
        )
        rows.append(
            {
                "model": model,
                "score": _mean([score for _, score in read]),
                "turn1": _mean([score for g, score in read if g.turn == 1]),
                "turn2": _mean([score for g, score in read if g.turn == 2]),
                "categories": categories,
                "ci": interval,
                "graded": len(read),
                "errors": len(mine) - len(read),
            }
        )
    return sorted(rows, key=lambda r: -(r["score"] if r["score"] is not None else -1))


def print_scores(rows: list[dict], fmt: str, title: str, judge: str | None = None) -> None:
    """Tables for people (scores, then per-category means); JSON with exactly JSON_FIELDS (and `judge` when
    several judges are printed together); CSV with the categories as columns."""
    from arena.console import print_records

    if fmt == "json":
        return
    categories = sorted({c for r in rows for c in r["categories"]})
    flat = [
        {
            **r,
            "ci": "n/a" if r["ci"] is None else f"{r['ci'][0]:.2f}–{r['ci'][1]:.2f}",
            **{c: r["categories"].get(c) for c in categories},
        }
        for r in rows
    ]
    if fmt == "csv":
        print_records(
            [{**f, "ci_low": r["ci"] and r["ci"][0], "ci_high": r["ci"] and r["ci"][1]} for f, r in zip(flat, rows)],
            "csv",
            "",
            ["model", "score", "ci_low", "ci_high", "turn1", "turn2", "graded", "errors", *categories],
        )
        return
    print_records(flat, "table", title, SCORE_COLUMNS)
    print_records(flat, "table", f"Mean grade per category · {title.split(' · ', 1)[-1]}", ["model", *categories])


def run_scores(store, options: RatingsOptions) -> int:
    """`arena ratings --method score`."""
    import json

    from arena.prompts.registry import find_prompt_set
    from arena.ratings import panel_commands

    everything = store.judgments(options.benchmark)
    view = panel_commands.judge_view(everything, options, "single")  # --panel mean, --exclude-self: beside each judge
    stored = [
        j
        for j in (everything if view is None else view)
        if j.protocol == "single" and (view is not None or not options.judge or j.judge in options.judge)
    ]
    if not stored:
        raise ArenaError(
            f"no single-answer grades stored for prompt set '{options.benchmark}' in {options.results}"
            + (f" by {', '.join(options.judge)}" if options.judge else "")
            + ": grade with `arena evaluate --protocol single` or import FastChat's *_single.jsonl"
        )
    prompt_set = find_prompt_set(options.benchmark)
    categories = {p.id: p.category for p in prompt_set.prompts} if prompt_set else {}
    judges = sorted({j.judge for j in stored})
    output = []
    for judge in judges:  # each judge on its own: grades of different judges are not one scale
        mine = [j for j in stored if j.judge == judge]
        rows = score_rows(grades_of(mine, categories), options.bootstrap, options.seed)
        print_scores(
            rows,
            options.format,
            f"MT-bench score (mean grade over graded turns, 95% CI over questions, "
            f"{options.bootstrap} bootstrap) · {options.benchmark} · judge {judge}",
        )
        keep = [{k: r[k] for k in JSON_FIELDS} for r in rows]
        output += [{"judge": judge, **r} for r in keep] if len(judges) > 1 else keep
    if options.format == "json":
        sys.stdout.write(json.dumps(output, indent=2, ensure_ascii=False) + "\n")
    return 0
