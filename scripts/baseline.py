"""Train a model-free stable-baselines3 baseline (SAC, TD3 or PPO) with the RL-Zoo hyperparameters.

It writes the same run directory as our agents (config.yaml, eval.csv, TensorBoard events,
checkpoints/model.zip) and evaluates on the same schedule and protocol, so its eval.csv is the
reference to compare against.

Example::

    python -m scripts.baseline --algo sac --env Walker2d --steps 1000000 --seed 0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agents.baselines import Sb3Options, train_baseline
from agents.cli import parse_config, run_main
from agents.config import RunConfig


@dataclass(frozen=True)
class BaselineConfig(RunConfig):
    """Options of ``python -m scripts.baseline``."""

    algo: Literal["sac", "td3", "ppo"] = "sac"
    """stable-baselines3 algorithm: sac, td3 or ppo."""
    hp: Sb3Options = field(default_factory=Sb3Options)
    """Overrides of the RL-Zoo hyperparameters (unset: the Zoo's value for the env family)."""


def main(args: Sequence[str] | None = None) -> None:
    """Parse the command line and train (``args`` default: ``sys.argv[1:]``)."""
    os.environ.setdefault("MUJOCO_GL", "egl")

    def run() -> None:
        cfg = parse_config(BaselineConfig, algo="baseline", description=__doc__ or "", args=args)
        train_baseline(cfg, algo=cfg.algo, options=cfg.hp)

    run_main(run)


if __name__ == "__main__":
    main()
