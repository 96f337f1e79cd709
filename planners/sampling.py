"""What the planners share: drawing candidate action sequences within the bounds, and the warm-start shift.

Actions live in [-1, 1] (envs rescale every action space to it). Tensors are batched over E independent
problems: plans are (E, H, A), candidates (E, N, H, A).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

LOW = -1.0
"""Lower action bound."""
HIGH = 1.0
"""Upper action bound."""


def gaussian_candidates(mean: Tensor, std: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Draw ``n`` sequences per problem from N(mean, std^2), clipped to the action bounds.

    Args:
        mean: (E, H, A) sampling mean.
        std: (E, H, A) sampling standard deviation.
        n: candidates per problem.
        generator: random stream (on the tensors' device).

    Returns:
        (E, n, H, A) candidates in [LOW, HIGH].
    """
    e, h, a = mean.shape
    noise = torch.randn((e, n, h, a), generator=generator, device=mean.device, dtype=mean.dtype)
    return (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp(LOW, HIGH)


def uniform_candidates(
    e: int, n: int, h: int, a: int, generator: torch.Generator, *, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Draw ``n`` sequences per problem uniformly in the action box.

    Returns:
        (E, n, H, A) candidates in [LOW, HIGH].
    """
    u = torch.rand((e, n, h, a), generator=generator, device=device, dtype=dtype)
    return LOW + (HIGH - LOW) * u


def shift_plan(plan: Tensor, fill: Literal["repeat", "zero"]) -> Tensor:
    """Warm start for the next step: the plan moved one step earlier.

    Args:
        plan: (E, H, A) plan chosen at this step (its first action is executed now).
        fill: the new last step repeats the old last step (``repeat``) or is zero (``zero``).

    Returns:
        (E, H, A) with ``out[:, :-1] = plan[:, 1:]``.
    """
    last = plan[:, -1:] if fill == "repeat" else torch.zeros_like(plan[:, -1:])
    return torch.cat([plan[:, 1:], last], dim=1)
