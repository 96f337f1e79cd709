"""What each world-model family costs, measured side by side in one process: ms per update and ms per
predicted step of 512 states (what imagination or a planner pays), parameters.

The fits' own ``ms_per_update`` comes from runs minutes or hours apart on a shared machine whose load
changed; here every family is timed in the same rounds (round robin, one thread, the median over rounds),
so the numbers compare with each other even on a loaded machine (not with an idle one).

Usage: python benchmarks/fidelity/cost.py [--rounds 7] [--out benchmarks/fidelity/cost.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from envs.episode import SequenceBatch
from envs.particles import MASSES, ParticleLayout
from world_model import WorldModel, world_model_preset
from world_model.learner import WorldModelLearner
from world_model.state_fit import build_state_model
from world_model.transitions import Transitions, transitions_to_batch

OBS, ACT = 11, 3  # Hopper's sizes
STATES = 512


def _transitions(n: int, obs: int, act: int, g: torch.Generator) -> Transitions[torch.Tensor]:
    o = torch.randn(n, obs, generator=g)
    return Transitions(
        o, torch.rand(n, act, generator=g) * 2 - 1, o + 0.1 * torch.randn(n, obs, generator=g),
        torch.randn(n, generator=g), torch.zeros(n, dtype=torch.bool),
    )  # fmt: skip


def _families() -> dict[str, tuple[Callable[[], None], Callable[[], None], int]]:
    """name -> (one update, one predicted step of 512 states, parameters)."""
    g = torch.Generator().manual_seed(0)
    out: dict[str, tuple[Callable[[], None], Callable[[], None], int]] = {}
    seq = SequenceBatch(
        torch.randn(16, 64, OBS, generator=g), torch.rand(16, 64, ACT, generator=g) * 2 - 1,
        torch.randn(16, 64, generator=g), torch.zeros(16, 64, dtype=torch.bool),
        torch.zeros(16, 64, dtype=torch.bool), torch.zeros(16, 64, dtype=torch.bool),
    )  # fmt: skip
    for objective in ("reconstruction", "latent", "contrastive"):
        cfg = dataclasses.replace(world_model_preset("small"), objective=objective)  # type: ignore[arg-type]
        model = WorldModel(cfg, (OBS,), ACT)
        learner = WorldModelLearner(model, cfg)
        start = model.initial(STATES)
        acts = torch.zeros(STATES, 1, ACT)

        def imagine(model: WorldModel = model, start: object = start, acts: torch.Tensor = acts) -> None:
            with torch.no_grad():
                model.imagine(start, acts, 1)  # type: ignore[arg-type]

        out[f"rssm-{objective}"] = (
            lambda learner=learner: learner.update(seq),
            imagine,
            sum(p.numel() for p in model.parameters()),
        )
    for family, obs, layout in (
        ("ensemble", OBS, None), ("ebm", OBS, None), ("diffusion", OBS, None),
        ("graph", 16, ParticleLayout(MASSES, 2)),
    ):  # fmt: skip
        state_model, learner_s = build_state_model(family, (obs,), ACT, layout=layout)  # type: ignore[arg-type]
        rows = 5 * 256 if family == "ensemble" else 256
        batch = transitions_to_batch(_transitions(rows, obs, ACT, g))
        learner_s.update(batch)  # normalisers set
        states = _transitions(STATES, obs, ACT, g)

        def step(model: object = state_model, states: Transitions[torch.Tensor] = states) -> None:
            model.rollout(states.obs, states.action[:, None], particles=1)  # type: ignore[attr-defined]

        out[family] = (
            lambda learner=learner_s, batch=batch: learner.update(batch),
            step,
            sum(p.numel() for p in state_model.parameters()),
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--updates", type=int, default=5, help="updates (and predicted steps) per round")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "cost.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    fams = _families()
    times: dict[str, dict[str, list[float]]] = {k: {"update": [], "step": []} for k in fams}
    for _ in range(args.rounds):
        for name, (update, step, _) in fams.items():
            for kind, fn in (("update", update), ("step", step)):
                t0 = time.perf_counter()
                for _ in range(args.updates):
                    fn()
                times[name][kind].append(1000 * (time.perf_counter() - t0) / args.updates)
    result = {
        name: {
            "parameters": fams[name][2],
            "ms_per_update": statistics.median(times[name]["update"]),
            "ms_per_step_512": statistics.median(times[name]["step"]),
        }
        for name in fams
    }
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    meta = {
        "threads": 1,
        "rounds": args.rounds,
        "load_average_1min_at_end": float(load),
        "torch": torch.__version__,
    }
    args.out.write_text(json.dumps({"meta": meta, "families": result}, indent=2) + "\n")
    print("| family | params | ms / update | ms / predicted step (512 states) |\n| --- | --- | --- | --- |")
    for name, r in result.items():
        print(
            f"| {name} | {r['parameters'] / 1e3:.0f}k | {r['ms_per_update']:.1f} "
            f"| {r['ms_per_step_512']:.1f} |"
        )
    print(f"load average at the end: {load}; wrote {args.out}")


if __name__ == "__main__":
    main()
