"""Typed containers for experience: one episode, one step of observations, a batch of sequences.

Storage convention (one record per visited state, Dreamer-style). An episode with L transitions has
L + 1 records, t = 0..L:

- ``obs[t]``: the observation of state t.
- ``action[t]``: the action that *led to* state t (zeros at t = 0).
- ``reward[t]``: the reward received on arriving in state t (0 at t = 0).
- ``terminated[t]``: state t is terminal (the MDP ended: no value beyond it).
- ``truncated[t]``: the episode was cut at state t by a time limit (state t is *not* terminal).
- ``is_first[t]``: t == 0.

So the world model reads ``h_t = f(h_{t-1}, z_{t-1}, action[t])``, resets at ``is_first`` and predicts
``reward[t]`` and ``1 - terminated[t]`` from state t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

import numpy as np

from envs.atomic import atomic_write

ArrayT = TypeVar("ArrayT")


@dataclass(frozen=True)
class Episode:
    """One finished (or cut) episode, L + 1 records.

    Attributes:
        obs: (L+1, *obs_shape), float32 for state observations or uint8 (H, W, 3) for pixels.
        action: (L+1, A) float32 in [-1, 1]; row 0 is zeros.
        reward: (L+1,) float32; entry 0 is 0.
        terminated: (L+1,) bool.
        truncated: (L+1,) bool.
        is_first: (L+1,) bool; only entry 0 is True.
    """

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    is_first: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.obs)
        for name in ("action", "reward", "terminated", "truncated", "is_first"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Episode.{name} has {len(getattr(self, name))} records, obs has {n}")

    def __len__(self) -> int:
        """Number of records (transitions + 1)."""
        return len(self.obs)

    @property
    def transitions(self) -> int:
        """Number of environment transitions (agent steps) in the episode."""
        return len(self.obs) - 1

    @property
    def score(self) -> float:
        """Undiscounted return of the episode."""
        return float(self.reward.sum())


class SequenceBatch(NamedTuple, Generic[ArrayT]):
    """A batch of sequences, batch-first ``(B, T, ...)``; numpy from the replay, torch on the device.

    Fields follow the storage convention of :class:`Episode`. Sequences may cross episode boundaries;
    ``is_first`` marks where a new episode starts so the model resets its state there.
    """

    obs: ArrayT  # (B, T, *obs_shape)
    action: ArrayT  # (B, T, A)
    reward: ArrayT  # (B, T)
    terminated: ArrayT  # (B, T)
    truncated: ArrayT  # (B, T)
    is_first: ArrayT  # (B, T)


class StepObs(NamedTuple):
    """What a policy sees at one step of N vectorised envs.

    Attributes:
        obs: (N, *obs_shape) current observations.
        is_first: (N,) True where the observation starts a new episode (reset recurrent state there).
    """

    obs: np.ndarray
    is_first: np.ndarray


EPISODE_FIELDS = ("obs", "action", "reward", "terminated", "truncated", "is_first")
"""The arrays of an episode file, as :func:`write_episode` stores them."""


def write_episode(episode: Episode, path: Path) -> None:
    """Store ``episode`` as a compressed ``.npz`` at ``path``, atomically (never a half-written file)."""
    with atomic_write(Path(path)) as f:
        np.savez_compressed(f, **{name: getattr(episode, name) for name in EPISODE_FIELDS})


def read_episode(path: Path) -> Episode:
    """Read an episode written by :func:`write_episode`.

    Raises:
        OSError, KeyError, ValueError, zipfile.BadZipFile: a damaged or foreign file.
    """
    with np.load(Path(path), allow_pickle=False) as data:
        return Episode(**{name: data[name] for name in EPISODE_FIELDS})


def cut_windows(
    episodes: Sequence[Episode], length: int, starts: Sequence[tuple[int, int]]
) -> SequenceBatch[np.ndarray]:
    """A (N, length, ...) batch of the records ``[s, s + length)`` of episode ``i`` for each ``(i, s)``.

    ``is_first`` is kept as stored: True only where a window starts its episode.
    """
    return SequenceBatch(
        *(
            np.stack([getattr(episodes[i], name)[s : s + length] for i, s in starts])
            for name in SequenceBatch._fields
        )
    )
