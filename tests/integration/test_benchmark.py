"""`scripts.benchmark`: the job table, and a resumed suite of fake agent subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs.errors import UserError
from scripts import benchmark
from scripts.benchmark import BenchmarkConfig, Task, build_jobs, job_command, job_state, run_suite
from tests.fake_agent import FAKE_AGENT


def test_jobs_are_seed_major_with_presets_and_resume_commands(tmp_path: Path) -> None:
    cfg = BenchmarkConfig(suite="smoke", seeds=2, out=tmp_path)
    jobs = build_jobs(cfg)
    assert [(j.seed, j.agent) for j in jobs[:4]] == [
        (0, "dreamer"),
        (0, "mpc-mppi"),
        (0, "mpc-mppi-prior"),
        (0, "sac"),
    ]
    assert len(jobs) == 2 * len(benchmark.ALL) and jobs[-1].seed == 1
    assert "crossq" in benchmark.ALL and "crossq-1024" not in benchmark.ALL  # a variant: only where named
    dream = job_command(jobs[1], "fresh", None)
    assert dream[1:7] == ["-m", "scripts.mpc", "--preset", "debug", "--planner", "mppi"]
    assert "--eval-episodes" in dream and str(tmp_path / "runs/Pendulum/mpc-mppi/seed0") in dream
    assert "--planner-prior" in job_command(jobs[2], "fresh", None)
    resume = job_command(jobs[3], "resume", "cpu")
    run_dir = str(jobs[3].run_dir)
    assert resume[1:] == [
        "-m",
        "scripts.baseline",
        "--resume",
        "--run-dir",
        run_dir,
        *["--steps", "400", "--device", "cpu"],
    ]
    assert job_state(jobs[0]) == "fresh"
    only = build_jobs(BenchmarkConfig(suite="mujoco", seeds=1, out=tmp_path, agents=("sac",)))
    assert [(j.env, j.task.steps) for j in only[:1]] == [("Walker2d", 1_000_000)] and len(only) == 4
    cpu = build_jobs(BenchmarkConfig(suite="cpu", seeds=3, out=tmp_path, backend="ray", jobs=2))
    hopper = [j.seed for j in cpu if j.env == "Hopper"]
    assert hopper and set(hopper) == {0}  # a task with seeds=1 runs only seed 0
    assert {j.seed for j in cpu} == {0, 1, 2}
    mpc = next(j for j in cpu if j.agent == "mpc-mppi")
    assert mpc.task.steps == 10_000 and mpc.extra == (
        "--agent.imag-starts",
        "64",
        "--train.train-ratio",
        "128",
    )
    with pytest.raises(UserError, match="unknown agent dqn"):
        build_jobs(BenchmarkConfig(agents=("dqn",)))
    crossq = build_jobs(BenchmarkConfig(suite="locomotion", seeds=3, out=tmp_path, agents=("crossq-1024",)))
    assert [(j.env, j.seed) for j in crossq[:2]] == [("Walker2d", 0), ("Hopper", 0)] and len(crossq) == 6
    assert job_command(crossq[0], "fresh", None)[3:8] == [
        *("--algo", "crossq", "--hp.critic-arch", "1024", "1024"),
    ]


def test_suite_resumes_without_redoing_finished_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fakeagent.py").write_text(FAKE_AGENT)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(benchmark, "AGENTS", {"fake": ("fakeagent",)})
    monkeypatch.setattr(benchmark, "SUITES", {"smoke": (Task("Pendulum-v1", 300, 100, 1, ("fake",)),)})
    out = tmp_path / "out"
    cfg = BenchmarkConfig(suite="smoke", seeds=2, out=out)
    monkeypatch.setenv("FAKE_CRASH_SEED", "1")  # seed 1 dies after its 100-step evaluation

    assert run_suite(cfg, ["--suite", "smoke"]) == 1
    seed0, seed1 = out / "runs/Pendulum-v1/fake/seed0", out / "runs/Pendulum-v1/fake/seed1"
    assert len((seed1 / "eval.csv").read_text().splitlines()) == 1 + 2  # steps 0 and 100
    md = (out / "report.md").read_text()
    assert "FAILED: Pendulum-v1 fake seed 1 (exit 1), see `logs/Pendulum-v1-fake-seed1.log`" in md
    assert "- backend: local, one run at a time" in md
    assert "fake seed 1: stopped at 100 of 300 steps (runs/Pendulum-v1/fake/seed1)" in md
    assert json.loads((seed0 / "bench.json").read_text())["measured"]["peak_rss_mb"] > 1

    monkeypatch.delenv("FAKE_CRASH_SEED")
    dry = BenchmarkConfig(suite="smoke", seeds=2, out=out, dry_run=True)
    capsys.readouterr()
    assert run_suite(dry, []) == 0
    assert "1 finished, 1 to run" in capsys.readouterr().out
    only = BenchmarkConfig(suite="smoke", seeds=2, out=out, report_only=True)
    assert run_suite(only, ["--suite", "smoke", "--report-only"]) == 0
    assert (out / "logs/Pendulum-v1-fake-seed1.log").read_text().count("$ ") == 1  # nothing ran
    md = (out / "report.md").read_text()
    assert "report only (`--report-only`): 1 runs not finished: Pendulum-v1 fake seed 1" in md

    assert run_suite(BenchmarkConfig(suite="smoke", seeds=2, out=out), ["--suite", "smoke"]) == 0
    assert (out / "logs/Pendulum-v1-fake-seed0.log").read_text().count("$ ") == 1  # not run again
    log1 = (out / "logs/Pendulum-v1-fake-seed1.log").read_text()
    assert log1.count("$ ") == 2 and "--resume" in log1.split("$ ")[2]
    steps = [line.split(",")[0] for line in (seed1 / "eval.csv").read_text().splitlines()[1:]]
    assert steps == ["0", "100", "200", "300"]
    assert len(json.loads((seed1 / "bench.json").read_text())["sessions"]) == 2
    report = json.loads((out / "report.json").read_text())
    fake = report["envs"]["Pendulum-v1"]["algos"]["fake"]
    assert fake["final"]["values"] == [-700.0, -699.0] and report["speed"][0]["peak_rss_mb"] > 1
    assert (out / "Pendulum-v1.png").stat().st_size > 0
    assert json.loads((out / "benchmark.json").read_text())["failed"] == []


@pytest.mark.slow
def test_smoke_suite_runs_every_agent_for_real(tmp_path: Path) -> None:
    """The real smoke suite (about two minutes on 2 cores): every agent evaluates and the report has it."""
    root = Path(__file__).resolve().parents[2]
    args = ["--suite", "smoke", "--seeds", "1", "--out", str(tmp_path)]
    cmd = [sys.executable, "-m", "scripts.benchmark", *args]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    algos = report["envs"]["Pendulum-v1"]["algos"]
    assert sorted(algos) == sorted(benchmark.ALL)
    assert all(a["final"]["n"] == 1 for a in algos.values())
    assert {row["algo"] for row in report["speed"]} == set(benchmark.ALL)
