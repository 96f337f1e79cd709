"""`scripts.benchmark --backend ray` and `scripts.sweep` on a local Ray instance with 2 CPUs (needs Ray:
``pip install -e '.[ray]'``; skipped without it)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import benchmark
from scripts.benchmark import BenchmarkConfig, Task, run_suite
from scripts.sweep import SweepConfig, run_sweep
from tests.fake_agent import FAKE_AGENT

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local Ray instance (2 CPUs) for the module; its workers see the fake agent and FAKE_KILL."""
    agents = tmp_path_factory.mktemp("agents")
    (agents / "fakeagent.py").write_text(FAKE_AGENT)
    names = ("PYTHONPATH", "FAKE_KILL", "FAKE_STEP_S", "RAY_USAGE_STATS_ENABLED")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(agents), saved["PYTHONPATH"]) if p)
    os.environ.update(FAKE_KILL="0:self,1:parent", FAKE_STEP_S="0.3", RAY_USAGE_STATS_ENABLED="0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 2**20)
    try:
        yield agents
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.mujoco
def test_two_debug_runs_on_local_ray(local_ray: Path, tmp_path: Path) -> None:
    """Two real smoke-suite runs (debug preset) as Ray tasks at once: run directories, bench.json, report."""
    out = tmp_path / "out"
    cfg = BenchmarkConfig(suite="smoke", seeds=1, out=out, backend="ray", jobs=2, agents=("dreamer", "ppo"))
    assert run_suite(cfg, ["--suite", "smoke", "--backend", "ray"]) == 0
    for agent in ("dreamer", "ppo"):
        run = out / "runs/Pendulum" / agent / "seed0"
        steps = [int(line.split(",")[0]) for line in (run / "eval.csv").read_text().splitlines()[1:]]
        assert steps[:2] == [200, 400] and steps == sorted(set(steps))  # PPO ends its 2048-step rollout
        bench = json.loads((run / "bench.json").read_text())
        assert [s["backend"] for s in bench["sessions"]] == ["ray"] and bench["measured"]["wall_s"] > 0
    md = (out / "report.md").read_text()
    assert "- backend: ray, local instance: 1 node, 2 CPUs, 0 GPUs; 1 CPU and 0 GPUs per run" in md
    assert "FAILED" not in md and "## Speed" in md
    report = json.loads((out / "report.json").read_text())
    assert sorted(report["envs"]["Pendulum-v1"]["algos"]) == ["dreamer", "ppo"]


def test_killed_runs_are_retried_from_their_checkpoints(
    local_ray: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seed 0 kills its own process, seed 1 its Ray worker (SIGKILL, at step 200 of 400): both are retried,
    resume from their checkpoints, and end with every evaluation once."""
    monkeypatch.setattr(benchmark, "AGENTS", {"fake": ("fakeagent",)})
    monkeypatch.setattr(benchmark, "SUITES", {"smoke": (Task("Pendulum-v1", 400, 100, 1, ("fake",)),)})
    out = tmp_path / "out"
    cfg = BenchmarkConfig(suite="smoke", seeds=2, out=out, backend="ray")
    assert run_suite(cfg, ["--suite", "smoke", "--backend", "ray"]) == 0
    printed = capsys.readouterr().out
    assert "progress: 2 of 2 done" in printed
    for seed in (0, 1):
        run = out / f"runs/Pendulum-v1/fake/seed{seed}"
        steps = [line.split(",")[0] for line in (run / "eval.csv").read_text().splitlines()[1:]]
        assert steps == ["0", "100", "200", "300", "400"]
        log = (out / f"logs/Pendulum-v1-fake-seed{seed}.log").read_text()
        assert log.count("$ ") == 2 and "--resume" in log.split("$ ")[2]
    sessions: list[dict[str, Any]] = json.loads((out / "runs/Pendulum-v1/fake/seed0/bench.json").read_text())[
        "sessions"
    ]
    assert [s["returncode"] for s in sessions] == [-9, 0]  # killed, then resumed to the end
    assert "FAILED" not in (out / "report.md").read_text()


def test_a_run_killed_every_time_is_reported_with_the_reason(
    local_ray: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no retries left the killed run fails, and the report says which and why."""
    monkeypatch.setattr(benchmark, "AGENTS", {"fake": ("fakeagent",)})
    monkeypatch.setattr(benchmark, "SUITES", {"smoke": (Task("Pendulum-v1", 400, 100, 1, ("fake",)),)})
    out = tmp_path / "out"
    cfg = BenchmarkConfig(suite="smoke", seeds=1, out=out, backend="ray", max_retries=0)
    assert run_suite(cfg, ["--suite", "smoke", "--backend", "ray", "--max-retries", "0"]) == 1
    md = (out / "report.md").read_text()
    assert "- FAILED: Pendulum-v1 fake seed 0 (killed by SIGKILL, after 0 retries), see `logs/" in md
    assert "fake seed 0: stopped at 100 of 400 steps" in md
    failed = json.loads((out / "benchmark.json").read_text())["failed"]
    assert failed[0]["reason"] == "killed by SIGKILL, after 0 retries"


@pytest.mark.mujoco
def test_a_small_sweep_on_tune(local_ray: Path, tmp_path: Path) -> None:
    """Two values of agent.horizon, debug-sized, on Tune with ASHA: run directories and the ranked table."""
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "env: Pendulum\npreset: debug\nsteps: 400\neval_every: 200\neval_episodes: 1\nseeds: 1\n"
        "params:\n  agent.horizon: [3, 15]\ngrace_period: 200\n"
    )
    out = tmp_path / "sweep"
    assert run_sweep(SweepConfig(spec=spec, out=out, jobs=2), ["--spec", str(spec)]) == 0
    data = json.loads((out / "sweep.json").read_text())
    assert sorted(c["params"]["agent.horizon"] for c in data["configs"]) == [3, 15]
    for config in data["configs"]:
        (trial,) = config["trials"]
        assert trial["finished"] == (trial["last_step"] == 400) and trial["last_step"] >= 200
        assert trial["finished"] or any("stopped early at 200 steps" in n for n in config["notes"])
        run = out / trial["path"]
        assert (run / "eval.csv").is_file() and (run / "checkpoints").is_dir()
    md = (out / "sweep.md").read_text()
    assert "| rank | `agent.horizon` | seeds | final | AUC (200-400) | stopped early / failed |" in md
    assert "- scheduler: ASHA on eval_return at env steps (grace period 200" in md
    assert (out / "tune").is_dir()
