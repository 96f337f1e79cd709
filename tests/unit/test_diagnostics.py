"""Diagnostics on real episodes: return-to-go by hand, value overestimation, continue head at falls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from agents.diagnostics import discounted_return_to_go, value_diagnostics, warnings_for
from envs.episode import Episode


def _episode(rewards: list[float], terminated: bool) -> Episode:
    n = len(rewards)
    term = np.zeros(n, bool)
    trunc = np.zeros(n, bool)
    (term if terminated else trunc)[-1] = True
    first = np.zeros(n, bool)
    first[0] = True
    obs = np.arange(n, dtype=np.float32)[:, None]  # the record's index: the stub model reads it back
    return Episode(obs, np.zeros((n, 1), np.float32), np.asarray(rewards, np.float32), term, trunc, first)


class IndexModel(nn.Module):
    """Feature = [record index, records left]; P(continue) 0.1 at the last record, 0.9 elsewhere."""

    def observe(self, obs: Tensor, action: Tensor, is_first: Tensor) -> tuple[Tensor, None]:
        idx = obs[..., 0]
        left = idx.shape[-1] - 1 - idx
        return torch.stack([idx, left], -1), None

    def feat(self, post: Tensor) -> Tensor:
        return post

    def cont(self, feat: Tensor) -> Tensor:
        return torch.where(feat[..., 1] == 0, 0.1, 0.9)

    def observed_cont(self, post: Tensor, action: Tensor) -> Tensor:
        return self.cont(self.feat(post))


def test_discounted_return_to_go_by_hand() -> None:
    g = discounted_return_to_go(np.array([0.0, 1.0, 2.0, 3.0]), gamma=0.5)
    # G_2 = 3; G_1 = 2 + 0.5 * 3 = 3.5; G_0 = 1 + 0.5 * 3.5 = 2.75; the last record has nothing ahead
    np.testing.assert_allclose(g, [2.75, 3.5, 3.0, 0.0])


def test_overestimation_and_terminal_statistics_on_a_hand_made_episode() -> None:
    ep = _episode([0.0] + [1.0] * 9, terminated=True)  # 10 records, reward 1 per step, then a fall
    gamma = 0.5
    g = discounted_return_to_go(ep.reward, gamma)[:-1]  # states with a known return: all but the last

    def value(feat: Tensor) -> Tensor:  # a critic that says twice the truth
        return 2.0 * torch.as_tensor(discounted_return_to_go(ep.reward, gamma), dtype=torch.float32)

    out = value_diagnostics(IndexModel(), value, [ep], gamma=gamma, device=torch.device("cpu"))
    assert out["diag/mc_return_mean"] == pytest.approx(g.mean())
    assert out["diag/overestimation"] == pytest.approx(2.0)
    assert out["diag/value_bias"] == pytest.approx(g.mean())
    assert out["diag/cont_at_terminal"] == pytest.approx(0.1)
    assert out["diag/terminal_missed"] == 0.0
    assert out["diag/cont_before_terminal"] == pytest.approx(0.9)
    assert "overestimation" not in warnings_for({**out, "diag/overestimation": 1.9})
    assert "overestimation" in warnings_for({**out, "diag/overestimation": 2.5})


def test_truncated_episodes_count_only_states_far_from_the_cut() -> None:
    ep = _episode([0.0] + [1.0] * 99, terminated=False)  # cut by a time limit after 99 steps
    gamma = 0.5  # the tail weighs < 5% after log(0.05) / log(0.5) = 4.3 steps

    def value(feat: Tensor) -> Tensor:
        return torch.full(feat.shape[:-1], 2.0)  # the true value of an endless reward of 1 at gamma 0.5

    out: dict[str, Any] = value_diagnostics(
        IndexModel(), value, [ep], gamma=gamma, device=torch.device("cpu")
    )
    # kept states have G within 5% of 2; no terminal state: no continue statistics
    assert out["diag/overestimation"] == pytest.approx(1.0, abs=0.01)
    assert "diag/cont_at_terminal" not in out
    assert warnings_for({"actor/saturated": 0.6}).keys() == {"saturation"}
    assert warnings_for({"diag/unseen_terminal_missed": 0.75}).keys() == {"unseen_falls"}
    assert warnings_for({"diag/unseen_terminal_missed": 0.25}) == {}


def test_no_ratio_for_returns_near_zero_or_negative() -> None:
    ep = _episode([0.0] + [-1.0] * 9, terminated=True)  # Pendulum-like: every reward negative

    def value(feat: Tensor) -> Tensor:
        return torch.full(feat.shape[:-1], -0.5)  # optimistic: above the real (negative) return

    out = value_diagnostics(IndexModel(), value, [ep], gamma=0.5, device=torch.device("cpu"))
    assert "diag/overestimation" not in out
    assert out["diag/value_bias"] > 0  # the critic errs upwards
