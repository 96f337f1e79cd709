"""Dreamer actor-critic: actor distribution, losses on a hand-built case, update, checkpoint round trip."""

from __future__ import annotations

import dataclasses
import io
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from agents.dreamer import Actor, ActorCriticConfig, DreamerAgent, DreamerState
from envs.episode import SequenceBatch, StepObs
from envs.errors import UserError
from tests.batches import random_batch

AC = ActorCriticConfig(horizon=3, hidden=16, layers=1, critic_bins=31)


# --------------------------------------------------------------------------- a hand-built world model
class ConstantWorldModel(nn.Module):
    """Feature = the start feature forever; reward 1 and continue 1 everywhere (unless told otherwise)."""

    def __init__(self, feat_dim: int = 4, cont: float = 1.0) -> None:
        super().__init__()
        self.feat_dim = feat_dim
        self.scale = nn.Parameter(torch.ones(()))
        self.cont_value = cont

    def imagine(self, start: Tensor, policy: Any, horizon: int) -> SimpleNamespace:
        feats, actions = [start], []
        for _ in range(horizon):
            actions.append(policy(feats[-1]))
            feats.append(feats[-1] * self.scale)
        return SimpleNamespace(feat=torch.stack(feats, 1), action=torch.stack(actions, 1))

    def reward(self, feat: Tensor) -> Tensor:
        return torch.ones(feat.shape[:-1])

    def cont(self, feat: Tensor) -> Tensor:
        return torch.full(feat.shape[:-1], self.cont_value)

    def outcomes(self, imag: SimpleNamespace) -> tuple[Tensor, Tensor]:
        nxt = imag.feat[:, 1:]
        return self.reward(nxt), self.cont(nxt)


def _fake_agent(cfg: ActorCriticConfig = AC, cont: float = 1.0) -> DreamerAgent:
    wm = ConstantWorldModel(cont=cont)
    return DreamerAgent(wm, learner=None, cfg=cfg, action_dim=1, device=torch.device("cpu"))  # type: ignore[arg-type]


def test_losses_on_hand_built_case() -> None:
    torch.manual_seed(0)
    cfg = ActorCriticConfig(
        horizon=3,
        gamma=0.5,
        lam=0.5,
        entropy=0.0,
        hidden=16,
        layers=1,
        critic_bins=31,
        actor_grad="dynamics",
        slow_reg=0.0,
    )
    agent = _fake_agent(cfg)
    start = torch.randn(2, 4)
    out = agent.imagine_losses(start, torch.ones(2))
    # zero-initialised critic: value 0; r = 1: R_2 = 1, R_1 = 1 + 0.25 * 1, R_0 = 1 + 0.25 * 1.25
    expected = torch.tensor([1.3125, 1.25, 1.0]).expand(2, 3)
    assert torch.allclose(out["return"], expected, atol=1e-5)
    assert torch.allclose(out["value"], torch.zeros(2, 4), atol=1e-5)
    # weights: 1, gamma, gamma^2; scale floored at 1
    assert torch.allclose(out["weight"], torch.tensor([1.0, 0.5, 0.25]).expand(2, 3))
    assert out["scale"].item() == pytest.approx(1.0)
    assert out["actor_loss"].item() == pytest.approx(-(1.3125 + 0.625 + 0.25) / 3)
    # uniform critic logits: log p(any target) = -log K (two-hot weights sum to 1)
    assert out["critic_loss"].item() == pytest.approx(math.log(31) * 1.75 / 3, rel=1e-5)
    # a terminal start state gets no weight at all
    out = agent.imagine_losses(start, torch.tensor([1.0, 0.0]))
    assert torch.all(out["weight"][1] == 0)


