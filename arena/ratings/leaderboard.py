"""Leaderboard rows (plain dicts, best first) from judgments: the shape `arena ratings --format json`
prints and the report renders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from arena.errors import ArenaError, NothingToRate
from arena.ratings import DEFAULT_ORDERINGS, DEFAULT_RESAMPLES
from arena.ratings.matches import OUTCOME, Matches, build_matches
from arena.ratings.relative import BaselineNotCovered, relative_by_category, relative_scores
from arena.ratings.summary import RatingSummary
from arena.store.records import Judgment

if TYPE_CHECKING:
    from arena.ratings.style.fit import ControlledFit

# The columns every view of a leaderboard shows, in this order (terminal, JSON/CSV, HTML).
RATING_COLUMNS = ("model", "rating", "ci_low", "ci_high", "matches", "wins", "ties", "losses", "errors")
RELATIVE_COLUMNS = (
    "model",
    "rating",
    "ci_low",
    "ci_high",
    "candidate_first",
    "baseline_first",
    "questions",
    "wins",
    "ties",
    "losses",
    "errors",
)


def select(judgments: list[Judgment], protocol: str, judges: Sequence[str] | None = None) -> list[Judgment]:
    chosen = [j for j in judgments if j.protocol == protocol and (not judges or j.judge in judges)]
    if not chosen:
        have = sorted({(j.judge, j.protocol) for j in judgments})
        described = ", ".join(f"{judge} ({protocol})" for judge, protocol in have) or "none"
        wanted = f"judge {', '.join(judges)} " if judges else ""
        graded = protocol != "single" and any(j.protocol == "single" for j in judgments)
        score = "; single-answer grades (e.g. MT-bench) are rated with --method score" if graded else ""
        raise ArenaError(
            f"no {protocol} judgments by {wanted or 'any judge '}for this prompt set; stored: {described}{score}"
        )
    return chosen


# Below this many decided matches a model's bootstrap or match-order interval says more about the resampling
# than about the model (3 votes gave [1045.1, 1045.1]; 4 matches [-721, 2721]): it is reported as null.
MIN_MATCHES_FOR_INTERVAL = 10
# Bradley-Terry gives no rating at all below this many decided matches (see bt_rows).
MIN_MATCHES_FOR_RATING = MIN_MATCHES_FOR_INTERVAL


def _rows(summary: RatingSummary, record: dict[str, dict[str, int]]) -> list[dict]:
    rows = []
    for i, m in enumerate(summary.models):
        meaningful = record[m]["matches"] >= MIN_MATCHES_FOR_INTERVAL
        rows.append(
            {
                "model": m,
                "rating": round(float(summary.rating[i]), 2),
                "ci_low": round(float(summary.ci_low[i]), 2) if meaningful else None,
                "ci_high": round(float(summary.ci_high[i]), 2) if meaningful else None,
                **record[m],
            }
        )
    return _best_first(rows)


def _best_first(rows: list[dict]) -> list[dict]:
    """Highest rating first; rows without a rating (not estimable) last, by name."""
    return sorted(rows, key=lambda r: (r["rating"] is None, -(r["rating"] or 0.0), r["model"]))


def _decided(matches: Matches) -> Matches:
    if len(matches) == 0:
        raise NothingToRate("every judgment is an error: nothing to rate")
    return matches


def elo_rows(matches: Matches, orderings: int | str = DEFAULT_ORDERINGS, seed: int = 0) -> list[dict]:
    """The paper's Elo rows; each also carries the Monte Carlo standard error of its mean (`mean_se`), the
    95% interval of the mean (`mean_ci_low`, `mean_ci_high`) and how many orderings were played."""
    from arena.ratings.paper_elo import MEAN_SE_DECIMALS, paper_elo  # numba: only when Elo is asked for

    result = paper_elo(_decided(matches), orderings, seed)
    rows = _rows(result.summary, matches.record())
    position = {m: i for i, m in enumerate(matches.models)}
    for row in rows:
        error = float(result.standard_error[position[row["model"]]])
        row.update(
            mean_se=round(error, MEAN_SE_DECIMALS),
            mean_ci_low=round(row["rating"] - 1.96 * error, 2),
            mean_ci_high=round(row["rating"] + 1.96 * error, 2),
            orderings=result.orderings,
        )
    return rows


def bt_rows(
    matches: Matches, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, anchor: str | None = None
) -> list[dict]:
    """Bradley-Terry rows. A model with fewer than MIN_MATCHES_FOR_RATING decided matches is not estimable (one
    human vote gave 2606.8 against -606.8: the number only says who won that vote): its row has `rating` null
    and no interval, like the Elo table's n/a, and the others are fitted without its matches."""
    import numpy as np

    from arena.ratings.bradley_terry_fit import bradley_terry  # scipy: only when Bradley-Terry is asked for

    decided = _decided(matches)
    record = matches.record()
    estimable = np.ones(len(decided.models), dtype=bool)
    while True:  # matches against a model left out no longer count towards the others' minimum
        among = estimable[decided.model_a] & estimable[decided.model_b]
        played = np.bincount(
            np.concatenate([decided.model_a[among], decided.model_b[among]]), minlength=len(decided.models)
        )
        still = estimable & (played >= MIN_MATCHES_FOR_RATING)
        if (still == estimable).all():
            break
        estimable = still
    if anchor is not None and anchor not in decided.models:
        raise BaselineNotCovered(anchor, list(decided.models))
    if anchor is not None and not estimable[decided.index(anchor)]:
        raise ArenaError(
            f"cannot anchor Bradley-Terry on '{anchor}': it has fewer than {MIN_MATCHES_FOR_RATING} "
            "decided matches against rated models; judge more or pick another --baseline"
        )
    keep = estimable[decided.model_a] & estimable[decided.model_b]
    rows = []
    if keep.any():
        position = np.cumsum(estimable) - 1  # index among all models -> index among the estimable ones
        fitted = Matches(
            tuple(m for m, e in zip(decided.models, estimable) if e),
            position[decided.model_a[keep]],
            position[decided.model_b[keep]],
            decided.outcome[keep],
            {},
        )
        rows = _rows(bradley_terry(fitted, bootstrap, seed, anchor), record)
    rated = {r["model"] for r in rows}
    rows += [
        {"model": m, "rating": None, "ci_low": None, "ci_high": None, **record[m]}
        for m in decided.models
        if m not in rated
    ]
    return _best_first(rows)


