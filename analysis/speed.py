"""Speed of the system's parts, measured in one process on real envs and real models.

For each ``scripts.dream`` preset and env: milliseconds per world-model update and per actor-critic update
(median over a few updates after a warm-up, on batches sampled from a replay of real episodes), env steps
per second of collection with the agent acting, and the training speed these imply at the preset's train
ratio. For each planner at its default settings: milliseconds per planned action with the ``cpu`` preset's
model, with and without the actor prior. ``python -m scripts.benchmark --suite speed`` runs it and writes
``speed.json`` and ``speed.md``.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from agents.dreamer import DreamerAgent
from agents.mpc import MPCAgent, MPCConfig
from envs.collector import Collector, RandomPolicy
from envs.replay import EpisodeReplay, to_torch
from planners import PlannerConfig, make_planner


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, list[Any]]:
    """Median wall milliseconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls, and the results."""
    for _ in range(warmup):
        fn()
    times, results = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        results.append(fn())
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times), results


def measure_preset(
    preset: str,
    cfg: Any,
    env: str,
    *,
    device: torch.device,
    updates: int = 5,
    collect_steps: int = 300,
    seed: int = 0,
) -> dict[str, Any]:
    """Update and collection speed of one ``scripts.dream`` preset on one env.

    Args:
        preset: the preset's name (recorded only).
        cfg: the preset's ``DreamConfig``.
        env: env name.
        device: torch device of the updates.
        updates: timed updates (after one warm-up update).
        collect_steps: env steps of timed collection with the agent acting.
        seed: seed of envs, networks and replay.

    Returns:
        One row: ``wm_update_ms``, ``ac_update_ms``, ``update_ms`` (medians), ``updates_per_env_step``
        (train ratio / (B * T)), ``collect_steps_per_s`` (agent acting, no updates) and
        ``train_steps_per_s`` (the env steps per second a run spends collecting and updating at this
        train ratio, without evaluation), with the shapes and sizes measured.
    """
    from envs import make_vector_env

    torch.manual_seed(seed)
    venv = make_vector_env(env, cfg.envs, seed=seed)
    try:
        obs_shape = tuple(venv.single_observation_space.shape or ())
        action_dim = int(np.prod(venv.single_action_space.shape or ()))
        agent = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
        tc = cfg.train
        replay = EpisodeReplay(None, max(10_000, 4 * tc.batch_size * tc.seq_len), seed=seed)
        collector = Collector(venv, action_repeat=cfg.envs.action_repeat)
        random_policy = RandomPolicy(action_dim, seed=seed)
        while replay.steps < max(tc.seq_len * 4, 1000):
            for ep in collector.collect(random_policy, 200):
                replay.add(ep)

        before = collector.env_steps
        t0 = time.perf_counter()
        collector.collect(agent, collect_steps)
        collect_s = time.perf_counter() - t0
        collected = collector.env_steps - before
        collect_sps = collected / collect_s

        def one_update() -> dict[str, float]:
            batch = to_torch(replay.sample(tc.batch_size, tc.seq_len), device)
            return agent.update(batch)

        update_ms, metrics = _median_ms(one_update, updates, warmup=1)
        per_step = tc.train_ratio / (tc.batch_size * tc.seq_len)
        step_s = 1.0 / collect_sps + per_step * update_ms / 1000.0
        params = sum(p.numel() for p in agent.world_model.parameters())
        params += sum(p.numel() for m in (agent.actor, agent.critic) for p in m.parameters())
        return {
            "preset": preset,
            "env": env,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "obs_shape": list(obs_shape),
            "action_dim": action_dim,
            "params": params,
            "batch": [tc.batch_size, tc.seq_len],
            "imagination": [cfg.agent.imag_starts or tc.batch_size * tc.seq_len, cfg.agent.horizon],
            "wm_update_ms": statistics.median(m["time/wm_update_ms"] for m in metrics),
            "ac_update_ms": statistics.median(m["time/ac_update_ms"] for m in metrics),
            "update_ms": update_ms,
            "updates_per_env_step": per_step,
            "collect_steps_per_s": collect_sps,
            "train_steps_per_s": 1.0 / step_s,
        }
    finally:
        venv.close()


def measure_planners(
    cfg: Any,
    env: str,
    *,
    device: torch.device,
    planners: Sequence[str] = ("cem", "mppi", "shooting"),
    plan: PlannerConfig | None = None,
    actions: int = 30,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Milliseconds per planned action (one env) for each planner, with and without the actor prior.

    The model is the preset's (untrained: the cost does not depend on the weights); the objective includes
    the critic's value at the horizon, as ``scripts.dream --act planner`` uses by default.
    """
    from envs import make_vector_env
    from envs.episode import StepObs

    plan = plan or PlannerConfig()
    torch.manual_seed(seed)
    venv = make_vector_env(env, cfg.envs, seed=seed, num_envs=1)
    try:
        obs_shape = tuple(venv.single_observation_space.shape or ())
        action_dim = int(np.prod(venv.single_action_space.shape or ()))
        obs, _ = venv.reset(seed=seed)
    finally:
        venv.close()
    dreamer = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
    rows = []
    for name in planners:
        for prior in (False, True):
            agent = MPCAgent(
                dreamer.world_model,
                make_planner(name, plan, action_dim, device=device, seed=seed),  # type: ignore[arg-type]
                MPCConfig(),
                critic=dreamer.value,
                actor=dreamer.actor.sample if prior else None,
                learner=dreamer,
                seed=seed,
            )
            state: list[Any] = [None]

            def act(agent: MPCAgent = agent, state: list[Any] = state) -> None:
                first = np.array([state[0] is None])
                _, state[0] = agent.act(StepObs(obs=obs, is_first=first), state[0], deterministic=False)

            ms, _ = _median_ms(act, actions, warmup=3)
            rows.append(
                {
                    "planner": name,
                    "prior": prior,
                    "env": env,
                    "device": str(device),
                    "threads": torch.get_num_threads(),
                    **{k: v for k, v in dataclasses.asdict(plan).items() if k in _PLAN_KEYS},
                    "ms_per_action": ms,
                }
            )
    return rows


