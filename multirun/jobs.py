"""One run of a suite or a sweep as a supervised subprocess: its command, resume state, lock, measurements.

A :class:`Job` is one ``python -m scripts.dream ...`` / ``python -m scripts.baseline ...`` run with a fixed
run directory. Whoever executes it (``multirun.local`` one after another, ``multirun.ray_backend`` as a Ray
task, ``multirun.sweep`` as a Tune trial) goes through :class:`JobProcess`, which

- takes the job's lock (``<log>.lock``, ``flock``), held by the run's process too, so that a retry of a job
  whose launcher died waits until the orphaned run has checkpointed and stopped;
- decides under the lock what to do (:func:`job_state`): skip a run whose eval.csv reaches the budget,
  ``--resume`` one with a checkpoint, start over one that died before its first checkpoint;
- starts the run through ``multirun.child`` (it stops with its launcher), appends its output to the log;
- measures wall seconds and peak resident memory, and adds the session to ``bench.json`` in the run
  directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from analysis.report import eval_columns
from envs.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
"""The repository root (put on the runs' PYTHONPATH)."""

WAIT_POLL_S = 0.5
"""Seconds between checks of a run's process while waiting for it."""

STOP_WAIT_S = 600.0
"""How long a stopping run may take to checkpoint after SIGTERM before it is killed."""


@dataclass(frozen=True)
class Task:
    """One environment of a suite: each agent trains ``steps`` env steps per seed."""

    env: str
    steps: int
    eval_every: int
    eval_episodes: int
    agents: tuple[str, ...] = ()
    """Agent labels (scripts.benchmark fills in all of its agents when empty)."""
    seeds: int | None = None
    """At most this many seeds of this task (None: all of ``--seeds``); for tasks too long to repeat."""


@dataclass(frozen=True)
class Job:
    """One run: what to start and where it lives.

    Attributes:
        agent: Agent label (the run's folder under ``runs/<env>/``).
        env: Environment name as the suite writes it.
        seed: The run's seed.
        task: Budget and evaluation schedule.
        module: The script module and its fixed arguments, e.g. ``("scripts.mpc", "--planner-prior")``.
        preset: ``--preset`` for a new run (None: none).
        extra: More arguments for a new run (suite changes, sweep parameters).
        run_dir: The run directory.
        log: The file the run's output is appended to (its lock is beside it).
        cost: Relative CPU cost of one env step (longest runs first, ETA weights).
        variant: What distinguishes this run beyond env, agent and seed (a sweep's parameters).
    """

    agent: str
    env: str
    seed: int
    task: Task
    module: tuple[str, ...]
    preset: str | None
    extra: tuple[str, ...]
    run_dir: Path
    log: Path
    cost: float = 1.0
    variant: str = ""

    @property
    def name(self) -> str:
        """A unique file-name-safe name: ``<env>-<agent>[-<variant>]-seed<S>``."""
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.env}-{self.agent}{variant}-seed{self.seed}"

    @property
    def label(self) -> str:
        """How messages name the job: ``<env> <agent> [<variant>] seed <S>``."""
        variant = f" {self.variant}" if self.variant else ""
        return f"{self.env} {self.agent}{variant} seed {self.seed}"

    @property
    def lock(self) -> Path:
        """The job's lock file (beside its log)."""
        return self.log.with_suffix(".lock")

    @property
    def work(self) -> float:
        """Relative CPU cost of the whole run (cost per step x steps)."""
        return self.cost * self.task.steps


JobState = Literal["done", "resume", "fresh"]


class RunKilledError(RuntimeError):
    """The run's process was killed by a signal (not a crash of its own): worth a retry from its
    checkpoint."""


class StorageNotSharedError(RuntimeError):
    """A worker cannot see the folder the runs are written to (several nodes without shared storage)."""


def job_state(job: Job) -> JobState:
    """``done`` (eval.csv reaches the budget), ``resume`` (a checkpoint exists) or ``fresh``."""
    steps = eval_columns(job.run_dir / "eval.csv")["step"]
    if len(steps) and steps[-1] >= job.task.steps:
        return "done"
    checkpoints = job.run_dir / "checkpoints"
    if (job.run_dir / "config.yaml").is_file() and checkpoints.is_dir() and any(checkpoints.iterdir()):
        return "resume"
    return "fresh"


def job_progress(job: Job) -> float:
    """The share of the job's budget its eval.csv has reached, in [0, 1]."""
    try:
        steps = eval_columns(job.run_dir / "eval.csv")["step"]
    except (OSError, ValueError, UserError):  # a file being rewritten: no figure this time
        return 0.0
    return min(1.0, float(steps[-1]) / job.task.steps) if len(steps) else 0.0


