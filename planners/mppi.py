"""Model-predictive path integral control: refit the sampling Gaussian to all candidates, weighted by
exponentiated returns."""

from __future__ import annotations

import torch
from torch import Tensor

from planners.base import GaussianPlanner


class MPPI(GaussianPlanner):
    """MPPI over action sequences.

    Weights per problem: ``w = softmax((R - max R) / (temperature * std(R)))`` over all N candidates, where
    std(R) is the spread of that problem's returns (so the temperature is independent of the reward scale).
    Mean and std are the weighted mean and weighted standard deviation of the candidates. ``cfg.elites`` is
    not used. See :class:`planners.base.Planner` for the call.
    """

    def _refit(self, candidates: Tensor, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        scale = values.std(dim=1, keepdim=True).clamp_min(1e-8)  # (E, 1)
        w = torch.softmax((values - values.amax(dim=1, keepdim=True)) / (self.cfg.temperature * scale), dim=1)
        wx = w[:, :, None, None]
        mean = (wx * candidates).sum(dim=1)
        var = (wx * (candidates - mean.unsqueeze(1)).square()).sum(dim=1)
        return mean, var.sqrt(), (w * values).sum(dim=1)
