"""World model: shapes, resets, gradients, determinism and a small learning test."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from envs.episode import Episode, SequenceBatch
from tests.batches import random_batch
from world_model import RSSMConfig, WorldModel, WorldModelConfig, world_model_preset
from world_model.evaluation import eval_windows, openloop_eval
from world_model.learner import WorldModelLearner

TINY = world_model_preset("tiny")


def make_cfg(objective: str = "reconstruction", latent: str = "categorical") -> WorldModelConfig:
    rssm = dataclasses.replace(TINY.rssm, latent=latent)  # type: ignore[arg-type]
    return dataclasses.replace(TINY, objective=objective, rssm=rssm)  # type: ignore[arg-type]


def fake_batch(
    B: int, T: int, obs_shape: tuple[int, ...], A: int, seed: int = 0
) -> SequenceBatch[torch.Tensor]:
    return random_batch(B, T, obs_shape, A, seed=seed)


KINDS = [("reconstruction", "categorical"), ("latent", "gaussian"), ("latent", "categorical")]
OBS = [(5,), (16, 16, 3)]


@pytest.mark.parametrize("objective,latent", [*KINDS, ("reconstruction", "gaussian")])
@pytest.mark.parametrize("obs_shape", OBS)
def test_shapes_through_observe_imagine_and_loss(
    objective: str, latent: str, obs_shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    B, T, A, H = 3, 6, 2, 4
    model = WorldModel(make_cfg(objective, latent), obs_shape, A)
    batch = fake_batch(B, T, obs_shape, A)
    post, prior = model.observe(batch.obs, batch.action, batch.is_first)
    S = model.rssm.stoch_dim
    for s in (post, prior):
        assert s.deter.shape == (B, T, TINY.rssm.deter) and s.stoch.shape == (B, T, S)
        assert s.deter.dtype == s.stoch.dtype == torch.float32
    feat = model.feat(post)
    assert feat.shape == (B, T, model.feat_dim)
    assert model.reward(feat).shape == (B, T) and model.cont(feat).shape == (B, T)
    assert model.decode(feat).shape == (B, T, *obs_shape)
    # Fixed actions and a policy through the same imagine.
    start = post.flatten()
    imag = model.imagine(start, torch.zeros(B * T, H, A), H)
    assert imag.feat.shape == (B * T, H + 1, model.feat_dim) and imag.action.shape == (B * T, H, A)
    torch.testing.assert_close(imag.feat[:, 0], feat.reshape(B * T, -1))
    imag2 = model.imagine(start, lambda f: torch.tanh(f[:, :A]), H)
    assert imag2.action.shape == (B * T, H, A) and imag2.state.stoch.shape == (B * T, H + 1, S)
    if latent == "categorical":
        one_hots = imag2.state.stoch[:, 1:].reshape(B * T, H, TINY.rssm.stoch, TINY.rssm.classes)
        assert torch.equal(one_hots.sum(-1), torch.ones(B * T, H, TINY.rssm.stoch))
    # One acting step.
    s1 = model.obs_step(None, batch.action[:, 0], batch.obs[:, 0], batch.is_first[:, 0])
    assert s1.deter.shape == (B, TINY.rssm.deter)
    loss, metrics, post2 = model.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(k.startswith("wm/") and math.isfinite(v) for k, v in metrics.items())
    assert post2.deter.shape == (B, T, TINY.rssm.deter)


def test_rejects_wrong_shapes() -> None:
    model = WorldModel(TINY, (5,), 2)
    batch = fake_batch(2, 4, (5,), 2)
    with pytest.raises(ValueError, match="action"):
        model.observe(batch.obs, batch.action[..., :1], batch.is_first)
    with pytest.raises(ValueError, match="obs"):
        model.observe(batch.obs[..., :4], batch.action, batch.is_first)


def test_state_and_action_reset_at_is_first() -> None:
    torch.manual_seed(0)
    model = WorldModel(TINY, (5,), 2)
    batch = fake_batch(4, 8, (5,), 2)
    obs = batch.obs.clone()
    obs[:, 5] = obs[0, 5]  # same observation at the reset step, different histories before it
    action = batch.action.clone()
    is_first = batch.is_first.clone()
    is_first[:, 5] = True
    post, prior = model.observe(obs, action, is_first)
    # h_5 is computed from the zero state and a zeroed action: identical across rows.
    assert torch.allclose(post.deter[:, 5], post.deter[:1, 5].expand(4, -1))
    assert torch.allclose(prior.stats[:, 5], prior.stats[:1, 5].expand(4, -1))
    # ...and equals the first step of a fresh sequence (a carried-in state is also discarded).
    fresh, _ = model.observe(
        obs[:, 5:], torch.randn(4, 3, 2), is_first[:, 5:], state=post.map(lambda x: x[:, 4])
    )
    torch.testing.assert_close(fresh.deter[:, 0], post.deter[:, 5])
    # Without the reset the histories differ.
    post_nr, _ = model.observe(obs, action, batch.is_first)
    assert not torch.allclose(post_nr.deter[0, 5], post_nr.deter[1, 5])


@pytest.mark.parametrize("fresh", [False, True])
def test_fresh_start_trains_step_zero_as_an_episode_start(fresh: bool) -> None:
    cfg = dataclasses.replace(TINY, rssm=dataclasses.replace(TINY.rssm, fresh_start=fresh))
    torch.manual_seed(0)
    model = WorldModel(cfg, (5,), 2)
    batch = fake_batch(4, 8, (5,), 2)
    batch = batch._replace(is_first=torch.zeros_like(batch.is_first))  # mid-episode sequences
    other = batch._replace(  # another action into step 0 and another reward at step 0
        action=torch.cat([-batch.action[:, :1], batch.action[:, 1:]], 1),
        reward=torch.cat([batch.reward[:, :1] + 5.0, batch.reward[:, 1:]], 1),
    )
    losses = []
    for b in (batch, other):
        torch.manual_seed(1)
        loss, _, post = model.loss(b)
        losses.append((loss, post.deter))
    if fresh:  # neither reaches the loss or the states
        torch.testing.assert_close(losses[0][0], losses[1][0])
        torch.testing.assert_close(losses[0][1], losses[1][1])
        # ...and step 0 is the state an agent's first action is taken on: zero state, zero action.
        first = model.obs_step(None, torch.zeros(4, 2), batch.obs[:, 0], torch.ones(4, dtype=torch.bool))
        torch.testing.assert_close(first.deter, losses[0][1][:, 0])
    else:
        assert not torch.allclose(losses[0][1][:, 0], losses[1][1][:, 0])
        assert not torch.isclose(losses[0][0], losses[1][0])


def test_observe_continues_from_a_given_state() -> None:
    torch.manual_seed(0)
    model = WorldModel(TINY, (5,), 2)
    batch = fake_batch(2, 6, (5,), 2)
    embed = model.encode(batch.obs)
    # The posterior pass alone (observe also samples the prior afterwards, which draws random numbers).
    torch.manual_seed(1)
    full = model.rssm.observe(embed, batch.action, batch.is_first, None)
    torch.manual_seed(1)
    first = model.rssm.observe(embed[:, :3], batch.action[:, :3], batch.is_first[:, :3], None)
    last = first.map(lambda x: x[:, -1])
    rest = model.rssm.observe(embed[:, 3:], batch.action[:, 3:], batch.is_first[:, 3:], last)
    torch.testing.assert_close(torch.cat([first.deter, rest.deter], 1), full.deter)


@pytest.mark.parametrize("objective,latent", KINDS)
def test_gradients_reach_what_should_learn_and_nothing_else(objective: str, latent: str) -> None:
    torch.manual_seed(0)
    cfg = make_cfg(objective, latent)
    # No free bits (at init every KL is under them), and a non-zero reward output layer (zero at init).
    model = WorldModel(dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, free_nats=0.0)), (5,), 2)
    out_layer = model.reward_head.net[-1]
    assert isinstance(out_layer, torch.nn.Linear)
    torch.nn.init.normal_(out_layer.weight, std=0.1)
    loss, _, _ = model.loss(fake_batch(4, 6, (5,), 2))
    loss.backward()
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    no_grad = {
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
    }
    assert no_grad == set(), no_grad
    if objective == "latent":
        target = [p for n, p in model.named_parameters() if n.startswith("latent.target.")]
        assert target and all(not p.requires_grad and p.grad is None for p in target)
        assert not any(n.startswith("latent.target.") for n in names)
        # The probe decoder learns from the probe loss only: it never sends gradient into the model.
        model.zero_grad()
        _, _, post = model.loss(fake_batch(4, 6, (5,), 2))
        probe_out = model.decoder(model.feat(post).detach()).sum()
        probe_out.backward()
        touched = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        assert touched and all(n.startswith("decoder.") for n in touched)


def test_policy_gradients_flow_through_imagination() -> None:
    torch.manual_seed(0)
    model = WorldModel(TINY, (5,), 2)
    policy = torch.nn.Linear(model.feat_dim, 2)
    start = model.initial(3)
    imag = model.imagine(start, lambda f: torch.tanh(policy(f)), 5)
    model.cont(imag.feat[:, 1:]).sum().backward()  # (the reward head starts at exactly 0)
    assert policy.weight.grad is not None and policy.weight.grad.abs().sum() > 0


def test_kl_free_bits_in_the_loss() -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, loss=dataclasses.replace(TINY.loss, free_nats=1e6))
    model = WorldModel(cfg, (5,), 2)
    loss, metrics, _ = model.loss(fake_batch(2, 4, (5,), 2))
    assert metrics["wm/dyn_loss"] == pytest.approx(1e6) and metrics["wm/rep_loss"] == pytest.approx(1e6)
    loss.backward()
    # With every KL under the free bits, the prior network gets no gradient at all.
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.rssm.prior_net.parameters())


def test_same_seed_same_result() -> None:
    def run() -> tuple[torch.Tensor, dict[str, float]]:
        torch.manual_seed(3)
        model = WorldModel(make_cfg("latent"), (5,), 2)
        learner = WorldModelLearner(model, model.cfg)
        batch = fake_batch(4, 8, (5,), 2)
        for _ in range(3):
            metrics, post = learner.update(batch)
        return post.deter, metrics

    a, ma = run()
    b, mb = run()
    assert torch.equal(a, b) and ma == mb


def test_learner_updates_target_by_ema_and_round_trips() -> None:
    torch.manual_seed(0)
    model = WorldModel(make_cfg("latent"), (5,), 2)
    learner = WorldModelLearner(model, model.cfg)
    assert model.latent is not None
    before = [p.clone() for p in model.latent.target.parameters()]
    metrics, post = learner.update(fake_batch(4, 8, (5,), 2))
    assert not post.deter.requires_grad and "wm/embed_spread" in metrics
    after = list(model.latent.target.parameters())
    online = list(model.encoder.parameters())
    for b, a, o in zip(before, after, online, strict=True):
        torch.testing.assert_close(a, 0.99 * b + 0.01 * o)
    state = learner.state_dict()
    other = WorldModelLearner(WorldModel(make_cfg("latent"), (5,), 2), model.cfg)
    other.load_state_dict(state)
    assert other.updates == 1
    for p, q in zip(model.parameters(), other.model.parameters(), strict=True):
        assert torch.equal(p, q)


def linear_system_episodes(n: int, length: int, seed: int) -> list[Episode]:
    """x' = A x + B a with a slowly rotating (1 rad per step), damped A; reward = x[0]; obs = x."""
    rng = np.random.default_rng(seed)
    c, s = math.cos(1.0), math.sin(1.0)
    A = 0.95 * np.array([[c, -s], [s, c]])
    Bm = np.array([[0.5], [0.0]])
    out = []
    for _ in range(n):
        x = rng.normal(size=2)
        obs, act, rew = [x], [np.zeros(1)], [0.0]
        for _ in range(length):
            a = rng.uniform(-1, 1, size=1)
            x = A @ x + Bm @ a
            obs.append(x)
            act.append(a)
            rew.append(float(x[0]))
        L = length + 1
        first = np.zeros(L, dtype=bool)
        first[0] = True
        out.append(
            Episode(
                obs=np.array(obs, dtype=np.float32),
                action=np.array(act, dtype=np.float32),
                reward=np.array(rew, dtype=np.float32),
                terminated=np.zeros(L, dtype=bool),
                truncated=np.zeros(L, dtype=bool),
                is_first=first,
            )
        )
    return out


