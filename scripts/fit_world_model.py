"""Fit a world model alone on random-policy data and measure it: no RL involved.

A uniform random policy collects ``--steps`` environment steps into a replay (kept on disk in the run
directory) while the model trains on sequences from it, ``--train-ratio`` replayed steps per
collected step: the data set the length of the run, and the expected number of updates is printed at
the start. The model is evaluated open-loop on held-out episodes collected with evaluation seeds, early
and every ``--eval-every`` steps. Writes ``world_model_eval.json``, TensorBoard scalars under ``wm/`` and
checkpoints into the run directory; the same training loop as ``scripts.dream`` drives it, so
``--resume`` and Ctrl-C behave the same.

``--family`` picks the model: ``rssm`` (the latent world model, ``--objective
reconstruction|latent|contrastive``), ``ensemble`` (a PETS-style probabilistic ensemble on the state,
``--ensemble.*``), ``hamiltonian`` (a learned Hamiltonian with a leapfrog integrator for (q, p)
observations, ``--hamiltonian.*``), ``ebm`` (an energy-based model trained by denoising score matching and
sampled by Langevin dynamics, ``--ebm.*``), ``diffusion`` (the next state denoised by DDIM, reward and
episode end by heads after it, ``--diffusion.*``) or ``graph`` (pairwise antisymmetric impulses that
conserve momentum, for particle systems such as ``ParticleSprings``; ``--graph.dynamics mlp`` is the
same-size unstructured baseline). All learn from the same replay and are scored on the same held-out
windows with the same keys. For MuJoCo envs with state observations (and the toolkit's
``FrictionlessPendulum`` and ``ParticleSprings``) the JSON also holds the energy and momentum errors of the
predicted trajectories and their energy drift (``--no-physics`` leaves them out).

Examples:

    python -m scripts.fit_world_model --env Pendulum --objective reconstruction --steps 10000
    python -m scripts.fit_world_model --env Pendulum --objective latent --train-ratio 512
    python -m scripts.fit_world_model --env Hopper --preset small --context 5 --horizon 15
    python -m scripts.fit_world_model --preset tiny --env Pendulum        # seconds, for a smoke test
    python -m scripts.fit_world_model --env Walker2d --family ensemble
    python -m scripts.fit_world_model --env FrictionlessPendulum --family hamiltonian --context 1 \\
        --horizon 200
    python -m scripts.fit_world_model --env Hopper --loss.energy 1.0       # energy-consistency regulariser
    python -m scripts.fit_world_model --env Hopper --objective contrastive
    python -m scripts.fit_world_model --env Hopper --family ebm
    python -m scripts.fit_world_model --env Hopper --family diffusion
    python -m scripts.fit_world_model --env ParticleSprings --family graph --context 1 --horizon 100
"""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.cli import parse_config, run_main
from agents.config import pick_device
from agents.configs import FIT_PRESETS, FitConfig
from agents.threads import apply_threads
from envs.episode import Episode, SequenceBatch
from envs.errors import UserError

ALGO = "world_model"
EVAL_FILE = "world_model_eval.json"


