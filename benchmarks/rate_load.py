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
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.net import free_port
from helpers.rating import mirrored, prepare, run_load, scratch_schema, start_server


def measure(
    folder: Path, db_url: str | None, servers: int, raters: int, votes: int, kill_after: int | None = None
) -> dict:
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
        outcome = asyncio.run(
            run_load(
                [f"http://127.0.0.1:{port}" for port in ports],
                tokens,
                votes,
                kill_first if kill_after else None,
                kill_after,
            )
        )
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
    return {
        "stored": len(stored),
        "distinct": len({(v["name"], v["question_id"], v["left_model"], v["right_model"]) for v in stored}),
        "answered": len(outcome["saved"]),
        "lost": sum(a not in stored_ids for _, a in outcome["saved"]),
        "mirrored": len(human),
        "mirrored_distinct": len({h["judgment_id"] for h in human}),
        "mirror_exact": sorted(h["meta"]["vote_id"] for h in human) == sorted(v["id"] for v in stored),
        "p50": outcome["p50"],
        "p95": outcome["p95"],
        "votes_per_s": len(stored) / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--votes", type=int, default=20)
    parser.add_argument("--kill-after", type=int, default=None, help="SIGKILL the server after this many saved votes")
    parser.add_argument(
        "--servers",
        type=int,
        default=None,
        help="compare 1, 2, 4 ... up to this many servers on one database (no kill)",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="a PostgreSQL database to measure beside SQLite (a scratch schema is used and dropped)",
    )
    args = parser.parse_args()

    if args.servers is None:
        with (
            tempfile.TemporaryDirectory() as folder,
            scratch_schema(args.db) if args.db else contextlib.nullcontext() as url,
        ):
            result = measure(Path(folder), url, 1, args.raters, args.votes, args.kill_after)
        print(
            f"{args.raters} raters x {args.votes} votes: {result['stored']} votes stored "
            f"({'exact' if result['stored'] == args.raters * args.votes else 'MISMATCH'}), "
            f"{result['distinct']} distinct, {result['answered']} answered 'saved', {result['mirrored']} mirrored "
            f"as judge human ({result['mirrored_distinct']} distinct)"
        )
        print(
            f"vote latency p50 {result['p50'] * 1000:.0f} ms, p95 {result['p95'] * 1000:.0f} ms; "
            f"{result['votes_per_s']:.0f} votes/s overall"
            + (f"; server SIGKILLed after {args.kill_after} votes and restarted" if args.kill_after else "")
        )
        print(f"votes answered 'saved' but missing: {result['lost']}")
        assert result["lost"] == 0 and result["mirror_exact"]
        return 0

    counts = [n for n in (1, 2, 4, 8, 16) if n <= args.servers]
    print(
        f"{args.raters} raters x {args.votes} votes, raters spread over the servers; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start"
    )
    print(f"{'database':<12} {'servers':>7} {'votes/s':>8} {'p50 ms':>7} {'p95 ms':>7}  check")
    for name, url in [("sqlite", None), *([("postgresql", args.db)] if args.db else [])]:
        for servers in counts:
            with (
                tempfile.TemporaryDirectory() as folder,
                scratch_schema(url) if url else contextlib.nullcontext() as scratch,
            ):
                result = measure(Path(folder), scratch, servers, args.raters, args.votes)
            exact = (
                result["stored"] == result["distinct"] == result["answered"] == args.raters * args.votes
                and result["lost"] == 0
                and result["mirror_exact"]
            )
            print(
                f"{name:<12} {servers:>7} {result['votes_per_s']:>8.0f} {result['p50'] * 1000:>7.0f} "
                f"{result['p95'] * 1000:>7.0f}  {'exact' if exact else 'MISMATCH'} ({result['stored']} stored, "
                f"{result['mirrored']} mirrored)",
                flush=True,
            )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
