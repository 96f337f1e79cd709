"""When something is due, as small objects instead of hand-kept counters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Due at fixed steps and then at every multiple of ``every``.

    Args:
        every: period in steps (0: never, apart from ``points``).
        points: extra steps at which it is due (e.g. early evaluations at 1k, 2.5k, 5k).
    """

    every: int
    points: tuple[int, ...] = ()

    @classmethod
    def of(cls, every: int, points: Iterable[int] = ()) -> Schedule:
        """A schedule with ``points`` sorted and made unique."""
        return cls(every, tuple(sorted({int(p) for p in points if p > 0})))

    def next_after(self, step: int) -> int | None:
        """The first step strictly after ``step`` at which it is due (``None``: never again)."""
        candidates = [p for p in self.points if p > step]
        if self.every > 0:
            candidates.append((max(step, 0) // self.every + 1) * self.every)
        return min(candidates) if candidates else None

    def due(self, step: int, last: int) -> bool:
        """Whether it is due at ``step`` when it last ran at ``last`` (-1: never)."""
        nxt = self.next_after(last)
        return nxt is not None and step >= nxt
