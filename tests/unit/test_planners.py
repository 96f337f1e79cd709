"""Planners: CEM, MPPI and random shooting find known optima, respect bounds, shift warm starts, solve
batched problems independently, and match the analytic LQR action on a linear system."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
import torch
from torch import Tensor

from envs.errors import UserError
from planners import CEM, MPPI, PlannerConfig, RandomShooting, make_planner
from planners.base import GaussianPlanner
from planners.sampling import shift_plan

GAUSSIAN = [CEM, MPPI]
ALL = [CEM, MPPI, RandomShooting]


def quadratic(target: Tensor, weight: float = 1.0):
    """Objective with its maximum (0) at ``target`` (E, H, A): -weight * ||a - target||^2."""

    def objective(actions: Tensor) -> Tensor:
        return -weight * (actions - target.unsqueeze(1)).square().sum(dim=(2, 3))

    return objective


def targets(e: int, h: int, a: int, seed: int = 0, scale: float = 0.8) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * (2 * torch.rand((e, h, a), generator=g) - 1)


@pytest.mark.parametrize("cls", GAUSSIAN)
@pytest.mark.parametrize("weight", [1.0, 1e-3, 1e3])
def test_gaussian_planners_find_quadratic_optimum(cls: type[GaussianPlanner], weight: float) -> None:
    target = targets(1, 5, 2)
    planner = cls(PlannerConfig(horizon=5, population=256, elites=32, iterations=10), 2, seed=0)
    actions, _ = planner.plan(quadratic(target, weight))
    assert actions.shape == (1, 5, 2)
    assert (actions - target).abs().max() < 0.03
    assert planner.stats is not None
    assert planner.stats.value.shape == (1,)
    assert planner.stats.elite_std.item() < 0.2  # the search contracted around the optimum


def test_random_shooting_finds_quadratic_optimum_in_low_dimension() -> None:
    target = targets(1, 2, 1)
    planner = RandomShooting(PlannerConfig(horizon=2, population=4096, elites=16), 1, seed=0)
    actions, _ = planner.plan(quadratic(target))
    assert (actions - target).abs().max() < 0.08


def test_random_shooting_returns_the_best_candidate() -> None:
    seen: list[Tensor] = []

    def objective(actions: Tensor) -> Tensor:
        seen.append(actions)
        return -(actions - 0.3).square().sum(dim=(2, 3))

    planner = RandomShooting(PlannerConfig(horizon=3, population=64, elites=8), 2, seed=1)
    actions, _ = planner.plan(objective)
    assert len(seen) == 1  # one batched call
    values = objective(seen[0])
    best = seen[0][0, values[0].argmax()]
    torch.testing.assert_close(actions[0], best)
    assert planner.stats is not None
    torch.testing.assert_close(planner.stats.value, values.max(dim=1).values)


@pytest.mark.parametrize("cls", ALL)
def test_bounds_respected_and_optimum_outside_reaches_the_bound(cls: type) -> None:
    target = torch.tensor([[[3.0, -3.0]]]).expand(1, 4, 2).clone()  # optimum outside the box
    lo, hi = [], []

    def objective(actions: Tensor) -> Tensor:
        lo.append(actions.min().item())
        hi.append(actions.max().item())
        return quadratic(target)(actions)

    planner = cls(PlannerConfig(horizon=4, population=512, elites=32, iterations=6), 2, seed=0)
    actions, next_init = planner.plan(objective, init=torch.full((1, 4, 2), 5.0))
    assert min(lo) >= -1.0 and max(hi) <= 1.0
    assert actions.abs().max() <= 1.0 and next_init.abs().max() <= 1.0
    if cls is RandomShooting:  # 8 dimensions of uniform samples: only the direction is reliable
        assert actions[..., 0].mean() > 0.3 and actions[..., 1].mean() < -0.3
    else:  # clipped samples pull the mean slightly inside the box
        assert (actions[..., 0] - 1.0).abs().max() < 0.1
        assert (actions[..., 1] + 1.0).abs().max() < 0.1


@pytest.mark.parametrize("fill", ["repeat", "zero"])
@pytest.mark.parametrize("cls", ALL)
def test_warm_start_is_the_plan_shifted(cls: type, fill: Literal["repeat", "zero"]) -> None:
    planner = cls(PlannerConfig(horizon=6, population=64, elites=8, iterations=2, shift_fill=fill), 3, seed=0)
    actions, next_init = planner.plan(quadratic(targets(2, 6, 3)), num_problems=2)
    assert next_init.shape == actions.shape == (2, 6, 3)
    torch.testing.assert_close(next_init[:, :-1], actions[:, 1:])
    expected_last = actions[:, -1] if fill == "repeat" else torch.zeros_like(actions[:, -1])
    torch.testing.assert_close(next_init[:, -1], expected_last)


def test_shift_plan_by_hand() -> None:
    plan = torch.arange(6.0).reshape(1, 3, 2)
    assert shift_plan(plan, "repeat").tolist() == [[[2.0, 3.0], [4.0, 5.0], [4.0, 5.0]]]
    assert shift_plan(plan, "zero").tolist() == [[[2.0, 3.0], [4.0, 5.0], [0.0, 0.0]]]


@pytest.mark.parametrize("cls", GAUSSIAN)
def test_warm_start_is_used(cls: type[GaussianPlanner]) -> None:
    """Starting at the optimum with a narrow search stays there; starting at zeros does not get there."""
    target = targets(1, 8, 1, seed=3)
    cfg = PlannerConfig(horizon=8, population=32, elites=4, iterations=1, init_std=0.05, momentum=0.0)
    warm, _ = cls(cfg, 1, seed=0).plan(quadratic(target), init=target.clone())
    cold, _ = cls(cfg, 1, seed=0).plan(quadratic(target))
    assert (warm - target).abs().max() < 0.1
    assert (cold - target).abs().max() > 0.3


@pytest.mark.parametrize("cls", ALL)
def test_batched_problems_are_solved_independently(cls: type) -> None:
    cfg = PlannerConfig(horizon=3, population=1024, elites=32, iterations=8)
    h, a = 3, 1
    target = targets(3, h, a, seed=5)
    actions, _ = cls(cfg, a, seed=0).plan(quadratic(target), num_problems=3)
    tol = 0.3 if cls is RandomShooting else 0.03
    assert (actions - target).abs().max() < tol  # each row finds its own optimum
    # Changing problem 2's objective (scale and optimum) leaves problems 0 and 1 unchanged bit for bit.
    other = target.clone()
    other[2] = -other[2]

    def objective2(actions: Tensor) -> Tensor:
        values = quadratic(other)(actions)
        values[2] *= 1000.0
        return values

    actions2, _ = cls(cfg, a, seed=0).plan(objective2, num_problems=3)
    torch.testing.assert_close(actions2[:2], actions[:2], rtol=0, atol=0)
    assert not torch.equal(actions2[2], actions[2])


@pytest.mark.parametrize("cls", ALL)
def test_same_seed_same_plan(cls: type) -> None:
    cfg = PlannerConfig(horizon=4, population=64, elites=8, iterations=3)
    target = targets(2, 4, 2)
    a1, n1 = cls(cfg, 2, seed=7).plan(quadratic(target), num_problems=2)
    a2, n2 = cls(cfg, 2, seed=7).plan(quadratic(target), num_problems=2)
    a3, _ = cls(cfg, 2, seed=8).plan(quadratic(target), num_problems=2)
    assert torch.equal(a1, a2) and torch.equal(n1, n2)
    assert not torch.equal(a1, a3)


@pytest.mark.parametrize("cls", ALL)
def test_policy_prior_candidates_are_evaluated(cls: type) -> None:
    """A prior that proposes the optimum lets a single round find it exactly (CEM, shooting) or closely."""
    e, h, a = 2, 10, 2
    target = targets(e, h, a, seed=9)
    calls: list[int] = []

    def prior(n: int) -> Tensor:
        calls.append(n)
        return target.unsqueeze(1).expand(e, n, h, a)

    cfg = PlannerConfig(horizon=h, population=128, elites=4, iterations=1, prior_fraction=0.1, momentum=0.0)
    actions, _ = cls(cfg, a, seed=0).plan(quadratic(target), num_problems=e, prior=prior)
    assert calls == [cfg.prior_candidates] == [13]
    without, _ = cls(cfg, a, seed=0).plan(quadratic(target), num_problems=e)
    if cls is MPPI:
        assert (actions - target).abs().max() < (without - target).abs().max()
    else:
        torch.testing.assert_close(actions, target)
        assert (without - target).abs().max() > 0.1


def test_bad_prior_shape_and_bad_objective_are_reported() -> None:
    planner = CEM(PlannerConfig(horizon=2, population=16, elites=2, iterations=1), 1, seed=0)
    with pytest.raises(ValueError, match="prior"):
        planner.plan(quadratic(torch.zeros(1, 2, 1)), prior=lambda n: torch.zeros(1, n, 3, 1))
    with pytest.raises(ValueError, match="objective must map"):
        planner.plan(lambda x: x.sum(dim=(1, 2, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        planner.plan(lambda x: torch.full(x.shape[:2], float("nan")))
    with pytest.raises(ValueError, match="init"):
        planner.plan(quadratic(torch.zeros(1, 2, 1)), init=torch.zeros(1, 3, 1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"elites": 600},
        {"horizon": 0},
        {"temperature": 0.0},
        {"min_std": 1.0, "max_std": 0.5},
        {"momentum": 1.0},
    ],
)
def test_bad_config_is_a_user_error(kwargs: dict) -> None:
    with pytest.raises(UserError):
        PlannerConfig(**kwargs)


def test_make_planner() -> None:
    assert isinstance(make_planner("mppi", PlannerConfig(), 3), MPPI)
    with pytest.raises(ValueError, match="unknown planner"):
        make_planner("nope", PlannerConfig(), 3)  # type: ignore[arg-type]


# --- Linear system with quadratic cost: the first planned action matches finite-horizon LQR. ---

DT = 0.1
A_SYS = np.array([[1.0, DT], [0.0, 1.0]])  # double integrator: position, velocity
B_SYS = np.array([[0.5 * DT * DT], [DT]])
Q_COST = np.diag([1.0, 0.1])
R_COST = np.array([[0.1]])


def lqr_actions(x0: np.ndarray, horizon: int) -> np.ndarray:
    """Optimal open-loop actions (H, 1) for cost sum_{t=1..H} x_t'Q x_t + sum_{t=0..H-1} u_t'R u_t,
    from the backward Riccati recursion P_H = Q, K_t = (R + B'P B)^-1 B'P A, P_t = Q + A'P (A - B K_t)."""
    p = Q_COST.copy()
    gains = []
    for _ in range(horizon):
        k = np.linalg.solve(R_COST + B_SYS.T @ p @ B_SYS, B_SYS.T @ p @ A_SYS)
        gains.append(k)
        p = Q_COST + A_SYS.T @ p @ (A_SYS - B_SYS @ k)
    x, us = x0, []
    for k in reversed(gains):
        u = -k @ x
        us.append(u)
        x = A_SYS @ x + B_SYS @ u
    return np.array(us)


def linear_quadratic_objective(x0: np.ndarray):
    a_t, b_t = torch.tensor(A_SYS, dtype=torch.float32), torch.tensor(B_SYS, dtype=torch.float32)
    q_t, r_t = torch.tensor(Q_COST, dtype=torch.float32), torch.tensor(R_COST, dtype=torch.float32)

    def objective(actions: Tensor) -> Tensor:
        e, n, h, _ = actions.shape
        x = torch.tensor(x0, dtype=torch.float32).expand(e, n, 2)
        ret = torch.zeros(e, n)
        for t in range(h):
            u = actions[:, :, t]
            x = x @ a_t.T + u @ b_t.T
            ret = ret - ((x @ q_t) * x).sum(-1) - ((u @ r_t) * u).sum(-1)
        return ret

    return objective


@pytest.mark.parametrize("cls", GAUSSIAN)
@pytest.mark.parametrize("seed", [0, 1])
def test_first_action_matches_finite_horizon_lqr(cls: type[GaussianPlanner], seed: int) -> None:
    horizon, x0 = 10, np.array([0.5, -0.3])
    optimal = lqr_actions(x0, horizon)
    assert np.abs(optimal).max() < 1.0  # unconstrained optimum inside the bounds: LQR is the answer
    planner = cls(PlannerConfig(horizon=horizon, iterations=10), 1, seed=seed)
    actions, _ = planner.plan(linear_quadratic_objective(x0))
    assert abs(actions[0, 0, 0].item() - optimal[0, 0]) < 0.03
    assert np.abs(actions[0].numpy() - optimal).max() < 0.1
