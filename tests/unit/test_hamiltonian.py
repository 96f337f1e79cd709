"""Hamiltonian dynamics: the leapfrog step conserves H; the frictionless pendulum conserves energy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs import make_env, resolve_env_id
from envs.pendulum import ENV_ID, FrictionlessPendulumEnv, pendulum_energy
from world_model.config import HamiltonianConfig
from world_model.hamiltonian import HamiltonianModel, leapfrog
from world_model.state_fit import StateModelLearner
from world_model.transitions import Transitions, transitions_to_batch


def test_leapfrog_conserves_a_harmonic_oscillator_over_10k_steps() -> None:
    k, m, h = 4.0, 1.0, 0.1  # omega = 2, h * omega = 0.2

    def energy(q: torch.Tensor, p: torch.Tensor) -> float:
        return float(0.5 * p**2 / m + 0.5 * k * q**2)

    q, p = torch.tensor([1.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)
    qe, pe = q.clone(), p.clone()
    e0 = energy(q, p)
    errors = []
    for _ in range(10_000):
        q, p = leapfrog(q, p, lambda x: k * x, lambda y: y / m, h)
        errors.append(energy(q, p) - e0)
        qe, pe = qe + h * pe / m, pe - h * k * qe  # explicit Euler for contrast
    err = np.abs(errors)
    # Bounded by O(h^2) (here (h omega)^2 / 8 relative = 0.5%), and no drift: the last 1000 steps are no
    # worse than the first 1000.
    assert err.max() < 0.006 * e0 * 2
    assert err[-1000:].max() <= err[:1000].max() * 1.0001
    assert energy(qe, pe) > 100 * e0  # explicit Euler gains energy without bound


def test_model_rollout_conserves_its_own_hamiltonian() -> None:
    torch.manual_seed(0)
    model = HamiltonianModel(HamiltonianConfig(units=16, layers=2), 2, 1)
    obs = torch.tensor([[0.5, 0.3], [-2.0, 1.0], [3.0, -0.5]])
    roll = model.rollout(obs, torch.zeros(3, 2000, 1), particles=2)
    assert roll.obs.shape == (2, 3, 2000, 2) and torch.equal(roll.obs[0], roll.obs[1])
    q, p = roll.obs[0, ..., :1], roll.obs[0, ..., 1:]
    with torch.no_grad():
        h = model.energy(q, p)  # (3, 2000)
        h0 = model.energy(obs[:, :1], obs[:, 1:])
    spread = (h.max(1).values - h.min(1).values) / (h.abs().mean(1) + 1e-3)
    assert (spread < 0.05).all(), spread
    assert (
        (h - h0[:, None]).abs()[:, -200:].max(1).values <= 1.05 * (h - h0[:, None]).abs().max(1).values
    ).all()
    with pytest.raises(ValueError, match="even size"):
        HamiltonianModel(HamiltonianConfig(), 3, 1)


def test_frictionless_pendulum_conserves_energy_and_ignores_actions() -> None:
    assert resolve_env_id("FrictionlessPendulum") == ENV_ID
    env = FrictionlessPendulumEnv()
    obs, info = env.reset(seed=3)
    e0 = float(pendulum_energy(*obs))
    assert info["energy"] == pytest.approx(e0)
    for i in range(10_000):
        obs, _, terminated, truncated, _ = env.step(np.array([1.0 if i % 2 else -1.0]))
        assert not terminated and not truncated
    assert abs(float(pendulum_energy(*obs)) - e0) < 1e-5 * max(e0, 1.0)
    twin_a, twin_b = FrictionlessPendulumEnv(), FrictionlessPendulumEnv()
    twin_a.reset(seed=4)
    twin_b.reset(seed=4)
    for _ in range(5):  # opposite actions, the same trajectory: torque-free
        np.testing.assert_array_equal(twin_a.step(np.ones(1))[0], twin_b.step(-np.ones(1))[0])
    wrapped = make_env("FrictionlessPendulum", seed=0)  # through the toolkit's wrappers
    assert wrapped.observation_space.shape == (2,) and wrapped.action_space.shape == (1,)
    wrapped.close()


def test_hamiltonian_and_mlp_learn_the_pendulum_step() -> None:
    torch.manual_seed(0)
    env = FrictionlessPendulumEnv()
    rows = []
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        for _ in range(100):
            nxt, r, _, _, _ = env.step(np.zeros(1))
            rows.append((obs, nxt, r))
            obs = nxt
    o, n, r = (torch.tensor(np.array(x), dtype=torch.float32) for x in zip(*rows, strict=True))
    data = Transitions(o, torch.zeros(len(o), 1), n, r, torch.zeros(len(o), dtype=torch.bool))
    for dynamics in ("hamiltonian", "mlp"):
        cfg = HamiltonianConfig(dynamics=dynamics, units=32, layers=2, lr=3e-3)  # type: ignore[arg-type]
        model = HamiltonianModel(cfg, 2, 1)
        learner = StateModelLearner(model, lr=cfg.lr)
        g = torch.Generator().manual_seed(0)
        for _ in range(300):
            idx = torch.randint(len(o), (128,), generator=g)
            learner.update(transitions_to_batch(Transitions(*(x[idx] for x in data))))
        loss, _ = model.loss(data)
        assert float(loss.detach()) < 0.05, dynamics
