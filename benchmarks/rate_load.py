"""Load on the human-rating server over loopback: N concurrent raters each casting V votes through the real
HTTP flow (load the page, read the assignment and CSRF token, post the vote). Optionally the server is
killed with SIGKILL part-way and restarted; every vote answered "saved" must still be there.

With --servers, votes/s and p95 vote latency for 1, 2, 4 ... servers on one votes database and one results
folder (each rater sticks to one server), on SQLite and, with --db, beside it on that database (each run in a
schema of its own, dropped afterwards: nothing else in the database is touched).

    python benchmarks/rate_load.py [--raters 50] [--votes 20] [--kill-after 400]
    python benchmarks/rate_load.py --servers 4 --db postgresql://arena:arena@127.0.0.1/arena
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
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
    from arena.prompts import load_prompt_set
    from arena.store import Answer, ResultsStore

    names = [f"model-{i}" for i in range(models)]
    store = ResultsStore(results)
    for i, name in enumerate(names):
        store.save_answers([Answer("sample", p.id, name, [f"{name} says: " + "word " * (5 + i * 7)])
                            for p in load_prompt_set("sample").prompts])
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
        proc = subprocess.Popen([sys.executable, "-m", "arena", "rate", "serve", "--benchmark", "sample", "--models",
                                 *models, "--results", str(results), "--port", str(port), "--votes-per-minute", "100000",
                                 *extra], env=env, stdout=subprocess.DEVNULL, stderr=log)
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


async def rater_loop(client, bases: list[str], first: int, token: str, votes: int, latencies: list, saved: list,
                     stop: asyncio.Event):
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
            response = await client.post(f"{base}/r/{token}/vote", data={"assignment": assignment, "csrf": csrf,
                                                                       "choice": "left", "comment": ""})
            if response.status_code == 303:
                latencies.append(time.perf_counter() - started)
                saved.append((token, int(assignment)))
            elif response.status_code != 409:
                raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
        except (httpx.TransportError, AttributeError):
            current += 1
            await asyncio.sleep(0.2)  # server down (killed or being restarted) or a page cut short


async def run_load(bases: str | list[str], tokens: list[str], votes: int, kill=None,
                   kill_after: int | None = None) -> dict:
    import httpx

    bases = [bases] if isinstance(bases, str) else bases
    latencies, saved = [], []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=len(tokens) + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        tasks = [asyncio.create_task(rater_loop(client, bases, i, t, votes, latencies, saved, stop))
                 for i, t in enumerate(tokens)]
        if kill is not None:
            while len(saved) < kill_after:
                await asyncio.sleep(0.01)
            await asyncio.get_running_loop().run_in_executor(None, kill)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    ordered = sorted(latencies)
    return {"saved": saved, "p50": ordered[len(ordered) // 2], "p95": ordered[int(len(ordered) * 0.95)]}


def mirrored(results: Path) -> list[dict]:
    path = results / "sample" / "judgments" / "human.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def measure(folder: Path, db_url: str | None, servers: int, raters: int, votes: int,
            kill_after: int | None = None) -> dict:
    """One load run on `servers` servers sharing one database and results folder; with kill_after, the first
    server is SIGKILLed after that many saved votes (restarted when it is the only one)."""
    from arena.web import db

    results = folder / "results"
    models = prepare(results)
    engine = db.connect(db_url or db.default_db_url(results))
    tokens = [db.add_rater(engine, f"rater-{i}") for i in range(raters)]
    env = {**os.environ, "ARENA_HOME": str(folder / "home")}
    extra = ("--mirror-every", "1", *(("--db", db_url) if db_url else ()))
    ports = [free_port() for _ in range(servers)]
    running = [start_server(results, models, port, env, extra) for port in ports]

    def kill_first():
        os.kill(running[0].pid, signal.SIGKILL)
        running[0].wait()
        if servers == 1:
            running[0] = start_server(results, models, ports[0], env, extra)

    try:
        started = time.perf_counter()
        outcome = asyncio.run(run_load([f"http://127.0.0.1:{port}" for port in ports], tokens, votes,
                                       kill_first if kill_after else None, kill_after))
        elapsed = time.perf_counter() - started
        stored = db.all_votes(engine)
        deadline = time.time() + 20  # the survivors' sweep mirrors what a killed server left unmirrored
        while len(mirrored(results)) < len(stored) and time.time() < deadline:
            time.sleep(0.2)
    finally:
        for server in running:
            if server.poll() is None:
                server.terminate()
                server.wait()
        engine.dispose()
    stored_ids = {v["assignment_id"] for v in stored}
    human = mirrored(results)
    return {"stored": len(stored), "distinct": len({(v["name"], v["question_id"], v["left_model"], v["right_model"])
                                                    for v in stored}),
            "answered": len(outcome["saved"]), "lost": sum(a not in stored_ids for _, a in outcome["saved"]),
            "mirrored": len(human), "mirrored_distinct": len({h["judgment_id"] for h in human}),
            "mirror_exact": sorted(h["meta"]["vote_id"] for h in human) == sorted(v["id"] for v in stored),
            "p50": outcome["p50"], "p95": outcome["p95"], "votes_per_s": len(stored) / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--votes", type=int, default=20)
    parser.add_argument("--kill-after", type=int, default=None, help="SIGKILL the server after this many saved votes")
    parser.add_argument("--servers", type=int, default=None,
                        help="compare 1, 2, 4 ... up to this many servers on one database (no kill)")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="a PostgreSQL database to measure beside SQLite (a scratch schema is used and dropped)")
    args = parser.parse_args()

    if args.servers is None:
        with tempfile.TemporaryDirectory() as folder, (scratch_schema(args.db) if args.db
                                                       else contextlib.nullcontext()) as url:
            result = measure(Path(folder), url, 1, args.raters, args.votes, args.kill_after)
        print(f"{args.raters} raters x {args.votes} votes: {result['stored']} votes stored "
              f"({'exact' if result['stored'] == args.raters * args.votes else 'MISMATCH'}), "
              f"{result['distinct']} distinct, {result['answered']} answered 'saved', {result['mirrored']} mirrored "
              f"as judge human ({result['mirrored_distinct']} distinct)")
        print(f"vote latency p50 {result['p50'] * 1000:.0f} ms, p95 {result['p95'] * 1000:.0f} ms; "
              f"{result['votes_per_s']:.0f} votes/s overall" + (f"; server SIGKILLed after {args.kill_after} votes "
                                                               "and restarted" if args.kill_after else ""))
        print(f"votes answered 'saved' but missing: {result['lost']}")
        assert result["lost"] == 0 and result["mirror_exact"]
        return 0

    counts = [n for n in (1, 2, 4, 8, 16) if n <= args.servers]
    print(f"{args.raters} raters x {args.votes} votes, raters spread over the servers; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    print(f"{'database':<12} {'servers':>7} {'votes/s':>8} {'p50 ms':>7} {'p95 ms':>7}  check")
    for name, url in [("sqlite", None), *([("postgresql", args.db)] if args.db else [])]:
        for servers in counts:
            with tempfile.TemporaryDirectory() as folder, (scratch_schema(url) if url
                                                           else contextlib.nullcontext()) as scratch:
                result = measure(Path(folder), scratch, servers, args.raters, args.votes)
            exact = (result["stored"] == result["distinct"] == result["answered"] == args.raters * args.votes
                     and result["lost"] == 0 and result["mirror_exact"])
            print(f"{name:<12} {servers:>7} {result['votes_per_s']:>8.0f} {result['p50'] * 1000:>7.0f} "
                  f"{result['p95'] * 1000:>7.0f}  {'exact' if exact else 'MISMATCH'} ({result['stored']} stored, "
                  f"{result['mirrored']} mirrored)", flush=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
