"""Energy-based dynamics: the Langevin sampler against known 1-D energies, and the model learning a
simple system by denoising score matching."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from world_model.config import EBMConfig
from world_model.ebm import EnergyDynamicsModel, annealed_langevin, geometric_sigmas
from world_model.state_fit import build_state_model
from world_model.transitions import Transitions, transitions_to_batch


def test_langevin_samples_a_gaussian_energy() -> None:
    # E(y) = (y - 2)^2 / (2 * 0.3^2): samples should be N(2, 0.3^2), whatever the start
    def score(y: torch.Tensor, level: int) -> torch.Tensor:
        return -(y - 2.0) / 0.3**2

    g = torch.Generator().manual_seed(0)
    start = 5.0 * torch.randn(20_000, 1, generator=g, dtype=torch.float64)
    y = annealed_langevin(score, start, [1e-3], 2000, generator=g)
    assert float(y.mean()) == pytest.approx(2.0, abs=0.01)
    assert float(y.std()) == pytest.approx(0.3, rel=0.03)  # the step's own bias is ~alpha / (4 s^2) = 0.3%


def test_langevin_recovers_the_mode_of_a_skewed_energy() -> None:
    # E(y) = y^4 / 4 - y: dE/dy = y^3 - 1, one minimum at y = 1 (the mean of exp(-E) is not there)
    def score(y: torch.Tensor, level: int) -> torch.Tensor:
        return -(y**3 - 1.0)

    g = torch.Generator().manual_seed(1)
    start = 3.0 * torch.rand(1000, 1, generator=g, dtype=torch.float64) - 1.0
    descent = annealed_langevin(score, start, [0.05], 500, noise=False)
    torch.testing.assert_close(descent, torch.ones_like(descent), atol=1e-6, rtol=0)
    samples = annealed_langevin(score, start.repeat(40, 1), [0.01], 1000, generator=g).squeeze(-1)
    hist = torch.histc(samples, bins=40, min=-2.0, max=3.0)
    peak = -2.0 + (int(hist.argmax()) + 0.5) * 5.0 / 40  # the histogram's highest bin holds the mode
    assert peak == pytest.approx(1.0, abs=0.15)
    assert float(samples.mean()) < 0.9  # and the sampler draws the skewed distribution, not just its mode


def test_annealed_levels_and_score_of_the_model() -> None:
    sig = geometric_sigmas(1.0, 0.01, 3)
    torch.testing.assert_close(sig, torch.tensor([1.0, 0.1, 0.01]))
    torch.manual_seed(0)
    model = EnergyDynamicsModel(EBMConfig(units=16, layers=1), 2, 1)
    x, y = torch.randn(5, 3), torch.randn(5, 3)
    assert len(model.sigmas) == 8 and float(model.sigmas[-1]) == pytest.approx(0.01)
    score = model.score(x, y, 1)
    sigma = model.sigmas[1].expand(5)
    with torch.no_grad():  # the score is -dE/dy, checked by central differences
        h, e = 1e-3, torch.eye(3)
        fd = [
            (model.energy(x, y + h * e[k], sigma) - model.energy(x, y - h * e[k], sigma)) / (2 * h)
            for k in range(3)
        ]
    torch.testing.assert_close(score, -torch.stack(fd, -1), rtol=1e-2, atol=1e-2)
    with pytest.raises(ValueError, match="sigma_min"):
        EnergyDynamicsModel(EBMConfig(sigma_min=2.0), 2, 1)


def test_ebm_learns_a_nonlinear_system() -> None:
    g = torch.Generator().manual_seed(0)
    n = 3000
    s = torch.randn(n, 2, generator=g)
    a = torch.rand(n, 1, generator=g) * 2 - 1
    nxt = s + 0.3 * torch.tanh(s.flip(-1)) + 0.2 * a
    data = Transitions(s, a, nxt, s[:, 0] - a[:, 0], torch.zeros(n, dtype=torch.bool))
    torch.manual_seed(0)
    cfg = EBMConfig(units=64, layers=2, lr=3e-3)
    model, learner = build_state_model("ebm", (2,), 1, ebm=cfg)
    for _ in range(600):
        idx = torch.randint(n, (256,), generator=g)
        learner.update(transitions_to_batch(Transitions(*(x[idx] for x in data))))
    test = slice(0, 300)
    for sample in (True, False):
        model.cfg = dataclasses.replace(cfg, sample=sample)
        roll = model.rollout(data.obs[test], data.action[test, None], particles=2, generator=g)
        change = data.next_obs[test] - data.obs[test]
        err = ((roll.obs[:, :, 0] - data.next_obs[test]) ** 2).mean() / change.var(0).mean()
        assert float(err) < 0.05, (sample, float(err))  # predicting no change scores 1
        r_err = ((roll.reward[:, :, 0] - data.reward[test]) ** 2).mean() / data.reward[test].var()
        assert float(r_err) < 0.05 and bool((roll.cont > 0.9).all())
