"""What `arena ratings` was asked, as one typed record built by the command handler."""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from arena.command_options import options_from


@dataclass(frozen=True, kw_only=True)
class RatingsOptions:
    results: Path
    benchmark: str
    judge: tuple[str, ...] | None  # the --judge options; None: every judge stored
    pool_judges: bool
    method: str
    rating: str  # robustness: the leaderboard tested
    max_share: float
    panel: str | None
    exclude_self: bool
    self_model: tuple[str, ...] | None  # JUDGE=MODEL
    control: str | None
    protocol: str | None
    baseline: str | None
    orderings: int | str  # a number, or "auto"
    bootstrap: int
    seed: int
    by_category: bool
    format: str

    @classmethod
    def of(cls, args: Namespace) -> RatingsOptions:
        return options_from(
            cls,
            args,
            judge=tuple(args.judge) if args.judge else None,
            self_model=tuple(args.self_model) if args.self_model else None,
        )