def not_estimable(rows: list[dict]) -> list[str]:
    """Models listed without a rating (Bradley-Terry: too few decided matches)."""
    return [r["model"] for r in rows if "rating" in r and r["rating"] is None]


def elo_leaderboard(judgments: list[Judgment], orderings: int | str = DEFAULT_ORDERINGS, seed: int = 0) -> list[dict]:
    return elo_rows(build_matches(judgments), orderings, seed)


def bt_leaderboard(
    judgments: list[Judgment], bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, anchor: str | None = None
) -> list[dict]:
    return bt_rows(build_matches(judgments), bootstrap, seed, anchor)


def relative_leaderboard(
    judgments: list[Judgment],
    baseline: str,
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    by_category: bool = False,
) -> list[dict]:
    def row(score, category=None):
        data = asdict(score)
        # the same rule as Elo and Bradley-Terry: 6 scored matches gave 91.3 (60.0–118.1)
        meaningful = score.wins + score.ties + score.losses >= MIN_MATCHES_FOR_INTERVAL
        low, high = data.pop("ci_low"), data.pop("ci_high")
        return {
            "model": data.pop("model"),
            "rating": round(data.pop("percent"), 2),
            "ci_low": round(low, 2) if meaningful else None,
            "ci_high": round(high, 2) if meaningful else None,
            "questions": data.pop("questions"),
            "wins": data.pop("wins"),
            "losses": data.pop("losses"),
            "ties": data.pop("ties"),
            "errors": data.pop("left_out"),
            "candidate_first": round(data.pop("candidate_first"), 2),
            "baseline_first": round(data.pop("baseline_first"), 2),
            "baseline": data.pop("baseline"),
            **({"category": category} if category else {}),
        }

    rows = [row(s, "all" if by_category else None) for s in relative_scores(judgments, baseline, bootstrap, seed)]
    if by_category:
        for category, scores in relative_by_category(judgments, baseline, bootstrap, seed).items():
            rows += [row(s, category) for s in scores]
    return rows


