"""The command-line contract every script shares: config parsing, presets, --resume, exit codes.

A script is::

    def main() -> None:
        cfg = parse_config(DreamConfig, algo="dreamer", description=__doc__, presets=PRESETS)
        ...

    if __name__ == "__main__":
        run_main(main)
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import io
import re
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import tyro

from agents.config import RunConfig
from agents.run_dir import CONFIG_FILE, load_config
from envs.errors import UserError

C = TypeVar("C", bound=RunConfig)
T = TypeVar("T")

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
    prog: str | None = None,
) -> C:
    """Read a script's config from the command line.

    ``--preset NAME`` (taken out of the arguments before tyro sees them) selects the defaults the other
    options override; it is listed among the options of ``--help`` with its choices, and recorded in the
    config's ``preset`` field (without ``--preset``: the name of the preset equal to the plain defaults,
    if there is one). With ``--resume`` the run's saved ``config.yaml`` becomes the defaults instead;
    the command line may then change only :data:`RESUMABLE_FIELDS` (a ``--preset`` given again must
    agree with the saved config on every other field too).

    Args:
        cls: A frozen dataclass subclassing :class:`RunConfig`.
        algo: Algorithm name (for messages; the run directory uses it too).
        description: ``--help`` text (a docstring: reST ``::`` markers are shown as ``:``).
        presets: Named default configs.
        args: Arguments (default ``sys.argv[1:]``).
        prog: Program name in ``--help`` and messages (default: ``python -m <the running module>``).

    Returns:
        The config.

    Raises:
        UserError: A command line tyro rejects (the message is one line); an option out of range;
            unknown preset; ``--resume`` without ``--run-dir`` or without a run there; changed fields on
            resume (the message names them).
    """
    argv = list(sys.argv[1:] if args is None else args)
    argv, preset_name = _take_preset(argv)
    presets = presets or {}
    default: C | None = None
    if preset_name is not None:
        if preset_name not in presets:
            choices = ", ".join(presets) if presets else f"none for {algo}"
            raise UserError(f"unknown preset {preset_name!r}; choose from: {choices}")
        default = dataclasses.replace(presets[preset_name], preset=preset_name)
    else:
        plain = cls()
        same = [name for name, p in presets.items() if dataclasses.replace(p, preset=None) == plain]
        if same:
            default = dataclasses.replace(plain, preset=same[0])
    parse_cls = _with_preset_choices(cls, presets)
    cfg = _cli(cls, parse_cls, default, argv, description, prog)
    if not cfg.resume:
        return cfg
    if cfg.run_dir is None:
        raise UserError("--resume needs --run-dir: the run directory to continue")
    config_file = Path(cfg.run_dir) / CONFIG_FILE
    if not config_file.is_file():
        raise UserError(f"cannot resume: {cfg.run_dir} is not a run directory (no {CONFIG_FILE})")
    # fields that do not change what the run computes may be missing from an older file
    saved = load_config(cls, config_file, complete=True, optional=RESUMABLE_FIELDS | {"preset"})
    if saved.preset is None and preset_name is not None:  # a run from before presets were recorded
        saved = dataclasses.replace(saved, preset=preset_name)
    changed = _changed_fields(saved, cfg) if preset_name is not None else set()
    resumed = _cli(cls, parse_cls, saved, argv, description, prog)
    changed |= _changed_fields(saved, resumed)
    if changed:
        raise UserError(
            f"--resume keeps the run's saved config; cannot change {', '.join(sorted(changed))} "
            f"(only {', '.join(sorted(RESUMABLE_FIELDS - {'resume', 'run_dir'}))} may change)"
        )
    return resumed


def parse_options(
    cls: type[T],
    *,
    description: str,
    args: Sequence[str] | None = None,
    default: T | None = None,
    prog: str | None = None,
) -> T:
    """Read a dataclass of options from the command line with tyro, reporting mistakes on one line.

    ``--help`` prints tyro's help (program name ``prog``) and exits with status 0. Anything tyro rejects
    (an unknown option, a bad value, a bad choice, a missing option) becomes a :class:`UserError` whose
    message is one line and keeps tyro's suggestion, e.g. ``unrecognized option --stesp (did you mean
    --steps?)``; :func:`run_main` prints it as ``error: ...`` and exits with status 2.

    Args:
        cls: A dataclass of options.
        description: ``--help`` text (a docstring: reST ``::`` markers are shown as ``:``).
        args: Arguments (default ``sys.argv[1:]``).
        default: Default values (an instance of ``cls``).
        prog: Program name (default: ``python -m <the running module>``, else tyro's).

    Raises:
        UserError: A command line that tyro rejects, or a value the dataclass itself rejects.
    """
    argv = list(sys.argv[1:] if args is None else args)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            out = tyro.cli(
                cls,
                default=default,
                args=argv,
                description=help_description(description),
                prog=prog or program_name(),
            )
    except SystemExit as exit_:
        if exit_.code in (0, None):
            sys.stderr.write(captured.getvalue())
            raise
        raise UserError(one_line_error(captured.getvalue())) from None
    sys.stderr.write(captured.getvalue())  # warnings tyro may have printed
    return typing.cast(T, out)


def program_name() -> str | None:
    """``python -m scripts.dream`` when the running program was started as ``python -m scripts.dream``;
    None otherwise (tyro then names ``sys.argv[0]``)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    if not isinstance(name, str) or not name:
        return None
    return f"python -m {name.removesuffix('.__main__')}"


def help_description(docstring: str) -> str:
    """A module docstring as ``--help`` shows it: reST literal-block markers (``Examples::``) become a
    plain colon, inline-literal backquotes go, and so does the blank line before an indented block (tyro
    starts every line that does not begin with a letter on a new line: a blank line there shows as two)."""
    text = inspect.cleandoc(docstring)
    text = re.sub(r"::$", ":", text, flags=re.MULTILINE).replace("``", "")
    text = re.sub(r"\n\s*\n(?=[ \t])", "\n", text)
    return text.strip()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CHOICE = re.compile(r"invalid choice '(.*)' for argument '(.*)'\. Expected one of \((.*)\)\.?$")


def one_line_error(text: str) -> str:
    """Turn tyro's error box into one line (its message, plus the options it suggests).

    tyro (1.x) draws a box: a title, then sections separated by rules (the message; "Perhaps you
    meant:" with the similar options; "Argument helptext:"; "For full helptext, run ..."). Older tyro
    versions print plain lines; anything that does not parse is squeezed onto one line as it is.
    """
    sections: list[list[str]] = [[]]
    title = ""
    for raw in _ANSI.sub("", text).splitlines():
        line = raw.strip()
        if line.startswith("╭"):
            title = line.strip("╭╮─ ")
            continue
        if line.startswith("╰") or not line:
            continue
        if line.startswith("│") and line.endswith("│"):
            line = line[1:-1].rstrip().removeprefix(" ")  # keep the indentation inside the box
        if line.strip() and set(line.strip()) <= set("─"):
            sections.append([])
        elif line.strip():
            sections[-1].append(line)
    sections = [s for s in sections if s]
    if not sections:
        return " ".join(text.split()) or "invalid command line"
    message = " ".join(line.strip() for line in sections[0])
    suggested: list[str] = []
    missing: list[str] = []
    for section in sections[1:]:
        head = section[0].strip()
        if head.startswith("Perhaps you meant") or head.startswith("Arguments similar to"):
            suggested += _option_names(section[1:])
    if message.startswith("Missing from"):
        missing = _option_names(sections[0][1:])
    if missing:
        return f"missing required option{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    if message.startswith("Unrecognized options:"):
        tokens = [t.strip() for t in message.removeprefix("Unrecognized options:").split(",")]
        flags = [t for t in tokens if t.startswith("-")] or tokens
        message = f"unrecognized option{'s' if len(flags) > 1 else ''} {', '.join(flags)}"
    elif m := _CHOICE.match(message):
        value, flag, choices = m.group(1), m.group(2), [c.strip(" '") for c in m.group(3).split(",")]
        choices = [c for c in choices if c]
        message = f"invalid choice {value!r} for {flag}; choose from {', '.join(choices)}"
        suggested = difflib.get_close_matches(value, choices, n=1)
    elif message.startswith("Error parsing "):
        message = "bad value for " + message.removeprefix("Error parsing ")
    elif title and not message[:1].islower():
        message = f"{title.lower()}: {message}"
    if suggested:
        unique = list(dict.fromkeys(suggested))[:3]  # tyro orders them best first
        names = unique[0] if len(unique) == 1 else f"{', '.join(unique[:-1])} or {unique[-1]}"
        message += f" (did you mean {names}?)"
    return message


def _option_names(lines: Sequence[str]) -> list[str]:
    """The option names of tyro's ``--name METAVAR`` lines, indented less than the help text under them."""
    names: list[str] = []
    indents = [len(line) - len(line.lstrip()) for line in lines if line.lstrip().startswith("-")]
    for line in lines:
        if not line.lstrip().startswith("-") or len(line) - len(line.lstrip()) > min(indents):
            continue
        for token in line.replace(",", " ").split():
            if not token.startswith("-"):
                break
            names.append(token)
    return names


def run_main(fn: Callable[[], None]) -> None:
    """Run a script's ``main``: a :class:`UserError` prints ``error: <message>`` on one line to stderr
    and exits with status 2; Ctrl-C exits with status 130 (``fn`` handles it first to checkpoint).

    Standard output is made line-buffered first, so that a log file or pipe gets each line as it is
    printed (Python buffers a redirected stdout in blocks of 8 KiB: minutes of silence in a log)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    try:
        fn()
    except UserError as e:
        message = " ".join(str(e).split())
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def _cli(
    cls: type[C], parse_cls: type[C], default: C | None, argv: list[str], description: str, prog: str | None
) -> C:
    """Parse with ``parse_cls`` (``cls`` or its subclass listing the presets), return a ``cls``."""
    if parse_cls is not cls and default is not None:
        default = _convert(parse_cls, default)
    out = parse_options(parse_cls, description=description, args=argv, default=default, prog=prog)
    return out if type(out) is cls else _convert(cls, out)


def _convert(cls: type[C], cfg: RunConfig) -> C:
    return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls) if f.init})


def _with_preset_choices(cls: type[C], presets: dict[str, C]) -> type[C]:
    """``cls`` with its ``preset`` field shown in ``--help`` with the preset names as choices (a
    subclass made for parsing only), or ``cls`` itself when there are no presets."""
    if not presets:
        return cls
    names = tuple(presets)
    choices = Literal[names]  # type: ignore[valid-type]
    help_text = (
        f"Named defaults that the other options override: {', '.join(names)}. Recorded in config.yaml."
    )
    field = (
        "preset",
        Annotated[choices | None, tyro.conf.arg(help=help_text)],
        dataclasses.field(default=None),
    )
    parse_cls = dataclasses.make_dataclass(cls.__name__, [field], bases=(cls,), frozen=True)
    parse_cls.__doc__ = cls.__doc__
    parse_cls.__module__ = cls.__module__
    return typing.cast(type[C], parse_cls)


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
