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

from agents.baselines import train_baseline
from agents.cli import parse_config, run_main
from agents.configs import BaselineConfig


def main(args: Sequence[str] | None = None) -> None:
    """Parse the command line and train (``args`` default: ``sys.argv[1:]``)."""
    os.environ.setdefault("MUJOCO_GL", "egl")

    def run() -> None:
        cfg = parse_config(BaselineConfig, algo="baseline", description=__doc__ or "", args=args)
        train_baseline(cfg, algo=cfg.algo, options=cfg.hp)

    run_main(run)


if __name__ == "__main__":
    main()
