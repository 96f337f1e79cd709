"""The command-line contract: parsing, presets, --resume rules, exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agents.cli import parse_config, run_main
from agents.config import RunConfig
from agents.run_dir import RunDir
from envs.config import EnvConfig
from envs.errors import UserError


@dataclass(frozen=True)
class Inner:
    width: int = 32
    """Width."""


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    lr: float = 3e-4
    """Learning rate."""
    inner: Inner = field(default_factory=Inner)
    """Nested options."""


PRESETS = {
    "small": ToyConfig(inner=Inner(width=8), steps=500),
    "big": ToyConfig(inner=Inner(width=512), lr=1e-4),
}


def parse(*args: str) -> ToyConfig:
    return parse_config(ToyConfig, algo="toy", description="Toy.", presets=PRESETS, args=list(args))


def test_plain_parse_and_nested_fields() -> None:
    cfg = parse(
        "--env", "Hopper", "--steps", "123", "--seed", "4", "--inner.width", "7", "--envs.obs", "pixels"
    )
    assert cfg == ToyConfig(env="Hopper", steps=123, seed=4, inner=Inner(7), envs=EnvConfig(obs="pixels"))
    assert parse() == ToyConfig()


def test_presets_set_defaults_that_flags_override() -> None:
    assert parse("--preset", "small") == PRESETS["small"]
    cfg = parse("--preset=big", "--lr", "0.01")
    assert cfg.inner.width == 512 and cfg.lr == 0.01
    with pytest.raises(UserError, match="unknown preset 'huge'; choose from: small, big"):
        parse("--preset", "huge")
    with pytest.raises(UserError, match="--preset needs a name"):
        parse("--preset")


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse("--help")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--env", "--steps", "--seed", "--run-dir", "--resume", "--device", "--inner.width"):
        assert option in out
    assert "Learning rate" in out and "small, big" in out


def test_resume_rules(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = parse("--preset", "small", "--run-dir", str(run_dir), "--lr", "0.5")
    RunDir.open(cfg, algo="toy")
    # The saved config is the default: only the allowed fields may change.
    resumed = parse("--resume", "--run-dir", str(run_dir), "--steps", "900", "--device", "cpu")
    assert resumed.resume and resumed.steps == 900 and resumed.device == "cpu"
    assert resumed.lr == 0.5 and resumed.inner.width == 8
    resumed = parse("--resume", "--run-dir", str(run_dir), "--eval-every", "5", "--eval-episodes", "2")
    assert (resumed.eval_every, resumed.eval_episodes) == (5, 2)
    # Repeating the original command line plus --resume is fine.
    assert parse("--preset", "small", "--run-dir", str(run_dir), "--lr", "0.5", "--resume").lr == 0.5
    with pytest.raises(UserError, match=r"cannot change inner\.width, lr \("):
        parse("--resume", "--run-dir", str(run_dir), "--lr", "0.1", "--inner.width", "3")
    with pytest.raises(UserError, match=r"cannot change envs\.obs"):
        parse("--resume", "--run-dir", str(run_dir), "--envs.obs", "pixels")
    with pytest.raises(UserError, match=r"cannot change inner\.width, lr"):
        parse("--resume", "--run-dir", str(run_dir), "--preset", "big")


def test_resume_needs_an_existing_run_dir(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--resume needs --run-dir"):
        parse("--resume")
    with pytest.raises(UserError, match="is not a run directory"):
        parse("--resume", "--run-dir", str(tmp_path / "nothing"))


def test_run_main_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    def user_error() -> None:
        raise UserError("bad\nthing")

    with pytest.raises(SystemExit) as exit_info:
        run_main(user_error)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: bad thing\n"

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        run_main(interrupted)
    assert exit_info.value.code == 130

    def bug() -> None:
        raise RuntimeError("a bug keeps its traceback")

    with pytest.raises(RuntimeError):
        run_main(bug)
    run_main(lambda: None)  # success returns normally
