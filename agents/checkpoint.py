"""Checkpoints: atomic saves, the last three kept, safe loads, and the random number generators' state.

Layout (format 2): one flat dict of named parts, the same names whatever the agent, so that a loader
reads the part it needs by name (``state["world_model"]``) and never probes nested paths::

    format       2
    step         environment steps (or updates, for a world-model fit) when it was written
    world_model  the world model's weights
    actor        the actor's weights (agents that have one)
    critic       {"online": ..., "slow": ...} the critic and its slow copy
    optimizers   {"world_model": ..., "actor": ..., "critic": ...}
    normalizers  {"return": ...}
    planner      random streams of the MPC agent's planner and exploration noise
    replay       the replay's sampling generator
    counters     the loop's counters and the agents' update counts
    random_policy, rng   the prefill policy's and the global generators' states

Format 1 files (``{"step", "state": {"agent": {"learner": {"model", ...}, ...}}}``) are migrated on load
(:func:`migrate_v1`).

A checkpoint is ``<directory>/ckpt-<step:012d>.pt``, written by ``torch.save`` to a temporary file in the
same directory, fsynced and renamed over the final name (``os.replace`` is atomic), so a crash mid-write
leaves the previous checkpoints intact and never a half-written one under a checkpoint name. A file
damaged otherwise (a disk that filled up under another writer, a file truncated by hand) is passed
over: loading a directory takes its newest checkpoint that loads and says which it skipped.

Checkpoints are loaded with ``torch.load(weights_only=True)``: no arbitrary code runs on load. So a state
may only hold tensors, numbers, strings, ``None`` and dicts / lists / tuples of them;
:func:`save_checkpoint` checks that before writing (convert numpy arrays with ``torch.from_numpy``).
"""

from __future__ import annotations

import os
import pickle
import random
import re
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.atomic import atomic_write
from envs.errors import UserError

FORMAT = 2
"""The checkpoint layout written by :func:`save_checkpoint`."""
KEEP = 3
"""Checkpoints kept per directory (the newest ones)."""

_NAME_RE = re.compile(r"^ckpt-(\d+)\.pt$")
_PRIMITIVES = (int, float, bool, str, bytes, type(None))
_TORCH_LEAVES = (torch.Tensor, torch.Size, torch.dtype)


def checkpoint_path(directory: Path, step: int) -> Path:
    """File name of the checkpoint at ``step`` (environment steps)."""
    return Path(directory) / f"ckpt-{step:012d}.pt"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of the checkpoints in ``directory``, oldest first; empty if it does not exist."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        m = _NAME_RE.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