def test_predicted_terminal_stops_returns() -> None:
    cfg = ActorCriticConfig(horizon=3, gamma=0.5, lam=0.5, entropy=0.0, hidden=16, layers=1, critic_bins=31)
    out = _fake_agent(cfg, cont=0.0).imagine_losses(torch.randn(2, 4), torch.ones(2))
    # every arrival is terminal: the return is the arrival reward only, later states get no weight
    assert torch.allclose(out["return"], torch.ones(2, 3))
    assert torch.allclose(out["weight"], torch.tensor([1.0, 0.0, 0.0]).expand(2, 3))


def test_actor_gradient_flows_through_dynamics_only_into_actor() -> None:
    agent = _fake_agent(dataclasses.replace(AC, actor_grad="dynamics"))
    out = agent.imagine_losses(torch.randn(8, 4), torch.ones(8))
    out["actor_loss"].backward()
    assert all(p.grad is not None for p in agent.actor.parameters())
    assert all(p.grad is None for p in agent.critic.parameters())


class ActionRewardWorldModel(ConstantWorldModel):
    """The next feature holds the action taken; the reward of arriving is that action."""

    def imagine(self, start: Tensor, policy: Any, horizon: int) -> SimpleNamespace:
        feats, actions = [start], []
        for _ in range(horizon):
            a = policy(feats[-1])
            actions.append(a)
            feats.append(torch.cat([a * self.scale, torch.zeros_like(feats[-1][:, 1:])], -1))
        return SimpleNamespace(feat=torch.stack(feats, 1), action=torch.stack(actions, 1))

    def reward(self, feat: Tensor) -> Tensor:
        return feat[..., 0]


def test_reinforce_actor_gradient_sign_and_scale() -> None:
    """Horizon 1, zero critic: R_0 = r = a, advantage a / S with S = 1, loss -mean(log pi(u) a).

    For u ~ N(tanh(mu), std) (rarely clipped at std 0.3) the expected gradient of the loss with respect
    to the output bias of mu is -E[(u - m) a] / std^2 * tanh'(mu) = -(1 - tanh(mu)^2) ~ -1 at mu ~ 0: the
    actor learns to raise its mean action, at the size the score-function estimator gives."""
    torch.manual_seed(0)
    cfg = ActorCriticConfig(
        horizon=1, entropy=0.0, hidden=16, layers=1, critic_bins=31, min_std=0.3, max_std=0.3, slow_reg=0.0
    )
    wm = ActionRewardWorldModel()
    agent = DreamerAgent(wm, learner=None, cfg=cfg, action_dim=1, device=torch.device("cpu"))  # type: ignore[arg-type]
    start = torch.randn(20_000, 4)
    out = agent.imagine_losses(start, torch.ones(len(start)))
    assert out["scale"].item() == pytest.approx(1.0)
    assert torch.allclose(out["advantage"], out["return"], atol=1e-5)  # zero critic: advantage = return / 1
    out["actor_loss"].backward()
    mu_bias_grad = agent.actor.net[-1].bias.grad[0].item()
    mu0 = agent.actor.dist(start[:1])[0].item()
    assert mu_bias_grad == pytest.approx(-(1 - math.tanh(mu0) ** 2), rel=0.05)
    # REINFORCE: nothing flows into the world model or the critic
    assert wm.scale.grad is None
    assert all(p.grad is None for p in agent.critic.parameters())


