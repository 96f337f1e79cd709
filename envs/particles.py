"""Interacting particles with no external force, so total momentum is conserved exactly: the test bed of
models with momentum conservation built in (``world_model.pairwise``).

N point masses m_i move in a plane (``dim`` = 2) under pairwise forces only. Every pair (i, j) interacts
through a smooth potential of its distance r = |x_j - x_i|: a harmonic attraction plus a Gaussian soft
repulsion,

    U(r) = k r^2 / 2 + c exp(-r^2 / (2 s^2)),          E = sum_i m_i |v_i|^2 / 2 + sum_{i<j} U(r_ij),

whose pair forces are equal and opposite (Newton's third law), so the total momentum sum_i m_i v_i never
changes and the centre of mass moves in a straight line. The repulsion keeps the particles apart (the
equilibrium distance of one isolated pair is about 1.2 m at the defaults) and U is smooth everywhere,
also at r = 0. Each agent step advances ``dt`` seconds with ``substeps`` velocity-Verlet steps (kick,
drift, kick): symplectic, so the energy error stays bounded (about 2e-5 relative at the defaults), and
momentum-conserving to round-off (about 1e-15 relative in float64).

Observation: ``(x_1, ..., x_N, v_1, ..., v_N)``, positions then velocities, each ``dim`` numbers per
particle (float64; the toolkit's ``make_env`` hands them on as float32). The masses are not observed:
they are properties of the system, known to a model through :attr:`ParticleSpringsEnv.layout`
(:class:`ParticleLayout`). Resets draw positions uniformly in a square of side 2 m and velocities from
N(0, 0.5^2) m/s per component about a centre-of-mass velocity from N(0, 0.1^2) m/s per component, so the
total momentum differs from episode to episode and is not zero, while the centre of mass drifts only
about 1 m in an episode.

The action space is ``Box(-1, 1, (1,))`` so that the toolkit's collectors and scripts work unchanged, but
actions are **ignored** (no external force). The reward is minus the particles' mean squared distance from
their centre of mass (in m^2; a function of the state only); episodes never terminate and are cut by the
time limit (200 steps).

Registered as ``ParticleSprings-v0`` by :func:`register` (called by :func:`envs.resolve_env_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

ENV_ID = "ParticleSprings-v0"
MASSES = (1.0, 1.5, 2.0, 2.5)
"""m_i, kg (4 particles)."""
DIM = 2
"""Spatial dimensions."""
STIFFNESS = 1.0
"""k of the harmonic attraction, N / m."""
REPULSION = 2.0
"""c, the height of the Gaussian repulsion at r = 0, J."""
REPULSION_WIDTH = 0.7
"""s, the width of the Gaussian repulsion, m."""
DT = 0.05
"""Seconds per agent step."""
SUBSTEPS = 5
"""Velocity-Verlet steps per agent step."""
MAX_EPISODE_STEPS = 200
START_SPEED = 0.5
"""Standard deviation of each start velocity component about the centre of mass's, m / s."""
COM_SPEED = 0.1
"""Standard deviation of each component of the centre of mass's start velocity, m / s."""


@dataclass(frozen=True)
class ParticleLayout:
    """How a particle system's observation is laid out, and what a model may know about the system.

    Attributes:
        masses: (N,) mass of each particle, kg.
        dim: spatial dimensions d; the observation is N d positions, then N d velocities.
    """

    masses: tuple[float, ...]
    dim: int

    @property
    def obs_dim(self) -> int:
        """2 N d."""
        return 2 * len(self.masses) * self.dim


def pair_forces(x: np.ndarray) -> np.ndarray:
    """The force on each particle from all the others, for positions (..., N, d): (..., N, d), N.

    F_i = -sum_j dU(r_ij)/dx_i = sum_j (k - (c / s^2) exp(-r^2 / (2 s^2))) (x_j - x_i).
    """
    r = x[..., None, :, :] - x[..., :, None, :]  # r[i, j] = x_j - x_i
    r2 = (r**2).sum(-1, keepdims=True)
    coef = STIFFNESS - REPULSION / REPULSION_WIDTH**2 * np.exp(-r2 / (2.0 * REPULSION_WIDTH**2))
    return (coef * r).sum(-2)  # the j = i term is 0 (r = 0)


