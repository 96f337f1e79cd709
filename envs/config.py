"""Environment options shared by every script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envs.errors import UserError


@dataclass(frozen=True)
class EnvConfig:
    """How environments are built (the env name itself is the top-level ``--env``)."""

    obs: Literal["state", "pixels"] = "state"
    """Observation kind: the simulator's state vector, or RGB frames rendered offscreen by MuJoCo."""
    size: int = 64
    """Side of square pixel observations, in pixels (with ``obs=pixels``)."""
    action_repeat: int = 1
    """Each agent action is applied this many simulator steps; rewards are summed."""
    num_envs: int = 1
    """Number of environments stepped together for collection."""
    vector: Literal["sync", "async"] = "sync"
    """Vector env kind: ``sync`` steps envs in this process (best on 2 cores), ``async`` in subprocesses."""
    fast_render: bool = True
    """Turn off shadows, reflections and skybox when rendering pixels (about 10x faster in software GL)."""
    max_episode_steps: int | None = None
    """Episode time limit in simulator steps (a truncation, not a terminal state); default: the env's own."""

    def __post_init__(self) -> None:
        if self.obs not in ("state", "pixels"):
            raise UserError(f"--envs.obs must be state or pixels, got {self.obs!r}")
        if self.size < 8:
            raise UserError(f"--envs.size (pixels) must be at least 8, got {self.size}")
        if self.action_repeat < 1:
            raise UserError(f"--envs.action-repeat must be at least 1, got {self.action_repeat}")
        if self.num_envs < 1:
            raise UserError(f"--envs.num-envs must be at least 1, got {self.num_envs}")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise UserError(f"--envs.max-episode-steps must be at least 1, got {self.max_episode_steps}")
