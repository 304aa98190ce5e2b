"""The human-rating server under load, shared by tests/test_rate.py and benchmarks/rate_load.py: answers of
synthetic models on the shipped sample set, a real `arena rate serve` process, and concurrent raters that vote
through the real HTTP flow (load the page, read the assignment and CSRF token, post the vote)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

_ASSIGNMENT = re.compile(r'name="assignment" value="(\d+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PROGRESS = re.compile(r'<progress id="progress" value="(\d+)"')


def prepare(results: Path, models: int = 3) -> list[str]:
    """Answers of `models` synthetic models on the shipped sample set."""
    from arena.benchmarks import load_prompt_set
    from arena.store import Answer, ResultsStore

    names = [f"model-{i}" for i in range(models)]
    store = ResultsStore(results)
    for i, name in enumerate(names):
        store.save_answers([Answer("sample", p.id, name, [f"{name} says: " + "word " * (5 + i * 7)])
                            for p in load_prompt_set("sample").prompts])
    return names


def start_server(results: Path, models: list[str], port: int, env: dict, extra: tuple = ()) -> subprocess.Popen:
    """`arena rate serve` as a real process on 127.0.0.1:`port`, returned once /healthz answers."""
    command = [sys.executable, "-m", "arena", "rate", "serve", "--benchmark", "sample", "--models", *models,
               "--results", str(results), "--port", str(port), "--votes-per-minute", "100000", *extra]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("rating server did not start: " + proc.stderr.read().decode()[-2000:])


async def rater_loop(client, base: str, token: str, votes: int, latencies: list, saved: list, stop: asyncio.Event):
    """Vote until the server's own progress count for this rater reaches `votes`."""
    import httpx

    while not stop.is_set():
        try:
            page = await client.get(f"{base}/r/{token}")
            done = int(_PROGRESS.search(page.text).group(1))
            if done >= votes:
                return
            assignment, csrf = _ASSIGNMENT.search(page.text).group(1), _CSRF.search(page.text).group(1)
            started = time.perf_counter()
            response = await client.post(f"{base}/r/{token}/vote", data={"assignment": assignment, "csrf": csrf,
                                                                       "choice": "left", "comment": ""})
            if response.status_code == 303:
                latencies.append(time.perf_counter() - started)
                saved.append((token, int(assignment)))
            elif response.status_code != 409:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
        except (httpx.TransportError, AttributeError):
            await asyncio.sleep(0.2)  # server down (being restarted) or a page cut short


async def run_load(base: str, tokens: list[str], votes: int, kill=None, kill_after: int | None = None) -> dict:
    """Every rater in `tokens` votes `votes` times at once; `kill` (a blocking callable) runs once `kill_after`
    votes were answered "saved". Returns the (token, assignment) pairs answered "saved" and vote latencies."""
    import httpx

    latencies, saved = [], []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=len(tokens) + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        tasks = [asyncio.create_task(rater_loop(client, base, t, votes, latencies, saved, stop)) for t in tokens]
        if kill is not None:
            while len(saved) < kill_after:
                await asyncio.sleep(0.01)
            await asyncio.get_running_loop().run_in_executor(None, kill)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    ordered = sorted(latencies)
    return {"saved": saved, "p50": ordered[len(ordered) // 2], "p95": ordered[int(len(ordered) * 0.95)]}
