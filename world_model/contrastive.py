"""The contrastive representation objective: InfoNCE between the model's state and a later observation.

WORLD-MODELS.md section 2: for a latent z_t and a later latent z_{t+k} of the same trajectory, against
other trajectories' latents z_j,

    L = -log exp(sim(z_t, z_{t+k}) / tau) / sum_j exp(sim(z_t, z_j) / tau).

Here the first latent is the RSSM's deterministic state h (it has seen the observations before the target
step and the actions up to it, never the target observation itself), projected to a query; the later
latent is the online encoder's embedding of the target observation, projected to a key. Negatives are the
keys of the batch's other sequences (every step of them): the objective must tell the real future from
other trajectories' states, which spreads the embeddings apart without a target encoder. Keys of the same
sequence's other steps are left out of the denominator (not the positive, not another trajectory).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from world_model.config import ContrastiveConfig
from world_model.networks import mlp
from world_model.objectives import embedding_spread


def info_nce(query: Tensor, keys: Tensor, group: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """InfoNCE of each query against its own key, with the keys of other groups as negatives.

    Args:
        query: (N, E) queries; keys: (N, E) keys, ``keys[i]`` the positive of ``query[i]``. Both are
            normalised to unit length here (sim is the cosine similarity).
        group: (N,) integer trajectory index of each row; keys of the same group other than the
            positive are left out of row i's denominator.
        temperature: tau.

    Returns:
        ((N,) loss -log softmax of the positive over {positive} + other groups' keys, (N,) bool: the
        positive has the highest similarity of those).
    """
    if query.shape != keys.shape or query.dim() != 2 or group.shape != query.shape[:1]:
        raise ValueError(
            f"need query, keys (N, E) and group (N,), got {query.shape}, {keys.shape}, {group.shape}"
        )
    logits = F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T / temperature  # (N, N)
    own = torch.eye(len(group), dtype=torch.bool, device=group.device)
    allowed = (group[:, None] != group[None, :]) | own
    logits = logits.masked_fill(~allowed, float("-inf"))
    positive = logits.diagonal()
    return torch.logsumexp(logits, -1) - positive, logits.argmax(-1) == torch.arange(
        len(group), device=group.device
    )


class ContrastivePrediction(nn.Module):
    """Query and key projections and the InfoNCE loss.

    Args:
        cfg: temperature, projection size, offsets.
        embed_dim: size of the encoder's embeddings.
        deter_dim: size of h.
        units: width of the projections' hidden layer.
    """

    def __init__(self, cfg: ContrastiveConfig, embed_dim: int, deter_dim: int, units: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.query = mlp(deter_dim, cfg.dim, units=units, layers=1)
        self.key = mlp(embed_dim, cfg.dim, units=units, layers=1)

    def forward(self, deter: Tensor, embed: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Loss and statistics for one offset.

        Args:
            deter: (B, S, D) deterministic states, each predicting the observation of ``embed``'s row.
            embed: (B, S, E) online embeddings of those observations (gradients reach the encoder).
            mask: (B, S) float, 0 where the state cannot predict the observation (an episode start
                between them).

        Returns:
            ``loss`` (masked mean InfoNCE), ``accuracy`` (share of masked rows whose positive is the
            most similar key) and ``spread`` (collapse statistic of the keys, ~1 healthy, 0 collapsed).
        """
        B, S = deter.shape[:2]
        q = self.query(deter).flatten(0, 1)
        k = self.key(embed).flatten(0, 1)
        group = torch.arange(B, device=deter.device).repeat_interleave(S)
        loss, hit = info_nce(q, k, group, self.cfg.temperature)
        m = mask.flatten().to(loss.dtype)
        total = m.sum().clamp(min=1.0)
        return {
            "loss": (loss * m).sum() / total,
            "accuracy": (hit.to(loss.dtype) * m).sum() / total,
            "spread": embedding_spread(k.detach()).mean(),
        }
