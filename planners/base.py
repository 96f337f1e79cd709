"""The planner interface and the iterative Gaussian search that CEM and MPPI share.

A planner optimises action sequences against an objective it knows nothing about. Every call solves E
independent problems at once (one per vector env): the objective scores candidates of shape (E, N, H, A)
and returns (E, N) (higher is better), evaluated in a single batched call per iteration. The warm start is
returned to the caller, never kept inside the planner.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from planners.config import PlannerConfig
from planners.sampling import HIGH, LOW, gaussian_candidates, shift_plan

Objective = Callable[[Tensor], Tensor]
"""Scores candidates: (E, N, H, A) action sequences -> (E, N) returns (higher is better)."""
Prior = Callable[[int], Tensor]
"""Policy prior: given n, returns (E, n, H, A) action sequences sampled from a policy (in [-1, 1])."""


@dataclass(frozen=True)
class PlanStats:
    """Diagnostics of the last planning call, one entry per problem.

    Attributes:
        value: (E,) objective of the plan: the current mean (CEM, MPPI) as evaluated in the last iteration,
            or the best candidate (random shooting).
        elite_value: (E,) mean objective of the elites (CEM, shooting) or weighted mean (MPPI).
        elite_std: (E,) spread of the elites: their standard deviation averaged over steps and action dims.
    """

    value: Tensor
    elite_value: Tensor
    elite_std: Tensor


class Planner(ABC):
    """Base class: checks inputs, draws the prior's share, shifts the result into the next warm start.

    Args:
        cfg: search settings.
        action_dim: A, size of one action.
        device: where candidates are created (the objective's device).
        seed: seed of the planner's own random stream; None draws a fresh one.
    """

    def __init__(
        self,
        cfg: PlannerConfig,
        action_dim: int,
        *,
        device: torch.device | str = "cpu",
        seed: int | None = None,
    ) -> None:
        if action_dim < 1:
            raise ValueError(f"action_dim must be >= 1, got {action_dim}")
        self.cfg = cfg
        self.action_dim = action_dim
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        self.stats: PlanStats | None = None
        """Diagnostics of the last call to :meth:`plan` (None before the first)."""

    def initial(self, num_problems: int) -> Tensor:
        """The warm start of a fresh problem: zeros (E, H, A)."""
        return torch.zeros((num_problems, self.cfg.horizon, self.action_dim), device=self.device)

    def plan(
        self,
        objective: Objective,
        init: Tensor | None = None,
        *,
        num_problems: int | None = None,
        prior: Prior | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Optimise E action sequences.

        Args:
            objective: (E, N, H, A) -> (E, N) returns, N = ``cfg.population``.
            init: (E, H, A) warm start (the previous call's ``next_init``), or None for zeros.
            num_problems: E when ``init`` is None (default 1); must match ``init`` when both are given.
            prior: optional policy prior; ``round(cfg.prior_fraction * population)`` candidates per
                problem come from it (drawn once per call, re-evaluated every iteration).

        Returns:
            actions: (E, H, A) the plan, in [-1, 1]; execute ``actions[:, 0]``.
            next_init: (E, H, A) the plan shifted one step (``cfg.shift_fill`` fills the last step):
                pass it as ``init`` at the next step.
        """
        h, a = self.cfg.horizon, self.action_dim
        if init is None:
            e = 1 if num_problems is None else num_problems
            init = self.initial(e)
        else:
            if init.ndim != 3 or tuple(init.shape[1:]) != (h, a):
                raise ValueError(f"init must be (E, {h}, {a}), got {tuple(init.shape)}")
            e = init.shape[0]
            if num_problems is not None and num_problems != e:
                raise ValueError(f"num_problems={num_problems} but init has {e} problems")
            init = init.to(self.device, torch.float32).clamp(LOW, HIGH)
        prior_actions = init.new_zeros((e, 0, h, a))
        if prior is not None and self.cfg.prior_candidates > 0:
            n = self.cfg.prior_candidates
            prior_actions = prior(n).to(self.device, torch.float32)
            if tuple(prior_actions.shape) != (e, n, h, a):
                raise ValueError(f"prior({n}) must return {(e, n, h, a)}, got {tuple(prior_actions.shape)}")
            prior_actions = prior_actions.clamp(LOW, HIGH)
        actions, self.stats = self._search(objective, init, prior_actions)
        return actions, shift_plan(actions, self.cfg.shift_fill)

    def evaluate(self, objective: Objective, candidates: Tensor) -> Tensor:
        """Call the objective once and check its answer.

        Args:
            candidates: (E, N, H, A).

        Returns:
            (E, N) float returns.
        """
        values = objective(candidates)
        if tuple(values.shape) != tuple(candidates.shape[:2]):
            raise ValueError(
                f"objective must map {tuple(candidates.shape)} to {tuple(candidates.shape[:2])}, "
                f"got {tuple(values.shape)}"
            )
        if not torch.isfinite(values).all():
            raise ValueError("objective returned non-finite values")
        return values.float()

    @abstractmethod
    def _search(self, objective: Objective, init: Tensor, prior_actions: Tensor) -> tuple[Tensor, PlanStats]:
        """Find the plan (E, H, A) from the warm start (E, H, A) and prior candidates (E, P, H, A)."""


class GaussianPlanner(Planner):
    """Iterative search with a diagonal Gaussian over sequences, refitted each round (CEM, MPPI).

    Each iteration evaluates, per problem, the current mean, the prior's candidates and
    ``population - 1 - P`` samples from N(mean, std^2) clipped to [-1, 1]; the subclass refits mean and std
    to the scored candidates; momentum mixes in the old ones; std is clamped to [min_std, max_std].
    The plan is the final mean.
    """

    def _search(self, objective: Objective, init: Tensor, prior_actions: Tensor) -> tuple[Tensor, PlanStats]:
        cfg = self.cfg
        mean = init
        std = torch.full_like(init, cfg.init_std)
        n_sample = cfg.population - 1 - prior_actions.shape[1]
        stats: PlanStats | None = None
        for _ in range(cfg.iterations):
            samples = gaussian_candidates(mean, std, n_sample, self.generator)
            candidates = torch.cat([mean.unsqueeze(1), prior_actions, samples], dim=1)
            values = self.evaluate(objective, candidates)
            fit_mean, fit_std, elite_value = self._refit(candidates, values)
            mean = cfg.momentum * mean + (1 - cfg.momentum) * fit_mean
            std = (cfg.momentum * std + (1 - cfg.momentum) * fit_std).clamp(cfg.min_std, cfg.max_std)
            stats = PlanStats(value=values[:, 0], elite_value=elite_value, elite_std=fit_std.mean(dim=(1, 2)))
        assert stats is not None  # iterations >= 1
        return mean.clamp(LOW, HIGH), stats

    @abstractmethod
    def _refit(self, candidates: Tensor, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Fit the sampling distribution to scored candidates.

        Args:
            candidates: (E, N, H, A).
            values: (E, N).

        Returns:
            mean (E, H, A), std (E, H, A), elite value (E,).
        """
