"""The command-line contract every script shares: config parsing, presets, --resume, exit codes.

A script is::

    def main() -> None:
        cfg = parse_config(DreamConfig, algo="dreamer", description=__doc__, presets=PRESETS)
        ...

    if __name__ == "__main__":
        run_main(main)
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import difflib
import errno
import inspect
import io
import math
import re
import shutil
import sys
import textwrap
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import tyro
from tyro.constructors import ConstructorRegistry, StructConstructorSpec, StructTypeInfo

from agents.config import RunConfig
from agents.run_dir import CONFIG_FILE, RunStoppedError
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
        "train.progress",
        "train.checkpoint_minutes",
    }
)
"""Fields the command line may change when resuming (``run_dir`` locates the run, so it may move;
``threads``, the progress bar (``progress`` of a fit, ``train.progress`` of a Dreamer run) and the
time between checkpoints change how fast and how visibly it runs, not what it computes). A file written
before one of them existed may lack it."""

HELP_WIDTH = 100
"""The widest line of ``--help`` text outside the option boxes (a wider terminal still gets this)."""


def parse_config(
    cls: type[C],
    *,
    algo: str,
    description: str,
    presets: dict[str, C] | None = None,
    args: Sequence[str] | None = None,
    prog: str | None = None,
    brief_groups: bool = False,
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
        brief_groups: ``--help`` documents the top-level options in full and lists the nested groups'
            options by name, type and default only (``--help-verbose`` documents every option); for
            configs with many nested options.

    Returns:
        The config.

    Raises:
        UserError: A command line tyro rejects (the message is one line); an option out of range;
            unknown preset; ``--resume`` without ``--run-dir`` or without a run there; a run another
            script wrote (the message names the command that resumes it); changed fields on resume (the
            message names them).
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
    cfg = _cli(cls, parse_cls, default, argv, description, prog, brief_groups)
    if not cfg.resume:
        return cfg
    if cfg.run_dir is None:
        raise UserError("--resume needs --run-dir: the run directory to continue")
    config_file = Path(cfg.run_dir) / CONFIG_FILE
    if not config_file.is_file():
        raise UserError(f"cannot resume: {cfg.run_dir} is not a run directory (no {CONFIG_FILE})")
    from agents.configs import load_resumed_config  # the one reader of saved configs, old ones included

    # fields that do not change what the run computes may be missing from an older file
    saved = load_resumed_config(cls, config_file, optional=RESUMABLE_FIELDS | {"preset"})
    if saved.preset is None and preset_name is not None:  # a run from before presets were recorded
        saved = dataclasses.replace(saved, preset=preset_name)
    changed = _changed_fields(saved, cfg) if preset_name is not None else set()
    resumed = _cli(cls, parse_cls, saved, argv, description, prog, brief_groups)
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
    brief_groups: bool = False,
) -> T:
    """Read a dataclass of options from the command line with tyro, reporting mistakes on one line.

    ``--help`` prints tyro's help (program name ``prog``) and exits with status 0: field docstrings as
    plain sentences (:func:`plain_help`), the description's paragraphs wrapped at :data:`HELP_WIDTH`.
    Anything tyro rejects (an unknown option, a bad value, a bad choice, a missing option) becomes a
    :class:`UserError` whose message is one line and keeps tyro's suggestion, e.g. ``unrecognized option
    --stesp (did you mean --steps?)``; :func:`run_main` prints it as ``error: ...`` and exits with status
    2. So does a number that is not finite (``--model.optim.lr nan``).

    Args:
        cls: A dataclass of options.
        description: ``--help`` text (a docstring: reST ``::`` markers are shown as ``:``).
        args: Arguments (default ``sys.argv[1:]``).
        default: Default values (an instance of ``cls``).
        prog: Program name (default: ``python -m <the running module>``, else tyro's).
        brief_groups: See :func:`parse_config`.

    Raises:
        UserError: A command line that tyro rejects, a value the dataclass itself rejects, or a number
            that is NaN or infinite.
    """
    argv = list(sys.argv[1:] if args is None else args)
    description = help_description(description)
    if brief_groups:
        description += "\n\n" + BRIEF_NOTE
    prog = prog or program_name()

    def cli(argv: list[str]) -> T:
        return typing.cast(
            T,
            tyro.cli(
                cls,
                default=default,
                args=argv,
                description=description,
                prog=prog,
                compact_help=brief_groups,
                registry=_HELP_REGISTRY,
            ),
        )

    captured, shown = io.StringIO(), _TerminalCapture()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(shown):
            out = cli(argv)
    except SystemExit as exit_:
        if exit_.code in (0, None):
            text = shown.getvalue()
            if brief_groups and not {"-H", "--help-verbose"} & set(argv):
                text = _full_first_group(text, _help_text(lambda: cli(["--help-verbose"])))
            sys.stdout.write(wrap_help(text))
            sys.stderr.write(captured.getvalue())
            raise
        raise UserError(one_line_error(captured.getvalue())) from None
    sys.stdout.write(shown.getvalue())
    sys.stderr.write(captured.getvalue())  # warnings tyro may have printed
    check_finite(out)
    return out


BRIEF_NOTE = "Options of the nested groups in brief: -H / --help-verbose documents every option."
"""The line ``--help`` adds to the description where the nested groups are listed briefly."""


class _TerminalCapture(io.StringIO):
    """Captures ``--help`` for rewrapping, while tyro still sees the real stdout's terminal and encoding
    (it draws colours and box lines by them)."""

    def __init__(self) -> None:
        super().__init__()
        self._real = sys.stdout  # created before the redirect

    def isatty(self) -> bool:
        return self._real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        name = getattr(self._real, "encoding", None) or "utf-8"
        try:
            return codecs.lookup(name).name  # "UTF-8" -> "utf-8", the spelling tyro compares with
        except LookupError:
            return name


def _help_text(render: Callable[[], Any]) -> str:
    """What ``render`` (a tyro call that prints help and exits) writes to stdout."""
    shown = _TerminalCapture()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(shown):
        render()
    return shown.getvalue()


def _full_first_group(brief: str, verbose: str) -> str:
    """``brief`` help with its first box of options (the top-level ones) taken from ``verbose``: every
    top-level option documented, the nested groups listed briefly. ``brief`` as it is where either text
    has no box."""

    def first_box(text: str) -> tuple[int, int] | None:
        lines = text.splitlines(keepends=True)
        start = next((i for i, line in enumerate(lines) if _ANSI.sub("", line).startswith("╭")), None)
        if start is None:
            return None
        end = next((i for i in range(start, len(lines)) if _ANSI.sub("", lines[i]).startswith("╰")), None)
        return None if end is None else (start, end + 1)

    a, b = first_box(brief), first_box(verbose)
    if a is None or b is None:
        return brief
    brief_lines, verbose_lines = brief.splitlines(keepends=True), verbose.splitlines(keepends=True)
    return "".join(brief_lines[: a[0]] + verbose_lines[b[0] : b[1]] + brief_lines[a[1] :])


def wrap_help(text: str, width: int | None = None) -> str:
    """Wrap the lines of ``--help`` output outside tyro's option boxes that are wider than ``width``
    (default: the terminal's, at most :data:`HELP_WIDTH`): tyro prints a description paragraph as one
    line. Indented lines (examples, commands) are left as they are; two blank lines become one."""
    width = width or min(shutil.get_terminal_size().columns, HELP_WIDTH)
    out: list[str] = []
    for line in text.splitlines():
        plain = _ANSI.sub("", line)
        if not plain.strip() and out and not out[-1].strip():
            continue  # tyro's extra blank line before a paragraph that starts with "--"
        if len(plain) <= width or plain[:1] in ("╭", "│", "╰", " ", "\t") or plain != line:
            out.append(line)
        else:
            out.extend(textwrap.wrap(line, width, break_on_hyphens=False, break_long_words=False))
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


_REST_ROLE = re.compile(r":(?:func|class|meth|data|mod|attr|obj):`~?([^`]+)`")


def plain_help(text: str) -> str:
    """A field docstring as one ``--help`` paragraph: reST markup gone (````x````, ``:func:`x```), and the
    line breaks of the source joined (tyro keeps a break before every continuation line of an indented
    docstring, which shows as a hard break mid-sentence); breaks before a list item (``- ``) and blank
    lines stay."""
    text = _REST_ROLE.sub(r"\1", text).replace("``", "")
    text = re.sub(r"::$", ":", text, flags=re.MULTILINE)
    text = re.sub(r"(?<=\S)[ \t]*\n[ \t]*(?=\S)(?![-*] )", " ", text)
    return text.strip()


def _plain_help_rule_factory() -> ConstructorRegistry:
    """A tyro registry whose rule passes every dataclass field's help text through :func:`plain_help`
    (tyro's own rule builds the fields; this one only rewrites their help)."""
    registry = ConstructorRegistry()
    busy: list[bool] = []

    @registry.struct_rule
    def plain_field_help(info: StructTypeInfo) -> StructConstructorSpec | None:
        if busy or not dataclasses.is_dataclass(info.type):
            return None
        busy.append(True)
        try:
            spec = ConstructorRegistry.get_struct_spec(info)  # the rules below this one
        finally:
            busy.pop()
        if not isinstance(spec, StructConstructorSpec):
            return None
        fields = tuple(dataclasses.replace(f, helptext=_plain(f.helptext)) for f in spec.fields)
        return StructConstructorSpec(instantiate=spec.instantiate, fields=fields)

    return registry


def _plain(helptext: Any) -> Any:
    if isinstance(helptext, str):
        return plain_help(helptext)
    if callable(helptext):
        return lambda: _plain(helptext())
    return helptext


_HELP_REGISTRY = _plain_help_rule_factory()


def check_finite(cfg: Any) -> None:
    """Refuse a config holding a number that is NaN or infinite (``--model.optim.lr nan``): no option
    means anything by them, and they pass every range check (``nan < 0`` is false).

    Raises:
        UserError: naming the option, e.g. ``--model.optim.lr must be a finite number, got nan``.
    """
    for name, value in _numbers(cfg, ""):
        if not math.isfinite(value):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number, got {value}")


def _numbers(obj: Any, prefix: str) -> list[tuple[str, float]]:
    """(option name, value) of every float in a (nested) dataclass, tuples included. A field annotated
    ``tyro.conf.arg(name="")`` puts its fields at the top level, as its options are named."""
    out: list[tuple[str, float]] = []
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return out
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        flat = any(getattr(m, "name", None) == "" for m in getattr(hints.get(f.name), "__metadata__", ()))
        name = prefix if flat else f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out += _numbers(value, f"{name}." if name else "")
        elif isinstance(value, float):
            out.append((name, value))
        elif isinstance(value, tuple | list):
            out += [(name, v) for v in value if isinstance(v, float)]
    return out


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
    plain colon, reST markup goes (inline-literal backquotes, ``:func:`` roles), each paragraph becomes
    one line (:func:`wrap_help` wraps it at the terminal's width: tyro would break the line before each
    continuation line that starts with ``--`` or a bracket), and the blank line before an indented block
    goes (tyro starts every line that does not begin with a letter on a new line: a blank line there
    shows as two). Indented lines (examples) stay as they are, a shell continuation's backslash included.
    """
    text = inspect.cleandoc(docstring)
    text = re.sub(r"::$", ":", text, flags=re.MULTILINE).replace("``", "")
    text = _REST_ROLE.sub(r"\1", text)
    lines: list[str] = []
    for line in text.splitlines():
        prose = line[:1] not in ("", " ", "\t") and not line.startswith(("- ", "* "))
        if prose and lines and lines[-1][:1] not in ("", " ", "\t") and not lines[-1].endswith(":"):
            lines[-1] += " " + line
        else:
            lines.append(line)
    text = re.sub(r"\n\s*\n(?=[ \t])", "\n", "\n".join(lines))
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
    """Run a script's ``main``, the one place where exceptions become what a user reads.

    - :class:`UserError` (a mistake in the input): ``error: <message>`` on one line to stderr, status 2.
    - A run that cannot go on (:class:`agents.run_dir.RunStoppedError`: it keeps diverging, its disk is
      full), and what the machine refuses (a full disk, a file or folder without permission, memory
      running out: :func:`machine_failure`): one such line, status 1.
    - Ctrl-C: status 130 (``fn`` handles it first to checkpoint).
    - Anything else is a bug and keeps its traceback.

    Standard output is made line-buffered first, so that a log file or pipe gets each line as it is
    printed (Python buffers a redirected stdout in blocks of 8 KiB: minutes of silence in a log)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    try:
        fn()
    except UserError as e:
        _error_line(str(e))
        sys.exit(2)
    except RunStoppedError as e:
        _error_line(str(e))
        sys.exit(1)
    except (OSError, MemoryError, RuntimeError) as e:
        message = machine_failure(e)
        if message is None:
            raise
        _error_line(message)
        sys.exit(1)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):  # a terminal that is gone (SIGHUP)
            print("interrupted", file=sys.stderr)
        sys.exit(130)


def machine_failure(err: BaseException) -> str | None:
    """A one-line message for an exception that says what the machine refused rather than a bug: a full
    disk, a missing permission, memory running out (host memory, or the GPU's: torch's
    ``OutOfMemoryError``). None for anything else, which keeps its traceback."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {err.filename}" if err.filename else ""
        return f"no space left on the device{where}: free some space, then resume the run"
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = f" {err.filename}" if err.filename else ""
        return f"cannot access{what}: {err.strerror or 'permission denied'}"
    torch = sys.modules.get("torch")  # not imported: the error cannot be torch's
    out_of_gpu = torch is not None and isinstance(err, getattr(torch, "OutOfMemoryError", ()))
    if isinstance(err, MemoryError) or out_of_gpu:
        where = "GPU" if out_of_gpu else "host"
        first = (str(err).strip().splitlines() or [""])[0][:200]  # torch's names the allocation first
        detail = f" ({first})" if first else ""
        return f"out of {where} memory{detail}: a smaller preset, batch or number of envs needs less"
    return None


def _error_line(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"error: {' '.join(message.split())}", file=sys.stderr)


def _cli(
    cls: type[C],
    parse_cls: type[C],
    default: C | None,
    argv: list[str],
    description: str,
    prog: str | None,
    brief_groups: bool,
) -> C:
    """Parse with ``parse_cls`` (``cls`` or its subclass listing the presets), return a ``cls``."""
    if parse_cls is not cls and default is not None:
        default = _convert(parse_cls, default)
    out = parse_options(
        parse_cls, description=description, args=argv, default=default, prog=prog, brief_groups=brief_groups
    )
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
    field = (  # the metavar leaves out None: --preset is read before tyro, and None is no preset
        "preset",
        Annotated[choices | None, tyro.conf.arg(help=help_text, metavar="{" + ",".join(names) + "}")],
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
