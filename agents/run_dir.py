"""Run directories: where a run keeps its config, TensorBoard events, eval.csv, checkpoints, episodes, videos.

Layout::

    runs/<env id>/<algo>/<seed>-<YYYYmmdd-HHMMSS>/   (or --run-dir)
        config.yaml      the run's final config, led by config_class (read back by --resume, and by
                         agents.configs.load_run_config for every tool that opens a run)
        system.json      what the run ran on: {"devices": ["cpu"]}, one entry per device used
        eval.csv         one row per evaluation (agents.evaluation.EvalLog)
        events.out.tfevents.*   TensorBoard (agents.logger.Logger)
        checkpoints/     ckpt-<step>.pt, the newest three
        episodes/        every collected episode as .npz (envs.replay.EpisodeReplay)
        videos/
        .lock            held (``flock``) by the process writing the run, for as long as it lives

One process writes a run: :meth:`RunDir.open` takes the run's lock before it writes anything, so a second
``--resume`` of a run that is still training ends with one line instead of training beside it (its rows
in ``eval.csv``, its checkpoints and episode files interleaved with the first one's).
"""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import json
import os
import typing
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import dacite
import yaml

import envs
from agents.config import RunConfig
from envs.atomic import atomic_write
from envs.errors import UserError

C = TypeVar("C")

CONFIG_FILE = "config.yaml"
SYSTEM_FILE = "system.json"
LOCK_FILE = ".lock"

_HELD_LOCKS: dict[Path, int] = {}
"""Run directories this process holds the lock of (resolved path -> the lock file's descriptor). The
descriptors stay open until the process ends: the kernel releases the lock then, also after a kill -9."""


def read_system(path: Path) -> dict[str, Any]:
    """The mapping in a run's ``system.json`` (empty where the file is missing, unreadable or not a
    mapping: it is informative, never a reason to stop)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class RunStoppedError(Exception):
    """A run that cannot go on by itself (it keeps diverging, its disk is full).

    The message says what happened, where the run stopped and which checkpoint is intact; scripts print
    it as one ``error: ...`` line and exit with status 1 (see :func:`agents.cli.run_main`).
    """


def lock_run_dir(path: Path) -> None:
    """Take the exclusive lock of the run directory ``path`` for the rest of this process's life (again in
    the same process: nothing happens).

    The lock is ``flock`` on ``path / .lock``, which holds the writer's process id for the message.

    Raises:
        UserError: Another process holds it (the message names its process id).
    """
    key = Path(path).resolve()
    if key in _HELD_LOCKS:
        return
    fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        who = f" (process {holder})" if holder.isdigit() else ""
        raise UserError(
            f"run directory {path} is in use by another process{who}; one process writes a run: wait for "
            "it to end, or stop it (Ctrl-C, kill -TERM) and resume then"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD_LOCKS[key] = fd


@dataclass(frozen=True)
class RunDir:
    """An opened run directory.

    Attributes:
        path: The run directory.
        checkpoints: ``path / "checkpoints"``.
        episodes: ``path / "episodes"``.
        videos: ``path / "videos"``.
        resumed: True when an existing run is continued (``--resume``).
        config: The run's config with ``run_dir`` set to ``path``.
    """

    path: Path
    checkpoints: Path
    episodes: Path
    videos: Path
    resumed: bool
    config: RunConfig

    @property
    def eval_csv(self) -> Path:
        """``path / "eval.csv"``."""
        return self.path / "eval.csv"

    @classmethod
    def open(cls, cfg: RunConfig, *, algo: str) -> RunDir:
        """Create the run directory for ``cfg`` (or open it again with ``cfg.resume``) and take its lock.

        The default path is ``runs/<full env id>/<algo>/<seed>-<YYYYmmdd-HHMMSS>`` (relative to the
        working directory); ``cfg.run_dir`` overrides it. ``config.yaml`` is (re)written with the final
        config, so on resume it records the changed fields (``--steps``, ``--device``, eval fields). The
        run's lock (:func:`lock_run_dir`) is taken before anything is written, and a resumed budget is
        checked against the run's newest checkpoint before ``config.yaml`` is rewritten.

        Raises:
            UserError: If the directory exists and ``cfg.resume`` is False, or ``cfg.resume`` is True
                without an existing run directory; another process writes the run; ``--steps`` on resume
                below the step of the run's newest checkpoint.
        """
        if cfg.resume:
            if cfg.run_dir is None:
                raise UserError("--resume needs --run-dir: the run directory to continue")
            path = Path(cfg.run_dir)
            if not (path / CONFIG_FILE).is_file():
                raise UserError(f"cannot resume: {path} is not a run directory (no {CONFIG_FILE})")
            lock_run_dir(path)
            _check_resumed_budget(path, cfg.steps)
        else:
            if cfg.run_dir is not None:
                path = Path(cfg.run_dir)
            else:
                stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
                path = Path("runs") / envs.resolve_env_id(cfg.env) / algo / f"{cfg.seed}-{stamp}"
            exists = UserError(
                f"run directory {path} exists; pass --resume to continue it or choose another --run-dir"
            )
            if path.exists():
                raise exists
            try:
                path.mkdir(parents=True)  # fails if another process created it since the check above
            except FileExistsError:
                raise exists from None
            lock_run_dir(path)
        cfg = dataclasses.replace(cfg, run_dir=path)
        run = cls(
            path=path,
            checkpoints=path / "checkpoints",
            episodes=path / "episodes",
            videos=path / "videos",
            resumed=cfg.resume,
            config=cfg,
        )
        for d in (run.path, run.checkpoints, run.episodes, run.videos):
            d.mkdir(parents=True, exist_ok=True)
        save_config(cfg, path / CONFIG_FILE)
        return run

    def record_device(self, device: object) -> None:
        """Record in ``system.json`` the device this session trains on (``--device auto`` resolved), so
        that reports show what ran: ``{"devices": [...]}``, the devices of all sessions, each once."""
        path = self.path / SYSTEM_FILE
        data = read_system(path)
        devices = [d for d in data.get("devices", []) if isinstance(d, str)]
        if str(device) not in devices:
            devices.append(str(device))
        data["devices"] = devices
        with atomic_write(path, "w") as f:
            f.write(json.dumps(data) + "\n")


def _check_resumed_budget(path: Path, steps: int) -> None:
    """Refuse a resumed ``--steps`` below the step of the run's newest checkpoint: the run would stop at
    once, and ``config.yaml`` would record the smaller budget for good.

    Raises:
        UserError: ``steps`` is below the newest checkpoint's step.
    """
    from agents.checkpoint import list_checkpoints  # torch: only where a run is resumed

    found = list_checkpoints(path / "checkpoints")
    if found and steps < found[-1][0]:
        step, newest = found[-1]
        raise UserError(
            f"--steps {steps:,} is below the step the run has reached ({step:,}, {newest.name}); a resumed "
            "run may only keep or raise its budget (config.yaml is unchanged)"
        )


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A (nested) config dataclass as plain YAML-safe data: Paths as str, tuples as lists."""
    return _plain(dataclasses.asdict(cfg))


