"""Fit a world model alone on random-policy data and measure it: no RL involved.

Collects ``--steps`` environment steps with a uniform random policy into a replay (kept on disk in the
run directory), trains the world model on sequences from it, and evaluates it open-loop on held-out
episodes collected with evaluation seeds. Writes ``world_model_eval.json``, TensorBoard scalars under
``wm/`` and checkpoints into the run directory.

``--family`` picks the model: ``rssm`` (the latent world model, ``--objective reconstruction|latent``),
``ensemble`` (a PETS-style probabilistic ensemble on the state, ``--ensemble.*``) or ``hamiltonian``
(a learned Hamiltonian with a leapfrog integrator for (q, p) observations, ``--hamiltonian.*``); all
three are scored on the same held-out windows with the same keys. For MuJoCo envs with state
observations (and ``FrictionlessPendulum``) the JSON also holds the energy and momentum errors of the
predicted trajectories and their energy drift (``--no-physics`` leaves them out).

Examples::

    python -m scripts.fit_world_model --env Pendulum --objective reconstruction --steps 10000
    python -m scripts.fit_world_model --env Pendulum --objective latent --updates 3000
    python -m scripts.fit_world_model --env Hopper --preset small --context 5 --horizon 15
    python -m scripts.fit_world_model --preset tiny --env Pendulum        # seconds, for a smoke test
    python -m scripts.fit_world_model --env Walker2d --family ensemble
    python -m scripts.fit_world_model --env FrictionlessPendulum --family hamiltonian --context 1 \\
        --horizon 200
    python -m scripts.fit_world_model --env Hopper --loss.energy 1.0       # energy-consistency regulariser
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import torch
import tyro

from agents.cli import parse_config, run_main
from agents.config import RunConfig, pick_device
from envs.errors import UserError
from envs.names import resolve_env_id
from world_model.config import EnsembleConfig, HamiltonianConfig, WorldModelConfig
from world_model.presets import world_model_preset

ALGO = "world_model"
EVAL_FILE = "world_model_eval.json"


@dataclass(frozen=True)
class FitConfig(RunConfig):
    """Fit a world model on random-policy data and evaluate it open-loop."""

    steps: int = 10_000
    """Environment steps of random-policy data collected for training."""
    family: Literal["rssm", "ensemble", "hamiltonian"] = "rssm"
    """Model family: the RSSM world model (options below), a PETS-style probabilistic ensemble on the state
    (--ensemble.*), or a Hamiltonian model for (q, p) observations (--hamiltonian.*)."""
    model: Annotated[WorldModelConfig, tyro.conf.arg(name="")] = field(
        default_factory=lambda: world_model_preset("small")
    )
    """World model (its fields are top-level options: --objective, --rssm.deter, --optim.lr, ...)."""
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    """The probabilistic ensemble (--family ensemble)."""
    hamiltonian: HamiltonianConfig = field(default_factory=HamiltonianConfig)
    """The Hamiltonian model (--family hamiltonian)."""
    physics: bool = True
    """Add energy / momentum errors and energy drift where state observations map into the simulator."""
    train_episodes: tuple[str, ...] = ()
    """Glob patterns of episode files (NNNNNN-LEN.npz, as runs write them; read only) added to the
    random-policy training data, e.g. a Dreamer run's 'RUN/episodes/*.npz'."""
    extra_eval_episodes: tuple[str, ...] = ()
    """Glob patterns of episode files (read only) forming a second held-out set (e.g. a policy's episodes);
    the final model is also scored on it, under 'extra_eval' in the JSON."""
    updates: int = 2000
    """Gradient updates of the world model."""
    batch_size: int = 16
    """Sequences per update."""
    seq_len: int = 64
    """Steps per training sequence."""
    context: int = 16
    """Open-loop evaluation: real steps observed before predicting (K)."""
    horizon: int = 32
    """Open-loop evaluation: steps predicted with the real actions (H)."""
    threshold: float = 0.1
    """Normalised MSE under which a prediction counts as accurate (defines the prediction horizon T_h)."""
    eval_windows: int = 512
    """At most this many held-out windows of context + horizon steps are evaluated."""
    eval_interval: int = 500
    """Evaluate open-loop on the held-out data every this many updates (and at the end)."""
    log_every: int = 50
    """Log training losses to TensorBoard every this many updates."""
    checkpoint_every: int = 1000
    """Save a checkpoint every this many updates (and at the end)."""
    threads: int = 0
    """Torch CPU threads (0: torch's default)."""
    progress: bool = True
    """Show a progress bar with the losses."""


PRESETS: dict[str, FitConfig] = {
    "tiny": FitConfig(
        steps=1000,
        model=world_model_preset("tiny"),
        updates=40,
        batch_size=4,
        seq_len=16,
        context=4,
        horizon=8,
        eval_episodes=2,
        eval_windows=64,
        eval_interval=20,
        log_every=10,
        checkpoint_every=20,
    ),
    "small": FitConfig(),
    "S": FitConfig(model=world_model_preset("S"), updates=10_000),
    "M": FitConfig(model=world_model_preset("M"), updates=10_000),
}
"""Named defaults: ``tiny`` (seconds: smoke tests), ``small`` (the defaults: CPU), ``S`` / ``M`` (DreamerV3
sizes for a GPU)."""


def _check(cfg: FitConfig) -> None:
    for name in ("steps", "updates", "batch_size", "seq_len", "context", "horizon", "eval_episodes"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    for name in ("eval_interval", "log_every", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if cfg.family != "rssm" and cfg.envs.obs != "state":
        raise UserError(f"the {cfg.family} model works on state observations only: use --envs.obs state")
    if cfg.family != "rssm" and cfg.resume:
        raise UserError(f"--resume continues rssm fits only; refit the {cfg.family} (it takes minutes)")
    if cfg.family != "rssm" and cfg.model.loss.energy > 0:
        raise UserError(
            "--loss.energy is the rssm's regulariser; it has no effect with --family " + cfg.family
        )


def main() -> None:
    """Collect, train, evaluate, write the results."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from tqdm import tqdm

    from agents.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
    from agents.logger import Logger
    from agents.run_dir import RunDir
    from envs import Collector, EpisodeReplay, RandomPolicy, make_vector_env, resolve_env_id, seeds
    from envs.replay import read_episode_files, to_torch
    from world_model import WorldModel
    from world_model.evaluation import eval_windows, openloop_eval, openloop_scalars
    from world_model.learner import WorldModelLearner

    cfg = parse_config(FitConfig, algo=ALGO, description=__doc__ or "", presets=PRESETS)
    _check(cfg)
    device = pick_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    env_id = resolve_env_id(cfg.env)
    run = RunDir.open(cfg, algo=ALGO)

    # Data: training episodes into the replay (on disk), held-out episodes with evaluation seeds.
    venv = make_vector_env(cfg.env, cfg.envs, seed=seeds.train_seed(cfg.seed))
    action_dim = int(venv.single_action_space.shape[0])  # type: ignore[index]
    obs_shape = tuple(venv.single_observation_space.shape)  # type: ignore[arg-type]
    extra = read_episode_files(cfg.train_episodes)
    extra_steps = sum(len(ep) for ep in extra)
    replay = EpisodeReplay(run.episodes, capacity=2 * cfg.steps + 10_000 + extra_steps, seed=cfg.seed)
    if run.resumed and replay.load() > 0:
        print(f"replay: reloaded {replay.steps} steps from {run.episodes}")
    else:
        collector = Collector(venv, action_repeat=cfg.envs.action_repeat)
        for ep in collector.collect(RandomPolicy(action_dim, seed=cfg.seed), cfg.steps):
            replay.add(ep)
        for ep in extra:
            replay.add(ep)
        if replay.steps < cfg.seq_len:  # episodes longer than the budget: finish one
            for ep in collector.collect(RandomPolicy(action_dim, seed=cfg.seed + 1), 1):
                replay.add(ep)
    venv.close()
    if replay.steps < cfg.seq_len:
        raise UserError(f"collected {replay.steps} steps, fewer than --seq-len {cfg.seq_len}: raise --steps")
    held_out = _collect_episodes(cfg, action_dim)
    try:
        windows = eval_windows(held_out, cfg.context + cfg.horizon, stride=4, max_windows=cfg.eval_windows)
    except ValueError as e:
        raise UserError(f"held-out episodes are too short for --context + --horizon: {e}") from e
    eval_batch = to_torch(windows, device)
    extra_batch = None
    if cfg.extra_eval_episodes:
        extra_held_out = read_episode_files(cfg.extra_eval_episodes)
        try:
            extra_windows = eval_windows(
                extra_held_out, cfg.context + cfg.horizon, stride=4, max_windows=cfg.eval_windows
            )
        except ValueError as e:
            raise UserError(f"--extra-eval-episodes are too short for --context + --horizon: {e}") from e
        extra_batch = to_torch(extra_windows, device)
        print(f"extra held-out set: {len(extra_held_out)} episodes ({extra_windows.obs.shape[0]} windows)")
    print(
        f"{env_id}: {replay.steps} training steps in {replay.num_episodes} episodes, "
        f"{len(held_out)} held-out episodes ({windows.obs.shape[0]} windows), "
        f"obs {obs_shape}, actions {action_dim}"
        + (f"; {len(extra)} episodes from --train-episodes" if extra else "")
    )
    physics, physics_note = _physics(cfg, obs_shape)
    if cfg.family != "rssm":
        _fit_state_model(
            cfg,
            run,
            replay,
            (eval_batch, extra_batch),
            obs_shape,
            action_dim,
            device,
            physics,
            physics_note,
            len(extra),
        )
        return

    model = WorldModel(cfg.model, obs_shape, action_dim).to(device)
    energy_fn = None
    if cfg.model.loss.energy > 0:
        if physics is None:
            raise UserError(
                f"--loss.energy needs the simulator's energy of {env_id}'s observations: {physics_note}"
            )
        from envs.physics import energy_labeller

        energy_fn = energy_labeller(cfg.env)
    learner = WorldModelLearner(model, cfg.model, energy_fn=energy_fn)
    if run.resumed:
        state = load_checkpoint(run.checkpoints)
        learner.load_state_dict(state["learner"])
        replay.load_state_dict(state["replay"])
        set_rng_state(state["rng"])
        print(f"resumed at update {learner.updates}")
    logger = Logger(run.path, purge_step=learner.updates if run.resumed else None)

    def checkpoint() -> None:
        save_checkpoint(
            run.checkpoints,
            learner.updates,
            {"learner": learner.state_dict(), "replay": replay.state_dict(), "rng": rng_state()},
        )

    def evaluate() -> dict[str, Any]:
        result = openloop_eval(
            model,
            eval_batch,
            context=cfg.context,
            horizon=cfg.horizon,
            threshold=cfg.threshold,
            physics=physics,
        )
        logger.scalars(openloop_scalars(result), learner.updates)
        return result

    update_time = 0.0
    timed = 0
    sums: dict[str, float] = {}
    bar = tqdm(
        total=cfg.updates, initial=learner.updates, disable=not cfg.progress, unit="upd", dynamic_ncols=True
    )
    try:
        while learner.updates < cfg.updates:
            batch = to_torch(replay.sample(cfg.batch_size, cfg.seq_len), device)
            start = time.perf_counter()
            metrics, _ = learner.update(batch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if learner.updates > 5:  # the first updates include allocation and warm-up
                update_time += time.perf_counter() - start
                timed += 1
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            n = learner.updates
            if n % cfg.log_every == 0 or n == cfg.updates:
                count = cfg.log_every if n % cfg.log_every == 0 else n % cfg.log_every
                means = {k: v / count for k, v in sums.items()}
                sums = {}
                if timed:
                    means["time/ms_per_update"] = 1000.0 * update_time / timed
                logger.scalars(means, n)
                bar.set_postfix(_postfix(means), refresh=False)
            if n % cfg.eval_interval == 0 and n < cfg.updates:
                r = evaluate()
                bar.write(
                    f"update {n}: 1-step nmse {r['nmse_1step']:.4f} (repeat-last "
                    f"{r['openloop_nmse_repeat_last'][0]:.4f}), T_h {r['prediction_horizon']}"
                )
            if n % cfg.checkpoint_every == 0:
                checkpoint()
            bar.update(1)
    except KeyboardInterrupt:
        checkpoint()
        raise
    finally:
        bar.close()
    checkpoint()

    result = evaluate()
    if extra_batch is not None:
        result["extra_eval"] = openloop_eval(
            model,
            extra_batch,
            context=cfg.context,
            horizon=cfg.horizon,
            threshold=cfg.threshold,
            physics=physics,
        )
    final = _final_train_metrics(learner, replay, cfg, device, to_torch)
    out: dict[str, Any] = {
        "env": env_id,
        "family": "rssm",
        "objective": cfg.model.objective,
        "parameters": sum(p.numel() for p in model.parameters()),
        "physics": physics_note,
        "train_steps": int(replay.steps - replay.num_episodes) * cfg.envs.action_repeat,
        "updates": learner.updates,
        "ms_per_update": 1000.0 * update_time / timed if timed else float("nan"),
        "batch_size": cfg.batch_size,
        "seq_len": cfg.seq_len,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "held_out_episodes": len(held_out),
        "train_episodes_extra": len(extra),
        **result,
        "train_metrics": final,
    }
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    if "wm/embed_spread" in final:
        out["embed_spread"] = final["wm/embed_spread"]
    (run.path / EVAL_FILE).write_text(json.dumps(_finite(out), indent=2) + "\n")
    logger.close()
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


def _final_train_metrics(
    learner: Any, replay: Any, cfg: FitConfig, device: torch.device, to_torch: Any
) -> dict:
    """Training losses (and the collapse statistic) averaged over a few batches, without updating."""
    sums: dict[str, float] = {}
    n = 4
    learner.model.eval()  # no running-statistics updates
    with torch.no_grad():
        for _ in range(n):
            batch = to_torch(replay.sample(cfg.batch_size, cfg.seq_len), device)
            _, metrics, _ = learner.model.loss(batch, learner.energy_labels(batch))
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v / n
    return sums


def _physics(cfg: FitConfig, obs_shape: tuple[int, ...]) -> tuple[Any, str]:
    """(observations -> energy and momentum, or None; a note on what it is or why there is none)."""
    from envs.physics import physics_for

    if not cfg.physics:
        return None, "off (--no-physics)"
    if len(obs_shape) != 1:
        return None, "not available: pixel observations"
    try:
        return physics_for(cfg.env), "MuJoCo energy and centre-of-mass momentum of mapped states"
    except UserError as err:
        return None, f"not available: {err}"


def _fit_state_model(
    cfg: FitConfig,
    run: Any,
    replay: Any,
    eval_batches: tuple[Any, Any],
    obs_shape: tuple[int, ...],
    action_dim: int,
    device: torch.device,
    physics: Any,
    physics_note: str,
    train_extra: int,
) -> None:
    """``--family ensemble|hamiltonian``: fit on the replay's transitions, evaluate on the held-out batch
    (and the extra one, when given), write the same JSON."""
    from tqdm import tqdm

    from agents.checkpoint import save_checkpoint
    from agents.logger import Logger
    from world_model.evaluation import openloop_scalars
    from world_model.state_fit import build_state_model, fit_state_model, openloop_eval_states
    from world_model.transitions import transitions_from_episodes, transitions_to_torch

    model, learner = build_state_model(
        cfg.family, obs_shape, action_dim, ensemble=cfg.ensemble, hamiltonian=cfg.hamiltonian
    )
    model.to(device)
    data = transitions_to_torch(transitions_from_episodes(replay.recent(replay.num_episodes)), device)
    particles = cfg.ensemble.particles if cfg.family == "ensemble" else 1
    logger = Logger(run.path)
    bar = tqdm(total=cfg.updates, disable=not cfg.progress, unit="upd", dynamic_ncols=True)
    sums: dict[str, float] = {}
    eval_seconds = [0.0]

    def evaluate(batch: Any = eval_batches[0]) -> dict[str, Any]:
        result = openloop_eval_states(
            model,  # type: ignore[arg-type]
            batch,
            context=cfg.context,
            horizon=cfg.horizon,
            particles=particles,
            threshold=cfg.threshold,
            physics=physics,
            seed=cfg.seed,
        )
        if batch is eval_batches[0]:
            logger.scalars(openloop_scalars(result), learner.updates)
        return result

    def on_update(n: int, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + v
        if n % cfg.log_every == 0 or n == cfg.updates:
            count = cfg.log_every if n % cfg.log_every == 0 else n % cfg.log_every
            means = {k: v / count for k, v in sums.items()}
            sums.clear()
            logger.scalars(means, n)
            bar.set_postfix({k.split("/")[1]: f"{v:.3g}" for k, v in means.items()}, refresh=False)
        if n % cfg.eval_interval == 0 and n < cfg.updates:
            eval_start = time.perf_counter()
            r = evaluate()
            eval_seconds[0] += time.perf_counter() - eval_start
            bar.write(f"update {n}: 1-step nmse {r['nmse_1step']:.4f}, T_h {r['prediction_horizon']}")
        bar.update(1)

    start = time.perf_counter()
    try:
        fit_state_model(
            learner,
            data,
            updates=cfg.updates,
            generator=torch.Generator().manual_seed(cfg.seed),
            on_update=on_update,
        )
    finally:
        bar.close()
    seconds = time.perf_counter() - start - eval_seconds[0]
    save_checkpoint(run.checkpoints, learner.updates, {"learner": learner.state_dict()})
    result = evaluate()
    if eval_batches[1] is not None:
        result["extra_eval"] = evaluate(eval_batches[1])
    objective = "gaussian_nll" if cfg.family == "ensemble" else cfg.hamiltonian.dynamics
    out: dict[str, Any] = {
        "env": resolve_env_id(cfg.env),
        "family": cfg.family,
        "objective": objective,
        "parameters": sum(p.numel() for p in model.parameters()),
        "physics": physics_note,
        "train_steps": int(replay.steps - replay.num_episodes) * cfg.envs.action_repeat,
        "train_transitions": int(data.obs.shape[0]),
        "train_episodes_extra": train_extra,
        "updates": learner.updates,
        "ms_per_update": 1000.0 * seconds / max(learner.updates, 1),
        "batch_size": learner.batch_size,
        "device": str(device),
        "threads": torch.get_num_threads(),
        **result,
    }
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    (run.path / EVAL_FILE).write_text(json.dumps(_finite(out), indent=2) + "\n")
    logger.close()
    _print_summary(out, run.path / EVAL_FILE)


def _postfix(means: dict[str, float]) -> dict[str, str]:
    keys = ["wm/loss", "wm/dec_loss", "wm/latent_loss", "wm/probe_loss", "wm/reward_loss", "wm/dyn_kl"]
    return {k.split("/")[1].replace("_loss", ""): f"{means[k]:.3g}" for k in keys if k in means}


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
