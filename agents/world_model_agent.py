"""A learner-only agent: a world model alone, trained on the data a random policy collects.

It lets the training loop (:class:`agents.trainer.Trainer`) drive ``scripts.fit_world_model`` exactly as
it drives the RL agents: the same collection, replay, schedules, checkpoints, resume and Ctrl-C handling.
Any model family plugs in through its learner (:class:`ModelLearner`): the RSSM's
(:class:`world_model.learner.WorldModelLearner`) or a state model's
(:class:`world_model.state_fit.StateModelLearner`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from envs import RandomPolicy
from envs.episode import SequenceBatch, StepObs


class ModelLearner(Protocol):
    """What the agent needs from a model's learner."""

    updates: int
    """Gradient updates made."""

    def update(self, batch: SequenceBatch[torch.Tensor]) -> tuple[dict[str, float], Any]:
        """One gradient step on a (B, T) batch: (metrics under ``wm/``, the model's states or None)."""
        ...

    def metrics(self, batch: SequenceBatch[torch.Tensor]) -> dict[str, float]:
        """The training loss's metrics on a batch, without updating."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint parts ``world_model``, ``optimizers.world_model``, ``counters.world_model_updates``."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s parts."""
        ...


class WorldModelAgent:
    """Acts uniformly at random; each update is one gradient step of the model.

    Args:
        learner: the model's learner.
        action_dim: A.
        seed: seed of the acting policy's generator.
    """

    def __init__(self, learner: ModelLearner, action_dim: int, *, seed: int) -> None:
        self.learner = learner
        self.policy = RandomPolicy(action_dim, seed=seed)

    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        """Uniform random actions (N, A) in [-1, 1]."""
        return self.policy.act(obs, state, deterministic=deterministic)

    def update(self, batch: SequenceBatch[torch.Tensor]) -> dict[str, float]:
        """One model update; metrics under ``wm/``."""
        metrics, _ = self.learner.update(batch)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint parts: the learner's, plus ``acting_policy`` (the generator of its actions)."""
        return {**self.learner.state_dict(), "acting_policy": self.policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.learner.load_state_dict(state)
        self.policy.load_state_dict(state["acting_policy"])
