"""A model of the state observation itself as the world an actor-critic imagines in (``scripts.dream
--family diffusion``).

The Dreamer agent (:class:`agents.dreamer.DreamerAgent`) asks its world model for features of states,
posterior states of real sequences, and imagined rollouts with their rewards and continuation. With a
state model the state is the observation itself (:class:`ObsState`): there is no recurrent latent, the
actor and the critic see the standardised observation, and imagination samples each next observation
from the model, whose reward and continue heads see the whole step (observation, action, next
observation), so they come with the rollout (:class:`StateImagination`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from envs.episode import SequenceBatch
from world_model.diffusion import DiffusionDynamicsModel
from world_model.model import DreamWorld
from world_model.state_fit import StateModelLearner
from world_model.transitions import ObsState


class StateImagination(NamedTuple):
    """An imagined rollout of N trajectories over H steps through a state model.

    Attributes:
        state: observations (N, H + 1, D); index 0 is the start.
        feat: (N, H + 1, D) their features (standardised observations).
        action: (N, H, A); ``action[:, t]`` is taken in state t and leads to state t + 1.
        reward: (N, H) the model's expected rewards of arriving in states 1..H (its reward head sees the
            whole step, so they come with the rollout).
        cont: (N, H) its continue probabilities of states 1..H.
    """

    state: ObsState
    feat: Tensor
    action: Tensor
    reward: Tensor
    cont: Tensor


class StateSpaceWorldModel(DreamWorld):
    """A diffusion model of the next state observation, seen through the world-model verbs the Dreamer
    agent uses (``feat``, ``obs_step``, ``observe``, ``imagine``, ``observed_cont``).

    Args:
        model: the dynamics model (its ``sample(obs, action)`` gives one step: next observations, expected
            rewards and continue probabilities).
    """

    def __init__(self, model: DiffusionDynamicsModel) -> None:
        super().__init__()
        self.model = model
        self.obs_shape = (model.obs_dim,)
        self.action_dim = model.action_dim
        self.feat_dim = model.obs_dim

    def feat(self, state: ObsState) -> Tensor:
        """(..., D) the standardised observations of states with any leading dims."""
        return self.model.obs_norm(state.obs)

    def obs_step(self, state: ObsState | None, action: Tensor, obs: Tensor, is_first: Tensor) -> ObsState:
        """The state after a new observation (B, D): the observation itself."""
        return ObsState(obs.float())

    def observe(
        self, obs: Tensor, action: Tensor, is_first: Tensor, state: ObsState | None = None
    ) -> tuple[ObsState, ObsState]:
        """(posterior, prior) states of real sequences (B, T, D): both the observations."""
        seen = ObsState(obs.float())
        return seen, seen

    def observed_cont(self, post: ObsState, action: Tensor) -> Tensor:
        """(B, T) the probability that the episode continues past each observed state: the continue head
        on the step that led there (``action[:, t]`` from ``obs[:, t - 1]``); 1 at step 0."""
        obs = post.obs
        _, cont_logit = self.model.heads(obs[:, :-1], action[:, 1:].float(), obs[:, 1:])
        return torch.cat([torch.ones_like(obs[:, :1, 0]), torch.sigmoid(cont_logit)], 1)

    def imagine(
        self, start: ObsState, policy_or_actions: Callable[[Tensor], Tensor] | Tensor, horizon: int
    ) -> StateImagination:
        """Sample ``horizon`` steps from ``start`` (N, D) under a policy (features (N, D) -> actions (N, A))
        or fixed actions (N, H, A); with a policy, gradients flow through the sampler's steps.

        Returns:
            :class:`StateImagination` with states / features (N, H + 1, D), actions (N, H, A) and the model's
            expected rewards and continue probabilities (N, H) of arriving in states 1..H.
        """
        obs, states, feats = start.obs, [start.obs], [self.model.obs_norm(start.obs)]
        actions, rewards, conts = [], [], []
        for t in range(horizon):
            action = policy_or_actions(feats[-1]) if callable(policy_or_actions) else policy_or_actions[:, t]
            obs, reward, cont = self.model.sample(obs, action)
            states.append(obs)
            # each state standardised once, for the policy and the rollout
            feats.append(self.model.obs_norm(obs))
            actions.append(action)
            rewards.append(reward)
            conts.append(cont)
        return StateImagination(
            ObsState(torch.stack(states, 1)),
            torch.stack(feats, 1),
            torch.stack(actions, 1),
            torch.stack(rewards, 1),
            torch.stack(conts, 1),
        )

    def outcomes(self, imag: StateImagination) -> tuple[Tensor, Tensor]:
        """(expected rewards (N, H), continue probabilities (N, H)) that :meth:`imagine` sampled."""
        return imag.reward, imag.cont

    def compile_steps(self, **options: Any) -> None:
        """``torch.compile`` the noise network, the sampler's inner step."""
        self.model.eps_net.compile(**options)


class StateModelDreamLearner:
    """The state model's learner as the Dreamer agent uses it: one update per batch, returning the batch's
    states (its observations) as the starts of imagination.

    Args:
        learner: the state model's own learner.
    """

    def __init__(self, learner: StateModelLearner) -> None:
        self.learner = learner

    @property
    def updates(self) -> int:
        """Gradient updates made."""
        return self.learner.updates

    @updates.setter
    def updates(self, value: int) -> None:
        self.learner.updates = value

    def update(self, batch: SequenceBatch[Tensor]) -> tuple[dict[str, float], ObsState]:
        """One gradient step on the batch's transitions: (metrics under ``wm/``, its states (B, T, D))."""
        metrics, _ = self.learner.update(batch)
        return metrics, ObsState(batch.obs.float())

    def metrics(self, batch: SequenceBatch[Tensor]) -> dict[str, float]:
        """The training loss's metrics on a batch, without updating."""
        return self.learner.metrics(batch)

    def state_dict(self) -> dict[str, Any]:
        """The state model learner's checkpoint parts."""
        return self.learner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.learner.load_state_dict(state)
