"""The maths of judge panels and self-preference, as pure functions of numpy arrays.

A panel's votes are an (items x judges) array of class codes: 0 = the answer shown first won (A), 1 = the
second (B), 2 = tie, -1 = that judge has no readable verdict on that item (not judged, or an error). Single
grades are an (items x judges) float array with NaN where a judge gave no grade.

Why these rules:
- Quorum: an item is rated by the panel only when more than half of the panel's judges gave it a readable
  verdict. Fewer would let one judge speak for the panel (or a missing judgment turn a verdict into a tie).
- Majority: the class with more than half of the votes cast wins; anything else (A, B, tie; or A, B with the
  third judge missing) is a tie, as in Arena-Hard's and the MT-bench paper's use of majority votes.
- Agreement, the MT-bench paper's two views: "with ties" compares all three classes; "without ties" keeps only
  the items where the judges compared both named a winner. Fleiss' kappa is the chance-corrected agreement of
  all judges at once (Fleiss 1971); it needs every judge on every item, so it uses the items all judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("A", "B", "tie")
NO_VOTE = -1
TIE = CLASSES.index("tie")


def quorum(judges: int) -> int:
    """Readable verdicts an item needs before the panel speaks on it: a strict majority of the panel."""
    return judges // 2 + 1


def vote_counts(votes: np.ndarray, classes: int = len(CLASSES)) -> np.ndarray:
    """(items x classes) number of judges who gave each class."""
    counts = np.zeros((votes.shape[0], classes), dtype=np.int64)
    for code in range(classes):
        counts[:, code] = (votes == code).sum(axis=1)
    return counts


def majority_verdicts(votes: np.ndarray) -> np.ndarray:
    """The panel's class per item: the class with more than half of the votes cast, else a tie; NO_VOTE where
    fewer than a quorum of the panel voted."""
    counts = vote_counts(votes)
    cast = counts.sum(axis=1)
    top = counts.argmax(axis=1)
    verdict = np.where(2 * counts.max(axis=1) > cast, top, TIE)
    return np.where(cast >= quorum(votes.shape[1]), verdict, NO_VOTE)


def mean_grades(grades: np.ndarray) -> np.ndarray:
    """The panel's grade per item: the mean of the judges' grades, NaN where fewer than a quorum graded it."""
    graded = ~np.isnan(grades)
    total = np.where(graded, grades, 0.0).sum(axis=1)
    count = graded.sum(axis=1)
    return np.where(count >= quorum(grades.shape[1]), total / np.maximum(count, 1), np.nan)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an (items x classes) table of how many raters chose each class; every item must
    have the same number of raters (at least two). NaN when undefined (no items, or one class only)."""
    if counts.shape[0] == 0:
        return float("nan")
    raters = counts.sum(axis=1)
    n = int(raters[0])
    if n < 2 or np.any(raters != n):
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings on every item")
    items = counts.shape[0]
    per_item = ((counts * counts).sum(axis=1) - n) / (n * (n - 1))
    observed = per_item.mean()
    shares = counts.sum(axis=0) / (items * n)
    expected = float((shares * shares).sum())
    if expected >= 1.0:
        return float("nan")
    return float((observed - expected) / (1.0 - expected))


@dataclass(frozen=True)
class PanelAgreement:
    """Agreement of a panel: per pair of judges (matrices indexed by judge) and Fleiss' kappa of all."""

    pair_items: np.ndarray  # items both judges of the pair judged (readable)
    pair_agreement: np.ndarray  # share of those on which they gave the same class
    pair_decided: np.ndarray  # items where both named a winner
    pair_agreement_without_ties: np.ndarray
    items_all: int  # items every judge judged
    fleiss_kappa: float
    items_all_without_ties: int  # ... on which no judge said tie
    fleiss_kappa_without_ties: float


def panel_agreement(votes: np.ndarray) -> PanelAgreement:
    """Both of the MT-bench paper's views of agreement, for every pair of judges and for the whole panel."""
    voted = votes != NO_VOTE
    decided = voted & (votes != TIE)
    both = voted[:, :, None] & voted[:, None, :]
    both_decided = decided[:, :, None] & decided[:, None, :]
    same = votes[:, :, None] == votes[:, None, :]
    pair_items = both.sum(axis=0)
    pair_decided = both_decided.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(pair_items > 0, (same & both).sum(axis=0) / pair_items, np.nan)
        without_ties = np.where(pair_decided > 0, (same & both_decided).sum(axis=0) / pair_decided, np.nan)
    complete = voted.all(axis=1)
    counts = vote_counts(votes[complete])
    no_tie = counts[:, TIE] == 0
    return PanelAgreement(
        pair_items,
        agreement,
        pair_decided,
        without_ties,
        int(complete.sum()),
        fleiss_kappa(counts),
        int(no_tie.sum()),
        fleiss_kappa(counts[no_tie][:, :TIE]),
    )


@dataclass(frozen=True)
class SelfPreference:
    """A judge's points for its own model (win 1, tie 0.5, loss 0) against a reference view of the same
    matches; `difference` > 0 means the judge rates its own model higher than the reference does."""

    matches: int
    own_win_rate: float
    reference_win_rate: float
    difference: float
    ci_low: float
    ci_high: float


def paired_preference(own: np.ndarray, reference: np.ndarray, z: float = 1.96) -> SelfPreference:
    """Mean of the per-match differences own - reference, with a normal 95% interval (the matches are the
    pairs; NaN references are left out)."""
    keep = ~np.isnan(reference) & ~np.isnan(own)
    own, reference = own[keep], reference[keep]
    n = len(own)
    if n == 0:
        nan = float("nan")
        return SelfPreference(0, nan, nan, nan, nan, nan)
    difference = own - reference
    half = z * difference.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    mean = float(difference.mean())
    return SelfPreference(n, float(own.mean()), float(reference.mean()), mean, mean - half, mean + half)


def field_reference(win_rates: np.ndarray, own: int, opponents: np.ndarray) -> np.ndarray:
    """For each of the own model's matches, the mean share of points the *other* contestants took from the
    same opponent, in the same judge's eyes (`win_rates`: row model's share against column model, NaN where
    unplayed). With no second judge this is the only reference there is; it mixes quality with bias."""
    field = np.array(win_rates, dtype=np.float64, copy=True)
    field[own, :] = np.nan
    played = ~np.isnan(field)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_opponent = np.where(
            played.any(axis=0), np.where(played, field, 0.0).sum(axis=0) / played.sum(axis=0), np.nan
        )
    return per_opponent[opponents]
