"""The human-rating server under load, shared by tests/test_rate.py and benchmarks/rate_load.py: answers of
synthetic models on the shipped sample set, real `arena rate serve` processes, a scratch PostgreSQL schema, and
concurrent raters that vote through the real HTTP flow (load the page, read the assignment and CSRF token, post
the vote)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

_ASSIGNMENT = re.compile(r'name="assignment" value="(\d+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PROGRESS = re.compile(r'<progress id="progress" value="(\d+)"')


def prepare(results: Path, models: int = 3) -> list[str]:
    """Answers of `models` synthetic models on the shipped sample set."""
    from arena.prompts import load_prompt_set
    from arena.store import Answer, ResultsStore

    names = [f"model-{i}" for i in range(models)]
    store = ResultsStore(results)
    for i, name in enumerate(names):
        store.save_answers(
            [
                Answer("sample", p.id, name, [f"{name} says: " + "word " * (5 + i * 7)])
                for p in load_prompt_set("sample").prompts
            ]
        )
    return names


@contextlib.contextmanager
def scratch_schema(url: str):
    """A PostgreSQL URL whose connections work in a new schema of their own (search_path), dropped on exit:
    a run sees no other run's rows and leaves the database as it was. Needs only CREATE on the database."""
    from sqlalchemy import create_engine, text

    from arena.web import db

    base = db.engine_url(url)
    schema = f"arena_scratch_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def start_server(results: Path, models: list[str], port: int, env: dict, extra: tuple = ()) -> subprocess.Popen:
    """A server whose messages go to server-PORT.log beside the results folder (a pipe nobody reads would
    block it once full)."""
    log_path = results.parent / f"server-{port}.log"
    with open(log_path, "ab") as log:
        command = [
            sys.executable,
            "-m",
            "arena",
            "rate",
            "serve",
            "--benchmark",
            "sample",
            "--models",
            *models,
            "--results",
            str(results),
            "--port",
            str(port),
            "--votes-per-minute",
            "100000",
            *extra,
        ]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    import httpx

    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError("rating server did not start: " + log_path.read_text()[-2000:])


async def rater_loop(
    client, bases: list[str], first: int, token: str, votes: int, latencies: list, saved: list, stop: asyncio.Event
):
    """Vote until the server's own progress count for this rater reaches `votes`; starts on bases[first] and
    moves to the next server when one stops answering (what a proxy in front of them does)."""
    import httpx

    current = first
    while not stop.is_set():
        base = bases[current % len(bases)]
        try:
            page = await client.get(f"{base}/r/{token}")
            if page.status_code != 200:
                raise RuntimeError(f"unexpected {page.status_code} for the rating page: {page.text[-300:]}")
            done = int(_PROGRESS.search(page.text).group(1))
            if done >= votes:
                return
            assignment, csrf = _ASSIGNMENT.search(page.text).group(1), _CSRF.search(page.text).group(1)
            started = time.perf_counter()
            response = await client.post(
                f"{base}/r/{token}/vote", data={"assignment": assignment, "csrf": csrf, "choice": "left", "comment": ""}
            )
            if response.status_code == 303:
                latencies.append(time.perf_counter() - started)
                saved.append((token, int(assignment)))
            elif response.status_code != 409:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
        except (httpx.TransportError, AttributeError):
            current += 1
            await asyncio.sleep(0.2)  # server down (killed or being restarted) or a page cut short


async def run_load(
    bases: str | list[str], tokens: list[str], votes: int, kill=None, kill_after: int | None = None
) -> dict:
    """Every rater in `tokens` votes `votes` times at once, spread over the servers at `bases`; `kill` (a blocking
    callable) runs once `kill_after` votes were answered "saved". Returns the (token, assignment) pairs answered
    "saved" and the vote latencies."""
    import httpx

    bases = [bases] if isinstance(bases, str) else bases
    latencies, saved = [], []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=len(tokens) + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        tasks = [
            asyncio.create_task(rater_loop(client, bases, i, t, votes, latencies, saved, stop))
            for i, t in enumerate(tokens)
        ]
        if kill is not None:
            while len(saved) < kill_after:
                await asyncio.sleep(0.01)
            await asyncio.get_running_loop().run_in_executor(None, kill)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    ordered = sorted(latencies)
    return {"saved": saved, "p50": ordered[len(ordered) // 2], "p95": ordered[int(len(ordered) * 0.95)]}


def mirrored(results: Path) -> list[dict]:
    """The votes mirrored into the results store as judge "human"."""
    path = results / "sample" / "judgments" / "human.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
