"""MPC agent: the objective built from a world model, LQR on a known linear model, batched envs, resets,
exploration, the actor prior, statistics, and a run against the real (tiny) world model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from torch import Tensor

from agents.mpc import MPCAgent, MPCConfig, MPCState, planning_return
from envs.episode import StepObs
from envs.errors import UserError
from planners import CEM, MPPI, PlannerConfig, RandomShooting, make_planner
from world_model import WorldModel, world_model_preset

DT = 0.1
A_SYS = np.array([[1.0, DT], [0.0, 1.0]])  # double integrator: position, velocity
B_SYS = np.array([[0.5 * DT * DT], [DT]])
Q_COST = np.diag([1.0, 0.1])
R_COST = np.array([[0.1]])


def lqr_first_action(x0: np.ndarray, horizon: int) -> float:
    """u_0 of finite-horizon LQR for sum_{t=1..H} x_t'Q x_t + sum_{t<H} u_t'R u_t (backward Riccati)."""
    p = Q_COST.copy()
    k = np.zeros((1, 2))
    for _ in range(horizon):
        k = np.linalg.solve(R_COST + B_SYS.T @ p @ B_SYS, B_SYS.T @ p @ A_SYS)
        p = Q_COST + A_SYS.T @ p @ (A_SYS - B_SYS @ k)
    return float((-k @ x0)[0])  # the last gain computed is K_0


class LinState(NamedTuple):
    """Fake latent: the true state x (B, 2) and the action that led to it (B, 1)."""

    x: Tensor
    a: Tensor

    def map(self, fn: Callable[[Tensor], Tensor]) -> LinState:
        return LinState(fn(self.x), fn(self.a))


class Imag(NamedTuple):
    state: LinState
    feat: Tensor
    action: Tensor


class LinearModel:
    """A world model with known linear dynamics; reward of arriving in x_{t+1} via u_t is
    -(x'Qx + u'Ru) (the action is part of the feature), never terminates. Records its calls."""

    def __init__(self, cont: float = 1.0) -> None:
        self.a = torch.tensor(A_SYS, dtype=torch.float32)
        self.b = torch.tensor(B_SYS, dtype=torch.float32)
        self.q = torch.tensor(Q_COST, dtype=torch.float32)
        self.r = torch.tensor(R_COST, dtype=torch.float32)
        self.c = cont
        self.obs_steps: list[tuple[Tensor, Tensor, Tensor]] = []
        self.imagine_batches: list[int] = []

    def initial(self, batch_size: int) -> LinState:
        return LinState(torch.zeros(batch_size, 2), torch.zeros(batch_size, 1))

    def feat(self, state: LinState) -> Tensor:
        return torch.cat([state.x, state.a], -1)

    def obs_step(self, state: LinState, action: Tensor, obs: Tensor, is_first: Tensor) -> LinState:
        self.obs_steps.append((action.clone(), obs.clone(), is_first.clone()))
        return LinState(obs, action)

    def imagine(self, start: LinState, policy_or_actions: Any, horizon: int) -> Imag:
        self.imagine_batches.append(start.x.shape[0])
        x, a = start.x, start.a
        xs, us_prev, acts = [x], [a], []
        for t in range(horizon):
            if isinstance(policy_or_actions, Tensor):
                u = policy_or_actions[:, t]
            else:
                u = policy_or_actions(torch.cat([x, a], -1))
            x, a = x @ self.a.T + u @ self.b.T, u
            xs.append(x)
            us_prev.append(a)
            acts.append(u)
        state = LinState(torch.stack(xs, 1), torch.stack(us_prev, 1))
        return Imag(state, self.feat(state), torch.stack(acts, 1))

    def reward(self, feat: Tensor) -> Tensor:
        x, u = feat[..., :2], feat[..., 2:]
        return -((x @ self.q) * x).sum(-1) - ((u @ self.r) * u).sum(-1)

    def cont(self, feat: Tensor) -> Tensor:
        return torch.full(feat.shape[:-1], self.c)


def step_obs(x: np.ndarray, first: list[bool]) -> StepObs:
    return StepObs(np.asarray(x, dtype=np.float32), np.asarray(first))


def test_planning_return_by_hand() -> None:
    reward = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    cont = torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.5, 0.5]])
    value = torch.tensor([10.0, 10.0])
    # w = [1, 0.9 * 1, 0.9^2 * 1 * 0.5] = [1, 0.9, 0.405]
    ret = planning_return(reward, cont, value, discount=0.9)
    torch.testing.assert_close(ret, torch.tensor([1 + 1.8 + 1.215, 1 + 1.8 + 1.215 + 0.405 * 0.9 * 0.5 * 10]))
    torch.testing.assert_close(
        planning_return(reward, cont, None, discount=0.9), torch.tensor([4.015, 4.015])
    )


@pytest.mark.parametrize("kind", ["cem", "mppi"])
def test_first_action_matches_lqr_for_batched_envs(kind: str) -> None:
    """Three envs in different states, one planning call: each first action is that state's LQR action."""
    horizon = 10
    x0 = np.array([[0.5, -0.3], [-0.4, 0.2], [0.1, 0.2]])
    model = LinearModel()
    planner = make_planner(kind, PlannerConfig(horizon=horizon, iterations=10), 1, seed=0)  # type: ignore[arg-type]
    agent = MPCAgent(model, planner, MPCConfig(discount=1.0))
    actions, state = agent.act(step_obs(x0, [True] * 3), None, deterministic=True)
    assert actions.shape == (3, 1) and actions.dtype == np.float32
    expected = np.array([lqr_first_action(x, horizon) for x in x0])
    assert np.abs(expected).max() < 1.0
    np.testing.assert_allclose(actions[:, 0], expected, atol=0.03)
    # one imagine call per iteration, all envs and candidates together
    assert model.imagine_batches == [3 * planner.cfg.population] * planner.cfg.iterations
    assert isinstance(state, MPCState) and state.plan.shape == (3, horizon, 1)