def test_actor_bounds_mode_and_entropy_estimate() -> None:
    torch.manual_seed(0)
    cfg = ActorCriticConfig(hidden=8, layers=1, min_std=0.5, max_std=0.5, actor_out_scale=1.0)
    normal = Actor(3, 1, cfg)
    feat = torch.randn(1, 3)
    a = normal.sample(feat.expand(1000, 3))
    assert torch.all(a.abs() <= 1) and torch.any(a.abs() == 1)  # clipped like the env clips
    assert normal(feat).entropy().item() == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 0.25))
    actor = Actor(3, 1, dataclasses.replace(cfg, actor_dist="tanh_normal"))
    a = actor.sample(feat.expand(1000, 3))
    assert torch.all(a.abs() < 1)
    mu, std = (x.detach() for x in actor.dist(feat))
    assert torch.allclose(actor.mode(feat), torch.tanh(mu))
    assert torch.allclose(std, torch.full_like(std, 0.5))
    _, ent = actor.sample_with_entropy(feat.expand(200_000, 3))
    # numerical entropy of a = tanh(u), u ~ N(mu, std): -int p(a) log p(a) da on a fine grid in u space
    u = torch.linspace(float(mu) - 8 * 0.5, float(mu) + 8 * 0.5, 200_001, dtype=torch.float64)
    pu = torch.exp(-0.5 * ((u - float(mu)) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi))
    log_pa = torch.log(pu) - torch.log(1 - torch.tanh(u) ** 2)
    exact = -(pu * log_pa).sum() * (u[1] - u[0])
    assert ent.mean().item() == pytest.approx(exact.item(), abs=0.01)


# ------------------------------------------------------------------------------- the real world model
def _tiny_agent(seed: int = 0, obs_dim: int = 3) -> DreamerAgent:
    from world_model.presets import world_model_preset

    torch.manual_seed(seed)
    return DreamerAgent.build(world_model_preset("tiny"), AC, (obs_dim,), 1, device=torch.device("cpu"))


def _batch(B: int = 3, T: int = 6, obs_dim: int = 3, seed: int = 0) -> SequenceBatch[Tensor]:
    return random_batch(B, T, (obs_dim,), 1, seed=seed)


def test_the_replay_value_term_trains_the_world_model_and_leaves_the_critic_alone() -> None:
    from functools import partial

    from world_model.presets import world_model_preset

    def agent(weight: float) -> DreamerAgent:
        torch.manual_seed(0)
        cfg = dataclasses.replace(AC, replay_value_wm=weight)
        return DreamerAgent.build(world_model_preset("tiny"), cfg, (3,), 1, device=torch.device("cpu"))

    batch = _batch()
    stopped, trained = agent(0.0), agent(0.3)
    assert "wm/replay_value_loss" not in stopped.update(batch)
    metrics = trained.update(batch)
    assert math.isfinite(metrics["wm/replay_value_loss"]) and metrics["wm/replay_value_loss"] > 0
    # the same draws either way: the world models differ by the replay value term's gradient alone
    moved = [
        not torch.equal(a, b)
        for a, b in zip(stopped.world_model.parameters(), trained.world_model.parameters(), strict=True)
    ]
    assert any(moved)
    # the term reaches the world model's parameters, not the critic's
    fresh = agent(0.3)
    fresh.learner.update(batch, extra=partial(fresh.replay_value_wm_loss, batch))
    assert all(p.grad is None for p in fresh.critic.parameters())
    assert all(p.requires_grad for p in fresh.critic.parameters())


def test_update_metrics_and_imagination_shapes() -> None:
    agent = _tiny_agent()
    metrics = agent.update(_batch())
    for key in ("actor/loss", "critic/loss", "actor/entropy", "actor/return_scale"):
        assert key in metrics and math.isfinite(metrics[key])
    assert any(k.startswith("wm/") for k in metrics)
    assert agent.updates == 1
    start = agent.world_model.initial(5)
    imag = agent.world_model.imagine(start, agent.actor.sample, 4)
    assert imag.feat.shape == (5, 5, agent.world_model.feat_dim)
    assert imag.action.shape == (5, 4, 1)
    assert torch.all(imag.action.abs() <= 1)


