"""The contrastive (InfoNCE) objective: the loss by hand, the negatives of other trajectories only, and the
RSSM trained with it (gradients into the encoder, offsets > 1)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from envs.episode import SequenceBatch
from tests.batches import random_batch
from world_model import WorldModel, world_model_preset
from world_model.config import ContrastiveConfig
from world_model.contrastive import info_nce


def test_info_nce_by_hand() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])  # norms differ: sim is the cosine
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    group = torch.tensor([0, 1, 1])  # rows 1 and 2 are the same trajectory: not each other's negatives
    loss, hit = info_nce(q, k, group, temperature=0.5)
    # row 0: positive cos 1, negatives (other trajectory) cos 0 and -1:
    #   -log e^2 / (e^2 + e^0 + e^-2) = log(7.389056 + 1 + 0.135335) - 2 = 0.142932
    # row 1: positive cos 1, the one negative (row 0's key) cos 0: log(e^2 + 1) - 2 = 0.126928
    # row 2: positive cos(45 deg, 180 deg) = -0.707107, negative cos 0.707107:
    #   log(0.243117 + 4.113250) + 1.414214 = 2.885852
    torch.testing.assert_close(loss, torch.tensor([0.142932, 0.126928, 2.885852]), atol=1e-5, rtol=0)
    assert hit.tolist() == [True, True, False]
    # One group: no negatives, nothing to contrast (loss 0); temperature sharpens
    alone, _ = info_nce(q, k, torch.zeros(3, dtype=torch.long), temperature=0.5)
    torch.testing.assert_close(alone, torch.zeros(3))
    sharp, _ = info_nce(q, k, group, temperature=0.1)
    assert float(sharp[0]) == pytest.approx(math.log(math.exp(10) + 1 + math.exp(-10)) - 10, abs=1e-5)
    with pytest.raises(ValueError, match="group"):
        info_nce(q, k[:2], group, 0.5)


def _batch(B: int, T: int, seed: int = 0) -> SequenceBatch[torch.Tensor]:
    return random_batch(B, T, seed=seed, starts=[(0, 9)], ends=())  # an episode boundary inside a sequence


@pytest.mark.parametrize("offsets", [1, 3])
def test_contrastive_world_model_trains_its_encoder(offsets: int) -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        world_model_preset("tiny"),
        objective="contrastive",
        contrastive=ContrastiveConfig(offsets=offsets, stride=2),
    )
    model = WorldModel(cfg, (3,), 1)
    assert model.latent is None and model.contrastive is not None
    loss, metrics, _ = model.loss(_batch(6, 16))
    assert {"wm/contrastive_loss", "wm/probe_loss", "wm/embed_spread", "wm/contrastive_acc"} <= set(metrics)
    assert "wm/dec_loss" not in metrics and math.isfinite(metrics["wm/loss"])
    # 5 other sequences x 16 steps of negatives plus the positive: chance is log(81)
    assert 0.5 * math.log(81) < metrics["wm/contrastive_loss"] < 2 * math.log(81)
    loss.backward()
    enc = model.encoder.net[0].weight.grad
    assert enc is not None and float(enc.abs().sum()) > 0  # the keys train the encoder
    # The probe decoder never trains the model: its loss alone gives the encoder no gradient
    model.zero_grad()
    _, _, post = model.loss(_batch(6, 16))
    probe = ((model.decoder(model.feat(post).detach())) ** 2).mean()
    probe.backward()
    assert (
        model.encoder.net[0].weight.grad is None or float(model.encoder.net[0].weight.grad.abs().sum()) == 0
    )


def test_contrastive_loss_falls_when_the_future_is_predictable() -> None:
    # obs_t = obs_{t-1} + action_t: the state can tell the real next observation from other sequences'
    torch.manual_seed(0)
    cfg = dataclasses.replace(world_model_preset("tiny"), objective="contrastive")
    model = WorldModel(cfg, (3,), 1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    first = []
    for step in range(150):
        act = torch.rand(8, 16, 1, generator=g) * 2 - 1
        obs = torch.randn(8, 1, 3, generator=g) + torch.cumsum(act.expand(8, 16, 3), 1)
        is_first = torch.zeros(8, 16, dtype=torch.bool)
        is_first[:, 0] = True
        batch = SequenceBatch(obs, act, torch.zeros(8, 16), is_first & False, is_first & False, is_first)
        loss, metrics, _ = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step < 5:
            first.append(metrics["wm/contrastive_loss"])
    assert metrics["wm/contrastive_loss"] < 0.6 * sum(first) / len(first)
    assert metrics["wm/contrastive_acc"] > 0.4 and metrics["wm/embed_spread"] > 0.2  # chance: 1 / 113
