"""The command-line contract every script shares: config parsing, presets, --resume, exit codes.

A script is::

    def main() -> None:
        cfg = parse_config(DreamConfig, algo="dreamer", description=__doc__, presets=PRESETS)
        ...

    if __name__ == "__main__":
        run_main(main)
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import tyro

from agents.config import RunConfig
from agents.run_dir import CONFIG_FILE, load_config
from envs.errors import UserError

C = TypeVar("C", bound=RunConfig)

RESUMABLE_FIELDS = frozenset(
    {
        "steps",
        "device",
        "resume",
        "eval_every",
        "eval_early",
        "eval_episodes",
        "run_dir",
        "threads",
        "progress",
    }
)
"""Fields the command line may change when resuming (``run_dir`` locates the run, so it may move;
``threads`` and ``progress`` change how fast and how visibly it runs, not what it computes)."""


def parse_config(
    cls: type[C],
    *,
    algo: str,
    description: str,
    presets: dict[str, C] | None = None,
    args: Sequence[str] | None = None,
) -> C:
    """Read a script's config from the command line.

    ``--preset NAME`` (taken out of the arguments before tyro sees them) selects the defaults the other
    options override. With ``--resume`` the run's saved ``config.yaml`` becomes the defaults instead;
    the command line may then change only :data:`RESUMABLE_FIELDS` (a ``--preset`` given again must
    agree with the saved config on every other field too).

    Args:
        cls: A frozen dataclass subclassing :class:`RunConfig`.
        algo: Algorithm name (for messages; the run directory uses it too).
        description: ``--help`` text.
        presets: Named default configs.
        args: Arguments (default ``sys.argv[1:]``).

    Returns:
        The config.

    Raises:
        UserError: Unknown preset; ``--resume`` without ``--run-dir`` or without a run there; changed
            fields on resume (the message names them).
    """
    argv = list(sys.argv[1:] if args is None else args)
    argv, preset_name = _take_preset(argv)
    presets = presets or {}
    if presets:
        description = f"{description.rstrip()}\n\nPresets (--preset NAME): {', '.join(presets)}."
    default: C | None = None
    if preset_name is not None:
        if preset_name not in presets:
            choices = ", ".join(presets) if presets else f"none for {algo}"
            raise UserError(f"unknown preset {preset_name!r}; choose from: {choices}")
        default = presets[preset_name]
    cfg = _cli(cls, default, argv, description)
    if not cfg.resume:
        return cfg
    if cfg.run_dir is None:
        raise UserError("--resume needs --run-dir: the run directory to continue")
    config_file = Path(cfg.run_dir) / CONFIG_FILE
    if not config_file.is_file():
        raise UserError(f"cannot resume: {cfg.run_dir} is not a run directory (no {CONFIG_FILE})")
    saved = load_config(cls, config_file, complete=True)
    changed = _changed_fields(saved, cfg) if preset_name is not None else set()
    resumed = _cli(cls, saved, argv, description)
    changed |= _changed_fields(saved, resumed)
    if changed:
        raise UserError(
            f"--resume keeps the run's saved config; cannot change {', '.join(sorted(changed))} "
            f"(only {', '.join(sorted(RESUMABLE_FIELDS - {'resume', 'run_dir'}))} may change)"
        )
    return resumed


def run_main(fn: Callable[[], None]) -> None:
    """Run a script's ``main``: a :class:`UserError` prints ``error: <message>`` on one line to stderr
    and exits with status 2; Ctrl-C exits with status 130 (``fn`` handles it first to checkpoint)."""
    try:
        fn()
    except UserError as e:
        message = " ".join(str(e).split())
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def _cli(cls: type[C], default: C | None, argv: list[str], description: str) -> C:
    return typing.cast(C, tyro.cli(cls, default=default, args=argv, description=description))


def _take_preset(argv: list[str]) -> tuple[list[str], str | None]:
    """Remove ``--preset NAME`` / ``--preset=NAME`` from ``argv``; the last one wins."""
    rest: list[str] = []
    name: str | None = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--preset":
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise UserError("--preset needs a name")
            name = argv[i + 1]
            i += 2
            continue
        if a.startswith("--preset="):
            name = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    return rest, name


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(_flatten(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = value
    return out


def _changed_fields(saved: RunConfig, new: RunConfig) -> set[str]:
    a, b = _flatten(saved), _flatten(new)
    return {k for k in a.keys() | b.keys() if k not in RESUMABLE_FIELDS and a.get(k) != b.get(k)}