def test_act_shapes_resets_and_determinism() -> None:
    agent = _tiny_agent()
    obs = StepObs(np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32), np.array([True, True]))
    # the posterior latent is sampled, so the same torch seed gives the same actions
    torch.manual_seed(1)
    a1, s1 = agent.act(obs, None, deterministic=True)
    assert a1.shape == (2, 1) and a1.dtype == np.float32 and np.all(np.abs(a1) <= 1)
    assert isinstance(s1, DreamerState)
    torch.manual_seed(1)
    a2, _ = agent.act(obs, None, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    # rows with is_first behave like a fresh state, whatever the state passed in
    torch.manual_seed(1)
    a3, _ = agent.act(obs, s1, deterministic=True)
    np.testing.assert_allclose(a3, a1, atol=1e-6)
    # a continuing row uses its state: the action differs from a fresh start
    torch.manual_seed(1)
    a4, _ = agent.act(StepObs(obs.obs, np.array([False, False])), s1, deterministic=True)
    assert not np.allclose(a4, a1)


def test_first_looks_take_a_second_posterior_step_on_fresh_rows_only() -> None:
    with pytest.raises(UserError, match="first_looks >= 1"):
        dataclasses.replace(AC, first_looks=0)
    assert AC.first_looks == 2  # the default
    one = _tiny_agent()
    one.cfg = dataclasses.replace(AC, first_looks=1)
    two = _tiny_agent()
    wm = one.world_model
    obs = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    torch.manual_seed(0)
    _, before = one.act(StepObs(obs, np.ones(3, bool)), None, deterministic=True)
    step = StepObs(obs[::-1].copy(), np.array([True, False, True]))  # rows 0 and 2 start an episode
    torch.manual_seed(1)
    _, s1 = one.act(step, before, deterministic=True)
    torch.manual_seed(1)
    _, s2 = two.act(step, before, deterministic=True)
    # what a second look is: the first posterior, then one more on the same observation after a zero action
    torch.manual_seed(1)
    o = torch.from_numpy(step.obs)
    first = torch.from_numpy(step.is_first)
    prev = before.action * (~first).unsqueeze(-1)
    look1 = wm.obs_step(before.latent, prev, o, first)
    look2 = wm.obs_step(look1, torch.zeros_like(prev), o, torch.zeros_like(first))
    torch.testing.assert_close(s1.latent.deter, look1.deter)
    torch.testing.assert_close(s2.latent.deter[[0, 2]], look2.deter[[0, 2]])
    torch.testing.assert_close(s2.latent.deter[1], look1.deter[1])  # a continuing row: one look
    assert not torch.allclose(s2.latent.deter[[0, 2]], look1.deter[[0, 2]])
    # no row starting: nothing extra happens (same latent as one look, same random draws)
    cont = StepObs(step.obs, np.zeros(3, bool))
    torch.manual_seed(2)
    _, c1 = one.act(cont, before, deterministic=True)
    torch.manual_seed(2)
    _, c2 = two.act(cont, before, deterministic=True)
    torch.testing.assert_close(c1.latent.stoch, c2.latent.stoch)


def test_checkpoint_round_trip_identical_actions_and_next_update() -> None:
    agent = _tiny_agent(seed=0)
    agent.update(_batch(seed=1))
    buf = io.BytesIO()
    torch.save(agent.state_dict(), buf)
    buf.seek(0)
    clone = _tiny_agent(seed=123)
    clone.load_state_dict(torch.load(buf, weights_only=True))
    obs = StepObs(np.ones((2, 3), np.float32), np.array([True, False]))
    torch.manual_seed(7)
    a, _ = agent.act(obs, None, deterministic=False)
    m = agent.update(_batch(seed=2))
    torch.manual_seed(7)
    b, _ = clone.act(obs, None, deterministic=False)
    n = clone.update(_batch(seed=2))
    np.testing.assert_array_equal(a, b)

    def computed(metrics: dict[str, float]) -> dict[str, float]:  # wall-clock timings differ by nature
        return {k: v for k, v in metrics.items() if not k.startswith("time/")}

    assert computed(m) == computed(n) and "time/wm_update_ms" in m
    for p, q in zip(agent.actor.parameters(), clone.actor.parameters(), strict=True):
        assert torch.equal(p, q)


def test_continue_head_learns_terminals_not_truncations() -> None:
    """The continue head (which stops imagined returns) drops at terminal states, not at truncations."""
    torch.manual_seed(0)
    agent = _tiny_agent()
    B, T = 4, 8
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(B, T, 3, generator=g) * 0.5
    obs[0::2, -1] = 3.0  # rows 0, 2 end in a (visibly different) terminal state
    terminated = torch.zeros(B, T, dtype=torch.bool)
    terminated[0::2, -1] = True
    truncated = torch.zeros(B, T, dtype=torch.bool)
    truncated[1::2, -1] = True  # rows 1, 3 are cut by a time limit in an ordinary state
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = True
    batch = SequenceBatch(obs, torch.zeros(B, T, 1), torch.zeros(B, T), terminated, truncated, is_first)
    for _ in range(200):
        _, post = agent.learner.update(batch)
    with torch.no_grad():
        cont = agent.world_model.cont(agent.world_model.feat(post))  # (B, T)
        out = agent.imagine_losses(post.map(lambda x: x[:, -1]), 1.0 - terminated[:, -1].float())
    assert torch.all(cont[0::2, -1] < 0.5), cont[:, -1]
    assert torch.all(cont[1::2, -1] > 0.8), cont[:, -1]
    # imagination from a terminal state gets no weight; from a truncated one it does
    assert torch.all(out["weight"][0::2] == 0) and torch.all(out["weight"][1::2, 0] == 1)


def test_replay_value_loss_on_a_tiny_sequence() -> None:
    cfg = dataclasses.replace(AC, gamma=0.5, lam=0.5, slow_reg=0.0)
    agent = _fake_agent(cfg)
    B, T = 1, 5
    batch = SequenceBatch(
        obs=torch.zeros(B, T, 3),
        action=torch.zeros(B, T, 1),
        reward=torch.tensor([[0.0, 1.0, 2.0, 0.0, 5.0]]),
        terminated=torch.tensor([[False, False, True, False, False]]),
        truncated=torch.zeros(B, T, dtype=torch.bool),
        is_first=torch.tensor([[True, False, False, True, False]]),
    )
    feat = torch.randn(B, T, 4)
    boot = torch.tensor([10.0, 20.0, 30.0, 40.0, 50.0])
    out = agent.replay_value_loss(feat, batch, boot, None)
    # returns 6.5, 2, 30 at the three weighted records (see test_returns); zero critic: uniform bins
    assert out["return_mean"].item() == pytest.approx((6.5 + 2.0 + 30.0) / 3)
    assert out["loss"].item() == pytest.approx(math.log(31) * 3 / 4, rel=1e-5)
    out["loss"].backward()
    assert all(p.grad is not None for p in agent.critic.parameters())
    assert all(p.grad is None for p in agent.actor.parameters())
    # states imagination did not start from bootstrap with the critic's value (0 here)
    out = agent.replay_value_loss(feat, batch, boot[[1, 4]], torch.tensor([1, 4]))
    # R_3 = 5 + 0.5 * 50 = 30; R_1 = 2; R_0 = 1 + 0.5 * (0.5 * 20 + 0.5 * 2) = 6.5 (b_1 = 20 given)
    assert out["return_mean"].item() == pytest.approx((6.5 + 2.0 + 30.0) / 3)
    out = agent.replay_value_loss(feat, batch, boot[[4]], torch.tensor([4]))
    # b_1 = 0 now: R_0 = 1 + 0.5 * (0 + 0.5 * 2) = 1.5
    assert out["return_mean"].item() == pytest.approx((1.5 + 2.0 + 30.0) / 3)


def test_one_non_finite_batch_is_skipped_and_the_agent_learns_on() -> None:
    agent = _tiny_agent()
    agent.update(_batch())
    bad = _batch(seed=1)
    bad.obs[0, 2, 1] = float("nan")  # one corrupt observation: every loss and gradient of the update
    before = [p.detach().clone() for p in [*agent.actor.parameters(), *agent.critic.parameters()]]
    metrics = agent.update(bad)
    assert metrics["wm/skipped"] == 1.0
    assert metrics["actor/skipped"] == 1.0 and metrics["critic/skipped"] == 1.0
    after = [*agent.actor.parameters(), *agent.critic.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))
    assert torch.isfinite(agent.normalizer.scale())
    for seed in (2, 3):  # the next sound batches train every part again
        metrics = agent.update(_batch(seed=seed))
        assert metrics["wm/skipped"] == 0.0 and metrics["actor/skipped"] == 0.0
        assert metrics["critic/skipped"] == 0.0 and math.isfinite(metrics["actor/loss"])


