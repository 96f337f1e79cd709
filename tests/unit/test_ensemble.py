"""PETS-style ensemble: noise recovery by the NLL fit, member diversity, shapes and normalisation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from envs.episode import Episode
from envs.errors import UserError
from world_model.config import EnsembleConfig, HamiltonianConfig
from world_model.ensemble import ProbabilisticEnsemble, soft_clamp
from world_model.normalise import Standardiser
from world_model.state_fit import StateModelLearner, build_state_model, fit_state_model
from world_model.transitions import Transitions, transitions_from_episodes

SMALL = EnsembleConfig(members=3, units=32, layers=2, batch_size=256, lr=3e-3, weight_decay=0.0)


def linear_gaussian(n: int, seed: int = 0) -> tuple[Transitions[torch.Tensor], torch.Tensor]:
    """s' = A s + B a + sigma * eps; r = s_0 - 0.5 a + 0.1 eps. Returns the data and the noise scales."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, 2, generator=g)
    a = torch.rand(n, 1, generator=g) * 2 - 1
    A = torch.tensor([[0.9, 0.1], [-0.2, 0.8]])
    B = torch.tensor([[0.5, -0.3]])
    sigma = torch.tensor([0.05, 0.2, 0.1])
    nxt = s @ A.T + a @ B + sigma[:2] * torch.randn(n, 2, generator=g)
    r = s[:, 0] - 0.5 * a[:, 0] + sigma[2] * torch.randn(n, generator=g)
    return Transitions(s, a, nxt, r, torch.zeros(n, dtype=torch.bool)), sigma


def test_nll_fit_recovers_the_noise_scale() -> None:
    torch.manual_seed(0)
    data, sigma = linear_gaussian(4000)
    model = ProbabilisticEnsemble(SMALL, 2, 1)
    learner = StateModelLearner(model, lr=SMALL.lr, batch_size=SMALL.batch_size)
    fit_state_model(learner, data, updates=700, generator=torch.Generator().manual_seed(1))
    aleatoric, epistemic = model.predictive_std(data.obs[:500], data.action[:500])
    np.testing.assert_allclose(aleatoric.mean(0).numpy(), sigma.numpy(), rtol=0.15)
    assert (epistemic.mean(0) < 0.3 * sigma).all()  # members agree where the data is dense
    # The mean is right too: the one-step error is the noise, not more.
    with torch.no_grad():
        mean, _, _ = model(data.obs[:500], data.action[:500])
    pred = model.target_norm.inverse(mean.mean(0))
    err = pred[:, :2] - (data.next_obs[:500] - data.obs[:500])
    assert float(err.std(0).max()) < 1.2 * float(sigma[:2].max())


def test_members_differ_by_init_and_bootstrap() -> None:
    torch.manual_seed(0)
    data, _ = linear_gaussian(300)
    model = ProbabilisticEnsemble(SMALL, 2, 1)
    first = model.net[0].weight
    assert not torch.allclose(first[0], first[1])  # independent initialisations
    model.prepare(data, torch.Generator().manual_seed(0))
    boot = model.boot
    assert boot.shape == (3, 300) and not torch.equal(boot[0], boot[1])
    # A bootstrap resample leaves out about 1/e of the transitions.
    left_out = 1.0 - len(set(boot[0].tolist())) / 300
    assert 0.25 < left_out < 0.45
    batch = model.sample_batch(data, 8, torch.Generator().manual_seed(0))
    assert batch.obs.shape == (3, 8, 2) and batch.reward.shape == (3, 8)
    same = ProbabilisticEnsemble(dataclasses.replace(SMALL, bootstrap=False), 2, 1)
    same.prepare(data, torch.Generator().manual_seed(0))
    assert torch.equal(same.boot[0], torch.arange(300)) and torch.equal(same.boot[1], same.boot[0])


def test_shapes_normalisation_round_trip_and_bounds() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 4, generator=g) * torch.tensor([1.0, 10.0, 0.1, 0.0]) + 3.0
    norm = Standardiser(4)
    norm.fit(x)
    z = norm(x)
    np.testing.assert_allclose(z[:, :3].mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(0, unbiased=False).numpy(), 1.0, atol=1e-4)
    assert torch.isfinite(z).all()  # the constant dimension is not blown up
    torch.testing.assert_close(norm.inverse(z), x)
    low, high = torch.tensor([-2.0]), torch.tensor([1.0])
    y = soft_clamp(torch.linspace(-50, 50, 101), low, high)
    # PETS' bounds are soft: the upper one is exceeded by at most softplus(low - high).
    slack = float(torch.nn.functional.softplus(low - high))
    assert float(y.min()) >= -2.0 and float(y.max()) <= 1.0 + slack and (y.diff() >= 0).all()
    assert float(y[0]) == pytest.approx(-2.0, abs=1e-6) and float(y[-1]) == pytest.approx(1.0, abs=slack)

    data, _ = linear_gaussian(200)
    model = ProbabilisticEnsemble(SMALL, 2, 1)
    model.prepare(data, g)
    mean, log_var, logit = model(data.obs[:5], data.action[:5])
    assert mean.shape == log_var.shape == (3, 5, 3) and logit.shape == (3, 5)
    assert (log_var <= model.max_log_var + 1e-3).all() and (log_var >= model.min_log_var).all()
    loss, metrics = model.loss(model.sample_batch(data, 16, g))
    loss.backward()
    assert model.max_log_var.grad is not None and all(k.startswith("wm/") for k in metrics)
    for propagation in ("tsinf", "ts1", "mean"):
        m = ProbabilisticEnsemble(dataclasses.replace(SMALL, propagation=propagation), 2, 1)  # type: ignore[arg-type]
        m.prepare(data, g)
        roll = m.rollout(data.obs[:4], torch.zeros(4, 6, 1), particles=5, generator=g)
        assert roll.obs.shape == (5, 4, 6, 2) and roll.reward.shape == roll.cont.shape == (5, 4, 6)
        assert ((roll.cont >= 0) & (roll.cont <= 1)).all()
        spread = roll.obs.std(0).mean()
        assert (float(spread) == 0.0) == (propagation == "mean")  # sampled particles differ


def test_transitions_from_episodes_and_pixel_error() -> None:
    ep = Episode(
        obs=np.arange(8, dtype=np.float32).reshape(4, 2),
        action=np.array([[0.0], [1.0], [2.0], [3.0]], np.float32),
        reward=np.array([0.0, 1.0, 2.0, 3.0], np.float32),
        terminated=np.array([False, False, False, True]),
        truncated=np.zeros(4, bool),
        is_first=np.array([True, False, False, False]),
    )
    tr = transitions_from_episodes([ep, ep])
    assert tr.obs.shape == (6, 2) and tr.obs[0].tolist() == [0, 1] and tr.next_obs[0].tolist() == [2, 3]
    assert tr.action[:3, 0].tolist() == [1, 2, 3] and tr.terminated.tolist() == [False, False, True] * 2
    with pytest.raises(UserError, match="state observations"):
        build_state_model("ensemble", (16, 16, 3), 2, ensemble=SMALL, hamiltonian=HamiltonianConfig())
