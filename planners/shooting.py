"""Random shooting: score uniform random sequences once and keep the best."""

from __future__ import annotations

import torch
from torch import Tensor

from planners.base import Objective, Planner, PlanStats
from planners.sampling import uniform_candidates


class RandomShooting(Planner):
    """Random shooting over action sequences.

    Candidates per problem: the warm start, the prior's share, and uniform samples in [-1, 1] to fill
    ``cfg.population``; one objective call; the plan is the best candidate. ``cfg.iterations`` and the
    Gaussian settings are not used. See :class:`planners.base.Planner` for the call.
    """

    def _search(self, objective: Objective, init: Tensor, prior_actions: Tensor) -> tuple[Tensor, PlanStats]:
        e, h, a = init.shape
        n = self.cfg.population - 1 - prior_actions.shape[1]
        samples = uniform_candidates(e, n, h, a, self.generator, device=init.device, dtype=init.dtype)
        candidates = torch.cat([init.unsqueeze(1), prior_actions, samples], dim=1)
        values = self.evaluate(objective, candidates)
        top_values, top = values.topk(self.cfg.elites, dim=1)
        elites = candidates.gather(1, top[:, :, None, None].expand(e, top.shape[1], h, a))
        stats = PlanStats(
            value=top_values[:, 0],
            elite_value=top_values.mean(dim=1),
            elite_std=elites.std(dim=1, unbiased=False).mean(dim=(1, 2)),
        )
        return elites[:, 0], stats