def test_advantage_spread_divides_the_advantages_by_their_own_running_spread() -> None:
    import dataclasses

    from world_model.presets import world_model_preset

    torch.manual_seed(0)
    cfg = dataclasses.replace(AC, advantage_norm="advantage_spread")
    agent = DreamerAgent.build(world_model_preset("tiny"), cfg, (3,), 1, device=torch.device("cpu"))
    assert agent.spread is not None
    metrics = agent.update(_batch())
    # after one update the estimate is the first batch's advantage variance, and the divisor its root
    # (floored: an untrained critic's advantages are near zero)
    spread = agent.spread.var.sqrt().item()
    assert metrics["actor/return_scale"] == pytest.approx(max(0.1, spread))
    assert metrics["actor/advantage_std"] * metrics["actor/return_scale"] == pytest.approx(spread, rel=1e-3)
    state = agent.state_dict()
    assert "advantage" in state["normalizers"]
    clone = DreamerAgent.build(world_model_preset("tiny"), cfg, (3,), 1, device=torch.device("cpu"))
    clone.load_state_dict(state)
    assert clone.spread is not None and torch.equal(clone.spread.var, agent.spread.var)
    assert _tiny_agent().spread is None  # the default: the return range, as before


def test_an_entropy_target_adapts_the_entropy_weight_and_the_weight_enters_the_actor_loss() -> None:
    """Under --agent.entropy-target the entropy weight takes a dual step per update, log w += rate x
    (target - entropy per dimension): up while the policy is narrower than the target, down while wider.
    Its first update is the fixed weight's; the weight scales the actor's entropy term and is checkpointed."""
    from world_model.presets import world_model_preset

    def agent(**changes: float | None) -> DreamerAgent:
        torch.manual_seed(0)
        cfg = dataclasses.replace(AC, **changes)
        return DreamerAgent.build(world_model_preset("tiny"), cfg, (3,), 1, device=torch.device("cpu"))

    fixed = agent().update(_batch())
    for target in (5.0, -5.0):
        adapted = agent(entropy_target=target, entropy_rate=0.1)
        m = adapted.update(_batch())
        assert m["actor/loss"] == fixed["actor/loss"]  # the same weight (--agent.entropy) in the first update
        step = 0.1 * (target - m["actor/entropy"])  # one action dim: the entropy is per dimension
        assert m["actor/entropy_weight"] == pytest.approx(AC.entropy * math.exp(step), rel=1e-5)
        assert (m["actor/entropy_weight"] > AC.entropy) == (target > 0)
        clone = agent(entropy_target=target, entropy_rate=0.1)
        clone.load_state_dict(adapted.state_dict())
        assert clone.entropy_weight is not None and adapted.entropy_weight is not None
        assert torch.equal(clone.entropy_weight.log_weight, adapted.entropy_weight.log_weight)
    # a larger weight on a positive entropy (an untrained actor's std is near its largest) lowers the loss
    wide = agent(entropy=0.5, entropy_target=0.0).update(_batch())
    assert fixed["actor/entropy"] > 0 and wide["actor/loss"] < fixed["actor/loss"]
    assert agent().entropy_weight is None and "actor/entropy_weight" not in fixed
    with pytest.raises(UserError, match="entropy_target"):
        dataclasses.replace(AC, entropy=0.0, entropy_target=0.0)
