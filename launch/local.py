"""The local backend: a suite's runs one after another, in this process's machine, no scheduler.

Several runs at once are Ray's job (``launch.ray_backend``, even on one machine); this backend keeps the
plain loop. SIGTERM (like Ctrl-C) stops the current run after it has checkpointed, and the loop.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from launch.jobs import Batch, Job, Outcome, run_job, verdict
from launch.progress import Progress, Status

BACKEND = "local, one run at a time"
"""The backend in words (the report's preamble)."""


def run_local(jobs: Sequence[Job], *, device: str | None, announce: Callable[[str], None] = print) -> Batch:
    """Run ``jobs`` in order, each with the caller's thread settings; Ctrl-C / SIGTERM interrupts the batch
    after the run in progress has checkpointed."""
    progress = Progress(jobs)
    status: dict[str, Status] = {}
    outcomes: list[Outcome] = []
    stopping = threading.Event()

    def on_sigterm(signum: int, frame: Any) -> None:
        # only the first interrupts (``timeout`` sends one to the process and one to its group)
        if not stopping.is_set():
            stopping.set()
            raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if main else None
    try:
        for job in jobs:
            status[job.name] = "running"
            announce(progress.line(status))
            outcome = run_job(job, device=device, threads=None, announce=announce)
            status[job.name] = "failed" if outcome.failed else "done"
            outcomes.append(outcome)
            announce(verdict(outcome))
        if jobs:
            announce(progress.line(status))
    except KeyboardInterrupt:
        return Batch(outcomes, True, BACKEND)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    return Batch(outcomes, False, BACKEND)