def job_command(job: Job, state: JobState, device: str | None) -> list[str]:
    """The run's command line (a resumed run takes its saved config)."""
    module, *fixed = job.module
    cmd = [sys.executable, "-m", module]
    if state == "resume":
        cmd += ["--resume", "--run-dir", str(job.run_dir), "--steps", str(job.task.steps)]
    else:
        if job.preset is not None:
            cmd += ["--preset", job.preset]
        cmd += [*fixed, *job.extra, "--env", job.env, "--steps", str(job.task.steps), "--seed", str(job.seed)]
        cmd += ["--run-dir", str(job.run_dir), "--eval-every", str(job.task.eval_every)]
        cmd += ["--eval-episodes", str(job.task.eval_episodes)]
    if device is not None:
        cmd += ["--device", device]
    return cmd


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""The environment variables that set a process's CPU threads (torch follows OMP's)."""


def job_env(threads: int | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a run started as a subprocess (every launcher of the toolkit builds it here).

    Args:
        threads: CPU threads of the run (:data:`THREAD_VARS`): N >= 1 sets them to N; 0 removes them, so
            that the run picks its own (as ``--threads 0`` does); None keeps the caller's.
        environ: The environment to start from (default: this process's).

    Returns:
        ``environ`` with the repository first on ``PYTHONPATH`` (the scripts import from any working
        directory) and headless rendering (``MUJOCO_GL=egl`` unless set), and the threads as above.
    """
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MUJOCO_GL", "egl")
    if threads is not None:
        for var in THREAD_VARS:
            if threads > 0:
                env[var] = str(threads)
            else:
                env.pop(var, None)
    return env


def lock_held(path: Path) -> bool:
    """Whether some process holds the job lock at ``path`` (a run of that job is in progress)."""
    if not path.exists():
        return False
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


@dataclass(frozen=True)
class Outcome:
    """What happened to one job in this invocation.

    ``returncode`` is the run's exit status (negative: killed by that signal; 0 for a job found done);
    ``reason`` says why a job failed when the run itself could not (its launcher died, say).
    """

    job: Job
    state: JobState
    returncode: int
    wall_s: float
    peak_rss_mb: float
    host: str = ""
    reason: str = ""

    @property
    def failed(self) -> bool:
        """Whether the job did not finish in this invocation (a stopped run counts as failed)."""
        return self.returncode != 0

    def why(self) -> str:
        """The failure in words (empty when it did not fail)."""
        if not self.failed:
            return ""
        if self.reason:
            return self.reason
        if self.returncode < 0:
            return f"killed by {signal_name(-self.returncode)}"
        if self.returncode == 130:
            return "stopped (SIGTERM / Ctrl-C; checkpointed, resume with the same command)"
        return f"exit {self.returncode}"


