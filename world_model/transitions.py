"""Single transitions for models on the state itself (ensemble, Hamiltonian, energy-based, diffusion,
pairwise), what those models provide, and the parts they share: the [change, reward] target
(:func:`change_and_reward`), the particle rollout (:func:`rollout_particles`) and the training and rollout
of a deterministic step (:class:`DeterministicStateModel`).

An episode of L + 1 records (:mod:`envs.episode`) holds L transitions: from ``obs[t - 1]`` the action
``action[t]`` leads to ``obs[t]`` with ``reward[t]`` and ``terminated[t]``, t = 1..L. These models learn
from the same replayed (B, T) sequences as the RSSM (:func:`transitions_from_batch`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, NamedTuple, Protocol, TypeVar

import torch
from torch import Tensor, nn

from envs.episode import SequenceBatch
from world_model.normalise import Standardiser

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


class ObsState(NamedTuple):
    """The state of a model on the observation itself: the observation, with any leading dims (the
    counterpart of the RSSM's :class:`world_model.rssm.RSSMState` where a state model drives imagination).

    Attributes:
        obs: (..., D) float observations.
    """

    obs: Tensor

    def map(self, fn: Callable[[Tensor], Tensor]) -> ObsState:
        """The state with ``fn`` applied to its tensor."""
        return ObsState(fn(self.obs))

    def flatten(self) -> ObsState:
        """(B, T, D) -> (B T, D)."""
        return ObsState(self.obs.flatten(0, 1))


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


def change_and_reward(data: Transitions[Tensor]) -> Tensor:
    """(N, D + 1) [next_obs - obs, reward] of transitions (N, ...): what the ensemble and the energy-based
    model predict."""
    return torch.cat([data.next_obs - data.obs, data.reward.unsqueeze(-1)], -1)


StepFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]
"""(observations (M, D), actions (M, A)) -> (next observations (M, D), rewards (M,), P(continue) (M,))."""


def rollout_particles(
    model: nn.Module, step: StepFn, obs: Tensor, actions: Tensor, particles: int
) -> StateRollout:
    """P trajectories from each start observation under fixed actions, one ``step`` per horizon step on
    all P N rows at once (particle-major: row p N + i is particle p of start i), in evaluation mode and
    without gradients (``model``'s mode is restored after).

    Args:
        model: the module whose mode is set.
        step: one step of all rows (:data:`StepFn`); it may draw random numbers.
        obs: (N, D) start observations.
        actions: (N, H, A); ``actions[:, t]`` leads to step t + 1.
        particles: P.

    Returns:
        :class:`StateRollout` (P, N, H, ...).
    """
    N, H = actions.shape[:2]
    was_training = model.training
    model.eval()
    state = obs.repeat(particles, 1)  # (P * N, D), particle-major
    acts = actions.repeat(particles, 1, 1)
    states, rewards, conts = [], [], []
    with torch.no_grad():
        for t in range(H):
            state, reward, cont = step(state, acts[:, t])
            states.append(state)
            rewards.append(reward)
            conts.append(cont)
    model.train(was_training)
    P, D = particles, obs.shape[-1]
    return StateRollout(
        torch.stack(states, 1).reshape(P, N, H, D),
        torch.stack(rewards, 1).reshape(P, N, H),
        torch.stack(conts, 1).reshape(P, N, H),
    )


class DeterministicStateModel(nn.Module):
    """A model whose next observation is a function of the observation alone (the Hamiltonian and the
    pairwise models, and their MLP baselines: actions play no part, the episode never ends).

    Subclasses provide :meth:`step`, :meth:`_reward` and the normalisers :attr:`delta_norm` (of the change of
    the observation) and :attr:`reward_norm`; this class trains them on one loss, the squared error of the
    predicted next observation in units of the change's standard deviation plus the reward head's on the
    next observation, and rolls them out.
    """

    delta_norm: Standardiser
    reward_norm: Standardiser

    def step(self, obs: Tensor) -> Tensor:
        """The next observation (..., D) from (..., D)."""
        raise NotImplementedError

    def _reward(self, obs: Tensor) -> Tensor:
        """(...) the reward of arriving in observations (..., D)."""
        raise NotImplementedError

    def minibatch(self, data: Transitions[Tensor]) -> Transitions[Tensor]:
        """The transitions (B, ...) as they are: one minibatch."""
        return data

    def loss(self, batch: Transitions[Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Standardised squared error of the predicted change of the observation, plus the reward's."""
        pred = self.step(batch.obs)
        step_err = (((pred - batch.next_obs) / self.delta_norm.std) ** 2).sum(-1).mean()
        r_err = ((self._reward(batch.next_obs) - batch.reward) / self.reward_norm.std) ** 2
        total = step_err + r_err.mean()
        return total, {
            "wm/loss": float(total.detach()),
            "wm/step_loss": float(step_err.detach()),
            "wm/reward_loss": float(r_err.detach().mean()),
        }

    def rollout(
        self, obs: Tensor, actions: Tensor, *, particles: int, generator: torch.Generator | None = None
    ) -> StateRollout:
        """Deterministic rollout from (N, D) for H = ``actions.shape[1]`` steps, repeated for the
        ``particles`` axis: :class:`StateRollout` (P, N, H, ...)."""

        def step(state: Tensor, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            state = self.step(state)
            reward = self._reward(state)
            return state, reward, torch.ones_like(reward)

        one = rollout_particles(self, step, obs, actions, 1)
        return StateRollout(*(x.expand(particles, *x.shape[1:]) for x in one))
