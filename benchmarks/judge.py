"""Judge throughput against a loopback OpenAI-compatible server that answers each call after 0.5 s:
arena's concurrent judge (concurrency 16, through the real runner and results store) against one call at a
time, with and without the 2 s pause between calls that the QLoRA paper's judging script made.

    python benchmarks/judge.py [--judgments 320] [--concurrency 16] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = r'''
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
latency = float(sys.argv[1])
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(latency)
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Both fine.\n1"},
                           "finish_reason": "stop"}], "usage": {"prompt_tokens": 500, "completion_tokens": 5}}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
'''


def synthetic_matchups(count: int):
    from arena.benchmarks.records import Message, Prompt
    from arena.judging.runner import Matchup
    from arena.store import Answer

    matchups = []
    for i in range(count):
        prompt = Prompt(str(i), "generic", (Message("user", f"Question number {i}?"),))
        matchups.append(Matchup(prompt, "a", "b", Answer("bench", str(i), "a", [f"first answer {i}"]),
                                Answer("bench", str(i), "b", [f"second answer {i}"])))
    return matchups


def concurrent_rate(base_url: str, count: int, concurrency: int) -> float:
    from arena.judging.judges import OpenAIJudge
    from arena.judging.runner import judge_matchups
    from arena.judging.templates import builtin_templates
    from arena.models.spec import ModelSpec
    from arena.store import ResultsStore

    judge = OpenAIJudge(ModelSpec("bench-judge", "openai", "gpt-4", {"base_url": base_url, "max_concurrency": concurrency}))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report = judge_matchups(ResultsStore(folder), "bench", judge, builtin_templates("pairwise"),
                                synthetic_matchups(count), show_progress=False)
        elapsed = time.perf_counter() - started
    assert report.judged == count and report.errors == 0
    return count / elapsed


def one_at_a_time_rate(base_url: str, count: int, pause: float) -> float:
    """The QLoRA script's way: a blocking call, then a pause, then the next call."""
    import httpx

    with httpx.Client() as client:
        started = time.perf_counter()
        for i in range(count):
            response = client.post(f"{base_url}/chat/completions", timeout=30,
                                   json={"model": "gpt-4", "messages": [{"role": "user", "content": f"q{i}"}]})
            response.raise_for_status()
            if i + 1 < count:
                time.sleep(pause)
        return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=320)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--sequential-calls", type=int, default=6)
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.latency)], stdout=subprocess.PIPE, text=True)
    try:
        base_url = f"http://127.0.0.1:{int(server.stdout.readline())}/v1"
        fast = concurrent_rate(base_url, args.judgments, args.concurrency)
        plain = one_at_a_time_rate(base_url, args.sequential_calls, 0.0)
        paper = one_at_a_time_rate(base_url, args.sequential_calls, 2.0)
    finally:
        server.terminate()
    print(f"server latency {args.latency} s per call")
    print(f"arena, concurrency {args.concurrency}, {args.judgments} judgments stored: {fast:.1f} judgments/s "
          f"(target >= 25) {'PASS' if fast >= 25 else 'FAIL'}")
    print(f"one call at a time: {plain:.2f} judgments/s -> arena is {fast / plain:.1f}x faster")
    print(f"one call at a time + 2 s pause (QLoRA script): {paper:.2f} judgments/s -> arena is {fast / paper:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
