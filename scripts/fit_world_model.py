"""Fit a world model alone on random-policy data and measure it: no RL involved.

A uniform random policy collects ``--steps`` environment steps into a replay (kept on disk in the run
directory) while the world model trains on sequences from it, ``--train-ratio`` replayed steps per
collected step: the data set the length of the run, and the expected number of updates is printed at
the start. The model is evaluated open-loop on held-out episodes collected with evaluation seeds, early
and every ``--eval-every`` steps. Writes ``world_model_eval.json``, TensorBoard scalars under ``wm/`` and
checkpoints into the run directory; the same training loop as ``scripts.dream`` drives it, so
``--resume`` and Ctrl-C behave the same.

Examples:

    python -m scripts.fit_world_model --env Pendulum --objective reconstruction --steps 10000
    python -m scripts.fit_world_model --env Pendulum --objective latent --train-ratio 512
    python -m scripts.fit_world_model --env Hopper --preset small --context 5 --horizon 15
    python -m scripts.fit_world_model --preset tiny --env Pendulum        # seconds, for a smoke test
"""

from __future__ import annotations

import json
import os
import resource
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.cli import parse_config, run_main
from agents.config import pick_device
from agents.configs import FIT_PRESETS, FitConfig
from agents.threads import apply_threads
from envs.errors import UserError

ALGO = "world_model"
EVAL_FILE = "world_model_eval.json"


def main() -> None:
    """Collect random-policy data while training the world model, evaluate it, write the results."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from agents.run_dir import RunDir
    from agents.trainer import Trainer
    from agents.world_model_agent import WorldModelAgent
    from envs import make_vector_env, resolve_env_id, seeds
    from envs.replay import to_torch
    from world_model import WorldModel
    from world_model.evaluation import eval_windows, openloop_eval, openloop_scalars
    from world_model.learner import WorldModelLearner

    cfg = parse_config(FitConfig, algo=ALGO, description=__doc__ or "", presets=FIT_PRESETS)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    env_id = resolve_env_id(cfg.env)
    # Held-out episodes (evaluation seeds) first: a bad --context / --horizon fails before any writing.
    probe = make_vector_env(cfg.env, cfg.envs, seed=seeds.eval_seed(cfg.seed))
    action_dim = int(probe.single_action_space.shape[0])  # type: ignore[index]
    obs_shape = tuple(probe.single_observation_space.shape)  # type: ignore[arg-type]
    probe.close()
    held_out = _collect_episodes(cfg, action_dim)
    try:
        windows = eval_windows(held_out, cfg.context + cfg.horizon, stride=4, max_windows=cfg.eval_windows)
    except ValueError as e:
        raise UserError(f"held-out episodes are too short for --context + --horizon: {e}") from e
    eval_batch = to_torch(windows, device)

    run = RunDir.open(cfg, algo=ALGO)
    run.record_device(device)
    venv = make_vector_env(cfg.env, cfg.envs, seed=seeds.train_seed(cfg.seed))
    model = WorldModel(cfg.model, obs_shape, action_dim).to(device)
    apply_threads(cfg.threads, sum(p.numel() for p in model.parameters()))
    agent = WorldModelAgent(
        WorldModelLearner(model, cfg.model), action_dim, seed=seeds.train_seed(cfg.seed) + 1
    )
    last: dict[str, Any] = {}

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            result = openloop_eval(
                model, eval_batch, context=cfg.context, horizon=cfg.horizon, threshold=cfg.threshold
            )
        last.clear()
        last.update(result)
        tqdm.write(
            f"step {trainer.env_steps:,} (update {agent.learner.updates:,}): 1-step nmse "
            f"{result['nmse_1step']:.4f} (repeat-last {result['openloop_nmse_repeat_last'][0]:.4f}), "
            f"T_h {result['prediction_horizon']}"
        )
        return openloop_scalars(result)

    trainer = Trainer(agent, venv, run, cfg, cfg.trainer(), device=device, evaluator=evaluate)
    print(
        f"{env_id}: {cfg.steps:,} random-policy steps, {cfg.updates:,} updates of "
        f"{cfg.batch_size}x{cfg.seq_len} (train ratio {cfg.train_ratio:g}); {len(held_out)} held-out "
        f"episodes ({windows.obs.shape[0]} windows), obs {obs_shape}, actions {action_dim}; "
        f"run directory {run.path}",
        flush=True,
    )
    try:
        trainer.train()
    finally:
        venv.close()
    if not last:  # resumed a finished run: evaluate once more for the file
        evaluate()
    final = _final_train_metrics(agent.learner, trainer.replay, cfg, device, to_torch)
    out: dict[str, Any] = {
        "env": env_id,
        "objective": cfg.model.objective,
        "train_steps": trainer.env_steps,
        "updates": agent.learner.updates,
        "ms_per_update": 1000.0 * trainer.update_seconds / max(trainer.updates, 1),
        "batch_size": cfg.batch_size,
        "seq_len": cfg.seq_len,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "held_out_episodes": len(held_out),
        **last,
        "train_metrics": final,
    }
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


def _final_train_metrics(
    learner: Any, replay: Any, cfg: FitConfig, device: torch.device, to_torch: Any
) -> dict:
    """Training losses (and the collapse statistic) averaged over a few batches, without updating."""
    sums: dict[str, float] = {}
    n = 4
    learner.model.eval()  # no running-statistics updates
    with torch.no_grad():
        for _ in range(n):
            _, metrics, _ = learner.model.loss(to_torch(replay.sample(cfg.batch_size, cfg.seq_len), device))
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v / n
    return sums


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
    print(f"{out['env']} {out['objective']}: {out['updates']} updates, {out['ms_per_update']:.1f} ms/update")
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
    if "embed_spread" in out:
        print(f"  embedding spread (collapse statistic, ~1 healthy, 0 collapsed) {out['embed_spread']:.3f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    run_main(main)
