"""Diffusion dynamics: the forward process against its closed form, DDIM with the exact noise of a known
distribution, and the model learning a simple system with its discrete heads."""

from __future__ import annotations

import math

import pytest
import torch

from world_model.config import DiffusionConfig
from world_model.diffusion import NoiseSchedule, ddim_sample
from world_model.state_fit import build_state_model
from world_model.transitions import Transitions, transitions_to_batch


def test_forward_chain_matches_the_closed_form() -> None:
    sched = NoiseSchedule(50)
    # abar_t = prod (1 - beta_s), abar_0 = 1, decreasing to about 0; the cosine shape at the midpoint
    torch.testing.assert_close(sched.alpha_bar, torch.cumprod(1 - sched.betas, 0))
    assert float(sched.alpha_bar[0]) == 1.0 and float(sched.alpha_bar[-1]) < 1e-4
    assert (sched.alpha_bar[1:] < sched.alpha_bar[:-1]).all()
    mid = math.cos((0.5 + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    assert float(sched.alpha_bar[25]) == pytest.approx(mid, rel=1e-5)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([1.5, -2.0, 0.0]).expand(40_000, 3)
    x = x0.clone()
    for t in range(1, 51):  # step by step: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps
        x = sched.forward_step(x, t, torch.randn(x.shape, generator=g))
        if t in (5, 25, 50):
            ab = float(sched.alpha_bar[t])
            torch.testing.assert_close(x.mean(0), math.sqrt(ab) * x0[0], atol=0.02, rtol=0)
            torch.testing.assert_close(x.var(0), torch.full((3,), 1 - ab), atol=0.02, rtol=0)
            closed = sched.q_sample(x0, torch.full((len(x0),), t), torch.randn(x0.shape, generator=g))
            torch.testing.assert_close(closed.mean(0), x.mean(0), atol=0.03, rtol=0)
            torch.testing.assert_close(closed.var(0), x.var(0), atol=0.03, rtol=0)


def test_ddim_with_the_exact_noise_recovers_a_gaussian() -> None:
    # data N(mu, s^2): the optimal noise prediction is E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mu)
    # / (ab s^2 + 1 - ab); deterministic DDIM then maps N(0, 1) onto N(mu, s^2)
    sched = NoiseSchedule(100)
    mu, s = 1.5, 0.4

    def eps(x: torch.Tensor, t: int) -> torch.Tensor:
        ab = sched.alpha_bar[t].double()
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s**2 + 1 - ab)

    noise = torch.randn(50_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = ddim_sample(eps, noise, sched, 100)
    assert float(x.mean()) == pytest.approx(mu, abs=0.005) and float(x.std()) == pytest.approx(s, abs=0.01)
    # Fewer steps keep the mean and shrink the spread (the deterministic sampler's discretisation error
    # pulls towards the mean: harmless for nearly deterministic dynamics)
    few = ddim_sample(eps, noise, sched, 10)
    assert float(few.mean()) == pytest.approx(mu, abs=0.005) and 0.3 < float(few.std()) < float(x.std())
    assert sched.ddim_times(5) == [100, 75, 50, 26, 1]
    x = ddim_sample(eps, noise, sched, 100, eta=1.0, generator=torch.Generator().manual_seed(1))  # DDPM-like
    assert float(x.mean()) == pytest.approx(mu, abs=0.01) and float(x.std()) == pytest.approx(s, abs=0.02)


def test_diffusion_model_learns_a_nonlinear_system_and_its_discrete_parts() -> None:
    g = torch.Generator().manual_seed(0)
    n = 3000
    s = torch.randn(n, 2, generator=g)
    a = torch.rand(n, 1, generator=g) * 2 - 1
    nxt = s + 0.3 * torch.tanh(s.flip(-1)) + 0.2 * a
    terminated = nxt[:, 0] > 1.5  # an episode end that depends on the next state: the heads see it
    data = Transitions(s, a, nxt, nxt[:, 1] - a[:, 0], terminated)
    torch.manual_seed(0)
    cfg = DiffusionConfig(units=64, layers=2, head_units=64, lr=3e-3)
    model, learner = build_state_model("diffusion", (2,), 1, diffusion=cfg)
    for _ in range(600):
        idx = torch.randint(n, (256,), generator=g)
        learner.update(transitions_to_batch(Transitions(*(x[idx] for x in data))))
    test = slice(0, 500)
    roll = model.rollout(data.obs[test], data.action[test, None], particles=2, generator=g)
    change = data.next_obs[test] - data.obs[test]
    err = ((roll.obs[:, :, 0] - data.next_obs[test]) ** 2).mean() / change.var(0).mean()
    assert float(err) < 0.05, float(err)  # predicting no change scores 1
    r_err = ((roll.reward[:, :, 0] - data.reward[test]) ** 2).mean() / data.reward[test].var()
    assert float(r_err) < 0.1, float(r_err)
    accuracy = ((roll.cont[:, :, 0] > 0.5) == ~data.terminated[test]).float().mean()
    assert float(accuracy) > 0.95 and 0.05 < float(data.terminated[test].float().mean()) < 0.5
