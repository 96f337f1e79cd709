"""Cost of one gradient update of the model-free baselines, as scripts.baseline builds them, on one thread.

    python benchmarks/sac-check/update_cost.py [--env Walker2d] [--updates 300] [--warmup 1000]
        [--only sac tqc crossq crossq-1024]

Each baseline is built with its RL-Zoo settings for the env (CrossQ twice: the Zoo's 2048-wide critics and
sb3-contrib's default 1024), its replay filled with ``--warmup`` random steps (learning_starts lowered for
the check), then ``--updates`` calls of SB3's own ``train(gradient_steps=1)`` are timed after 10 untimed
ones: wall time and this process's CPU time per update. On a machine shared with other jobs the wall time
grows with the load while the CPU time of a one-thread process stays near its cost alone, so both are given.
Prints a Markdown table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from agents.baselines import build_model
from agents.config import RunConfig
from agents.threads import cpu_model
from agents.zoo import Sb3Options, resolve_hyperparams
from envs import resolve_env_id

VARIANTS: dict[str, tuple[str, Sb3Options]] = {
    "sac": ("sac", Sb3Options()),
    "tqc": ("tqc", Sb3Options()),
    "crossq": ("crossq", Sb3Options()),  # the Zoo's MuJoCo entry: critics of 2048 x 2048
    "crossq-1024": ("crossq", Sb3Options(critic_arch=(1024, 1024))),  # sb3-contrib's default critics
}


def measure(name: str, env: str, updates: int, warmup: int) -> dict[str, float | str | int]:
    """Build ``name``'s model, fill its replay with ``warmup`` random steps, time ``updates`` updates."""
    algo, options = VARIANTS[name]
    options = dataclasses.replace(options, learning_starts=warmup)
    env_id = resolve_env_id(env)
    hp = resolve_hyperparams(algo, env_id, options)
    model = build_model(env_id, RunConfig(env=env, device="cpu", seed=0), hp)
    model.learn(warmup)  # random actions only: learning_starts == warmup, so no update yet
    batch = int(model.batch_size)
    for _ in range(10):
        model.train(gradient_steps=1, batch_size=batch)
    wall, cpu = [], []
    for _ in range(updates):
        w0, c0 = time.perf_counter(), time.process_time()
        model.train(gradient_steps=1, batch_size=batch)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    params = sum(p.numel() for p in model.policy.parameters())
    model.get_env().close()
    return {
        "variant": name,
        "source": hp.source,
        "params": params,
        "updates": updates,
        "wall_ms_mean": 1000 * float(np.mean(wall)),
        "wall_ms_median": 1000 * float(np.median(wall)),
        "cpu_ms_mean": 1000 * float(np.mean(cpu)),
        "cpu_ms_median": 1000 * float(np.median(cpu)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--env", default="Walker2d")
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--only", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(1)
    rows = []
    for name in args.only:
        rows.append(measure(name, args.env, args.updates, args.warmup))
        print(f"{name}: {rows[-1]['cpu_ms_median']:.1f} ms CPU per update", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    head = (
        f"{cpu_model()}, {os.cpu_count()} cores, load {load:.1f} at the end, 1 torch thread, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )
    print(f"\n{head}\n")
    print("| variant | parameters | CPU ms / update (median, mean) | wall ms / update (median, mean) |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['variant']} | {int(r['params']) / 1e6:.2f}M "
            f"| {r['cpu_ms_median']:.1f}, {r['cpu_ms_mean']:.1f} "
            f"| {r['wall_ms_median']:.1f}, {r['wall_ms_mean']:.1f} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": head, "env": args.env, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
