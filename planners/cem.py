"""Cross-entropy method: refit the sampling Gaussian to the best candidates (PlaNet's planner)."""

from __future__ import annotations

from torch import Tensor

from planners.base import GaussianPlanner


class CEM(GaussianPlanner):
    """CEM over action sequences: each iteration keeps the ``cfg.elites`` best candidates per problem and
    refits mean and std to them with equal weights. See :class:`planners.base.Planner` for the call."""

    def _refit(self, candidates: Tensor, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        top_values, top = values.topk(self.cfg.elites, dim=1)  # (E, K)
        e, _, h, a = candidates.shape
        elites = candidates.gather(1, top[:, :, None, None].expand(e, top.shape[1], h, a))  # (E, K, H, A)
        return elites.mean(dim=1), elites.std(dim=1, unbiased=False), top_values.mean(dim=1)
