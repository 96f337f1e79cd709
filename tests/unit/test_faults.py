"""Faults turned into one line or a recovery, piece by piece (issue #30): non-finite updates skipped,
non-finite options refused, the run directory's lock, a damaged newest checkpoint passed over, SIGHUP,
a full disk at the command-line boundary, the progress bar at 80 columns."""

from __future__ import annotations

import dataclasses
import errno
import io
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import pytest
import torch
import tyro
from tqdm import tqdm

from agents.checkpoint import list_checkpoints, load_checkpoint, newest_intact_checkpoint, save_checkpoint
from agents.cli import RESUMABLE_FIELDS, check_finite, parse_config, run_main
from agents.config import RunConfig
from agents.configs import DREAM_PRESETS, DreamConfig
from agents.run_dir import LOCK_FILE, RunDir, RunStoppedError, save_config
from agents.signals import stop_signals
from agents.trainer import BAR_FORMAT, MAX_BAD_UPDATES, PhaseRate, bad_update_keys, progress_postfix
from envs.episode import SequenceBatch
from envs.errors import UserError
from tests.batches import random_batch
from world_model import WorldModel, world_model_preset
from world_model.learner import WorldModelLearner
from world_model.networks import adam, clip_grad_norm, step_if_finite

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ non-finite updates are skipped


def test_step_if_finite_leaves_parameters_and_moments_alone_on_a_non_finite_gradient() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    opt = adam(layer.parameters(), lr=0.1, eps=1e-8)
    layer(torch.ones(1, 3)).sum().backward()
    assert step_if_finite(opt, clip_grad_norm(layer.parameters(), 1.0))  # a sound step is taken
    before = [p.detach().clone() for p in layer.parameters()]
    moments = [s["exp_avg"].clone() for s in opt.state.values()]
    (layer(torch.ones(1, 3)).sum() * float("inf")).backward()
    norm = clip_grad_norm(layer.parameters(), 1.0)
    assert not math.isfinite(float(norm))
    assert not step_if_finite(opt, norm)
    for p, b in zip(layer.parameters(), before, strict=True):
        assert torch.equal(p, b) and p.grad is None
    for s, m in zip(opt.state.values(), moments, strict=True):
        assert torch.equal(s["exp_avg"], m)


def _batch(nan: bool) -> SequenceBatch[torch.Tensor]:
    batch = random_batch(2, 6, ends=())
    if nan:
        batch.obs[0, 2, 1] = float("nan")  # one corrupt observation poisons the loss and every gradient
    return batch


def test_the_world_model_learner_skips_a_non_finite_update_and_says_so() -> None:
    torch.manual_seed(0)
    model = WorldModel(world_model_preset("tiny"), (3,), 1)
    learner = WorldModelLearner(model, model.cfg)
    metrics, _ = learner.update(_batch(nan=False))
    assert metrics["wm/skipped"] == 0.0
    before = [t.detach().clone() for t in [*model.parameters(), *model.buffers()]]
    metrics, _ = learner.update(_batch(nan=True))
    assert metrics["wm/skipped"] == 1.0 and not math.isfinite(metrics["wm/grad_norm"])
    after = [*model.parameters(), *model.buffers()]  # weights and the observation statistics untouched
    assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))
    metrics, _ = learner.update(_batch(nan=False))  # and learns on from the next sound batch
    assert metrics["wm/skipped"] == 0.0 and math.isfinite(metrics["wm/loss"])


def test_bad_update_keys() -> None:
    assert bad_update_keys({"wm/loss": 1.0, "wm/grad_norm": 2.0, "wm/skipped": 0.0}) == []
    nan, inf = float("nan"), float("inf")
    assert bad_update_keys({"wm/loss": nan, "wm/grad_norm": inf, "wm/skipped": 1.0}) == [
        "wm/loss",
        "wm/grad_norm",
    ]
    assert bad_update_keys({"actor/loss": 0.5, "actor/skipped": 1.0}) == ["actor/skipped"]
    assert bad_update_keys({"actor/entropy": nan}) == []  # a statistic, not a loss or a gradient
    assert MAX_BAD_UPDATES >= 10  # one bad batch never stops a run


# ---------------------------------------------------------------- non-finite options are refused


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    """Learning rate."""


