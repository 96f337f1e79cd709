"""The world models of the energy-regulariser runs, scored open-loop on one common held-out set.

    python benchmarks/energy-regulariser/drift.py RUNS_DIR HELD_OUT_RUN FROM_STEP TO_STEP

RUNS_DIR holds ``<variant>/<seed>/`` runs of ``scripts.dream`` (``run.sh``). The world model of each run's
newest checkpoint predicts 15 steps open-loop after 5 observed ones, under the real actions, on windows
of the episodes that another run (``HELD_OUT_RUN``, e.g. a SAC run: another agent's states, equally new
to every scored model) collected between its env steps ``FROM_STEP`` and ``TO_STEP``; MuJoCo computes
the energy of the decoded states. Prints a Markdown table: per variant and seed, nMSE at 1 / 5 / 15
steps, the mean energy error, and the energy drift of the imagined trajectories against that of the
real ones (J; see ``world_model.evaluation``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, os.getcwd())

from agents.configs import load_dreamer
from envs.episode import read_episode
from envs.physics import physics_for
from envs.replay import to_torch
from world_model.evaluation import eval_windows, openloop_eval

CONTEXT, HORIZON = 5, 15
HEADER = (
    "| variant | seed | 1-step nMSE | 5-step | 15-step | energy err (J) | energy drift imagined / real (J) |"
)


def main() -> None:
    torch.set_num_threads(1)
    root, held_run = Path(sys.argv[1]), Path(sys.argv[2])
    lo, hi = int(sys.argv[3]), int(sys.argv[4])
    episodes, end = [], 0
    for f in sorted((held_run / "episodes").glob("*.npz")):
        ep = read_episode(f)
        end += len(ep) - 1  # env steps of the run when this episode ended
        if lo < end <= hi:
            episodes.append(ep)
    windows = eval_windows(episodes, CONTEXT + HORIZON, max_windows=512)
    batch = to_torch(windows, torch.device("cpu"))
    n = len(windows.obs)
    print(f"held-out: {len(episodes)} episodes of {held_run} that ended in steps ({lo}, {hi}]: {n} windows\n")
    print(HEADER)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for variant in sorted(p for p in root.iterdir() if p.is_dir()):
        for run in sorted(p for p in variant.iterdir() if list(p.glob("checkpoints/*.pt"))):
            cfg, agent, _ = load_dreamer(run)
            model = agent.world_model
            torch.manual_seed(0)  # the same posterior and prior draws for every model
            with torch.no_grad():
                r = openloop_eval(
                    model, batch, context=CONTEXT, horizon=HORIZON, physics=physics_for(cfg.env)
                )
            nmse = r["openloop_nmse"]
            print(
                f"| {variant.name} | {run.name} | {nmse[0]:.3f} | {nmse[4]:.3f} | {nmse[14]:.3f} |"
                f" {r['energy_error']:.1f} | {r['energy_drift']:.1f} / {r['energy_drift_real']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
