"""Imagination videos: frame composition, written files read back, the model part, and scripts.imagine."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from analysis.video import (
    VideoConfig,
    caption_height,
    compose_frames,
    compose_tile,
    contact_sheet,
    energy_strip,
    grid_columns,
    imagine_segments,
    read_episodes,
    rollout_with_policy,
    segments_from_episodes,
    step_errors,
    step_ssim,
    strip_cursor,
    write_frames,
    write_imagination_video,
    write_replay_video,
)
from envs.episode import Episode
from envs.errors import UserError
from world_model import WorldModel

S = 32


def _frames(n: int, t: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, t, S, S, 3), dtype=np.uint8)


def _episode(length: int, obs_shape: tuple[int, ...], action_dim: int, seed: int = 0) -> Episode:
    rng = np.random.default_rng(seed)
    if len(obs_shape) == 3:
        obs = rng.integers(0, 256, (length, *obs_shape), dtype=np.uint8)
    else:
        obs = rng.normal(size=(length, *obs_shape)).astype(np.float32)
    action = rng.uniform(-1, 1, (length, action_dim)).astype(np.float32)
    action[0] = 0
    reward = rng.normal(size=length).astype(np.float32)
    reward[0] = 0
    first = np.zeros(length, bool)
    first[0] = True
    return Episode(obs, action, reward, np.zeros(length, bool), np.zeros(length, bool), first)


def _walker_episodes(count: int, length: int) -> list[Episode]:
    """Real Walker2d state episodes (random actions), so that rendering sees plausible states."""
    from envs import make_env

    env = make_env("Walker2d", seed=0)
    episodes = []
    for i in range(count):
        obs, _ = env.reset(seed=i)
        rec = _episode(length, (17,), 6, seed=i)
        rows = [obs]
        for t in range(1, length):
            obs, reward, terminated, truncated, _ = env.step(rec.action[t])
            rows.append(obs if not (terminated or truncated) else rows[-1])
            rec.reward[t] = reward
        obs_rows = np.stack(rows).astype(np.float32)
        episodes.append(
            Episode(obs_rows, rec.action, rec.reward, rec.terminated, rec.truncated, rec.is_first)
        )
    env.close()
    return episodes


def _tiny_model(obs_shape: tuple[int, ...], action_dim: int) -> WorldModel:
    from world_model import world_model_preset

    torch.manual_seed(0)
    return WorldModel(world_model_preset("tiny"), obs_shape, action_dim)


# ------------------------------------------------------------------------------ composition


def test_compose_tile_layout_and_context_colours() -> None:
    real = np.full((S, S, 3), 100, np.uint8)
    model = np.full((S, S, 3), 120, np.uint8)
    kwargs = dict(context=4, reward=1.0, pred_reward=0.5, mse=0.01, diff_gain=3.0)
    observed = compose_tile(real, model, step=3, **kwargs)  # type: ignore[arg-type]
    imagined = compose_tile(real, model, step=4, **kwargs)  # type: ignore[arg-type]
    assert observed.shape == imagined.shape == (S + caption_height(), 3 * S, 3)
    np.testing.assert_array_equal(observed[:S, :S], real)  # real on the left
    np.testing.assert_array_equal(observed[S // 2, 2 * S + S // 2], [60, 60, 60])  # |100 - 120| * 3
    assert tuple(observed[0, S + S // 2]) == (40, 200, 80)  # model framed green while observing
    assert tuple(imagined[0, S + S // 2]) == (230, 50, 50)  # and red while imagining
    np.testing.assert_array_equal(observed[S // 2, S + S // 2], model[0, 0])  # inside the frame: the model
    assert observed[S:].max() == 255 and observed[S:].mean() < 128  # white text on black
    assert not np.array_equal(observed[S:], imagined[S:])  # the caption says which phase
    big = compose_tile(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), step=0, **kwargs)  # type: ignore[arg-type]
    names = big[64 : 64 + 12]  # larger panels get their names written under each of them
    assert all(names[:, i * 64 : i * 64 + 40].max() == 255 for i in range(3))


def test_compose_frames_grid_and_contact_sheet() -> None:
    n, t, k = 3, 7, 2
    real, model = _frames(n, t, 0), _frames(n, t, 1)
    zeros = np.zeros((n, t))
    frames = compose_frames(real, model, context=k, reward=zeros, pred_reward=zeros, mse=zeros)
    cols = grid_columns(n)
    rows = -(-n // cols)
    assert frames.shape == (t, rows * (S + caption_height()), cols * 3 * S, 3)
    # segment 1 sits in the grid cell (row 1 // cols, column 1 % cols)
    r, c = divmod(1, cols)
    y, x = r * (S + caption_height()), c * 3 * S
    np.testing.assert_array_equal(frames[5, y : y + S, x : x + S], real[1, 5])
    sheet = contact_sheet(frames, k, max_frames=4, columns=2)
    assert sheet.shape == (2 * frames.shape[1], 2 * frames.shape[2], 3)
    np.testing.assert_array_equal(sheet[: frames.shape[1], : frames.shape[2]], frames[0])


def test_write_frames_reads_back(tmp_path: Path) -> None:
    frames = np.zeros((9, 50, 96, 3), np.uint8)
    frames[:, :, :48] = 200  # left half bright
    frames[:, 0, 60:69] = (
        np.eye(9, dtype=np.uint8)[:, :, None] * 255
    )  # each frame differs (GIF merges repeats)
    mp4 = write_frames(frames, tmp_path / "v.mp4", fps=10)
    back = np.stack(imageio.mimread(mp4))
    assert back.shape == frames.shape
    assert abs(float(back[:, :, :40].mean()) - 200) < 8 and back[:, :, 56:].mean() < 8
    gif = write_frames(frames, tmp_path / "v.gif", fps=10)
    assert len(imageio.mimread(gif)) == 9


def test_step_errors_units() -> None:
    real = np.full((1, 2, 4, 4, 3), 255, np.uint8)
    pred = np.zeros((1, 2, 4, 4, 3), np.float32)
    np.testing.assert_allclose(step_errors(real, pred), [[1.0, 1.0]])  # pixels compared in [0, 1]
    np.testing.assert_allclose(step_errors(np.ones((1, 2, 3)), np.zeros((1, 2, 3))), [[1.0, 1.0]])


# ------------------------------------------------------------------------------ segments, model


def test_segments_from_episodes(tmp_path: Path) -> None:
    from envs import EpisodeReplay

    replay = EpisodeReplay(tmp_path, 1000, seed=0)
    for i, length in enumerate((5, 20, 30)):
        replay.add(_episode(length, (3,), 2, seed=i))
    episodes = read_episodes(tmp_path)
    assert [len(e) for e in episodes] == [30, 20, 5]  # newest first
    batch = segments_from_episodes(episodes, length=12, count=3, seed=1)
    assert batch.obs.shape == (3, 12, 3) and batch.action.shape == (3, 12, 2)
    assert batch.is_first[:, 0].all() and not batch.is_first[:, 1:].any()
    with pytest.raises(UserError, match="no episode has 31 steps"):
        segments_from_episodes(episodes, length=31, count=1)
    with pytest.raises(UserError, match="no readable episodes"):
        read_episodes(tmp_path / "nothing")


def test_imagination_is_open_loop_after_the_context() -> None:
    model = _tiny_model((5,), 2)
    eps = [_episode(12, (5,), 2, seed=i) for i in range(2)]
    batch = segments_from_episodes(eps, length=10, count=2)
    k = 4
    first = imagine_segments(model, batch, context=k)
    assert first.obs.shape == (2, 10, 5) and first.reward.shape == (2, 10)
    assert model.training  # mode restored
    later = batch._replace(obs=batch.obs.copy())
    later.obs[:, k:] += 10.0  # the future the model must not see
    np.testing.assert_allclose(imagine_segments(model, later, context=k).obs, first.obs, atol=1e-5)
    seen = batch._replace(obs=batch.obs.copy())
    seen.obs[:, k - 1] += 10.0  # what it does see changes its reconstruction and imagination
    assert not np.allclose(imagine_segments(model, seen, context=k).obs[:, k - 1 :], first.obs[:, k - 1 :])
    with pytest.raises(ValueError, match="context must be between 1"):
        imagine_segments(model, batch, context=0)


@pytest.mark.mujoco
def test_state_video_end_to_end(tmp_path: Path) -> None:
    k, h, n = 3, 5, 2
    eps = _walker_episodes(2, 12)
    batch = segments_from_episodes(eps, length=k + h, count=n)
    imagined = imagine_segments(_tiny_model((17,), 6), batch, context=k)
    cfg = VideoConfig(context=k, horizon=h, segments=n, size=S, gif=True)
    result = write_imagination_video("Walker2d", batch, imagined, tmp_path / "w.mp4", cfg)
    assert result.kind == "video"
    assert {p.name for p in result.paths} == {"w.mp4", "w.gif", "w.png", "w.json"}
    video = np.stack(imageio.mimread(tmp_path / "w.mp4"))
    assert video.shape[0] == k + h
    assert video.shape[2] == grid_columns(n) * 3 * S == result.width
    summary = json.loads((tmp_path / "w.json").read_text())
    assert summary["env"] == "Walker2d-v5" and summary["frames"] == k + h
    assert summary["left_out_positions"].startswith("x integrated")
    assert len(summary["per_segment"]) == n and len(summary["per_segment"][0]["mse"]) == k + h
    np.testing.assert_allclose(summary["per_segment"][1]["reward"], batch.reward[1], atol=1e-3)
    # The energy strip under each tile: real and model energy, mapped through the simulator.
    seg = summary["per_segment"][0]
    assert len(seg["energy_real"]) == len(seg["energy_model"]) == k + h
    from envs.physics import physics_for

    np.testing.assert_allclose(seg["energy_real"], physics_for("Walker2d")(batch.obs[0]).energy, atol=1e-3)
    assert video.shape[1] == -(-n // grid_columns(n)) * (S + caption_height() + 40)  # strips under tiles


def test_energy_strip_and_cursor() -> None:
    real, model = np.linspace(0.0, 1.0, 10), np.linspace(1.0, 0.0, 10)
    strip = energy_strip(real, model, context=4, width=3 * S, height=40)
    assert strip.shape == (40, 3 * S, 3) and strip.dtype == np.uint8
    red = (strip[..., 0] > 150) & (strip[..., 1] < 100)
    assert red.any() and (strip == 255).all(-1).any()  # the model's curve (red) and the real one (white)
    moved = strip_cursor(strip, 9, 10)
    x = int(9.5 / 10 * 3 * S)
    assert (moved[:, x] == (240, 220, 40)).all() and np.array_equal(
        np.delete(moved, x, 1), np.delete(strip, x, 1)
    )


@pytest.mark.mujoco
def test_pixel_video_scales_frames(tmp_path: Path) -> None:
    k, h = 2, 3
    eps = [_episode(8, (16, 16, 3), 2, seed=0)]
    batch = segments_from_episodes(eps, length=k + h, count=1)
    imagined = imagine_segments(_tiny_model((16, 16, 3), 2), batch, context=k)
    assert (
        imagined.obs.shape == (1, k + h, 16, 16, 3) and 0 <= imagined.obs.min() <= imagined.obs.max() <= 255
    )
    result = write_imagination_video(
        "Walker2d", batch, imagined, tmp_path / "p.mp4", VideoConfig(context=k, size=S)
    )
    video = np.stack(imageio.mimread(tmp_path / "p.mp4"))
    assert video.shape == (k + h, result.height, 3 * S, 3)
    summary = json.loads((tmp_path / "p.json").read_text())
    expected = step_ssim(batch.obs, imagined.obs)
    np.testing.assert_allclose(summary["ssim_mean"], expected.mean(0), atol=1e-4)
    assert summary["ssim_context_mean"] == pytest.approx(expected[:, :k].mean(), abs=1e-4)
    assert len(summary["per_segment"][0]["ssim"]) == k + h


def test_step_ssim_is_one_for_the_same_frames_and_falls_with_noise() -> None:
    real = _frames(2, 3)
    noisy = np.clip(real.astype(np.float32) + np.random.default_rng(1).normal(0, 40, real.shape), 0, 255)
    same, worse = step_ssim(real, real.astype(np.float32)), step_ssim(real, noisy)
    assert same.shape == worse.shape == (2, 3)
    np.testing.assert_allclose(same, 1.0, atol=1e-5)
    assert (worse < 0.9).all()


def test_unmappable_env_writes_a_plot(tmp_path: Path) -> None:
    eps = [_episode(10, (3,), 1, seed=0)]
    batch = segments_from_episodes(eps, length=6, count=1)
    imagined = imagine_segments(_tiny_model((3,), 1), batch, context=2)
    result = write_imagination_video("Pendulum", batch, imagined, tmp_path / "p.mp4", VideoConfig(context=2))
    assert result.kind == "plot" and "cannot map observations of Pendulum-v1" in result.message
    assert not (tmp_path / "p.mp4").exists()
    assert imageio.imread(tmp_path / "p.png").ndim == 3
    assert "plot_instead_of_video" in json.loads((tmp_path / "p.json").read_text())


@pytest.mark.mujoco
def test_policy_rollout_follows_imagined_actions() -> None:
    from envs import make_env

    model = _tiny_model((11,), 3)
    env = make_env("Hopper", seed=0)
    taken: list[np.ndarray] = []

    def actor(feat: torch.Tensor) -> torch.Tensor:
        action = torch.tanh(feat[:, :3])
        taken.append(action[0].numpy().copy())
        return action

    batch, imagined = rollout_with_policy(model, actor, env, context=3, horizon=4, seed=0)
    env.close()
    assert batch.obs.shape == (1, 7, 11) and imagined.obs.shape == (1, 7, 11)
    # The real env took the policy's context actions, then exactly the actions chosen in imagination.
    np.testing.assert_allclose(batch.action[0, 1:], np.stack(taken), atol=1e-6)


@pytest.mark.mujoco
def test_write_replay_video_from_run_episodes(tmp_path: Path) -> None:
    from envs import EpisodeReplay

    replay = EpisodeReplay(tmp_path / "episodes", 1000, seed=0)
    for i, length in enumerate((4, 12)):
        replay.add(_episode(length, (11,), 3, seed=i))
    cfg = VideoConfig(context=2, horizon=6, segments=1, size=S)
    result = write_replay_video(
        _tiny_model((11,), 3), tmp_path / "episodes", "Hopper", tmp_path / "v.mp4", cfg
    )
    assert result.kind == "video" and result.frames == 8 and result.mse.shape == (1, 8)
    summary = json.loads((tmp_path / "v.json").read_text())
    assert summary["mse_context_mean"] == pytest.approx(result.mse[:, :2].mean(), abs=1e-5)
    # No stored episode has 13 steps yet: nothing to show (a trainer says so and goes on), nothing written.
    assert write_replay_video(_tiny_model((11,), 3), tmp_path / "episodes", "Hopper", tmp_path / "w.mp4",
                              VideoConfig(context=3, horizon=10)) is None  # fmt: skip
    assert not list(tmp_path.glob("w.*"))
    assert write_replay_video(_tiny_model((11,), 3), tmp_path / "none", "Hopper", tmp_path / "w.mp4",
                              cfg) is None  # fmt: skip


def test_a_runs_video_options_are_checked_before_it_starts() -> None:
    from agents.trainer import TrainerConfig

    for bad in ({"video_context": 0}, {"video_horizon": -1}, {"video_segments": 0}):
        with pytest.raises(UserError, match="video_context >= 1, video_horizon >= 0 and video_segments >= 1"):
            TrainerConfig(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ scripts.imagine


def _make_run(tmp_path: Path, env: str = "Hopper", act: str = "policy") -> Path:
    """A run directory as scripts.dream leaves it: config.yaml, a checkpoint, episodes (``act="planner"``:
    as scripts.mpc leaves it, the checkpoint of an MPC agent that learns with a Dreamer learner)."""
    from agents.checkpoint import save_checkpoint
    from agents.configs import DreamConfig, MPCRunConfig
    from agents.dreamer import ActorCriticConfig, DreamerAgent
    from agents.run_dir import save_config
    from envs import EpisodeReplay, make_env
    from world_model import world_model_preset

    run = tmp_path / "run"
    config_class = MPCRunConfig if act == "planner" else DreamConfig  # scripts.mpc / scripts.dream
    cfg = config_class(
        env=env,
        run_dir=run,
        model=world_model_preset("tiny"),
        agent=ActorCriticConfig(hidden=16, layers=1),
    )
    (run / "episodes").mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    probe = make_env(env)
    obs_dim, action_dim = probe.observation_space.shape[0], probe.action_space.shape[0]  # type: ignore[index]
    probe.close()
    agent = DreamerAgent.build(cfg.model, cfg.agent, (obs_dim,), action_dim, device=torch.device("cpu"))
    if act == "planner":
        from agents.mpc import MPCAgent, MPCConfig
        from planners import PlannerConfig, make_planner

        planner = make_planner("mppi", PlannerConfig(), action_dim, device=torch.device("cpu"), seed=0)
        mpc = MPCAgent(agent.world_model, planner, MPCConfig(), learner=agent)
        save_checkpoint(run / "checkpoints", 100, mpc.state_dict())
    else:
        save_checkpoint(run / "checkpoints", 100, agent.state_dict())
    replay = EpisodeReplay(run / "episodes", 1000, seed=0)
    for i in range(2):
        replay.add(_episode(15, (obs_dim,), action_dim, seed=i))
    return run


@pytest.mark.mujoco
@pytest.mark.parametrize("mode,act", [("replay", "policy"), ("policy", "policy"), ("replay", "planner")])
def test_imagine_script_writes_video(
    tmp_path: Path, mode: str, act: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.imagine import main

    run = _make_run(tmp_path, act=act)
    out = tmp_path / "out" / "v.mp4"
    main(["--run", str(run), "--out", str(out), "--context", "3", "--horizon", "4", "--segments", "2",
          "--size", "32", "--mode", mode])  # fmt: skip
    video = np.stack(imageio.mimread(out))
    assert video.shape[0] == 7 and video.shape[2] == grid_columns(2) * 3 * 32
    assert json.loads(out.with_suffix(".json").read_text())["mode"] == mode
    assert out.with_suffix(".png").is_file()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.mujoco
def test_imagine_script_reads_a_world_model_fit(tmp_path: Path) -> None:
    """A scripts.fit_world_model run (weights in the learner, no actor): replay works, policy says why not."""
    from agents.checkpoint import save_checkpoint
    from agents.configs import FitConfig
    from agents.run_dir import save_config
    from envs import EpisodeReplay
    from scripts.imagine import main
    from world_model import world_model_preset
    from world_model.learner import WorldModelLearner

    run = tmp_path / "fit"
    cfg = FitConfig(env="Hopper", run_dir=run, model=world_model_preset("tiny"))
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    model = _tiny_model((11,), 3)
    save_checkpoint(run / "checkpoints", 40, WorldModelLearner(model, cfg.model).state_dict())
    EpisodeReplay(run / "episodes", 100, seed=0).add(_episode(12, (11,), 3))
    out = tmp_path / "fit.mp4"
    main(["--run", str(run), "--out", str(out), "--context", "2", "--horizon", "3", "--size", "32"])
    assert len(imageio.mimread(out)) == 5
    with pytest.raises(UserError, match="needs a Dreamer run"):
        main(["--run", str(run), "--out", str(out), "--mode", "policy"])


def test_imagine_script_user_errors(tmp_path: Path) -> None:
    from scripts.imagine import main

    with pytest.raises(UserError, match="not a run directory"):
        main(["--run", str(tmp_path), "--out", str(tmp_path / "v.mp4")])
    with pytest.raises(UserError, match=r"must end in \.mp4 or \.gif"):
        main(["--run", str(tmp_path), "--out", str(tmp_path / "v.avi")])