CLASS_KEY = "config_class"
"""The key of ``config.yaml`` that names the config class which wrote it."""


def save_config(cfg: Any, path: Path) -> None:
    """Write ``cfg`` (a dataclass) to ``path`` as YAML, atomically, with its class name first."""
    text = yaml.safe_dump({CLASS_KEY: type(cfg).__name__, **config_to_dict(cfg)}, sort_keys=False)
    with atomic_write(Path(path), "w") as f:
        f.write(text)


def read_config_class(path: Path) -> str | None:
    """The config class named by a ``config.yaml`` (``None`` for files written before it was recorded).

    Raises:
        UserError: If the file is missing or unreadable.
    """
    return _read(Path(path)).get(CLASS_KEY)


def load_config(
    cls: type[C],
    path: Path,
    *,
    complete: bool = False,
    optional: Collection[str] = (),
    drop_unknown: bool = False,
) -> C:
    """Read a config written by :func:`save_config` back into the (nested, frozen) dataclass ``cls``.

    Fields missing from the file take their defaults, unless ``complete``: then a missing field (other
    than the top-level names in ``optional``) is an error (resuming a run with a default its code did
    not have would silently change the run). Fields that ``cls`` has renamed since the run and lists in
    its ``RENAMED_FIELDS`` (``{"old": "new.dotted.name"}``) are read under their new names. Other fields of
    the file that ``cls`` does not have (renamed or removed since the run) are an error, unless
    ``drop_unknown``: then they are left out (for readers that only look at a run, such as reports; never
    for rebuilding or resuming it).

    Raises:
        UserError: If the file is missing or unreadable, names another config class, holds fields ``cls``
            does not have (without ``drop_unknown``), or (``complete``) lacks some of its fields.
    """
    path = Path(path)
    data = _read(path)
    written_by = data.pop(CLASS_KEY, None)
    if written_by is not None and written_by != cls.__name__:
        raise UserError(f"config {path} was written by {written_by}, not {cls.__name__}")
    data = _renamed_moved(cls, data)
    if drop_unknown:
        data = _known_fields(cls, data)
    if complete:
        missing = sorted(set(_field_names(cls)) - set(_field_names_of_data(data)) - set(optional))
        if missing:
            raise UserError(
                f"config {path} lacks {', '.join(missing)} (written by an older version of the toolkit); "
                "resuming it with today's defaults would change the run: start a new run"
            )
    try:
        return typing.cast(C, _build(cls, data, ""))
    except (TypeError, ValueError) as e:
        raise UserError(f"config {path} does not match {cls.__name__}: {e}") from e


