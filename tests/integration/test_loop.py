"""One training loop for every kind of run, in process, tiny sizes: Dreamer, MPC, the world-model fit
of an RSSM and of an ensemble (all on agents.trainer.Trainer) and an SB3 baseline (its own learn() behind
the same run directory, evaluation protocol, schedules and stop signals). Each writes the same
run-directory files, stops cleanly on SIGTERM with a checkpoint, and resumes to its budget with
continuous evaluations."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.baselines import BaselineLoop, train_baseline
from agents.checkpoint import list_checkpoints, load_checkpoint
from agents.configs import BaselineConfig
from agents.evaluation import read_eval_csv
from agents.trainer import Trainer
from agents.zoo import Sb3Options

STEPS, STOP_AT = 400, 250


def _dream(*extra: str, script: str = "dream") -> Callable[[Path, list[str]], None]:
    def run(run_dir: Path, args: list[str]) -> None:
        from scripts import dream, mpc

        argv = [script, "--preset", "debug", "--env", "Pendulum", *extra, "--run-dir", str(run_dir), *args]
        sys.argv = argv
        (mpc if script == "mpc" else dream).main()

    return run


def _fit(*extra: str) -> Callable[[Path, list[str]], None]:
    def run(run_dir: Path, args: list[str]) -> None:
        from scripts import fit_world_model

        sys.argv = ["fit", "--preset", "tiny", "--env", "Pendulum", "--eval-every", "200", *extra]
        sys.argv += ["--run-dir", str(run_dir), *args]
        fit_world_model.main()

    return run


def _sac(run_dir: Path, args: list[str]) -> None:
    resume = "--resume" in args
    steps = int(args[args.index("--steps") + 1])
    cfg = BaselineConfig(
        env="Pendulum", steps=steps, seed=0, eval_every=200, eval_episodes=1, run_dir=run_dir, resume=resume
    )
    train_baseline(cfg, algo="sac", options=Sb3Options(learning_starts=100, batch_size=32))


RUNS = {
    "dreamer": _dream(),
    "mpc": _dream("--plan.population", "16", "--plan.iterations", "1", script="mpc"),
    "fit": _fit(),
    "fit-ensemble": _fit("--family", "ensemble", "--ensemble.units", "16", "--ensemble.batch-size", "8"),
    "sac": _sac,
}


@pytest.mark.mujoco
@pytest.mark.parametrize("kind", list(RUNS))
def test_stops_on_sigterm_and_resumes(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / kind
    fired = {"done": False}

    def maybe_stop(steps: int) -> None:
        if steps >= STOP_AT and not fired["done"]:
            fired["done"] = True
            signal.raise_signal(signal.SIGTERM)  # what a scheduler sends: stop after this step

    real_update, real_on_step = Trainer._update, BaselineLoop.on_step

    def update(self: Trainer) -> None:
        real_update(self)
        maybe_stop(self.env_steps)

    def on_step(self: BaselineLoop, model: object, *args: object) -> None:
        real_on_step(self, model, *args)
        maybe_stop(self.sim_steps(model))

    monkeypatch.setattr(Trainer, "_update", update)
    monkeypatch.setattr(BaselineLoop, "on_step", on_step)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    run = RUNS[kind]
    with pytest.raises(KeyboardInterrupt):
        run(run_dir, ["--steps", str(STEPS)])
    assert fired["done"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    # the same run-directory files for every kind of run
    assert (run_dir / "config.yaml").read_text().startswith("config_class: ")
    assert list(run_dir.glob("events.out.tfevents.*"))
    if kind == "sac":
        stopped_at = int(
            __import__("json").loads((run_dir / "checkpoints" / "progress.json").read_text())["step"]
        )
    else:
        stopped_at = list_checkpoints(run_dir / "checkpoints")[-1][0]
        assert load_checkpoint(run_dir / "checkpoints")["format"] == 2
    assert STOP_AT <= stopped_at < STEPS

    run(run_dir, ["--resume", "--steps", str(STEPS)])
    if kind.startswith("fit"):
        assert (run_dir / "world_model_eval.json").is_file()
        assert not (run_dir / "eval.csv").exists()  # a fit has no returns to log
        assert load_checkpoint(run_dir / "checkpoints")["counters"]["env_steps"] == STEPS
    else:
        steps = [int(r["step"]) for r in read_eval_csv(run_dir / "eval.csv")]
        assert steps == sorted(set(steps)) and steps[-1] >= STEPS, steps  # continuous, no duplicates
        assert 200 in steps