def to_torch(b: SequenceBatch[np.ndarray]) -> SequenceBatch[torch.Tensor]:
    return SequenceBatch(*(torch.from_numpy(x) for x in b))


@pytest.mark.parametrize("objective", ["reconstruction", "latent"])
def test_learns_a_linear_system_far_better_than_trivial(objective: str) -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        make_cfg(objective),
        rssm=RSSMConfig(deter=64, hidden=64, stoch=8, classes=8),
        optim=dataclasses.replace(TINY.optim, lr=3e-3),
    )
    model = WorldModel(cfg, (2,), 1)
    learner = WorldModelLearner(model, cfg)
    train = to_torch(eval_windows(linear_system_episodes(40, 60, 0), 20, stride=4))
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(0, train.obs.shape[0], (16,), generator=g)
        learner.update(SequenceBatch(*(x[idx] for x in train)))
    test = to_torch(eval_windows(linear_system_episodes(10, 60, 1), 20, stride=10))
    res = openloop_eval(model, test, context=10, horizon=10, threshold=0.1)
    assert res["nmse_1step"] < 0.25 * res["openloop_nmse_repeat_last"][0]
    assert res["reward_mse_1step"] < 0.25 * res["reward_mse_mean_predictor"]


def test_presets() -> None:
    from envs.errors import UserError

    assert world_model_preset("cpu") == WorldModelConfig()
    sizes = [world_model_preset(n).rssm.deter for n in ("tiny", "cpu", "small", "S", "M")]
    assert sizes == sorted(sizes)
    with pytest.raises(UserError, match="unknown world-model preset"):
        world_model_preset("huge")


