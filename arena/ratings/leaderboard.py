"""Leaderboard rows (plain dicts, best first) from judgments: the shape `arena ratings --format json`
prints and the report renders."""

from __future__ import annotations

from dataclasses import asdict, replace

from arena.errors import ArenaError
from arena.ratings.summary import RatingSummary
from arena.ratings.matches import OUTCOME, Matches, build_matches
from arena.ratings.relative import relative_by_category, relative_scores
from arena.store.records import Judgment


# The columns every view of a leaderboard shows, in this order (terminal, JSON/CSV, HTML).
RATING_COLUMNS = ("model", "rating", "ci_low", "ci_high", "matches", "wins", "ties", "losses", "errors")
RELATIVE_COLUMNS = ("model", "rating", "ci_low", "ci_high", "candidate_first", "baseline_first", "questions",
                    "wins", "ties", "losses", "errors")


def select(judgments: list[Judgment], protocol: str, judges: list[str] | None = None) -> list[Judgment]:
    chosen = [j for j in judgments if j.protocol == protocol and (not judges or j.judge in judges)]
    if not chosen:
        have = sorted({(j.judge, j.protocol) for j in judgments})
        described = ", ".join(f"{judge} ({protocol})" for judge, protocol in have) or "none"
        wanted = f"judge {', '.join(judges)} " if judges else ""
        raise ArenaError(f"no {protocol} judgments by {wanted or 'any judge '}for this prompt set; stored: {described}")
    return chosen


# Below this many decided matches a model's bootstrap or match-order interval says more about the resampling
# than about the model (3 votes gave [1045.1, 1045.1]; 4 matches [-721, 2721]): it is reported as null.
MIN_MATCHES_FOR_INTERVAL = 10


def _rows(summary: RatingSummary, record: dict[str, dict[str, int]]) -> list[dict]:
    rows = []
    for i, m in enumerate(summary.models):
        meaningful = record[m]["matches"] >= MIN_MATCHES_FOR_INTERVAL
        rows.append({"model": m, "rating": round(float(summary.rating[i]), 2),
                     "ci_low": round(float(summary.ci_low[i]), 2) if meaningful else None,
                     "ci_high": round(float(summary.ci_high[i]), 2) if meaningful else None, **record[m]})
    return sorted(rows, key=lambda r: -r["rating"])


def _decided(matches: Matches) -> Matches:
    if len(matches) == 0:
        raise ArenaError("every judgment is an error: nothing to rate")
    return matches


def elo_rows(matches: Matches, orderings: int | str = 10_000, seed: int = 0) -> list[dict]:
    """The paper's Elo rows; each also carries the Monte Carlo standard error of its mean (`mean_se`), the
    95% interval of the mean (`mean_ci_low`, `mean_ci_high`) and how many orderings were played."""
    from arena.ratings.elo import paper_elo  # numba: only when Elo is asked for

    result = paper_elo(_decided(matches), orderings, seed)
    rows = _rows(result.summary, matches.record())
    position = {m: i for i, m in enumerate(matches.models)}
    for row in rows:
        error = float(result.standard_error[position[row["model"]]])
        row.update(mean_se=round(error, 3), mean_ci_low=round(row["rating"] - 1.96 * error, 2),
                   mean_ci_high=round(row["rating"] + 1.96 * error, 2), orderings=result.orderings)
    return rows


def bt_rows(matches: Matches, bootstrap: int = 1_000, seed: int = 0, anchor: str | None = None) -> list[dict]:
    from arena.ratings.bradley_terry_fit import bradley_terry  # scipy: only when Bradley-Terry is asked for

    return _rows(bradley_terry(_decided(matches), bootstrap, seed, anchor), matches.record())


def elo_leaderboard(judgments: list[Judgment], orderings: int | str = 10_000, seed: int = 0) -> list[dict]:
    return elo_rows(build_matches(judgments), orderings, seed)


def bt_leaderboard(judgments: list[Judgment], bootstrap: int = 1_000, seed: int = 0,
                   anchor: str | None = None) -> list[dict]:
    return bt_rows(build_matches(judgments), bootstrap, seed, anchor)


def relative_leaderboard(judgments: list[Judgment], baseline: str, bootstrap: int = 1_000, seed: int = 0,
                         by_category: bool = False) -> list[dict]:
    def row(score, category=None):
        data = asdict(score)
        return {"model": data.pop("model"), "rating": round(data.pop("percent"), 2),
                "ci_low": round(data.pop("ci_low"), 2), "ci_high": round(data.pop("ci_high"), 2),
                "questions": data.pop("questions"), "wins": data.pop("wins"), "losses": data.pop("losses"),
                "ties": data.pop("ties"), "errors": data.pop("left_out"),
                "candidate_first": round(data.pop("candidate_first"), 2),
                "baseline_first": round(data.pop("baseline_first"), 2), "baseline": data.pop("baseline"),
                **({"category": category} if category else {})}

    rows = [row(s) for s in relative_scores(judgments, baseline, bootstrap, seed)]
    if by_category:
        for category, scores in relative_by_category(judgments, baseline, bootstrap, seed).items():
            rows += [row(s, category) for s in scores]
    return rows


