"""One home for defaults: the class defaults are the ``cpu`` preset, ``dreamerv3`` differs where it says,
``debug`` is ``cpu`` made small, and the resolved presets are the values they were before the defaults moved
(issue 31): the same command gives the same run."""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.cli import parse_config
from agents.configs import DREAM_PRESETS, FIT_PRESETS, MPC_PRESETS, DreamConfig, FitConfig, MPCRunConfig
from world_model import WorldModelConfig, world_model_preset


def flat(cfg: Any) -> dict[str, Any]:
    """A nested config dataclass as ``{"dotted.field": value}``."""
    out: dict[str, Any] = {}

    def walk(d: dict[str, Any], prefix: str) -> None:
        for key, value in d.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[prefix + key] = value

    walk(dataclasses.asdict(cfg), "")
    return out


CPU = {
    "agent.actor_dist": "normal",
    "agent.actor_grad": "reinforce",
    "agent.actor_lr": 0.0001,
    "agent.actor_out_scale": 0.01,
    "agent.adam_eps": 1e-05,
    "agent.critic_bin_limit": 20.0,
    "agent.critic_bins": 63,
    "agent.critic_lr": 0.0003,
    "agent.entropy": 0.0003,
    "agent.entropy_rate": 0.001,
    "agent.entropy_target": None,
    "agent.eval_action": "mode",
    "agent.first_looks": 2,
    "agent.gamma": 0.99,
    "agent.grad_clip": 10.0,
    "agent.hidden": 128,
    "agent.horizon": 15,
    "agent.imag_starts": 128,
    "agent.lam": 0.95,
    "agent.layers": 2,
    "agent.max_std": 1.0,
    "agent.min_std": 0.1,
    "agent.replay_value": 0.3,
    "agent.replay_value_wm": 0.0,
    "agent.return_norm_decay": 0.99,
    "agent.advantage_norm": "return_range",
    "agent.slow_critic_decay": 0.98,
    "agent.slow_reg": 1.0,
    "agent.slow_target": False,
    "amp": False,
    "compile": False,
    "device": "auto",
    "diffusion.diffusion_weight": 1.0,
    "diffusion.eta": 0.0,
    "diffusion.grad_clip": 100.0,
    "diffusion.head_units": 128,
    "diffusion.layers": 3,
    "diffusion.lr": 0.001,
    "diffusion.batch_size": 256,
    "diffusion.particles": 5,
    "diffusion.reward_bins": 255,
    "diffusion.sample_steps": 5,
    "diffusion.steps": 100,
    "diffusion.units": 256,
    "env": "Pendulum",
    "family": "rssm",
    "envs.action_repeat": 1,
    "envs.fast_render": True,
    "envs.max_episode_steps": None,
    "envs.num_envs": 1,
    "envs.obs": "state",
    "envs.size": 64,
    "envs.vector": "sync",
    "eval_early": (1000, 2500, 5000),
    "eval_episodes": 10,
    "eval_every": 10000,
    "model.contrastive.dim": 64,
    "model.contrastive.offsets": 1,
    "model.contrastive.stride": 4,
    "model.contrastive.temperature": 0.1,
    "model.encoder.cnn_depth": 16,
    "model.encoder.mlp_layers": 2,
    "model.encoder.mlp_units": 128,
    "model.encoder.norm_obs": True,
    "model.energy.horizon": 8,
    "model.energy.layers": 2,
    "model.energy.min_change_scale": 0.01,
    "model.energy.stride": 4,
    "model.energy.units": 128,
    "model.heads.bin_limit": 20.0,
    "model.heads.bins": 63,
    "model.heads.layers": 1,
    "model.heads.reward": "twohot",
    "model.heads.units": 128,
    "model.latent.ema": 0.99,
    "model.latent.var_target": 0.5,
    "model.latent.var_weight": 1.0,
    "model.loss.cont": 1.0,
    "model.loss.contrastive": 1.0,
    "model.loss.dec": 1.0,
    "model.loss.dyn": 0.5,
    "model.loss.energy": 0.0,
    "model.loss.energy_head": 1.0,
    "model.loss.free_nats": 1.0,
    "model.loss.latent": 1.0,
    "model.loss.probe": 1.0,
    "model.loss.rep": 0.1,
    "model.loss.reward": 1.0,
    "model.loss.terminal_weight": 10.0,
    "model.objective": "reconstruction",
    "model.optim.eps": 1e-08,
    "model.optim.grad_clip": 100.0,
    "model.optim.lr": 0.0003,
    "model.optim.weight_decay": 0.0,
    "model.rssm.classes": 8,
    "model.rssm.deter": 128,
    "model.rssm.fresh_start": False,
    "model.rssm.hidden": 128,
    "model.rssm.latent": "categorical",
    "model.rssm.min_std": 0.1,
    "model.rssm.stoch": 8,
    "model.rssm.unimix": 0.01,
    "resume": False,
    "run_dir": None,
    "seed": 0,
    "steps": 100000,
    "threads": 0,
    "train.batch_size": 16,
    "train.checkpoint_every": 10000,
    "train.checkpoint_minutes": 5.0,
    "train.end_fraction": 0.0,
    "train.recent_fraction": 0.0,
    "train.recent_window": 5000,
    "train.log_every": 1000,
    "train.prefill": 1000,
    "train.progress": True,
    "train.replay_capacity": 1000000,
    "train.seq_len": 32,
    "train.train_ratio": 512.0,
    "train.video_context": 8,
    "train.video_every": 25000,
    "train.video_horizon": 32,
    "train.video_segments": 2,
    "train.wm_eval_context": 8,
    "train.wm_eval_every": 10000,
    "train.wm_eval_horizon": 16,
    "train.wm_eval_threshold": 0.1,
}

