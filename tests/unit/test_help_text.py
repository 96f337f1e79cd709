"""`--help` reads at 80 columns (issue #30): paragraphs wrapped, no hard breaks mid-sentence, no reST markup,
no `None` among choices that refuse it, examples keep their line continuations, and `scripts.dream --help`
lists its nested groups briefly."""

from __future__ import annotations

import itertools
import re

import pytest

from agents.cli import HELP_WIDTH, help_description, parse_config, parse_options, plain_help, wrap_help
from agents.configs import DREAM_PRESETS, FIT_PRESETS, DreamConfig, FitConfig

BOX = ("╭", "│", "╰")


def _help(capsys: pytest.CaptureFixture[str], parse: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(SystemExit) as exit_info:
        parse(*args, **kwargs)  # type: ignore[operator]
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.fixture
def columns_80(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def _dream_help(capsys: pytest.CaptureFixture[str], flag: str = "--help") -> str:
    from scripts import dream

    return _help(
        capsys,
        parse_config,
        DreamConfig,
        algo="dreamer",
        description=dream.__doc__ or "",
        presets=DREAM_PRESETS,
        args=[flag],
        prog="python -m scripts.dream",
        brief_groups=True,
    )


def _hard_breaks(text: str) -> list[str]:
    """Lines of an option's help inside a box that end early although the next line's first word fit:
    a line break kept from the source, not one of the wrapping."""
    lines = [line for line in text.splitlines() if line.startswith("│")]
    width = max((len(line) for line in lines), default=0) - 2  # inside the box
    found = []
    for a, b in itertools.pairwise(lines):
        body_a, body_b = a[1:-1].rstrip(), b[1:-1]
        indent_a, indent_b = len(body_a) - len(body_a.lstrip()), len(body_b) - len(body_b.lstrip())
        words_b = body_b.split()
        if not words_b or not body_a.strip() or indent_a != indent_b or body_a.lstrip().startswith("-"):
            continue  # an option's name line, a new option, a rule
        if words_b[0].startswith(("-", "(default")) or set(words_b[0]) <= set("─"):
            continue
        if len(body_a) + 1 + len(words_b[0]) < width - 1:
            found.append(f"{body_a.strip()!r} / {words_b[0]!r}")
    return found


def test_dream_help_is_brief_and_reads_at_80_columns(
    capsys: pytest.CaptureFixture[str], columns_80: None
) -> None:
    out = _dream_help(capsys)
    lines = out.splitlines()
    assert len(lines) < 260  # 449 with every nested option documented
    assert out.startswith("usage: python -m scripts.dream ")
    assert "--preset {debug,cpu,pixels,dreamerv3}" in out and "{None" not in out.split("╭─ envs options")[0]
    assert "--run-dir PATH" in out
    assert "-H / --help-verbose documents every option" in " ".join(lines)
    # the top-level options keep their text; nested ones are listed with type and default
    assert "Training budget in environment steps" in out
    assert "--model.rssm.deter INT (default: 128)" in out
    assert "``" not in out and ":func:" not in out
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert _hard_breaks(out) == []


def test_dream_help_verbose_documents_every_option_without_hard_breaks(
    capsys: pytest.CaptureFixture[str], columns_80: None
) -> None:
    out = _dream_help(capsys, "--help-verbose")
    assert "Recurrent state-space model" in out and "--model.rssm.deter INT" in out
    assert "so that the first minutes of a run already say whether it learns" in " ".join(
        line.strip("│ ") for line in out.splitlines()
    )
    assert "``" not in out
    assert _hard_breaks(out) == []


def test_fit_help_paragraphs_are_wrapped_and_examples_keep_their_continuations(
    capsys: pytest.CaptureFixture[str], columns_80: None
) -> None:
    from scripts import fit_world_model

    out = _help(
        capsys,
        parse_config,
        FitConfig,
        algo="fit",
        description=fit_world_model.__doc__ or "",
        presets=FIT_PRESETS,
        args=["--help"],
    )
    head = out.split("╭")[0]
    prose = [line for line in head.splitlines() if line and not line.startswith(" ")]
    assert prose and all(len(line) <= 80 for line in prose)
    assert "\n\n\n" not in head  # a paragraph that starts with --family gets one blank line, not two
    assert "scripts.dream drives it, so --resume and Ctrl-C" in " ".join(prose)
    assert re.search(r"--context 1 \\\n +--horizon 200", head)
    assert "{None" not in out.split("╭")[1]  # --preset and --run-dir


def test_imagine_help(capsys: pytest.CaptureFixture[str], columns_80: None) -> None:
    from scripts import imagine

    out = _help(capsys, parse_options, imagine.ImagineConfig, description=imagine.__doc__ or "", args=["-h"])
    assert re.search(r"--mode policy \\\n +--checkpoint RUN/checkpoints/", out)
    assert "--out FILE" in out and "--checkpoint FILE" in out and "{None}" not in out
    assert all(len(line) <= 80 for line in out.split("╭")[0].splitlines() if not line.startswith(" "))


def test_help_text_helpers() -> None:
    assert plain_help("Side of pixel observations (with ``obs=pixels``; see\n:func:`agents.x`).") == (
        "Side of pixel observations (with obs=pixels; see agents.x)."
    )
    assert plain_help("Glob patterns, e.g.\n    --x 'RUN/*.npz'; or\n\n- a list item\n- another") == (
        "Glob patterns, e.g. --x 'RUN/*.npz'; or\n\n- a list item\n- another"
    )
    assert plain_help("One paragraph\nwrapped.\n\nAnother.") == "One paragraph wrapped.\n\nAnother."
    text = help_description("""Title.

    A paragraph wrapped in the source
    (with a bracket) and
    --an-option at a line start.

    Examples::

        python -m x --a 1 \\
            --b 2
    """)
    assert text == (
        "Title.\n\nA paragraph wrapped in the source (with a bracket) and --an-option at a line start.\n\n"
        "Examples:\n    python -m x --a 1 \\\n        --b 2"
    )
    long = "word " * 60
    wrapped = wrap_help(
        f"{long}\n    an indented example line that is long {long}\n│ {long}│\n\n\n\nend\n", 50
    )
    assert all(len(line) <= 50 for line in wrapped.splitlines()[:5])
    assert "\n    an indented example line that is long" in wrapped and "│ word" in wrapped
    assert "\n\n\n" not in wrapped and wrapped.endswith("\nend\n")
    assert HELP_WIDTH == 100


def test_a_wide_terminal_still_gets_100_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    from scripts import imagine

    out = _help(capsys, parse_options, imagine.ImagineConfig, description=imagine.__doc__ or "", args=["-h"])
    head = out.split("╭")[0]
    assert all(len(line) <= 100 for line in head.splitlines() if not line.startswith(" "))
    assert any(len(line) > 80 for line in head.splitlines())
