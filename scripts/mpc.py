"""Train latent MPC: a world model learned from real episodes, actions chosen by a planner over it.

At every env step a planner (CEM, MPPI or random shooting) searches action sequences against the world
model's imagined returns, from the posterior of the new observation; the plan's first action is
executed. The world model learns as in scripts.dream. The actor-critic learns too where the planner
uses it: the critic's value at the planning horizon (--planner-value, on by default) or the actor's
action sequences as a share of the candidates (--planner-prior). With --no-planner-value and no
--planner-prior, the world model alone learns. The presets are scripts.dream's.

A run stopped by Ctrl-C, SIGTERM or a closed terminal checkpoints first; continue it with --resume and
its --run-dir. Runs of python -m scripts.dream --act planner (before this script) resume here too.

Examples::

    python -m scripts.mpc --env Pendulum --planner mppi
    python -m scripts.mpc --env Pendulum --planner cem --no-planner-value    # the world model alone
    python -m scripts.mpc --env Pendulum --planner-prior --plan.prior-fraction 0.1
    python -m scripts.mpc --resume --run-dir runs/Pendulum-v1/mpc/0-20260101-120000 --steps 40000
"""

from __future__ import annotations

import os

import torch

from agents.cli import parse_config, run_main
from agents.configs import MPC_PRESETS, MPCRunConfig
from agents.dreamer import DreamerAgent
from agents.mpc import MPCAgent
from agents.world_model_agent import WorldModelUpdates
from planners import make_planner
from scripts.dream import Built, EnergyFn, train
from world_model import WorldModel
from world_model.learner import WorldModelLearner

ALGO = "mpc"


def build_mpc(
    cfg: MPCRunConfig,
    obs_shape: tuple[int, ...],
    action_dim: int,
    device: torch.device,
    energy_fn: EnergyFn | None,
) -> Built:
    """The MPC agent: the planner acts; the world model learns, and the actor-critic where the planner
    uses it (the critic needs the actor's imagination to learn from, the actor the critic: both or none)."""
    if cfg.trains_actor_critic:
        dreamer = DreamerAgent.build(
            cfg.model, cfg.agent, obs_shape, action_dim, device=device, amp=cfg.amp, energy_fn=energy_fn
        )
        assert isinstance(dreamer.world_model, WorldModel)  # MPCRunConfig refuses the other families
        planner = make_planner(cfg.planner, cfg.plan, action_dim, device=device, seed=cfg.seed)
        agent = MPCAgent(
            dreamer.world_model,
            planner,
            cfg.mpc,
            critic=dreamer.value if cfg.planner_value else None,
            actor=dreamer.actor.sample if cfg.planner_prior else None,
            learner=dreamer,
            seed=cfg.seed,
            first_looks=cfg.agent.first_looks,
        )
        trained = (dreamer.world_model, dreamer.actor, dreamer.critic)
        return Built(agent, dreamer.world_model, trained, dreamer.compile)
    model = WorldModel(cfg.model, obs_shape, action_dim).to(device)  # as DreamerAgent.build makes it
    planner = make_planner(cfg.planner, cfg.plan, action_dim, device=device, seed=cfg.seed)
    learner = WorldModelUpdates(
        WorldModelLearner(model, cfg.model, energy_fn=energy_fn), device=device, amp=cfg.amp
    )
    agent = MPCAgent(
        model, planner, cfg.mpc, learner=learner, seed=cfg.seed, first_looks=cfg.agent.first_looks
    )
    return Built(agent, model, (model,), learner.compile)


def main() -> None:
    """Parse the config, build the envs and the agent, and train."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    cfg = parse_config(
        MPCRunConfig, algo=ALGO, description=__doc__ or "", presets=MPC_PRESETS, brief_groups=True
    )
    train(cfg, ALGO, build_mpc)


if __name__ == "__main__":
    run_main(main)
