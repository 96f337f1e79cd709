"""The one reader of a run's TensorBoard event files (analysis.events), and the speed suite's use of it."""

from __future__ import annotations

import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from analysis.events import read_scalars, run_event_files
from analysis.speed import RunSpec, training_steps_per_s


def test_read_scalars_keeps_file_order_filters_tags_and_survives_a_truncated_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = SummaryWriter(str(run))
    for step, v in ((10, 1.0), (20, 2.0)):
        first.add_scalar("actor/entropy", v, step)
        first.add_scalar("train/loss", 9.0, step)
    first.close()
    time.sleep(1.1)  # event file names carry the creation second: the resumed segment sorts after
    second = SummaryWriter(str(run))  # a resumed run: a second event file in the same directory
    second.add_scalar("actor/entropy", 5.0, 20)
    second.add_scalar("actor/entropy", 6.0, 30)
    second.close()
    files = run_event_files(run)
    assert len(files) == 2
    got = read_scalars(files, lambda tag: tag.startswith("actor/"))
    assert got == {"actor/entropy": [(10, 1.0), (20, 2.0), (20, 5.0), (30, 6.0)]}
    # A run killed mid-write: the points before the cut are kept, the rest of the files still read.
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) - 7])
    got = read_scalars(files)
    assert got["actor/entropy"][-2:] == [(20, 5.0), (30, 6.0)]
    assert (10, 1.0) in got["actor/entropy"] and got["train/loss"][0] == (10, 9.0)


def test_the_speed_suite_reads_training_speed_after_the_prefill(tmp_path: Path) -> None:
    run = tmp_path / "run"
    writer = SummaryWriter(str(run))
    for step, value in ((100, 900.0), (200, 50.0), (300, 30.0), (400, 40.0), (500, 10.0)):
        writer.add_scalar("time/env_steps_per_s", value, step)  # the first interval ends in the prefill
        writer.add_scalar("train/loss", 1.0, step)
    writer.close()
    spec = RunSpec("r", (), steps=500, prefill=100, log_every=100)
    assert training_steps_per_s(run, spec) == 35.0  # the median of 50, 30, 40, 10 (from step 200)
    assert training_steps_per_s(tmp_path / "empty", spec) is None
    sb3 = tmp_path / "sb3"  # event files in a subfolder of the run
    nested = SummaryWriter(str(sb3 / "SAC_1"))
    nested.add_scalar("time/fps", 7.0, 1)
    nested.close()
    assert run_event_files(sb3) == [] and len(run_event_files(sb3, recursive=True)) == 1
