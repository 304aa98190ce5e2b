"""`--batch`: judge calls through a real loopback Batch API (tests/batch_server.py, its own process), every
outcome of a batch, the spending cap, and kill -9 at the two moments that could make a user pay twice."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from conftest import REPO
from openai_server import OpenAICompatibleServer
from test_judging import MODELS, answers_files, longer_wins, models_file, tournament  # noqa: F401  (fixture)

from arena.errors import EXIT_BUDGET_STOPPED, EXIT_CALLS_FAILED
from arena.store import ResultsStore

PRICE_IN, PRICE_OUT = 10.0, 30.0
POLL = 0.05  # seconds between polls in tests


class BatchServer:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "batch_server.py")], stdout=subprocess.PIPE, text=True
        )
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        self.base_url = f"{self.url}/v1"

    def configure(self, *batches, preexisting=0, release=False):
        httpx.post(
            f"{self.url}/_admin/config",
            json={"batches": list(batches) or [{}], "preexisting": preexisting, "release": release},
        )

    def state(self) -> dict:
        return httpx.get(f"{self.url}/_admin/state").json()

    def arena_batches(self) -> list[dict]:
        return [b for b in self.state()["batches"] if b["metadata"]]

    def billed(self) -> float:
        return (
            sum(u["prompt_tokens"] * PRICE_IN + u["completion_tokens"] * PRICE_OUT for u in self.state()["billed"])
            / 1e6
        )

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def batch_api():
    server = BatchServer()
    yield server
    server.stop()


def batch_models(tmp_path, answers_files, server, **options):  # noqa: F811
    return models_file(
        tmp_path,
        answers_files,
        server.base_url,
        price_in=PRICE_IN,
        price_out=PRICE_OUT,
        batch_poll_seconds=POLL,
        **options,
    )


def stored(results):
    return ResultsStore(results).judgments("sample", "judge")


def ledger(results) -> list[dict]:
    path = results / "sample" / "batches" / "judge.json"
    return json.loads(path.read_text())["batches"] if path.exists() else []


def test_batch_replies_become_the_same_records_as_direct_calls(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins) as direct:
        direct_run = tournament(
            cli, models_file(tmp_path, answers_files, direct.base_url), tmp_path / "direct", "--limit", "3"
        )
        assert direct_run.code == 0, direct_run.err
    models = batch_models(tmp_path, answers_files, batch_api)
    result = tournament(cli, models, tmp_path / "r", "--limit", "3", "--batch")
    assert result.code == 0, result.err

    def essence(judgments):
        return {
            (j.question_id, j.model_a, j.model_b, j.verdict, j.raw, j.explanation, j.template_hash, j.meta["cache_key"])
            for j in judgments
        }

    judged = stored(tmp_path / "r")
    assert len(judged) == 18 and essence(judged) == essence(stored(tmp_path / "direct"))
    assert all(j.meta["request_id"].startswith("req_") for j in judged)
    [batch] = batch_api.arena_batches()
    assert batch["endpoint"] == "/v1/chat/completions" and batch["completion_window"] == "24h"
    assert batch["metadata"]["arena_run"].endswith("/sample/judge") and batch_api.state()["uploads"] == ["batch"]
    # Billed at half the judge's price, and counted as the provider bills it.
    assert sum(j.meta["cost"] for j in judged) == pytest.approx(batch_api.billed() * 0.5, rel=1e-9)
    assert re.search(r"batch batch_\w+: completed, 18/18 completed, 0 failed", result.err)
    assert ledger(tmp_path / "r") == []
    again = tournament(cli, models, tmp_path / "r", "--limit", "3", "--batch")
    assert again.code == 0 and "18 already stored" in again.err and len(batch_api.arena_batches()) == 1


def test_error_lines_and_an_expired_batch_go_into_a_follow_up_batch(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    batch_api.configure({"status": "expired", "answered": 10, "error_lines": 3, "polls": 3}, {})
    result = tournament(
        cli, batch_models(tmp_path, answers_files, batch_api), tmp_path / "r", "--limit", "3", "--batch"
    )
    assert result.code == 0, result.err
    first, follow_up = batch_api.arena_batches()
    # The 3 error lines and the 8 lines the expired batch never answered, and nothing else, are sent again.
    assert set(follow_up["custom_ids"]) == set(first["custom_ids"][:3] + first["custom_ids"][10:])
    assert len(follow_up["custom_ids"]) == 11
    judged = stored(tmp_path / "r")
    assert len(judged) == 18 == len({j.judgment_id for j in judged}) and all(j.verdict != "error" for j in judged)
    assert "11 requests errored or went unanswered; they go into a follow-up batch" in result.err
    assert "in_progress, 1/18 completed" in result.err  # the progress line shows the server's counts


def test_unreadable_verdicts_follow_retry_errors(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    batch_api.configure({"vague_lines": 4}, {})
    models = batch_models(tmp_path, answers_files, batch_api)
    first = tournament(cli, models, tmp_path / "r", "--limit", "3", "--batch")
    assert first.code == 0 and "(4 unreadable, kept as errors)" in first.err
    assert len(batch_api.arena_batches()) == 1  # unreadable replies are answers: no automatic follow-up
    retried = tournament(cli, models, tmp_path / "r", "--limit", "3", "--batch", "--retry-errors")
    assert retried.code == 0, retried.err
    assert len(batch_api.arena_batches()[-1]["custom_ids"]) == 4 and "4 judged now" in retried.err
    judged = stored(tmp_path / "r")
    assert len(judged) == 18 and not any(j.verdict == "error" for j in judged)


def test_a_failed_batch_stops_with_the_servers_messages(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    batch_api.configure({"status": "failed"}, {})
    models = batch_models(tmp_path, answers_files, batch_api)
    result = tournament(cli, models, tmp_path / "r", "--limit", "2", "--batch")
    assert result.code == EXIT_CALLS_FAILED
    assert "failed on the server: 1: The model 'gpt-4' does not exist for batch use" in result.err
    assert "Traceback" not in result.err and stored(tmp_path / "r") == [] and ledger(tmp_path / "r") == []
    again = tournament(cli, models, tmp_path / "r", "--limit", "2", "--batch")
    assert again.code == 0 and len(stored(tmp_path / "r")) == 12


def test_a_malformed_output_file_stores_nothing_and_keeps_the_batch(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    batch_api.configure({"malformed_downloads": 1, "unknown_line": True})
    models = batch_models(tmp_path, answers_files, batch_api)
    result = tournament(cli, models, tmp_path / "r", "--limit", "2", "--batch")
    assert result.code == EXIT_CALLS_FAILED
    assert re.search(r"output file of batch batch_\w+, line 1, cannot be read", result.err)
    assert stored(tmp_path / "r") == [] and [e["batch_id"] for e in ledger(tmp_path / "r")] == [
        b["id"] for b in batch_api.arena_batches()
    ]
    again = tournament(cli, models, tmp_path / "r", "--limit", "2", "--batch")
    assert again.code == 0, again.err
    assert len(batch_api.arena_batches()) == 1 and len(stored(tmp_path / "r")) == 12  # the same batch, collected
    assert again.err.count("custom_id arena did not send") == 1 and "'not-sent-by-arena'" in again.err


def test_the_cap_reserves_every_line_before_a_batch_is_submitted(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    models = batch_models(tmp_path, answers_files, batch_api, judge_max_tokens=1024)
    dry = tournament(cli, models, tmp_path / "r", "--batch", "--dry-run")
    assert re.search(
        r"dry run \(pairwise\): 72 judge calls needed .* estimated cost \$[\d.]+ \(with --batch: \$[\d.]+\)", dry.err
    )
    full = tournament(cli, models, tmp_path / "full", "--batch")
    assert full.code == 0 and not batch_api.state()["requests"].count("POST /v1/chat/completions")
    full_cost = batch_api.billed() * 0.5
    batch_api.configure({})
    billed_before, batches_before = batch_api.billed(), len(batch_api.arena_batches())
    cap = round(full_cost / 2, 6)
    result = tournament(cli, models, tmp_path / "r", "--batch", "--max-cost", str(cap))
    assert result.code == EXIT_BUDGET_STOPPED, result.err
    capped_batches = batch_api.arena_batches()[batches_before:]
    sent = [k for b in capped_batches for k in b["custom_ids"]]
    left = int(re.search(r"(\d+) left to judge", result.err).group(1))
    assert 0 < left < 72 and len(sent) == len(set(sent)) == 72 - left == len(stored(tmp_path / "r"))
    assert 0 < (batch_api.billed() - billed_before) * 0.5 <= cap
    # Each batch reserved every line's worst case (1,024 tokens of reply) before it went out, so the first one
    # was small; settled batches free their unused reservations, and later batches send the lines left out.
    assert len(capped_batches) >= 2 and len(capped_batches[0]["custom_ids"]) < 72 - left


def test_adaptive_rounds_are_one_batch_each(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    result = tournament(
        cli,
        batch_models(tmp_path, answers_files, batch_api),
        tmp_path / "r",
        "--batch",
        "--schedule",
        "adaptive",
        "--budget",
        "24",
        "--round-size",
        "8",
    )
    assert result.code == 0, result.err
    rounds = int(re.search(r"adaptive schedule: 24 judge calls in (\d+) rounds", result.err).group(1))
    assert rounds == len(batch_api.arena_batches()) >= 3
    assert len(stored(tmp_path / "r")) == 24


def arena_process(models, results, env):
    return subprocess.Popen(
        [
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
            str(results),
            "--batch",
            "--limit",
            "3",
            "--orderings",
            "50",
            "--bootstrap",
            "50",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
        text=True,
    )


def wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("moment", ["while polling", "between create and record", "ctrl-c while polling"])
def test_kill_9_or_ctrl_c_never_pays_twice(cli, tmp_path, answers_files, batch_api, moment):  # noqa: F811
    # "between create and record": the server creates the batch and holds its answer; arena dies waiting.
    # Unrelated batches fill the server's list, so finding it again pages through that list.
    polling = moment.endswith("while polling")
    batch_api.configure({"polls": 10**9} if polling else {"hold_create": 60}, {}, preexisting=0 if polling else 130)
    models = batch_models(tmp_path, answers_files, batch_api)
    process = arena_process(models, tmp_path / "r", {"JUDGE_KEY": "sk-judge"})
    try:
        if polling:
            wait_for(lambda: any(e["batch_id"] for e in ledger(tmp_path / "r")), "the recorded batch id")
            wait_for(
                lambda: "GET /v1/batches/" + ledger(tmp_path / "r")[0]["batch_id"] in batch_api.state()["requests"],
                "a poll",
            )
        else:
            wait_for(lambda: batch_api.arena_batches(), "the batch to be created")
            assert [e["batch_id"] for e in ledger(tmp_path / "r")] == [None]
    finally:
        process.send_signal(signal.SIGINT if moment.startswith("ctrl-c") else signal.SIGKILL)
        _, err = process.communicate(timeout=60)
    if moment.startswith("ctrl-c"):
        assert process.returncode == 130 and "keeps running on the server; rerun the same command" in err
    assert stored(tmp_path / "r") == []
    batch_api.configure({}, release=True)  # the held batch now completes at its next poll
    result = tournament(cli, models, tmp_path / "r", "--limit", "3", "--batch")
    assert result.code == 0, result.err
    assert len(batch_api.arena_batches()) == 1  # resumed, not submitted again
    assert ("resuming batch" if polling else "found batch") in result.err
    judged = stored(tmp_path / "r")
    assert len(judged) == 18 == len({j.judgment_id for j in judged}) and ledger(tmp_path / "r") == []


def test_a_dry_run_makes_no_call_needs_no_key_and_loads_no_model(tmp_path):
    """Missing answers of a paid model, of the default baseline (chatgpt, no key set) and of a local model whose
    folder does not exist (loading it would fail): all planned, none generated, nothing sent to the judge."""
    with OpenAICompatibleServer(reply=longer_wins) as server:
        (tmp_path / "models.toml").write_text(
            f'[models.paid]\nbackend = "openai"\npath = "gpt-4o"\nbase_url = "{server.base_url}"\n'
            f'api_key_env = "NO_SUCH_KEY"\n\n[models.local]\nbackend = "hf"\npath = "{tmp_path}/no-such-model"\n'
        )
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "arena",
                "evaluate",
                "--model",
                "paid",
                "--model",
                "local",
                "--benchmark",
                "sample",
                "--judge",
                "gpt-4",
                "--judge-base-url",
                server.base_url,
                "--models-file",
                str(tmp_path / "models.toml"),
                "--results",
                str(tmp_path / "r"),
                "--protocol",
                "both",
                "--dry-run",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert server.requests == []
    err = " ".join(result.stderr.split())
    paid = re.search(r"paid: 12 answers to generate in (\d+) calls, estimated cost \$([\d.]+)", err)
    assert paid and int(paid.group(1)) >= 12 and float(paid.group(2)) > 0
    assert "chatgpt: 12 answers to generate" in err and "local: 12 answers to generate (hf backend, local" in err
    # Both candidates against the baseline in both orders, for each protocol: 2 x 2 x 12 calls.
    for protocol in ("relative", "pairwise"):
        direct, batch = map(
            float,
            re.search(
                rf"dry run \({protocol}\): 48 judge calls needed .* estimated cost "
                r"\$([\d.]+) \(with --batch: \$([\d.]+)\)",
                err,
            ).groups(),
        )
        assert batch == pytest.approx(direct / 2, abs=0.01) and direct > 0
    assert "no call was made and no model loaded" in err
    assert not (tmp_path / "r" / "sample" / "answers").exists() or not any(
        (tmp_path / "r" / "sample" / "answers").glob("*.jsonl")
    )


def test_lines_that_keep_failing_end_as_failed_calls(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    batch_api.configure({"error_lines": 6})  # in every batch, the first 6 lines fail
    models = batch_models(tmp_path, answers_files, batch_api, retries=1)
    result = tournament(cli, models, tmp_path / "r", "--limit", "2", "--batch")
    assert result.code == EXIT_CALLS_FAILED, result.err
    assert '6 calls failed and stored nothing (last: {"message": "internal error"})' in " ".join(result.err.split())
    first, follow_up = batch_api.arena_batches()  # the batch and one follow-up (retries = 1), then no more
    assert sorted(follow_up["custom_ids"]) == sorted(first["custom_ids"][:6]) and len(stored(tmp_path / "r")) == 6


def test_a_batch_cancelled_on_the_server_sends_its_unanswered_lines_again(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    import threading

    batch_api.configure({"polls": 10**9, "answered": 5}, {})

    def cancel_when_submitted():
        wait_for(lambda: batch_api.arena_batches(), "the batch")
        httpx.post(f"{batch_api.base_url}/batches/{batch_api.arena_batches()[0]['id']}/cancel")

    canceller = threading.Thread(target=cancel_when_submitted)
    canceller.start()
    result = tournament(
        cli, batch_models(tmp_path, answers_files, batch_api), tmp_path / "r", "--limit", "2", "--batch"
    )
    canceller.join()
    assert result.code == 0, result.err
    first, follow_up = batch_api.arena_batches()
    assert first["status"] == "cancelled" and sorted(follow_up["custom_ids"]) == sorted(first["custom_ids"][5:])
    assert len(stored(tmp_path / "r")) == 12


def test_a_recorded_submission_the_server_never_saw_is_sent_again(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    """The process died after recording its submission but before the upload: the server lists no batch with
    that token, so the requests go out (once) in a new batch."""
    path = tmp_path / "r" / "sample" / "batches" / "judge.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"batches": [{"submission": "lost-token", "batch_id": None, "custom_ids": ["k"]}]}))
    batch_api.configure({}, preexisting=3)
    result = tournament(
        cli, batch_models(tmp_path, answers_files, batch_api), tmp_path / "r", "--limit", "2", "--batch"
    )
    assert result.code == 0, result.err
    assert "never reached the server" in result.err and len(batch_api.arena_batches()) == 1
    assert len(stored(tmp_path / "r")) == 12 and ledger(tmp_path / "r") == []


def test_batch_needs_an_api_judge_and_a_readable_ledger(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    local = cli(
        "tournament",
        "--models",
        "alpha",
        "beta",
        "--benchmark",
        "sample",
        "--batch",
        "--models-file",
        batch_models(tmp_path, answers_files, batch_api),
        "--results",
        tmp_path / "r",
    )
    assert local.code == 2 and "--batch sends the judge's calls" in local.err and "Traceback" not in local.err
    path = tmp_path / "r2" / "sample" / "batches" / "judge.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    broken = tournament(
        cli, batch_models(tmp_path, answers_files, batch_api), tmp_path / "r2", "--limit", "1", "--batch"
    )
    assert broken.code == 2 and f"{path}: not a batch ledger" in broken.err and batch_api.arena_batches() == []


def test_a_lost_answer_to_create_is_looked_up_not_created_again(cli, tmp_path, answers_files, batch_api):  # noqa: F811
    batch_api.configure({"lose_create_answer": True}, {})
    result = tournament(
        cli, batch_models(tmp_path, answers_files, batch_api), tmp_path / "r", "--limit", "2", "--batch"
    )
    assert result.code == 0, result.err
    assert len(batch_api.arena_batches()) == 1 and len(stored(tmp_path / "r")) == 12
