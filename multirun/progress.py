"""Progress of many runs for the launching terminal: how many are done, running and pending, and the ETA.

The ETA is throughput-based: the work left (each unfinished job's cost per step x steps, times the share
of its budget its eval.csv has not reached) divided by the work done per second so far in this
invocation, whatever the number of runs at once. It is rough until a few evaluations have come in (a
job's progress moves only at its evaluations).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from agents.progress import format_duration
from multirun.jobs import Job, job_progress

Status = Literal["done", "failed", "running", "pending"]


def estimate_eta(elapsed: float, remaining: float, gained: float) -> float | None:
    """Seconds left at the rate so far: ``elapsed * remaining / gained`` (None before any progress)."""
    if gained <= 0 or elapsed <= 0:
        return None
    return elapsed * max(remaining, 0.0) / gained


def progress_line(counts: Mapping[Status, int], elapsed: float, eta: float | None) -> str:
    """``progress: 3 of 6 done (1 failed), 2 running, 1 pending; 0:02:10 elapsed, ETA 0:03:00``."""
    total = sum(counts.values())
    finished = counts.get("done", 0) + counts.get("failed", 0)
    failed = f" ({counts['failed']} failed)" if counts.get("failed") else ""
    left = "ETA unknown yet" if eta is None else f"ETA {format_duration(eta)}"
    if finished == total:
        left = "all ended"
    return (
        f"progress: {finished} of {total} done{failed}, {counts.get('running', 0)} running, "
        f"{counts.get('pending', 0)} pending; {format_duration(elapsed)} elapsed, {left}"
    )


class Progress:
    """Tracks this invocation's jobs and writes :func:`progress_line` when asked.

    Args:
        jobs: The jobs this invocation runs (not those found finished before).
        clock: Seconds, monotonic (a test passes a fake one).
    """

    def __init__(self, jobs: Sequence[Job], clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = list(jobs)
        self.clock = clock
        self.start = clock()
        self.at_start = {job.name: job_progress(job) for job in self.jobs}

    def line(self, status: Mapping[str, Status]) -> str:
        """The progress line, given each job's status by name (missing: pending)."""
        counts: dict[Status, int] = {"done": 0, "failed": 0, "running": 0, "pending": 0}
        remaining = gained = 0.0
        for job in self.jobs:
            state = status.get(job.name, "pending")
            counts[state] += 1
            now = job_progress(job)
            gained += job.work * max(0.0, now - self.at_start[job.name])
            if state in ("running", "pending"):
                remaining += job.work * (1.0 - now)
        elapsed = self.clock() - self.start
        return progress_line(counts, elapsed, estimate_eta(elapsed, remaining, gained))
