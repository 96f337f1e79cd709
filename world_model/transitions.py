"""Single transitions for models on the state itself (ensemble, Hamiltonian), and what those models provide.

An episode of L + 1 records (:mod:`envs.episode`) holds L transitions: from ``obs[t - 1]`` the action
``action[t]`` leads to ``obs[t]`` with ``reward[t]`` and ``terminated[t]``, t = 1..L. These models learn
from the same replayed (B, T) sequences as the RSSM (:func:`transitions_from_batch`).
"""

from __future__ import annotations

from typing import Generic, NamedTuple, Protocol, TypeVar

import torch
from torch import Tensor

from envs.episode import SequenceBatch

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


def transitions_from_batch(batch: SequenceBatch[Tensor]) -> tuple[Transitions[Tensor], Tensor]:
    """The B (T - 1) transitions of a (B, T) batch of replayed sequences, and which of them are real.

    Row ``b (T - 1) + t - 1`` is the step from ``obs[b, t - 1]`` to ``obs[b, t]`` (t = 1..T - 1). A replayed
    sequence may cross into the next episode; the pair across that boundary (``is_first[b, t]``) is no
    transition and is marked invalid.

    Args:
        batch: (B, T, D) state observations, T >= 2, on any device.

    Returns:
        (transitions with fields (N, ...), float32 observations and rewards; valid (N,) bool).

    Raises:
        ValueError: pixel observations, or T < 2.
    """
    if batch.obs.dim() != 3 or batch.obs.shape[1] < 2:
        raise ValueError(f"transitions need (B, T >= 2, D) state observations, got {tuple(batch.obs.shape)}")

    def after(x: Tensor) -> Tensor:
        return x[:, 1:].flatten(0, 1)

    data = Transitions(
        batch.obs[:, :-1].flatten(0, 1).float(),
        after(batch.action).float(),
        after(batch.obs).float(),
        after(batch.reward).float(),
        after(batch.terminated).bool(),
    )
    return data, ~after(batch.is_first).bool()


def transitions_to_batch(data: Transitions[Tensor]) -> SequenceBatch[Tensor]:
    """N transitions as a (N, 2) batch of sequences, the inverse of :func:`transitions_from_batch`: each
    sequence starts an episode (``is_first``) with ``obs`` and steps by ``action`` to ``next_obs``; the
    first record's action and reward are 0."""
    first = torch.zeros_like(data.terminated, dtype=torch.bool)
    return SequenceBatch(
        torch.stack([data.obs, data.next_obs], 1),
        torch.stack([torch.zeros_like(data.action), data.action], 1),
        torch.stack([torch.zeros_like(data.reward), data.reward], 1),
        torch.stack([first, data.terminated.bool()], 1),
        torch.zeros(len(first), 2, dtype=torch.bool, device=first.device),
        torch.stack([~first, first], 1),
    )


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
    """What a model on the state itself provides to :class:`world_model.state_fit.StateModelLearner`.

    ``update_normalisers`` moves its input / target statistics towards a batch of training transitions,
    ``minibatch`` arranges a batch into the shape its ``loss`` takes, ``rollout`` predicts open-loop.
    """

    def update_normalisers(self, data: Transitions[Tensor]) -> None:
        """Move the normalisers' statistics towards the transitions (N, ...)."""
        ...

    def minibatch(self, data: Transitions[Tensor]) -> Transitions[Tensor]:
        """The transitions (N, ...) arranged for :meth:`loss`."""
        ...

    def loss(self, batch: Transitions[Tensor]) -> tuple[Tensor, dict[str, float]]:
        """(scalar loss, metrics under ``wm/``) of a :meth:`minibatch`."""
        ...

    def rollout(
        self, obs: Tensor, actions: Tensor, *, particles: int, generator: torch.Generator | None = None
    ) -> StateRollout:
        """Predict from observations (N, D) under actions (N, H, A), ``particles`` trajectories each."""
        ...
