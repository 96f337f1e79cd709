"""Agents that learn a world model alone: on the data a random policy collects (``scripts.fit_world_model``),
or behind a planner that needs nothing else (:class:`WorldModelUpdates`, ``scripts.mpc``).

The first (:class:`WorldModelAgent`) lets the training loop (:class:`agents.trainer.Trainer`) drive
``scripts.fit_world_model`` exactly as it drives the RL agents: the same collection, replay, schedules,
checkpoints, resume and Ctrl-C handling. Any model family plugs in through its learner
(:class:`ModelLearner`): the RSSM's (:class:`world_model.learner.WorldModelLearner`) or a state model's
(:class:`world_model.state_fit.StateModelLearner`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from agents.diagnostics import value_diagnostics
from envs import RandomPolicy
from envs.episode import Episode, SequenceBatch, StepObs
from world_model.learner import WorldModelLearner


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


class WorldModelUpdates:
    """The learner of an agent that learns its world model and nothing else: an MPC agent whose planner
    uses neither the critic's value nor the actor (``scripts.mpc --no-planner-value``). Each update is
    one gradient step of the RSSM world model.

    Args:
        learner: the world model's learner.
        device: where the model lives (and the batches passed to :meth:`update`).
        amp: bfloat16 autocast for the update's forward pass (CUDA only), as the Dreamer agent's.
    """

    def __init__(self, learner: WorldModelLearner, *, device: torch.device, amp: bool = False) -> None:
        self.learner, self.world_model, self.device = learner, learner.model, device
        self.amp = amp and device.type == "cuda"

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def compile(self, **options: Any) -> None:
        """``torch.compile`` the step functions of the world model's loops (observe, imagine); options as
        :meth:`agents.dreamer.DreamerAgent.compile` takes them."""
        options.setdefault("dynamic", False)
        if self.device.type == "cuda" and "backend" not in options:
            options.setdefault("mode", "reduce-overhead")
        self.world_model.compile_steps(**options)

    def update(self, batch: SequenceBatch[torch.Tensor]) -> dict[str, float]:
        """One world-model update from a (B, T) batch; metrics under ``wm/`` and ``time/wm_update_ms``."""
        t0 = time.perf_counter()
        with self._autocast():
            metrics, _ = self.learner.update(batch)  # floats: the device has synced
        metrics = dict(metrics)
        metrics["time/wm_update_ms"] = 1000.0 * (time.perf_counter() - t0)
        return metrics

    def diagnose(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """The continue head on real episodes (``diag/cont_at_terminal``, ``diag/terminal_missed``,
        ``diag/cont_before_terminal``; see :mod:`agents.diagnostics`); there is no critic to check."""
        with self._autocast():
            found = value_diagnostics(self.world_model, _no_value, episodes, gamma=1.0, device=self.device)
        return {k: v for k, v in found.items() if k in CONTINUE_DIAGNOSTICS}

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint parts: the learner's (``world_model``, ``optimizers.world_model``, ``counters``)."""
        return self.learner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (a checkpoint's other parts, e.g. an actor-critic's, are ignored)."""
        self.learner.load_state_dict(state)


CONTINUE_DIAGNOSTICS = ("diag/cont_at_terminal", "diag/terminal_missed", "diag/cont_before_terminal")
"""The diagnostics of :func:`agents.diagnostics.value_diagnostics` that need no critic."""


def _no_value(feat: torch.Tensor) -> torch.Tensor:
    """(...) zeros for features (..., F): a stand-in critic whose diagnostics are dropped."""
    return feat.new_zeros(feat.shape[:-1])
