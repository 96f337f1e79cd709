"""The lean RSSM loops against the reference maths they replaced (written out here), on fixed seeds and
batches: the same values (the same samples from the same random stream) and the same gradients."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from envs.episode import SequenceBatch
from tests.batches import random_batch
from world_model import WorldModel, world_model_preset
from world_model.distributions import categorical_probs, categorical_sample
from world_model.networks import LoopLinear, clip_grad_norm
from world_model.rssm import RSSM, RSSMState

TINY = world_model_preset("tiny")


# ----------------------------------------------------------------------------- the reference maths
def ref_categorical_sample(probs: Tensor) -> Tensor:
    """The sampler before the lean loops: per-call uniforms, count of cumulative probabilities below."""
    p = probs.detach()
    u = torch.rand(*p.shape[:-1], 1, dtype=p.dtype, device=p.device)
    index = (p.cumsum(-1) < u).sum(-1, keepdim=True).clamp_(max=p.shape[-1] - 1)
    onehot = torch.zeros_like(p).scatter_(-1, index, 1.0)
    return (onehot - p) + probs


def ref_sample(rssm: RSSM, raw: Tensor, noise: Tensor | None) -> Tensor:
    if rssm.categorical:
        shape = (*raw.shape[:-1], rssm.cfg.stoch, rssm.cfg.classes)
        probs = categorical_probs(raw.reshape(shape), rssm.cfg.unimix)
        return ref_categorical_sample(probs).reshape(raw.shape)
    mean, std_raw = raw.chunk(2, -1)
    eps = torch.randn_like(mean) if noise is None else noise
    return torch.addcmul(mean, F.softplus(std_raw) + rssm.cfg.min_std, eps)


def ref_stats(rssm: RSSM, raw: Tensor) -> Tensor:
    if rssm.categorical:
        shape = (*raw.shape[:-1], rssm.cfg.stoch, rssm.cfg.classes)
        return torch.log(categorical_probs(raw.reshape(shape), rssm.cfg.unimix)).reshape(raw.shape)
    mean, std_raw = raw.chunk(2, -1)
    return torch.cat([mean, F.softplus(std_raw) + rssm.cfg.min_std], -1)


def ref_observe(
    rssm: RSSM,
    embed: Tensor,
    action: Tensor,
    is_first: Tensor,
    state: RSSMState | None,
    noise: list[Tensor] | None = None,
) -> RSSMState:
    """``RSSM.observe`` as it was: modules called per step, one sample drawn per step."""
    B, T = embed.shape[:2]
    if state is None:
        state = rssm.initial(B)
    keep = (~is_first).to(embed.dtype).unsqueeze(-1)
    act_in = rssm.in_action(action * keep)
    emb_in = rssm.post_embed(embed)
    h, z = state.deter, state.stoch
    deters, stochs, raws = [], [], []
    for t in range(T):
        h, z = h * keep[:, t], z * keep[:, t]
        x = F.silu(rssm.in_norm(torch.addmm(act_in[:, t], z, rssm.in_stoch.weight.t())))
        h = rssm.cell(x, h)
        raw = rssm.post_out(F.silu(rssm.post_norm(torch.addmm(emb_in[:, t], h, rssm.post_deter.weight.t()))))
        z = ref_sample(rssm, raw, None if noise is None else noise[t])
        deters.append(h)
        stochs.append(z)
        raws.append(raw)
    return RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1), ref_stats(rssm, torch.stack(raws, 1)))


def ref_imagine(
    rssm: RSSM,
    start: RSSMState,
    policy_or_actions: Callable[[Tensor], Tensor] | Tensor,
    horizon: int,
    noise: list[Tensor] | None = None,
) -> tuple[RSSMState, Tensor]:
    """``RSSM.imagine`` as it was."""
    h, z = start.deter, start.stoch
    deters, stochs, raws, actions = [h], [z], [], []
    for t in range(horizon):
        if isinstance(policy_or_actions, Tensor):
            a = policy_or_actions[:, t]
        else:
            a = policy_or_actions(torch.cat([h, z], -1))
            actions.append(a)
        x = torch.addmm(rssm.in_action(a), z, rssm.in_stoch.weight.t())
        h = rssm.cell(F.silu(rssm.in_norm(x)), h)
        raw = rssm.prior_net(h)
        z = ref_sample(rssm, raw, None if noise is None else noise[t])
        deters.append(h)
        stochs.append(z)
        raws.append(raw)
    stats = torch.cat([start.stats.unsqueeze(1), ref_stats(rssm, torch.stack(raws, 1))], 1)
    act = policy_or_actions if isinstance(policy_or_actions, Tensor) else torch.stack(actions, 1)
    return RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1), stats), act


# ----------------------------------------------------------------------------- fixtures
def make_model(latent: str = "categorical", seed: int = 0) -> WorldModel:
    torch.manual_seed(seed)
    cfg = dataclasses.replace(TINY, rssm=dataclasses.replace(TINY.rssm, latent=latent))  # type: ignore[arg-type]
    model = WorldModel(cfg, (5,), 2)
    with torch.no_grad():  # no zero-initialised heads: every parameter gets a gradient
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def make_batch(B: int = 3, T: int = 7, seed: int = 1) -> SequenceBatch[Tensor]:
    # a reset inside row 1, after the terminal step before it
    return random_batch(B, T, (5,), 2, seed=seed, starts=[(1, 4)], ends=[(1, 3)])


def grads(model: nn.Module) -> dict[str, Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same_grads(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys() and a
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-6, msg=name)


def block_noise(rssm: RSSM, steps: int, rows: int) -> list[Tensor]:
    """The Gaussian latent's normals as the lean loop draws them (one block), for the reference."""
    return list(torch.randn(steps, rows, rssm.cfg.stoch).unbind(0))


