"""The actor's action distribution: expected executed action, squashed entropy, evaluation action, bins."""

from __future__ import annotations

import math

import pytest
import torch

from agents.dreamer import ActionDist, Actor, ActorCriticConfig, Critic
from world_model.config import HeadsConfig
from world_model.distributions import symlog_bins
from world_model.heads import RewardHead


def _mc_mean(dist: ActionDist, n: int = 400_000) -> torch.Tensor:
    torch.manual_seed(0)
    draws = dist.loc + dist.std * torch.randn(n, *dist.loc.shape, dtype=torch.float64)
    return dist.squash(draws).mean(0)


@pytest.mark.parametrize("tanh", [False, True])
def test_mean_is_the_expected_executed_action(tanh: bool) -> None:
    # means inside, at and beyond the bounds; small and large std
    mu = torch.tensor([0.0, 0.5, 1.5, -3.0, 2.5], dtype=torch.float64)
    std = torch.tensor([0.3, 1.0, 0.8, 0.1, 1.0], dtype=torch.float64)
    dist = ActionDist(mu, std, tanh)
    exact = dist.mean()
    assert torch.allclose(exact, _mc_mean(dist), atol=4e-3), (exact, _mc_mean(dist))
    # where the Gaussian reaches past a bound, the expected action is not tanh(mu)
    assert (exact - dist.mode()).abs().max() > 0.05


def test_clipped_normal_mean_by_hand() -> None:
    # loc = tanh(20) = 1 to float precision, std 1: a = -2, b = 0
    mu = torch.tensor([20.0], dtype=torch.float64)  # loc = 1 to float precision
    std = torch.tensor([1.0], dtype=torch.float64)
    # a = -2, b = 0: E = 1*(0.5 - Phi(-2)) + (phi(-2) - phi(0)) - Phi(-2) + 0.5
    phi = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf_m2 = 0.5 * math.erfc(2 / math.sqrt(2))
    expected = (0.5 - cdf_m2) + (phi(-2.0) - phi(0.0)) - cdf_m2 + 0.5
    assert ActionDist(mu, std, tanh=False).mean().item() == pytest.approx(expected, abs=1e-9)
    # P(u > 1) - P(u < -1) + int_{-2}^{0} (z + 1) phi(z) dz = 0.5 - 0.02275 + 0.13230
    assert expected == pytest.approx(0.6095, abs=1e-4)


def _mc_tanh_entropy(mu: float, std: float, n: int = 2_000_000) -> float:
    torch.manual_seed(1)
    d = ActionDist(torch.tensor([mu], dtype=torch.float64), torch.tensor([std], dtype=torch.float64), True)
    u = d.loc + d.std * torch.randn(n, 1, dtype=torch.float64)
    return float(-d.log_prob(u).mean())


def test_squashed_entropy_estimate_is_unbiased_and_has_a_gradient() -> None:
    mu = torch.tensor([[1.5]], dtype=torch.float64, requires_grad=True)
    std = torch.tensor([[0.6]], dtype=torch.float64)
    torch.manual_seed(2)
    d = ActionDist(mu.expand(200_000, 1), std.expand(200_000, 1), tanh=True)
    est = d.entropy()  # (N,) one fresh draw per row
    assert est.mean().item() == pytest.approx(_mc_tanh_entropy(1.5, 0.6), abs=5e-3)
    # gradient of the estimate matches the finite difference of the true entropy: a mean further
    # into saturation has less entropy, so the bonus pulls the mean back from the bound
    est.mean().backward()
    assert mu.grad is not None
    fd = (_mc_tanh_entropy(1.55, 0.6) - _mc_tanh_entropy(1.45, 0.6)) / 0.1
    assert fd < -0.5
    assert mu.grad.item() == pytest.approx(fd, rel=0.05)


def test_stopped_sample_entropy_has_no_expected_gradient() -> None:
    # the defect the estimator above replaces: -log p(u) at a sample drawn without a graph
    mu = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    std = torch.tensor([0.6], dtype=torch.float64)
    torch.manual_seed(3)
    d = ActionDist(mu.expand(100_000, 1), std.expand(100_000, 1), tanh=True)
    with torch.no_grad():
        u = d.rsample()[1]
    (-d.log_prob(u)).mean().backward()
    assert mu.grad is not None and abs(mu.grad.item()) < 0.02


def test_normal_entropy_ignores_the_sample_and_is_exact() -> None:
    std = torch.tensor([[0.5, 0.2]])
    d = ActionDist(torch.zeros(1, 2), std, tanh=False)
    exact = float(torch.distributions.Normal(0.0, std).entropy().sum())
    assert d.entropy().item() == pytest.approx(exact, abs=1e-6)
    assert d.entropy(torch.ones(1, 2)).item() == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize("how", ["mode", "mean", "sample"])
def test_actor_acts_deterministically_as_configured(how: str) -> None:
    torch.manual_seed(0)
    actor = Actor(6, 3, ActorCriticConfig(hidden=16, layers=1, eval_action=how, actor_out_scale=5.0))
    feat = torch.randn(4, 6)
    d = actor(feat)
    a = actor.eval_act(feat)
    assert a.shape == (4, 3) and a.abs().max() <= 1.0
    if how == "mode":
        assert torch.equal(a, d.mode())
    elif how == "mean":
        assert torch.allclose(a, d.mean())
    else:
        assert not torch.allclose(a, actor.eval_act(feat))  # a fresh draw each call


def test_bin_layout_spans_the_limit() -> None:
    bins = symlog_bins(63, -10.0, 10.0)
    assert bins.shape == (63,) and bins[0] == -10.0 and bins[-1] == 10.0 and abs(float(bins[31])) < 1e-6
    gaps = bins.diff()
    assert torch.allclose(gaps, torch.full_like(gaps, 20.0 / 62))
    critic = Critic(8, ActorCriticConfig(hidden=8, layers=1, critic_bins=63, critic_bin_limit=10.0))
    assert torch.equal(critic.bins, bins)
    head = RewardHead(HeadsConfig(units=8, layers=1, bins=63, bin_limit=10.0), 8)
    assert torch.equal(head.bins, bins)
    # adjacent bins at a value of 240 differ by exp(spacing): 1.38x over +-10 against 1.91x over +-20
    assert math.exp(float(gaps[0])) == pytest.approx(1.38, abs=0.01)
    assert math.exp(40.0 / 62) == pytest.approx(1.91, abs=0.01)
