"""Where a Pendulum run's evaluation return goes: swing-up, balancing, and starts near the top.

    python benchmarks/pendulum-starts/probe.py RUN_DIR [RUN_DIR ...] [--draws 5]
        [--first-step policy|zero|second-look]

Loads each run's latest checkpoint (a ``scripts.dream`` run, or a ``scripts.baseline`` SAC / TD3 run)
and replays the run's own evaluation protocol (its ``eval_episodes`` envs, seeds ``eval_seed(seed) + i``,
deterministic actions) ``--draws`` times, recording angle, action and cost of every step. A Dreamer
policy's return varies from draw to draw (its latent posterior is sampled; each draw seeds torch with its
index); an SB3 policy's does not. Prints, per episode: the start state (theta, omega), the return of each
draw, the step from which the pole stays upright (|theta| < 0.5) and the cost paid before it, the cost per
step over the last 100 steps (balancing), the first three actions (draw 0), and for starts near the top
(|theta| < 1) in how many draws the pole fell through the bottom (max |theta| > 2.5) instead of being
caught. ``--first-step zero`` replaces the first action of each episode by 0; ``--first-step
second-look`` takes it after a second posterior step on the first observation (as if the pole had been
there one step before under zero torque): the agent's ``--agent.first-looks 2``, an acting-time change
that needs no retraining.

For a Dreamer run it also measures the first action on its own: on 400 random states (theta uniform,
omega in [-1, 1]) the deterministic action taken on the latent of an episode's first step (zero state,
zero previous action, one observation) against the action after a second look at the same observation
(one more posterior step, as if the pole had been there a step before under zero torque). Reported: the
mean and spread of each, and near the top (|theta| < 0.6) the share whose sign is the catching one,
-sign(10 theta + 2 omega).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agents import configs
from agents.baselines import Sb3Policy
from agents.dreamer import DreamerAgent
from envs.episode import StepObs
from envs.seeds import eval_seed
from envs.vector import make_vector_env


def load_policy(run: Path, cfg: Any) -> tuple[Any, str]:
    """The run's policy (``act(StepObs, state, deterministic=)``) and a label with its step."""
    if (run / "checkpoints" / "model.zip").is_file():  # an SB3 baseline
        import stable_baselines3

        algo = getattr(stable_baselines3, str(cfg.algo).upper())
        model = algo.load(run / "checkpoints" / "model.zip", device="cpu")
        return Sb3Policy(model, model.get_vec_normalize_env()), f"{cfg.algo} step {model.num_timesteps}"
    _, agent, state = configs.load_dreamer(run)
    return agent, f"dreamer step {int(state.get('step', -1))}"


Rollout = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def rollout(run: Path, cfg: Any, agent: Any, first_step: str) -> Rollout:
    """One pass of the evaluation protocol: start states (N, 2), theta, action, cost (T, N)."""
    n = cfg.eval_episodes
    env_cfg = dataclasses.replace(cfg.envs, num_envs=n, vector="sync")
    venv = make_vector_env(cfg.env, env_cfg, seed=eval_seed(cfg.seed), num_envs=n)
    try:
        obs, _ = venv.reset(seed=eval_seed(cfg.seed))
        start = np.array([e.unwrapped.state for e in venv.envs])  # type: ignore[attr-defined]
        first, state, steps = np.ones(n, bool), None, []
        done = np.zeros(n, bool)
        while not done.all():
            with torch.inference_mode():
                action, state = agent.act(StepObs(obs, first), state, deterministic=True)
            if first_step == "zero" and first.all():  # an episode's first step
                action = np.zeros_like(action)
                if state is not None:
                    state = type(state)(state.latent, torch.zeros_like(state.action))
            theta = np.arctan2(obs[:, 1], obs[:, 0])
            obs, reward, term, trunc, _ = venv.step(action)
            steps.append((theta, action[:, 0], -reward))
            done |= term | trunc
            first[:] = False
    finally:
        venv.close()
    theta, act, cost = (np.array(x) for x in zip(*steps, strict=True))
    return start, theta, act, cost


def first_action_check(agent: Any) -> str:
    """The first action against a second look, on random states (see the module docstring)."""
    rng = np.random.default_rng(0)
    theta, omega = rng.uniform(-np.pi, np.pi, 400), rng.uniform(-1.0, 1.0, 400)
    obs = np.stack([np.cos(theta), np.sin(theta), omega], 1).astype(np.float32)
    torch.manual_seed(0)
    with torch.inference_mode():
        a0, state = agent.act(StepObs(obs, np.ones(len(obs), bool)), None, deterministic=True)
        zero = torch.zeros(len(obs), dtype=torch.bool)
        again = agent.world_model.obs_step(
            state.latent, torch.zeros_like(state.action), torch.from_numpy(obs), zero
        )
        a1 = agent.actor.mode(agent.world_model.feat(again)).float().numpy()
    a0, a1 = a0[:, 0], a1[:, 0]
    near = np.abs(theta) < 0.6
    want = -np.sign(10 * theta + 2 * omega)[near]
    right0, right1 = np.mean(np.sign(a0[near]) == want), np.mean(np.sign(a1[near]) == want)
    return (
        f"first action: mean {a0.mean():+.2f} std {a0.std():.2f}; after a second look: mean {a1.mean():+.2f} "
        f"std {a1.std():.2f}; catching sign near the top ({near.sum()} states): first {right0:.2f}, "
        f"second look {right1:.2f}"
    )


def probe(run: Path, draws: int, first_step: str) -> None:
    cfg = configs.load_run_config(run)
    agent, label = load_policy(run, cfg)
    if first_step == "second-look" and isinstance(agent, DreamerAgent):  # the agent's own option
        agent.cfg = dataclasses.replace(agent.cfg, first_looks=2)
    passes = []
    for d in range(draws):
        torch.manual_seed(d)
        passes.append(rollout(run, cfg, agent, first_step))
    start, theta, act, cost = passes[0]
    returns = np.array([-c.sum(0) for *_, c in passes])  # (draws, N)
    per_draw = ", ".join(f"{r:.1f}" for r in returns.mean(1))
    median = np.median(returns.mean(1))
    print(f"## {run} ({label}): eval return over {draws} draws: median {median:.1f} [{per_draw}]")
    if isinstance(agent, DreamerAgent):
        print(first_action_check(agent))
    for i in range(cfg.eval_episodes):
        down = np.flatnonzero(np.abs(theta[:, i]) >= 0.5)
        t_up = int(down[-1]) + 1 if len(down) else 0  # from here on upright
        first_actions = " ".join(f"{a:+.2f}" for a in act[:3, i])
        line = (
            f"ep{i}: start {start[i, 0]:+.2f} {start[i, 1]:+.2f}; "
            f"return {' '.join(f'{r:.0f}' for r in returns[:, i])}; "
            f"upright from {t_up}, cost before {cost[:t_up, i].sum():.0f}; "
            f"balancing cost/step {cost[-100:, i].mean():.4f}; first actions {first_actions}"
        )
        if abs(start[i, 0]) < 1.0:
            fell = sum(int(np.abs(p[1][:, i]).max() > 2.5) for p in passes)
            line += f"; near the top: fell in {fell}/{draws}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--draws", type=int, default=5, help="passes over the evaluation episodes")
    parser.add_argument(
        "--first-step",
        choices=("policy", "zero", "second-look"),
        default="policy",
        help="an episode's first action: the policy's, 0, or the policy's after a second posterior step",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        probe(run, args.draws, args.first_step)


if __name__ == "__main__":
    main()