def test_running_observation_normalisation() -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, encoder=dataclasses.replace(TINY.encoder, norm_obs=True))
    model = WorldModel(cfg, (3,), 2)
    batch = fake_batch(8, 16, (3,), 2)
    scale, shift = torch.tensor([0.01, 1.0, 100.0]), torch.tensor([5.0, 0.0, -3.0])
    batch = batch._replace(obs=batch.obs * scale + shift)
    model.loss(batch)  # the first training batch sets the statistics
    flat = batch.obs.reshape(-1, 3)
    stats = model.encoder.obs_norm
    assert stats is not None
    torch.testing.assert_close(stats.mean, flat.mean(0))
    torch.testing.assert_close(stats.var, flat.var(0, unbiased=False))
    net = model.encoder.to_net(batch.obs)
    assert net.std() < 2.0  # every dimension on the same scale
    torch.testing.assert_close(model.encoder.from_net(net), batch.obs, rtol=1e-4, atol=1e-4)
    model.eval()
    model.loss(batch._replace(obs=batch.obs + 1000.0))  # evaluation does not move the statistics
    torch.testing.assert_close(stats.mean, flat.mean(0))


def test_checkpoints_with_the_old_observation_statistics_load() -> None:
    """Checkpoints from before the codec's statistics became a Standardiser name them ``encoder.obs_mean``,
    ``obs_var``, ``obs_count`` (and so does the latent objective's target encoder)."""
    torch.manual_seed(0)
    model = WorldModel(make_cfg("latent"), (3,), 2)
    model.loss(fake_batch(4, 6, (3,), 2))
    state = model.state_dict()
    old = {}
    for key, value in state.items():
        for new_name, old_name in (("obs_norm.mean", "obs_mean"), ("obs_norm.var", "obs_var")):
            key = key.replace(new_name, old_name)
        old[key.replace("obs_norm.count", "obs_count")] = value
    assert "encoder.obs_mean" in old and "latent.target.obs_var" in old
    fresh = WorldModel(make_cfg("latent"), (3,), 2)
    fresh.load_state_dict(old)
    for key, value in fresh.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_continue_loss_weights_terminal_records() -> None:
    torch.manual_seed(0)
    B, T, A = 2, 5, 1
    batch = fake_batch(B, T, (3,), A)  # one terminal record: [0, -1]
    model = WorldModel(TINY, (3,), A)
    feat = torch.randn(B, T, model.feat_dim)
    bce = model.cont_head.loss(feat, 1.0 - batch.terminated.float())
    weighted = dataclasses.replace(TINY, loss=dataclasses.replace(TINY.loss, terminal_weight=10.0))
    model10 = WorldModel(weighted, (3,), A)
    model10.cont_head.load_state_dict(model.cont_head.state_dict())
    got = model10.cont_loss(feat, batch.terminated)
    manual = (bce.sum() + 9.0 * bce[0, -1]) / (B * T)  # the terminal record counts 10 times
    assert got.item() == pytest.approx(manual.item(), rel=1e-6)
    assert model.cont_loss(feat, batch.terminated).item() == pytest.approx(bce.mean().item())