def load_shared_fields(path: Path) -> RunConfig:
    """The fields every script shares (:class:`RunConfig`: env, seed, steps, preset, device, evaluation)
    of a ``config.yaml`` written before :data:`CLASS_KEY` was recorded (before 2026-11-29); its other
    fields are left out, since nothing says which class they belong to.

    Raises:
        UserError: The file is missing or unreadable, names a config class (read it with that class),
            has no ``env``, or holds a shared field of the wrong type.
    """
    path = Path(path)
    data = _read(path)
    if CLASS_KEY in data:
        raise UserError(f"config {path} names its class ({data[CLASS_KEY]}): read it with that class")
    if "env" not in data:
        raise UserError(f"config {path} has no env and names no config class: not a run of this toolkit")
    try:
        return _build(RunConfig, _known_fields(RunConfig, data), "")
    except (TypeError, ValueError) as e:
        raise UserError(f"config {path} does not match {RunConfig.__name__}: {e}") from e


def _renamed_moved(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the top-level keys that ``cls`` has renamed since (its ``RENAMED_FIELDS`` class
    variable, ``{"old": "new.dotted.name"}``) moved to their new names; a value already under the new
    name is kept. ``data`` itself is left as it is."""
    renamed: dict[str, str] = getattr(cls, "RENAMED_FIELDS", {})
    out = copy.deepcopy(data)
    for old, new in renamed.items():
        if old not in out:
            continue
        value = out.pop(old)
        *parents, leaf = new.split(".")
        node = out
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                break  # not a section: the file does not fit the class, as building it will say
        else:
            node.setdefault(leaf, value)
    return out


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the entries that the (nested) dataclass ``cls`` has no field for."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in data:
            continue
        value, tp = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
            value = _known_fields(tp, value)
        out[f.name] = value
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"cannot read config {path}: {e}".replace("\n", " ")) from e
    if not isinstance(data, dict):
        raise UserError(f"config {path} does not hold a mapping of fields")
    return data


def _field_names(cls: type, prefix: str = "") -> list[str]:
    """Dotted names of every leaf field of a (nested) config dataclass."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            out += _field_names(tp, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def _field_names_of_data(data: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in data.items():
        if isinstance(v, dict):
            out += _field_names_of_data(v, f"{prefix}{k}.")
        out.append(prefix + str(k))
    return out


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, Enum):
        return x.value
    return x


def _number(value: Any) -> float:
    """A float field's YAML value: an int or a float (never a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


_DACITE = dacite.Config(strict=True, cast=[tuple, Path, Enum], type_hooks={float: _number})
"""YAML data to the config dataclasses: unknown fields are errors, lists become tuples, strings paths,
values enum members; an int is a float field's value (YAML writes 1e-3 but also 1); every other type
must match exactly (``check_types``)."""


def _unknown_fields(cls: type, data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the entries of ``data`` that the (nested) dataclass ``cls`` has no field for."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    out = []
    for key, value in data.items():
        tp = hints.get(key)
        if key not in fields:
            out.append(f"{prefix}{key}")
        elif dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
            out += _unknown_fields(tp, value, f"{prefix}{key}.")
    return out


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    """``cls`` from its YAML ``data`` (:mod:`dacite`); raises ValueError naming the field at fault."""
    unknown = _unknown_fields(cls, data, prefix)
    if unknown:
        raise ValueError("unknown fields " + ", ".join(sorted(unknown)))
    try:
        return dacite.from_dict(cls, data, config=_DACITE)
    except dacite.DaciteError as e:
        raise ValueError(str(e)) from e
