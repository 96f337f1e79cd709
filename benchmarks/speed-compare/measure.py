"""Speed of one Dreamer configuration on Walker2d, measured by the checkout it runs from.

Used to time the same maths before and after this project's speed work, and the new `cpu` preset:
run it from the root of a checkout (the old commit's or today's), one thread, idle machine:

    OMP_NUM_THREADS=1 MUJOCO_GL=egl python benchmarks/speed-compare/measure.py NAME [FLAGS...] > row.json

NAME labels the row; FLAGS are `scripts.dream` options applied to the `cpu` preset (e.g. the flags that
give today's code the old actor-critic). It prints one JSON row: ms per world-model / actor-critic update
(medians of 20 after warm-up), collection env steps/s with the agent acting (1000 steps) and the
training env steps/s these imply at the configuration's train ratio.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import torch


def main() -> None:
    sys.path.insert(0, os.getcwd())  # the checkout this runs from, not the installed one
    name, flags = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(1)
    try:  # today's layout, then the older one
        presets = importlib.import_module("agents.configs").DREAM_PRESETS
        config_cls = importlib.import_module("agents.configs").DreamConfig
        speed = importlib.import_module("analysis.speed")
    except ImportError:
        presets = importlib.import_module("scripts.dream").PRESETS
        config_cls = importlib.import_module("scripts.dream").DreamConfig
        speed = importlib.import_module("agents.speed")
    import tyro

    cfg = tyro.cli(config_cls, default=presets["cpu"], args=flags)
    row = speed.measure_preset(
        name, cfg, "Walker2d", device=torch.device("cpu"), updates=20, collect_steps=1000
    )
    row["flags"] = flags
    print(json.dumps(row))


if __name__ == "__main__":
    main()