def signal_name(number: int) -> str:
    """``9`` -> ``SIGKILL``."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class JobProcess:
    """A job's run from lock to measured exit; a context manager around :meth:`start` and the lock.

    ``with JobProcess(job, device=..., threads=...) as p:`` takes the lock (waiting for an earlier run of
    the job to end), reads the state and starts the run unless it is done; then :meth:`poll` / :meth:`wait`.
    Leaving the block by an exception (Ctrl-C, a cancelled Ray task, a stopped Tune trial) sends the run
    SIGTERM and waits for it to checkpoint; the lock is released when the run has exited.
    """

    def __init__(
        self,
        job: Job,
        *,
        device: str | None,
        threads: int | None,
        session: dict[str, Any] | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.job = job
        self.announce = announce
        """Told ``[<job>] <state>: <command>`` when the run starts."""
        self.device = device
        self.threads = threads
        self.session = dict(session or {})
        """Extra facts for this session's bench.json entry (attempt, Ray node, ...)."""
        self.state: JobState = "fresh"
        self.command: list[str] = []
        self.outcome: Outcome | None = None
        self._lock: IO[str] | None = None
        self._log: IO[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._start = 0.0

    def __enter__(self) -> JobProcess:
        job = self.job
        job.log.parent.mkdir(parents=True, exist_ok=True)
        self._lock = job.lock.open("a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # an earlier run of this job (orphaned, stopping) ends first
        try:
            self.state = job_state(job)
            if self.state == "done":
                self.outcome = Outcome(job, "done", 0, 0.0, 0.0, socket.gethostname())
                return self
            if self.state == "fresh" and job.run_dir.exists():
                shutil.rmtree(job.run_dir)  # died before its first checkpoint: nothing to continue
            self.command = job_command(job, self.state, self.device)
            if self.announce is not None:
                self.announce(f"[{job.label}] {self.state}: {shlex.join(self.command[1:])}")
            self._log = job.log.open("a")
            self._log.write(f"\n$ {shlex.join(self.command)}\n")
            self._log.flush()
            guarded = [sys.executable, "-m", "multirun.child", str(os.getpid()), "--", *self.command]
            self._start = time.perf_counter()
            self._proc = subprocess.Popen(
                guarded,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=job_env(self.threads),
                cwd=os.getcwd(),
                pass_fds=(self._lock.fileno(),),  # the run holds the lock as long as it lives
            )
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._proc is not None and self.outcome is None:
                if kind is not None:
                    self.stop()
                self.wait()
        finally:
            self._release()

    def poll(self) -> bool:
        """Whether the run has ended (measured and recorded then); True for a job that was done."""
        if self.outcome is not None:
            return True
        assert self._proc is not None
        pid, status, usage = os.wait4(self._proc.pid, os.WNOHANG)  # the run's own peak RSS (KiB on Linux)
        if pid == 0:
            return False
        self._finish(status, usage)
        return True

    def wait(self) -> Outcome:
        """Wait for the run to end; its outcome (measured, recorded in bench.json).

        Polls (twice a second) rather than blocking in ``wait4``, so that an interrupt raised in this
        thread without a real signal (a cancelled Ray task) is seen at once.
        """
        while not self.poll():
            time.sleep(WAIT_POLL_S)
        assert self.outcome is not None
        return self.outcome

    def stop(self) -> None:
        """Ask the run to checkpoint and stop (SIGTERM); kill it if it has not within ``STOP_WAIT_S``."""
        if self._proc is None or self.outcome is not None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline:
            if self.poll():
                return
            time.sleep(0.2)
        self._proc.kill()

    def _finish(self, status: int, usage: Any) -> None:
        assert self._proc is not None
        self._proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - self._start
        self.outcome = Outcome(
            self.job, self.state, self._proc.returncode, wall, usage.ru_maxrss / 1024.0, socket.gethostname()
        )
        if self.job.run_dir.is_dir():
            record_session(self.outcome, resolved_device(self.device), self.session)

    def _release(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            self._lock.close()  # releases our hold; a still-living run keeps the lock until it exits
            self._lock = None


def run_job(
    job: Job,
    *,
    device: str | None,
    threads: int | None,
    session: dict[str, Any] | None = None,
    announce: Callable[[str], None] | None = None,
) -> Outcome:
    """Run one job to its end (or skip it when it is done) with :class:`JobProcess`; its outcome."""
    with JobProcess(job, device=device, threads=threads, session=session, announce=announce) as proc:
        return proc.wait()


def record_session(outcome: Outcome, device: str, session: dict[str, Any]) -> None:
    """Add this session to ``bench.json``: measured wall seconds (summed), peak RSS (max), and the session."""
    job = outcome.job
    path = job.run_dir / "bench.json"
    old: dict[str, Any] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
    entry = {
        "state": outcome.state,
        "returncode": outcome.returncode,
        "wall_s": round(outcome.wall_s, 3),
        "host": outcome.host,
        **session,
    }
    measured = old.get("measured", {})
    data = {
        "agent": job.agent,
        "preset": job.preset,
        "device": device,
        "measured": {
            "wall_s": float(measured.get("wall_s", 0.0)) + outcome.wall_s,
            "peak_rss_mb": max(float(measured.get("peak_rss_mb", 0.0)), outcome.peak_rss_mb),
        },
        "sessions": [*old.get("sessions", []), entry],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def resolved_device(device: str | None) -> str:
    """The device the runs use: the given one, or what ``auto`` picks on this machine."""
    if device not in (None, "auto"):
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def verdict(outcome: Outcome) -> str:
    """One line for the terminal: ``[env agent seed S] ok in 12 s`` / ``FAILED (why, see log)``."""
    job = outcome.job
    where = f" on {outcome.host}" if outcome.host and outcome.host != socket.gethostname() else ""
    if outcome.state == "done" and not outcome.failed and outcome.wall_s == 0.0:
        return f"[{job.label}] already finished"
    if not outcome.failed:
        return f"[{job.label}] ok in {outcome.wall_s:.0f} s{where}"
    return f"[{job.label}] FAILED ({outcome.why()}, see {job.log}){where}"


@dataclass(frozen=True)
class Batch:
    """What a backend did with a list of jobs.

    Attributes:
        outcomes: One per job that ended in this invocation (done, failed or stopped).
        interrupted: Ctrl-C / SIGTERM stopped the batch (the runs in progress checkpointed).
        backend: The backend in words, for the report (``local: one run at a time``, ``ray: ...``).
    """

    outcomes: list[Outcome]
    interrupted: bool
    backend: str
