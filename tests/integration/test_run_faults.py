"""Faults injected into tiny `scripts.dream --preset debug` runs (issue #30): a diverging run, SIGHUP, a stop
request during an evaluation, a damaged newest checkpoint, a full disk (mocked, and on a small tmpfs),
checkpoints early and by wall time, and `make train` resuming. Each ends in a recovery or one line that
says what happened and what is intact."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agents.checkpoint import list_checkpoints
from agents.evaluation import read_eval_csv
from agents.run_dir import RunStoppedError
from agents.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


@pytest.fixture
def dream(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run scripts.dream's main in this process: ``dream(run_dir, *args)`` (``--resume`` in args resumes)."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))

    def run(run_dir: Path, *args: str) -> None:
        from scripts import dream as script

        head = [] if "--resume" in args else ["--preset", "debug", "--env", "Pendulum"]
        sys.argv = ["dream", *head, "--run-dir", str(run_dir), *args]
        script.main()

    return run


def _steps(run_dir: Path) -> list[int]:
    return [step for step, _ in list_checkpoints(run_dir / "checkpoints")]


def test_a_diverging_run_skips_its_updates_then_stops_with_one_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    lrs = ["--model.optim.lr", "1e6", "--agent.actor-lr", "1e6", "--agent.critic-lr", "1e6"]
    cmd = [sys.executable, "-m", "scripts.dream", "--preset", "debug", "--env", "Pendulum"]
    cmd += ["--steps", "1500", "--run-dir", str(run), "--threads", "1", *lrs]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training diverged: 100 updates in a row up to step ")
    assert "had non-finite losses or gradients (wm/grad_norm" in last
    assert f"newest intact checkpoint: {run}/checkpoints/ckpt-" in last and last.endswith("start a new run")
    assert "were skipped (" in proc.stdout  # said at each log step before it stopped
    assert "done:" not in proc.stdout
    assert _steps(run) and max(_steps(run)) < 1500


def test_sighup_checkpoints_stops_and_names_the_resume_command(
    tmp_path: Path, dream, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    real_update = Trainer._update
    fired: list[int] = []

    def update(self: Trainer) -> None:
        real_update(self)
        if self.env_steps >= 250 and not fired:  # the terminal closes
            fired.append(self.env_steps)
            signal.raise_signal(signal.SIGHUP)

    monkeypatch.setattr(Trainer, "_update", update)
    with pytest.raises(KeyboardInterrupt):
        dream(run, "--steps", "400", "--train.checkpoint-every", "1000")
    out = capfd.readouterr()
    stopped = _steps(run)[-1]
    assert 250 <= stopped < 400
    assert f"stopped (checkpoint saved): {stopped:,} env steps" in out.out
    assert out.out.rstrip().endswith(f" --resume --run-dir {run}")
    assert "stop requested: checkpointing at step" in out.err
    monkeypatch.setattr(Trainer, "_update", real_update)
    dream(run, "--resume", "--steps", "400")
    out = capfd.readouterr()
    assert f"resuming from {run}/checkpoints/ckpt-{stopped:012d}.pt at step {stopped:,} of 400" in out.out
    assert "done: 400 env steps" in out.out


def test_the_first_stop_request_during_an_evaluation_cuts_it_short(
    tmp_path: Path, dream, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import agents.trainer

    run = tmp_path / "run"
    real_evaluate = agents.trainer.evaluate_run

    def slow_evaluation(*args: object, **kwargs: object) -> object:
        signal.raise_signal(signal.SIGINT)  # the first Ctrl-C, early in a long evaluation
        time.sleep(60)
        raise AssertionError("the evaluation was not interrupted")

    monkeypatch.setattr(agents.trainer, "evaluate_run", slow_evaluation)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        dream(run, "--steps", "400")
    assert time.monotonic() - started < 40
    err = capfd.readouterr().err
    assert "stop requested: the eval is cut short (it runs again on resume); checkpointing" in err
    assert _steps(run)[-1] == 200  # the step of the evaluation that was cut short
    assert read_eval_csv(run / "eval.csv") == []
    monkeypatch.setattr(agents.trainer, "evaluate_run", real_evaluate)
    dream(run, "--resume")
    assert [row["step"] for row in read_eval_csv(run / "eval.csv")] == [200, 400]  # it ran again


def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(
    tmp_path: Path, dream, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    dream(run, "--steps", "400")
    assert _steps(run) == [100, 200, 400]  # the end of the prefill (100), then every 200 steps
    newest = run / "checkpoints" / "ckpt-000000000400.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    capsys.readouterr()
    dream(run, "--resume", "--steps", "600")
    out = capsys.readouterr().out
    assert f"checkpoint {newest} is damaged (RuntimeError): set aside as ckpt-000000000400.pt.damaged" in out
    assert f"resuming from {run}/checkpoints/ckpt-000000000200.pt at step 200 of 600" in out
    assert newest.with_name("ckpt-000000000400.pt.damaged").is_file()
    assert _steps(run) == [200, 400, 600]  # the new step-400 checkpoint is a sound one
    steps = [row["step"] for row in read_eval_csv(run / "eval.csv")]
    assert steps == [200, 400, 600]
    # one TensorBoard name per open-loop metric, the same as scripts.fit_world_model's
    events = b"".join(p.read_bytes() for p in run.glob("events.out.tfevents.*"))
    assert b"wm/openloop/nmse_1" in events and b"wm/openloop/nmse_last" in events
    assert b"wm/openloop/openloop_" not in events and b"wm/skipped" in events


def test_a_full_disk_stops_with_one_line_naming_the_newest_intact_checkpoint(
    tmp_path: Path, dream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.checkpoint
    from agents.logger import Logger

    run = tmp_path / "run"
    real_scalars, real_save = Logger.scalars, agents.checkpoint.torch.save

    def scalars(self: Logger, metrics: dict[str, float], step: int) -> None:
        if step >= 300:  # the TensorBoard writer finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_scalars(self, metrics, step)

    monkeypatch.setattr(Logger, "scalars", scalars)
    with pytest.raises(RunStoppedError) as err:
        dream(run, "--steps", "600")
    assert str(err.value).startswith(
        f"no space left on the device of {run} at step 300: the run stopped; newest intact checkpoint: "
        f"{run}/checkpoints/ckpt-000000000200.pt (step 200). Free some space, then continue with: python -m "
    )
    assert str(err.value).endswith(f" --resume --run-dir {run}") and _steps(run) == [100, 200]

    # the checkpoint itself cannot be written: the partial file goes, the previous one stays
    run2 = tmp_path / "run2"
    monkeypatch.setattr(Logger, "scalars", real_scalars)

    def save(obj: object, f: object) -> None:
        if isinstance(obj, dict) and obj.get("step") == 400:
            f.write(b"partial")  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f)  # type: ignore[arg-type]

    monkeypatch.setattr(agents.checkpoint.torch, "save", save)
    with pytest.raises(
        RunStoppedError, match=r"newest intact checkpoint: .*ckpt-000000000200\.pt \(step 200\)"
    ):
        dream(run2, "--steps", "600")
    assert _steps(run2) == [100, 200] and not list((run2 / "checkpoints").glob(".*tmp"))


def test_a_checkpoint_at_the_end_of_the_prefill_and_by_wall_time(tmp_path: Path, dream) -> None:
    run = tmp_path / "run"
    dream(run, "--steps", "300", "--train.checkpoint-every", "100000", "--train.checkpoint-minutes", "0")
    assert _steps(run) == [100, 300]  # a run killed after its prefill can resume
    run = tmp_path / "timed"
    dream(run, "--steps", "150", "--train.checkpoint-every", "100000", "--train.checkpoint-minutes", "1e-6")
    assert _steps(run) == [148, 149, 150]  # one at every step: that much wall time passes between them


def test_make_train_resumes_without_injecting_an_env() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    resume = subprocess.run(
        ["make", "-n", "train", "ARGS=--resume --run-dir runs/x"], cwd=ROOT, capture_output=True, text=True
    )
    # make -n prints the setup recipe too where the venv is not built yet; look at the train lines only
    lines = [line for line in resume.stdout.splitlines() if "-m scripts.dream" in line]
    assert any("-m scripts.dream  --resume --run-dir runs/x;" in line for line in lines), resume.stdout
    assert not any("--env" in line for line in lines), resume.stdout
    new = subprocess.run(["make", "-n", "train", "ARGS=--steps 5"], cwd=ROOT, capture_output=True, text=True)
    assert "-m scripts.dream --env Walker2d --steps 5;" in new.stdout


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m none /mnt"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


@pytest.mark.skipif(sys.platform != "linux", reason="a private tmpfs needs Linux namespaces")
def test_a_full_disk_on_a_small_tmpfs(tmp_path: Path) -> None:
    """The real thing: the run directory on a 16 MB tmpfs (a private mount: `unshare`), filled up by
    another writer once the run has checkpointed."""
    if not _can_mount_tmpfs():
        pytest.skip("cannot mount a private tmpfs here (unshare -rm)")
    disk = tmp_path / "disk"
    disk.mkdir()
    run = disk / "run"
    script = textwrap.dedent(
        f"""
        set -u
        mount -t tmpfs -o size=16m none {disk}
        {sys.executable} -m scripts.dream --preset debug --env Pendulum --steps 100000 --threads 1 \\
            --run-dir {run} > {tmp_path}/out.txt 2> {tmp_path}/err.txt &
        pid=$!
        for i in $(seq 600); do [ -e {run}/checkpoints/ckpt-000000000200.pt ] && break; sleep 0.2; done
        dd if=/dev/zero of={disk}/filler bs=1M count=64 2> /dev/null
        wait $pid
        echo "rc=$?"
        ls {run}/checkpoints
        """
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = (tmp_path / "err.txt").read_text()
    assert "rc=1" in proc.stdout, (proc.stdout, proc.stderr, err[-3000:])
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: no space left on the device of {run}")
    assert f"newest intact checkpoint: {run}/checkpoints/ckpt-" in last
    assert last.endswith(f"continue with: python -m scripts.dream --resume --run-dir {run}")
    named = last.split(f"{run}/checkpoints/")[1].split(" ")[0]
    assert named in proc.stdout.split()  # the checkpoint it names is there (the tmpfs is gone now)
