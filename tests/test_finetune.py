import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch", reason="the hf extra is not installed")

from conftest import REPO, write_jsonl  # noqa: E402

from arena.models.spec import registered_models_dir, resolve_model  # noqa: E402
from arena.store import ResultsStore  # noqa: E402

SMOKE = ("--base", "smollm2-135m-q4", "--preset", "cpu-smoke")


@pytest.mark.model
def test_cpu_smoke_finetune_then_generate_and_play(cli, tmp_path):
    out = tmp_path / "adapters" / "smol-tuned"
    # Training speed (10 steps within 2 minutes) is measured by benchmarks/finetune.py, not asserted here.
    result = cli(
        "finetune",
        *SMOKE,
        "--data",
        "sample",
        "--name",
        "smol-tuned",
        "--out",
        out,
        "--max-steps",
        "10",
        "--eval-every",
        "5",
        "--merge",
    )
    assert result.code == 0, result.err
    report = json.loads((out / "training_report.json").read_text())
    assert report["steps"] == 10 and len(report["train_loss"]) == 10
    first, last = report["train_loss"][:3], report["train_loss"][-3:]
    assert sum(last) / 3 < sum(first) / 3, "training loss must fall"
    assert [step for step, _ in report["eval_loss"]] == [5, 10]
    assert report["config"]["quantization"] == "4bit" and report["config"]["quant_type"] == "nf4"
    assert report["config"]["target_modules"] == "all-linear"
    assert any("paged AdamW" in note for note in report["fallbacks"]) and "recipe fallback" in result.err
    assert report["peak_memory_bytes"] > 0 and report["tokens_per_second"] > 0
    assert (out / "adapter" / "adapter_config.json").exists() and (out / "loss_curve.png").stat().st_size > 1000
    assert json.loads((out / "loss.json").read_text())["train"] == report["train_loss"]
    assert (out / "merged" / "config.json").exists() and not (out / "checkpoint").exists()
    adapter_config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["r"] == 8 and len(adapter_config["target_modules"]) == 7

    spec = resolve_model("smol-tuned")
    assert spec.option("adapter") == str((out / "adapter").resolve()) and spec.option("prompt_format") == "guanaco"
    generated = cli(
        "generate",
        "--model",
        "smol-tuned",
        "--benchmark",
        "sample",
        "--limit",
        "2",
        "--greedy",
        "--max-new-tokens",
        "12",
        "--results",
        tmp_path / "r",
    )
    assert generated.code == 0, generated.err
    assert all(a.text for a in ResultsStore(tmp_path / "r").answers("sample", "smol-tuned").values())
    played = cli(
        "tournament",
        "--models",
        "smollm2-greedy",
        "smol-tuned",
        "--limit",
        "1",
        "--max-new-tokens",
        "12",
        "--results",
        tmp_path / "r",
        "--orderings",
        "100",
        "--bootstrap",
        "50",
    )
    assert played.code == 0, played.err
    board = json.loads((tmp_path / "r" / "sample" / "leaderboards" / "smollm2-135m-q4.json").read_text())
    assert {r["model"] for r in board["elo"]} == {"smollm2-greedy", "smol-tuned"}

    from arena.pipelines.commands import demo_models

    assert "smol-tuned" in demo_models()


@pytest.mark.model
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "ARENA_HOME": os.environ["ARENA_HOME"]}
    command = [
        sys.executable,
        "-m",
        "arena",
        "finetune",
        *SMOKE,
        "--data",
        "sample",
        "--name",
        "smol-resumed",
        "--out",
        str(out),
        "--max-steps",
        "6",
        "--save-every",
        "2",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    # The periodic checkpoint after step 2 says training is under way, however slow the machine is today.
    periodic = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 900  # a safety net, not a speed target
    while not periodic.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert periodic.exists(), "no training step finished within 900 s"
    interrupted_at = time.time_ns()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 2, err
    assert "checkpoint saved" in err and "--resume" in err
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert 2 <= state["step"] < 6 and len(state["losses"]) == state["step"]
    # Written by the interrupt itself, not left over from the periodic save.
    assert (out / "checkpoint" / "state.json").stat().st_mtime_ns >= interrupted_at
    assert not (registered_models_dir() / "smol-resumed.toml").exists()
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env, cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((out / "training_report.json").read_text())
    assert report["steps"] == 6 and len(report["train_loss"]) == 6
    assert report["train_loss"][: state["step"]] == state["losses"]
    assert (registered_models_dir() / "smol-resumed.toml").exists()


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ("--base", "no-such-model"), "unknown model 'no-such-model'"),
        ([{"text": "### Human: hello there"}], (), ":1: no assistant turn"),
        ([], (), "the training file is empty"),
        ([{"prompt": "x"}], (), ":1: expected field 'text'"),
        pytest.param(None, ("--target-modules", "flux_capacitor"), "do not fit", marks=pytest.mark.model),  # loads it
    ],
)
def test_bad_finetune_input(cli, tmp_path, setup, args, message):
    data = "sample"
    if setup is not None:
        data = str(write_jsonl(tmp_path / "train.jsonl", setup))
    base_args = [a for a in SMOKE]
    if args and args[0] == "--base":
        base_args[1] = args[1]
        args = ()
    result = cli(
        "finetune", *base_args, "--data", data, "--name", "bad", "--out", tmp_path / "out", "--max-steps", "1", *args
    )
    assert result.code == 2 and message in result.err
    assert not (registered_models_dir() / "bad.toml").exists()


def test_existing_output_folder_is_refused(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "something").write_text("keep me")
    result = cli("finetune", *SMOKE, "--data", "sample", "--name", "x", "--out", out, "--max-steps", "1")
    assert result.code == 2 and "exists" in result.err and "--overwrite" in result.err
    assert (out / "something").read_text() == "keep me"
    clash = cli("finetune", *SMOKE, "--data", "sample", "--name", "smollm2-greedy", "--out", tmp_path / "o2")
    assert clash.code == 2 and "preset model name" in clash.err


@pytest.mark.parametrize("name", ["bad name/..", "..", ".", "a/b", "_x", "naïve", "x" * 65])
def test_an_adapter_name_that_is_no_plain_name_is_refused_before_anything(cli, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    result = cli("finetune", *SMOKE, "--data", "sample", "--name", name, "--results", tmp_path / "results")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"invalid --name (the adapter's name, its folder under adapters/) {name!r}: use 1 to 64" in result.err
    assert list(tmp_path.iterdir()) == []  # no adapters/ folder, no results, no manifest