def particle_energy(obs: np.ndarray, masses: np.ndarray, dim: int) -> np.ndarray:
    """Kinetic plus pair potential energy (J) of observations (..., 2 N d): (...)."""
    x, v = split_state(obs, len(masses), dim)
    kinetic = 0.5 * (masses[:, None] * v**2).sum((-1, -2))
    r2 = ((x[..., None, :, :] - x[..., :, None, :]) ** 2).sum(-1)  # (..., N, N)
    pair = 0.5 * STIFFNESS * r2 + REPULSION * np.exp(-r2 / (2.0 * REPULSION_WIDTH**2))
    upper = np.triu(np.ones(r2.shape[-2:], dtype=bool), k=1)
    return kinetic + pair[..., upper].sum(-1)


def particle_momentum(obs: np.ndarray, masses: np.ndarray, dim: int) -> np.ndarray:
    """Total linear momentum sum_i m_i v_i (kg m / s) of observations (..., 2 N d), padded to (..., 3)."""
    _, v = split_state(obs, len(masses), dim)
    p = (masses[:, None] * v).sum(-2)
    return np.concatenate([p, np.zeros((*p.shape[:-1], 3 - dim))], -1)


def split_state(obs: np.ndarray, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities (..., N, d) of observations (..., 2 N d)."""
    half = n * dim
    return obs[..., :half].reshape(*obs.shape[:-1], n, dim), obs[..., half:].reshape(*obs.shape[:-1], n, dim)


def verlet_step(x: np.ndarray, v: np.ndarray, masses: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """One velocity-Verlet step (kick h/2, drift h, kick h/2) of positions and velocities (N, d)."""
    inv_m = 1.0 / masses[:, None]
    v = v + 0.5 * h * pair_forces(x) * inv_m
    x = x + h * v
    return x, v + 0.5 * h * pair_forces(x) * inv_m


class ParticleSpringsEnv(gym.Env[np.ndarray, np.ndarray]):
    """N interacting particles with no external force (see the module docstring).

    Attributes:
        layout: the masses and the spatial dimension (what a model of the system may be told).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(
        self, masses: tuple[float, ...] = MASSES, dim: int = DIM, dt: float = DT, substeps: int = SUBSTEPS
    ) -> None:
        """Build the env.

        Args:
            masses: the particles' masses (kg), at least 2.
            dim: spatial dimensions (1, 2 or 3).
            dt: seconds per agent step.
            substeps: velocity-Verlet steps per agent step.

        Raises:
            ValueError: fewer than 2 particles, a mass that is not positive, or ``dim`` outside 1..3.
        """
        if len(masses) < 2 or min(masses) <= 0 or dim not in (1, 2, 3):
            raise ValueError(f"need >= 2 positive masses and dim in 1..3, got {masses}, {dim}")
        self.layout = ParticleLayout(tuple(float(m) for m in masses), int(dim))
        self.masses = np.asarray(self.layout.masses)
        self.dim = int(dim)
        self.dt = float(dt)
        self.substeps = int(substeps)
        n = len(masses)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2 * n * dim,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.x = np.zeros((n, dim))
        self.v = np.zeros((n, dim))

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.x.ravel(), self.v.ravel()])

    def _info(self) -> dict[str, Any]:
        obs = self._obs()
        return {
            "energy": float(particle_energy(obs, self.masses, self.dim)),
            "momentum": particle_momentum(obs, self.masses, self.dim),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw positions in a square of side 2 m, velocities from N(0, 0.5^2) m/s per component about a
        centre-of-mass velocity from N(0, 0.1^2)."""
        super().reset(seed=seed)
        n = len(self.masses)
        self.x = self.np_random.uniform(-1.0, 1.0, (n, self.dim))
        v = self.np_random.normal(0.0, START_SPEED, (n, self.dim))
        v_com = (self.masses[:, None] * v).sum(0) / self.masses.sum()
        self.v = v - v_com + self.np_random.normal(0.0, COM_SPEED, self.dim)
        return self._obs(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Advance ``dt`` seconds; the action is ignored (no external force)."""
        h = self.dt / self.substeps
        for _ in range(self.substeps):
            self.x, self.v = verlet_step(self.x, self.v, self.masses, h)
        com = (self.masses[:, None] * self.x).sum(0) / self.masses.sum()
        reward = -float(((self.x - com) ** 2).sum(-1).mean())
        return self._obs(), reward, False, False, self._info()


def register() -> None:
    """Register ``ParticleSprings-v0`` with Gymnasium (idempotent)."""
    if ENV_ID not in gym.envs.registration.registry:
        gym.register(
            id=ENV_ID,
            entry_point="envs.particles:ParticleSpringsEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
        )
