"""The replay judge and the adaptive schedule."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
from conftest import REPO
from openai_server import OpenAICompatibleServer
from test_judging import MODELS, answers_files, longer_wins, models_file  # noqa: F401  (fixture)

from arena.store import Judgment, ResultsStore


def replay(cli, published_vicuna, results, *extra):
    result = cli(
        "tournament",
        "--benchmark",
        "vicuna80",
        "--judge",
        f"replay:{published_vicuna}:gpt-4",
        "--results",
        results,
        "--orderings",
        "100",
        "--bootstrap",
        "50",
        "--format",
        "json",
        *extra,
    )
    assert result.code == 0, result.err
    return result.json()


def _stored(results, judge="replay-gpt-4"):
    return ResultsStore(results).judgments("vicuna80", judge)


def test_replay_returns_exactly_the_recorded_verdicts(cli, published_vicuna, tmp_path):
    out = replay(cli, published_vicuna, tmp_path / "r", "--budget", "300", "--schedule", "adaptive", "--seed", "3")
    original = {(j.question_id, j.model_a, j.model_b): j for j in ResultsStore(published_vicuna).judgments("vicuna80")}
    replayed = _stored(tmp_path / "r")
    assert len(replayed) == out["judge_calls"] == 300
    for j in replayed:
        source = original[(j.question_id, j.model_a, j.model_b)]
        assert (j.verdict, j.explanation) == (source.verdict, source.explanation)
    assert {"elo", "bradley_terry", "judge_calls", "schedule", "unresolved_pairs"} == set(out)


def test_a_matchup_without_a_record_is_missing_not_an_error(tmp_path):
    from arena.judging.replay import ReplayJudge

    source = ResultsStore(tmp_path / "src")
    source.save_judgments([Judgment("b", "q1", "x", "y", "gpt-4", "pairwise", "A")])
    judge = ReplayJudge.parse(f"replay:{tmp_path / 'src'}", "b", "pairwise")
    target = ResultsStore(tmp_path / "dst")
    assert judge.replay(target, "b", [("q1", "x", "y"), ("q2", "x", "y"), ("q1", "y", "x")]) == (1, 2)
    stored = target.judgments("b")
    assert [(j.question_id, j.verdict) for j in stored] == [("q1", "A")]


def test_both_orders_together_same_seed_same_schedule(cli, published_vicuna, tmp_path):
    first = replay(cli, published_vicuna, tmp_path / "a", "--budget", "400", "--schedule", "adaptive", "--seed", "7")
    again = replay(cli, published_vicuna, tmp_path / "b", "--budget", "400", "--schedule", "adaptive", "--seed", "7")
    keys = lambda results: sorted((j.question_id, j.model_a, j.model_b) for j in _stored(results))  # noqa: E731
    assert keys(tmp_path / "a") == keys(tmp_path / "b") and first["bradley_terry"] == again["bradley_terry"]
    units = Counter((q, tuple(sorted((a, b)))) for q, a, b in keys(tmp_path / "a"))
    recorded_orders = Counter(
        (j.question_id, tuple(sorted((j.model_a, j.model_b))))
        for j in ResultsStore(published_vicuna).judgments("vicuna80")
    )
    assert all(count == recorded_orders[unit] for unit, count in units.items())  # both orders, when both exist


@pytest.mark.slow
def test_a_budget_covering_the_pool_judges_the_same_set_either_way(cli, published_vicuna, tmp_path):
    for schedule in ("random", "adaptive"):
        out = replay(cli, published_vicuna, tmp_path / schedule, "--budget", "10000", "--schedule", schedule)
        assert out["judge_calls"] == 4480
    assert {j.judgment_id for j in _stored(tmp_path / "random")} == {
        j.judgment_id for j in _stored(tmp_path / "adaptive")
    }


def test_until_separated_stops_early_on_well_separated_models(cli, tmp_path):
    rng = np.random.default_rng(0)
    strength = {"a": 3.0, "b": 1.5, "c": 0.0, "d": -1.5}
    rows = []
    for q in range(200):
        for first in strength:
            for second in strength:
                if first != second:
                    p = 1 / (1 + np.exp(strength[second] - strength[first]))
                    rows.append(
                        Judgment(
                            "vicuna80", f"q{q}", first, second, "gpt-4", "pairwise", "A" if rng.random() < p else "B"
                        )
                    )
    ResultsStore(tmp_path / "src").save_judgments(rows)
    result = cli(
        "tournament",
        "--benchmark",
        "vicuna80",
        "--judge",
        f"replay:{tmp_path / 'src'}",
        "--results",
        tmp_path / "r",
        "--budget",
        str(len(rows)),
        "--schedule",
        "adaptive",
        "--until-separated",
        "--format",
        "json",
        "--orderings",
        "100",
        "--bootstrap",
        "50",
    )
    assert result.code == 0, result.err
    out = result.json()
    assert out["judge_calls"] < len(rows) / 4 and out["unresolved_pairs"] == []
    assert "every pair of neighbours is separated" in result.err
    assert [r["model"] for r in out["bradley_terry"]] == ["a", "b", "c", "d"]


@pytest.mark.slow
def test_a_killed_adaptive_run_resumes_without_duplicates_within_budget(tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, delay=0.15) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=2)
        command = [
            sys.executable,
            "-m",
            "arena",
            "tournament",
            "--models",
            *MODELS,
            "--benchmark",
            "sample",
            "--judge",
            "judge",
            "--models-file",
            str(models),
            "--results",
            str(tmp_path / "r"),
            "--budget",
            "40",
            "--schedule",
            "adaptive",
            "--round-size",
            "4",
            "--orderings",
            "50",
            "--bootstrap",
            "20",
        ]
        env = {**os.environ, "JUDGE_KEY": "sk"}
        log = tmp_path / "r" / "sample" / "judgments" / "judge.jsonl"
        proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 10):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = len(log.read_text().splitlines())
        assert 10 <= before < 40
        rerun = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == len({r["judgment_id"] for r in records}) <= 40
    assert len(records) >= 38  # the rerun used what the budget had left (units are two calls)


def test_schedule_options_are_checked_before_anything_is_written(cli, published_vicuna, tmp_path):
    no_budget = cli(
        "tournament",
        "--benchmark",
        "vicuna80",
        "--judge",
        f"replay:{published_vicuna}",
        "--schedule",
        "adaptive",
        "--results",
        tmp_path / "r",
    )
    assert no_budget.code == 2 and "--schedule adaptive needs --budget" in no_budget.err
    lone = cli(
        "tournament",
        "--benchmark",
        "vicuna80",
        "--judge",
        f"replay:{published_vicuna}",
        "--until-separated",
        "--budget",
        "10",
        "--results",
        tmp_path / "r",
    )
    assert lone.code == 2 and "--until-separated goes with --schedule adaptive" in lone.err
    unknown = cli(
        "tournament",
        "--benchmark",
        "vicuna80",
        "--judge",
        f"replay:{published_vicuna}:claude",
        "--budget",
        "10",
        "--results",
        tmp_path / "r",
    )
    assert unknown.code == 2 and "judges there: gpt-4" in unknown.err
    assert not (tmp_path / "r").exists()


def test_a_dry_run_of_a_replay_judge_writes_nothing_and_says_what_it_would_copy(cli, published_vicuna, tmp_path):
    for schedule, expected in (("random", "10 recorded verdicts"), ("adaptive", "would copy up to 10 recorded")):
        result = cli(
            "tournament",
            "--benchmark",
            "vicuna80",
            "--judge",
            f"replay:{published_vicuna}:gpt-4",
            "--budget",
            "10",
            "--schedule",
            schedule,
            "--dry-run",
            "--results",
            tmp_path / "r",
        )
        assert result.code == 0, result.err
        assert expected in result.err and "cost $0" in result.err and "nothing was written" in result.err
        assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.*")), "a dry run writes nothing"
        assert "Elo" not in result.out


def test_batch_with_a_replay_judge_is_refused(cli, published_vicuna, tmp_path):
    result = cli(
        "tournament",
        "--benchmark",
        "vicuna80",
        "--judge",
        f"replay:{published_vicuna}:gpt-4",
        "--budget",
        "10",
        "--batch",
        "--results",
        tmp_path / "r",
    )
    assert result.code == 2 and "drop --batch" in result.err and "Traceback" not in result.err
    assert not _stored(tmp_path / "r")


def test_tournament_titles_its_elo_interval_as_ratings_does(cli, published_vicuna, tmp_path):
    args = ["--benchmark", "vicuna80", "--judge", f"replay:{published_vicuna}:gpt-4", "--orderings", "20"]
    result = cli("tournament", *args, "--budget", "200", "--bootstrap", "20", "--results", tmp_path / "r")
    assert result.code == 0, result.err
    ratings = cli(
        "ratings",
        "--benchmark",
        "vicuna80",
        "--judge",
        "replay-gpt-4",
        "--method",
        "elo",
        "--orderings",
        "20",
        "--results",
        tmp_path / "r",
    )
    assert ratings.code == 0, ratings.err
    title = "mean of 20 orders, 95% spread of single orders)"
    assert title in result.out and title in ratings.out