def save_checkpoint(directory: Path, step: int, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically as the checkpoint at ``step`` and delete all but the newest three.

    Args:
        directory: Checkpoint directory (created if missing).
        step: Environment steps done; orders the checkpoints.
        state: Tensors, numbers, strings, None, and dicts / lists / tuples of them (``state_dict()``
            of modules and optimisers qualify; so does :func:`rng_state`).

    Returns:
        The checkpoint's path.

    Raises:
        TypeError: If ``state`` holds anything else (it could not be loaded with ``weights_only``).
    """
    _check_loadable(state, "state")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, step)
    with atomic_write(path) as f:
        torch.save({**state, "format": FORMAT, "step": int(step)}, f)
    _fsync_dir(directory)
    for _, old in list_checkpoints(directory)[:-KEEP]:
        old.unlink(missing_ok=True)
    for stale in directory.glob(".ckpt-*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    return path


def load_checkpoint(path_or_dir: Path) -> dict[str, Any]:
    """Load a checkpoint file, or the newest intact checkpoint in a directory.

    In a directory whose newest checkpoint is damaged, the newest one that loads is used and a line on
    stderr names both (:func:`newest_intact_checkpoint` returns the same without printing).

    Returns:
        The ``state`` dict given to :func:`save_checkpoint`, plus ``"step"`` (unless the state has one).

    Raises:
        UserError: If there is no checkpoint, or the file (in a directory: every file) is damaged (the
            message names it).
    """
    path = Path(path_or_dir)
    if path.is_dir():
        found = newest_intact_checkpoint(path)
        for _, message in found.damaged:
            print(f"note: {message}; using {found.path.name} (step {found.state['step']:,})", file=sys.stderr)
        return found.state
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    return _read_checkpoint(path)


@dataclass(frozen=True)
class FoundCheckpoint:
    """The newest checkpoint of a directory that loads.

    Attributes:
        path: Its file.
        state: What :func:`load_checkpoint` returns for it.
        damaged: (file, message) of each newer file that could not be read, newest first; the message
            names the file and why.
    """

    path: Path
    state: dict[str, Any]
    damaged: tuple[tuple[Path, str], ...] = ()


def newest_intact_checkpoint(directory: Path) -> FoundCheckpoint:
    """The newest checkpoint in ``directory`` that loads, trying older ones when newer ones are damaged
    (a disk that filled up or a file truncated by hand: atomic saves never leave a torn file themselves).

    Raises:
        UserError: No checkpoint in ``directory``, none of them loads (the message names the newest), or
            the newest that loads has another format (a newer toolkit's: not passed over).
    """
    directory = Path(directory)
    found = list_checkpoints(directory)
    if not found:
        raise UserError(f"no checkpoint in {directory}")
    damaged: list[tuple[Path, str]] = []
    for _, path in reversed(found):
        try:
            state = _read_checkpoint(path)
        except DamagedCheckpointError as err:  # another format (a newer toolkit's) is not passed over
            damaged.append((path, str(err)))
            continue
        return FoundCheckpoint(path, state, tuple(damaged))
    newest = damaged[0][1]
    if len(damaged) == 1:
        raise UserError(newest)
    raise UserError(f"none of the {len(damaged)} checkpoints in {directory} loads; the newest: {newest}")


class DamagedCheckpointError(UserError):
    """A checkpoint file that does not load, or holds something else than a checkpoint."""


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """One checkpoint file (format 2, or format 1 migrated).

    Raises:
        DamagedCheckpointError: A file that does not load or is not a checkpoint of this toolkit.
        UserError: A checkpoint of another format.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        raise DamagedCheckpointError(f"checkpoint {path} is damaged ({type(e).__name__})") from e
    if not isinstance(data, dict) or "step" not in data:
        raise DamagedCheckpointError(f"checkpoint {path} is not a checkpoint of this toolkit")
    if "format" not in data and "state" in data:
        return migrate_v1(data)
    if data.get("format") != FORMAT:
        raise UserError(
            f"checkpoint {path} has format {data.get('format')!r}; this version reads {FORMAT} (and 1)"
        )
    return dict(data)


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """The format-2 parts of a format-1 checkpoint (``{"step", "state"}`` with agent-specific nesting).

    Format 1 nested the world model as ``agent.learner.model`` (Dreamer), ``agent.learner.learner.model``
    (MPC over a Dreamer learner) or ``learner.model`` (a world-model fit).
    """
    old = dict(data["state"])
    out: dict[str, Any] = {"format": FORMAT, "step": data["step"]}
    counters: dict[str, Any] = dict(old.get("counters") or {})
    for key in ("replay", "random_policy", "rng"):
        if key in old:
            out[key] = old[key]
    agent = old.get("agent")
    if isinstance(agent, dict) and "planner_rng" in agent:  # MPC: its learner is a Dreamer agent
        out["planner"] = {"planner_rng": agent["planner_rng"], "noise_rng": agent["noise_rng"]}
        agent = agent.get("learner")
    learner = agent.get("learner") if isinstance(agent, dict) else old.get("learner")
    optimizers: dict[str, Any] = {}
    if isinstance(learner, dict):
        out["world_model"] = learner["model"]
        optimizers["world_model"] = learner["opt"]
        counters["world_model_updates"] = learner["updates"]
    if isinstance(agent, dict) and "actor" in agent:
        out["actor"] = agent["actor"]
        out["critic"] = {"online": agent["critic"], "slow": agent["target_critic"]}
        optimizers.update(actor=agent["actor_opt"], critic=agent["critic_opt"])
        out["normalizers"] = {"return": agent["normalizer"]}
        counters["agent_updates"] = agent["updates"]
    out["optimizers"] = optimizers
    out["counters"] = counters
    return out


def merge_parts(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """Merge dicts of named parts; parts present in several (``optimizers``, ``counters``) are merged
    one level down (their keys must not collide)."""
    out: dict[str, Any] = {}
    for p in parts:
        for key, value in p.items():
            if key in out:
                if not (isinstance(out[key], dict) and isinstance(value, Mapping)):
                    raise ValueError(f"checkpoint part {key!r} given twice")
                clash = set(out[key]) & set(value)
                if clash:
                    raise ValueError(f"checkpoint part {key!r}: {sorted(clash)} given twice")
                out[key] = {**out[key], **value}
            else:
                out[key] = dict(value) if isinstance(value, Mapping) else value
    return out


def rng_state() -> dict[str, Any]:
    """State of Python's, numpy's global and torch's (CPU and CUDA) generators, checkpoint-safe."""
    np_state = np.random.get_state(legacy=False)
    np_state = {**np_state, "state": {**np_state["state"], "key": np_state["state"]["key"].tolist()}}
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np_state,
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (CUDA state only where CUDA is available)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    key = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**np_state, "state": {**np_state["state"], "key": key}})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_loadable(obj: Any, where: str) -> None:
    # Exact types: numpy scalars (np.float64 subclasses float) would not load with weights_only.
    if type(obj) in _PRIMITIVES or isinstance(obj, _TORCH_LEAVES):
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if type(k) not in _PRIMITIVES:
                raise TypeError(f"checkpoint key {where}[{k!r}] has type {type(k).__name__}")
            _check_loadable(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_loadable(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"checkpoint value {where} has type {type(obj).__name__}; store tensors, numbers, strings, "
        "None, or dicts / lists / tuples of them"
    )


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
