"""Sweeps without Ray: the spec, its configurations and trials, the argument check, and the results table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.report import Run
from analysis.sweep import Trial, summarize_sweep, sweep_json, sweep_markdown
from envs.errors import UserError
from multirun.sweep import Range, param_flags, parse_spec, points, sweep_jobs, variant_name
from scripts.sweep import check_arguments

SPEC: dict[str, Any] = {
    "env": "Pendulum",
    "agent": "dreamer",
    "preset": "debug",
    "steps": 400,
    "eval_every": 200,
    "eval_episodes": 1,
    "seeds": 2,
    "params": {"agent.horizon": [3, 15], "train.train_ratio": [8, 16]},
    "args": ["--train.no-progress"],
}


def test_spec_errors_are_user_errors() -> None:
    with pytest.raises(UserError, match="unknown key budget"):
        parse_spec({**SPEC, "budget": 3})
    with pytest.raises(UserError, match="missing params"):
        parse_spec({k: v for k, v in SPEC.items() if k != "params"})
    with pytest.raises(UserError, match="must be a list of values"):
        parse_spec({**SPEC, "params": {"agent.horizon": {"low": 1, "high": 5}}})  # a range needs random
    with pytest.raises(UserError, match="low < high"):
        parse_spec({**SPEC, "search": "random", "params": {"agent.horizon": {"low": 5, "high": 1}}})
    with pytest.raises(UserError, match="scheduler must be asha or none"):
        parse_spec({**SPEC, "scheduler": "pbt"})
    spec = parse_spec(SPEC)
    assert spec.grace == 400 and spec.scheduler == "asha" and spec.args == ("--train.no-progress",)


def test_grid_and_seeded_random_configurations() -> None:
    grid = points(parse_spec(SPEC))
    assert grid == [
        {"agent.horizon": 3, "train.train_ratio": 8},
        {"agent.horizon": 3, "train.train_ratio": 16},
        {"agent.horizon": 15, "train.train_ratio": 8},
        {"agent.horizon": 15, "train.train_ratio": 16},
    ]
    random = {
        **SPEC,
        "search": "random",
        "samples": 5,
        "params": {
            "agent.horizon": [3, 5, 15],
            "train.train_ratio": {"low": 4, "high": 64, "log": True},
            "model.rssm.deter": {"low": 16, "high": 64, "integer": True},
        },
    }
    drawn = points(parse_spec(random))
    assert drawn == points(parse_spec(random))  # same draws each time: same folders, so resumable
    assert len(drawn) == 5 and all(p["agent.horizon"] in (3, 5, 15) for p in drawn)
    assert all(4 <= p["train.train_ratio"] <= 64 and isinstance(p["model.rssm.deter"], int) for p in drawn)
    assert points(parse_spec({**random, "sample_seed": 1})) != drawn
    assert Range(1.0, 100.0, log=True).draw(np.random.default_rng(0)) > 1.0


def test_flags_names_and_trials(tmp_path: Path) -> None:
    point = {"train.train_ratio": 16.0, "agent.slow_target": False, "model.rssm.deter": 32}
    assert param_flags(point) == (
        "--train.train-ratio",
        "16.0",
        "--agent.no-slow-target",
        "--model.rssm.deter",
        "32",
    )
    assert variant_name({"agent.horizon": 5, "train.train_ratio": 12.3456}) == (
        "agent.horizon=5,train.train_ratio=12.35"
    )
    trials = sweep_jobs(parse_spec(SPEC), ("scripts.dream",), tmp_path)
    assert len(trials) == 4 * 2
    point0, job = trials[1]
    assert point0 == {"agent.horizon": 3, "train.train_ratio": 8} and job.seed == 1
    assert job.extra == ("--train.no-progress", "--agent.horizon", "3", "--train.train-ratio", "8")
    assert job.run_dir == tmp_path / "runs/Pendulum/dreamer/agent.horizon=3,train.train_ratio=8/seed1"
    assert job.name == "Pendulum-dreamer-agent.horizon=3,train.train_ratio=8-seed1"
    assert job.preset == "debug" and job.task.steps == 400 and job.task.eval_every == 200
    dup = {**SPEC, "search": "random", "samples": 3, "params": {"agent.horizon": [5]}}
    with pytest.raises(UserError, match="two configurations of the sweep are the same"):
        sweep_jobs(parse_spec(dup), ("scripts.dream",), tmp_path)


def test_arguments_are_checked_against_the_agents_config(tmp_path: Path) -> None:
    spec = parse_spec(SPEC)
    check_arguments(spec, sweep_jobs(spec, ("scripts.dream",), tmp_path))
    bad = parse_spec({**SPEC, "params": {"agent.horizn": [3]}})
    with pytest.raises(UserError, match=r"agent.horizn=3: scripts.dream refuses .*agent.horizon"):
        check_arguments(bad, sweep_jobs(bad, ("scripts.dream",), tmp_path))
    wrong_type = parse_spec({**SPEC, "params": {"agent.horizon": ["long"]}})
    with pytest.raises(UserError, match=r"agent\.horizon=long"):
        check_arguments(wrong_type, sweep_jobs(wrong_type, ("scripts.dream",), tmp_path))


def test_mpc_sweeps_are_checked_against_the_mpc_config(tmp_path: Path) -> None:
    spec = parse_spec({**SPEC, "agent": "mpc-mppi", "params": {"plan.horizon": [4, 8]}})
    module = ("scripts.mpc", "--planner", "mppi")
    check_arguments(spec, sweep_jobs(spec, module, tmp_path))
    bad = parse_spec({**SPEC, "agent": "mpc-mppi", "params": {"plan.horizn": [4]}})
    with pytest.raises(UserError, match=r"plan.horizn=4: scripts.mpc refuses"):
        check_arguments(bad, sweep_jobs(bad, module, tmp_path))


def fake_run(path: Path, steps: list[int], returns: list[float], target: int) -> Run:
    return Run(
        path=path,
        env="Pendulum-v1",
        algo="dreamer",
        seed=0,
        target_steps=target,
        step=np.array(steps, dtype=np.float64),
        wall_time=np.arange(len(steps), dtype=np.float64),
        returns=np.array(returns, dtype=np.float64),
        config={},
    )


def test_results_table_ranks_configurations_by_auc(tmp_path: Path) -> None:
    h3, h15 = (("agent.horizon", 3),), (("agent.horizon", 15),)
    trials = [
        Trial(h3, 0, fake_run(tmp_path / "a", [200, 400], [-800.0, -400.0], 400)),  # AUC -600
        Trial(h3, 1, fake_run(tmp_path / "b", [200], [-900.0], 400)),  # stopped early by ASHA
        Trial(h15, 0, fake_run(tmp_path / "c", [200, 400], [-500.0, -300.0], 400)),  # AUC -400
        Trial(h15, 1, None, error="killed by SIGKILL"),
    ]
    rows, window = summarize_sweep(trials, 400)
    assert window == (200.0, 400.0)
    assert [row.params for row in rows] == [h15, h3]
    assert rows[0].auc.values == (-400.0,) and rows[0].final.values == (-300.0,)
    assert rows[1].final.values == (-400.0,) and rows[1].auc.n == 1  # finished runs only
    assert rows[1].notes == ("seed 1 stopped early at 200 steps (return -900.0)",)
    assert rows[0].notes == ("seed 1 failed: killed by SIGKILL",)
    md = sweep_markdown(rows, window)
    assert "| rank | `agent.horizon` | seeds | final | AUC (200-400) | stopped early / failed |" in md
    assert "| 1 | 15 | 2 (0,1) | -300.0 (n=1) @400 | -400.0 (n=1) | 1 |" in md
    assert "- agent.horizon=3: seed 1 stopped early at 200 steps (return -900.0)" in md
    data = sweep_json(rows, window, tmp_path)
    assert data["configs"][0]["params"] == {"agent.horizon": 15}
    assert data["configs"][1]["trials"][1] == {
        "seed": 1,
        "path": "b",
        "last_step": 200,
        "finished": False,
        "error": "",
    }
