"""Judging at scale: several endpoints, every dollar of the cap under faults, failures that will not go away
(refused connections, a judge answering 500 to everything, prompts too long for the judge), prices that must
be known under a cap, answer generation in the same cap, and the judgments log's crash guarantee with group
commits, tested with a real kill -9. Real loopback servers throughout."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, write_jsonl
from openai_server import OpenAICompatibleServer
from test_judging import answers_files, longer_wins, models_file, tournament  # noqa: F401  (fixture)

from arena.errors import EXIT_BUDGET_STOPPED, EXIT_CALLS_FAILED
from arena.store import ResultsStore

PRICE_IN, PRICE_OUT = 10.0, 30.0


def billed(*servers) -> float:
    return (
        sum(
            u["prompt_tokens"] * PRICE_IN + u["completion_tokens"] * PRICE_OUT
            for server in servers
            for u in server.billed
        )
        / 1e6
    )


def printed_total(err: str) -> float:
    return float(err.split("total cost of this command: $")[1].split()[0])


# --- failures that will not go away (issue 20, item 7) ---------------------------------------------------
def test_connection_refused_exits_4_at_once(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins) as server:
        url = server.base_url
    # Default retries and backoff (1 s base): retrying a refused connection would take about 25 s.
    models = models_file(tmp_path, answers_files, url, retries=5, retry_base_delay=1.0)
    started = time.monotonic()
    result = tournament(cli, models, tmp_path / "r", "--limit", "2")
    assert result.code == EXIT_CALLS_FAILED, result.err
    assert time.monotonic() - started < 8
    assert "no endpoint accepts connections" in result.err and "Traceback" not in result.err
    assert not ResultsStore(tmp_path / "r").judgments("sample", "judge")


def test_a_judge_failing_every_call_is_stopped_by_the_circuit_breaker(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, status=500) as server:
        models = models_file(
            tmp_path,
            answers_files,
            server.base_url,
            retries=5,
            retry_base_delay=0.01,
            max_concurrency=4,
            breaker_failures=5,
        )
        result = tournament(cli, models, tmp_path / "r", "--limit", "4")  # 24 calls, 6 attempts each
        assert result.code == EXIT_CALLS_FAILED, result.err
        assert "circuit breaker" in result.err and "HTTP 500" in result.err
        assert len(server.requests) <= 5 + 4  # the streak, plus what was in flight when it opened
        assert "24 calls stored nothing" in result.err


def test_an_oversized_prompt_is_named_not_rerun(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, faults=["context"]) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=1)
        result = tournament(cli, models, tmp_path / "r", "--limit", "1")
        assert result.code == EXIT_CALLS_FAILED, result.err
        assert "1 prompts do not fit the judge's context window" in result.err
        assert "about" in result.err and "tokens" in result.err and "rerun to judge" not in result.err
        first = server.requests[0]["body"]["messages"][1]["content"]
        assert len(server.requests) == 6  # not retried
        assert "5 judged now" in result.err and first


def test_a_configured_context_window_stops_oversized_prompts_before_sending(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url, context_window=1100, judge_max_tokens=1024)
        result = tournament(cli, models, tmp_path / "r", "--limit", "1")
        assert result.code == EXIT_CALLS_FAILED, result.err
        assert not server.requests
        assert "6 prompts do not fit the judge's context window" in result.err and "question " in result.err


# --- several endpoints -----------------------------------------------------------------------------------
def test_calls_spread_over_endpoints_and_a_failing_one_is_rested(cli, tmp_path, answers_files):  # noqa: F811
    with (
        OpenAICompatibleServer(reply=longer_wins, delay=0.05) as one,
        OpenAICompatibleServer(reply=longer_wins, delay=0.05) as two,
        OpenAICompatibleServer(reply=longer_wins, status=503) as broken,
    ):
        urls = [one.base_url, broken.base_url, two.base_url]
        models = models_file(
            tmp_path,
            answers_files,
            urls,
            max_concurrency=6,
            retries=3,
            retry_base_delay=0.01,
            breaker_failures=2,
            rest_seconds=60,
        )
        result = tournament(cli, models, tmp_path / "r")  # 72 calls
        assert result.code == 0, result.err
        assert len(ResultsStore(tmp_path / "r").judgments("sample", "judge")) == 72
        assert len(one.billed) + len(two.billed) == 72
        assert len(one.billed) > 10 and len(two.billed) > 10  # the least busy endpoint gets each call
        assert len(broken.requests) <= 2 + 6  # rested after two failures (and what was in flight then)
        assert f"{one.base_url} served {len(one.billed)}" in result.err
        assert f"{two.base_url} served {len(two.billed)}" in result.err
        assert f"{broken.base_url} served 0" in result.err


def test_a_base_url_list_is_checked(cli, tmp_path, answers_files):  # noqa: F811
    models = models_file(tmp_path, answers_files, [])
    result = tournament(cli, models, tmp_path / "r", "--limit", "1")
    assert result.code == 2 and "base_url" in result.err and "list of URLs" in result.err


# --- every dollar of the cap -----------------------------------------------------------------------------
def big_inputs(tmp_path, questions=40):
    """A prompt set of `questions` and three answer files, for runs long enough to test shares of a cap."""
    prompts = write_jsonl(
        tmp_path / "big.jsonl", [{"question_id": str(i), "text": f"Question {i}: why?"} for i in range(questions)]
    )
    answers = {
        name: write_jsonl(
            tmp_path / f"{name}.jsonl",
            [
                {"question_id": str(i), "generation": f"{name} answer {i}. " + "detail " * (3 * size)}
                for i in range(questions)
            ],
        )
        for size, name in enumerate(("alpha", "beta", "gamma"), start=1)
    }
    return prompts, answers


FAULTS = ["429", "500", "502", "503", "lag", "reset", "cut"]


def faulty(seed: int, count: int = 4000) -> list:
    """30% of the calls meet one of the faults, at random."""
    rng = random.Random(seed)
    return [rng.choice(FAULTS) if rng.random() < 0.3 else None for _ in range(count)]


def capped_run(cli, tmp_path, name, cap=None):
    prompts, answers = big_inputs(tmp_path)
    with OpenAICompatibleServer(reply=longer_wins, faults=faulty(7), completion_tokens=280) as server:
        models = models_file(
            tmp_path,
            answers,
            server.base_url,
            price_in=PRICE_IN,
            price_out=PRICE_OUT,
            judge_max_tokens=1024,
            max_concurrency=16,
            retries=8,
            retry_base_delay=0.01,
        )
        extra = ["--max-cost", str(cap)] if cap else ["--max-cost", "1000"]
        result = cli(
            "tournament",
            "--models",
            "alpha",
            "beta",
            "gamma",
            "--benchmark",
            prompts,
            "--judge",
            "judge",
            "--models-file",
            models,
            "--results",
            tmp_path / name,
            "--orderings",
            "50",
            "--bootstrap",
            "20",
            *extra,
        )
        return result, billed(server)


def test_a_capped_run_spends_most_of_its_cap_and_never_more(cli, tmp_path):
    full, _ = capped_run(cli, tmp_path, "full")
    assert full.code == 0, full.err
    full_cost = printed_total(full.err)
    shares = []
    for fraction in (0.20, 0.35, 0.50):
        cap = round(full_cost * fraction, 6)
        result, provider_billed = capped_run(cli, tmp_path, f"cap{fraction}", cap)
        assert result.code == EXIT_BUDGET_STOPPED, result.err
        spent = printed_total(result.err)
        assert provider_billed <= cap + 1e-9  # what the server's usage blocks add up to
        assert spent <= cap + 1e-9
        shares.append(spent / cap)
    print("capped runs' shares of their caps:", [f"{s:.0%}" for s in shares])
    assert min(shares) >= 0.75, shares


def test_an_unknown_price_is_refused_under_a_cap_and_warned_without(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins) as server:
        lines = [f'[models.{n}]\nbackend = "answers"\npath = "{p}"\n' for n, p in answers_files.items()]
        lines.append(
            f'[models.judge]\nbackend = "openai"\npath = "gpt-4o-2024-08-06"\nbase_url = "{server.base_url}"\n'
            "require_key = false\nretry_base_delay = 0.01\n"
        )
        (tmp_path / "m.toml").write_text("\n".join(lines))
        capped = tournament(cli, tmp_path / "m.toml", tmp_path / "r", "--limit", "1", "--max-cost", "0.001")
        assert capped.code == 2 and "no known price" in capped.err and "price_in" in capped.err
        assert not server.requests
        free = tournament(cli, tmp_path / "m.toml", tmp_path / "r", "--limit", "1")
        assert free.code == 0, free.err
        assert "no known price" in free.err and len(server.requests) == 6
        (tmp_path / "m.toml").write_text("\n".join(lines) + "price_in = 2.5\nprice_out = 10.0\n")
        priced = tournament(cli, tmp_path / "m.toml", tmp_path / "r2", "--limit", "1", "--max-cost", "1")
        assert priced.code == 0, priced.err


def test_answers_from_a_paid_endpoint_count_in_the_same_cap(cli, tmp_path, answers_files):  # noqa: F811
    def answer(messages):
        return "A paid answer. " + "words " * 200

    with (
        OpenAICompatibleServer(reply=answer, completion_tokens=900) as writer,
        OpenAICompatibleServer(reply=longer_wins) as judge,
    ):
        models = models_file(tmp_path, answers_files, judge.base_url, price_in=PRICE_IN, price_out=PRICE_OUT)
        models.write_text(
            models.read_text() + f'\n[models.paid]\nbackend = "openai"\npath = "paid-model"\n'
            f'base_url = "{writer.base_url}"\nrequire_key = false\nprice_in = {PRICE_IN}\n'
            f"price_out = {PRICE_OUT}\nretry_base_delay = 0.01\nmax_new_tokens = 1024\n"
        )
        cap = 0.15
        result = cli(
            "evaluate",
            "--model",
            "paid",
            "--benchmark",
            "sample",
            "--baseline",
            "alpha",
            "--judge",
            "judge",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--bootstrap",
            "20",
            "--max-cost",
            str(cap),
        )
        assert writer.billed, result.err
        assert billed(writer, judge) <= cap
        assert printed_total(result.err) == pytest.approx(billed(writer, judge), abs=1e-4)  # printed to 4 places
        assert "answers $" in result.err
        assert result.code == EXIT_BUDGET_STOPPED, result.err  # 12 answers of 900 tokens and their judging: > $0.15


# --- group commits keep the log's crash guarantee --------------------------------------------------------
@pytest.mark.slow
def test_kill_9_loses_only_the_last_moments_never_tears_or_duplicates(tmp_path, answers_files):  # noqa: F811
    prompts, answers = big_inputs(tmp_path, questions=60)
    with OpenAICompatibleServer(reply=longer_wins, delay=0.05) as server:
        models = models_file(tmp_path, answers, server.base_url, max_concurrency=16, timeout=5.0)
        command = [
            sys.executable,
            "-m",
            "arena",
            "tournament",
            "--models",
            "alpha",
            "beta",
            "gamma",
            "--benchmark",
            str(prompts),
            "--judge",
            "judge",
            "--models-file",
            str(models),
            "--results",
            str(tmp_path / "r"),
            "--orderings",
            "20",
            "--bootstrap",
            "20",
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO), "JUDGE_KEY": "sk"}
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(server.answered_at) < 60 and process.poll() is None:
            time.sleep(0.01)
        time.sleep(0.6)  # judging goes on (360 calls take several seconds)
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        process.wait()
        assert process.returncode == -signal.SIGKILL
        log = tmp_path / "r" / "big" / "judgments" / "judge.jsonl"
        lines = log.read_bytes().split(b"\n")
        assert lines[-1] == b""  # no torn record
        records = [json.loads(line) for line in lines[:-1]]
        ids = [r["judgment_id"] for r in records]
        assert len(ids) == len(set(ids))
        settled_before = sum(1 for t in server.answered_at if t < killed - 0.3)  # a group waits 0.05 s at most
        assert len(records) >= settled_before > 0  # only replies of the last moments may be lost
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
    final = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(final) == len({r["judgment_id"] for r in final}) == 60 * 6


# --- one exception type per kind of failure -----------------------------------------------------------------
@pytest.mark.parametrize(
    "fault, kind",
    [
        ("reset", "CutOff"),
        ("cut", "CutOff"),
        ("garbage", "Malformed"),
        ("no_choices", "Malformed"),
        ("400", "ErrorStatus"),
        ("503", "ErrorStatus"),
        ("context", "ContextTooLong"),
        (None, None),
    ],
)
def test_each_failure_has_its_own_type(fault, kind):
    from arena.models import http
    from arena.models.endpoints import EndpointPool

    async def call(url):
        async with http.open_session(2) as session:
            pool = EndpointPool([http.Endpoint(url, None)])
            return await http.chat_completion(
                session,
                pool,
                {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                http.RetryPolicy(attempts=1, timeout=2),
            )

    with OpenAICompatibleServer(reply=lambda m: "fine", faults=[fault]) as server:
        if kind is None:
            assert http.run_sync(call(server.base_url))["choices"][0]["message"]["content"] == "fine"
            return
        with pytest.raises(http.RequestFailed) as raised:
            http.run_sync(call(server.base_url))
        assert type(raised.value).__name__ == kind


def test_refused_connections_are_unreachable_then_the_circuit_opens():
    from arena.models import http
    from arena.models.endpoints import EndpointPool

    with OpenAICompatibleServer(reply=lambda m: "fine") as server:
        url = server.base_url
    pool = EndpointPool([http.Endpoint(url, None)])

    async def call(attempts):
        async with http.open_session(2) as session:
            return await http.chat_completion(
                session, pool, {"model": "m", "messages": []}, http.RetryPolicy(attempts=attempts, timeout=2)
            )

    with pytest.raises(http.Unreachable):
        http.run_sync(call(1))
    with pytest.raises(http.CircuitOpen, match="no endpoint accepts connections"):
        http.run_sync(call(3))


@pytest.mark.parametrize(
    "fault, kind, sent",
    [("502", "Unconfirmed", 1), ("reset", "Unconfirmed", 1), ("cut", "Unconfirmed", 1), ("400", "ErrorStatus", 1)]
    + [("429", None, 2), (None, None, 1)],
)
def test_a_call_that_must_not_take_effect_twice_is_never_sent_again(fault, kind, sent):
    """`request(once=True)` (the Batch API's create): a lost answer is Unconfirmed after one request, a refusal
    stops, rate limiting is retried."""
    from arena.models import http

    async def call(url):
        async with http.open_session(2) as session:
            return await http.request(
                session,
                http.Endpoint(url, None),
                "POST",
                "/chat/completions",
                http.RetryPolicy(attempts=3, base_delay=0.01, timeout=2),
                lambda body: body,
                body=b'{"model": "m", "messages": []}',
                content_type="application/json",
                once=True,
            )

    with OpenAICompatibleServer(reply=lambda m: "fine", faults=[fault]) as server:
        if kind is None:
            assert b"fine" in http.run_sync(call(server.base_url))
        else:
            with pytest.raises(http.RequestFailed) as raised:
                http.run_sync(call(server.base_url))
            assert type(raised.value).__name__ == kind
        assert len(server.requests) == sent


def test_a_connection_never_made_is_retried_without_a_breaker():
    """A pool with rest_seconds 0 (the Batch API's one server) never opens the circuit: a refused connection
    is tried again after the backoff, then Unreachable."""
    from arena.models import http
    from arena.models.endpoints import EndpointPool

    with OpenAICompatibleServer(reply=lambda m: "fine") as server:
        url = server.base_url
    pool = EndpointPool([http.Endpoint(url, None)], rest_seconds=0)
    policy = http.RetryPolicy(attempts=3, base_delay=0.01, timeout=2)

    async def call():
        async with http.open_session(2) as session:
            return await http.request(session, pool, "GET", "/batches", policy, lambda body: body, once=True)

    with pytest.raises(http.Unreachable, match="gave up after 3 attempts"):
        http.run_sync(call())
    assert pool.states[0].failures == 3


def test_answer_generation_spreads_over_endpoints_too(cli, tmp_path):
    with (
        OpenAICompatibleServer(reply=lambda m: "an answer", delay=0.05) as one,
        OpenAICompatibleServer(reply=lambda m: "an answer", delay=0.05) as two,
        OpenAICompatibleServer(reply=lambda m: "x", status=502) as broken,
    ):
        (tmp_path / "m.toml").write_text(
            f'[models.served]\nbackend = "openai"\npath = "m"\nrequire_key = false\nmax_concurrency = 4\n'
            f"retry_base_delay = 0.01\nbase_url = {json.dumps([broken.base_url, one.base_url, two.base_url])}\n"
        )
        result = cli(
            "generate",
            "--model",
            "served",
            "--benchmark",
            "sample",
            "--models-file",
            tmp_path / "m.toml",
            "--results",
            tmp_path / "r",
        )
        assert result.code == 0, result.err
        assert len(ResultsStore(tmp_path / "r").answers("sample", "served")) == 12
        assert one.requests and two.requests and len(one.requests) + len(two.requests) == 12
        assert (
            f"{broken.base_url} served 0" in result.err and f"{one.base_url} served {len(one.requests)}" in result.err
        )


def test_the_readme_states_how_long_the_breaker_takes_with_the_defaults():
    """The README's figure for a judge failing every call, computed from the defaults it names."""
    from arena.models.endpoints import DEFAULT_BREAKER_FAILURES
    from arena.models.http import RetryPolicy

    policy = RetryPolicy(attempts=DEFAULT_BREAKER_FAILURES + 1, base_delay=1.0)  # the judge's defaults
    longest = sum(min(policy.max_delay, policy.base_delay * 2**attempt) for attempt in range(DEFAULT_BREAKER_FAILURES))
    readme = (REPO / "README.md").read_text()
    assert "within seconds" not in readme
    assert f"that is {longest / 2:g}–{longest:g} s" in readme


def test_a_cancellation_a_library_swallowed_still_stops_the_call():
    """Ctrl-C cancels the run; a library that swallows the CancelledError (racing its own timer) must not
    let the call go on as if nothing happened: raise_if_cancelled, which `request` calls
    after each await, raises it again."""
    import asyncio
    import contextlib

    from arena.models.http import raise_if_cancelled, run_sync

    async def swallowing_call():
        with contextlib.suppress(asyncio.CancelledError):  # what a racing timer context may do
            await asyncio.sleep(10)
        raise_if_cancelled()
        return "went on"

    async def main():
        task = asyncio.create_task(swallowing_call())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_sync(main())  # (a session's browser fixture may already run a loop in this thread)


def test_a_spending_cap_holds_where_a_loop_already_runs(tmp_path):
    """In a notebook (or beside Playwright's sync API) a loop already runs in the caller's thread, so calls run
    on a worker thread: the cap, a context variable, must go with them."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from arena.judging.budget import CostBudget, current_budget, spending
    from arena.models.http import run_sync

    async def seen_budget():
        return current_budget.get()

    async def notebook_cell():  # a running loop, as Jupyter's
        return run_sync(seen_budget())

    budget = CostBudget(1.0)

    def notebook_kernel():  # its own thread: this one may already run the browser fixture's loop
        with spending(budget):
            return asyncio.run(notebook_cell())

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(notebook_kernel).result() is budget
