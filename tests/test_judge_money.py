"""The judge's spending cap holds under every reply shape a fault-injecting server can send, and failed
calls are never stored as verdicts. Costs are checked against the usage blocks the server really sent."""

import json
import subprocess
import sys

import pytest
from conftest import REPO
from openai_server import OpenAICompatibleServer
from test_judging import MODELS, answers_files, longer_wins, models_file, tournament  # noqa: F401  (fixture)

from arena.errors import EXIT_BUDGET_STOPPED
from arena.store import ResultsStore

PRICE_IN, PRICE_OUT = 10.0, 30.0  # USD per million tokens, set on the judge below


def billed_cost(server: OpenAICompatibleServer) -> float:
    """What the provider would charge: every usage block it sent."""
    return sum(u["prompt_tokens"] * PRICE_IN + u["completion_tokens"] * PRICE_OUT for u in server.billed) / 1e6


def priced_models(tmp_path, answers_files, server, **options):  # noqa: F811
    return models_file(tmp_path, answers_files, server.base_url, price_in=PRICE_IN, price_out=PRICE_OUT, **options)


def manifest(results, command):
    path = sorted((results / "runs").glob(f"*-{command}-*.json"))[-1]
    return json.loads(path.read_text())


@pytest.mark.parametrize("completion_tokens", [900, 280])
def test_the_cap_holds_for_long_and_paper_sized_replies(cli, tmp_path, answers_files, completion_tokens):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, completion_tokens=completion_tokens) as server:
        models = priced_models(tmp_path, answers_files, server, max_concurrency=8, judge_max_tokens=1024)
        cap = 0.35
        result = tournament(cli, models, tmp_path / "r", "--max-cost", str(cap))
        assert result.code == EXIT_BUDGET_STOPPED, result.err
        assert "left to judge: the --max-cost budget stopped the run" in result.err
        assert 0 < billed_cost(server) <= cap
        counted = manifest(tmp_path / "r", "tournament")["cost"]
        assert counted == pytest.approx(billed_cost(server), rel=1e-6)
        # Everything judged before the stop is saved.
        assert len(ResultsStore(tmp_path / "r").judgments("sample", "judge")) == len(server.requests)


def test_one_cap_for_both_protocols(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, completion_tokens=600) as server:
        models = priced_models(tmp_path, answers_files, server, max_concurrency=4)
        cap = 0.4
        result = cli(
            "evaluate",
            "--model",
            "gamma",
            "--model",
            "alpha",
            "--benchmark",
            "sample",
            "--baseline",
            "beta",
            "--judge",
            "judge",
            "--protocol",
            "both",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--bootstrap",
            "50",
            "--max-cost",
            str(cap),
        )
        assert result.code == EXIT_BUDGET_STOPPED, result.err
        assert 0 < billed_cost(server) <= cap
        assert "total cost of this command" in result.err


def test_thrown_away_replies_are_counted(cli, tmp_path, answers_files):  # noqa: F811
    # Replies with usage but no choices are billed by the provider, so they count; the calls retry.
    faults = ["no_choices", None, "no_choices", "no_choices", None] * 3
    with OpenAICompatibleServer(reply=longer_wins, faults=faults) as server:
        models = priced_models(tmp_path, answers_files, server, max_concurrency=1)
        result = tournament(cli, models, tmp_path / "r", "--limit", "2")
        assert result.code == 0, result.err
        counted = manifest(tmp_path / "r", "tournament")["cost"]
        assert counted == pytest.approx(billed_cost(server), rel=1e-6)
        assert len(server.billed) == len(server.requests) == 12 + 9  # 9 replies thrown away, all billed


def test_replies_that_arrive_too_late_count_their_reservation(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, faults=[None, "late", None, "late"]) as server:
        models = priced_models(tmp_path, answers_files, server, max_concurrency=1, timeout=0.5)
        result = tournament(cli, models, tmp_path / "r", "--limit", "2")
        assert result.code == 0, result.err
        assert "2 calls were cut off" in result.err and "counted as spent" in result.err
        counted = manifest(tmp_path / "r", "tournament")["cost"]
        assert counted > billed_cost(server)  # the reservations of the cut-off calls are on top of what was billed