def with_categories(judgments: list[Judgment], prompt_set) -> list[Judgment]:
    """Fill in each question's category from the prompt set (None when it is not available locally)."""
    if prompt_set is None or all(j.category for j in judgments):
        return judgments
    by_id = prompt_set.by_id
    return [
        j if j.category or j.question_id not in by_id else replace(j, category=by_id[j.question_id].category)
        for j in judgments
    ]


# --- style control -------------------------------------------------------------------------------------
COEFFICIENT_COLUMNS = ("feature", "beta", "ci_low", "ci_high")
CONTROLLED_COLUMNS = (*RATING_COLUMNS[:4], "rating_uncontrolled", "rank_change", *RATING_COLUMNS[4:])
WINRATE_COLUMNS: tuple[str, ...] = (
    "model",
    "win_rate",
    "standard_error",
    "ci_low",
    "ci_high",
    "discrete_win_rate",
    "lc_win_rate",
    "lc_standard_error",
    "lc_ci_low",
    "lc_ci_high",
    "length_beta",
    "wins",
    "ties",
    "losses",
    "questions",
    "judgments",
)
# Computed only with --control length: a table without it leaves them out rather than show columns of n/a.
LC_COLUMNS = ("lc_win_rate", "lc_standard_error", "lc_ci_low", "lc_ci_high", "length_beta")


def controlled_bt_rows(
    matches: Matches, features, names, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, anchor: str | None = None
) -> tuple[list[dict], list[dict], ControlledFit]:
    """Style-controlled leaderboard (with each model's uncontrolled rating and how many places it moved), the
    style coefficients with their intervals (`note`: why a coefficient is not identified, else None), and the
    fit itself, for `style_warning`."""
    from arena.ratings.style.fit import controlled_bt

    plain = bt_rows(matches, 0, seed, anchor)  # only its point ratings and ranks are shown beside the controlled
    fit = controlled_bt(_decided(matches), features, names, bootstrap, seed, anchor)
    rows = _rows(fit.summary, matches.record())
    before = {r["model"]: (rank, r["rating"]) for rank, r in enumerate(plain)}
    for rank, row in enumerate(rows):
        old_rank, old_rating = before[row["model"]]
        row["rating_uncontrolled"], row["rank_change"] = old_rating, old_rank - rank  # > 0: moved up
        if old_rating is None:  # too few decided matches: no rating, controlled or not
            row.update(rating=None, ci_low=None, ci_high=None, rank_change=None)
    rows = _best_first(rows)
    coefficients = [
        {
            "feature": f,
            "beta": round(float(b), 4),
            "ci_low": round(float(lo), 4),
            "ci_high": round(float(hi), 4),
            "note": fit.note(f),
        }
        for f, b, lo, hi in zip(fit.features, fit.beta, fit.beta_low, fit.beta_high)
    ]
    return rows, coefficients, fit


