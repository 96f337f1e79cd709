"""MPC agent: act by planning action sequences against the world model's imagined returns.

At every step the agent updates each env's posterior with the new observation (an episode's first
observation gets as many looks as the Dreamer agent gives it: ``ActorCriticConfig.first_looks``, the one
rule of both), then a planner (CEM, MPPI or random shooting) searches action sequences whose score is
the discounted sum of imagined rewards, weighted by the probability of not having terminated, plus the
critic's value at the horizon when a critic is given. All E envs and all N candidates are imagined in
one batched call per planner iteration. Acting never trains: learning is delegated to an optional
learner (``update(batch) -> metrics``), so the same training loop drives this agent and the Dreamer
agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from agents.acting import observe_step
from agents.dreamer import ActorCriticConfig
from agents.returns import discount_weights
from envs.episode import Episode, SequenceBatch, StepObs
from envs.errors import UserError
from planners import Planner, Prior

FeatFn = Callable[[Tensor], Tensor]
"""A function of model features: ``feat (M, F) -> (M,)`` (critic) or ``-> (M, A)`` (actor)."""


@dataclass(frozen=True)
class MPCConfig:
    """How the MPC agent scores plans and explores."""

    discount: float = 0.99
    """Discount per agent step of the imagined rewards (and of the critic's value at the horizon)."""
    expl_noise: float = 0.3
    """Std of the Gaussian noise added to the planned first action when acting stochastically
    (training); deterministic acting (evaluation) executes the plan's first action as is."""

    def __post_init__(self) -> None:
        if not 0 < self.discount <= 1:
            raise UserError(f"MPC discount must be in (0, 1], got {self.discount}")
        if self.expl_noise < 0:
            raise UserError(f"MPC expl_noise must be >= 0, got {self.expl_noise}")


class LatentState(Protocol):
    """A model state whose tensors all have the batch as leading dim (``world_model.RSSMState``)."""

    def map(self, fn: Callable[[Tensor], Tensor]) -> Any:
        """Apply ``fn`` to every tensor."""
        ...


class PlanningModel(Protocol):
    """What the agent needs from the world model (``world_model.WorldModel`` provides it)."""

    def initial(self, batch_size: int) -> Any:
        """Zero state for ``batch_size`` rows."""
        ...

    def obs_step(self, state: Any, action: Tensor, obs: Tensor, is_first: Tensor) -> Any:
        """Posterior (B, ...) after ``action`` (B, A) led to ``obs`` (B, ...); resets at ``is_first``."""
        ...

    def imagine(self, start: Any, policy_or_actions: FeatFn | Tensor, horizon: int) -> Any:
        """Roll the prior: result has ``feat`` (N, H+1, F) and ``action`` (N, H, A)."""
        ...

    def reward(self, feat: Tensor) -> Tensor:
        """Expected reward (...) of arriving in the states ``feat`` (..., F)."""
        ...

    def cont(self, feat: Tensor) -> Tensor:
        """Probability (...) that the states ``feat`` (..., F) are not terminal."""
        ...


class Learner(Protocol):
    """What learns while the agent acts: e.g. the Dreamer agent (world model + actor-critic)."""

    def update(self, batch: SequenceBatch[Tensor]) -> dict[str, float]:
        """One update from a (B, T) batch; returns namespaced metrics."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        ...


class MPCState(NamedTuple):
    """Acting state of E envs.

    Attributes:
        latent: the world model's posterior state, batch E.
        action: (E, A) the action executed last (it led to the next observation).
        plan: (E, H, A) warm start for the next planning call (the last plan shifted by one step).
    """

    latent: Any
    action: Tensor
    plan: Tensor


def planning_return(reward: Tensor, cont: Tensor, value: Tensor | None, *, discount: float) -> Tensor:
    """Score of imagined trajectories ``s_0 .. s_H``.

    ``J = sum_{t=0}^{H-1} w_t r_{t+1} + w_{H-1} * discount * c_H * V(s_H)`` with
    ``w_t = discount^t prod_{k=1}^{t} c_k`` (the discounted probability of still running when ``r_{t+1}`` is
    received; the reward of arriving in a terminal state counts, nothing after it does).

    Args:
        reward: (M, H) rewards of arriving in ``s_1 .. s_H``.
        cont: (M, H) continue probabilities of ``s_1 .. s_H``.
        value: (M,) value of ``s_H``, or None for no bootstrap.
        discount: per step.

    Returns:
        (M,) returns.
    """
    w = discount_weights(cont, gamma=discount)
    ret = (w * reward).sum(dim=1)
    if value is not None:
        ret = ret + w[:, -1] * discount * cont[:, -1] * value
    return ret


class MPCAgent:
    """Model-predictive control with a learned world model; implements :class:`envs.Policy`.

    Args:
        world_model: acts and imagines (see :class:`PlanningModel`), on the planner's device.
        planner: the optimiser (its ``device`` is where everything is computed).
        cfg: scoring and exploration settings.
        critic: optional value of states, ``feat (M, F) -> (M,)``, added at the horizon.
        actor: optional policy ``feat (M, F) -> action (M, A)`` (sampled, in [-1, 1]); when given, the
            planner's ``prior_fraction`` of candidates are the actor's imagined action sequences.
        learner: optional; :meth:`update`, :meth:`state_dict`, :meth:`load_state_dict` delegate to it.
        seed: seed of the exploration noise.
        first_looks: posterior steps on an episode's first observation before its first action, the
            rule the Dreamer agent acts by (a run passes its ``agent.first_looks``; the default is that
            field's). More than one needs a latent that is a tuple of tensors (``RSSMState``).
    """

    def __init__(
        self,
        world_model: PlanningModel,
        planner: Planner,
        cfg: MPCConfig,
        critic: FeatFn | None = None,
        actor: FeatFn | None = None,
        *,
        learner: Learner | None = None,
        seed: int = 0,
        first_looks: int = ActorCriticConfig.first_looks,
    ) -> None:
        if first_looks < 1:
            raise ValueError(f"first_looks must be >= 1, got {first_looks}")
        self.world_model, self.planner, self.cfg = world_model, planner, cfg
        self.first_looks = first_looks
        self.critic, self.actor, self.learner = critic, actor, learner
        self.device = planner.device
        self.horizon, self.action_dim = planner.cfg.horizon, planner.action_dim
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self._sums: dict[str, float] = {}
        self._calls = 0

    # ------------------------------------------------------------------ acting
    def objective(self, start: LatentState, num_envs: int) -> Callable[[Tensor], Tensor]:
        """The planner's objective from posterior states ``start`` (batch E).

        Returns:
            A function (E, N, H, A) action sequences -> (E, N) imagined returns, one imagine call.
        """
        wm, h = self.world_model, self.horizon

        def score(actions: Tensor) -> Tensor:
            e, n = actions.shape[:2]
            assert e == num_envs, (e, num_envs)
            starts = start.map(lambda x: x.repeat_interleave(n, dim=0))  # row e * n + i
            feat = wm.imagine(starts, actions.reshape(e * n, h, -1), h).feat  # (E*N, H+1, F)
            nxt = feat[:, 1:]
            value = self.critic(feat[:, -1]).float() if self.critic is not None else None
            ret = planning_return(
                wm.reward(nxt).float(), wm.cont(nxt).float(), value, discount=self.cfg.discount
            )
            return ret.reshape(e, n)

        return score

    def prior(self, start: LatentState, num_envs: int) -> Prior | None:
        """The actor's imagined action sequences from ``start``: ``n -> (E, n, H, A)``; None without actor."""
        actor = self.actor
        if actor is None:
            return None
        wm, h = self.world_model, self.horizon

        def sample(n: int) -> Tensor:
            starts = start.map(lambda x: x.repeat_interleave(n, dim=0))
            actions = wm.imagine(starts, actor, h).action  # (E*n, H, A)
            return actions.reshape(num_envs, n, h, -1)

        return sample

    @torch.inference_mode()
    def act(
        self, obs: StepObs, state: MPCState | None, *, deterministic: bool
    ) -> tuple[np.ndarray, MPCState]:
        """Plan for every env and return the first actions.

        Args:
            obs: observations (E, ...) and ``is_first`` (E,) of E envs.
            state: the previous step's :class:`MPCState`, or None to start fresh.
            deterministic: execute the plan's first action (True) or add ``cfg.expl_noise`` noise.

        Returns:
            Actions (E, A) float32 in [-1, 1] and the next state.
        """
        t0 = time.perf_counter()
        e = len(obs.is_first)
        latent, first = observe_step(
            self.world_model,
            None if state is None else state.latent,
            None if state is None else state.action,
            obs,
            self.device,
            self.action_dim,
            looks=self.first_looks,
        )
        warm = self.planner.initial(e) if state is None else state.plan * (~first).float()[:, None, None]
        t1 = time.perf_counter()
        plan, next_plan = self.planner.plan(self.objective(latent, e), warm, prior=self.prior(latent, e))
        action = plan[:, 0]
        if not deterministic and self.cfg.expl_noise > 0:
            noise = torch.randn(action.shape, generator=self.generator, device=self.device)
            action = (action + self.cfg.expl_noise * noise).clamp(-1.0, 1.0)
        out = action.cpu().numpy().astype(np.float32)  # waits for the device
        t2 = time.perf_counter()
        self._record(plan_ms=1000 * (t2 - t1), act_ms=1000 * (t2 - t0))
        return out, MPCState(latent, action, next_plan)

    def _record(self, *, plan_ms: float, act_ms: float) -> None:
        stats = self.planner.stats
        assert stats is not None
        values = {
            "planner/return_plan": stats.value.mean().item(),
            "planner/return_elites": stats.elite_value.mean().item(),
            "planner/elite_std": stats.elite_std.mean().item(),
            "planner/ms_per_plan": plan_ms,
            "planner/ms_per_act": act_ms,
        }
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._calls += 1

    def metrics(self) -> dict[str, float]:
        """Planner statistics averaged over all :meth:`act` calls since the last call, evaluation included
        (then reset).

        Keys: ``planner/return_plan`` (objective of the chosen plan: the mean sequence as scored in the
        last iteration, or the best candidate for random shooting), ``planner/return_elites``,
        ``planner/elite_std`` (spread of the elites), ``planner/ms_per_plan`` (planning only),
        ``planner/ms_per_act`` (whole step incl. the posterior update), ``planner/calls``.
        Empty when there was no call.
        """
        if self._calls == 0:
            return {}
        out = {k: v / self._calls for k, v in self._sums.items()}
        out["planner/calls"] = float(self._calls)
        self._sums, self._calls = {}, 0
        return out

    # ---------------------------------------------------------------- learning
    def update(self, batch: SequenceBatch[Tensor]) -> dict[str, float]:
        """One learner update (the world model, and the actor-critic when the learner has one)."""
        if self.learner is None:
            raise RuntimeError("MPCAgent was built without a learner; it can act but not learn")
        return self.learner.update(batch)

    def diagnose(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """The learner's diagnostics on real episodes (none without a learner that has them)."""
        fn = getattr(self.learner, "diagnose", None)
        return fn(episodes) if callable(fn) else {}

    def state_dict(self) -> dict[str, Any]:
        """The learner's checkpoint parts plus ``planner``: the planner's and the noise's random streams."""
        parts = dict(self.learner.state_dict()) if self.learner is not None else {}
        parts["planner"] = {
            "planner_rng": self.planner.generator.get_state(),
            "noise_rng": self.generator.get_state(),
        }
        return parts

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the learner reads its own parts)."""
        if self.learner is not None:
            self.learner.load_state_dict(state)
        self.planner.generator.set_state(state["planner"]["planner_rng"])
        self.generator.set_state(state["planner"]["noise_rng"])