def test_objective_matches_a_hand_rollout_with_continue_and_critic() -> None:
    model = LinearModel(cont=0.5)
    critic_calls: list[int] = []

    def critic(feat: Tensor) -> Tensor:
        critic_calls.append(feat.shape[0])
        return 10.0 * feat[:, 0]  # value = 10 * position at the horizon

    planner = CEM(PlannerConfig(horizon=3), 1, seed=0)
    agent = MPCAgent(model, planner, MPCConfig(discount=0.9), critic=critic)
    start = LinState(torch.tensor([[0.5, -0.3], [0.0, 1.0]]), torch.zeros(2, 1))
    actions = torch.tensor([[[[0.2], [-0.1], [0.4]]], [[[1.0], [1.0], [-1.0]]]])  # (E=2, N=1, H=3, A=1)
    got = agent.objective(start, 2)(actions)
    assert got.shape == (2, 1) and critic_calls == [2]
    for e in range(2):
        x, total, w = start.x[e].numpy().astype(np.float64), 0.0, 1.0
        for t in range(3):
            u = actions[e, 0, t].numpy().astype(np.float64)
            x = A_SYS @ x + B_SYS @ u
            total += w * -(x @ Q_COST @ x + u @ R_COST @ u)
            w_last, w = w, w * 0.9 * 0.5
        total += w_last * 0.9 * 0.5 * 10.0 * x[0]
        assert got[e, 0].item() == pytest.approx(total, rel=1e-5)


def test_resets_zero_the_previous_action_and_warm_start_of_new_episodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = LinearModel()
    planner = MPPI(PlannerConfig(horizon=5, population=64, iterations=2), 1, seed=0)
    agent = MPCAgent(model, planner, MPCConfig(), first_looks=1)  # one model step per act call
    x = np.array([[0.5, -0.3], [-0.4, 0.2]])
    _, state = agent.act(step_obs(x, [True, True]), None, deterministic=False)
    assert model.obs_steps[0][2].all() and (model.obs_steps[0][0] == 0).all()
    state = MPCState(state.latent, torch.tensor([[0.7], [0.7]]), torch.full((2, 5, 1), 0.9))
    _, _ = agent.act(step_obs(x, [False, True]), state, deterministic=False)
    prev, _, first = model.obs_steps[1]
    assert first.tolist() == [False, True]
    assert prev[:, 0].tolist() == pytest.approx([0.7, 0.0])
    # the warm start of env 1 was cleared: the first iteration's mean candidate (index 0) is zeros for it
    seen: list[Tensor] = []
    inner = agent.objective

    def spy(start: Any, e: int) -> Callable[[Tensor], Tensor]:
        f = inner(start, e)

        def g(actions: Tensor) -> Tensor:
            seen.append(actions[:, 0].clone())
            return f(actions)

        return g

    monkeypatch.setattr(agent, "objective", spy)
    agent.act(step_obs(x, [False, True]), state, deterministic=False)
    assert torch.allclose(seen[0][0], torch.full((5, 1), 0.9)) and (seen[0][1] == 0).all()


