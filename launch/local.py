"""The local backend: a suite's runs one after another, in this process's machine, no scheduler.

Several runs at once are Ray's job (``launch.ray_backend``, even on one machine); this backend keeps the
plain loop. SIGTERM (like Ctrl-C) stops the current run after it has checkpointed, and the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agents.signals import sigterm_interrupts
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
    with sigterm_interrupts():
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
    return Batch(outcomes, False, BACKEND)
