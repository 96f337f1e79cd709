"""Side by side: one full update (world model + behaviour) of NM512/dreamerv3-torch and of dreamkit.

Builds their ``WorldModel`` and ``ImagBehavior`` from their ``configs.yaml`` (``defaults`` + ``dmc_proprio``)
and our ``DreamerAgent`` at the same sizes, feeds both the same random Walker2d-shaped batch (17-dim
observations, 6-dim actions, 16 x 64 steps; imagination 15 steps from all 1,024 posterior states) and times
one update of each, interleaved, on one CPU thread: the median of ``--repeats`` after ``--warmup``. Our side
uses the maths of theirs where the toolkit has the choice (actor gradient through the dynamics, no critic
loss on replayed sequences); the remaining differences are listed in README.md.

It fetches nothing: pass the path of a local checkout of https://github.com/NM512/dreamerv3-torch. Their
code is imported from there (and extra packages, if their imports need any, from ``--site``, a folder
filled with ``pip install --target``)::

    OMP_NUM_THREADS=1 python benchmarks/dreamerv3-torch/compare.py /tmp/nm512 --repeats 20 \\
        --out benchmarks/dreamerv3-torch/result.json

Run it from the repository root (``python benchmarks/...``; our packages are imported from the current
directory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

OBS_DIM, ACTION_DIM, BATCH, LENGTH, HORIZON = 17, 6, 16, 64, 15

SIZES: dict[str, dict[str, int]] = {
    # their dmc_proprio sizes: RSSM 512 / 512, 32 x 32 latents, encoder / decoder 5 x 1024, heads and
    # actor / critic 2 x 512
    "proprio": {"deter": 512, "hidden": 512, "units": 512, "mlp_units": 1024},
    # small: RSSM 256 / 256, 32 x 32 latents, every MLP 256 wide (encoder / decoder 5 layers, the rest 2)
    "small": {"deter": 256, "hidden": 256, "units": 256, "mlp_units": 256},
}


def _number(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads ``1e-4`` as a string; their loader (YAML 1.2) as a float."""
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value):
        return float(value)
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    return value


def their_config(checkout: Path, size: dict[str, int]) -> SimpleNamespace:
    """Their config: ``defaults`` updated by ``dmc_proprio`` (recursively, as their loader does) and the
    sizes compared."""
    import yaml

    configs = yaml.safe_load((checkout / "configs.yaml").read_text())
    merged: dict[str, Any] = {}

    def update(base: dict[str, Any], new: dict[str, Any]) -> None:
        for k, v in new.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                update(base[k], v)
            else:
                base[k] = v

    update(merged, configs["defaults"])
    update(merged, configs["dmc_proprio"])
    merged = _number(merged)
    merged.update(
        device="cpu",
        compile=False,
        precision=32,
        num_actions=ACTION_DIM,
        batch_size=BATCH,
        batch_length=LENGTH,
        imag_horizon=HORIZON,
        imag_gradient="dynamics",
        dyn_deter=size["deter"],
        dyn_hidden=size["hidden"],
        dyn_stoch=32,
        dyn_discrete=32,
        units=size["units"],
    )
    for part in ("encoder", "decoder"):
        merged[part] = {**merged[part], "mlp_units": size["mlp_units"], "mlp_layers": 5}
    return SimpleNamespace(**merged)


def build_theirs(checkout: Path, size: dict[str, int]) -> tuple[Callable[[dict[str, np.ndarray]], None], int]:
    """Their world model and behaviour: one full update (as their ``Dreamer._train``) and the parameters."""
    import gymnasium as gym

    sys.path.insert(0, str(checkout))
    import models  # their models.py
    import networks
    import tools

    config = their_config(checkout, size)
    # Their MLP and DiscDist default to device "cuda" where the caller passes none (the encoder, the
    # decoder): point those defaults at the CPU, the only change to their code's behaviour.
    for fn in (networks.MLP.__init__, tools.DiscDist.__init__):
        fn.__defaults__ = tuple(config.device if d == "cuda" else d for d in fn.__defaults__ or ())
    obs_space = gym.spaces.Dict({"obs": gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)})
    act_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
    wm = models.WorldModel(obs_space, act_space, 0, config)
    behavior = models.ImagBehavior(config, wm)

    def reward(f: Any, s: Any, a: Any) -> Any:
        return wm.heads["reward"](wm.dynamics.get_feat(s)).mode()

    def update(data: dict[str, np.ndarray]) -> None:
        post, _, _ = wm._train(data)
        behavior._train(post, reward)

    params = sum(p.numel() for m in (wm, behavior.actor, behavior.value) for p in m.parameters())
    return update, params