def test_exploration_noise_is_seeded_and_bounded() -> None:
    x = np.array([[0.5, -0.3]])

    def run(deterministic: bool, seed: int) -> np.ndarray:
        planner = CEM(PlannerConfig(horizon=4, population=64, elites=8, iterations=2), 1, seed=0)
        agent = MPCAgent(LinearModel(), planner, MPCConfig(expl_noise=0.5), seed=seed)
        return agent.act(step_obs(x, [True]), None, deterministic=deterministic)[0]

    det = run(True, 0)
    a, b, c = run(False, 0), run(False, 0), run(False, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, det) and not np.array_equal(a, c)
    assert np.abs(np.concatenate([a, c])).max() <= 1.0


@pytest.mark.parametrize("cls", [CEM, MPPI, RandomShooting])
def test_actor_prior_candidates_come_from_imagined_actor_rollouts(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = LinearModel()
    cfg = PlannerConfig(horizon=6, population=100, elites=10, iterations=1, prior_fraction=0.2)

    def actor(feat: Tensor) -> Tensor:
        return torch.full((feat.shape[0], 1), 0.25)

    agent = MPCAgent(model, cls(cfg, 1, seed=0), MPCConfig(), actor=actor)
    seen: list[Tensor] = []
    inner = agent.objective

    def spy(start: Any, e: int) -> Callable[[Tensor], Tensor]:
        f = inner(start, e)

        def g(actions: Tensor) -> Tensor:
            seen.append(actions)
            return f(actions)

        return g

    monkeypatch.setattr(agent, "objective", spy)
    agent.act(step_obs(np.array([[0.5, -0.3], [0.1, 0.1]]), [True, True]), None, deterministic=True)
    assert model.imagine_batches[0] == 2 * cfg.prior_candidates  # the prior rollout, both envs at once
    assert (seen[0][:, 1 : 1 + cfg.prior_candidates] == 0.25).all()


def test_metrics_average_and_reset() -> None:
    planner = CEM(PlannerConfig(horizon=4, population=32, elites=4), 1, seed=0)
    agent = MPCAgent(LinearModel(), planner, MPCConfig(), seed=0)
    assert agent.metrics() == {}
    x = np.array([[0.5, -0.3]])
    _, state = agent.act(step_obs(x, [True]), None, deterministic=True)
    agent.act(step_obs(x, [False]), state, deterministic=True)
    m = agent.metrics()
    assert m["planner/calls"] == 2.0
    assert set(m) == {
        "planner/return_plan",
        "planner/return_elites",
        "planner/elite_std",
        "planner/ms_per_plan",
        "planner/ms_per_act",
        "planner/calls",
    }
    assert m["planner/return_plan"] < 0 and m["planner/ms_per_plan"] > 0
    assert m["planner/return_elites"] >= m["planner/return_plan"] - 1e-3  # elites are the best found
    assert agent.metrics() == {}


class CountingLearner:
    def __init__(self) -> None:
        self.updates = 0

    def update(self, batch: Any) -> dict[str, float]:
        self.updates += 1
        return {"wm/loss": 1.0}

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]


def test_update_delegates_and_state_dict_restores_random_streams() -> None:
    x = np.array([[0.5, -0.3]])
    cfg = PlannerConfig(horizon=4, population=32, elites=4, iterations=2)
    learner = CountingLearner()
    agent = MPCAgent(LinearModel(), MPPI(cfg, 1, seed=3), MPCConfig(), learner=learner)
    assert agent.update(None) == {"wm/loss": 1.0}  # type: ignore[arg-type]
    saved = agent.state_dict()
    a1, _ = agent.act(step_obs(x, [True]), None, deterministic=False)
    other = CountingLearner()
    agent2 = MPCAgent(LinearModel(), MPPI(cfg, 1, seed=99), MPCConfig(), learner=other, seed=5)
    agent2.load_state_dict(saved)
    a2, _ = agent2.act(step_obs(x, [True]), None, deterministic=False)
    np.testing.assert_array_equal(a1, a2)
    assert other.updates == 1
    with pytest.raises(RuntimeError, match="without a learner"):
        MPCAgent(LinearModel(), MPPI(cfg, 1), MPCConfig()).update(None)  # type: ignore[arg-type]


