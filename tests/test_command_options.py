"""Options are typed at the edge: a command reads its argparse Namespace and never writes to it, so what a
command hands on (JudgingOptions, GenerationParams) is all that shapes the run."""

from arena.cli import _parse


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
