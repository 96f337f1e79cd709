"""Progress lines for logs: at most one a minute, with rate and ETA, only where no bar is drawn."""

from __future__ import annotations

import io

from agents.progress import ProgressLines, format_duration


def test_a_line_every_interval_with_rate_and_eta() -> None:
    out = io.StringIO()
    lines = ProgressLines("sac Pendulum-v1", 10_000, every=60.0, enabled=True, out=out)
    lines.start(0, now=0.0)
    assert lines.update(1000, now=59.0) is None  # not a minute yet
    line = lines.update(1200, now=60.0)
    assert line == "sac Pendulum-v1: step 1,200 / 10,000 (12%), 20 steps/s, ETA 0:07:20"
    assert lines.update(1300, now=100.0) is None  # the clock restarted at the last line
    assert (
        lines.update(4200, now=120.0) == "sac Pendulum-v1: step 4,200 / 10,000 (42%), 50 steps/s, ETA 0:01:56"
    )
    assert out.getvalue().splitlines() == [
        "sac Pendulum-v1: step 1,200 / 10,000 (12%), 20 steps/s, ETA 0:07:20",
        "sac Pendulum-v1: step 4,200 / 10,000 (42%), 50 steps/s, ETA 0:01:56",
    ]


def test_disabled_lines_print_nothing() -> None:
    out = io.StringIO()
    lines = ProgressLines("x", 100, every=1.0, enabled=False, out=out)
    lines.start(0, now=0.0)
    assert lines.update(50, now=10.0) is None and out.getvalue() == ""


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.6, 3725.2, 90_000)] == [
        "0:00:00",
        "0:01:00",
        "1:02:05",
        "25:00:00",
    ]