def build_ours(size: dict[str, int]) -> tuple[Callable[[Any], Any], int]:
    """Our Dreamer agent at the same sizes, with their actor gradient and critic targets: one full update
    and the parameters."""
    import torch

    from agents.dreamer import ActorCriticConfig, DreamerAgent
    from world_model.config import EncoderConfig, HeadsConfig, LossConfig, RSSMConfig, WorldModelConfig

    # 255 bins, unweighted terminals, their discount, learning rates and clip: the values of the
    # measurement in README.md (written out since the class defaults became the `cpu` preset's)
    wm = WorldModelConfig(
        rssm=RSSMConfig(deter=size["deter"], hidden=size["hidden"], stoch=32, classes=32),
        encoder=EncoderConfig(mlp_units=size["mlp_units"], mlp_layers=5),
        heads=HeadsConfig(units=size["units"], layers=2, bins=255),
        loss=LossConfig(terminal_weight=1.0),
    )
    ac = ActorCriticConfig(
        horizon=HORIZON,
        imag_starts=0,  # all B x T posterior states, as theirs
        hidden=size["units"],
        layers=2,
        actor_grad="dynamics",
        replay_value=0.0,  # theirs has no critic loss on replayed sequences
        gamma=0.997,
        actor_lr=8e-5,
        critic_lr=8e-5,
        grad_clip=100.0,
        critic_bins=255,
    )
    agent = DreamerAgent.build(wm, ac, (OBS_DIM,), ACTION_DIM, device=torch.device("cpu"))
    params = sum(p.numel() for m in (agent.world_model, agent.actor, agent.critic) for p in m.parameters())
    return agent.update, params


def batches(seed: int) -> tuple[dict[str, np.ndarray], Any]:
    """The same random batch in their format (dict of arrays) and ours (``SequenceBatch`` of tensors)."""
    import torch

    from envs.episode import SequenceBatch

    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(BATCH, LENGTH, OBS_DIM)).astype(np.float32)
    action = rng.uniform(-1, 1, (BATCH, LENGTH, ACTION_DIM)).astype(np.float32)
    reward = rng.normal(size=(BATCH, LENGTH)).astype(np.float32)
    is_first = np.zeros((BATCH, LENGTH), bool)
    is_first[:, 0] = True
    terminal = np.zeros((BATCH, LENGTH), bool)
    theirs = {
        "obs": obs,
        "action": action,
        "reward": reward,
        "is_first": is_first,
        "is_terminal": terminal,
        "image": np.zeros((BATCH, LENGTH, 1), np.float32),  # their preprocess always scales "image"
    }
    ours = SequenceBatch(
        obs=torch.from_numpy(obs),
        action=torch.from_numpy(action),
        reward=torch.from_numpy(reward),
        terminated=torch.from_numpy(terminal),
        truncated=torch.zeros(BATCH, LENGTH, dtype=torch.bool),
        is_first=torch.from_numpy(is_first),
    )
    return theirs, ours


def compare(checkout: Path, size_name: str, repeats: int, warmup: int) -> dict[str, Any]:
    """Median seconds per full update of theirs and ours at one size (interleaved)."""
    import torch

    size = SIZES[size_name]
    torch.manual_seed(0)
    theirs, their_params = build_theirs(checkout, size)
    ours, our_params = build_ours(size)
    data, batch = batches(0)
    times: dict[str, list[float]] = {"theirs": [], "ours": []}
    for i in range(warmup + repeats):
        runs: tuple[tuple[str, Callable[[Any], Any], Any], ...] = (
            ("theirs", theirs, data),
            ("ours", ours, batch),
        )
        for name, fn, arg in runs:
            t0 = time.perf_counter()
            fn(arg)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    row: dict[str, Any] = {"size": size_name, **size, "repeats": repeats}
    row.update(theirs_params=their_params, ours_params=our_params)
    for name, ts in times.items():
        row[f"{name}_s"] = statistics.median(ts)
    row["ours_over_theirs"] = row["ours_s"] / row["theirs_s"]
    return row


def main() -> None:
    """Parse the arguments, compare at each size, print (and write) the result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkout", type=Path, help="local checkout of NM512/dreamerv3-torch")
    parser.add_argument(
        "--site", type=Path, help="folder of extra packages their imports need (pip --target)"
    )
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=10, help="timed updates of each (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed updates of each first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args()
    if not (args.checkout / "models.py").is_file():
        parser.error(f"{args.checkout} is not a checkout of NM512/dreamerv3-torch (no models.py)")
    if args.site is not None:
        sys.path.insert(0, str(args.site))
    sys.path.insert(0, os.getcwd())  # our packages, from the repository root
    import torch

    torch.set_num_threads(args.threads)
    rows = [compare(args.checkout, s, args.repeats, args.warmup) for s in args.sizes]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "threads": args.threads,
        "batch": [BATCH, LENGTH],
        "imagination": [BATCH * LENGTH, HORIZON],
        "rows": rows,
    }
    for r in rows:
        print(
            f"{r['size']}: theirs {1000 * r['theirs_s']:.0f} ms, ours {1000 * r['ours_s']:.0f} ms per update "
            f"(ours / theirs {r['ours_over_theirs']:.2f}; median of {r['repeats']}, {args.threads} thread)"
        )
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
