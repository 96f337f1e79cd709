"""Momentum by construction: antisymmetric pairwise impulses keep sum_i m_i v_i to round-off over 1,000
steps, the same-size MLP does not, and both learn the particle system's step."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from envs.errors import UserError
from envs.particles import MASSES, ParticleLayout, ParticleSpringsEnv
from world_model.config import GraphConfig
from world_model.pairwise import PairwiseForceModel
from world_model.state_fit import build_state_model
from world_model.transitions import Transitions, transitions_to_batch

SIZES = {"graph": 64, "mlp": 54}  # 4.8k dynamics parameters each


def _particle_data(episodes: int, steps: int, seed: int = 0) -> Transitions[torch.Tensor]:
    env = ParticleSpringsEnv()
    rows = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        for _ in range(steps):
            nxt, r, _, _, _ = env.step(np.zeros(1))
            rows.append((obs, nxt, r))
            obs = nxt
    o, n, r = (torch.tensor(np.array(x), dtype=torch.float32) for x in zip(*rows, strict=True))
    return Transitions(o, torch.zeros(len(o), 1), n, r, torch.zeros(len(o), dtype=torch.bool))


@pytest.fixture(scope="module")
def trained() -> dict[str, tuple[PairwiseForceModel, dict[str, float]]]:
    """Both dynamics after 300 updates on 800 transitions, with their loss on that data."""
    data = _particle_data(8, 100)
    out = {}
    for dynamics, units in SIZES.items():
        torch.manual_seed(0)
        model, learner = build_state_model(
            "graph", (16,), 1, graph=GraphConfig(dynamics=dynamics, units=units, lr=3e-3),  # type: ignore[arg-type]
            layout=ParticleLayout(MASSES, 2),
        )  # fmt: skip
        assert isinstance(model, PairwiseForceModel)
        g = torch.Generator().manual_seed(0)
        for _ in range(300):
            idx = torch.randint(len(data.obs), (128,), generator=g)
            learner.update(transitions_to_batch(Transitions(*(x[idx] for x in data))))
        _, metrics = model.loss(data)
        out[dynamics] = (model, metrics)
    return out


def test_graph_and_mlp_learn_the_particle_step(trained: dict) -> None:
    graph, mlp = trained["graph"][0], trained["mlp"][0]
    params = [sum(p.numel() for n, p in m.named_parameters() if "reward" not in n) for m in (graph, mlp)]
    assert abs(params[0] - params[1]) < 0.02 * params[0]  # the same size
    for dynamics, (_, metrics) in trained.items():
        # squared error summed over 16 dimensions in units of each one's spread: no change scores ~16
        assert metrics["wm/step_loss"] < 0.5, (dynamics, metrics)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 5e-5)])
def test_graph_model_conserves_momentum_over_1000_steps(
    trained: dict, dtype: torch.dtype, tol: float
) -> None:
    graph, mlp = (copy.deepcopy(trained[k][0]).to(dtype) for k in ("graph", "mlp"))
    start = _particle_data(3, 1, seed=50).obs.to(dtype)  # 3 unseen states
    p0 = graph.momentum(start)
    assert float(p0.norm(dim=-1).min()) > 0.05
    roll = graph.rollout(start, torch.zeros(3, 1000, 1, dtype=dtype), particles=1).obs[0]  # (3, 1000, 16)
    _, v = graph.split(roll)
    assert float((v[:, 1:] - v[:, :-1]).abs().mean()) > 1e-3  # real kicks at every step
    assert bool(torch.isfinite(roll).all())
    drift = float((graph.momentum(roll) - p0[:, None]).abs().max())
    assert drift < tol * float(p0.abs().max()), drift
    base = mlp.rollout(start, torch.zeros(3, 1000, 1, dtype=dtype), particles=1).obs[0]
    assert float((mlp.momentum(base) - p0[:, None]).abs().max()) > 1e-2  # no structure, no conservation


def test_graph_model_is_translation_invariant_and_checks_its_layout(trained: dict) -> None:
    model = copy.deepcopy(trained["graph"][0]).double()
    obs = _particle_data(1, 1).obs.double()
    shift = torch.tensor([3.0, -2.0], dtype=torch.float64).repeat(4)
    moved = torch.cat([obs[:, :8] + shift, obs[:, 8:]], -1)
    step, step_moved = model.step(obs), model.step(moved)
    torch.testing.assert_close(step_moved[:, :8] - shift, step[:, :8])
    torch.testing.assert_close(step_moved[:, 8:], step[:, 8:])
    with pytest.raises(ValueError, match="2 N d"):
        PairwiseForceModel(GraphConfig(), 10, 1, MASSES, 2)
    with pytest.raises(UserError, match="masses and layout"):
        build_state_model("graph", (16,), 1)
    with pytest.raises(UserError, match="does not fit"):
        build_state_model("graph", (12,), 1, layout=ParticleLayout(MASSES, 2))
