"""Judge throughput through the CLI, measured at the server: `arena evaluate` with an OpenAI-compatible judge
against a loopback server (its own process, asyncio, keep-alive) that answers each call after 0.5 s. At
concurrency C the endpoint can serve at most C / 0.5 calls a second; the share of that the server saw is
arena's efficiency (every layer counts: the HTTP client, the rate limiter, the budget, parsing and the
judgments log). Targets: >= 85% at 64 and >= 75% at 256 (issue 25). A ThreadingHTTPServer cannot serve this:
it resets connections above ~64 at once.

    python benchmarks/judge.py [--concurrency 16 64 256] [--rounds 8] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The server: minimal HTTP/1.1 over asyncio streams (no framework, so it costs little CPU of its own). It
# records when the first call arrived and when the last one was answered; GET /stats returns them.
SERVER = r"""
import asyncio, json, sys, time
latency = float(sys.argv[1])
stats = {"calls": 0, "first": None, "last": None, "in_flight": 0, "most_in_flight": 0}
BODY = json.dumps({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
    "content": "Both are fine, the first a little more so.\n1"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 500, "completion_tokens": 12, "total_tokens": 512}}).encode()
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if head.startswith(b"GET /stats"):
                body = json.dumps(stats).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                for key in stats:
                    stats[key] = 0 if key != "first" and key != "last" else None
                continue
            now = time.monotonic()
            stats["first"] = stats["first"] or now
            stats["in_flight"] += 1
            stats["most_in_flight"] = max(stats["most_in_flight"], stats["in_flight"])
            await asyncio.sleep(latency)
            stats["in_flight"] -= 1
            stats["calls"] += 1
            stats["last"] = time.monotonic()
            writer.write(REPLY)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def write_inputs(folder: Path, questions: int, base_url: str, concurrency: int) -> Path:
    """A prompt set, two 'models' as published answer files, and the judge, as arena.toml."""
    prompts = folder / "bench.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"question_id": str(i), "text": f"Question number {i}: explain it."}) + "\n"
            for i in range(questions)
        )
    )
    for name in ("first", "second"):
        (folder / f"{name}.jsonl").write_text(
            "".join(
                json.dumps({"question_id": str(i), "generation": f"The {name} answer to question {i}, in a few words."})
                + "\n"
                for i in range(questions)
            )
        )
    models = folder / "arena.toml"
    models.write_text(
        f'[models.first]\nbackend = "answers"\npath = "{folder / "first.jsonl"}"\n\n'
        f'[models.second]\nbackend = "answers"\npath = "{folder / "second.jsonl"}"\n\n'
        f'[models.bench-judge]\nbackend = "openai"\npath = "gpt-4"\nbase_url = "{base_url}"\n'
        f"require_key = false\nmax_concurrency = {concurrency}\n"
    )
    return models


def share_at_server(port: int, concurrency: int, latency: float, rounds: int) -> tuple[float, dict]:
    """Run `arena evaluate` (pairwise, both orders) for concurrency x rounds calls; the server's rate as a
    share of concurrency / latency."""
    calls = concurrency * rounds
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = write_inputs(folder, calls // 2, f"http://127.0.0.1:{port}/v1", concurrency)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "arena",
                "evaluate",
                "--model",
                "first",
                "--baseline",
                "second",
                "--benchmark",
                str(folder / "bench.jsonl"),
                "--judge",
                "bench-judge",
                "--protocol",
                "pairwise",
                "--models-file",
                str(models),
                "--results",
                str(folder / "results"),
                "--bootstrap",
                "10",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if run.returncode != 0:
            raise SystemExit(f"arena evaluate failed ({run.returncode}):\n{run.stderr[-2000:]}")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as response:
        stats = json.loads(response.read())
    assert stats["calls"] == calls, stats
    rate = calls / (stats["last"] - stats["first"])
    return rate / (concurrency / latency), {"rate": rate, **stats}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--rounds", type=int, default=16, help="calls per run: concurrency x rounds")
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    targets = {64: 0.85, 256: 0.75}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.latency)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        print(f"server latency {args.latency} s per call; load average {os.getloadavg()[0]:.2f} at start")
        for concurrency in args.concurrency:
            share, stats = share_at_server(port, concurrency, args.latency, args.rounds)
            target = targets.get(concurrency)
            verdict = f" (target >= {target:.0%}) {'PASS' if share >= target else 'FAIL'}" if target else ""
            print(
                f"concurrency {concurrency:>3}: {stats['calls']} calls through `arena evaluate`, "
                f"{stats['rate']:.1f} calls/s at the server of {concurrency / args.latency:.0f} possible = "
                f"{share:.0%}{verdict}; at most {stats['most_in_flight']} in flight"
            )
    finally:
        server.terminate()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
