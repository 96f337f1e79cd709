"""Train a Dreamer agent: a world model learned from real episodes and a policy learned in its imagination.

A run stopped by Ctrl-C, SIGTERM or a closed terminal checkpoints first; continue it with --resume and
its --run-dir (the stop message prints the command). Latent MPC on the same world model (a planner
choosing the actions) is python -m scripts.mpc.

Examples::

    python -m scripts.dream --env Pendulum            # CPU-practical defaults
    python -m scripts.dream --env Walker2d --preset dreamerv3 --device cuda
    python -m scripts.dream --resume \\
        --run-dir runs/Pendulum-v1/dreamer/0-20260101-120000 --steps 200000
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch
from torch import nn

from agents.cli import parse_config, run_main
from agents.config import pick_device
from agents.configs import DREAM_PRESETS, DreamConfig
from agents.dreamer import DreamerAgent
from agents.run_dir import RunDir
from agents.threads import apply_threads
from agents.trainer import Agent, Trainer
from envs.errors import UserError
from world_model import WorldModel

ALGO = "dreamer"

PLANNER_OPTIONS = ("--act", "--planner", "--plan.", "--mpc.", "--planner-", "--no-planner-")
"""Options ``scripts.dream`` had while it also planned (``--act planner``, before 2026-12): now
``scripts.mpc``'s."""

C = TypeVar("C", bound=DreamConfig)
EnergyFn = Callable[[np.ndarray], np.ndarray]
"""Observations -> the simulator's energies: the labels of the world model's energy regulariser."""


class Built(NamedTuple):
    """What a script builds for :func:`train`: the agent that acts and learns, its world model (for the
    open-loop evaluation and videos), the modules it trains (their size picks the CPU threads), and
    ``compile`` (``torch.compile`` of its step functions, for ``--compile``)."""

    agent: Agent
    world_model: WorldModel | None
    trained: tuple[nn.Module, ...]
    compile: Callable[[], None]


def refuse_planner_options(argv: Sequence[str]) -> None:
    """Refuse the planner's options of the old ``scripts.dream --act planner`` with the command that has them.

    Raises:
        UserError: one of :data:`PLANNER_OPTIONS` in ``argv``.
    """
    found = [a.split("=", 1)[0] for a in argv if a.startswith(PLANNER_OPTIONS)]
    if found:
        raise UserError(
            f"{found[0]} is an option of latent MPC, which has its own command: python -m scripts.mpc "
            "(the same options, without --act planner)"
        )


def build_dreamer(
    cfg: DreamConfig,
    obs_shape: tuple[int, ...],
    action_dim: int,
    device: torch.device,
    energy_fn: EnergyFn | None,
) -> Built:
    """The Dreamer agent: it acts with its actor and learns the world model and the actor-critic. The
    open-loop evaluation and the videos read the RSSM (``--family rssm``); a state model's run has neither."""
    dreamer = DreamerAgent.build(
        cfg.model,
        cfg.agent,
        obs_shape,
        action_dim,
        device=device,
        amp=cfg.amp,
        energy_fn=energy_fn,
        family=cfg.family,
        diffusion=cfg.diffusion,
    )
    trained = (dreamer.world_model, dreamer.actor, dreamer.critic)
    rssm = dreamer.world_model if isinstance(dreamer.world_model, WorldModel) else None
    return Built(dreamer, rssm, trained, dreamer.compile)


def train(
    cfg: C,
    algo: str,
    build: Callable[[C, tuple[int, ...], int, torch.device, EnergyFn | None], Built],
) -> None:
    """Seed, open the run directory, build the envs and (with ``build``: config, observation shape, action
    size, device, energy labeller) the agent, and train: the body of ``scripts.dream`` and ``scripts.mpc``."""
    from envs import make_vector_env, seeds

    device = pick_device(cfg.device)
    if (cfg.amp or cfg.compile) and device.type != "cuda":
        raise UserError("--amp and --compile need a CUDA device")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    run = RunDir.open(cfg, algo=algo)
    run.record_device(device)
    cfg = dataclasses.replace(cfg, run_dir=run.path)

    venv = make_vector_env(cfg.env, cfg.envs, seed=seeds.train_seed(cfg.seed))
    obs_shape = tuple(venv.single_observation_space.shape or ())
    action_dim = int(np.prod(venv.single_action_space.shape or ()))
    energy_fn = None
    if cfg.model.loss.energy > 0:  # the energy regulariser's labels: the simulator's energy of each state
        from envs.physics import energy_labeller

        energy_fn = energy_labeller(cfg.env)
    built = build(cfg, obs_shape, action_dim, device, energy_fn)
    size = sum(p.numel() for m in built.trained for p in m.parameters())
    apply_threads(cfg.threads, size, run_dir=run.path)
    if cfg.compile:
        built.compile()
    print(f"run directory: {run.path}  device: {device}")
    tc = cfg.train

    rssm = built.world_model

    def video(step: int) -> object | None:
        from analysis.video import VideoConfig, write_replay_video

        assert rssm is not None
        return write_replay_video(
            rssm,
            run.episodes,
            cfg.env,
            run.videos / f"imagine-{step:09d}.mp4",
            VideoConfig(context=tc.video_context, horizon=tc.video_horizon, segments=tc.video_segments),
            action_repeat=cfg.envs.action_repeat,
            seed=step,
        )

    trainer = Trainer(
        built.agent,
        venv,
        run,
        cfg,
        cfg.train,
        device=device,
        world_model=rssm,
        video=video if rssm is not None else None,
    )
    try:
        trainer.train()
    finally:
        venv.close()


def main() -> None:
    """Parse the config, build the envs and the agent, and train."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    refuse_planner_options(sys.argv[1:])
    cfg = parse_config(
        DreamConfig, algo=ALGO, description=__doc__ or "", presets=DREAM_PRESETS, brief_groups=True
    )
    train(cfg, ALGO, build_dreamer)


if __name__ == "__main__":
    run_main(main)