PLANNER = {
    "mpc.discount": 0.99,
    "mpc.expl_noise": 0.3,
    "plan.elites": 16,
    "plan.horizon": 8,
    "plan.init_std": 1.0,
    "plan.iterations": 3,
    "plan.max_std": 2.0,
    "plan.min_std": 0.05,
    "plan.momentum": 0.1,
    "plan.population": 128,
    "plan.prior_fraction": 0.05,
    "plan.shift_fill": "repeat",
    "plan.temperature": 0.5,
    "planner": "mppi",
    "planner_prior": False,
    "planner_value": True,
}
"""The fields ``scripts.mpc`` adds to the Dreamer presets (``scripts.dream --act planner`` had them)."""
"""Every field of ``--preset cpu`` (the defaults of ``scripts.dream``), as resolved at commit 69c68dd,
before the class defaults became the cpu preset."""

DREAMERV3_VS_CPU = {
    "agent.actor_lr": 3e-05,
    "agent.critic_bins": 255,
    "agent.critic_lr": 3e-05,
    "agent.gamma": 0.997,
    "agent.grad_clip": 100.0,
    "agent.hidden": 512,
    "agent.imag_starts": 0,
    "envs.num_envs": 4,
    "model.encoder.cnn_depth": 32,
    "model.encoder.mlp_units": 512,
    "model.heads.bins": 255,
    "model.heads.layers": 2,
    "model.heads.units": 512,
    "model.loss.terminal_weight": 1.0,
    "model.optim.grad_clip": 1000.0,
    "model.optim.lr": 0.0001,
    "model.rssm.classes": 32,
    "model.rssm.deter": 512,
    "model.rssm.hidden": 512,
    "model.rssm.stoch": 32,
    "steps": 1000000,
    "train.prefill": 5000,
    "train.seq_len": 64,
    "train.wm_eval_every": 50000,
}
"""Every field where ``--preset dreamerv3`` differs from :data:`CPU` (commit 69c68dd)."""

FIT_MODEL_VS_CPU = {
    "heads.bins": 255,
    "loss.terminal_weight": 1.0,
    "rssm.classes": 16,
    "rssm.deter": 256,
    "rssm.stoch": 16,
}
"""Every world-model field where ``scripts.fit_world_model``'s default (``small``) differs from the cpu
world model (commit 69c68dd)."""

FIT_TRAINER = {
    "batch_size": 16,
    "checkpoint_every": 10000,
    "checkpoint_minutes": 5.0,
    "end_fraction": 0.0,
    "recent_fraction": 0.0,
    "recent_window": 5000,
    "log_every": 500,
    "prefill": 0,
    "progress": True,
    "replay_capacity": 30000,
    "seq_len": 64,
    "train_ratio": 256.0,
    "video_context": 8,
    "video_every": 0,
    "video_horizon": 32,
    "video_segments": 2,
    "wm_eval_context": 8,
    "wm_eval_every": 0,
    "wm_eval_horizon": 16,
    "wm_eval_threshold": 0.1,
}
"""The loop settings of a default fit (``FitConfig().trainer()``, commit 69c68dd)."""

