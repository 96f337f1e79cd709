"""ParticleSprings-v0: the conservative many-body system (momentum exact, energy bounded), its env checks
and its analytic physics."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import (
    check_action_space,
    check_observation_space,
    env_reset_passive_checker,
    env_step_passive_checker,
)

from envs import make_env, resolve_env_id
from envs.particles import (
    ENV_ID,
    MASSES,
    ParticleLayout,
    ParticleSpringsEnv,
    pair_forces,
    particle_energy,
    particle_momentum,
)
from envs.physics import physics_for

# The one warning both checkers give: positions and velocities are unbounded (Box(-inf, inf)), as for
# MuJoCo's own envs.
UNBOUNDED = r".*Box observation space (minimum|maximum) value is"


def test_passes_both_env_checkers() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=UNBOUNDED)
        check_env(ParticleSpringsEnv(), skip_render_check=True)
        env = ParticleSpringsEnv()
        check_observation_space(env.observation_space)
        check_action_space(env.action_space)
        env_reset_passive_checker(env, seed=0)
        for _ in range(3):
            env_step_passive_checker(env, env.action_space.sample())
        made = gym.make(resolve_env_id("ParticleSprings"))  # gymnasium's PassiveEnvChecker wrapper
        made.reset(seed=1)
        made.step(made.action_space.sample())
        made.close()


def test_momentum_is_exact_and_energy_bounded_over_2000_steps() -> None:
    env = ParticleSpringsEnv()
    _, info = env.reset(seed=3)
    e0, p0 = info["energy"], info["momentum"]
    assert np.linalg.norm(p0) > 0.01  # a moving centre of mass: conservation is not trivially 0 = 0
    energies = []
    for i in range(2000):
        _, _, terminated, truncated, info = env.step(np.array([1.0 if i % 2 else -1.0]))
        assert not terminated and not truncated
        energies.append(info["energy"])
        np.testing.assert_allclose(info["momentum"], p0, rtol=0, atol=1e-12)
    drift = np.abs(np.array(energies) - e0)
    assert drift.max() < 1e-4 * e0  # symplectic: bounded, no secular growth
    assert drift[-500:].max() < 2 * drift[:500].max()
    # Newton's third law in the forces themselves
    x = np.random.default_rng(0).normal(size=(5, 4, 2))
    np.testing.assert_allclose(pair_forces(x).sum(-2), 0.0, atol=1e-12)


def test_actions_are_ignored_and_spaces_fit_the_layout() -> None:
    a, b = ParticleSpringsEnv(), ParticleSpringsEnv()
    oa, _ = a.reset(seed=4)
    ob, _ = b.reset(seed=4)
    np.testing.assert_array_equal(oa, ob)
    for _ in range(5):
        np.testing.assert_array_equal(a.step(np.ones(1))[0], b.step(-np.ones(1))[0])
    assert a.layout == ParticleLayout(MASSES, 2) and a.layout.obs_dim == a.observation_space.shape[0] == 16
    wrapped = make_env("ParticleSprings", seed=0)  # through the toolkit's wrappers: float32 states
    assert wrapped.observation_space.shape == (16,) and wrapped.observation_space.dtype == np.float32
    assert wrapped.unwrapped.layout.masses == MASSES  # type: ignore[attr-defined]
    wrapped.close()
    with pytest.raises(ValueError, match="positive masses"):
        ParticleSpringsEnv(masses=(1.0,))


def test_physics_is_the_envs_own_energy_and_momentum() -> None:
    env = ParticleSpringsEnv(masses=(1.0, 2.0, 3.0), dim=3)
    obs, info = env.reset(seed=0)
    physics = physics_for(ENV_ID, env_kwargs={"masses": (1.0, 2.0, 3.0), "dim": 3})
    got = physics(obs[None])
    assert got.energy[0] == pytest.approx(info["energy"]) and got.momentum.shape == (1, 3)
    np.testing.assert_allclose(got.momentum[0], info["momentum"])
    # by hand: two unit masses 1 m apart at rest have only the pair potential k/2 + c exp(-1 / (2 s^2))
    two = np.array([0.0, 0.0, 1.0, 0.0, 0, 0, 0, 0])
    assert float(particle_energy(two, np.ones(2), 2)) == pytest.approx(0.5 + 2.0 * np.exp(-1 / (2 * 0.49)))
    moving = np.array([0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 2.0])
    np.testing.assert_allclose(particle_momentum(moving, np.array([1.0, 3.0]), 2), [1.0, 6.0, 0.0])
