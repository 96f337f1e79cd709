"""Single transitions for models on the state itself (ensemble, Hamiltonian), and what those models provide.

An episode of L + 1 records (:mod:`envs.episode`) gives L transitions: from ``obs[t - 1]`` the action
``action[t]`` leads to ``obs[t]`` with ``reward[t]`` and ``terminated[t]``, t = 1..L.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, NamedTuple, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor

from envs.episode import Episode

ArrayT = TypeVar("ArrayT")


class Transitions(NamedTuple, Generic[ArrayT]):
    """N transitions (numpy or torch).

    Attributes:
        obs: (N, D) observation before the step.
        action: (N, A) action taken.
        next_obs: (N, D) observation after it.
        reward: (N,) reward received on arriving.
        terminated: (N,) bool, the arrival state is terminal.
    """

    obs: ArrayT
    action: ArrayT
    next_obs: ArrayT
    reward: ArrayT
    terminated: ArrayT


def transitions_from_episodes(episodes: Sequence[Episode]) -> Transitions[np.ndarray]:
    """All transitions of whole episodes (state observations only).

    Raises:
        ValueError: pixel observations, or no transition at all.
    """
    if not episodes or episodes[0].obs.ndim != 2:
        shape = episodes[0].obs.shape[1:] if episodes else ()
        raise ValueError(f"transitions need episodes of (D,) state observations, got {shape}")
    parts = [
        (ep.obs[:-1], ep.action[1:], ep.obs[1:], ep.reward[1:], ep.terminated[1:])
        for ep in episodes
        if len(ep) > 1
    ]
    if not parts:
        raise ValueError("the episodes hold no transition")
    obs, action, next_obs, reward, terminated = (np.concatenate(f) for f in zip(*parts, strict=True))
    return Transitions(
        obs.astype(np.float32),
        action.astype(np.float32),
        next_obs.astype(np.float32),
        reward.astype(np.float32),
        terminated.astype(bool),
    )


def transitions_to_torch(data: Transitions[np.ndarray], device: torch.device) -> Transitions[Tensor]:
    """The same transitions as tensors on ``device``."""
    return Transitions(*(torch.as_tensor(x, device=device) for x in data))


class StateRollout(NamedTuple):
    """P sampled trajectories of N windows over H steps.

    Attributes:
        obs: (P, N, H, D) predicted observations of steps 1..H.
        reward: (P, N, H) predicted rewards of arriving in them.
        cont: (P, N, H) predicted probabilities that the episode continues past them.
    """

    obs: Tensor
    reward: Tensor
    cont: Tensor


class StateModel(Protocol):
    """What a model on the state itself provides to :mod:`world_model.state_fit`.

    ``prepare`` sets normalisers (and whatever else depends on the whole dataset), ``train_step``
    draws its own minibatch and takes one gradient step, ``rollout`` predicts open-loop.
    """

    def prepare(self, data: Transitions[Tensor], generator: torch.Generator) -> None:
        """Fit the normalisers to the training transitions (and draw bootstrap resamples)."""
        ...

    def train_step(self, data: Transitions[Tensor], generator: torch.Generator) -> dict[str, float]:
        """One gradient step on a minibatch drawn from ``data``; metrics under ``wm/``."""
        ...

    def rollout(
        self, obs: Tensor, actions: Tensor, *, particles: int, generator: torch.Generator | None = None
    ) -> StateRollout:
        """Predict from observations (N, D) under actions (N, H, A), ``particles`` trajectories each."""
        ...
