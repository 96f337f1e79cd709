"""Progress lines for logs: a long run that writes to a file or a pipe still says where it is.

Progress bars (tqdm) draw on a terminal; where stderr is not one (``make train > log``, the benchmark's
log files, a scheduler) tqdm's bar is off or unreadable, and a run could stay silent for many minutes.
:class:`ProgressLines` prints one plain line at least every ``every`` seconds there instead::

    sac Pendulum-v1: step 12,000 / 100,000 (12%), 85 steps/s, ETA 0:17:15
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``3725.2`` -> ``'1:02:05'`` (hours:minutes:seconds, rounded to the second; negative: ``0:00:00``).

    The toolkit's one way of writing a duration for a terminal or a log: a run's progress, ETA and wall
    time, and the launchers' progress lines.
    """
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class ProgressLines:
    """Prints a progress line at most every ``every`` seconds, when enabled (default: when stderr is not a
    terminal, i.e. when no progress bar is shown).

    Args:
        label: What runs (``"sac Pendulum-v1"``).
        total: The step budget.
        every: Seconds between lines.
        enabled: Print at all; default: ``not sys.stderr.isatty()``.
        out: Where lines go (default ``sys.stdout`` at the time of writing), flushed after each line.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        every: float = 60.0,
        enabled: bool | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.every = every
        self.enabled = not sys.stderr.isatty() if enabled is None else enabled
        self.out = out
        self._last_time: float | None = None
        self._last_steps = 0

    def start(self, steps: int, now: float | None = None) -> None:
        """Start the clock at ``steps`` (the first line comes ``every`` seconds later)."""
        self._last_time = time.monotonic() if now is None else now
        self._last_steps = steps

    def due(self, now: float | None = None) -> bool:
        """Whether a line is due (enabled, and ``every`` seconds passed since the last one)."""
        now = time.monotonic() if now is None else now
        return self.enabled and self._last_time is not None and now - self._last_time >= self.every

    def update(self, steps: int, now: float | None = None) -> str | None:
        """Print (and return) a line when ``every`` seconds passed since the last one; else None."""
        now = time.monotonic() if now is None else now
        if self._last_time is None:
            self.start(steps, now)
            return None
        if not self.enabled or now - self._last_time < self.every:
            return None
        rate = (steps - self._last_steps) / max(now - self._last_time, 1e-9)
        line = f"{self.label}: step {steps:,} / {self.total:,} ({100 * steps / max(self.total, 1):.0f}%)"
        line += f", {rate:.3g} steps/s"
        if rate > 0 and steps < self.total:
            line += f", ETA {format_duration((self.total - steps) / rate)}"
        self.write(line)
        self.start(steps, now)
        return line

    def write(self, line: str) -> None:
        """Print ``line`` now (whether or not enabled) and flush, so that logs show it at once."""
        out = self.out if self.out is not None else sys.stdout
        out.write(line + "\n")
        out.flush()
