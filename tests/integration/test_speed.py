"""`analysis.speed`: the in-process speed measurements behind `scripts.benchmark --suite speed`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from agents.configs import DREAM_PRESETS as PRESETS
from analysis.speed import (
    arithmetic_markdown,
    concurrency_specs,
    matmul_peak_gflops,
    measure_op_counts,
    measure_peak_memory,
    measure_planners,
    measure_preset,
    preset_obs_shape,
    random_batch,
    run_command,
    speed_markdown,
)
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
    monkeypatch.setattr(benchmark, "SPEED_COLLECTION", ("Pendulum", "debug", 40))
    assert run_speed(BenchmarkConfig(suite="speed", out=tmp_path), ["--suite", "speed"]) == 0
    result = json.loads((tmp_path / "speed.json").read_text())
    assert result["command"] == "python -m scripts.benchmark --suite speed"
    assert {r["preset"] for r in result["presets"]} == {"debug"}
    assert len(result["planners"]) == 6 * 2 * len({r["threads"] for r in result["presets"]})
    kinds = [(r["kind"], r["num_envs"]) for r in result["collection"]]
    batched = [(kind, n) for n in (4, 16) for kind in ("random", "agent")]
    assert kinds == [("raw", 1), ("random", 1), ("agent", 1), *batched]
    assert all(r["steps_per_s"] > 0 and r["ratio_to_raw"] > 0 for r in result["collection"])
    assert [r["preset"] for r in result["op_counts"]] == ["debug"] and result["runs"] == []
    [memory] = result["memory"]
    assert memory["preset"] == "debug"
    assert memory["params"] > result["presets"][0]["params"]  # Walker2d-shaped, the preset row is Pendulum
    assert memory["peak_rss_mb"] >= memory["imports_rss_mb"] > 0
    # the child's own peak, not its parent's (a fork + exec child inherits the parent's ru_maxrss): this
    # process has imported torch and run updates, the child has built a 30k-parameter model
    assert memory["model_rss_mb"] > 0
    md = (tmp_path / "speed.md").read_text()
    assert "## Planning" in md and "## Collection against the raw simulator" in md and "## Op counts" in md
    assert result["matmul_gflops_1thread"] > 0
    assert "## Peak memory per preset (CPU)" in md and "| debug | 0.03M | 2 |" in md


def test_arithmetic_table_sets_updates_against_the_matmul_peak() -> None:
    assert matmul_peak_gflops(size=(64, 64, 64), repeats=3) > 0
    preset = {"preset": "cpu", "env": "Walker2d", "threads": 1, "wm_update_ms": 30.0, "ac_update_ms": 50.0}
    result = {
        "presets": [preset | {"update_ms": 80.0}, preset | {"env": "Pendulum", "update_ms": 1.0}],
        "op_counts": [{"preset": "cpu", "wm_update_gflop": 0.9, "ac_update_gflop": 2.1}],
        "matmul_gflops_1thread": 75.0,
    }
    lines = arithmetic_markdown(result)
    # 3 GFLOP at 75 GFLOP/s: a 40 ms floor, so the 80 ms update has 2x headroom
    assert lines[-1] == "| cpu | 0.9 | 2.1 | 30 (30) | 50 (42) | 80 | 40 | 2.0x |"
    assert arithmetic_markdown(result | {"matmul_gflops_1thread": None}) == []


def test_peak_memory_of_an_unknown_preset_is_an_error_row() -> None:
    row = measure_peak_memory("no-such-preset", updates=1)
    assert row["preset"] == "no-such-preset" and "no-such-preset" in row["error"]


def test_op_counts_are_positive_and_per_step() -> None:
    row = measure_op_counts("debug", PRESETS["debug"])
    assert row["imagination"] == [8, 5] and row["batch"] == [4, 8]  # 8 of the 32 posterior states
    for k in ("wm_update", "ac_update", "act"):
        assert 0 < row[f"{k}_ops"] <= row[f"{k}_kernels"]
    # the actor-critic update imagines 8 x 5 states and scores the 4 x 8 replayed ones through several
    # MLPs: more arithmetic than the world model's 4 x 8 steps (FLOPs are counted, not timed)
    assert 0 < row["wm_update_gflop"] < row["ac_update_gflop"]
    # one imagination step is a small part of the whole actor-critic update
    assert 0 < row["imagine_step_ops"] < row["ac_update_ops"] / 5


def test_a_pixel_preset_is_measured_on_frames() -> None:
    """Op counts (and so the GPU suite's updates and peak memory, which share the batch) of a pixel
    preset go through its CNN on uint8 frames, not a Walker2d-sized state vector."""
    debug = PRESETS["debug"]
    pixels = dataclasses.replace(debug, envs=dataclasses.replace(debug.envs, obs="pixels", size=16))
    assert preset_obs_shape(pixels) == (16, 16, 3) and preset_obs_shape(debug) == (17,)
    batch = random_batch(2, 3, (16, 16, 3), 6, torch.device("cpu"))
    assert batch.obs.shape == (2, 3, 16, 16, 3) and batch.obs.dtype == torch.uint8
    state, frames = measure_op_counts("debug", debug), measure_op_counts("debug-pixels", pixels)
    # the convolutions and their transposes add arithmetic to the world model's update
    assert frames["wm_update_gflop"] > 1.5 * state["wm_update_gflop"]
    assert frames["ac_update_gflop"] == pytest.approx(state["ac_update_gflop"], rel=0.05)


def test_concurrency_specs_pair_runs_with_each_thread_setting() -> None:
    groups = concurrency_specs("cpu", "Walker2d", [0, 2], steps=800)
    assert [[s.name for s in g] for g in groups] == [
        ["alone-auto"],
        ["pair-auto-a", "pair-auto-b"],
        ["alone-2t"],
        ["pair-2t-a", "pair-2t-b"],
    ]
    spec = groups[3][1]
    assert spec.args[spec.args.index("--threads") :][:2] == ("--threads", "2")
    assert spec.prefill + spec.log_every < spec.steps  # some intervals lie wholly after the prefill
    cmd = run_command(spec, Path("/tmp/x"), seed=1)
    assert cmd[1:3] == ["-m", "scripts.dream"] and "--train.no-progress" in cmd
