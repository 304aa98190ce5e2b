"""Options are typed at the edge: a command reads its argparse Namespace and never writes to it, so what a
command hands on (JudgingOptions, GenerationParams) is all that shapes the run."""

import importlib
from dataclasses import fields

import pytest

from arena.cli import _parse

# What evaluate and tournament derive rather than read: the judges (given or the default), the generation
# settings, a panel's shared cap; evaluate's --model options become its candidates.
JUDGING = {"judges", "generation", "explicit_generation", "shared_budget"}
EVALUATE = JUDGING | {"candidates"}
# `arena rate serve` derives the database URL (--db or the default); the others are other actions' options.
RATE = {"db_url", "name", "base_url", "format"}


def test_a_demo_tournament_leaves_its_parsed_arguments_as_they_were(tmp_path, capsys):
    args = _parse(["tournament", "--dry-run", "--limit", "2", "--results", str(tmp_path / "r")])
    parsed = dict(vars(args))
    assert args.handler(args) == 0
    assert vars(args) == parsed  # before: the judge's name and the demo's max_new_tokens were written into it
    assert "dry run (generation)" in capsys.readouterr().err


def test_a_judge_panel_leaves_its_parsed_arguments_as_they_were(tmp_path, capsys):
    args = _parse(
        [
            "tournament",
            "--dry-run",
            "--limit",
            "2",
            "--results",
            str(tmp_path / "r"),
            "--judge",
            "smollm2-135m-q4",
            "--judge",
            "smollm2-greedy",
        ]
    )
    parsed = dict(vars(args))
    assert args.handler(args) == 0
    assert vars(args) == parsed  # before: the panel's shared cost cap was written into it
    assert "panel member smollm2-greedy" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, typed, derived",
    [
        (["evaluate", "--model", "a", "--benchmark", "sample"], "arena.pipelines.options:EvaluateOptions", EVALUATE),
        (["tournament"], "arena.pipelines.options:TournamentOptions", JUDGING),
        (["ratings", "--benchmark", "sample"], "arena.ratings.options:RatingsOptions", set()),
        (["rate", "serve", "--benchmark", "sample", "--models", "a", "b"], "arena.web.commands:RateOptions", RATE),
    ],
)
def test_typed_options_read_every_other_field_from_an_option_of_its_name(argv, typed, derived):
    """A field whose option were renamed would silently keep its default: each field the handler does not
    derive itself must be a parsed option of the same name, and hold its value."""
    module, name = typed.split(":")
    cls = getattr(importlib.import_module(module), name)
    args = _parse(argv)
    options = cls.of(args)
    parsed = vars(args)
    assert {f.name for f in fields(cls)} - parsed.keys() == derived
    for name in {f.name for f in fields(cls)} - derived:
        value = parsed[name]
        assert getattr(options, name) == (tuple(value) if isinstance(value, list) else value), name
