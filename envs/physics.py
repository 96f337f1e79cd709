"""Physical quantities of observed (or predicted) states: mechanical energy and centre-of-mass momentum.

A world model's predicted observation is put back into the simulator (:class:`envs.sim_state.SimState`
maps it to ``qpos`` / ``qvel``) and MuJoCo computes, for that state:

- **energy** E = potential + kinetic (``data.energy`` with ``mjENBL_ENERGY`` set in the model's
  option flags: gravity and spring potential from ``mj_energyPos``, 0.5 qvel^T M qvel from
  ``mj_energyVel``), in J;
- **momentum** of the centre of mass of the robot, the subtree of the root body (body 1):
  ``subtree_linvel[1] * body_subtreemass[1]`` (``mj_subtreeVel``), (3,) in kg m/s.

Only the position and velocity stages these need are run (kinematics, centre-of-mass positions, tendons,
composite inertia, centre-of-mass velocities); they give the same numbers as ``mj_forward``, without
collision detection or the constraint solve. The left-out root position (x, and y for free bodies)
changes neither quantity, so single observations are mapped on their own.

The toolkit's ``FrictionlessPendulum-v0`` (:mod:`envs.pendulum`) is analytic: its energy is H(q, p) and
its momentum the bob's m v. So is ``ParticleSprings-v0`` (:mod:`envs.particles`): kinetic plus pair
potential energy, and the total momentum sum_i m_i v_i (conserved exactly by the true system).

:func:`physics_for` returns a callable ``obs (..., D) -> Physical`` for an env; world-model evaluation
receives it as a plain function and never imports MuJoCo. MuJoCo is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from envs.errors import UserError
from envs.names import resolve_env_id


class Physical(NamedTuple):
    """Physical quantities of states with leading dims (...).

    Attributes:
        energy: (...) potential + kinetic energy, J.
        momentum: (..., 3) linear momentum of the centre of mass, kg m/s.
    """

    energy: np.ndarray
    momentum: np.ndarray


PhysicsFn = Callable[[np.ndarray], Physical]
"""Observations (..., D) -> their :class:`Physical` quantities."""


class MuJoCoPhysics:
    """Energy and momentum of a MuJoCo env's state observations, computed by MuJoCo.

    Args:
        env: short name or Gymnasium id of an env :class:`envs.sim_state.SimState` supports.
        env_kwargs: the observation options the env was made with.

    Raises:
        UserError: the env's observations cannot be mapped back into the simulator.
    """

    def __init__(self, env: str, *, env_kwargs: dict[str, Any] | None = None) -> None:
        import mujoco

        from envs.sim_state import SimState

        self._sim = SimState(env, env_kwargs=env_kwargs)
        self.env_id = self._sim.env_id
        self.model: Any = self._sim.model  # the SimState's private copy: setting a flag touches no other env
        self.model.opt.enableflags |= int(mujoco.mjtEnableBit.mjENBL_ENERGY)
        self.data: Any = mujoco.MjData(self.model)
        self.root = 1
        self.mass = float(self.model.body_subtreemass[self.root])

    def of_state(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[float, np.ndarray]:
        """(energy, momentum (3,)) of one simulator state qpos (nq,), qvel (nv,)."""
        import mujoco

        m, d = self.model, self.data
        d.qpos[:] = qpos
        d.qvel[:] = qvel
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        mujoco.mj_tendon(m, d)
        mujoco.mj_crb(m, d)
        mujoco.mj_energyPos(m, d)
        mujoco.mj_comVel(m, d)
        mujoco.mj_energyVel(m, d)
        mujoco.mj_subtreeVel(m, d)
        return float(d.energy[0] + d.energy[1]), d.subtree_linvel[self.root] * self.mass

    def __call__(self, obs: np.ndarray) -> Physical:
        """Energy (...) and momentum (..., 3) of observations (..., D) (off-manifold ones are mapped
        as :meth:`envs.sim_state.SimState.state_from_obs` does)."""
        obs = np.asarray(obs, dtype=np.float64)
        flat = obs.reshape(-1, obs.shape[-1])
        energy = np.empty(len(flat))
        momentum = np.empty((len(flat), 3))
        for i, o in enumerate(flat):
            qpos, qvel = self._sim.state_from_obs(o)
            energy[i], momentum[i] = self.of_state(qpos, qvel)
        return Physical(energy.reshape(obs.shape[:-1]), momentum.reshape(*obs.shape[:-1], 3))

    def close(self) -> None:
        """Free the simulator copy."""
        self._sim.close()


def _pendulum_physics(obs: np.ndarray) -> Physical:
    from envs.pendulum import pendulum_energy, pendulum_momentum

    obs = np.asarray(obs, dtype=np.float64)
    if obs.shape[-1] != 2:
        raise UserError(f"FrictionlessPendulum observations have 2 entries (q, p), got {obs.shape[-1]}")
    q, p = obs[..., 0], obs[..., 1]
    return Physical(pendulum_energy(q, p), pendulum_momentum(q, p))


def _particle_physics(env_kwargs: dict[str, Any] | None) -> PhysicsFn:
    from envs import particles

    kwargs = env_kwargs or {}
    masses = np.asarray(kwargs.get("masses", particles.MASSES), dtype=np.float64)
    dim = int(kwargs.get("dim", particles.DIM))
    size = 2 * len(masses) * dim

    def physics(obs: np.ndarray) -> Physical:
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape[-1] != size:
            raise UserError(f"{particles.ENV_ID} observations have {size} entries, got {obs.shape[-1]}")
        return Physical(
            particles.particle_energy(obs, masses, dim), particles.particle_momentum(obs, masses, dim)
        )

    return physics


def physics_for(env: str, *, env_kwargs: dict[str, Any] | None = None) -> PhysicsFn:
    """The function computing energy and momentum of ``env``'s state observations.

    Args:
        env: short name or Gymnasium id.
        env_kwargs: the observation options the env was made with (MuJoCo envs).

    Raises:
        UserError: no such mapping for this env (not a supported MuJoCo env, nor one of the toolkit's own).
    """
    from envs import particles, pendulum

    env_id = resolve_env_id(env)
    if env_id == pendulum.ENV_ID:
        return _pendulum_physics
    if env_id == particles.ENV_ID:
        return _particle_physics(env_kwargs)
    return MuJoCoPhysics(env_id, env_kwargs=env_kwargs)


def energy_labeller(
    env: str, *, env_kwargs: dict[str, Any] | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """Observations (..., D) -> simulator energies (...): the labels of the world model's energy
    regulariser (``world_model.learner.WorldModelLearner(energy_fn=...)``).

    Raises:
        UserError: see :func:`physics_for`.
    """
    physics = physics_for(env, env_kwargs=env_kwargs)

    def energy(obs: np.ndarray) -> np.ndarray:
        return physics(obs).energy

    return energy