@dataclass(frozen=True)
class NumbersConfig(RunConfig):
    scale: float = 1.0
    """A scale."""
    limits: tuple[float, ...] = (0.5, 1.0)
    """Limits."""
    optim: Optim = field(default_factory=Optim)
    """Nested."""
    flat: Annotated[Optim, tyro.conf.arg(name="")] = field(default_factory=Optim)
    """Options at the top level (as scripts.fit_world_model's model)."""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scale", "nan"], "--scale must be a finite number, got nan"),
        (["--optim.lr", "inf"], "--optim.lr must be a finite number, got inf"),
        (["--limits", "0.1", "-inf"], "--limits must be a finite number, got -inf"),
        (["--lr", "NaN"], "--lr must be a finite number, got nan"),
    ],
)
def test_non_finite_numbers_are_one_line_errors(args: list[str], message: str) -> None:
    with pytest.raises(UserError) as err:
        parse_config(NumbersConfig, algo="toy", description="Toy.", args=args)
    assert str(err.value) == message
    check_finite(parse_config(NumbersConfig, algo="toy", description="Toy.", args=["--scale", "1e300"]))


def test_dream_refuses_a_nan_learning_rate(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^--model\.optim\.lr must be a finite number, got nan$"):
        parse_config(DreamConfig, algo="dreamer", description="", args=["--model.optim.lr", "nan"])


# ------------------------------------------------------------------ resuming: what may change


def test_the_progress_bar_and_checkpoint_interval_may_change_on_resume(tmp_path: Path) -> None:
    """Dreamer's bar is ``train.progress`` (issue #31): resuming with --train.no-progress is allowed, and a
    config.yaml written before ``train.checkpoint_minutes`` existed still resumes."""
    assert {"train.progress", "train.checkpoint_minutes"} <= RESUMABLE_FIELDS
    run = tmp_path / "run"
    run.mkdir()
    cfg = dataclasses.replace(DREAM_PRESETS["debug"], preset="debug", run_dir=run)
    save_config(cfg, run / "config.yaml")
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("  checkpoint_minutes: 5.0\n", ""))  # an older file
    args = ["--resume", "--run-dir", str(run), "--train.no-progress", "--train.checkpoint-minutes", "1"]
    out = parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)
    assert not out.train.progress and out.train.checkpoint_minutes == 1.0
    with pytest.raises(UserError, match=r"cannot change train\.batch_size"):
        parse_config(DreamConfig, algo="dreamer", description="", args=[*args, "--train.batch-size", "8"])


# ------------------------------------------------------------------ one writer per run directory


