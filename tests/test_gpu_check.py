"""The prepared GPU check runs end to end on CPU in its smoke mode, so it cannot rot between GPU sessions."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.model
def test_gpu_check_cpu_smoke_runs_every_step(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: run benchmarks/gpu_check.py without --cpu-smoke")
    run = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--cpu-smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = summary["steps"]
    assert summary["ok"] and summary["mode"] == "cpu-smoke"
    assert set(steps) == {"build", "load", "finetune_qlora-nf4", "finetune_lora-bf16", "generate"}
    assert steps["load"]["nf4_linear4bit_layers"] > 0 and steps["load"]["nf4_over_bf16_footprint"] < 1
    assert steps["load"]["nf4_cuda_allocated_bytes"].startswith("skipped:")
    for name in ("finetune_qlora-nf4", "finetune_lora-bf16"):
        assert steps[name]["steps"] == 4 and steps[name]["paged_adamw_used"].startswith("skipped:")
    assert steps["generate"]["qlora-nf4_answers"] == steps["generate"]["lora-bf16_answers"] == 3
