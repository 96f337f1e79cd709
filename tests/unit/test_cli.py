"""The command-line contract: parsing, presets, --resume rules, exit codes."""

from __future__ import annotations

import dataclasses
import errno
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from agents.cli import help_description, parse_config, parse_options, run_main
from agents.config import RunConfig
from agents.configs import DreamConfig
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
    assert parse("--preset", "small") == dataclasses.replace(PRESETS["small"], preset="small")
    cfg = parse("--preset=big", "--lr", "0.01")
    assert cfg.inner.width == 512 and cfg.lr == 0.01 and cfg.preset == "big"
    assert type(cfg) is ToyConfig  # not the subclass that lists the presets in --help
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
    assert "Learning rate" in out and "--preset {small,big}" in out


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


def _dotted_fields(cls: type, prefix: str = "") -> set[str]:
    """Every field of a (nested) config dataclass by its dotted path (``train.progress``)."""
    out = set()
    for f in dataclasses.fields(cls):
        out.add(prefix + f.name)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            out |= _dotted_fields(type(default), f"{prefix}{f.name}.")
    return out


def test_every_resumable_field_names_a_field_of_a_run_config() -> None:
    """A name in RESUMABLE_FIELDS that no script's config has (``progress`` of a Dreamer run, which is
    ``train.progress``) would leave the option refused on --resume."""
    from agents.cli import RESUMABLE_FIELDS
    from agents.configs import RUN_CONFIGS

    known = set().union(*(_dotted_fields(cls) for cls in RUN_CONFIGS.values()))
    assert sorted(RESUMABLE_FIELDS - known) == []


def test_resume_may_change_the_progress_bar_threads_and_checkpoint_minutes(tmp_path: Path) -> None:
    """``scripts.dream --resume --run-dir R --train.no-progress`` (and the fit's ``--no-progress``) resume."""
    from agents.configs import DREAM_PRESETS, FIT_PRESETS, BaselineConfig, DreamConfig, FitConfig

    dream = tmp_path / "dream"
    RunDir.open(dataclasses.replace(DREAM_PRESETS["debug"], steps=200, run_dir=dream), algo="dreamer")
    for flags in (["--train.no-progress"], ["--train.progress", "--threads", "2"]):
        args = ["--resume", "--run-dir", str(dream), "--steps", "300", *flags]
        cfg = parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)
        assert cfg.train.progress == (flags[0] == "--train.progress") and cfg.steps == 300
    args = ["--resume", "--run-dir", str(dream), "--train.checkpoint-minutes", "1"]
    cfg = parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)
    assert cfg.train.checkpoint_minutes == 1.0
    with pytest.raises(UserError, match=r"cannot change train\.batch_size"):
        args = ["--resume", "--run-dir", str(dream), "--train.batch-size", "3"]
        parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)

    fit = tmp_path / "fit"
    RunDir.open(FitConfig(run_dir=fit), algo="world_model")
    args = ["--resume", "--run-dir", str(fit), "--no-progress"]
    assert not parse_config(FitConfig, algo="fit", description="", presets=FIT_PRESETS, args=args).progress
    baseline = tmp_path / "sac"
    RunDir.open(BaselineConfig(run_dir=baseline), algo="sac")
    args = ["--resume", "--run-dir", str(baseline), "--threads", "3"]
    assert parse_config(BaselineConfig, algo="baseline", description="", args=args).threads == 3


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
    with pytest.raises(FileNotFoundError):  # an OSError that is no refusal of the machine's is a bug too
        run_main(lambda: open("/nonexistent/dreamkit/file"))  # noqa: SIM115
    run_main(lambda: None)  # success returns normally


LESS = "a smaller preset, batch or number of envs needs less"


