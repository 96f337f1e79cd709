"""Run directories: layout, refusal of an existing directory, resume, config.yaml round trip."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from agents.config import RunConfig
from agents.run_dir import RunDir, load_config, save_config
from envs.config import EnvConfig
from envs.errors import UserError


@dataclass(frozen=True)
class Inner:
    sizes: tuple[int, ...] = (64, 64)
    """Layer sizes."""
    kind: Literal["a", "b"] = "a"
    """A choice."""


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    lr: float = 3e-4
    """Learning rate."""
    inner: Inner = field(default_factory=Inner)
    """Nested options."""
    extra: Path | None = None
    """An optional path."""


def test_default_path_and_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = RunDir.open(ToyConfig(env="Pendulum", seed=3), algo="toy")
    parts = run.path.parts
    assert parts[:4] == ("runs", "Pendulum-v1", "toy", parts[3])
    assert re.fullmatch(r"3-\d{8}-\d{6}", parts[3])
    for d in (run.checkpoints, run.episodes, run.videos):
        assert d.is_dir() and d.parent == run.path
    assert not run.resumed
    assert run.config.run_dir == run.path
    saved = yaml.safe_load((run.path / "config.yaml").read_text())
    assert saved["env"] == "Pendulum" and saved["run_dir"] == str(run.path)
    assert saved["envs"]["obs"] == "state"


def test_existing_dir_is_refused_without_resume(tmp_path: Path) -> None:
    cfg = ToyConfig(run_dir=tmp_path / "run")
    RunDir.open(cfg, algo="toy")
    with pytest.raises(UserError, match=r"exists; pass --resume to continue it or choose another --run-dir"):
        RunDir.open(cfg, algo="toy")
    (tmp_path / "other").mkdir()  # any existing path, even an empty directory
    with pytest.raises(UserError, match="exists"):
        RunDir.open(ToyConfig(run_dir=tmp_path / "other"), algo="toy")


def test_resume_reopens_and_records_new_steps(tmp_path: Path) -> None:
    cfg = ToyConfig(run_dir=tmp_path / "run", steps=1000)
    first = RunDir.open(cfg, algo="toy")
    (first.checkpoints / "marker").write_text("kept")
    run = RunDir.open(dataclasses.replace(cfg, resume=True, steps=5000), algo="toy")
    assert run.resumed and run.path == first.path
    assert (run.checkpoints / "marker").read_text() == "kept"
    assert load_config(ToyConfig, run.path / "config.yaml").steps == 5000


def test_resume_needs_an_existing_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--resume needs --run-dir"):
        RunDir.open(ToyConfig(resume=True), algo="toy")
    with pytest.raises(UserError, match="is not a run directory"):
        RunDir.open(ToyConfig(resume=True, run_dir=tmp_path / "missing"), algo="toy")


def test_config_round_trip(tmp_path: Path) -> None:
    cfg = ToyConfig(
        env="Walker2d",
        steps=12,
        lr=1e-5,
        run_dir=tmp_path / "r",
        inner=Inner(sizes=(1, 2, 3), kind="b"),
        extra=Path("some/where"),
        envs=EnvConfig(obs="pixels", size=32, action_repeat=2),
    )
    save_config(cfg, tmp_path / "config.yaml")
    back = load_config(ToyConfig, tmp_path / "config.yaml")
    assert back == cfg
    assert isinstance(back.inner.sizes, tuple) and isinstance(back.extra, Path)
    # Missing fields take their defaults; unknown or ill-typed ones are refused.
    (tmp_path / "partial.yaml").write_text("steps: 7\nenvs:\n  size: 16\n")
    assert load_config(ToyConfig, tmp_path / "partial.yaml") == ToyConfig(steps=7, envs=EnvConfig(size=16))
    (tmp_path / "bad.yaml").write_text("steps: 7\nenvs:\n  colour: red\n")
    with pytest.raises(UserError, match=r"unknown fields envs\.colour"):
        load_config(ToyConfig, tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("inner:\n  kind: c\n")
    with pytest.raises(UserError, match=r"inner\.kind"):
        load_config(ToyConfig, tmp_path / "bad2.yaml")
    (tmp_path / "bad3.yaml").write_text("steps: [1\n")
    with pytest.raises(UserError, match="cannot read config"):
        load_config(ToyConfig, tmp_path / "bad3.yaml")


def test_logger_writes_events_into_the_run_dir(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from agents.logger import Logger

    with Logger(tmp_path) as logger:
        logger.scalars({"train/return": 1.5, "wm/loss": float("nan")}, step=10)
        logger.scalars({"train/return": 2.5}, step=20)
        logger.text("config", "steps: 1")
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/return")] == [(10, 1.5), (20, 2.5)]
    assert "wm/loss" in events.Tags()["scalars"]


def test_presets_round_trip_through_config_yaml_and_resume(tmp_path: Path) -> None:
    """Each scripts.dream preset is written to config.yaml (class name first) and read back whole."""
    from agents.cli import parse_config
    from agents.configs import DREAM_PRESETS, DreamConfig, load_run_config
    from agents.run_dir import read_config_class

    for name, preset in DREAM_PRESETS.items():
        run = tmp_path / name
        cfg = dataclasses.replace(preset, run_dir=run)
        opened = RunDir.open(cfg, algo="dreamer")
        assert read_config_class(opened.path / "config.yaml") == "DreamConfig"
        assert load_config(DreamConfig, run / "config.yaml", complete=True) == cfg
        assert load_run_config(run) == cfg
        resumed = parse_config(
            DreamConfig, algo="dreamer", description="", args=["--resume", "--run-dir", str(run)]
        )
        assert dataclasses.replace(resumed, resume=False) == cfg


def test_resume_refuses_a_config_missing_fields(tmp_path: Path) -> None:
    from agents.configs import DreamConfig

    run = tmp_path / "old"
    RunDir.open(DreamConfig(run_dir=run), algo="dreamer")
    text = (run / "config.yaml").read_text().replace("  replay_value: 0.3\n", "")
    (run / "config.yaml").write_text(text)
    with pytest.raises(UserError, match=r"lacks agent\.replay_value"):
        load_config(DreamConfig, run / "config.yaml", complete=True)
    assert load_config(DreamConfig, run / "config.yaml").agent.replay_value == 0.3  # analysis may read it


def test_load_run_config_is_strict_for_rebuilding_a_run_and_lenient_for_looking_at_it(tmp_path: Path) -> None:
    """One reader of config.yaml, through the class it names: strict for tools that rebuild the run's
    parts, lenient (fields since removed left out, files from before the class was recorded read as the
    shared fields) for reports; one-line errors for what is not a run."""
    from agents.configs import BaselineConfig, load_run_config
    from agents.run_dir import load_shared_fields

    run = tmp_path / "sac"
    cfg = BaselineConfig(env="Hopper", algo="td3", seed=2, steps=5000, run_dir=run)
    RunDir.open(cfg, algo="td3")
    assert load_run_config(run) == cfg == load_run_config(run, lenient=True)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["hp"]["retired"] = 1  # fields a later version no longer has
    saved["retired_too"] = [1, 2]
    (run / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    with pytest.raises(
        UserError, match=r"does not match BaselineConfig: unknown fields hp\.retired, retired_too"
    ):
        load_run_config(run)
    assert load_run_config(run, lenient=True) == cfg
    assert load_config(BaselineConfig, run / "config.yaml", drop_unknown=True) == cfg

    old = tmp_path / "old"  # written before config.yaml named its class
    old.mkdir()
    (old / "config.yaml").write_text("env: Hopper-v5\nseed: 1\nsteps: 300\nalgo: sac\nhp: {gamma: 0.9}\n")
    with pytest.raises(UserError, match=r"names no config class \(known: DreamConfig, FitConfig, Baseline"):
        load_run_config(old)
    shared = load_run_config(old, lenient=True)
    assert shared == RunConfig(env="Hopper-v5", seed=1, steps=300) == load_shared_fields(old / "config.yaml")
    with pytest.raises(UserError, match="names its class"):
        load_shared_fields(run / "config.yaml")

    for path in (tmp_path / "missing", tmp_path):
        with pytest.raises(UserError, match=r"is not a run directory \(no config\.yaml\)$"):
            load_run_config(path, lenient=True)


def test_a_fit_run_from_before_the_open_loop_window_still_loads_and_resumes(tmp_path: Path) -> None:
    """A fit's config.yaml written before ``context`` and ``horizon`` moved into ``window`` (2026-12-07)
    reads as before, strict and lenient, and resumes; a value under the new name wins."""
    from agents.cli import parse_config
    from agents.configs import FIT_PRESETS, FitConfig, load_run_config
    from world_model.evaluation import OpenLoopWindow

    run = tmp_path / "fit"
    cfg = dataclasses.replace(FIT_PRESETS["tiny"], preset="tiny", run_dir=run)
    RunDir.open(cfg, algo="world_model")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    window = saved.pop("window")
    saved.update(context=window["context"], horizon=window["horizon"])  # as older runs wrote it
    (run / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    assert load_run_config(run) == cfg == load_run_config(run, lenient=True)
    assert cfg.window == OpenLoopWindow(context=4, horizon=8)
    args = ["--resume", "--run-dir", str(run), "--steps", "2000", "--no-progress"]
    resumed = parse_config(FitConfig, algo="world_model", description="", presets=FIT_PRESETS, args=args)
    assert resumed == dataclasses.replace(cfg, steps=2000, progress=False, resume=True)
    both = {**saved, "window": {"context": 2, "horizon": 3}}
    (run / "config.yaml").write_text(yaml.safe_dump(both, sort_keys=False))
    assert load_run_config(run).window == OpenLoopWindow(context=2, horizon=3)


@pytest.mark.mujoco
def test_load_dreamer_rebuilds_the_run_agent_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    """load_dreamer: the agent of a run's checkpoint with its weights and options; one-line errors for a
    run of another tool, a damaged checkpoint and weights of another size."""
    import torch

    from agents.checkpoint import save_checkpoint
    from agents.configs import DreamConfig, FitConfig, load_dreamer
    from agents.dreamer import ActorCriticConfig, DreamerAgent
    from world_model import world_model_preset

    run = tmp_path / "dream"
    cfg = DreamConfig(
        env="Pendulum",
        run_dir=run,
        model=world_model_preset("tiny"),
        agent=ActorCriticConfig(hidden=16, layers=1, first_looks=2),
    )
    RunDir.open(cfg, algo="dreamer")
    torch.manual_seed(0)
    trained = DreamerAgent.build(cfg.model, cfg.agent, (3,), 1, device=torch.device("cpu"))
    save_checkpoint(run / "checkpoints", 500, trained.state_dict())
    loaded_cfg, agent, state = load_dreamer(run)
    assert loaded_cfg == cfg and state["step"] == 500 and agent.cfg.first_looks == 2
    assert not agent.actor.training and not agent.world_model.training
    for name, weight in trained.actor.state_dict().items():
        assert torch.equal(agent.actor.state_dict()[name], weight), name

    fit = tmp_path / "fit"
    RunDir.open(FitConfig(env="Pendulum", run_dir=fit), algo="fit")
    with pytest.raises(UserError, match="FitConfig run, not a Dreamer run"):
        load_dreamer(fit)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="damaged"):
        load_dreamer(run, bad)
    wider = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, hidden=32))
    save_config(wider, run / "config.yaml")
    with pytest.raises(UserError, match="does not match the run's config"):
        load_dreamer(run)
