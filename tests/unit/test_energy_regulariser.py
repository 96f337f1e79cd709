"""The energy-consistency regulariser of the RSSM world model: losses, where its gradient goes, labels."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from envs.episode import SequenceBatch
from tests.batches import random_batch
from world_model import LossConfig, WorldModel, world_model_preset
from world_model.config import EnergyConfig
from world_model.learner import WorldModelLearner

TINY = world_model_preset("tiny")


def energy_cfg(**scales: float) -> object:
    loss = dataclasses.replace(TINY.loss, energy=1.0, **scales)
    return dataclasses.replace(TINY, loss=loss, energy=EnergyConfig(units=16, layers=1, horizon=4, stride=2))


def batch(B: int = 3, T: int = 12, seed: int = 0) -> SequenceBatch[torch.Tensor]:
    return random_batch(B, T, (5,), 2, seed=seed, starts=[(0, 7)], ends=())  # an episode starts in row 0


def energy_of(obs: np.ndarray) -> np.ndarray:
    return (obs**2).sum(-1)


def test_off_by_default_and_checkpoints_unchanged() -> None:
    assert LossConfig().energy == 0.0
    model = WorldModel(TINY, (5,), 2)
    assert model.energy is None and not any("energy" in k for k in model.state_dict())


def test_losses_and_labels() -> None:
    torch.manual_seed(0)
    model = WorldModel(energy_cfg(), (5,), 2)  # type: ignore[arg-type]
    b = batch()
    with pytest.raises(ValueError, match="energy labels"):
        model.loss(b)
    energy = torch.as_tensor(energy_of(b.obs.numpy()))
    loss, metrics, _ = model.loss(b, energy)
    assert torch.isfinite(loss)
    for key in ("energy_head_loss", "energy_transfer_loss", "energy_loss", "energy_transfer_r2"):
        assert f"wm/{key}" in metrics
    with pytest.raises(ValueError, match="energy_fn"):
        WorldModelLearner(model, model.cfg)
    learner = WorldModelLearner(model, model.cfg, energy_fn=energy_of)
    labels = learner.energy_labels(b)
    assert labels is not None and labels.shape == (3, 12)
    metrics, _ = learner.update(b)
    assert np.isfinite(metrics["wm/energy_loss"])
    assert float(model.energy.energy_norm.count) == 2  # type: ignore[union-attr]  (loss + update)


def test_the_penalty_moves_only_the_dynamics() -> None:
    torch.manual_seed(0)
    zero = dict(dyn=0.0, rep=0.0, reward=0.0, cont=0.0, dec=0.0, energy_head=0.0)
    model = WorldModel(energy_cfg(**zero), (5,), 2)  # type: ignore[arg-type]
    b = batch()
    energy = torch.as_tensor(energy_of(b.obs.numpy()))
    loss, metrics, _ = model.loss(b, energy)
    assert metrics["wm/energy_loss"] > 0
    loss.backward()

    def grad(module: torch.nn.Module) -> float:
        return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

    assert model.energy is not None
    assert grad(model.rssm.cell) > 0 and grad(model.rssm.prior_net) > 0  # the imagined steps
    assert grad(model.energy.energy_head) == 0 and grad(model.energy.transfer_head) == 0  # frozen heads
    assert grad(model.encoder) == 0  # start states are detached


def test_conserved_energy_keeps_the_penalty_finite() -> None:
    torch.manual_seed(0)
    model = WorldModel(energy_cfg(), (5,), 2)  # type: ignore[arg-type]
    b = batch()
    # A conservative system: each sequence keeps its energy, sequences differ.
    energy = torch.tensor([1.0, 5.0, 9.0])[:, None].expand(3, 12).clone()
    b = b._replace(is_first=torch.zeros_like(b.is_first))
    loss, metrics, _ = model.loss(b, energy)
    assert model.energy is not None
    unit = float(model.energy.change_scale())
    assert unit == pytest.approx(0.01 * float(model.energy.energy_norm.std), rel=1e-5)
    # Without the floor the unit would be the energy change's std, 0 here (1e-4 J by the clamp), and an
    # untrained model's penalty about 1e8.
    assert math.isfinite(float(loss.detach())) and metrics["wm/energy_loss"] < 1e4
