"""Load on the human-rating server over loopback: N concurrent raters each casting V votes through the real
HTTP flow (load the page, read the assignment and CSRF token, post the vote). Optionally the server is
killed with SIGKILL part-way and restarted; every vote answered "saved" must still be there.

    python benchmarks/rate_load.py [--raters 50] [--votes 20] [--kill-after 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ASSIGNMENT = re.compile(r'name="assignment" value="(\d+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PROGRESS = re.compile(r'<progress id="progress" value="(\d+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    proc = subprocess.Popen([sys.executable, "-m", "arena", "rate", "serve", "--benchmark", "sample", "--models", *models,
                             "--results", str(results), "--port", str(port), "--votes-per-minute", "100000", *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--votes", type=int, default=20)
    parser.add_argument("--kill-after", type=int, default=None, help="SIGKILL the server after this many saved votes")
    args = parser.parse_args()
    from arena.web import db

    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results"
        models = prepare(results)
        engine = db.connect(db.default_db_url(results))
        tokens = [db.add_rater(engine, f"rater-{i}") for i in range(args.raters)]
        port = free_port()
        env = {**os.environ, "ARENA_HOME": str(Path(folder) / "home")}
        server = start_server(results, models, port, env)
        holder = {"server": server}

        def kill_and_restart():
            os.kill(holder["server"].pid, signal.SIGKILL)
            holder["server"].wait()
            holder["server"] = start_server(results, models, port, env)

        started = time.perf_counter()
        outcome = asyncio.run(run_load(f"http://127.0.0.1:{port}", tokens, args.votes,
                                       kill_and_restart if args.kill_after else None, args.kill_after))
        elapsed = time.perf_counter() - started
        holder["server"].terminate()
        holder["server"].wait()
        votes = db.all_votes(engine)
        stored = {v["assignment_id"] for v in votes}
        answered = len(outcome["saved"])
        lost = [a for _, a in outcome["saved"] if a not in stored]
        human = [json.loads(line) for line in (results / "sample" / "judgments" / "human.jsonl").read_text().splitlines()]
        print(f"{args.raters} raters x {args.votes} votes: {len(votes)} votes stored "
              f"({'exact' if len(votes) == args.raters * args.votes else 'MISMATCH'}), "
              f"{len({(v['name'], v['question_id'], v['left_model'], v['right_model']) for v in votes})} distinct, "
              f"{answered} answered 'saved', {len(human)} mirrored as judge human "
              f"({len({h['judgment_id'] for h in human})} distinct)")
        print(f"vote latency p50 {outcome['p50'] * 1000:.0f} ms, p95 {outcome['p95'] * 1000:.0f} ms; "
              f"{len(votes) / elapsed:.0f} votes/s overall" + (f"; server SIGKILLed after {args.kill_after} votes and "
                                                               "restarted" if args.kill_after else ""))
        print(f"votes answered 'saved' but missing: {len(lost)}")
        assert len(stored) == len(votes) and not lost
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