def winrate_rows(
    judgments: list[Judgment],
    baseline: str,
    length_difference: dict | None,
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[dict]:
    """Win rate of every model against `baseline`: soft verdicts as fractional wins, ties half (AlpacaEval's
    `win_rate`, with its standard error), and from the hard verdicts alone (its `discrete_win_rate`). With
    `length_difference` (judgment id -> characters of the answer shown first minus the one shown second) also
    the length-controlled win rate of `arena.ratings.length_controlled`, fitted on all candidates together, the
    baseline's own longer/shorter variants among them (AlpacaEval's `<baseline>_verbose`, `_concise`) regularising
    every candidate's fit."""
    import numpy as np

    from arena.ratings.length_controlled import BaselineJudgments, baseline_variants, length_controlled_win_rates
    from arena.ratings.matches import outcome_of
    from arena.ratings.style.fit import win_rate_against

    if not any(baseline in (j.model_a, j.model_b) for j in judgments):
        present = sorted({j.model_a for j in judgments} | {j.model_b for j in judgments})
        raise BaselineNotCovered(baseline, present)
    candidates = sorted(
        {m for j in judgments for m in (j.model_a, j.model_b) if baseline in (j.model_a, j.model_b)} - {baseline}
    )
    rows: list[dict] = []
    pool: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (question, score, length gap) per candidate
    for model in candidates:
        decided = [j for j in judgments if {j.model_a, j.model_b} == {model, baseline} and j.verdict in OUTCOME]
        if not decided:
            continue
        first = np.array([j.model_a == model for j in decided])
        score = np.array([outcome_of(j) for j in decided])
        score = np.where(first, score, 1.0 - score)
        hard = np.array([OUTCOME[j.verdict] for j in decided])
        hard = np.where(first, hard, 1.0 - hard)
        question = np.array([j.question_id for j in decided])
        raw = win_rate_against(question, score, bootstrap, seed)
        if length_difference is not None:
            gap = np.array([length_difference[j.judgment_id] for j in decided])
            pool.append((question, score, np.where(first, gap, -gap)))
        # the same rule as Elo and Bradley-Terry: 2 judgments gave 100.0 (100.0–100.0)
        meaningful = len(decided) >= MIN_MATCHES_FOR_INTERVAL
        rows.append(
            {
                "model": model,
                "win_rate": round(raw[0], 2),
                "standard_error": round(float(100 * score.std(ddof=1) / np.sqrt(len(score))), 2)
                if meaningful
                else None,
                "ci_low": round(raw[1], 2) if meaningful else None,
                "ci_high": round(raw[2], 2) if meaningful else None,
                "discrete_win_rate": round(float(100 * hard.mean()), 2),
                "lc_win_rate": None,
                "lc_standard_error": None,
                "lc_ci_low": None,
                "lc_ci_high": None,
                "length_beta": None,
                # AlpacaEval's n_wins / n_draws / n_wins_base, from the hard verdicts
                "wins": int((hard == 1.0).sum()),
                "ties": int((hard == 0.5).sum()),
                "losses": int((hard == 0.0).sum()),
                "questions": len(set(question.tolist())),
                "judgments": len(decided),
                "baseline": baseline,
            }
        )
    if pool:
        _, index = np.unique(np.concatenate([q for q, _, _ in pool]), return_inverse=True)
        models = tuple(r["model"] for r in rows)
        data = BaselineJudgments(
            models,
            np.repeat(np.arange(len(pool)), [len(q) for q, _, _ in pool]),
            index,
            np.concatenate([s for _, s, _ in pool]),
            np.concatenate([g for _, _, g in pool]),
            baseline_variants(models, baseline),
        )
        fit = length_controlled_win_rates(data, bootstrap, seed)
        for i, row in enumerate(rows):
            meaningful = row["judgments"] >= MIN_MATCHES_FOR_INTERVAL
            if not meaningful:  # a length slope fitted on 6 judgments says nothing (100.0 beside a raw 25.0)
                continue
            row.update(
                lc_win_rate=_rounded(fit.win_rate[i]),
                lc_standard_error=_rounded(fit.standard_error[i]),
                lc_ci_low=_rounded(fit.ci_low[i]),
                lc_ci_high=_rounded(fit.ci_high[i]),
                length_beta=_rounded(fit.length_beta[i], 4),
            )
    return sorted(rows, key=lambda r: -(r["lc_win_rate"] if r["lc_win_rate"] is not None else r["win_rate"]))


def _rounded(value: float, digits: int = 2) -> float | None:
    import math

    return None if math.isnan(value) else round(float(value), digits)
