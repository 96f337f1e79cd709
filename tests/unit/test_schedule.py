"""Schedules (when something is due) and the phase-aware rate behind the progress bar's steps/s and ETA."""

from __future__ import annotations

from agents.schedule import Schedule
from agents.trainer import PhaseRate


def test_schedule_points_then_every() -> None:
    s = Schedule.of(10_000, (5000, 1000, 2500, 1000))
    assert s.points == (1000, 2500, 5000)
    nexts = []
    step = -1
    for _ in range(6):
        nxt = s.next_after(step)
        assert nxt is not None
        nexts.append(nxt)
        step = nxt
    assert nexts == [1000, 2500, 5000, 10_000, 20_000, 30_000]
    assert s.due(2600, last=1000) and not s.due(2400, last=1000)
    assert not s.due(0, last=-1)  # nothing is due at step 0
    never = Schedule.of(0)
    assert never.next_after(5) is None and not never.due(10**9, last=0)


def test_rate_and_eta_describe_the_current_phase() -> None:
    """A fast random prefill (1000 steps/s) then training at 10 steps/s: the rate and ETA are training's."""
    rate = PhaseRate(window=60.0)
    t = 0.0
    for steps in range(0, 1001, 100):  # prefill: 1000 steps in 1 s
        rate.add(steps, "prefill", now=t)
        t += 0.1
    assert rate.rate() > 500
    for i in range(1, 31):  # training: 10 steps per second for 30 s
        rate.add(1000 + 10 * i, "train", now=t + i)
    assert abs(rate.rate() - 10.0) < 1e-6
    assert rate.eta(3600) == "0:06:00"
    for i in range(31, 200):  # the window keeps the last minute only
        rate.add(1000 + (10 if i < 100 else 20) * i, "train", now=t + i)
    assert 19 < rate.rate() < 21
