"""Configuration fields shared by every script (the command-line contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import tyro

from envs import seeds
from envs.config import EnvConfig
from envs.errors import UserError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class RunConfig:
    """Fields every script's config starts with: ``--env --steps --seed --run-dir --resume --device
    --threads``."""

    env: str = "Pendulum"
    """Environment: a short name (Walker2d, Hopper, Pendulum, ...) or a full Gymnasium id (Walker2d-v5)."""
    preset: Annotated[str | None, tyro.conf.Suppress] = None
    """The named defaults the run started from (``--preset NAME``; recorded in config.yaml). Scripts with
    presets list them in ``--help`` (see :func:`agents.cli.parse_config`); here it is only recorded."""
    steps: int = 100_000
    """Training budget in environment steps (simulator steps, after action repeat)."""
    seed: int = 0
    """Random seed (training envs, networks, replay sampling). Evaluation uses disjoint seeds."""
    run_dir: Annotated[Path | None, tyro.conf.arg(metavar="PATH")] = None
    """Run directory. Default: runs/<env>/<algo>/<seed>-<timestamp>."""
    resume: bool = False
    """Continue the run in --run-dir from its last checkpoint, with its saved config."""
    device: str = "auto"
    """Torch device for updates: auto (cuda if available, else cpu), cpu, cuda, cuda:1, ..."""
    threads: int = 0
    """Torch CPU threads (0: automatic: 1 for small models, else up to 4 of the free cores; see
    agents/threads.py)."""
    eval_every: int = 10_000
    """Evaluate every this many environment steps (and at the end)."""
    eval_early: tuple[int, ...] = (1000, 2500, 5000)
    """Extra evaluations at these environment steps, so that the first minutes of a run already say
    whether it learns (an empty list: none)."""
    eval_episodes: int = 10
    """Episodes per evaluation, each in its own env instance, deterministic actions."""
    envs: EnvConfig = field(default_factory=EnvConfig)
    """How environments are built."""

    def __post_init__(self) -> None:
        at_least = {"steps": 1, "eval_every": 1, "eval_episodes": 1, "threads": 0}
        for name, low in at_least.items():
            value = getattr(self, name)
            if value < low:
                raise UserError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
        max_seed = seeds.EVAL_OFFSET // seeds.SEED_STRIDE - 1  # training seeds stay below evaluation seeds
        if not 0 <= self.seed <= max_seed:
            raise UserError(f"--seed must be in [0, {max_seed}], got {self.seed}")
        bad = [step for step in self.eval_early if step < 1]
        if bad:
            raise UserError(f"--eval-early steps must be at least 1, got {bad[0]}")


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; otherwise the named device (checked to exist).

    Raises:
        UserError: an unknown device name, or CUDA asked for where there is none.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UserError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available")
    return device
