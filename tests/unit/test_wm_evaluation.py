"""Open-loop evaluation metrics: normalised MSE, baselines, masking, SSIM, prediction horizon, windows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from envs.episode import Episode, SequenceBatch
from envs.errors import UserError
from world_model import RSSMState, WorldModel, world_model_preset
from world_model.evaluation import (
    OpenLoopWindow,
    eval_windows,
    openloop_eval,
    openloop_scalars,
    prediction_horizon,
    ssim,
)
from world_model.model import Imagination


def test_prediction_horizon_by_hand() -> None:
    assert prediction_horizon([0.01, 0.05, 0.2, 0.01], 0.1) == 2  # stays under only up to h = 2
    assert prediction_horizon([0.5, 0.01], 0.1) == 0
    assert prediction_horizon([0.01, 0.02], 0.1) == 2
    assert prediction_horizon([0.01, float("nan")], 0.1) == 1


def test_ssim_identical_noise_and_symmetry() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 32, 32, 3, generator=g)
    torch.testing.assert_close(ssim(x, x), torch.ones(2))
    noise = torch.rand(2, 32, 32, 3, generator=g)
    s = ssim(x, noise)
    assert (s < 0.1).all()
    torch.testing.assert_close(s, ssim(noise, x))
    slightly = (x + 0.02 * torch.randn(2, 32, 32, 3, generator=g)).clamp(0, 1)
    assert (ssim(x, slightly) > 0.8).all()


def episode(length: int, offset: float) -> Episode:
    n = length + 1
    first = np.zeros(n, bool)
    first[0] = True
    term = np.zeros(n, bool)
    term[-1] = True
    return Episode(
        obs=(offset + np.arange(n, dtype=np.float32))[:, None].repeat(2, 1),
        action=np.zeros((n, 1), np.float32),
        reward=np.arange(n, dtype=np.float32),
        terminated=term,
        truncated=np.zeros(n, bool),
        is_first=first,
    )


def test_eval_windows_stay_inside_episodes() -> None:
    eps = [episode(9, 0.0), episode(3, 100.0), episode(14, 1000.0)]  # 10, 4 and 15 records
    w = eval_windows(eps, 5, stride=5)
    # 2 windows from the first, none from the short one, 3 from the last.
    assert w.obs.shape == (5, 5, 2)
    assert w.obs[:, 0, 0].tolist() == [0.0, 5.0, 1000.0, 1005.0, 1010.0]
    assert np.array_equal(np.diff(w.obs[..., 0], axis=1), np.ones((5, 4)))  # consecutive records
    assert w.is_first[:, 0].tolist() == [True, False, True, False, False] and not w.is_first[:, 1:].any()
    assert eval_windows(eps, 5, stride=1, max_windows=4).obs.shape[0] == 4
    with pytest.raises(ValueError, match="no episode has 20 records"):
        eval_windows(eps, 20)


class Oracle(nn.Module):
    """Duck-typed model whose features are (row, step) indices and whose predictions are the truth."""

    def __init__(self, batch: SequenceBatch[Tensor]) -> None:
        super().__init__()
        self.batch = batch
        self.obs_shape = tuple(batch.obs.shape[2:])

    def observe(self, obs: Tensor, action: Tensor, is_first: Tensor) -> tuple[RSSMState, RSSMState]:
        B, T = obs.shape[:2]
        rows = torch.arange(B, dtype=torch.float32)[:, None].expand(B, T)
        steps = torch.arange(T, dtype=torch.float32)[None].expand(B, T)
        idx = torch.stack([rows, steps], -1)
        state = RSSMState(idx, idx, idx)
        return state, state

    def imagine(
        self, start: RSSMState, actions: Callable[[Tensor], Tensor] | Tensor, horizon: int
    ) -> Imagination:
        offs = torch.arange(horizon + 1, dtype=torch.float32)
        feat = start.deter[:, None, :] + torch.stack([torch.zeros_like(offs), offs], -1)[None]
        state = RSSMState(feat, feat, feat)
        assert isinstance(actions, Tensor)
        return Imagination(state, feat, actions)

    def feat(self, state: RSSMState) -> Tensor:
        return state.deter

    def _lookup(self, x: Tensor, feat: Tensor) -> Tensor:
        b, t = feat[..., 0].long(), feat[..., 1].long()
        return x[b, t]

    def decode(self, feat: Tensor) -> Tensor:
        return self._lookup(self.batch.obs.float(), feat)

    def reward(self, feat: Tensor) -> Tensor:
        return self._lookup(self.batch.reward, feat)

    def cont(self, feat: Tensor) -> Tensor:
        return 1.0 - self._lookup(self.batch.terminated.float(), feat)


def batch_of(obs: Tensor, reward: Tensor) -> SequenceBatch[Tensor]:
    B, T = obs.shape[:2]
    first = torch.zeros(B, T, dtype=torch.bool)
    first[:, 0] = True
    return SequenceBatch(
        obs, torch.zeros(B, T, 1), reward, torch.zeros(B, T, dtype=torch.bool), first.clone(), first
    )


def test_openloop_eval_perfect_model_and_repeat_last_by_hand() -> None:
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(6, 10, 3, generator=g).cumsum(1)
    batch = batch_of(obs, torch.randn(6, 10, generator=g))
    model: Any = Oracle(batch)
    res = openloop_eval(model, batch, context=4, horizon=6, threshold=0.1)
    assert len(res["openloop_nmse"]) == 6 and res["openloop_nmse"] == [0.0] * 6
    assert res["prediction_horizon"] == 6 and res["reward_mse"] == 0.0 and res["cont_accuracy"] == 1.0
    assert res["posterior_nmse"] == 0.0
    true = obs[:, 4:10]
    var = true.reshape(-1, 3).var(0)
    expected = ((obs[:, 3:4] - true) ** 2 / var).mean((0, 2))
    np.testing.assert_allclose(res["openloop_nmse_repeat_last"], expected.numpy(), rtol=1e-5)
    r = batch.reward[:, 4:10]
    assert res["reward_mse_mean_predictor"] == pytest.approx(float(((r - r.mean()) ** 2).mean()), rel=1e-5)
    scalars = openloop_scalars(res)
    assert scalars["wm/openloop/prediction_horizon"] == 6.0 and all(
        k.startswith("wm/openloop/") for k in scalars
    )
    assert scalars["wm/openloop/nmse_1"] == scalars["wm/openloop/nmse_last"] == 0.0


def test_openloop_eval_leaves_out_steps_after_an_episode_start() -> None:
    g = torch.Generator().manual_seed(1)
    batch = batch_of(torch.randn(4, 8, 2, generator=g), torch.zeros(4, 8))
    first = batch.is_first.clone()
    first[0, 5] = True  # row 0 starts a new episode inside the horizon
    first[1:, 3] = False
    batch = batch._replace(is_first=first)
    full = openloop_eval(Oracle(batch), batch, context=3, horizon=5)  # type: ignore[arg-type]
    # Steps 3, 4 of the horizon use 4 rows, later ones only rows 1..3: compare the baseline by hand.
    true, last = batch.obs[:, 3:8], batch.obs[:, 2:3]
    valid = torch.ones(4, 5, dtype=torch.bool)
    valid[0, 2:] = False
    var = true[valid].var(0)
    err = ((last - true) ** 2 / var).mean(-1)
    expected = [float(err[valid[:, h], h].mean()) for h in range(5)]
    np.testing.assert_allclose(full["openloop_nmse_repeat_last"], expected, rtol=1e-5)


def test_openloop_eval_real_model_pixels_and_vectors() -> None:
    torch.manual_seed(0)
    tiny = world_model_preset("tiny")
    for shape in [(4,), (16, 16, 3)]:
        model = WorldModel(tiny, shape, 2)
        B, T = 3, 7
        obs = (
            torch.randint(0, 255, (B, T, *shape), dtype=torch.uint8)
            if len(shape) == 3
            else torch.randn(B, T, 4)
        )
        batch = batch_of(obs, torch.randn(B, T))._replace(action=torch.rand(B, T, 2))
        res = openloop_eval(model, batch, context=3, horizon=4)
        assert len(res["openloop_nmse"]) == 4 and all(math.isfinite(v) for v in res["openloop_nmse"])
        assert ("openloop_ssim" in res) == (len(shape) == 3)
        assert model.training  # restored
    with pytest.raises(ValueError, match="context"):
        openloop_eval(model, batch, context=5, horizon=4)


def test_one_open_loop_window_for_the_evaluation_the_videos_and_the_loop() -> None:
    """context K observed, horizon H predicted: one class, one check, under each holder's own flags."""
    from agents.configs import FitConfig
    from agents.trainer import TrainerConfig
    from analysis.video import VideoConfig

    assert OpenLoopWindow(context=3, horizon=0).length == 3
    with pytest.raises(UserError, match="--context must be at least 1, got 0"):
        OpenLoopWindow(context=0, horizon=4)
    with pytest.raises(UserError, match="--horizon must be at least 0, got -1"):
        OpenLoopWindow(context=1, horizon=-1)
    tc = TrainerConfig(wm_eval_context=4, wm_eval_horizon=6, video_context=2, video_horizon=9)
    assert tc.wm_eval_window == OpenLoopWindow(4, 6) and tc.video_window == OpenLoopWindow(2, 9)
    with pytest.raises(UserError, match="wm_eval_context >= 1 and wm_eval_horizon >= 1"):
        TrainerConfig(wm_eval_horizon=0)  # the evaluation predicts at least one step
    assert VideoConfig(context=2, horizon=5).window.length == 7
    assert FitConfig().window == OpenLoopWindow(context=5, horizon=15)
    with pytest.raises(UserError, match="horizon >= 1"):
        FitConfig(window=OpenLoopWindow(context=5, horizon=0))
