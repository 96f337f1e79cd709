"""Episode replay: whole episodes on disk, a ring of steps in memory, uniform sequence sampling.

Memory: one preallocated ring per field (``obs``, ``action``, ``reward``, ``terminated``, ``truncated``,
``is_first``) of ``capacity`` records, allocated when the first episode arrives (its shapes and dtypes fix
the ring's). Episodes are stored back to back in arrival order; when a new episode does not fit, whole
oldest episodes are evicted from memory until it does.

Disk: with a ``directory``, every added episode is also written there as ``<index:06d>-<records>.npz``
(atomically: a temporary file, fsync, ``os.replace``; :class:`EpisodeWriter` writes them, also for
agents that keep no replay of ours, such as the SB3 baselines), so a crashed or stopped run loses at most its
unfinished episodes; temporary files left by a killed process are removed when the replay is opened.
Episode files are never deleted: the directory holds the whole dataset collected by the run, also the
episodes evicted from memory. :meth:`EpisodeReplay.load` (on resume) reads back the newest episodes
that fit into ``capacity``. A file that cannot be read (which atomic writes never produce; think of a
damaged disk or a hand-edited directory) is skipped with a warning naming it, so that one bad episode
does not block resuming a long run.

Memory use: the rings take ``capacity`` x (record size) bytes, e.g. 12 KiB per 64x64x3 pixel record
(1M records = 12 GiB) or 68 B per 17-dim float32 state record; pages are touched only as they fill.

Sampling: sequences start uniformly at any stored record from which ``seq_len`` records follow in
arrival order; they may cross from one episode into the next (``is_first`` marks the start of the new
one) but never wrap from the newest episode into the oldest. Optionally a share of each batch ends at
terminal records instead (``end_fraction``: the last record of an episode the env terminated, drawn
uniformly among those stored), so that the rare falls of locomotion reach every batch; and a share may lie
within the newest stored records (``recent_fraction`` of the sequences start uniformly where they fit
inside the newest ``recent_window`` records), so that the data of the current policy reaches every batch.
"""

from __future__ import annotations

import re
import warnings
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from envs.episode import EPISODE_FIELDS, Episode, SequenceBatch, read_episode, write_episode
from envs.errors import UserError

if TYPE_CHECKING:
    import torch

_FIELDS = EPISODE_FIELDS
_FILE_RE = re.compile(r"^(\d{6,})-(\d+)\.npz$")


class _Stored(NamedTuple):
    """Where one episode lives in the ring."""

    number: int  # episode index (file name)
    start: int  # ring position of its first record
    length: int  # records


