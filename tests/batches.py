"""Random replay batches for the unit tests of learners and agents."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from envs.episode import SequenceBatch


def random_batch(
    B: int,
    T: int,
    obs_shape: tuple[int, ...] = (3,),
    action_dim: int = 1,
    *,
    seed: int = 0,
    starts: Iterable[tuple[int, int]] = (),
    ends: Iterable[tuple[int, int]] = ((0, -1),),
) -> SequenceBatch[Tensor]:
    """A (B, T) batch drawn from one seeded generator, in this order: observations (N(0, 1), or uint8
    frames for a 3-d ``obs_shape``), actions (U(-1, 1)), rewards (N(0, 1)). Every row starts an episode
    at t = 0, and another at each (row, t) of ``starts``; the env terminated at each (row, t) of ``ends``
    (default: the last step of row 0); nothing is truncated."""
    g = torch.Generator().manual_seed(seed)
    if len(obs_shape) == 3:
        obs = torch.randint(0, 256, (B, T, *obs_shape), generator=g, dtype=torch.uint8)
    else:
        obs = torch.randn(B, T, *obs_shape, generator=g)
    action = torch.rand(B, T, action_dim, generator=g) * 2 - 1
    reward = torch.randn(B, T, generator=g)
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = True
    for row, t in starts:
        is_first[row, t] = True
    terminated = torch.zeros(B, T, dtype=torch.bool)
    for row, t in ends:
        terminated[row, t] = True
    return SequenceBatch(obs, action, reward, terminated, torch.zeros(B, T, dtype=torch.bool), is_first)
