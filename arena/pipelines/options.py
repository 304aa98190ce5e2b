"""The options of `arena evaluate` and `arena tournament`, typed once by the command handler (and once more for
each member of a judge panel), so nothing below the handler reads or changes the argparse Namespace."""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from arena.command_options import options_from
from arena.generation.commands import generation_params
from arena.judging.budget import CostBudget
from arena.models.base import GenerationParams


@dataclass(frozen=True, kw_only=True)
class JudgingOptions:
    """What `arena evaluate` and `arena tournament` share of their options, built once by the command handler
    (once more per member of a judge panel, with that member alone), so nothing below the handler reads or
    changes the argparse Namespace."""

    benchmark: str
    judges: tuple[str, ...]  # the --judge options given, else the command's default judge
    judge_base_url: str | None
    protocol: str
    models_file: Path | None
    results: Path
    max_cost: float | None
    retry_errors: bool
    dry_run: bool
    batch: bool
    limit: int | None
    judge_template: Path | None
    judge_reviewers: Path | None
    orderings: int
    bootstrap: int
    seed: int
    generation: GenerationParams
    explicit_generation: dict[str, object] = field(default_factory=dict)  # flags typed: beat model settings
    shared_budget: CostBudget | None = None  # a judge panel's one cap, spent from by every member

    @classmethod
    def from_args(cls, args: Namespace, **given: Any) -> Self:
        generation, explicit = generation_params(args)
        judges = tuple(args.judge) if args.judge else (args.default_judge,)
        return options_from(cls, args, judges=judges, generation=generation, explicit_generation=explicit, **given)

    @property
    def protocols(self) -> list[str]:
        return ["relative", "pairwise"] if self.protocol == "both" else [self.protocol]

    def member(self, judge: str, budget: CostBudget) -> Self:
        """The options of one judge panel member's run: that judge alone, spending from the panel's cap."""
        return replace(self, judges=(judge,), shared_budget=budget)


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions(JudgingOptions):
    candidates: tuple[str, ...]  # --model, repeatable
    baseline: str

    @classmethod
    def of(cls, args: Namespace) -> EvaluateOptions:
        return cls.from_args(args, candidates=tuple(args.model))


@dataclass(frozen=True, kw_only=True)
class TournamentOptions(JudgingOptions):
    models: tuple[str, ...] | None  # None: the demo's models
    budget: int | None
    schedule: str
    until_separated: bool
    confidence: float
    round_size: int | None
    format: str

    @classmethod
    def of(cls, args: Namespace) -> TournamentOptions:
        return cls.from_args(args, models=tuple(args.models) if args.models else None)