def _open_in_subprocess(run: Path, resume: bool) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from pathlib import Path\n"
        "from agents.cli import run_main\n"
        "from agents.config import RunConfig\n"
        "from agents.run_dir import RunDir\n"
        f"cfg = RunConfig(run_dir=Path({str(run)!r}), resume={resume}, steps=50)\n"
        "run_main(lambda: RunDir.open(cfg, algo='toy'))\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_second_writer_is_refused_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    run = RunDir.open(RunConfig(run_dir=tmp_path / "run", steps=100), algo="toy")  # this process writes it
    assert (run.path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    before = {p: p.stat().st_mtime_ns for p in run.path.rglob("*")}
    config = (run.path / "config.yaml").read_bytes()
    other = _open_in_subprocess(run.path, resume=True)
    assert other.returncode == 2
    assert other.stderr == (
        f"error: run directory {run.path} is in use by another process (process {os.getpid()}); one process "
        "writes a run: wait for it to end, or stop it (Ctrl-C, kill -TERM) and resume then\n"
    )
    assert {p: p.stat().st_mtime_ns for p in run.path.rglob("*")} == before
    assert (run.path / "config.yaml").read_bytes() == config
    # the same process may open its own run again (a resume in process, as the tests do)
    assert RunDir.open(RunConfig(run_dir=run.path, resume=True, steps=200), algo="toy").resumed


def test_the_lock_ends_with_its_process_even_a_killed_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code = (
        "import os, signal; from pathlib import Path\n"
        "from agents.config import RunConfig\n"
        "from agents.run_dir import RunDir\n"
        f"RunDir.open(RunConfig(run_dir=Path({str(run)!r})), algo='toy')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    died = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert died.returncode == -signal.SIGKILL and (run / LOCK_FILE).is_file()
    assert RunDir.open(RunConfig(run_dir=run, resume=True), algo="toy").resumed


def test_resume_below_the_runs_step_is_refused_before_config_yaml_changes(tmp_path: Path) -> None:
    run = RunDir.open(RunConfig(run_dir=tmp_path / "run", steps=1000), algo="toy")
    save_checkpoint(run.checkpoints, 600, {"a": 1})
    config = (run.path / "config.yaml").read_bytes()
    with pytest.raises(UserError) as err:
        RunDir.open(RunConfig(run_dir=run.path, resume=True, steps=400), algo="toy")
    assert str(err.value) == (
        "--steps 400 is below the step the run has reached (600, ckpt-000000000600.pt); a resumed run may "
        "only keep or raise its budget (config.yaml is unchanged)"
    )
    assert (run.path / "config.yaml").read_bytes() == config
    assert RunDir.open(RunConfig(run_dir=run.path, resume=True, steps=600), algo="toy").resumed  # keeping it


# ------------------------------------------------------------ a damaged newest checkpoint is passed over


def test_the_newest_intact_checkpoint_is_used_and_the_damaged_ones_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for step in (100, 200, 300):
        save_checkpoint(tmp_path, step, {"value": step})
    newest = tmp_path / "ckpt-000000000300.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # a torn file (a disk that filled up under a copy)
    found = newest_intact_checkpoint(tmp_path)
    assert found.path.name == "ckpt-000000000200.pt" and found.state["value"] == 200
    assert [p for p, _ in found.damaged] == [newest] and "is damaged" in found.damaged[0][1]
    assert load_checkpoint(tmp_path)["value"] == 200
    assert capsys.readouterr().err == (
        f"note: checkpoint {newest} is damaged (RuntimeError); using ckpt-000000000200.pt (step 200)\n"
    )
    # a newer toolkit's format is not passed over: it is refused
    raw = torch.load(tmp_path / "ckpt-000000000200.pt", weights_only=True)
    torch.save({**raw, "format": 99}, tmp_path / "ckpt-000000000400.pt")
    with pytest.raises(UserError, match="has format 99"):
        load_checkpoint(tmp_path)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [100, 200, 300, 400]


# ------------------------------------------------------------------------- signals


def test_sighup_is_a_stop_request_like_sigterm_and_is_announced(capfd: pytest.CaptureFixture[str]) -> None:
    with stop_signals(lambda: "stop requested: checkpointing") as stop:
        signal.raise_signal(signal.SIGHUP)
        assert stop.requested and stop.signal_name == "SIGHUP"
        signal.raise_signal(signal.SIGTERM)  # a second request changes nothing
        assert stop.signal_name == "SIGHUP"
    assert capfd.readouterr().err == "\nstop requested: checkpointing\n"


def test_nohup_keeps_sighup_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals() as stop:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)
            assert not stop.requested
    finally:
        signal.signal(signal.SIGHUP, previous)


# ---------------------------------------------------------------- faults at the command-line boundary


def test_run_main_turns_a_stopped_run_and_a_full_disk_into_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def diverged() -> None:
        raise RunStoppedError("training diverged at step 300;\nnewest intact checkpoint: x (step 200)")

    with pytest.raises(SystemExit) as exit_info:
        run_main(diverged)
    assert exit_info.value.code == 1
    assert (
        capsys.readouterr().err
        == "error: training diverged at step 300; newest intact checkpoint: x (step 200)\n"
    )

    def full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/config.yaml")

    with pytest.raises(SystemExit) as exit_info:
        run_main(full)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == (
        "error: no space left on the device writing runs/x/config.yaml: "
        "free some space, then resume the run\n"
    )

    def other_os_error() -> None:
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError):  # not the machine refusing (disk, permission, memory): a traceback
        run_main(other_os_error)


# ------------------------------------------------------------------------- progress


def test_the_training_rate_leaves_out_the_prefill() -> None:
    rate = PhaseRate(window=60.0)
    for t in range(11):  # a fast random prefill: 1,000 steps/s
        rate.add(1000 * t, "prefill", now=float(t))
    assert rate.rate() == pytest.approx(1000.0)
    assert rate.eta(90_000) == "0:01:30"
    rate.add(10_010, "train", now=11.0)
    assert rate.rate() == 0.0 and rate.eta(90_000) == "?"  # no training rate yet: no ETA from the prefill
    rate.add(10_030, "train", now=13.0)
    assert rate.rate() == pytest.approx(10.0)
    assert rate.eta(89_970) == "2:29:57"


def test_the_bar_still_reads_at_80_columns() -> None:
    postfix = progress_postfix("train", 11.8, "2:20:13", -1234.5, -1160.2)
    assert postfix == "train 11.8/s ETA 2:20:13 ret -1234 eval -1160"
    assert (
        progress_postfix("prefill", 922.0, "0:01:47", None, None) == "prefill 922/s"
    )  # no ETA from the prefill
    assert progress_postfix("eval", 0.0, "?", None, -150.0) == "eval -/s ETA ? eval -150"
    out = io.StringIO()
    bar = tqdm(
        total=100_000,
        initial=12_345,
        unit="step",
        unit_scale=True,
        ncols=80,
        file=out,
        bar_format=BAR_FORMAT,
        mininterval=0,
    )
    bar.set_postfix_str(postfix, refresh=True)
    line = out.getvalue().split("\r")[-1]
    bar.close()
    assert len(line) <= 80 and line.endswith(f" 12.3k/100k, {postfix}")
    assert len(line.split("|")[1]) >= 10  # the bar itself, not one character
