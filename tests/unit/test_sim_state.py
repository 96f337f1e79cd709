"""Observations put back into the MuJoCo simulator: round trips against Gymnasium's own observations."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from envs.errors import UserError
from envs.sim_state import SUPPORTED_ENVS, SimState, is_supported

pytestmark = pytest.mark.mujoco


def _rollout(
    env_id: str, steps: int, seed: int = 3, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observations, true qpos and true qvel of a random-action rollout (reset included)."""
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    data = env.unwrapped.data  # type: ignore[attr-defined]
    observations, qpos, qvel = [obs], [data.qpos.copy()], [data.qvel.copy()]
    for _ in range(steps):
        obs, _, terminated, _, _ = env.step(env.action_space.sample())
        observations.append(obs)
        qpos.append(data.qpos.copy())
        qvel.append(data.qvel.copy())
        if terminated:
            break
    env.close()
    return np.array(observations), np.array(qpos), np.array(qvel)


@pytest.mark.parametrize("env_id", SUPPORTED_ENVS)
def test_round_trip(env_id: str) -> None:
    obs, true_qpos, true_qvel = _rollout(env_id, steps=12)
    with SimState(env_id) as sim:
        assert sim.obs_dim == obs.shape[1]
        assert sim.exact.any() and (sim.exact <= sim.determined).all()
        k = len(sim.hidden)
        for t, o in enumerate(obs):
            qpos, qvel = sim.state_from_obs(o, root=true_qpos[t, :k])
            sim.set_state(qpos, qvel)
            back = sim.observe()
            # Entries read straight from qpos / qvel come back exactly, at every step.
            np.testing.assert_allclose(back[sim.exact], o[sim.exact], atol=1e-9, err_msg=f"t={t}")
            if t == 0:
                # After reset Gymnasium's kinematics are up to date: every determined entry matches.
                np.testing.assert_allclose(back[sim.determined], o[sim.determined], atol=1e-9)
            if sim.env_id.startswith(("Walker2d", "Hopper", "HalfCheetah", "Swimmer", "Ant", "Humanoid")):
                # The state itself is recovered (up to the observation's velocity clipping).
                clip = 10.0 if sim.env_id.startswith(("Walker2d", "Hopper")) else np.inf
                np.testing.assert_allclose(qpos, true_qpos[t], atol=1e-9)
                np.testing.assert_allclose(qvel, np.clip(true_qvel[t], -clip, clip), atol=1e-9)


def test_observation_options_change_the_layout() -> None:
    kwargs = {"exclude_current_positions_from_observation": False, "include_cfrc_ext_in_observation": False}
    obs, true_qpos, true_qvel = _rollout("Ant-v5", steps=5, **kwargs)
    with SimState("Ant", env_kwargs=kwargs) as sim:
        assert sim.hidden == () and sim.obs_dim == 29 and sim.exact.all()
        for t, o in enumerate(obs):
            qpos, qvel = sim.state_from_obs(o)
            np.testing.assert_allclose(qpos, true_qpos[t], atol=1e-12)
            np.testing.assert_allclose(qvel, true_qvel[t], atol=1e-12)


def test_pusher_object_positions_recovered() -> None:
    obs, true_qpos, _ = _rollout("Pusher-v5", steps=0)
    with SimState("Pusher-v5") as sim:
        qpos, _ = sim.state_from_obs(obs[0])
    np.testing.assert_allclose(qpos, true_qpos[0], atol=1e-9)


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Ant-v5"])
def test_left_out_positions_integrated_from_velocity(env_id: str) -> None:
    obs, true_qpos, _ = _rollout(env_id, steps=30)
    with SimState(env_id) as sim:
        k = len(sim.hidden)
        qpos, _ = sim.states_from_obs(obs, root0=true_qpos[0, :k])
        travelled = np.abs(true_qpos[-1, :k] - true_qpos[0, :k]).max()
        drift = np.abs(qpos[:, :k] - true_qpos[:, :k]).max()
        assert drift < 0.1, drift
        assert travelled > 2 * drift, (travelled, drift)
    with SimState(env_id, integrate=False) as held:
        qpos, _ = held.states_from_obs(obs, root0=true_qpos[0, :k])
        np.testing.assert_array_equal(qpos[:, :k], np.broadcast_to(true_qpos[0, :k], (len(obs), k)))


def test_off_manifold_prediction_is_mapped() -> None:
    with SimState("Ant-v5") as sim:
        obs = np.zeros(sim.obs_dim)
        obs[5] = np.nan
        qpos, qvel = sim.state_from_obs(obs)  # zero quaternion, NaN: still a valid state
        assert np.isfinite(qpos).all() and np.isfinite(qvel).all()
        sim.set_state(qpos, qvel)
        with pytest.raises(UserError, match="105 entries"):
            sim.state_from_obs(np.zeros(7))


def test_unsupported_env_is_a_user_error() -> None:
    assert not is_supported("Pendulum-v1")
    assert is_supported("Walker2d-v5")
    with pytest.raises(UserError, match="cannot map observations of Pendulum-v1"):
        SimState("Pendulum")


def test_render_shape_and_motion() -> None:
    obs, _, _ = _rollout("Walker2d-v5", steps=10)
    with SimState("Walker2d", size=48) as sim:
        frames = sim.render_obs(obs[[0, -1]])
        assert frames.shape == (2, 48, 48, 3) and frames.dtype == np.uint8
        assert frames.std() > 5  # not a blank image
        assert np.abs(frames[0].astype(int) - frames[1]).mean() > 0.5  # the walker moved
        again = sim.render_obs(obs[[0]])
        np.testing.assert_array_equal(again[0], frames[0])  # a frame depends on the state only
