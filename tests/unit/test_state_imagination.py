"""A diffusion model of the state observation as the world the Dreamer actor-critic imagines in
(``scripts.dream --family diffusion``): rollouts, their rewards, gradients, the agent's update and
checkpoint, and the configs that refuse it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.configs import DREAM_PRESETS, DreamConfig, MPCRunConfig
from agents.dreamer import DreamerAgent
from envs.config import EnvConfig
from envs.episode import SequenceBatch, StepObs
from envs.errors import UserError
from tests.batches import random_batch
from world_model.state_imagination import StateSpaceWorldModel
from world_model.transitions import ObsState

DEBUG = DREAM_PRESETS["debug"]
D, A = 3, 2


def _agent(seed: int = 0) -> DreamerAgent:
    torch.manual_seed(seed)
    cpu = torch.device("cpu")
    return DreamerAgent.build(
        DEBUG.model, DEBUG.agent, (D,), A, device=cpu, family="diffusion", diffusion=DEBUG.diffusion
    )


def _batch(B: int = 4, T: int = 8, seed: int = 0) -> SequenceBatch[torch.Tensor]:
    return random_batch(B, T, (D,), A, seed=seed)


def test_imagination_starts_at_the_start_state_and_carries_the_models_outcomes() -> None:
    agent = _agent()
    world = agent.world_model
    assert isinstance(world, StateSpaceWorldModel) and world.feat_dim == D
    agent.learner.update(_batch())  # moves the normalisers off the identity
    start = ObsState(torch.randn(5, D))
    actions = torch.rand(5, 4, A) * 2 - 1
    with torch.no_grad():
        imag = world.imagine(start, actions, 4)
    assert imag.feat.shape == (5, 5, D) and imag.action.shape == (5, 4, A)
    assert imag.reward.shape == imag.cont.shape == (5, 4)
    assert torch.equal(imag.state.obs[:, 0], start.obs) and torch.equal(imag.action, actions)
    assert torch.allclose(imag.feat, world.model.obs_norm(imag.state.obs))
    assert bool(((imag.cont >= 0) & (imag.cont <= 1)).all())
    reward, cont = world.outcomes(imag)
    assert reward is imag.reward and cont is imag.cont


def test_each_imagined_step_is_a_sample_of_the_diffusion_model() -> None:
    world = _agent().world_model
    assert isinstance(world, StateSpaceWorldModel)
    start, actions = ObsState(torch.randn(6, D)), torch.rand(6, 1, A) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(3)
        imag = world.imagine(start, actions, 1)
        torch.manual_seed(3)
        nxt, reward, cont = world.model.sample(start.obs, actions[:, 0])
    assert torch.equal(imag.state.obs[:, 1], nxt)
    assert torch.equal(imag.reward[:, 0], reward) and torch.equal(imag.cont[:, 0], cont)


def test_a_policys_gradient_flows_through_the_sampled_steps() -> None:
    world = _agent().world_model
    gain = torch.zeros(A, requires_grad=True)

    def policy(feat: torch.Tensor) -> torch.Tensor:
        return torch.tanh(feat[:, :1].expand(-1, A) + gain)

    imag = world.imagine(ObsState(torch.randn(8, D)), policy, 3)
    (imag.feat[:, -1].sum() + imag.reward.sum()).backward()
    assert gain.grad is not None and float(gain.grad.abs().sum()) > 0


def test_observed_continuation_is_the_continue_head_on_each_real_step() -> None:
    world = _agent().world_model
    assert isinstance(world, StateSpaceWorldModel)
    batch = _batch()
    with torch.no_grad():
        post, prior = world.observe(batch.obs, batch.action, batch.is_first)
        cont = world.observed_cont(post, batch.action)
        _, logit = world.model.heads(batch.obs[1, 2], batch.action[1, 3], batch.obs[1, 3])
    assert torch.equal(post.obs, batch.obs) and torch.equal(prior.obs, batch.obs)
    assert cont.shape == (4, 8) and bool((cont[:, 0] == 1).all())
    assert math.isclose(float(cont[1, 3]), float(torch.sigmoid(logit)), rel_tol=1e-6)


def test_the_agent_learns_in_the_diffusion_models_imagination_and_round_trips_its_checkpoint() -> None:
    agent = _agent()
    before = [p.detach().clone() for p in agent.actor.parameters()]
    for seed in range(3):
        metrics = agent.update(_batch(seed=seed))
    assert {"wm/diffusion_loss", "wm/reward_loss", "actor/loss", "critic/loss"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.actor.parameters(), strict=True))
    assert agent.learner.updates == 3 and agent.updates == 3

    other = _agent(seed=1)
    other.load_state_dict(agent.state_dict())
    obs = StepObs(torch.randn(3, D).numpy(), np.array([True, False, True]))
    mine, _ = agent.act(obs, None, deterministic=True)
    theirs, _ = other.act(obs, None, deterministic=True)
    assert mine.shape == (3, A) and (abs(mine) <= 1).all()
    assert (mine == theirs).all()


def test_configs_refuse_the_diffusion_family_where_it_cannot_run() -> None:
    with pytest.raises(UserError, match="state observations"):
        DreamConfig(family="diffusion", envs=EnvConfig(obs="pixels"))
    with pytest.raises(UserError, match=r"scripts\.mpc plans through the RSSM"):
        MPCRunConfig(family="diffusion")
    assert DreamConfig(family="diffusion").family == "diffusion"
