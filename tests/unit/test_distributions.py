"""Pure maths of world_model.distributions against hand calculations."""

from __future__ import annotations

import math

import pytest
import torch

from world_model.distributions import (
    TwoHotDist,
    categorical_kl,
    categorical_probs,
    categorical_sample,
    free_bits,
    gaussian_kl,
    symexp,
    symlog,
    symlog_bins,
    twohot_encode,
)


def test_symlog_hand_values_and_round_trip() -> None:
    x = torch.tensor([-100.0, -1.0, 0.0, 0.5, 1000.0])
    expected = torch.tensor([-math.log(101.0), -math.log(2.0), 0.0, math.log(1.5), math.log(1001.0)])
    torch.testing.assert_close(symlog(x), expected)
    torch.testing.assert_close(symexp(symlog(x)), x)
    y = torch.linspace(-10, 10, 101)
    torch.testing.assert_close(symlog(symexp(y)), y, rtol=1e-5, atol=1e-5)


def test_twohot_hand_calculation() -> None:
    bins = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    enc = twohot_encode(torch.tensor([0.25, 1.0, -5.0, 7.0, 2.0]), bins)
    expected = torch.tensor(
        [
            [0.0, 0.75, 0.25, 0.0],  # between 0 and 1, closer to 0
            [0.0, 0.0, 1.0, 0.0],  # exactly on a bin
            [1.0, 0.0, 0.0, 0.0],  # below range: clipped
            [0.0, 0.0, 0.0, 1.0],  # above range: clipped
            [0.0, 0.0, 0.0, 1.0],  # the last bin
        ]
    )
    torch.testing.assert_close(enc, expected)
    inside = torch.tensor([-0.9, 0.3, 1.99])
    torch.testing.assert_close((twohot_encode(inside, bins) * bins).sum(-1), inside)


def test_twohot_dist_mean_and_log_prob() -> None:
    bins = symlog_bins(255)
    rewards = torch.tensor([-3.0, 0.0, 0.7, 50.0])
    target = twohot_encode(symlog(rewards), bins)
    dist = TwoHotDist(torch.log(target + 1e-9), bins)
    torch.testing.assert_close(dist.mean(), rewards, rtol=1e-3, atol=1e-3)
    # The log-likelihood of the encoded values is maximal at the encoding itself.
    other = TwoHotDist(torch.zeros(4, 255), bins)
    assert (dist.log_prob(rewards) > other.log_prob(rewards)).all()


def test_categorical_unimix_and_straight_through() -> None:
    logits = torch.tensor([[10.0, -10.0, -10.0, -10.0]], requires_grad=True)
    probs = categorical_probs(logits, 0.04)
    assert probs.min() >= 0.01 - 1e-6  # every class keeps unimix / C
    torch.testing.assert_close(probs.sum(-1), torch.ones(1))
    torch.manual_seed(0)
    sample = categorical_sample(probs.expand(1000, 4))
    assert torch.equal(sample.detach().sum(-1), torch.ones(1000))
    assert set(sample.detach().unique().tolist()) == {0.0, 1.0}
    freq = sample.detach().mean(0)
    torch.testing.assert_close(freq, probs.detach()[0], atol=0.03, rtol=0.0)
    (sample[:, 1].sum()).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_categorical_kl_matches_torch() -> None:
    lp = torch.log_softmax(torch.randn(5, 3, 4), -1)
    lq = torch.log_softmax(torch.randn(5, 3, 4), -1)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=lp), torch.distributions.Categorical(logits=lq)
    ).sum(-1)
    torch.testing.assert_close(categorical_kl(lp, lq), ref)
    torch.testing.assert_close(categorical_kl(lp, lp), torch.zeros(5))


def test_gaussian_kl_matches_torch() -> None:
    m1, m2 = torch.randn(2, 6), torch.randn(2, 6)
    s1, s2 = torch.rand(2, 6) + 0.1, torch.rand(2, 6) + 0.1
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, s1), torch.distributions.Normal(m2, s2)
    )
    torch.testing.assert_close(gaussian_kl(m1, s1, m2, s2), ref.sum(-1))


@pytest.mark.parametrize("free", [0.0, 1.0])
def test_free_bits_clips_value_and_gradient(free: float) -> None:
    kl = torch.tensor([0.5, 2.0], requires_grad=True)
    out = free_bits(kl, free)
    torch.testing.assert_close(out.detach(), torch.tensor([max(0.5, free), 2.0]))
    out.sum().backward()
    assert kl.grad is not None
    assert kl.grad.tolist() == [0.0 if free > 0.5 else 1.0, 1.0]