def test_a_first_observation_gets_the_looks_of_the_dreamer_agent() -> None:
    """The planner observes an episode's first observation by the Dreamer agent's rule
    (ActorCriticConfig.first_looks, 2 by default): the same posterior as the actor would act on."""
    from agents.dreamer import ActorCriticConfig, DreamerAgent

    ac = ActorCriticConfig(hidden=16, layers=1)
    torch.manual_seed(0)
    dreamer = DreamerAgent.build(world_model_preset("tiny"), ac, (3,), 2, device=torch.device("cpu"))
    cfg = PlannerConfig(horizon=3, population=16, elites=4, iterations=1)
    default = MPCAgent(dreamer.world_model, MPPI(cfg, 2, seed=0), MPCConfig())
    assert default.first_looks == ac.first_looks == 2  # the agent's default is the config field's
    one = MPCAgent(dreamer.world_model, MPPI(cfg, 2, seed=0), MPCConfig(), first_looks=1)
    with pytest.raises(ValueError, match="first_looks"):
        MPCAgent(dreamer.world_model, MPPI(cfg, 2, seed=0), MPCConfig(), first_looks=0)
    obs = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    torch.manual_seed(1)
    _, dreamer_state = dreamer.act(step_obs(obs, [True] * 3), None, deterministic=True)
    torch.manual_seed(1)
    _, mpc_state = default.act(step_obs(obs, [True] * 3), None, deterministic=True)
    torch.manual_seed(1)
    _, one_state = one.act(step_obs(obs, [True] * 3), None, deterministic=True)
    for name in ("deter", "stoch"):
        torch.testing.assert_close(getattr(mpc_state.latent, name), getattr(dreamer_state.latent, name))
    assert not torch.allclose(one_state.latent.deter, dreamer_state.latent.deter)
    # rows that go on with their episode get one posterior step, rows that start one get two
    nxt = step_obs(obs[::-1].copy(), [False, True, False])
    state = MPCState(mpc_state.latent, dreamer_state.action, mpc_state.plan)  # the same previous actions
    torch.manual_seed(2)
    _, dreamer_state = dreamer.act(nxt, dreamer_state, deterministic=True)
    torch.manual_seed(2)
    _, mpc_state = default.act(nxt, state, deterministic=True)
    torch.testing.assert_close(mpc_state.latent.deter, dreamer_state.latent.deter)


def test_bad_config_is_a_user_error() -> None:
    with pytest.raises(UserError):
        MPCConfig(discount=0.0)
    with pytest.raises(UserError):
        MPCConfig(expl_noise=-1.0)


@pytest.mark.parametrize("kind", ["cem", "mppi", "shooting"])
def test_acts_with_the_real_world_model(kind: str) -> None:
    torch.manual_seed(0)
    model = WorldModel(world_model_preset("tiny"), (3,), 2)
    cfg = PlannerConfig(horizon=5, population=32, elites=4, iterations=2)
    planner = make_planner(kind, cfg, 2, seed=0)  # type: ignore[arg-type]
    critic_feat: list[int] = []

    def critic(feat: Tensor) -> Tensor:
        critic_feat.append(feat.shape[-1])
        return feat.sum(-1)

    def actor(feat: Tensor) -> Tensor:
        return torch.tanh(feat[:, :2])

    agent = MPCAgent(model, planner, MPCConfig(), critic=critic, actor=actor)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(4, 3))
    actions, state = agent.act(step_obs(obs, [True] * 4), None, deterministic=False)
    for _ in range(2):
        actions, state = agent.act(
            step_obs(rng.normal(size=(4, 3)), [False, True, False, False]), state, deterministic=True
        )
    assert actions.shape == (4, 2) and actions.dtype == np.float32 and np.abs(actions).max() <= 1.0
    assert critic_feat and set(critic_feat) == {model.feat_dim}
    assert state.plan.shape == (4, 5, 2) and state.latent.deter.shape[0] == 4
    m = agent.metrics()
    assert np.isfinite(list(m.values())).all() and m["planner/calls"] == 3.0
