"""Environment options shared by every script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