def test_a_server_without_usage_is_charged_an_estimate_with_one_warning(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, usage=False) as server:
        models = priced_models(tmp_path, answers_files, server)
        dry = tournament(cli, models, tmp_path / "r", "--limit", "3", "--dry-run")
        estimate = float(dry.err.split("estimated cost $")[1].split()[0])
        result = tournament(cli, models, tmp_path / "r", "--limit", "3")
        assert result.code == 0, result.err
        assert result.err.count("reports no token usage") == 1
        counted = manifest(tmp_path / "r", "tournament")["cost"]
        assert counted > 0 and counted == pytest.approx(estimate, rel=0.8)


def test_unreadable_bodies_are_not_counted_as_replies_without_usage(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, faults=["garbage"] * 100) as server:
        models = priced_models(tmp_path, answers_files, server, retries=1)
        result = tournament(cli, models, tmp_path / "r", "--limit", "2")
        assert result.code == 4, result.err
        assert "malformed response" in result.err
        assert "reports no token usage" not in result.err and "without a usage block" not in result.err


def test_a_wrong_key_stops_at_the_first_call_and_a_rerun_judges_everything(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, status=401) as server:
        models = priced_models(tmp_path, answers_files, server)
        result = tournament(cli, models, tmp_path / "r", "--limit", "2")
        assert result.code == 2
        assert "HTTP 401" in result.err and "Incorrect API key" in result.err
        assert len(server.requests) == 1  # nothing else was sent
    assert not ResultsStore(tmp_path / "r").judgments("sample", "judge")
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = priced_models(tmp_path, answers_files, server)
        again = tournament(cli, models, tmp_path / "r", "--limit", "2")
        assert again.code == 0, again.err
        assert "0 already stored" in again.err and "12 judged now" in again.err
    assert len(ResultsStore(tmp_path / "r").judgments("sample", "judge")) == 12


def test_an_unreachable_judge_stores_nothing(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins) as server:
        url = server.base_url
    models = models_file(tmp_path, answers_files, url, retries=1)  # the server is gone: connection refused
    result = tournament(cli, models, tmp_path / "r", "--limit", "2")
    assert result.code == 4 and "cannot connect" in result.err
    assert not ResultsStore(tmp_path / "r").judgments("sample", "judge")


def test_dry_run_needs_no_key_and_labels_each_protocol(cli, tmp_path, answers_files, monkeypatch):  # noqa: F811
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    lines = [f'[models.{name}]\nbackend = "answers"\npath = "{path}"\n' for name, path in answers_files.items()]
    (tmp_path / "m.toml").write_text("\n".join(lines))
    result = cli(
        "evaluate",
        "--model",
        "alpha",
        "--benchmark",
        "sample",
        "--baseline",
        "beta",
        "--judge",
        "gpt-4",
        "--protocol",
        "both",
        "--dry-run",
        "--models-file",
        tmp_path / "m.toml",
        "--results",
        tmp_path / "r",
    )
    assert result.code == 0, result.err
    assert "dry run (relative): 24 judge calls" in result.err and "dry run (pairwise): 24 judge calls" in result.err


@pytest.mark.slow
def test_two_evaluate_runs_started_together_answer_each_question_once(tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        command = [
            sys.executable,
            "-m",
            "arena",
            "evaluate",
            "--model",
            "alpha",
            "--model",
            "gamma",
            "--benchmark",
            "sample",
            "--baseline",
            "beta",
            "--judge",
            "judge",
            "--protocol",
            "pairwise",
            "--models-file",
            str(models),
            "--results",
            str(tmp_path / "r"),
            "--bootstrap",
            "20",
        ]
        env = {"JUDGE_KEY": "sk", "PATH": "/usr/bin:/bin"}
        runs = [
            subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert all(run.returncode == 0 for run in runs), outputs
    for model in ("alpha", "beta", "gamma"):
        lines = (tmp_path / "r" / "sample" / "answers" / f"{model}.jsonl").read_text().splitlines()
        assert len(lines) == 12, f"{model}: {len(lines)} answers stored for 12 questions"
    judgments = (tmp_path / "r" / "sample" / "judgments" / "judge.jsonl").read_text().splitlines()
    assert len(judgments) == 48 == len(server.requests)
