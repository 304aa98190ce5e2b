"""What `arena report` was asked for, as one typed record built by the command handler."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from arena.ratings import DEFAULT_ORDERINGS, DEFAULT_RESAMPLES


@dataclass(frozen=True)
class ReportOptions:
    """The prompt set reported on, whose verdicts (None: every judge's), where the page goes, and the
    settings every rating in it uses (the same as `arena ratings` for the same numbers)."""

    benchmark: str
    out_dir: Path
    judges: tuple[str, ...] | None = None
    baseline: str | None = None  # for relative scores; None: the one baseline the judgments name
    orderings: int = DEFAULT_ORDERINGS
    bootstrap: int = DEFAULT_RESAMPLES
    seed: int = 0
