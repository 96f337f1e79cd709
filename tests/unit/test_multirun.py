"""`multirun`: job construction, resume detection, locks, the orphan guard, progress, and the Ray options
(resources, retries, init arguments) built without starting Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envs.errors import UserError
from multirun.jobs import (
    ROOT,
    Job,
    JobProcess,
    Outcome,
    RunKilledError,
    StorageNotSharedError,
    Task,
    job_env,
    job_progress,
    job_state,
    lock_held,
)
from multirun.local import run_local
from multirun.progress import Progress, estimate_eta, progress_line
from multirun.ray_backend import RayOptions, failure_reason, import_ray, init_kwargs, mirror_run, task_options
from scripts import benchmark
from scripts.benchmark import BenchmarkConfig, build_jobs, check_options
from tests.fake_agent import FAKE_AGENT

HEADER = "step,wall_time,episodes,return_mean,return_std,return_min,return_max,length_mean\n"


def make_job(
    tmp_path: Path, seed: int = 0, steps: int = 300, module: tuple[str, ...] = ("fakeagent",)
) -> Job:
    return Job(
        agent="fake",
        env="Pendulum-v1",
        seed=seed,
        task=Task("Pendulum-v1", steps, 100, 1),
        module=("fakeagent",),
        preset=None,
        extra=(),
        run_dir=tmp_path / "runs" / f"seed{seed}",
        log=tmp_path / "logs" / f"fake-seed{seed}.log",
        cost=2.0,
    )


def write_evals(run_dir: Path, steps: list[int]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{s},{s / 10},1,{-1000 + s},0,0,0,200\n" for s in steps)
    (run_dir / "eval.csv").write_text(HEADER + rows)


def test_local_backend_refuses_several_jobs_and_ray_options(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"--jobs 2: the local backend runs one run at a time.*--backend ray"):
        check_options(BenchmarkConfig(out=tmp_path, jobs=2))
    with pytest.raises(UserError, match="--address, --gpus-per-run only apply to --backend ray"):
        check_options(BenchmarkConfig(out=tmp_path, address="auto", gpus_per_run=0.5))
    with pytest.raises(UserError, match="--suite speed measures in this process"):
        check_options(BenchmarkConfig(suite="speed", out=tmp_path, backend="ray"))
    check_options(BenchmarkConfig(out=tmp_path, jobs=1))
    check_options(BenchmarkConfig(out=tmp_path, backend="ray", jobs=4, address="auto", gpus_per_run=0.25))


def test_ray_flag_without_ray_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, installed or not
    with pytest.raises(UserError, match=r"needs Ray, which is not installed: pip install -e '\.\[ray\]'"):
        import_ray()
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(["--suite", "smoke", "--seeds", "1", "--backend", "ray", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: --backend ray needs Ray, which is not installed: pip install -e '.[ray]'\n"
    assert not (tmp_path / "o").exists()  # nothing written


def test_ray_resources_retries_and_init_arguments(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    opts = RayOptions(jobs=2, cpus_per_run=2.0, gpus_per_run=0.25, max_retries=3)
    assert task_options(opts, job) == {
        "num_cpus": 2.0,
        "num_gpus": 0.25,
        "max_retries": 3,
        "retry_exceptions": [RunKilledError],
        "name": "Pendulum-v1-fake-seed0",
    }
    assert opts.threads == 2 and RayOptions(cpus_per_run=0.5).threads == 1
    local = init_kwargs(RayOptions(jobs=2))
    assert local["num_cpus"] == 2 and local["include_dashboard"] is False
    assert init_kwargs(opts)["num_cpus"] == 4  # 2 runs x 2 CPUs
    assert "num_cpus" not in init_kwargs(RayOptions())  # all cores
    assert init_kwargs(RayOptions(address="auto", jobs=3)) == {"address": "auto", "log_to_driver": False}
    for bad in ({"jobs": 0}, {"cpus_per_run": 0.0}, {"gpus_per_run": -1.0}, {"max_retries": -1}):
        with pytest.raises(UserError):
            RayOptions(**bad)  # type: ignore[arg-type]


def test_ray_jobs_go_under_storage_longest_first(tmp_path: Path) -> None:
    cfg = BenchmarkConfig(
        suite="cpu", seeds=2, out=tmp_path / "out", backend="ray", storage=tmp_path / "shared"
    )
    jobs = build_jobs(cfg)
    assert all(j.run_dir.is_relative_to(tmp_path / "shared" / "runs") for j in jobs)
    assert all(j.log.parent == tmp_path / "shared" / "logs" for j in jobs)
    seed0 = [j for j in jobs if j.seed == 0]
    assert [j.work for j in seed0] == sorted((j.work for j in seed0), reverse=True)
    assert seed0[0].agent == "dreamer" and jobs[-1].seed == 1
    local = build_jobs(BenchmarkConfig(suite="cpu", seeds=1, out=tmp_path / "out"))
    assert [j.agent for j in local[:3]] == ["dreamer", "sac", "ppo"]  # table order
    assert local[0].run_dir == (tmp_path / "out/runs/Pendulum/dreamer/seed0").resolve()


def test_resume_detection_and_progress(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    assert job_state(job) == "fresh" and job_progress(job) == 0.0
    write_evals(job.run_dir, [100])
    (job.run_dir / "config.yaml").write_text("env: Pendulum-v1\n")
    assert job_state(job) == "fresh"  # no checkpoint yet: it starts over
    (job.run_dir / "checkpoints").mkdir()
    (job.run_dir / "checkpoints" / "ckpt-100.pt").write_text("x")
    assert job_state(job) == "resume" and job_progress(job) == pytest.approx(1 / 3)
    write_evals(job.run_dir, [100, 200, 300])
    assert job_state(job) == "done" and job_progress(job) == 1.0


def test_job_env_sets_threads_only_when_asked() -> None:
    env = job_env(2)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
    assert job_env(None).get("OMP_NUM_THREADS") == os.environ.get("OMP_NUM_THREADS")
    given = {"OMP_NUM_THREADS": "3", "MUJOCO_GL": "osmesa", "PYTHONPATH": "/elsewhere"}
    auto = job_env(0, given)  # the run picks its own threads, as --threads 0 does
    assert not {"OMP_NUM_THREADS", "MKL_NUM_THREADS"} & auto.keys() and auto["MUJOCO_GL"] == "osmesa"
    assert auto["PYTHONPATH"] == os.pathsep.join((str(ROOT), "/elsewhere"))
    assert given["OMP_NUM_THREADS"] == "3"  # the caller's mapping is left as it was


def test_a_job_waits_for_an_earlier_run_holding_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fakeagent.py").write_text(FAKE_AGENT)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    job = make_job(tmp_path)
    job.lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(job.lock), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert lock_held(job.lock)
        start = time.monotonic()
        with JobProcess(job, device=None, threads=1, session={"attempt": 1}) as proc:
            waited = time.monotonic() - start
            assert proc.state == "fresh" and lock_held(job.lock)  # the run holds it now
            outcome = proc.wait()
    finally:
        holder.wait()
    assert waited > 1.0 and outcome.returncode == 0 and not lock_held(job.lock)
    bench = json.loads((job.run_dir / "bench.json").read_text())
    assert bench["sessions"][0]["attempt"] == 1 and bench["measured"]["peak_rss_mb"] > 1
    assert job_state(job) == "done"
    with JobProcess(job, device=None, threads=1) as again:  # found done: nothing runs
        assert again.outcome is not None and again.outcome.state == "done" and again.command == []


def test_a_local_launcher_puts_off_the_run_another_launcher_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fakeagent.py").write_text(FAKE_AGENT)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    first, second = make_job(tmp_path, seed=0), make_job(tmp_path, seed=1)
    first.lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(first.lock), "2"], stdout=subprocess.PIPE, text=True
    )
    said: list[str] = []
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        batch = run_local([first, second], device=None, announce=said.append)
    finally:
        holder.wait()
    assert said[0] == "[Pendulum-v1 fake seed 0] another launcher is running it: later"
    assert [o.job.seed for o in batch.outcomes] == [1, 0]  # the free run first, the held one after it
    assert not batch.interrupted and all(o.returncode == 0 for o in batch.outcomes)
    assert job_state(first) == job_state(second) == "done"


HOLD_LOCK = "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
HOLD_LOCK += "print('locked', flush=True)\ntime.sleep(float(sys.argv[2]))\n"

ORPHAN = """
import os, signal, subprocess, sys, time
marker = sys.argv[1]
run = "import signal, sys, time\\n"
run += "signal.signal(signal.SIGTERM, lambda *a: (open(sys.argv[1], 'w').write('term'), sys.exit(0)))\\n"
run += "open(sys.argv[1], 'w').write('ready')\\ntime.sleep(60)\\n"
child = [sys.executable, "-m", "multirun.child", str(os.getpid()), "--", sys.executable, "-c", run, marker]
subprocess.Popen(child)
time.sleep(60)
"""


def test_a_run_stops_when_its_launcher_is_killed(tmp_path: Path) -> None:
    """multirun.child: the run gets SIGTERM (to checkpoint) when the process that started it dies."""
    marker = tmp_path / "marker"
    launcher = subprocess.Popen([sys.executable, "-c", ORPHAN, str(marker)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text() == "ready") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.read_text() == "ready"
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        while marker.read_text() != "term" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.read_text() == "term"
    finally:
        launcher.kill()
        launcher.wait()


def test_progress_line_counts_and_eta(tmp_path: Path) -> None:
    assert estimate_eta(100.0, 300.0, 100.0) == 300.0 and estimate_eta(10.0, 5.0, 0.0) is None
    counts = {"done": 2, "failed": 1, "running": 2, "pending": 1}
    assert progress_line(counts, 130, 180) == (  # type: ignore[arg-type]
        "progress: 3 of 6 done (1 failed), 2 running, 1 pending; 0:02:10 elapsed, ETA 0:03:00"
    )
    a, b = make_job(tmp_path, 0), make_job(tmp_path, 1)
    write_evals(b.run_dir, [100])  # b resumes at a third of its budget
    now = [0.0]
    progress = Progress([a, b], clock=lambda: now[0])
    assert progress.line({}).endswith("0:00:00 elapsed, ETA unknown yet")
    write_evals(a.run_dir, [100])
    now[0] = 60.0  # a third of a's work in 60 s; 2/3 + 2/3 of a job's work left
    assert progress.line({a.name: "running"}) == (
        "progress: 0 of 2 done, 1 running, 1 pending; 0:01:00 elapsed, ETA 0:04:00"
    )
    write_evals(a.run_dir, [100, 200, 300])
    write_evals(b.run_dir, [100, 200, 300])
    assert progress.line({a.name: "done", b.name: "failed"}).endswith("all ended")


class WorkerCrashedError(Exception):
    """Named like Ray's exception for a dead worker."""


