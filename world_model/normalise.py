"""Per-dimension standardisation of inputs and targets: (x - mean) / std and back."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Standardiser(nn.Module):
    """Mean and standard deviation per dimension, kept as buffers (saved with the model).

    Set them from a dataset with :meth:`fit`, or follow a stream of batches with :meth:`update`.

    Args:
        dim: number of dimensions D (the last axis of the data).
        min_std: floor of the standard deviation (constant dimensions pass through shifted, not blown up).
    """

    def __init__(self, dim: int, *, min_std: float = 1e-6) -> None:
        super().__init__()
        self.min_std = min_std
        self.mean: Tensor
        self.var: Tensor
        self.count: Tensor
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.zeros(()))

    @property
    def std(self) -> Tensor:
        """(D,) standard deviation, floored at ``min_std``."""
        return self.var.sqrt().clamp(min=self.min_std)

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Set the statistics to those of ``x`` (..., D)."""
        flat = x.reshape(-1, x.shape[-1]).to(self.mean.dtype)
        self.mean.copy_(flat.mean(0))
        self.var.copy_(flat.var(0, unbiased=False))
        self.count.fill_(1.0)

    @torch.no_grad()
    def update(self, x: Tensor, min_rate: float = 0.01) -> None:
        """Move the statistics towards a batch (..., D): rate 1 / (batches seen), floored at ``min_rate``."""
        flat = x.reshape(-1, x.shape[-1]).to(self.mean.dtype)
        rate = max(1.0 / (float(self.count) + 1.0), min_rate)
        self.mean.lerp_(flat.mean(0), rate)
        self.var.lerp_(flat.var(0, unbiased=False), rate)
        self.count += 1

    def forward(self, x: Tensor) -> Tensor:
        """(x - mean) / std for x (..., D)."""
        return (x - self.mean) / self.std

    def inverse(self, z: Tensor) -> Tensor:
        """mean + std * z: the inverse of :meth:`forward`."""
        return z * self.std + self.mean