@pytest.mark.parametrize(
    ("err", "line"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/runs/x/ckpt"),
            "no space left on the device writing /runs/x/ckpt: free some space, then resume the run",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/runs"),
            "cannot access /runs: Permission denied",
        ),
        (MemoryError(), f"out of host memory: {LESS}"),
        (
            torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            f"out of GPU memory (CUDA out of memory. Tried to allocate 2.00 GiB): {LESS}",
        ),
    ],
)
def test_what_the_machine_refuses_is_one_line_with_status_1(
    err: BaseException, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> None:
        raise err

    with pytest.raises(SystemExit) as exit_info:
        run_main(fail)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == f"error: {line}\n"


def test_tyro_mistakes_become_one_line_user_errors() -> None:
    with pytest.raises(UserError) as typo:
        parse("--stesp", "100")
    assert str(typo.value) == "unrecognized option --stesp (did you mean --steps?)"
    with pytest.raises(UserError) as nested:
        parse("--inner.widht", "3")
    assert str(nested.value) == "unrecognized option --inner.widht (did you mean --inner.width?)"
    with pytest.raises(UserError) as bad_value:
        parse("--steps", "many")
    assert str(bad_value.value).startswith("bad value for --steps: ")
    with pytest.raises(UserError) as bad_choice:
        parse("--envs.obs", "rgb")
    assert str(bad_choice.value) == "invalid choice 'rgb' for --envs.obs; choose from state, pixels"

    @dataclass(frozen=True)
    class Needs:
        out: Path
        """Output."""

    with pytest.raises(UserError, match=r"^missing required option --out$"):
        parse_options(Needs, description="Needs.", args=[])
    for message in (str(e.value) for e in (typo, nested, bad_value, bad_choice)):
        assert "\n" not in message and "│" not in message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "--steps must be at least 1, got 0"),
        (["--eval-every", "-5"], "--eval-every must be at least 1, got -5"),
        (["--eval-episodes", "0"], "--eval-episodes must be at least 1, got 0"),
        (["--seed", "-1"], "--seed must be in [0, 999999], got -1"),
        (["--eval-early", "1000", "0"], "--eval-early steps must be at least 1, got 0"),
        (["--envs.action-repeat", "0"], "--envs.action-repeat must be at least 1, got 0"),
        (["--envs.max-episode-steps", "0"], "--envs.max-episode-steps must be at least 1, got 0"),
    ],
)
def test_numeric_options_are_range_checked_at_parse_time(args: list[str], message: str) -> None:
    with pytest.raises(UserError) as err:
        parse(*args)
    assert str(err.value) == message


def test_the_preset_is_recorded_also_when_it_is_the_default() -> None:
    presets = {"quick": ToyConfig(steps=10), "standard": ToyConfig()}
    cfg = parse_config(ToyConfig, algo="toy", description="Toy.", presets=presets, args=[])
    assert cfg.preset == "standard" and cfg.steps == ToyConfig().steps
    assert parse_config(ToyConfig, algo="toy", description="Toy.", args=[]).preset is None


def test_help_description_drops_rest_markup() -> None:
    doc = """Do a thing.

    Uses ``--steps``. Examples::

        python -m scripts.x --steps 5
        python -m scripts.x --steps 6

    The end.
    """
    assert help_description(doc) == (
        "Do a thing.\n\nUses --steps. Examples:\n    python -m scripts.x --steps 5\n"
        "    python -m scripts.x --steps 6\n\nThe end."
    )


def _legacy_dream_run(run: Path, act: str, **planner: Any) -> DreamConfig:
    """A run directory whose config.yaml is as ``scripts.dream`` wrote it before ``scripts.mpc`` existed:
    class ``DreamConfig``, ``act``, the planner's fields at the top level. Returns today's config of it."""
    import yaml

    from agents.configs import DREAM_PRESETS, MPCRunConfig
    from agents.run_dir import CONFIG_FILE, save_config

    dream = dataclasses.replace(DREAM_PRESETS["debug"], steps=200, run_dir=run, preset="debug")
    cfg = MPCRunConfig.from_dream(dream, **planner)
    run.mkdir(parents=True)
    save_config(cfg, run / CONFIG_FILE)
    data = yaml.safe_load((run / CONFIG_FILE).read_text())
    assert data.pop("config_class") == "MPCRunConfig"
    (run / CONFIG_FILE).write_text(yaml.safe_dump({"config_class": "DreamConfig", "act": act, **data}))
    return cfg if act == "planner" else dream