class EpisodeWriter:
    """Writes finished episodes into a directory as ``<index:06d>-<records>.npz``, atomically.

    Numbering continues after the episode files already there (a resumed run never overwrites one);
    temporary files left by a process killed mid-write are removed when the writer is created. The files
    hold the :class:`Episode` fields as arrays (``np.load`` gives them back by name).

    Args:
        directory: The episode folder (created if missing).

    Attributes:
        next_index: The index the next written episode gets.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(".*.npz.*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        files = self.files()
        self.next_index = files[-1][0] + 1 if files else 0

    def write(self, episode: Episode) -> Path:
        """Write ``episode`` under the next index; returns its path."""
        path = self.directory / f"{self.next_index:06d}-{len(episode)}.npz"
        write_episode(episode, path)
        self.next_index += 1
        return path

    def files(self) -> list[tuple[int, int, Path]]:
        """(index, records, path) of the episode files, oldest first."""
        found = []
        for path in self.directory.iterdir():
            m = _FILE_RE.match(path.name)
            if m:
                found.append((int(m.group(1)), int(m.group(2)), path))
        return sorted(found)

    def set_aside(self, upto: int) -> int:
        """Move the files of episodes with index >= ``upto`` into ``after-checkpoint/`` and number the next
        episode ``upto``: episodes a killed run wrote after its last checkpoint are kept, but apart.

        Returns:
            The number of files moved (a warning names the folder when there are any).
        """
        later = [f for f in self.files() if f[0] >= upto]
        if later:
            aside = self.directory / "after-checkpoint"
            aside.mkdir(exist_ok=True)
            for _, _, path in later:
                path.replace(aside / path.name)
            warnings.warn(
                f"{len(later)} episode file(s) written after the checkpoint moved to {aside}", stacklevel=2
            )
        self.next_index = upto
        return len(later)


class EpisodeReplay:
    """Replay of whole episodes with uniform sampling of ``(B, T)`` sequences.

    Args:
        directory: Where episodes are written as they are added (and read back by :meth:`load`);
            ``None`` keeps them in memory only.
        capacity: Records (steps) kept in memory; an episode of L transitions takes L + 1 records.
        seed: Seed of the sampling generator.

    Attributes:
        steps: Records stored in memory.
        num_episodes: Episodes stored in memory.
    """

    def __init__(self, directory: Path | None, capacity: int, *, seed: int) -> None:
        if capacity < 2:
            raise ValueError(f"replay capacity must be at least 2 records, got {capacity}")
        self.directory = Path(directory) if directory is not None else None
        self.capacity = int(capacity)
        self._rng = np.random.default_rng(seed)
        self._ring: dict[str, np.ndarray] = {}
        self._episodes: deque[_Stored] = deque()
        self._terminal_ends: deque[int] = deque()  # ring positions of stored terminal records, oldest first
        self._head = 0  # ring position of the oldest stored record
        self.steps = 0
        # Never overwrite an episode already on disk, whether or not load() is called.
        self._writer = EpisodeWriter(self.directory) if self.directory is not None else None
        self._next_index = self._writer.next_index if self._writer is not None else 0

    def __len__(self) -> int:
        """Records stored in memory."""
        return self.steps

    @property
    def num_episodes(self) -> int:
        """Episodes stored in memory."""
        return len(self._episodes)

    @property
    def episodes_added(self) -> int:
        """Index the next added episode gets (episodes ever added, including ones on disk)."""
        return self._next_index

    def add(self, episode: Episode) -> None:
        """Store one finished episode (and write it to ``directory`` when one is set).

        Raises:
            UserError: If the episode has more records than the whole capacity.
            ValueError: If its shapes or dtypes differ from the episodes already stored.
        """
        index = self._next_index
        self._insert(episode, index)
        self._next_index += 1
        if self._writer is not None:
            assert self._writer.next_index == index, "replay and episode files numbered apart"
            self._writer.write(episode)

    def load(self, upto: int | None = None) -> int:
        """Replace the memory contents with the newest episodes on disk that fit into ``capacity``.

        Unreadable files are skipped with a warning naming them (older episodes take their place).

        Args:
            upto: load only episodes with index < ``upto`` (the episodes a checkpoint had seen) and number
                the next added episode ``upto``. Files of later episodes (written after that checkpoint
                by a run that was then killed) are moved into ``after-checkpoint/`` beside them, not
                loaded and not deleted.

        Returns:
            Records loaded.
        """
        if self._writer is None:
            raise ValueError("EpisodeReplay.load needs a directory")
        self._episodes.clear()
        self._terminal_ends.clear()
        self._head = 0
        self.steps = 0
        if upto is not None:
            self._writer.set_aside(upto)
            self._next_index = upto
        files = self._writer.files()
        chosen: list[tuple[int, Episode]] = []
        total = 0
        for index, length, path in reversed(files):
            if total + length > self.capacity:
                if length > self.capacity:
                    continue  # could never fit; older ones still might
                break
            episode = _read_checked(path, length)
            if episode is None:
                continue
            chosen.append((index, episode))
            total += length
        for index, episode in reversed(chosen):
            self._insert(episode, index)
        return self.steps

    def sample(
        self,
        batch_size: int,
        seq_len: int,
        *,
        end_fraction: float = 0.0,
        recent_fraction: float = 0.0,
        recent_window: int = 0,
    ) -> SequenceBatch[np.ndarray]:
        """Sample ``batch_size`` sequences of ``seq_len`` consecutive records.

        Args:
            batch_size: B.
            seq_len: T.
            end_fraction: share of the B sequences (rounded) that end at a terminal record, drawn
                uniformly among the stored ones (a terminal record within the first T stored records
                ends up inside its sequence instead); none while no terminal record is stored. At 0 the
                draws are exactly those of uniform sampling.
            recent_fraction: share of the B sequences (rounded; the last ones of the batch) that lie
                wholly within the newest ``recent_window`` stored records (all of them while fewer are
                stored), drawn uniformly among those places after the other draws (at most the
                sequences ``end_fraction`` leaves); at 0 no draw is made.
            recent_window: the newest records recent sequences are drawn from (>= ``seq_len``).

        Returns:
            SequenceBatch with obs (B, T, *obs_shape), action (B, T, A), reward (B, T) float32,
            terminated / truncated / is_first (B, T) bool; fresh arrays (not views of the ring).

        Raises:
            ValueError: If fewer than ``seq_len`` records are stored, or ``recent_window`` is shorter.
        """
        n_recent = min(round(recent_fraction * batch_size), batch_size - round(end_fraction * batch_size))
        if n_recent > 0 and recent_window < seq_len:
            raise ValueError(f"recent_window ({recent_window}) must be at least seq_len ({seq_len})")
        if self.steps < seq_len:
            raise ValueError(
                f"replay holds {self.steps} steps, fewer than the sequence length {seq_len}: "
                "collect more before sampling"
            )
        starts = self._rng.integers(0, self.steps - seq_len + 1, size=batch_size)
        n_end = round(end_fraction * batch_size) if self._terminal_ends else 0
        if n_end > 0:
            ends = np.asarray(self._terminal_ends)[self._rng.integers(0, len(self._terminal_ends), n_end)]
            offsets = (ends - self._head) % self.capacity  # how far after the oldest stored record
            starts[:n_end] = np.clip(offsets - seq_len + 1, 0, self.steps - seq_len)
        if n_recent > 0:
            last = self.steps - seq_len  # the newest start from which seq_len records follow
            starts[batch_size - n_recent :] = self._rng.integers(
                max(0, self.steps - recent_window), last + 1, size=n_recent
            )
        idx = (self._head + starts[:, None] + np.arange(seq_len)[None, :]) % self.capacity
        return SequenceBatch(*(self._ring[name][idx] for name in _FIELDS))

    def recent(self, n: int) -> list[Episode]:
        """The newest ``n`` episodes held in memory (fewer if fewer are held), oldest first, as copies."""
        out = []
        for stored in list(self._episodes)[-n:] if n > 0 else []:
            idx = (stored.start + np.arange(stored.length)) % self.capacity
            out.append(Episode(**{name: self._ring[name][idx] for name in _FIELDS}))
        return out

    def state_dict(self) -> dict[str, Any]:
        """Sampling generator state (for exact resumption; plain Python types only)."""
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._rng.bit_generator.state = state["rng"]

    # -- internals ---------------------------------------------------------------------------------

    def _insert(self, episode: Episode, index: int) -> None:
        n = len(episode)
        if n > self.capacity:
            raise UserError(
                f"an episode of {n} steps does not fit into a replay capacity of {self.capacity} steps; "
                "raise the replay capacity"
            )
        arrays = {name: np.asarray(getattr(episode, name)) for name in _FIELDS}
        if not self._ring:
            self._ring = {
                name: np.empty((self.capacity, *a.shape[1:]), dtype=a.dtype) for name, a in arrays.items()
            }
        for name, a in arrays.items():
            ring = self._ring[name]
            if a.shape[1:] != ring.shape[1:] or a.dtype != ring.dtype:
                raise ValueError(
                    f"episode {name} has shape {a.shape[1:]} {a.dtype}, the replay stores "
                    f"{ring.shape[1:]} {ring.dtype}"
                )
        while self.steps + n > self.capacity:
            old = self._episodes.popleft()
            if self._terminal_ends and self._terminal_ends[0] == (old.start + old.length - 1) % self.capacity:
                self._terminal_ends.popleft()  # the evicted episode ended in the oldest stored fall
            self._head = (self._head + old.length) % self.capacity
            self.steps -= old.length
        start = (self._head + self.steps) % self.capacity
        first = min(n, self.capacity - start)
        for name, a in arrays.items():
            ring = self._ring[name]
            ring[start : start + first] = a[:first]
            ring[: n - first] = a[first:]
        self._episodes.append(_Stored(index, start, n))
        if arrays["terminated"][-1]:
            self._terminal_ends.append((start + n - 1) % self.capacity)
        self.steps += n


def _read_checked(path: Path, length: int) -> Episode | None:
    """The episode in ``path`` if it reads and holds ``length`` records, else None with a warning."""
    try:
        episode = read_episode(path)
        if len(episode) != length:
            raise ValueError(f"holds {len(episode)} records, its name says {length}")
    except Exception as e:  # any damage: zip, missing key, wrong length
        warnings.warn(f"skipping unreadable replay file {path}: {e}", RuntimeWarning, stacklevel=3)
        return None
    return episode


def read_episode_files(patterns: Sequence[str]) -> list[Episode]:
    """Episodes from files a replay wrote (``<index>-<records>.npz``), found by glob patterns; read only.

    Files are taken in sorted path order; unreadable ones are skipped with a warning.

    Raises:
        UserError: a pattern that matches no episode file.
    """
    import glob

    episodes: list[Episode] = []
    for pattern in patterns:
        paths = sorted(p for p in map(Path, glob.glob(pattern)) if _FILE_RE.match(p.name))
        if not paths:
            raise UserError(f"no episode files (NNNNNN-LEN.npz) match {pattern!r}")
        for path in paths:
            m = _FILE_RE.match(path.name)
            assert m is not None
            episode = _read_checked(path, int(m.group(2)))
            if episode is not None:
                episodes.append(episode)
    return episodes


def to_torch(batch: SequenceBatch[np.ndarray], device: torch.device) -> SequenceBatch[torch.Tensor]:
    """Move a sampled batch to ``device`` without needless copies.

    ``torch.from_numpy`` shares memory with the numpy arrays (no copy on CPU); on CUDA the arrays are
    pinned and copied asynchronously (``non_blocking``). Dtypes are kept: pixel observations stay uint8
    (normalise on the device), flags stay bool, floats stay float32.

    Args:
        batch: Fields (B, T, ...) as returned by :meth:`EpisodeReplay.sample`.
        device: Target device.

    Returns:
        The same batch as tensors on ``device``.
    """
    import torch

    device = torch.device(device)
    out = []
    for a in batch:
        t = torch.from_numpy(np.ascontiguousarray(a))
        if device.type == "cuda":
            t = t.pin_memory().to(device, non_blocking=True)
        elif device.type != "cpu":
            t = t.to(device)
        out.append(t)
    return SequenceBatch(*out)
