"""Sampling planners over action sequences: CEM, MPPI and random shooting.

They optimise ``objective(actions (E, N, H, A)) -> returns (E, N)`` for E independent problems at once and
know nothing of any model. ``plan(objective, init, prior=...) -> (actions (E, H, A), next_init (E, H, A))``.
"""

from __future__ import annotations

from typing import Literal

import torch

from planners.base import GaussianPlanner, Objective, Planner, PlanStats, Prior
from planners.cem import CEM
from planners.config import PlannerConfig
from planners.mppi import MPPI
from planners.shooting import RandomShooting

PlannerKind = Literal["cem", "mppi", "shooting"]
"""Names of the planners, as chosen on the command line (``--planner``)."""

PLANNERS: dict[str, type[Planner]] = {"cem": CEM, "mppi": MPPI, "shooting": RandomShooting}
"""Planner classes by name."""


def make_planner(
    kind: PlannerKind,
    cfg: PlannerConfig,
    action_dim: int,
    *,
    device: torch.device | str = "cpu",
    seed: int | None = None,
) -> Planner:
    """Build the planner named ``kind`` (``cem``, ``mppi`` or ``shooting``)."""
    if kind not in PLANNERS:
        raise ValueError(f"unknown planner {kind!r}; choose from {sorted(PLANNERS)}")
    return PLANNERS[kind](cfg, action_dim, device=device, seed=seed)


__all__ = [
    "CEM",
    "MPPI",
    "PLANNERS",
    "GaussianPlanner",
    "Objective",
    "PlanStats",
    "Planner",
    "PlannerConfig",
    "PlannerKind",
    "Prior",
    "RandomShooting",
    "make_planner",
]
