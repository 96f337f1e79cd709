"""Representation objectives: observation codecs, reconstruction, and latent (JEPA) prediction.

``reconstruction`` decodes the observation from the model feature (Dreamer). ``latent`` predicts, from
the deterministic state h_t (which has seen the past and the action a_t but not x_t), the embedding
of x_t produced by a target encoder: an exponential moving average of the online encoder, under
stop-gradient. A probe decoder on stopped features makes a decoder-free model inspectable.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from world_model.config import EncoderConfig, LatentConfig
from world_model.distributions import symexp, symlog
from world_model.networks import CNNDecoder, CNNEncoder, ema_update, mlp
from world_model.normalise import Standardiser

_LEGACY_OBS_STATS = (("obs_mean", "mean"), ("obs_var", "var"), ("obs_count", "count"))
"""The names the observation statistics had in checkpoints from before :attr:`ObsCodec.obs_norm`."""


class ObsCodec(nn.Module):
    """Observation encoder plus the conversions between observation space and network space.

    State vectors (D,) float are symlog-scaled and go through an MLP; pixels (H, W, C) uint8 are scaled
    to [-0.5, 0.5], moved to channels-first and go through the CNN.

    Args:
        cfg: encoder sizes.
        obs_shape: (D,) or (H, W, C).
    """

    def __init__(self, cfg: EncoderConfig, obs_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.obs_shape = obs_shape
        self.pixels = len(obs_shape) == 3
        self.net: nn.Module
        if self.pixels:
            h, w, c = obs_shape
            if h != w:
                raise ValueError(f"pixel observations must be square, got {obs_shape}")
            cnn = CNNEncoder(h, cfg.cnn_depth, c)
            self.embed_dim = cnn.out_dim
            self.net = cnn
        elif len(obs_shape) == 1:
            self.net = mlp(obs_shape[0], None, units=cfg.mlp_units, layers=max(cfg.mlp_layers, 1))
            self.embed_dim = cfg.mlp_units
        else:
            raise ValueError(f"observations must be (D,) vectors or (H, W, C) images, got {obs_shape}")
        self.obs_norm: Standardiser | None = None
        """Running per-dimension statistics of the observations (``norm_obs``, state vectors only)."""
        if cfg.norm_obs and not self.pixels:
            self.obs_norm = Standardiser(obs_shape[0], min_std=1e-3)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any], *args: Any
    ) -> None:
        """Read the statistics of an older checkpoint (``obs_mean`` ...) into :attr:`obs_norm`."""
        for old, new in _LEGACY_OBS_STATS:
            if prefix + old in state_dict:
                state_dict[f"{prefix}obs_norm.{new}"] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    def update_stats(self, obs: Tensor, min_rate: float = 0.01) -> None:
        """Move the running per-dimension mean / variance towards a batch (..., D) (``norm_obs`` only).

        The rate is 1 / (batches seen), floored at ``min_rate``: an average at first, then an EMA.
        """
        if self.obs_norm is not None:
            self.obs_norm.update(obs, min_rate)

    def to_net(self, obs: Tensor) -> Tensor:
        """Observations (..., *obs_shape) to network space: symlog vectors, or (..., C, H, W) in +-0.5."""
        if self.pixels:
            return (obs.to(torch.float32) / 255.0 - 0.5).movedim(-1, -3)
        x = obs if obs.dtype == torch.float32 else obs.to(torch.float32)
        if self.obs_norm is not None:
            x = self.obs_norm(x)
        return symlog(x)

    def from_net(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`to_net` into float observation units (pixels 0..255, channels-last)."""
        if self.pixels:
            return ((x.movedim(-3, -1) + 0.5) * 255.0).clamp(0.0, 255.0)
        if self.obs_norm is not None:
            return self.obs_norm.inverse(symexp(x))
        return symexp(x)

    def forward(self, net_obs: Tensor) -> Tensor:
        """Embeddings (..., E) of observations already in network space."""
        return self.net(net_obs)


def build_decoder(cfg: EncoderConfig, feat_dim: int, obs_shape: tuple[int, ...]) -> nn.Module:
    """A decoder from features (..., F) to network-space observations (mirror of :class:`ObsCodec`)."""
    if len(obs_shape) == 3:
        return CNNDecoder(feat_dim, obs_shape[0], cfg.cnn_depth, obs_shape[2])
    return mlp(feat_dim, obs_shape[0], units=cfg.mlp_units, layers=cfg.mlp_layers)


def reconstruction_loss(pred: Tensor, target: Tensor, obs_dims: int) -> Tensor:
    """Squared error summed over the last ``obs_dims`` axes: (...) per step (symlog / pixel space)."""
    err = (pred - target) ** 2
    return err.flatten(-obs_dims).sum(-1)


def embedding_spread(embed: Tensor) -> Tensor:
    """Collapse statistic: per-dimension std over the batch of unit-norm embeddings, times sqrt(E).

    About 1 for embeddings spread evenly over all directions, 0 when they collapse to a point.

    Args:
        embed: (N, E) embeddings.

    Returns:
        (E,) per-dimension spread (average it for one number).
    """
    unit = F.normalize(embed, dim=-1)
    return unit.std(0) * math.sqrt(embed.shape[-1])


class LatentPrediction(nn.Module):
    """JEPA objective: h_t predicts sg(target_encoder(x_t)); the target encoder is an EMA of the online one.

    Args:
        cfg: EMA rate and the anti-collapse hinge.
        online: the online encoder (copied for the target, which never gets gradients).
        deter_dim: size of h.
        units: width of the predictor.
    """

    def __init__(self, cfg: LatentConfig, online: ObsCodec, deter_dim: int, units: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.target = copy.deepcopy(online).requires_grad_(False)
        self.predictor = mlp(deter_dim, online.embed_dim, units=units, layers=1)

    def forward(self, deter: Tensor, net_obs: Tensor, embed: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Loss terms and statistics.

        Args:
            deter: (B, T, D) deterministic states h_t (from past observations and a_t only).
            net_obs: (B, T, ...) observations in network space.
            embed: (B, T, E) online embeddings of the same observations.
            mask: (B, T) float, 0 where h_t cannot predict x_t (episode starts).

        Returns:
            ``latent`` (scalar loss: 2 - 2 cos between prediction and target), ``var`` (hinge on the
            online embeddings' spread) and ``spread`` (collapse statistic of the target embeddings).
        """
        with torch.no_grad():
            target = F.normalize(self.target(net_obs), dim=-1)
        pred = F.normalize(self.predictor(deter), dim=-1)
        err = ((pred - target) ** 2).sum(-1)
        latent = (err * mask).sum() / mask.sum().clamp(min=1.0)
        flat = embed.reshape(-1, embed.shape[-1])
        var = F.relu(self.cfg.var_target - embedding_spread(flat)).mean()
        spread = embedding_spread(target.reshape(-1, target.shape[-1])).mean()
        return {"latent": latent, "var": var, "spread": spread}

    def update_target(self, online: ObsCodec, decay: float) -> None:
        """EMA step of the target encoder towards ``online``."""
        ema_update(self.target, online, decay)
