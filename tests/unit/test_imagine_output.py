"""Where `scripts.imagine` writes without --out (the run's videos/, not the current directory), and a
contact sheet that reads at screen size with a legend (issue #30)."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from analysis.video import SHEET_HEIGHT, SHEET_WIDTH, contact_sheet, sheet_legend
from tests.unit.test_video import _make_run

GREEN = (40, 200, 80)


def test_the_sheet_fits_a_screen_with_fewer_frames_rather_than_smaller_ones() -> None:
    frames = np.zeros((40, 334, 768, 3), dtype=np.uint8)  # one segment at --size 256, energy strip
    for t in range(40):
        frames[t, :, :, 0] = t  # tells the frames apart
    sheet = contact_sheet(frames, 8, max_width=SHEET_WIDTH, max_height=SHEET_HEIGHT)
    assert sheet.shape == (3 * 334, 2 * 768, 3)  # 3,072 x 668 before: four frames side by side
    shown = sorted({int(sheet[r * 334, c * 768, 0]) for r in range(3) for c in range(2)})
    assert {7, 8, 39, 0} <= set(shown) and len(shown) == 6  # last observed, first and last imagined, first
    tall = np.zeros((40, 1336, 768, 3), dtype=np.uint8)  # four segments: one frame is already a screen
    assert contact_sheet(tall, 8, max_width=SHEET_WIDTH, max_height=SHEET_HEIGHT).shape == (1336, 1536, 3)


def test_the_legend_explains_colours_and_curves() -> None:
    lines = sheet_legend(
        "Walker2d-v5", "replay", context=8, horizon=32, segments=1, energy=True, pixels=False
    )
    text = " ".join(lines)
    expected = [
        "framed green: observing",
        "framed red: imagining",
        "|real - model|",
        "mean squared error",
        "real states (white)",
        "(red, dashed)",
        "yellow line: this frame's step",
        "recorded actions",
    ]
    assert [words for words in expected if words not in text] == []
    assert "Strip" not in " ".join(
        sheet_legend("x", "policy", context=2, horizon=3, segments=2, energy=False, pixels=True)
    )
    frames = np.zeros((5, 40, 120, 3), dtype=np.uint8)
    sheet = contact_sheet(frames, 2, max_width=SHEET_WIDTH, legend=lines)
    band = sheet[: sheet.shape[0] - 40 * -(-5 // 4)]
    assert band.shape[0] > 0 and band.max() == 255  # the text
    assert (band == GREEN).all(-1).any()  # "green" written in the frame colour it names


@pytest.mark.mujoco
def test_imagine_writes_into_the_runs_videos_without_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.imagine import main

    run = _make_run(tmp_path, act="policy")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    main(["--run", str(run), "--context", "3", "--horizon", "4", "--size", "64"])
    out = run / "videos" / "imagine-replay-000000100.mp4"
    assert out.is_file() and out.with_suffix(".json").is_file()
    sheet = imageio.imread(out.with_suffix(".png"))
    assert sheet.shape[1] <= SHEET_WIDTH
    assert list(elsewhere.iterdir()) == []
    assert f"wrote {out}" in capsys.readouterr().out


def test_imagine_opens_only_runs_with_an_rssm_world_model(tmp_path: Path) -> None:
    """scripts.imagine reads the run's typed config (agents.configs.load_run_config, strict) and says in one
    line why a run has nothing to show."""
    from agents.configs import BaselineConfig, DreamConfig, FitConfig
    from agents.run_dir import RunDir
    from envs.errors import UserError
    from scripts.imagine import world_model_run

    dream = tmp_path / "dream"
    RunDir.open(DreamConfig(run_dir=dream), algo="dreamer")
    assert isinstance(world_model_run(dream), DreamConfig)
    sac = tmp_path / "sac"
    RunDir.open(BaselineConfig(run_dir=sac), algo="sac")
    with pytest.raises(UserError, match="is a BaselineConfig run: it has no world model to imagine with"):
        world_model_run(sac)
    fit = tmp_path / "fit"
    RunDir.open(FitConfig(run_dir=fit, family="ensemble"), algo="world_model")
    with pytest.raises(UserError, match="fitted a model of the ensemble family"):
        world_model_run(fit)
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.yaml").write_text("env: Hopper-v5\nseed: 0\nsteps: 1000\n")
    with pytest.raises(UserError, match="names no config class"):
        world_model_run(old)