DEBUG_MAY_SHRINK = frozenset(
    {
        "steps",
        "eval_every",
        "eval_episodes",
        "model.rssm.deter",
        "model.rssm.hidden",
        "model.rssm.stoch",
        "model.rssm.classes",
        "model.encoder.mlp_units",
        "model.encoder.mlp_layers",
        "model.encoder.cnn_depth",
        "model.heads.units",
        "model.heads.layers",
        "diffusion.units",
        "diffusion.layers",
        "diffusion.head_units",
        "diffusion.steps",
        "diffusion.sample_steps",
        "agent.horizon",
        "agent.imag_starts",
        "agent.hidden",
        "agent.layers",
        "train.prefill",
        "train.train_ratio",
        "train.batch_size",
        "train.seq_len",
        "train.replay_capacity",
        "train.log_every",
        "train.checkpoint_every",
        "train.wm_eval_every",
        "train.wm_eval_context",
        "train.wm_eval_horizon",
        "train.progress",
    }
)
"""Sizes, budgets and schedules: the only fields where ``debug`` may differ from ``cpu``."""


def test_the_cpu_preset_is_the_class_defaults_and_is_unchanged() -> None:
    assert DREAM_PRESETS["cpu"] == DreamConfig()
    assert world_model_preset("cpu") == WorldModelConfig() == DreamConfig().model
    assert flat(DREAM_PRESETS["cpu"]) == {**CPU, "preset": None}


def test_the_mpc_presets_are_the_dream_presets_with_the_planner_defaults() -> None:
    assert list(MPC_PRESETS) == list(DREAM_PRESETS)
    for name, dream in DREAM_PRESETS.items():
        assert flat(MPC_PRESETS[name]) == {**flat(dream), **PLANNER}, name
    assert MPC_PRESETS["cpu"] == MPCRunConfig()


def test_a_plain_command_line_resolves_to_the_cpu_preset() -> None:
    plain = parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=[])
    named = parse_config(
        DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=["--preset", "cpu"]
    )
    assert plain == named and plain.preset == "cpu"
    assert flat(plain) == {**CPU, "preset": "cpu"}


def test_the_dreamerv3_preset_is_unchanged() -> None:
    got = flat(DREAM_PRESETS["dreamerv3"])
    assert got == {**CPU, **DREAMERV3_VS_CPU, "preset": None}


def test_the_fit_default_is_unchanged() -> None:
    assert FIT_PRESETS["small"] == FitConfig()
    cpu_model = {k.removeprefix("model."): v for k, v in CPU.items() if k.startswith("model.")}
    assert flat(FitConfig().model) == {**cpu_model, **FIT_MODEL_VS_CPU}
    assert dataclasses.asdict(FitConfig().trainer()) == FIT_TRAINER


def test_debug_is_the_cpu_preset_made_small() -> None:
    cpu, debug = flat(DREAM_PRESETS["cpu"]), flat(DREAM_PRESETS["debug"])
    changed = {k for k in cpu if cpu[k] != debug[k]}
    assert changed <= DEBUG_MAY_SHRINK, changed - DEBUG_MAY_SHRINK
    numbers = [k for k in changed if isinstance(cpu[k], int | float) and not isinstance(cpu[k], bool)]
    assert all(debug[k] < cpu[k] for k in numbers), {k: (cpu[k], debug[k]) for k in numbers}
    # imagination starts from a random subset of the batch's posterior states, as with cpu
    d = DREAM_PRESETS["debug"]
    assert 0 < d.agent.imag_starts < d.train.batch_size * d.train.seq_len


PIXELS_VS_CPU = {
    "eval_every": 2000,
    "eval_early": (1000,),
    "envs.obs": "pixels",
    "envs.action_repeat": 2,
    "model.encoder.cnn_depth": 8,
    "train.seq_len": 16,
    "train.train_ratio": 128.0,
}


def test_pixels_is_the_cpu_preset_from_frames() -> None:
    """The pixel preset changes only what frames and their cost need: the same objective, latent, heads,
    actor-critic and learning rates as cpu, one update per agent step of 2 simulator steps."""
    cpu, pixels = flat(DREAM_PRESETS["cpu"]), flat(DREAM_PRESETS["pixels"])
    assert {k: pixels[k] for k in cpu if cpu[k] != pixels[k]} == PIXELS_VS_CPU
    p = DREAM_PRESETS["pixels"]
    assert p.envs.size == 64
    updates_per_sim_step = p.train.train_ratio / (p.train.batch_size * p.train.seq_len)
    assert updates_per_sim_step * p.envs.action_repeat == 1.0
    assert 0 < p.agent.imag_starts < p.train.batch_size * p.train.seq_len
