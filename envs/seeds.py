"""Seed conventions: training and evaluation envs never share a seed.

Env ``i`` of a vector env adds ``i`` to the base seed, so up to 1000 training envs per run seed stay
disjoint from the next run seed's, and evaluation seeds start at 10**9, far from any training seed.
"""

from __future__ import annotations

EVAL_OFFSET = 10**9
"""Evaluation seeds start here."""
SEED_STRIDE = 1000
"""Distance between the base seeds of consecutive run seeds (room for this many envs)."""


def train_seed(seed: int) -> int:
    """Base seed of the training envs of run seed ``seed`` (env i uses ``train_seed(seed) + i``)."""
    return seed * SEED_STRIDE


def eval_seed(seed: int) -> int:
    """Base seed of the evaluation envs of run seed ``seed`` (episode i uses ``eval_seed(seed) + i``)."""
    return EVAL_OFFSET + seed * SEED_STRIDE
