"""`scripts.benchmark --suite gpu`: end to end at tiny sizes on the CPU (so that a GPU machine finds nothing
broken), and on CUDA where there is one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from analysis.speed import VARIANTS
from scripts.benchmark import BenchmarkConfig, run_gpu


def _run(tmp_path: Path, device: str, backend: str | None) -> dict:
    cfg = BenchmarkConfig(suite="gpu", device=device, tiny=True, compile_backend=backend, out=tmp_path)
    assert run_gpu(cfg, ["--suite", "gpu", "--tiny"]) == 0
    result = json.loads((tmp_path / "gpu.json").read_text())
    rows = result["updates"]
    assert [(r["preset"], r["variant"]) for r in rows] == [("debug", v) for v in VARIANTS]
    assert all("error" not in r and r["update_ms"] > 0 and r["wm_update_ms"] > 0 for r in rows)
    (run,) = result["runs"]
    assert run["returncode"] == 0 and run["train_steps_per_s"] > 0
    md = (tmp_path / "gpu.md").read_text()
    assert "| debug | compile+amp |" in md and "| debug-Pendulum | 1 |" in md
    return result


def test_gpu_suite_runs_on_cpu_at_tiny_sizes(tmp_path: Path) -> None:
    # aot_eager: the compiled variants trace forward and backward through Dynamo without generating code
    result = _run(tmp_path, "cpu", "aot_eager")
    assert not any(r["amp"] for r in result["updates"])  # autocast is CUDA-only
    assert [r["compiled"] for r in result["updates"]] == [False, False, True, True]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_suite_runs_on_cuda_at_tiny_sizes(tmp_path: Path) -> None:
    result = _run(tmp_path, "cuda", None)
    assert [r["amp"] for r in result["updates"]] == [False, True, False, True]
    assert all(r["peak_gpu_mb"] > 0 for r in result["updates"])