def with_categories(judgments: list[Judgment], prompt_set) -> list[Judgment]:
    """Fill in each question's category from the prompt set (None when it is not available locally)."""
    if prompt_set is None or all(j.category for j in judgments):
        return judgments
    by_id = prompt_set.by_id
    return [j if j.category or j.question_id not in by_id else replace(j, category=by_id[j.question_id].category)
            for j in judgments]


# --- style control -------------------------------------------------------------------------------------
COEFFICIENT_COLUMNS = ("feature", "beta", "ci_low", "ci_high")
CONTROLLED_COLUMNS = (*RATING_COLUMNS[:4], "rating_uncontrolled", "rank_change", *RATING_COLUMNS[4:])
WINRATE_COLUMNS = ("model", "win_rate", "ci_low", "ci_high", "lc_win_rate", "lc_ci_low", "lc_ci_high", "length_beta",
                   "questions", "judgments")


def controlled_bt_rows(matches: Matches, features, names, bootstrap: int = 1_000, seed: int = 0,
                       anchor: str | None = None) -> tuple[list[dict], list[dict]]:
    """Style-controlled leaderboard (with each model's uncontrolled rating and how many places it moved)
    and the style coefficients with their intervals."""
    from arena.ratings.style_control import controlled_bt

    plain = bt_rows(matches, 0, seed, anchor)  # only its point ratings and ranks are shown beside the controlled
    fit = controlled_bt(_decided(matches), features, names, bootstrap, seed, anchor)
    rows = _rows(fit.summary, matches.record())
    before = {r["model"]: (rank, r["rating"]) for rank, r in enumerate(plain)}
    for rank, row in enumerate(rows):
        old_rank, old_rating = before[row["model"]]
        row["rating_uncontrolled"], row["rank_change"] = old_rating, old_rank - rank  # > 0: moved up
    coefficients = [{"feature": f, "beta": round(float(b), 4), "ci_low": round(float(lo), 4),
                     "ci_high": round(float(hi), 4)}
                    for f, b, lo, hi in zip(fit.features, fit.beta, fit.beta_low, fit.beta_high)]
    return rows, coefficients


def winrate_rows(judgments: list[Judgment], baseline: str, length_difference: dict | None, bootstrap: int = 1_000,
                 seed: int = 0) -> list[dict]:
    """Win rate of every model against `baseline` (ties half), and with `length_difference` (judgment id ->
    d_length of the candidate against the baseline) the length-controlled win rate."""
    import numpy as np

    from arena.ratings.style_control import win_rate_against

    if not any(baseline in (j.model_a, j.model_b) for j in judgments):
        present = sorted({j.model_a for j in judgments} | {j.model_b for j in judgments})
        raise ArenaError(f"unknown baseline '{baseline}': the judgments cover {', '.join(present)}")
    rows = []
    candidates = sorted({m for j in judgments for m in (j.model_a, j.model_b) if baseline in (j.model_a, j.model_b)}
                        - {baseline})
    for model in candidates:
        decided = [j for j in judgments if {j.model_a, j.model_b} == {model, baseline} and j.verdict in OUTCOME]
        if not decided:
            continue
        score = np.array([OUTCOME[j.verdict] if j.model_a == model else 1.0 - OUTCOME[j.verdict] for j in decided])
        question = np.array([j.question_id for j in decided])
        lengths = None if length_difference is None else np.array(
            [length_difference[j.judgment_id] * (1 if j.model_a == model else -1) for j in decided])
        raw, controlled, beta = win_rate_against(question, score, lengths, bootstrap, seed)
        rows.append({"model": model, "win_rate": round(raw[0], 2), "ci_low": round(raw[1], 2), "ci_high": round(raw[2], 2),
                     "lc_win_rate": round(controlled[0], 2) if controlled else None,
                     "lc_ci_low": round(controlled[1], 2) if controlled else None,
                     "lc_ci_high": round(controlled[2], 2) if controlled else None,
                     "length_beta": round(beta, 4) if beta is not None else None,
                     "questions": len(set(question.tolist())), "judgments": len(decided), "baseline": baseline})
    return sorted(rows, key=lambda r: -(r["lc_win_rate"] if r["lc_win_rate"] is not None else r["win_rate"]))