# ----------------------------------------------------------------------------- the tests
def test_categorical_sample_matches_the_reference_values_and_gradient() -> None:
    logits = torch.randn(64, 8, 8, requires_grad=True)
    probs = categorical_probs(logits, 0.01)
    torch.manual_seed(5)
    ref = ref_categorical_sample(probs)
    torch.manual_seed(5)
    lean = categorical_sample(probs)
    assert torch.equal(ref, lean)  # same uniforms, same classes, same float values
    w = torch.randn(64, 8, 8)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), logits, retain_graph=True)
    (g_lean,) = torch.autograd.grad((lean * w).sum(), logits)
    torch.testing.assert_close(g_ref, g_lean)
    # uniforms drawn for many steps at once are those drawn step by step
    torch.manual_seed(6)
    steps = [ref_categorical_sample(probs) for _ in range(3)]
    torch.manual_seed(6)
    u = torch.rand(3, 64, 8, 1).unbind(0)
    assert all(torch.equal(s, categorical_sample(probs, ut)) for s, ut in zip(steps, u, strict=True))


@pytest.mark.parametrize("latent", ["categorical", "gaussian"])
def test_observe_and_loss_match_the_reference(latent: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model, batch = make_model(latent), make_batch()
    rssm = model.rssm
    B, T = batch.reward.shape

    def run(observe: Callable[..., RSSMState]) -> tuple[Tensor, RSSMState, dict[str, Tensor]]:
        monkeypatch.setattr(rssm, "observe", observe)
        model.zero_grad(set_to_none=True)
        torch.manual_seed(7)
        loss, _, post = model.loss(batch)
        loss.backward()
        return loss.detach(), post.detach(), grads(model)

    def reference(*args: object) -> RSSMState:
        noise = None if rssm.categorical else block_noise(rssm, T, B)
        return ref_observe(rssm, *args, noise=noise)  # type: ignore[arg-type]

    model.train(False)  # no running observation statistics: both runs see the same normalisation
    loss_ref, post_ref, grads_ref = run(reference)
    loss_lean, post_lean, grads_lean = run(RSSM.observe.__get__(rssm))
    for a, b in zip(post_ref, post_lean, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss_ref, loss_lean, rtol=1e-5, atol=1e-6)
    assert_same_grads(grads_ref, grads_lean)


def test_observe_from_a_given_state_and_one_acting_step_match_the_reference() -> None:
    model, batch = make_model(), make_batch()
    rssm = model.rssm
    embed = model.encode(batch.obs).detach()
    torch.manual_seed(8)
    start = ref_observe(rssm, embed[:, :3], batch.action[:, :3], batch.is_first[:, :3], None)
    last = start.map(lambda x: x[:, -1]).detach()
    torch.manual_seed(9)
    ref = ref_observe(rssm, embed[:, 3:], batch.action[:, 3:], batch.is_first[:, 3:], last)
    torch.manual_seed(9)
    lean = rssm.observe(embed[:, 3:], batch.action[:, 3:], batch.is_first[:, 3:], last)
    for a, b in zip(ref, lean, strict=True):
        torch.testing.assert_close(a, b)
    torch.manual_seed(9)
    step = rssm.obs_step(last, batch.action[:, 3], embed[:, 3], batch.is_first[:, 3])
    for a, b in zip(ref.map(lambda x: x[:, 0]), step, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("latent", ["categorical", "gaussian"])
def test_imagine_with_fixed_actions_matches_the_reference_with_weight_gradients(latent: str) -> None:
    model, batch = make_model(latent), make_batch()
    rssm = model.rssm
    with torch.no_grad():
        start = model.observe(batch.obs, batch.action, batch.is_first)[0].flatten()
    N, H = start.deter.shape[0], 5
    actions = torch.rand(N, H, 2) * 2 - 1

    def run(imagine: Callable[..., tuple[RSSMState, Tensor]]) -> tuple[RSSMState, dict[str, Tensor]]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(10)
        noise = None if rssm.categorical else block_noise(rssm, H, N)
        torch.manual_seed(10)  # the lean loop draws the same block
        states, _ = imagine(start, actions, H) if noise is None else imagine(start, actions, H, noise)
        feat = model.feat(states)
        (model.reward(feat).sum() + model.cont(feat).sum() + states.stats.sum()).backward()
        return states.detach(), grads(model)

    ref_states, ref_grads = run(lambda *a: ref_imagine(rssm, *a))
    lean_states, lean_grads = run(lambda s, a, h, *_: rssm.imagine(s, a, h))
    for a, b in zip(ref_states, lean_states, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert_same_grads(ref_grads, lean_grads)


def test_imagine_with_a_policy_matches_the_reference_through_frozen_dynamics() -> None:
    """The ``dynamics`` actor gradient: returns backpropagated through the frozen model into the policy."""
    model, batch = make_model(), make_batch()
    model.requires_grad_(False)
    rssm = model.rssm
    with torch.no_grad():
        start = model.observe(batch.obs, batch.action, batch.is_first)[0].flatten()
    torch.manual_seed(11)
    policy = nn.Sequential(nn.Linear(model.feat_dim, 2), nn.Tanh())  # deterministic: same random stream

    def run(imagine: Callable[..., tuple[RSSMState, Tensor]]) -> tuple[RSSMState, Tensor, dict[str, Tensor]]:
        policy.zero_grad(set_to_none=True)
        torch.manual_seed(12)
        states, actions = imagine(start, policy, 4)
        model.cont(model.feat(states)).sum().backward()
        return states.detach(), actions.detach(), grads(policy)

    ref = run(lambda *a: ref_imagine(rssm, *a))
    lean = run(rssm.imagine)
    for a, b in zip(ref[0], lean[0], strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(ref[1], lean[1])
    assert_same_grads(ref[2], lean[2])


def test_loop_linear_defers_weight_gradients_exactly() -> None:
    torch.manual_seed(0)
    T, B, D = 6, 4, 3
    w1, w2 = torch.randn(D, D, requires_grad=True), torch.randn(D, D, requires_grad=True)
    bias = torch.randn(D, requires_grad=True)
    x0 = torch.randn(B, D, requires_grad=True)
    other = torch.randn(T, B, D)

    def loop(lean: bool) -> Tensor:
        x, outs = x0, []
        lin = LoopLinear(bias.expand(T, B, -1), w1, w2) if lean else None
        for t in range(T):
            if lin is None:
                y = bias + x @ w1.t() + other[t] @ w2.t()
            else:
                y = torch.addmm(torch.addmm(lin.bases[t], x, lin.wts[0]), other[t], lin.wts[1])
                lin.note(x, other[t])
            x = torch.tanh(y)
            outs.append(x)
        if lin is not None:
            lin.close()
        return torch.stack(outs).square().sum()

    ref = torch.autograd.grad(loop(False), (w1, w2, bias, x0))
    lean = torch.autograd.grad(loop(True), (w1, w2, bias, x0))
    for a, b in zip(ref, lean, strict=True):
        torch.testing.assert_close(a, b)
    with torch.no_grad():  # without gradients nothing is deferred or recorded
        assert not LoopLinear(bias.expand(T, B, -1), w1).defer


def test_compiled_steps_match_the_eager_loops() -> None:
    """``RSSM.compile_steps`` (here through ``aot_eager``: Dynamo and AOTAutograd, no code generation)."""
    model, batch = make_model(), make_batch()
    model.train(False)

    def run() -> tuple[Tensor, dict[str, Tensor], Tensor]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(13)
        loss, _, post = model.loss(batch)
        loss.backward()
        with torch.no_grad():
            imag = model.imagine(post.flatten(), lambda f: torch.tanh(f[:, :2]), 3)
        return loss.detach(), grads(model), imag.feat

    eager = run()
    model.rssm.compile_steps(backend="aot_eager", dynamic=False)
    compiled = run()
    torch.testing.assert_close(eager[0], compiled[0])
    assert_same_grads(eager[1], compiled[1])
    torch.testing.assert_close(eager[2], compiled[2])


@pytest.mark.parametrize("max_norm", [0.5, 1e9, float("inf")])
def test_clip_grad_norm_matches_torch(max_norm: float) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 3))
    net(torch.randn(5, 4)).square().sum().backward()
    grads = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    ref = nn.utils.clip_grad_norm_(net.parameters(), max_norm)
    clipped = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    for p, g in zip(net.parameters(), grads, strict=True):
        p.grad = g
    torch.testing.assert_close(clip_grad_norm(net.parameters(), max_norm), ref)
    for p, g in zip(net.parameters(), clipped, strict=True):
        torch.testing.assert_close(p.grad, g)
