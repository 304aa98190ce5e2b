"""Start-up: how long arena's everyday commands take as whole processes, against `python -c pass` timed in
the same run (the ratio is what to compare across machines and loads; the README's target is at most 1.5 s
for `evaluate` before its first judge call and for `report` on 102 judgments).

    python benchmarks/startup.py [--repeat 3]

Each command runs `--repeat` times, interleaved with the others; the medians are printed, wall-clock and
CPU (user + system of the process: what an idle machine's wall-clock time comes close to, when a busy one
stretches the wall-clock). `evaluate` is timed up to the moment a loopback OpenAI-compatible judge receives its
first call (and as a whole).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# A judge that writes the moment of its first call to a file and answers every call with a tie.
SERVER = r"""
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
marker = sys.argv[1]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        if not os.path.exists(marker):
            with open(marker, "w") as out: out.write(repr(time.time()))
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Both fine.\n3"},
                           "finish_reason": "stop"}], "usage": {"prompt_tokens": 50, "completion_tokens": 3}}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _report_store(folder: Path, env: dict) -> Path:
    """102 pairwise judgments (17 Vicuna questions x 3 models x both orders) with the models' answers."""
    code = f"""
import itertools, json
from arena.store import Answer, Judgment, ResultsStore
store = ResultsStore({str(folder / "report-results")!r})
questions = [json.loads(line)["question_id"] for line in open({str(SHARED / "benchmarks/vicuna80/questions.jsonl")!r})][:17]
models = ["alpha", "beta", "gamma"]
store.save_answers([Answer("vicuna80", str(q), m, [f"answer of {{m}} to {{q}}. " * (5 + 7 * i)])
                    for q in questions for i, m in enumerate(models)])
store.save_judgments([Judgment("vicuna80", str(q), a, b, "gpt-4", "pairwise", ("A", "B", "tie")[n % 3])
                      for n, (q, (a, b)) in enumerate(itertools.product(questions, itertools.permutations(models, 2)))])
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "arena",
            "prompts",
            "pull",
            "vicuna80",
            "--from",
            str(SHARED / "benchmarks/vicuna80/questions.jsonl"),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    return folder / "report-results"


def _evaluate_inputs(folder: Path, base_url: str) -> Path:
    for name in ("alpha", "beta"):
        rows = [{"question_id": f"s0{q}", "generation": f"{name} answers {q}"} for q in range(1, 3)]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    models = folder / "arena.toml"
    models.write_text(
        "".join(f'[models.{n}]\nbackend = "answers"\npath = "{folder / n}.jsonl"\n' for n in ("alpha", "beta"))
        + f'[models.judge]\nbackend = "openai"\npath = "gpt-4"\nbase_url = "{base_url}"\n'
        'api_key_env = "STARTUP_KEY"\nretries = 0\n'
    )
    return models


def _timed(command: list[str], env: dict) -> tuple[float, float, float]:
    """(start time, wall-clock seconds, CPU seconds) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return started, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env = {
            **os.environ,
            "ARENA_HOME": str(folder / "home"),
            "STARTUP_KEY": "sk-startup",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        marker = folder / "first-call"
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(marker)], stdout=subprocess.PIPE, text=True)
        try:
            base_url = f"http://127.0.0.1:{server.stdout.readline().strip()}/v1"
            models, report_results = _evaluate_inputs(folder, base_url), _report_store(folder, env)
            arena = [sys.executable, "-m", "arena"]
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "arena --help": [*arena, "--help"],
                "arena prompts list": [*arena, "prompts", "list"],
                "arena ratings --method bt (102 judgments)": [
                    *arena,
                    "ratings",
                    "--benchmark",
                    "vicuna80",
                    "--method",
                    "bt",
                    "--results",
                    str(report_results),
                ],
                "arena ratings --method elo (102 judgments)": [
                    *arena,
                    "ratings",
                    "--benchmark",
                    "vicuna80",
                    "--results",
                    str(report_results),
                ],
                "arena report (102 judgments)": [
                    *arena,
                    "report",
                    "--benchmark",
                    "vicuna80",
                    "--results",
                    str(report_results),
                    "--out",
                    str(folder / "report"),
                ],
            }
            times: dict[str, list[float]] = {
                label: [] for label in [*commands, "arena evaluate (whole)", "arena evaluate (to its first call)"]
            }
            cpu: dict[str, list[float]] = {label: [] for label in times}
            for round_number in range(args.repeat):
                for label, command in commands.items():
                    _, wall, seconds = _timed(command, env)
                    times[label].append(wall)
                    cpu[label].append(seconds)
                marker.unlink(missing_ok=True)
                results = folder / f"evaluate-{round_number}"  # a fresh store: the judge is called every time
                started, whole, seconds = _timed(
                    [
                        *arena,
                        "evaluate",
                        "--model",
                        "alpha",
                        "--baseline",
                        "beta",
                        "--judge",
                        "judge",
                        "--protocol",
                        "pairwise",
                        "--benchmark",
                        "sample",
                        "--limit",
                        "1",
                        "--models-file",
                        str(models),
                        "--results",
                        str(results),
                        "--bootstrap",
                        "20",
                    ],
                    env,
                )
                times["arena evaluate (whole)"].append(whole)
                cpu["arena evaluate (whole)"].append(seconds)
                times["arena evaluate (to its first call)"].append(float(marker.read_text()) - started)
        finally:
            server.terminate()
            server.wait()
    medians = {label: statistics.median(values) for label, values in times.items()}
    floor = medians["python -c pass"]
    print(f"median of {args.repeat} runs each; load average {os.getloadavg()[0]:.2f} at the end; {os.cpu_count()} CPUs")
    print(f"{'command':45s} {'wall':>7s}   {'ratio':>6s}   {'CPU':>6s}")
    for label, value in medians.items():
        spent = f"{statistics.median(cpu[label]):5.2f} s" if cpu[label] else "    -  "
        print(f"{label:45s} {value:5.2f} s   {value / floor:5.1f}x   {spent}")


if __name__ == "__main__":
    main()