class TaskError(Exception):
    """Like Ray's RayTaskError: the task's own exception as ``cause``."""

    def __init__(self, cause: Exception) -> None:
        super().__init__("ray task error\ntraceback ...")
        self.cause = cause


def test_failure_reasons_name_the_cause(tmp_path: Path) -> None:
    assert failure_reason(WorkerCrashedError("lost"), 2) == "its Ray worker died, after 2 retries"
    assert (
        failure_reason(TaskError(RunKilledError("killed by SIGKILL")), 1)
        == "killed by SIGKILL, after 1 retries"
    )
    assert (
        failure_reason(TaskError(StorageNotSharedError("node x cannot see /o")), 2) == "node x cannot see /o"
    )
    assert failure_reason(TaskError(ValueError("bad\nmore")), 2) == "ValueError: bad"
    outcome = Outcome(make_job(tmp_path), "fresh", -9, 1.0, 1.0)
    assert outcome.failed and outcome.why() == "killed by SIGKILL"
    assert Outcome(make_job(tmp_path), "resume", 130, 1.0, 1.0).why().startswith("stopped")


def test_mirror_run_copies_a_run_from_storage_into_out(tmp_path: Path) -> None:
    storage, out = tmp_path / "shared", tmp_path / "out"
    job = make_job(storage)
    write_evals(job.run_dir, [100])
    job.log.parent.mkdir(parents=True)
    job.log.write_text("$ run\n")
    (out / "runs" / "seed0").mkdir(parents=True)
    (out / "runs" / "seed0" / "stale.txt").write_text("old copy")
    mirror_run(job, storage, out)
    assert (out / "runs/seed0/eval.csv").read_text() == (job.run_dir / "eval.csv").read_text()
    assert not (out / "runs/seed0/stale.txt").exists() and (out / "logs/fake-seed0.log").is_file()
    mirror_run(job, storage, storage)  # same folder: nothing to do
    assert (job.run_dir / "eval.csv").is_file()


def test_steps_cap_shortens_longer_runs_and_a_later_pass_resumes_them(tmp_path: Path) -> None:
    capped = build_jobs(BenchmarkConfig(suite="cpu", seeds=1, out=tmp_path, steps_cap=10_000))
    full = build_jobs(BenchmarkConfig(suite="cpu", seeds=1, out=tmp_path))
    assert [j.run_dir for j in capped] == [j.run_dir for j in full]  # the same runs, only shorter
    assert {(j.env, j.task.steps) for j in capped} == {(j.env, min(j.task.steps, 10_000)) for j in full}
    job, later = capped[0], full[0]
    write_evals(job.run_dir, [1_000, 10_000])
    (job.run_dir / "config.yaml").write_text("env: Pendulum-v1\n")
    (job.run_dir / "checkpoints").mkdir()
    (job.run_dir / "checkpoints" / "ckpt-10000.pt").write_text("x")
    assert job_state(job) == "done" and job_state(later) == "resume"
    with pytest.raises(UserError, match="--steps-cap 0"):
        check_options(BenchmarkConfig(steps_cap=0))
