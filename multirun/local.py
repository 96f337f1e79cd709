"""The local backend: a suite's runs one after another, in this process's machine, no scheduler.

Several runs at once are Ray's job (``multirun.ray_backend``, even on one machine); this backend keeps the
plain loop. Launchers of the same suite share its runs through the job locks: a run that another launcher
is running (its lock held) is put off until the runs nobody holds are done, so the same command started
twice keeps two cores busy. SIGTERM (like Ctrl-C) stops the current run after it has checkpointed, and the
loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agents.signals import sigterm_interrupts
from multirun.jobs import Batch, Job, Outcome, lock_held, run_job, verdict
from multirun.progress import Progress, Status

BACKEND = "local, one run at a time"
"""The backend in words (the report's preamble)."""


def run_local(jobs: Sequence[Job], *, device: str | None, announce: Callable[[str], None] = print) -> Batch:
    """Run ``jobs`` in order, each with the caller's thread settings, putting off a job whose run another
    launcher holds (then waiting for it, which usually finds it done); Ctrl-C / SIGTERM interrupts the
    batch after the run in progress has checkpointed."""
    progress = Progress(jobs)
    status: dict[str, Status] = {}
    outcomes: list[Outcome] = []
    with sigterm_interrupts():
        try:
            pending = list(jobs)
            put_off: set[str] = set()
            while pending:
                job = next((j for j in pending if not lock_held(j.lock)), pending[0])
                for held in pending[: pending.index(job)]:
                    if held.name not in put_off:
                        announce(f"[{held.label}] another launcher is running it: later")
                        put_off.add(held.name)
                        status[held.name] = "running"
                pending.remove(job)
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
