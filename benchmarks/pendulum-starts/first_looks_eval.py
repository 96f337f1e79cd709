"""A Dreamer run's latest checkpoint under its own evaluation protocol, acting with one look at an
episode's first observation against two (``--agent.first-looks``), paired by torch seed per draw.

    python benchmarks/pendulum-starts/first_looks_eval.py DRAWS RUN_DIR [RUN_DIR ...]

Prints, per run, the eval return (mean of the run's ``eval_episodes`` deterministic episodes) of each draw
with ``first_looks`` 1 and 2. The draws differ only in the latent posterior's samples (torch seed = draw
index), so a run's own eval.csv figure at that step is one more draw of the first arm.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agents import configs
from agents.evaluation import evaluate_run


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    torch.set_num_threads(1)
    draws = int(sys.argv[1])
    for run in map(Path, sys.argv[2:]):
        cfg, agent, state = configs.load_dreamer(run)
        out = {}
        for looks in (1, 2):
            agent.cfg = dataclasses.replace(agent.cfg, first_looks=looks)
            returns = []
            for draw in range(draws):
                torch.manual_seed(draw)
                returns.append(evaluate_run(agent, cfg).return_mean)
            out[looks] = returns
        cells = {k: " ".join(f"{v:.0f}" for v in vs) + f" (mean {np.mean(vs):.0f})" for k, vs in out.items()}
        step = state.get("step")
        print(f"{run} step {step}: first_looks=1 {cells[1]}; first_looks=2 {cells[2]}", flush=True)


if __name__ == "__main__":
    main()