def test_an_old_planner_run_resumes_under_scripts_mpc_and_scripts_dream_names_it(tmp_path: Path) -> None:
    from agents.configs import DREAM_PRESETS, MPC_PRESETS, MPCRunConfig

    run = tmp_path / "planner"
    old = _legacy_dream_run(run, "planner", planner="cem", planner_prior=True)
    args = ["--resume", "--run-dir", str(run), "--steps", "400"]
    cfg = parse_config(MPCRunConfig, algo="mpc", description="", presets=MPC_PRESETS, args=args)
    assert type(cfg) is MPCRunConfig and cfg == dataclasses.replace(old, steps=400, resume=True)
    with pytest.raises(UserError) as err:
        parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)
    assert str(err.value) == (
        f"{run} is a latent MPC run: resume it with python -m scripts.mpc --resume --run-dir {run}"
    )
    # a changed planner field is refused as any other
    with pytest.raises(UserError, match=r"cannot change planner_prior"):
        parse_config(MPCRunConfig, algo="mpc", description="", args=[*args, "--no-planner-prior"])


def test_an_old_dreamer_run_resumes_without_its_unused_planner_fields(tmp_path: Path) -> None:
    from agents.configs import DREAM_PRESETS, MPC_PRESETS, MPCRunConfig

    run = tmp_path / "policy"
    old = _legacy_dream_run(run, "policy", planner="cem")  # planner fields that did nothing
    args = ["--resume", "--run-dir", str(run)]
    cfg = parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)
    assert type(cfg) is DreamConfig and cfg == dataclasses.replace(old, resume=True)
    with pytest.raises(
        UserError, match=r"is a Dreamer run: resume it with python -m scripts\.dream --resume"
    ):
        parse_config(MPCRunConfig, algo="mpc", description="", presets=MPC_PRESETS, args=args)


def test_a_run_of_another_script_is_refused_with_its_resume_command(tmp_path: Path) -> None:
    from agents.configs import DREAM_PRESETS, MPC_PRESETS

    run = tmp_path / "mpc"
    RunDir.open(dataclasses.replace(MPC_PRESETS["debug"], run_dir=run), algo="mpc")
    args = ["--resume", "--run-dir", str(run)]
    with pytest.raises(UserError, match=r"latent MPC run: resume it with python -m scripts\.mpc --resume"):
        parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)


def test_the_run_reader_reads_old_dream_configs_as_todays_classes(tmp_path: Path) -> None:
    from agents.configs import MPCRunConfig, load_run_config
    from analysis.report import algo_label

    planner = _legacy_dream_run(tmp_path / "planner", "planner", planner="mppi", planner_prior=True)
    policy = _legacy_dream_run(tmp_path / "policy", "policy")
    for lenient in (False, True):
        got = load_run_config(tmp_path / "planner", lenient=lenient)
        assert type(got) is MPCRunConfig and got == planner
        assert algo_label(got, tmp_path / "planner") == "mpc-mppi-prior"
        got = load_run_config(tmp_path / "policy", lenient=lenient)
        assert type(got) is DreamConfig and got == policy
        assert algo_label(got, tmp_path / "policy") == "dreamer"
    # an unknown field in an old file is still refused by the strict reader
    text = (tmp_path / "policy" / "config.yaml").read_text()
    (tmp_path / "policy" / "config.yaml").write_text(text + "retired_flag: true\n")
    with pytest.raises(UserError, match="retired_flag"):
        load_run_config(tmp_path / "policy")
    assert type(load_run_config(tmp_path / "policy", lenient=True)) is DreamConfig


def test_the_dream_command_names_the_mpc_command_for_planner_options() -> None:
    from scripts.dream import refuse_planner_options

    refuse_planner_options(["--env", "Pendulum", "--agent.first-looks", "1"])
    for argv in (["--act", "planner"], ["--planner=cem"], ["--plan.horizon", "4"], ["--no-planner-value"]):
        with pytest.raises(UserError, match=r"has its own command: python -m scripts\.mpc"):
            refuse_planner_options(argv)
