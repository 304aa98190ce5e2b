"""What every rating method returns: a point per model with a 95% interval (kept free of numba, so the
Bradley-Terry path starts fast)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INITIAL_RATING = 1000.0  # where every model starts (the paper's Elo) and where ratings are centred (BT)
ELO_POINTS_PER_DECADE = 400.0  # the Elo scale: 400 points = 10:1 odds of winning


@dataclass(frozen=True)
class RatingSummary:
    models: tuple[str, ...]
    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def summarize(models: tuple[str, ...], samples: np.ndarray, point: np.ndarray | None = None) -> RatingSummary:
    """Mean (or a given point estimate) with the 2.5 and 97.5 percentiles across samples."""
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return RatingSummary(models, samples.mean(axis=0) if point is None else point, low, high)
