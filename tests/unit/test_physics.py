"""Energy and momentum of observed states through MuJoCo, and the physical-consistency metrics."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch

from envs.episode import SequenceBatch
from envs.errors import UserError
from envs.physics import MuJoCoPhysics, energy_labeller, physics_for
from envs.sim_state import SimState
from world_model.evaluation import physical_errors, score_openloop

pytestmark = pytest.mark.mujoco


def _rollout(
    env_id: str, steps: int, seed: int = 0
) -> tuple[gym.Env, list[tuple[np.ndarray, float, np.ndarray]]]:
    """Random-action steps of ``env_id``: (observation, the env's own energy, its own CoM momentum)."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    m, d = env.unwrapped.model, env.unwrapped.data  # type: ignore[attr-defined]
    m.opt.enableflags |= int(mujoco.mjtEnableBit.mjENBL_ENERGY)
    out = []
    for _ in range(steps):
        obs, _, terminated, _, _ = env.step(env.action_space.sample())
        mujoco.mj_forward(m, d)  # the env's own data, its state set by the step itself
        mujoco.mj_subtreeVel(m, d)
        if np.abs(d.qvel).max() < 10.0:  # Walker2d / Hopper observations clip velocities at 10
            out.append((obs.copy(), float(d.energy.sum()), d.subtree_linvel[1] * m.body_subtreemass[1]))
        if terminated:
            break
    return env, out


@pytest.mark.parametrize("env_id", ["Walker2d-v5", "Hopper-v5", "HalfCheetah-v5", "Ant-v5"])
def test_energy_of_a_mapped_state_matches_the_envs_own(env_id: str) -> None:
    env, steps = _rollout(env_id, 30)
    physics = physics_for(env_id)
    assert isinstance(physics, MuJoCoPhysics) and len(steps) >= 5
    obs = np.stack([o for o, _, _ in steps])
    got = physics(obs)
    assert got.energy.shape == (len(steps),) and got.momentum.shape == (len(steps), 3)
    np.testing.assert_allclose(got.energy, [e for _, e, _ in steps], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.momentum, np.stack([p for _, _, p in steps]), rtol=1e-9, atol=1e-9)
    # The same numbers through the full forward pass of the probe's own copy (no stage left out).
    with SimState(env_id) as sim:
        qpos, qvel = sim.state_from_obs(obs[-1])
    physics.data.qpos[:], physics.data.qvel[:] = qpos, qvel
    mujoco.mj_forward(physics.model, physics.data)
    assert float(physics.data.energy.sum()) == pytest.approx(float(got.energy[-1]), rel=1e-12)
    assert energy_labeller(env_id)(obs[None]).shape == (1, len(steps))
    env.close()
    physics.close()


def test_a_real_trajectory_scored_against_itself_has_zero_error() -> None:
    env = gym.make("HalfCheetah-v5")
    env.action_space.seed(2)
    first_obs, _ = env.reset(seed=2)
    seq = [first_obs] + [env.step(env.action_space.sample())[0] for _ in range(30)]
    env.close()
    obs = np.stack(seq)[None].astype(np.float32)  # (1, T, D)
    physics = physics_for("HalfCheetah")
    T = obs.shape[1]
    valid = np.ones((1, T - 1), bool)
    res = physical_errors(physics, obs[:, 1:], obs[None, :, 1:], obs[:, 0], obs[None, :, 0], valid)
    assert res["energy_error"] == 0.0 and res["momentum_error"] == 0.0
    assert res["openloop_energy_drift"] == res["openloop_energy_drift_real"]
    assert res["energy_scale"] > 0 and res["momentum_scale"] > 0
    # Through the shared scorer: a perfect prediction of every key.
    t = torch.as_tensor(obs)
    first = torch.zeros(1, T, dtype=torch.bool)
    first[0, 0] = True
    never = torch.zeros(1, T, dtype=torch.bool)
    batch = SequenceBatch(t, torch.zeros(1, T, 6), torch.zeros(1, T), never, never, first)
    K, H = 5, T - 5
    res = score_openloop(
        batch,
        context=K,
        horizon=H,
        pred_obs=t[None, :, K:],
        pred_reward=torch.zeros(1, 1, H),
        pred_cont=torch.ones(1, 1, H),
        physics=physics,
    )
    assert res["openloop_nmse"] == [0.0] * H and res["openloop_energy_error"] == [0.0] * H
    assert res["energy_drift"] == res["energy_drift_real"] > 0  # the real cheetah's energy changes


def test_physics_for_unsupported_envs() -> None:
    with pytest.raises(UserError):
        physics_for("Pendulum")
    pend = physics_for("FrictionlessPendulum")
    got = pend(np.array([[np.pi / 2, 0.0], [0.0, 2.0]]))
    np.testing.assert_allclose(got.energy, [9.81, 2.0])
    np.testing.assert_allclose(got.momentum[1], [2.0, 0.0, 0.0])  # at the bottom, moving sideways
