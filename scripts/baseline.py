"""Train a model-free baseline with the RL-Zoo hyperparameters: stable-baselines3's SAC, TD3 or PPO, or
sb3-contrib's CrossQ or TQC.

It writes the same run directory as our agents (config.yaml, eval.csv, TensorBoard events, episodes/,
checkpoints/model.zip) and evaluates on the same schedule and protocol, so its eval.csv is the reference to
compare against. hyperparams.yaml records the resolved settings and the Zoo entry they come from.

Examples::

    python -m scripts.baseline --algo sac --env Walker2d --steps 1000000 --seed 0
    python -m scripts.baseline --algo crossq --env Hopper --steps 100000
    python -m scripts.baseline --algo crossq --env Hopper --hp.critic-arch 1024 1024   # sb3-contrib's width
    python -m scripts.baseline --resume --run-dir runs/Hopper-v5/sac/0-20260101-120000 --steps 200000
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
        train_baseline(cfg, algo=cfg.algo, options=cfg.hp, threads=cfg.threads)

    run_main(run)


if __name__ == "__main__":
    main()
