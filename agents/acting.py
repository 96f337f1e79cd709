"""The step every model-based agent takes before choosing an action: observe the new observation."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from envs.episode import StepObs


class Observer(Protocol):
    """What :func:`observe_step` needs of a world model (``world_model.WorldModel`` provides it)."""

    def obs_step(self, state: Any, action: Tensor, obs: Tensor, is_first: Tensor) -> Any:
        """Posterior (N, ...) after ``action`` (N, A) led to ``obs`` (N, ...); resets at ``is_first``."""
        ...


def observe_step(
    world_model: Observer,
    latent: Any,
    action: Tensor | None,
    obs: StepObs,
    device: torch.device,
    action_dim: int,
    *,
    looks: int = 1,
) -> tuple[Any, Tensor]:
    """The posterior latent of N envs after their new observations.

    Rows where ``obs.is_first`` (all rows when there is no previous ``latent``) start from the initial
    state with a zero previous action.

    Args:
        world_model: the agent's model.
        latent: the previous posterior (N, ...), or ``None`` for a fresh start.
        action: the previous actions (N, A) that led to ``obs`` (``None`` with ``latent=None``).
        obs: observations (N, ...) and ``is_first`` (N,).
        device: the model's device.
        action_dim: A.
        looks: posterior steps on the first observation of the rows that start afresh (1: one; each
            further one treats the observation as seen again after a zero action). The latent must then
            be a tuple of (N, ...) tensors (``RSSMState``).

    Returns:
        (posterior (N, ...), ``first`` (N,) bool: the rows that started afresh).
    """
    o_np = np.asarray(obs.obs)
    if o_np.dtype.kind == "f" and o_np.dtype != np.float32:
        o_np = o_np.astype(np.float32)  # cheaper here than as a tensor op
    elif not o_np.flags.writeable:  # torch.from_numpy wants a writeable array
        o_np = o_np.copy()
    first_np = np.asarray(obs.is_first, dtype=bool)
    o, first = torch.from_numpy(o_np), torch.from_numpy(first_np)
    if device.type != "cpu":
        o, first = o.to(device, non_blocking=True), first.to(device, non_blocking=True)
    if latent is None or action is None:
        first = torch.ones_like(first)
        prev = torch.zeros(o.shape[0], action_dim, device=device)
    else:
        prev = action * (~first).unsqueeze(-1).to(action.dtype)
    post = world_model.obs_step(latent, prev, o, first)
    if looks > 1 and (latent is None or action is None or bool(first_np.any())):  # host-side: no device sync
        zero_action, no_reset = torch.zeros_like(prev), torch.zeros_like(first)
        for _ in range(looks - 1):
            again = world_model.obs_step(post, zero_action, o, no_reset)
            post = type(post)(*(_rows_where(first, b, a) for a, b in zip(post, again, strict=True)))
    return post, first


def _rows_where(rows: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """``new`` where ``rows`` (N,) is set, else ``old``; both (N, ...)."""
    return torch.where(rows.view(-1, *([1] * (new.dim() - 1))), new, old)
