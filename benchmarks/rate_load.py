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
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.net import free_port
from helpers.rating import prepare, run_load, start_server


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
