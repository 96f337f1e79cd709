"""A frictionless, torque-free pendulum whose energy is conserved: the test bed of Hamiltonian models.

A point mass ``m`` on a massless rod of length ``l`` under gravity ``g``, no friction, no actuation:

    H(q, p) = p^2 / (2 m l^2) + m g l (1 - cos q),    dq/dt = dH/dp,  dp/dt = -dH/dq = -m g l sin q

with q the angle from the downward vertical and p = m l^2 dq/dt the angular momentum. Every episode
swings (starts have an energy below 90% of the separatrix's 2 m g l), so q stays inside (-pi, pi) and
needs no wrapping: a model sees the canonical coordinates ``(q, p)`` as the observation, and none has
to extrapolate to angles it never saw. Each agent step advances ``dt`` seconds with ``substeps`` classical
Runge-Kutta (RK4) steps: not a symplectic method, so the ground truth does not share the structure of
the leapfrog integrator a Hamiltonian model uses, and its energy error (about 1e-9 relative per step
at the defaults) is far below anything a learned model shows.

The action space is ``Box(-1, 1, (1,))`` so that the toolkit's collectors and scripts work unchanged,
but actions are **ignored** (torque-free). The reward is the bob's height over the pivot in units of
``l`` (``-cos q``); episodes never terminate and are cut by the time limit (300 steps).

Registered as ``FrictionlessPendulum-v0`` by :func:`register` (called by :func:`envs.resolve_env_id`,
so ``make_env("FrictionlessPendulum")`` works without an import-time side effect).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

ENV_ID = "FrictionlessPendulum-v0"
MASS = 1.0
"""m, kg."""
LENGTH = 1.0
"""l, m."""
GRAVITY = 9.81
"""g, m / s^2."""
DT = 0.05
"""Seconds per agent step."""
SUBSTEPS = 10
"""RK4 steps per agent step."""
MAX_EPISODE_STEPS = 300
MAX_START_ENERGY = 0.9 * 2.0 * MASS * GRAVITY * LENGTH
"""Starts have less energy than this (J): below the separatrix, so the pendulum never rotates."""


def pendulum_energy(q: np.ndarray | float, p: np.ndarray | float) -> np.ndarray:
    """H(q, p) = p^2 / (2 m l^2) + m g l (1 - cos q), element-wise (J)."""
    return p**2 / (2.0 * MASS * LENGTH**2) + MASS * GRAVITY * LENGTH * (1.0 - np.cos(q))


def pendulum_momentum(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(..., 3) linear momentum m v of the bob (x right, z up; the pivot at the origin)."""
    speed = p / (MASS * LENGTH)  # l * dq/dt
    zero = np.zeros_like(q)
    return MASS * np.stack([speed * np.cos(q), zero, speed * np.sin(q)], -1)


def _deriv(state: np.ndarray) -> np.ndarray:
    q, p = state
    return np.array([p / (MASS * LENGTH**2), -MASS * GRAVITY * LENGTH * np.sin(q)])


def rk4_step(state: np.ndarray, dt: float) -> np.ndarray:
    """One classical Runge-Kutta step of the pendulum's equations for a (2,) state (q, p)."""
    k1 = _deriv(state)
    k2 = _deriv(state + 0.5 * dt * k1)
    k3 = _deriv(state + 0.5 * dt * k2)
    k4 = _deriv(state + dt * k3)
    return state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


class FrictionlessPendulumEnv(gym.Env[np.ndarray, np.ndarray]):
    """The frictionless, torque-free pendulum (see the module docstring).

    Resets draw q ~ U(-pi, pi) and p ~ U(-p_max, p_max), p_max = 2 m l^2 rad/s, again until the energy is
    below ``MAX_START_ENERGY`` (90% of 2 m g l): the pendulum swings, up to about +-143 degrees.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(self, dt: float = DT, substeps: int = SUBSTEPS) -> None:
        """Build the env.

        Args:
            dt: seconds per agent step.
            substeps: RK4 steps per agent step.
        """
        self.dt = float(dt)
        self.substeps = int(substeps)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.state = np.zeros(2)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a start state (q, p)."""
        super().reset(seed=seed)
        p_max = 2.0 * MASS * LENGTH**2
        while True:
            q, p = self.np_random.uniform(-np.pi, np.pi), self.np_random.uniform(-p_max, p_max)
            if pendulum_energy(q, p) < MAX_START_ENERGY:
                break
        self.state = np.array([q, p])
        return self.state.copy(), {"energy": float(pendulum_energy(*self.state))}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Advance ``dt`` seconds; the action is ignored (torque-free)."""
        h = self.dt / self.substeps
        for _ in range(self.substeps):
            self.state = rk4_step(self.state, h)
        reward = -float(np.cos(self.state[0]))
        return self.state.copy(), reward, False, False, {"energy": float(pendulum_energy(*self.state))}


def register() -> None:
    """Register ``FrictionlessPendulum-v0`` with Gymnasium (idempotent)."""
    if ENV_ID not in gym.envs.registration.registry:
        gym.register(
            id=ENV_ID,
            entry_point="envs.pendulum:FrictionlessPendulumEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
        )
