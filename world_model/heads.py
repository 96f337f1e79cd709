"""Reward and continue heads on the model feature [h, z]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from world_model.config import HeadsConfig
from world_model.distributions import TwoHotDist, gaussian_log_prob, symlog_bins
from world_model.networks import mlp


class RewardHead(nn.Module):
    """Predicts the reward received on arriving in a state: two-hot over symlog bins, or a Gaussian mean.

    Args:
        cfg: head sizes and kind.
        feat_dim: model feature size F.
    """

    def __init__(self, cfg: HeadsConfig, feat_dim: int) -> None:
        super().__init__()
        self.twohot = cfg.reward == "twohot"
        out = cfg.bins if self.twohot else 1
        self.net = mlp(feat_dim, out, units=cfg.units, layers=cfg.layers, zero_out=True)
        self.bins: Tensor
        self.register_buffer("bins", symlog_bins(cfg.bins, -cfg.bin_limit, cfg.bin_limit), persistent=False)

    def forward(self, feat: Tensor) -> Tensor:
        """(...) expected reward from features (..., F)."""
        out = self.net(feat)
        if self.twohot:
            return TwoHotDist(out, self.bins).mean()
        return out.squeeze(-1)

    def loss(self, feat: Tensor, reward: Tensor) -> Tensor:
        """(...) negative log-likelihood of the real rewards (...) under the head."""
        out = self.net(feat)
        if self.twohot:
            return -TwoHotDist(out, self.bins).log_prob(reward)
        return -gaussian_log_prob(reward, out.squeeze(-1))


class ContinueHead(nn.Module):
    """Bernoulli probability that the episode continues past a state (1 - terminated).

    Args:
        cfg: head sizes.
        feat_dim: model feature size F.
    """

    def __init__(self, cfg: HeadsConfig, feat_dim: int) -> None:
        super().__init__()
        self.net = mlp(feat_dim, 1, units=cfg.units, layers=cfg.layers)

    def forward(self, feat: Tensor) -> Tensor:
        """(...) P(continue) from features (..., F)."""
        return torch.sigmoid(self.net(feat).squeeze(-1))

    def loss(self, feat: Tensor, cont: Tensor) -> Tensor:
        """(...) binary cross-entropy against continue targets (...) in {0, 1}."""
        return F.binary_cross_entropy_with_logits(self.net(feat).squeeze(-1), cont, reduction="none")