_PLAN_KEYS = ("horizon", "population", "elites", "iterations")


def speed_markdown(result: dict[str, Any]) -> str:
    """The ``speed.md`` tables of a :func:`scripts.benchmark` speed result."""
    lines = [
        "## Updates and collection per `scripts.dream` preset",
        "",
        "| preset | env | threads | params | batch | imag. starts x H | WM update ms | AC update ms |"
        " update ms | updates / env step | collect steps/s | train steps/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["presets"]:
        b, im = r["batch"], r["imagination"]
        lines.append(
            f"| {r['preset']} | {r['env']} | {r['threads']} | {r['params'] / 1e6:.2f}M | {b[0]}x{b[1]} |"
            f" {im[0]}x{im[1]} | {r['wm_update_ms']:.0f} | {r['ac_update_ms']:.0f} | {r['update_ms']:.0f} |"
            f" {r['updates_per_env_step']:.2f} | {r['collect_steps_per_s']:.0f} |"
            f" {r['train_steps_per_s']:.1f} |"
        )
    lines += [
        "",
        "`train steps/s` = 1 / (1 / collect steps/s + updates per env step x update time): a run's speed"
        " without its evaluations.",
        "",
        "## Planning (`--act planner`), default planner settings, one env",
        "",
        "| planner | prior | env | threads | horizon | population | iterations | ms per action |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["planners"]:
        prior = "yes" if r["prior"] else "no"
        lines.append(
            f"| {r['planner']} | {prior} | {r['env']} | {r['threads']} | {r['horizon']} |"
            f" {r['population']} | {r['iterations']} | {r['ms_per_action']:.1f} |"
        )
    return "\n".join(lines) + "\n"


__all__ = ["measure_planners", "measure_preset", "speed_markdown"]
