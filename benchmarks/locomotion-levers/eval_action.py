"""Score a Dreamer run's checkpoints with each evaluation action: tanh(mu), E[squash(u)] and a sample.

    python benchmarks/locomotion-levers/eval_action.py RUN_DIR [RUN_DIR ...] [--draws 3] [--at STEP ...]
        [--out FILE.json]

For every checkpoint kept in each run (``checkpoints/ckpt-*.pt``) the run's own evaluation protocol
(its ``eval_episodes`` envs, seeds ``eval_seed(seed) + i``) is replayed ``--draws`` times per action choice
(``--agent.eval-action mode|mean|sample``); each draw seeds torch with its index (the latent posterior is
sampled, so a return varies from draw to draw even with ``mode``). Prints a Markdown table (mean return
over draws per checkpoint and choice) and writes every return to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agents import configs
from agents.evaluation import evaluate

CHOICES = ("mode", "mean", "sample")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--at", type=int, nargs="*", default=[], help="only the checkpoints of these steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[dict[str, object]] = []
    print("| run | step | " + " | ".join(CHOICES) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in CHOICES) + " |")
    for run in args.runs:
        ckpts = sorted((run / "checkpoints").glob("ckpt-*.pt"))
        for ckpt in [c for c in ckpts if not args.at or int(c.stem.split("-")[1]) in args.at]:
            cfg, agent, state = configs.load_dreamer(run, ckpt)
            step = int(state.get("step", -1))
            means = []
            for how in CHOICES:
                agent.actor.eval_action = how
                returns = []
                for draw in range(args.draws):
                    torch.manual_seed(draw)
                    res = evaluate(agent, cfg.env, cfg.envs, episodes=cfg.eval_episodes, seed=cfg.seed)
                    returns.append(res.returns.tolist())
                means.append(float(np.mean(returns)))
                rows.append({"run": str(run), "step": step, "action": how, "returns": returns})
            print(f"| {run} | {step} | " + " | ".join(f"{m:.0f}" for m in means) + " |", flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
