"""How far to trust a judge: position bias, consistency across the two answer orders, and agreement with
another judge on the same items and on the rankings they produce."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from arena.store.records import Judgment

_CLASSES = ("A", "B", "tie")


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (well-behaved near 0 and 1 and for small counts)."""
    if trials == 0:
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(centre - half), float(centre + half)


@dataclass(frozen=True)
class JudgeBias:
    judge: str
    decided: int  # matches with a winner (no tie, no error)
    first_wins: int
    first_win_share: float
    ci_low: float
    ci_high: float
    ties: int
    errors: int
    order_pairs: int  # (question, pair) judged in both orders
    consistent_pairs: int
    consistency: float | None  # None: no pair judged in both orders (AlpacaEval shows its baseline first)


def always_shown_first(judgments: list[Judgment]) -> dict[str, str]:
    """{judge: model} for each judge whose every judgment showed the same model first (AlpacaEval puts its
    baseline first): its first-answer win share is then that model's win rate, not a position bias."""
    shown: dict[str, set[str]] = defaultdict(set)
    for j in judgments:
        shown[j.judge].add(j.model_a)
    return {judge: next(iter(models)) for judge, models in sorted(shown.items()) if len(models) == 1}


def _winner(j: Judgment) -> str:
    """The verdict in model names, so the two orders of a pair can be compared."""
    return {"A": j.model_a, "B": j.model_b}.get(j.verdict, j.verdict)


def judge_bias(judgments: list[Judgment]) -> list[JudgeBias]:
    by_judge: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_judge[j.judge].append(j)
    rows = []
    for judge, items in sorted(by_judge.items()):
        decided = [j for j in items if j.verdict in ("A", "B")]
        first = sum(j.verdict == "A" for j in decided)
        low, high = wilson_interval(first, len(decided))
        orders: dict[tuple, dict[str, str]] = defaultdict(dict)
        for j in items:
            if j.verdict != "error":
                orders[(j.question_id, frozenset((j.model_a, j.model_b)))][j.model_a] = _winner(j)
        both = [o for o in orders.values() if len(o) == 2]
        consistent = sum(len(set(o.values())) == 1 for o in both)
        rows.append(
            JudgeBias(
                judge=judge,
                decided=len(decided),
                first_wins=first,
                first_win_share=first / len(decided) if decided else float("nan"),
                ci_low=low,
                ci_high=high,
                ties=sum(j.verdict == "tie" for j in items),
                errors=sum(j.verdict == "error" for j in items),
                order_pairs=len(both),
                consistent_pairs=consistent,
                consistency=consistent / len(both) if both else None,
            )
        )
    return rows


@dataclass(frozen=True)
class Agreement:
    judge_1: str
    judge_2: str
    items: int  # same question and same ordered pair, both judges readable
    agreement: float  # three classes
    decided_items: int  # both judges named a winner
    agreement_without_ties: float
    cohen_kappa: float
    kendall_tau: float
    spearman: float
    ranked_models: int


def cohen_kappa(labels_1: list[str], labels_2: list[str]) -> float:
    """Chance-corrected agreement over the three classes A / B / tie."""
    index = {c: i for i, c in enumerate(_CLASSES)}
    table = np.zeros((3, 3))
    np.add.at(table, ([index[x] for x in labels_1], [index[y] for y in labels_2]), 1)
    total = table.sum()
    if total == 0:
        return float("nan")
    observed = np.trace(table) / total
    expected = (table.sum(axis=1) @ table.sum(axis=0)) / total**2
    return float((observed - expected) / (1 - expected)) if expected < 1 else float("nan")


def judge_agreement(
    first: list[Judgment], second: list[Judgment], ratings_1: dict[str, float], ratings_2: dict[str, float]
) -> Agreement:
    """Agreement on shared items, plus rank correlation of the two judges' leaderboards."""

    def keyed(items):
        return {(j.question_id, j.model_a, j.model_b): j.verdict for j in items if j.verdict in _CLASSES}

    one, two = keyed(first), keyed(second)
    shared = sorted(one.keys() & two.keys())
    labels_1, labels_2 = [one[k] for k in shared], [two[k] for k in shared]
    decided = [(x, y) for x, y in zip(labels_1, labels_2) if x != "tie" and y != "tie"]
    models = sorted(
        m for m in ratings_1.keys() & ratings_2.keys() if ratings_1[m] is not None and ratings_2[m] is not None
    )  # None: too few matches to rate
    tau = rho = float("nan")
    if len(models) >= 2:
        # scipy.stats costs a second of start-up: imported only when two leaderboards are compared
        from scipy import stats

        r1, r2 = [ratings_1[m] for m in models], [ratings_2[m] for m in models]
        tau = float(stats.kendalltau(r1, r2).statistic)
        rho = float(stats.spearmanr(r1, r2).statistic)
    return Agreement(
        judge_1=first[0].judge if first else "",
        judge_2=second[0].judge if second else "",
        items=len(shared),
        agreement=float(np.mean([x == y for x, y in zip(labels_1, labels_2)])) if shared else float("nan"),
        decided_items=len(decided),
        agreement_without_ties=float(np.mean([x == y for x, y in decided])) if decided else float("nan"),
        cohen_kappa=cohen_kappa(labels_1, labels_2),
        kendall_tau=tau,
        spearman=rho,
        ranked_models=len(models),
    )
