"""The Ray backend: each run of a suite is a Ray task with declared resources, on one machine or a cluster.

- Where: without an address a local Ray instance is started in this process (the embedded default;
  ``--jobs J`` gives it J x CPUs-per-run CPUs, else all cores) and shut down at the end; with an address
  (``auto``, ``HOST:PORT``) the runs go to that cluster.
- Resources: each task asks for ``cpus_per_run`` CPUs (default 1; the run gets that many torch threads)
  and ``gpus_per_run`` GPUs (fractions share a GPU: 0.25 puts four runs on one).
- Faults: a task whose worker or node dies is retried (``max_retries``), and so is one whose run was
  killed by a signal (``retry_exceptions=[RunKilledError]``); a run that failed by itself (a traceback,
  a bad option) is not. A retry resumes from the run's last checkpoint; the job lock makes it wait
  while a process of an earlier attempt still lives (Ray ends a dead worker's children, and
  ``multirun.child`` sends them SIGTERM). A job that still fails comes back with the reason; nothing is
  dropped silently.
- Files: the tasks write run directories under one root, ``--out`` itself, or the shared ``--storage``
  folder that every node mounts at the same path, from which each run is mirrored into ``--out`` as it
  ends. Each task first checks that it sees the root (a marker file), so a cluster without shared
  storage fails with a message rather than with runs scattered over the nodes' disks.

Ray is imported inside the functions here: the toolkit installs and runs without it.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.signals import sigterm_interrupts
from envs.errors import UserError
from multirun.jobs import (
    Batch,
    Job,
    Outcome,
    RunKilledError,
    StorageNotSharedError,
    job_state,
    lock_held,
    run_job,
    verdict,
)
from multirun.progress import Progress, Status

INSTALL_HINT = "pip install -e '.[ray]'"
"""How to install Ray with the toolkit (run in its folder)."""

PROGRESS_EVERY_S = 30.0
"""The progress line is printed when a run ends, and at least this often."""

CANCEL_WAIT_S = 120.0
"""On Ctrl-C / SIGTERM, how long to wait for the running tasks to checkpoint their runs."""


def import_ray(what: str = "--backend ray") -> Any:
    """The ``ray`` module.

    Raises:
        UserError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError:
        raise UserError(f"{what} needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how the runs go on Ray (the ``--address``, ``--jobs``, ``--*-per-run`` options).

    Attributes:
        address: An existing cluster (``auto``, ``HOST:PORT``); None starts a local instance.
        jobs: At most this many runs at once (None: as many as the resources allow). For a local
            instance it sets its CPUs (jobs x cpus_per_run); on a cluster it caps the runs in flight.
        cpus_per_run: CPUs each run asks for; the run uses ``max(1, floor(cpus_per_run))`` threads.
        gpus_per_run: GPUs each run asks for (fractions share a GPU).
        max_retries: Retries of a run whose worker, node or process was killed.
    """

    address: str | None = None
    jobs: int | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.jobs is not None and self.jobs < 1:
            raise UserError("--jobs must be at least 1")
        if self.cpus_per_run <= 0 or self.gpus_per_run < 0:
            raise UserError("--cpus-per-run must be > 0 and --gpus-per-run >= 0")
        if self.max_retries < 0:
            raise UserError("--max-retries must be >= 0")

    @property
    def threads(self) -> int:
        """CPU threads per run (OMP_NUM_THREADS and friends)."""
        return max(1, math.floor(self.cpus_per_run))


def init_kwargs(opts: RayOptions) -> dict[str, Any]:
    """``ray.init`` arguments: connect to ``opts.address``, or start a small local instance (no dashboard,
    a 256 MiB object store: the tasks pass only small records)."""
    if opts.address is not None:
        return {"address": opts.address, "log_to_driver": False}
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "object_store_memory": 256 * 2**20,
    }
    if opts.jobs is not None:
        kwargs["num_cpus"] = math.ceil(opts.jobs * opts.cpus_per_run)
    return kwargs


def task_options(opts: RayOptions, job: Job) -> dict[str, Any]:
    """``.options(...)`` of the Ray task that runs ``job``: its resources, retries and name."""
    return {
        "num_cpus": opts.cpus_per_run,
        "num_gpus": opts.gpus_per_run,
        "max_retries": opts.max_retries,
        "retry_exceptions": [RunKilledError],
        "name": job.name,
    }


def start_ray(opts: RayOptions) -> tuple[Any, bool]:
    """Import Ray and connect (or start the local instance). Returns the module and whether this call
    started it (then the caller shuts it down); an already initialised Ray is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports from a toolkit's benchmark
    ray.init(**init_kwargs(opts))
    return ray, True


def describe_cluster(ray: Any, opts: RayOptions, *, local: bool) -> str:
    """``ray, local instance: 1 node, 2 CPUs, 0 GPUs; 1 CPU and 0 GPUs per run``."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    where = "local instance" if local else f"cluster at {opts.address or 'auto'}"
    return (
        f"ray, {where}: {len(nodes)} node{'s' * (len(nodes) != 1)}, {res.get('CPU', 0):g} CPUs, "
        f"{res.get('GPU', 0):g} GPUs; {opts.cpus_per_run:g} CPU and {opts.gpus_per_run:g} GPUs per run, "
        f"up to {opts.max_retries} retries"
    )


def ray_attempt(job: Job, device: str | None, threads: int, marker: str, token: str) -> Outcome:
    """The body of a job's Ray task (one attempt): check the root is visible, run the job, raise
    :class:`RunKilledError` when its process was killed so that Ray retries it."""
    import ray

    path = Path(marker)
    if not path.is_file() or path.read_text() != token:
        raise StorageNotSharedError(
            f"node {socket.gethostname()} cannot see {path.parent}: on a multi-node cluster give --storage "
            "a folder that every node mounts at the same path (or put --out on one)"
        )
    session = {"backend": "ray", "ray_node": ray.get_runtime_context().get_node_id()[:12]}
    outcome = run_job(job, device=device, threads=threads, session=session)
    if outcome.returncode < 0:
        raise RunKilledError(outcome.why())
    return outcome


def failure_reason(exc: BaseException, retries: int) -> str:
    """A failed task's exception in a few words (the wrapped cause of a task error, first line)."""
    cause = getattr(exc, "cause", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    name = type(cause).__name__
    if isinstance(cause, RunKilledError):
        return f"{first}, after {retries} retries"
    if isinstance(cause, StorageNotSharedError):
        return first
    if name == "WorkerCrashedError":
        return f"its Ray worker died, after {retries} retries"
    if name in ("NodeDiedError", "OwnerDiedError", "ObjectLostError"):
        return f"{name} (a node was lost), after {retries} retries: {first}"
    if name == "TaskCancelledError":
        return "cancelled"
    return f"{name}: {first}"


def mirror_run(job: Job, root: Path, out: Path) -> None:
    """Copy the job's run directory and log from ``root`` (the shared storage) to the same place under
    ``out`` (replacing an older copy); nothing when they are the same folder or the run has no files."""
    dst = out / job.run_dir.relative_to(root)
    if dst.resolve() == job.run_dir.resolve():
        return
    if job.run_dir.is_dir():
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(job.run_dir, dst)
    if job.log.is_file():
        log = out / job.log.relative_to(root)
        log.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(job.log, log)


def run_on_ray(
    jobs: Sequence[Job],
    *,
    opts: RayOptions,
    device: str | None,
    root: Path,
    out: Path,
    announce: Callable[[str], None] = print,
) -> Batch:
    """Run ``jobs`` as Ray tasks, printing each ending and the progress; mirror runs from ``root`` to
    ``out`` when they differ (``--storage``).

    Ctrl-C / SIGTERM cancels the tasks (their runs checkpoint and stop; the same command resumes them).

    Raises:
        UserError: Ray is not installed, or the cluster cannot be reached.
    """
    ray, own = start_ray_or_explain(opts)
    interrupted = False
    outcomes: list[Outcome] = []
    marker = root / f".ray-suite-{uuid.uuid4().hex[:12]}"
    in_flight: dict[Any, Job] = {}
    backend = "ray"
    sigterm = sigterm_interrupts()
    sigterm.__enter__()
    try:
        backend = describe_cluster(ray, opts, local=opts.address is None)
        announce(backend)
        root.mkdir(parents=True, exist_ok=True)
        marker.write_text(marker.name)
        remote = ray.remote(ray_attempt)
        pending = list(jobs)
        status: dict[str, Status] = {}
        progress = Progress(jobs)
        limit = opts.jobs if opts.address is not None else None
        last_counts: tuple[int, ...] = (-1,)
        last_print = 0.0
        while pending or in_flight:
            while pending and (limit is None or len(in_flight) < limit):
                job = pending.pop(0)
                ref = remote.options(**task_options(opts, job)).remote(
                    job, device, opts.threads, str(marker), marker.name
                )
                in_flight[ref] = job
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=2.0)
            for ref in ready:
                job = in_flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason = failure_reason(exc, opts.max_retries)
                    outcome = Outcome(job, job_state(job), -1, 0.0, 0.0, reason=reason)
                outcomes.append(outcome)
                status[job.name] = "failed" if outcome.failed else "done"
                mirror_run(job, root, out)
                announce(verdict(outcome))
            for job in in_flight.values():
                status[job.name] = "running" if lock_held(job.lock) else "pending"
            counts = tuple(sorted(status.values()).count(s) for s in ("done", "failed"))
            if counts != last_counts or time.monotonic() - last_print > PROGRESS_EVERY_S:
                announce(progress.line(status))
                last_counts, last_print = counts, time.monotonic()
    except KeyboardInterrupt:
        interrupted = True
        announce("interrupted: the runs checkpoint and stop; run the same command again to resume")
        for ref in in_flight:
            ray.cancel(ref)
        if in_flight:
            ray.wait(list(in_flight), num_returns=len(in_flight), timeout=CANCEL_WAIT_S)
        for job in in_flight.values():
            mirror_run(job, root, out)
    finally:
        sigterm.__exit__(None, None, None)
        marker.unlink(missing_ok=True)
        if own:
            ray.shutdown()
    return Batch(outcomes, interrupted, backend)


def start_ray_or_explain(opts: RayOptions) -> tuple[Any, bool]:
    """:func:`start_ray`, with a connection failure turned into a :class:`UserError`."""
    try:
        return start_ray(opts)
    except ConnectionError as exc:
        where = opts.address or "a local instance"
        raise UserError(
            f"cannot connect to Ray at {where}: {exc}; start the cluster first (see the README)"
        ) from None
