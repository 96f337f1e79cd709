"""Train a Dreamer agent: a world model learned from real episodes and a policy learned in its imagination.

A run stopped by Ctrl-C, SIGTERM or a closed terminal checkpoints first; continue it with --resume and
its --run-dir (the stop message prints the command).

Examples::

    python -m scripts.dream --env Pendulum            # CPU-practical defaults
    python -m scripts.dream --env Walker2d --preset dreamerv3 --device cuda
    python -m scripts.dream --env Pendulum --act planner --planner mppi
    python -m scripts.dream --resume \\
        --run-dir runs/Pendulum-v1/dreamer/0-20260101-120000 --steps 200000
"""

from __future__ import annotations

import dataclasses
import os
import random

import numpy as np
import torch

from agents.cli import parse_config, run_main
from agents.config import pick_device
from agents.configs import DREAM_PRESETS, DreamConfig
from agents.dreamer import DreamerAgent
from agents.mpc import MPCAgent
from agents.run_dir import RunDir
from agents.threads import apply_threads
from agents.trainer import Agent, Trainer
from envs.errors import UserError
from planners import make_planner

ALGO = "dreamer"


def main() -> None:
    """Parse the config, build the envs and the agent, and train."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from envs import make_vector_env, seeds

    cfg = parse_config(
        DreamConfig, algo=ALGO, description=__doc__ or "", presets=DREAM_PRESETS, brief_groups=True
    )
    device = pick_device(cfg.device)
    if (cfg.amp or cfg.compile) and device.type != "cuda":
        raise UserError("--amp and --compile need a CUDA device")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    run = RunDir.open(cfg, algo=ALGO)
    run.record_device(device)
    cfg = dataclasses.replace(cfg, run_dir=run.path)

    venv = make_vector_env(cfg.env, cfg.envs, seed=seeds.train_seed(cfg.seed))
    obs_shape = tuple(venv.single_observation_space.shape or ())
    action_dim = int(np.prod(venv.single_action_space.shape or ()))
    energy_fn = None
    if cfg.model.loss.energy > 0:  # the energy regulariser's labels: the simulator's energy of each state
        from envs.physics import energy_labeller

        energy_fn = energy_labeller(cfg.env)
    dreamer = DreamerAgent.build(
        cfg.model, cfg.agent, obs_shape, action_dim, device=device, amp=cfg.amp, energy_fn=energy_fn
    )
    trained = (dreamer.world_model, dreamer.actor, dreamer.critic)
    apply_threads(cfg.threads, sum(p.numel() for m in trained for p in m.parameters()), run_dir=run.path)
    if cfg.compile:
        dreamer.compile()
    agent: Agent = dreamer
    if cfg.act == "planner":
        # the Dreamer agent keeps learning (world model and actor-critic); the planner only chooses actions
        agent = MPCAgent(
            dreamer.world_model,
            make_planner(cfg.planner, cfg.plan, action_dim, device=device, seed=cfg.seed),
            cfg.mpc,
            critic=dreamer.value if cfg.planner_value else None,
            actor=dreamer.actor.sample if cfg.planner_prior else None,
            learner=dreamer,
            seed=cfg.seed,
        )
    print(f"run directory: {run.path}  device: {device}")
    tc = cfg.train

    def video(step: int) -> object | None:
        from analysis.video import VideoConfig, write_replay_video

        return write_replay_video(
            dreamer.world_model,
            run.episodes,
            cfg.env,
            run.videos / f"imagine-{step:09d}.mp4",
            VideoConfig(context=tc.video_context, horizon=tc.video_horizon, segments=tc.video_segments),
            action_repeat=cfg.envs.action_repeat,
            seed=step,
        )

    trainer = Trainer(
        agent,
        venv,
        run,
        cfg,
        cfg.train,
        device=device,
        world_model=dreamer.world_model,
        video=video,
    )
    try:
        trainer.train()
    finally:
        venv.close()


if __name__ == "__main__":
    run_main(main)
