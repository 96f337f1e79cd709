"""`analysis.speed`: the in-process speed measurements behind `scripts.benchmark --suite speed`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agents.configs import DREAM_PRESETS as PRESETS
from analysis.speed import measure_planners, measure_preset, speed_markdown
from planners import PlannerConfig
from scripts import benchmark
from scripts.benchmark import BenchmarkConfig, run_speed


def test_preset_and_planner_rows_are_measured_on_real_envs() -> None:
    row = measure_preset("debug", PRESETS["debug"], "Pendulum", device=torch.device("cpu"), updates=2)
    assert (row["obs_shape"], row["action_dim"], row["batch"]) == ([3], 1, [4, 8])
    assert row["updates_per_env_step"] == pytest.approx(16.0 / 32)
    # timings themselves are the benchmark's business; here only that they were measured
    assert min(row["wm_update_ms"], row["ac_update_ms"], row["update_ms"]) > 0
    assert row["train_steps_per_s"] > 0 and row["collect_steps_per_s"] > 0
    plan = PlannerConfig(horizon=3, population=16, elites=4, iterations=2)
    rows = measure_planners(PRESETS["debug"], "Pendulum", device=torch.device("cpu"), plan=plan, actions=3)
    assert [(r["planner"], r["prior"]) for r in rows] == [
        (p, prior) for p in ("cem", "mppi", "shooting") for prior in (False, True)
    ]
    assert all(r["ms_per_action"] > 0 and r["population"] == 16 for r in rows)
    md = speed_markdown({"presets": [row], "planners": rows})
    assert "| debug | Pendulum |" in md and "| mppi | yes | Pendulum |" in md


def test_speed_suite_writes_json_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(benchmark, "SPEED_PRESETS", (("debug", ("Pendulum",), 1),))
    small = PlannerConfig(horizon=2, population=8, elites=2, iterations=1)
    real = measure_planners

    def fast(*args: object, **kwargs: object) -> list[dict[str, object]]:
        return real(*args, **{**kwargs, "plan": small, "actions": 2})  # type: ignore[arg-type]

    monkeypatch.setattr("analysis.speed.measure_planners", fast)
    assert run_speed(BenchmarkConfig(suite="speed", out=tmp_path), ["--suite", "speed"]) == 0
    result = json.loads((tmp_path / "speed.json").read_text())
    assert result["command"] == "python -m scripts.benchmark --suite speed"
    assert {r["preset"] for r in result["presets"]} == {"debug"}
    assert len(result["planners"]) == 6 * 2 * len({r["threads"] for r in result["presets"]})
    assert "## Planning" in (tmp_path / "speed.md").read_text()
