"""PETS-style ensemble: noise recovery by the NLL fit, member diversity, shapes and normalisation, and the
state-model learner fed by replayed sequences."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from envs.episode import SequenceBatch
from envs.errors import UserError
from world_model.config import EnsembleConfig, HamiltonianConfig
from world_model.ensemble import ProbabilisticEnsemble, soft_clamp
from world_model.normalise import Standardiser
from world_model.state_fit import StateModelLearner, build_state_model
from world_model.transitions import Transitions, transitions_from_batch, transitions_to_batch

SMALL = EnsembleConfig(members=3, units=32, layers=2, batch_size=256, lr=3e-3, weight_decay=0.0)


def fit(
    learner: StateModelLearner, data: Transitions[torch.Tensor], updates: int, rows: int, seed: int
) -> None:
    """``updates`` updates, each on ``rows`` transitions drawn uniformly with replacement (as the replay
    serves them: sequences of 2 records)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(updates):
        idx = torch.randint(len(data.obs), (rows,), generator=g)
        learner.update(transitions_to_batch(Transitions(*(x[idx] for x in data))))


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
    learner = StateModelLearner(model, lr=SMALL.lr)
    fit(learner, data, updates=700, rows=SMALL.transitions_per_update, seed=1)
    assert learner.updates == 700
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
    # bootstrap: each member its own rows of the update's batch (drawn independently from the replay)
    batch = model.minibatch(Transitions(*(x[:24] for x in data)))
    assert batch.obs.shape == (3, 8, 2) and batch.reward.shape == (3, 8)
    assert torch.equal(batch.obs[1], data.obs[8:16]) and not torch.equal(batch.obs[0], batch.obs[1])
    with pytest.raises(ValueError, match="do not split"):
        model.minibatch(Transitions(*(x[:10] for x in data)))
    same = ProbabilisticEnsemble(dataclasses.replace(SMALL, bootstrap=False), 2, 1)
    shared = same.minibatch(Transitions(*(x[:8] for x in data)))
    assert shared.obs.shape == (3, 8, 2) and torch.equal(shared.obs[0], shared.obs[2])
    assert SMALL.transitions_per_update == 768 and same.cfg.transitions_per_update == 256
    # Trained, the members still disagree a little (their epistemic spread is not zero).
    learner = StateModelLearner(model, lr=SMALL.lr)
    fit(learner, data, updates=50, rows=SMALL.transitions_per_update, seed=0)
    with torch.no_grad():
        mean, _, _ = model(data.obs[:50], data.action[:50])
    assert float(mean.std(0).mean()) > 1e-3


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
    # Running statistics over batches of a stream end near the statistics of the whole of it.
    stream = Standardiser(4)
    for chunk in x.split(10):
        stream.update(chunk)
    torch.testing.assert_close(stream.mean, norm.mean, atol=1e-5, rtol=0.0)
    torch.testing.assert_close(stream.std, norm.std, rtol=0.1, atol=1e-6)

    data, _ = linear_gaussian(200)
    model = ProbabilisticEnsemble(SMALL, 2, 1)
    model.update_normalisers(data)
    torch.testing.assert_close(model.in_norm.mean[:2], data.obs.mean(0))
    mean, log_var, logit = model(data.obs[:5], data.action[:5])
    assert mean.shape == log_var.shape == (3, 5, 3) and logit.shape == (3, 5)
    assert (log_var <= model.max_log_var + 1e-3).all() and (log_var >= model.min_log_var).all()
    loss, metrics = model.loss(model.minibatch(Transitions(*(x[:48] for x in data))))
    loss.backward()
    assert model.max_log_var.grad is not None and all(k.startswith("wm/") for k in metrics)
    for propagation in ("tsinf", "ts1", "mean"):
        m = ProbabilisticEnsemble(dataclasses.replace(SMALL, propagation=propagation), 2, 1)  # type: ignore[arg-type]
        m.update_normalisers(data)
        roll = m.rollout(data.obs[:4], torch.zeros(4, 6, 1), particles=5, generator=g)
        assert roll.obs.shape == (5, 4, 6, 2) and roll.reward.shape == roll.cont.shape == (5, 4, 6)
        assert ((roll.cont >= 0) & (roll.cont <= 1)).all()
        spread = roll.obs.std(0).mean()
        assert (float(spread) == 0.0) == (propagation == "mean")  # sampled particles differ


def test_transitions_from_replayed_sequences_and_pixel_error() -> None:
    # Two sequences of 4 records; the second crosses into a new episode at t = 2.
    obs = torch.arange(16, dtype=torch.float32).reshape(2, 4, 2)
    action = torch.arange(8, dtype=torch.float32).reshape(2, 4, 1)
    reward = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    terminated = torch.zeros(2, 4, dtype=torch.bool)
    terminated[1, 1] = True
    first = torch.zeros(2, 4, dtype=torch.bool)
    first[1, 2] = True
    batch = SequenceBatch(obs, action, reward, terminated, torch.zeros_like(first), first)
    tr, valid = transitions_from_batch(batch)
    assert tr.obs.shape == (6, 2) and tr.action.shape == (6, 1) and tr.reward.shape == (6,)
    assert tr.obs[0].tolist() == [0, 1] and tr.next_obs[0].tolist() == [2, 3] and tr.action[0, 0] == 1
    assert valid.tolist() == [True, True, True, True, False, True]  # obs[1, 1] -> obs[1, 2]: no step
    assert tr.terminated.tolist() == [False, False, False, True, False, False]
    # Round trip: transitions -> sequences of 2 -> the same transitions, all valid.
    back, ok = transitions_from_batch(transitions_to_batch(tr))
    assert ok.all() and all(torch.equal(a, b) for a, b in zip(back, tr, strict=True))
    # A batch in which no pair is a transition teaches nothing.
    _, learner = build_state_model("ensemble", (2,), 1, ensemble=SMALL, hamiltonian=HamiltonianConfig())
    none = SequenceBatch(
        obs[:, :2], action[:, :2], reward[:, :2], terminated[:, :2], first[:, :2], ~first[:, :2]
    )
    assert learner.update(none) == ({}, None) and learner.updates == 0
    assert learner.metrics(none) == {}
    # Pairs across an episode start are replaced by real transitions: the update still takes E x B rows.
    crossing = transitions_to_batch(Transitions(*(x[:6] for x in tr)))
    crossing.is_first[4, 1] = True
    metrics, _ = learner.update(crossing)
    assert learner.updates == 1 and np.isfinite(metrics["wm/loss"])
    with pytest.raises(UserError, match="state observations"):
        build_state_model("ensemble", (16, 16, 3), 2, ensemble=SMALL, hamiltonian=HamiltonianConfig())
