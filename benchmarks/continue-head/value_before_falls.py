"""Does a Dreamer run's critic see a fall coming on episodes it has not trained on?

    python benchmarks/continue-head/value_before_falls.py RUN_DIR CHECKPOINT

For every episode collected after the checkpoint that ended in a fall, the critic's value of the posterior
state k steps before the terminal state, beside the real discounted return-to-go from that state (the
rewards after it, discounted by the run's gamma; zero after the fall). A critic that foresees the fall
tracks the real return-to-go down to zero; one that does not stays at the level of a robot that keeps going.
The posterior's latent samples are not seeded: values move by 1-2 between two runs of the script.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.getcwd())
sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe import load_run, posterior

BEFORE = (1, 5, 10, 20, 40, 80, 160)


def return_to_go(reward: np.ndarray, gamma: float) -> np.ndarray:
    """(T,) discounted sum of the rewards after each step (``reward[t]`` arrives on entering step t)."""
    out = np.zeros(len(reward))
    acc = 0.0
    for t in range(len(reward) - 1, -1, -1):
        out[t] = acc
        acc = float(reward[t]) + gamma * acc
    return out


def main() -> None:
    torch.set_num_threads(1)
    run, checkpoint = Path(sys.argv[1]), sys.argv[2]
    cfg, agent, episodes, later = load_run(run, checkpoint)
    falls = [ep for ep, new in zip(episodes, later, strict=True) if new and bool(ep.terminated[-1])]
    gamma = cfg.agent.gamma
    rows: dict[int, tuple[list[float], list[float]]] = {k: ([], []) for k in BEFORE}
    with torch.no_grad():
        for ep in falls:
            value = agent.value(agent.world_model.feat(posterior(agent.world_model, ep))).numpy()
            real = return_to_go(ep.reward.astype(np.float64), gamma)
            for k, (v, r) in rows.items():
                t = len(ep.obs) - 1 - k
                if t >= 1:
                    v.append(float(value[t]))
                    r.append(float(real[t]))
    print(f"{run} at {checkpoint}: {len(falls)} later episodes ending in a fall, gamma {gamma}\n")
    print("| steps before the fall | episodes | critic value | real return-to-go |")
    print("| --- | --- | --- | --- |")
    for k, (v, r) in rows.items():
        if v:
            print(f"| {k} | {len(v)} | {np.mean(v):.1f} | {np.mean(r):.1f} |")


if __name__ == "__main__":
    main()