def main() -> None:
    """Collect random-policy data while training the model, evaluate it, write the results."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from agents.run_dir import RunDir
    from agents.trainer import Trainer
    from agents.world_model_agent import ModelLearner, WorldModelAgent
    from envs import make_vector_env, resolve_env_id, seeds
    from envs.replay import read_episode_files, to_torch
    from world_model import WorldModel
    from world_model.evaluation import eval_windows, openloop_eval, openloop_scalars
    from world_model.learner import WorldModelLearner
    from world_model.state_fit import build_state_model, openloop_eval_states, sampled_particles

    cfg = parse_config(FitConfig, algo=ALGO, description=__doc__ or "", presets=FIT_PRESETS)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    env_id = resolve_env_id(cfg.env)
    # Held-out episodes (evaluation seeds) and the episode files first: a bad --context / --horizon or
    # glob fails before any writing.
    probe = make_vector_env(cfg.env, cfg.envs, seed=seeds.eval_seed(cfg.seed))
    action_dim = int(probe.single_action_space.shape[0])  # type: ignore[index]
    obs_shape = tuple(probe.single_observation_space.shape)  # type: ignore[arg-type]
    probe.close()
    held_out = _collect_episodes(cfg, action_dim)
    length = cfg.window.length
    _check_long_enough(held_out, length, "held-out episodes", "; shorten them or raise --eval-episodes")
    windows = eval_windows(held_out, length, stride=4, max_windows=cfg.eval_windows)
    eval_batch = to_torch(windows, device)
    extra_batch = None
    if cfg.extra_eval_episodes:
        extra_held_out = read_episode_files(cfg.extra_eval_episodes)
        _check_long_enough(extra_held_out, length, "--extra-eval-episodes", "")
        extra_windows = eval_windows(extra_held_out, length, stride=4, max_windows=cfg.eval_windows)
        extra_batch = to_torch(extra_windows, device)
        print(f"extra held-out set: {len(extra_held_out)} episodes ({extra_windows.obs.shape[0]} windows)")
    extra_train = read_episode_files(
        cfg.train_episodes
    )  # added to a new run's replay (a resumed one has them)
    physics, physics_note = _physics(cfg, obs_shape)
    energy_fn = None
    if cfg.model.loss.energy > 0:
        if physics is None:
            raise UserError(
                f"--loss.energy needs the simulator's energy of {env_id}'s observations: {physics_note}"
            )
        from envs.physics import energy_labeller

        energy_fn = energy_labeller(cfg.env)

    learner: ModelLearner
    objective: str
    score: Callable[[SequenceBatch[torch.Tensor]], dict[str, Any]]
    if cfg.family == "rssm":
        model = WorldModel(cfg.model, obs_shape, action_dim).to(device)
        learner = WorldModelLearner(model, cfg.model, energy_fn=energy_fn)
        objective = cfg.model.objective
        params = sum(p.numel() for p in model.parameters())

        def score(batch: SequenceBatch[torch.Tensor]) -> dict[str, Any]:
            with torch.no_grad():
                return openloop_eval(
                    model,
                    batch,
                    context=cfg.window.context,
                    horizon=cfg.window.horizon,
                    threshold=cfg.threshold,
                    physics=physics,
                )

    else:
        state_model, learner = build_state_model(
            cfg.family,
            obs_shape,
            action_dim,
            ensemble=cfg.ensemble,
            hamiltonian=cfg.hamiltonian,
            ebm=cfg.ebm,
            diffusion=cfg.diffusion,
            graph=cfg.graph,
            layout=_particle_layout(cfg) if cfg.family == "graph" else None,
        )
        state_model.to(device)
        objective = {
            "ensemble": "gaussian_nll",
            "hamiltonian": cfg.hamiltonian.dynamics,
            "ebm": "denoising_score_matching",
            "diffusion": "eps_prediction",
            "graph": cfg.graph.dynamics,
        }[cfg.family]
        params = sum(p.numel() for p in state_model.parameters())
        particles = sampled_particles(cfg.family, ensemble=cfg.ensemble, ebm=cfg.ebm, diffusion=cfg.diffusion)

        def score(batch: SequenceBatch[torch.Tensor]) -> dict[str, Any]:
            return openloop_eval_states(
                state_model,
                batch,
                context=cfg.window.context,
                horizon=cfg.window.horizon,
                particles=particles,
                threshold=cfg.threshold,
                physics=physics,
                seed=cfg.seed,
            )

    run = RunDir.open(cfg, algo=ALGO)
    run.record_device(device)
    venv = make_vector_env(cfg.env, cfg.envs, seed=seeds.train_seed(cfg.seed))
    apply_threads(cfg.threads, params, run_dir=run.path)
    agent = WorldModelAgent(learner, action_dim, seed=seeds.train_seed(cfg.seed) + 1)
    last: dict[str, Any] = {}

    def evaluate() -> dict[str, float]:
        result = score(eval_batch)
        last.clear()
        last.update(result)
        tqdm.write(
            f"step {trainer.env_steps:,} (update {learner.updates:,}): 1-step nmse "
            f"{result['nmse_1step']:.4f} (repeat-last {result['openloop_nmse_repeat_last'][0]:.4f}), "
            f"T_h {result['prediction_horizon']}"
        )
        return openloop_scalars(result)

    extra_records = sum(len(ep) for ep in extra_train)
    trainer = Trainer(agent, venv, run, cfg, cfg.trainer(extra_records), device=device, evaluator=evaluate)
    if extra_train and not run.resumed:
        trainer.add_episodes(extra_train)
    sequences, records = cfg.batch_shape
    print(
        f"{env_id} {cfg.family} {objective}: {cfg.steps:,} random-policy steps, {cfg.updates:,} updates of "
        f"{sequences}x{records} (train ratio {cfg.train_ratio:g}); {len(held_out)} held-out "
        f"episodes ({windows.obs.shape[0]} windows), obs {obs_shape}, actions {action_dim}"
        + (f"; {len(extra_train)} episodes from --train-episodes" if extra_train else "")
        + f"; run directory {run.path}",
        flush=True,
    )
    try:
        trainer.train()
    finally:
        venv.close()
    if not last:  # resumed a finished run: evaluate once more for the file
        evaluate()
    if extra_batch is not None:
        last["extra_eval"] = score(extra_batch)
    final = _final_train_metrics(learner, trainer.replay, (sequences, records), device, to_torch)
    out: dict[str, Any] = {
        "env": env_id,
        "family": cfg.family,
        "objective": objective,
        "parameters": params,
        "physics": physics_note,
        "train_steps": trainer.env_steps,
        "train_transitions": len(trainer.replay) - trainer.replay.num_episodes,
        "train_episodes_extra": len(extra_train),
        "updates": learner.updates,
        "ms_per_update": 1000.0 * trainer.update_seconds / max(trainer.updates, 1),
        "batch_size": sequences,
        "seq_len": records,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "held_out_episodes": len(held_out),
        **last,
        "train_metrics": final,
    }
    if cfg.family == "ensemble":
        out["transitions_per_member"] = cfg.ensemble.batch_size
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    if "wm/embed_spread" in final:
        out["embed_spread"] = final["wm/embed_spread"]
    (run.path / EVAL_FILE).write_text(json.dumps(_finite(out), indent=2) + "\n")
    _print_summary(out, run.path / EVAL_FILE)


def _collect_episodes(cfg: FitConfig, action_dim: int) -> list[Any]:
    """``cfg.eval_episodes`` held-out random-policy episodes from envs seeded with evaluation seeds."""
    from envs import Collector, RandomPolicy, make_vector_env, seeds

    venv = make_vector_env(cfg.env, cfg.envs, seed=seeds.eval_seed(cfg.seed))
    collector = Collector(venv, action_repeat=cfg.envs.action_repeat)
    policy = RandomPolicy(action_dim, seed=seeds.eval_seed(cfg.seed))
    episodes: list[Any] = []
    while len(episodes) < cfg.eval_episodes:
        episodes += collector.collect(policy, 200 * cfg.envs.action_repeat)
    venv.close()
    return episodes[: cfg.eval_episodes]


def _check_long_enough(episodes: Sequence[Episode], length: int, what: str, advice: str) -> None:
    """Refuse episodes of which none has ``length`` (--context + --horizon) records.

    Raises:
        UserError: naming ``what`` and the longest episode, then ``advice``.
    """
    longest = max((len(ep) for ep in episodes), default=0)
    if longest < length:
        raise UserError(
            f"{what} are too short for --context + --horizon: no episode has {length} records "
            f"(longest: {longest}){advice}"
        )


def _physics(cfg: FitConfig, obs_shape: tuple[int, ...]) -> tuple[Any, str]:
    """(observations -> energy and momentum, or None; a note on what it is or why there is none)."""
    from envs import particles, pendulum, resolve_env_id
    from envs.physics import physics_for
    from envs.sim_state import is_supported

    if not cfg.physics:
        return None, "off (--no-physics)"
    if len(obs_shape) != 1:
        return None, "not available: pixel observations"
    env_id = resolve_env_id(cfg.env)
    if env_id in (pendulum.ENV_ID, particles.ENV_ID):
        return physics_for(cfg.env), "analytic energy and momentum of the toolkit's conservative system"
    if not is_supported(env_id):
        return None, f"not available: {env_id}'s observations do not map back into a MuJoCo simulator"
    return physics_for(cfg.env), "MuJoCo energy and centre-of-mass momentum of mapped states"


def _particle_layout(cfg: FitConfig) -> Any:
    """The masses and spatial dimension of a particle env (``layout`` of :mod:`envs.particles`' env).

    Raises:
        UserError: the env is not a particle system.
    """
    from envs import make_env
    from envs.particles import ParticleLayout

    env = make_env(cfg.env, cfg.envs, seed=0)
    try:
        layout = getattr(env.unwrapped, "layout", None)
    finally:
        env.close()
    if not isinstance(layout, ParticleLayout):
        raise UserError(
            f"--family graph needs a particle system with known masses (ParticleSprings), not {cfg.env}"
        )
    return layout


def _final_train_metrics(
    learner: Any, replay: Any, shape: tuple[int, int], device: torch.device, to_torch: Any
) -> dict:
    """Training losses (and the collapse statistic) averaged over a few batches, without updating."""
    sums: dict[str, float] = {}
    n = 4
    for _ in range(n):
        for k, v in learner.metrics(to_torch(replay.sample(*shape), device)).items():
            sums[k] = sums.get(k, 0.0) + v / n
    return sums


def _finite(x: Any) -> Any:
    """JSON has no NaN: non-finite floats become None."""
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _print_summary(out: dict[str, Any], path: Any) -> None:
    nmse = out["openloop_nmse"]
    last = out["openloop_nmse_repeat_last"]
    picks = sorted({0, min(4, len(nmse) - 1), len(nmse) // 2, len(nmse) - 1})
    print(
        f"{out['env']} {out['family']} {out['objective']}: {out['updates']} updates, "
        f"{out['ms_per_update']:.1f} ms/update"
    )
    print(
        "  open-loop nmse  "
        + "  ".join(f"h={h + 1}: {nmse[h]:.4f} (repeat-last {last[h]:.4f})" for h in picks)
    )
    print(f"  prediction horizon T_h = {out['prediction_horizon']} (threshold {out['threshold']})")
    print(
        f"  reward mse {out['reward_mse']:.4f} (1-step {out['reward_mse_1step']:.4f}; "
        f"mean predictor {out['reward_mse_mean_predictor']:.4f}); "
        f"continue accuracy {out['cont_accuracy']:.3f}"
    )
    if "energy_error" in out:
        print(
            f"  energy error {out['energy_error']:.3g} J, momentum error {out['momentum_error']:.3g} kg m/s "
            f"(scales {out['energy_scale']:.3g}, {out['momentum_scale']:.3g}); energy drift "
            f"{out['energy_drift']:.3g} (real {out['energy_drift_real']:.3g})"
        )
    if "extra_eval" in out:
        x = out["extra_eval"]
        print(
            f"  extra held-out set: 1-step nmse {x['nmse_1step']:.4f}, T_h {x['prediction_horizon']}, "
            f"reward mse {x['reward_mse']:.4f}"
        )
    if "embed_spread" in out:
        print(f"  embedding spread (collapse statistic, ~1 healthy, 0 collapsed) {out['embed_spread']:.3f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    run_main(main)
