"""`python -m scripts.dream --preset debug` in a subprocess: what it writes, --resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agents.evaluation import read_eval_csv

ROOT = Path(__file__).resolve().parents[2]


def _cmd(run_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "scripts.dream", "--preset", "debug", "--run-dir", str(run_dir), *args]


def _resume(run_dir: Path, *args: str) -> list[str]:
    """Resuming takes the run's saved config as the defaults (no --preset needed)."""
    return [sys.executable, "-m", "scripts.dream", "--resume", "--run-dir", str(run_dir), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def _run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)


def test_debug_run_writes_config_eval_events_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _run(_cmd(run, "--threads", "1", "--train.video-every", "400", "--train.progress"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "config.yaml").is_file()
    assert list((run / "videos").glob("imagine-000000400.*")), "no imagination video at step 400"
    rows = read_eval_csv(run / "eval.csv")
    assert [r["step"] for r in rows] == [200, 400]
    assert all(r["episodes"] == 1 for r in rows)
    assert list(run.glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt"))[-1].endswith("400.pt")
    assert list((run / "episodes").glob("*.npz"))
    # The run ends with a summary, and records its preset and the device that ran.
    lines = proc.stdout.splitlines()
    assert any(line.startswith("done: 400 env steps") for line in lines), proc.stdout
    assert "%|" not in proc.stderr and "\r" not in proc.stderr  # no progress bar without a terminal
    assert f"run directory: {run}" in lines
    assert yaml.safe_load((run / "config.yaml").read_text())["preset"] == "debug"
    assert json.loads((run / "system.json").read_text())["devices"] in (["cpu"], ["cuda"])  # not "auto"


def test_falls_are_scored_before_the_model_trains_on_them(tmp_path: Path) -> None:
    # Hopper under the debug preset's random prefill and untrained policy falls within tens of steps
    run = tmp_path / "run"
    proc = _run(_cmd(run, "--env", "Hopper", "--threads", "1", "--train.video-every", "0"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    [summary] = [line for line in proc.stdout.splitlines() if line.startswith("diagnostics: ")]
    scored = dict(item.rsplit(" ", 1) for item in summary.removeprefix("diagnostics: ").split(", "))
    assert 0.0 <= float(scored["unseen_cont_at_terminal"]) <= 1.0
    assert 0.0 <= float(scored["unseen_terminal_missed"]) <= 1.0


def test_evaluations_do_not_change_what_a_run_learns(tmp_path: Path) -> None:
    # evaluations (and their diagnostics) draw posterior samples: on a forked random state, so that a
    # run evaluated every 100 steps trains exactly like one evaluated only at the end
    common = ("--steps", "400", "--threads", "1", "--train.video-every", "0")
    often = _run(_cmd(tmp_path / "often", *common, "--eval-every", "100"))
    once = _run(_cmd(tmp_path / "once", *common, "--eval-every", "400"))
    assert often.returncode == 0 and once.returncode == 0, often.stderr[-2000:] + once.stderr[-2000:]
    rows = read_eval_csv(tmp_path / "often" / "eval.csv")
    [last] = read_eval_csv(tmp_path / "once" / "eval.csv")
    assert [r["step"] for r in rows] == [100, 200, 300, 400] and last["step"] == 400
    assert rows[-1]["return_mean"] == last["return_mean"]


def test_resume_after_kill_continues_steps_and_eval_csv(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # long enough that SIGTERM arrives mid-run; --steps may change on resume
    proc = subprocess.Popen(
        _cmd(run, "--steps", "100000", "--threads", "1"),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180

        def scheduled() -> list[Path]:  # not the one at the end of the prefill (step 100)
            return [p for p in (run / "checkpoints").glob("*.pt") if int(p.stem.split("-")[1]) >= 200]

        while time.time() < deadline and not scheduled():
            time.sleep(0.5)
        assert scheduled(), "no checkpoint before the deadline"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    steps = sorted(int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("*.pt"))
    killed_at = steps[-1]
    assert killed_at >= 200
    before = read_eval_csv(run / "eval.csv")
    target = killed_at + 400
    proc2 = _run(_resume(run, "--steps", str(target)))
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    rows = read_eval_csv(run / "eval.csv")
    got = [r["step"] for r in rows]
    assert got[: len(before)] == [r["step"] for r in before if r["step"] <= killed_at]
    assert got == sorted(set(got)), got  # every step once, increasing
    assert got[-1] >= target
    assert all(s > killed_at for s in got[len(before) :])
    # the wall-clock column continues instead of restarting at zero
    assert rows[-1]["wall_time"] >= before[-1]["wall_time"]
    steps_after = sorted(int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("*.pt"))
    assert steps_after[-1] >= target


def test_resume_refuses_changed_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _run(_cmd(run, "--steps", "200", "--train.wm-eval-every", "0")).returncode == 0
    proc = _run(_resume(run, "--agent.horizon", "7"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "agent.horizon" in proc.stderr


def test_a_diffusion_world_drives_imagination_resumes_and_is_refused_by_imagine(tmp_path: Path) -> None:
    # Hopper falls within tens of steps: the continue head's diagnostics run on terminal episodes
    run = tmp_path / "run"
    proc = _run(_cmd(run, "--env", "Hopper", "--family", "diffusion", "--steps", "400", "--threads", "1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert yaml.safe_load((run / "config.yaml").read_text())["family"] == "diffusion"
    assert "diagnostics: " in proc.stdout and "cont_at_terminal" in proc.stdout
    assert not list((run / "videos").glob("*.mp4"))  # videos show the RSSM's imagination: none here
    proc = _run(_resume(run, "--steps", "600"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_eval_csv(run / "eval.csv")] == [200, 400, 600]
    from agents.checkpoint import load_checkpoint

    state = load_checkpoint(run / "checkpoints")
    assert state["step"] == 600 and any("eps_net" in k for k in _keys(state))
    shown = _run([sys.executable, "-m", "scripts.imagine", "--run", str(run)])
    assert shown.returncode == 2 and "diffusion family" in shown.stderr, shown.stderr[-2000:]


def _keys(state: dict[str, object], prefix: str = "") -> list[str]:
    out = []
    for key, value in state.items():
        out.extend(_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [prefix + key])
    return out


def _mpc(run_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "scripts.mpc", "--preset", "debug", "--run-dir", str(run_dir), *args]


def _checkpoint_parts(run: Path) -> set[str]:
    from agents.checkpoint import load_checkpoint

    return set(load_checkpoint(run / "checkpoints"))


@pytest.mark.parametrize("planner", ["mppi"])
def test_debug_run_with_planner(tmp_path: Path, planner: str) -> None:
    run = tmp_path / "run"
    proc = _run(
        _mpc(
            run,
            "--steps",
            "200",
            "--planner",
            planner,
            "--plan.horizon",
            "4",
            "--plan.population",
            "32",
            "--plan.elites",
            "4",
            "--plan.iterations",
            "2",
        )
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_eval_csv(run / "eval.csv")] == [200]
    # the planner adds the critic's value at its horizon (the default): the actor-critic trains
    assert {"actor", "critic", "planner"} <= _checkpoint_parts(run)
    assert yaml.safe_load((run / "config.yaml").read_text())["config_class"] == "MPCRunConfig"


def test_a_planner_without_value_or_prior_trains_no_actor_critic_and_old_runs_resume(tmp_path: Path) -> None:
    from agents.checkpoint import load_checkpoint
    from analysis.events import read_scalars, run_event_files

    run = tmp_path / "run"
    plan = ("--plan.horizon", "4", "--plan.population", "16", "--plan.iterations", "1")
    proc = _run(_mpc(run, "--steps", "200", "--no-planner-value", "--train.log-every", "50", *plan))
    assert proc.returncode == 0, proc.stderr[-3000:]
    parts = _checkpoint_parts(run)
    assert "actor" not in parts and "critic" not in parts and {"world_model", "planner"} <= parts
    state = load_checkpoint(run / "checkpoints")
    assert set(state["optimizers"]) == {"world_model"} and state["counters"]["world_model_updates"] > 0
    tags = set(read_scalars(run_event_files(run)))
    assert any(t.startswith("wm/") for t in tags) and any(t.startswith("planner/") for t in tags)
    assert not any(t.startswith(("actor/", "critic/")) for t in tags), sorted(tags)
    # written as scripts.dream --act planner wrote it before scripts.mpc: it resumes here, not there
    data = yaml.safe_load((run / "config.yaml").read_text())
    data.update(config_class="DreamConfig", act="planner")
    (run / "config.yaml").write_text(yaml.safe_dump(data))
    proc = _run(_resume(run, "--steps", "300"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.strip() == (
        f"error: {run} is a latent MPC run: resume it with python -m scripts.mpc --resume --run-dir {run}"
    )
    proc = _run([sys.executable, "-m", "scripts.mpc", "--resume", "--run-dir", str(run), "--steps", "300"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_eval_csv(run / "eval.csv")] == [200, 300]
    assert yaml.safe_load((run / "config.yaml").read_text())["config_class"] == "MPCRunConfig"


def test_amp_on_cpu_is_a_user_error(tmp_path: Path) -> None:
    proc = _run(_cmd(tmp_path / "run", "--device", "cpu", "--amp"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --amp and --compile need a CUDA device"


@pytest.mark.gpu
def test_debug_run_on_cuda_with_amp(tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    run = tmp_path / "run"
    proc = _run(_cmd(run, "--steps", "200", "--device", "cuda", "--amp"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_eval_csv(run / "eval.csv")] == [200]
