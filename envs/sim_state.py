"""Put state observations back into the MuJoCo simulator and render them as RGB frames.

A state-observation world model predicts observation vectors; to *see* what it imagines, each vector
is mapped back to the simulator's generalised positions and velocities (``qpos``, ``qvel``), set into a
private copy of the environment and rendered. The observation layouts are those of Gymnasium's v5
MuJoCo environments (with their default options, or the options given in ``env_kwargs``):

==========================  ================================================================  ===========
env                         observation                                                        left out
==========================  ================================================================  ===========
Walker2d, Hopper            qpos[1:], clip(qvel, -10, 10)                                      x
HalfCheetah                 qpos[1:], qvel                                                     x
Swimmer                     qpos[2:], qvel                                                     x, y
Ant                         qpos[2:], qvel, clip(cfrc_ext[1:]) (contact forces)                x, y
Humanoid, HumanoidStandup   qpos[2:], qvel, cinert[1:], cvel[1:], qfrc_actuator[6:], cfrc_ext   x, y
InvertedPendulum            qpos, qvel                                                         -
InvertedDoublePendulum      x, sin(angles), cos(angles), clip(qvel, -10, 10), qfrc_constraint  -
Reacher                     cos/sin(arm angles), target position, arm velocities, tip-target   -
Pusher                      arm qpos, arm qvel, tip, object and goal positions                 object vel
==========================  ================================================================  ===========

Positions the observation leaves out (the x, and for planar-free bodies y, position of the root) do
not change the dynamics, but they move the body across the floor. They are **recovered by integrating
the observed root velocity** over time (trapezoid rule, ``dt`` = simulator time per agent step), or
held at their start value with ``integrate=False``. Pusher's object velocity is not observed and is
set to zero. Velocities clipped in the observation (Walker2d, Hopper, InvertedDoublePendulum) are set
clipped. Entries that are not a function of the state (contact forces, actuator forces, constraint
forces) are ignored when mapping back; :attr:`SimState.determined` marks the entries that are.

Environments whose observation cannot be mapped back (pixel observations, non-MuJoCo envs such as
Pendulum) raise :class:`envs.errors.UserError`; callers show a plot instead.

MuJoCo is imported inside functions only (no import-time side effects); the caller's process picks
the GL backend (``MUJOCO_GL``) before rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from envs.errors import UserError
from envs.names import resolve_env_id

if TYPE_CHECKING:
    import gymnasium as gym

Kind = Literal["joints", "double_pendulum", "reacher", "pusher"]


@dataclass(frozen=True)
class _EnvLayout:
    """How one environment family lays out its observation."""

    kind: Kind
    hidden: int = 0
    """Leading qpos entries left out of the observation by default (root x, or x and y)."""
    vel_clip: float | None = None
    """Velocities are clipped to +-vel_clip in the observation."""
    extras: tuple[str, ...] = ()
    """Trailing blocks after qpos and qvel, each with the env kwarg that switches it on."""


_LAYOUTS: dict[str, _EnvLayout] = {
    "Walker2d": _EnvLayout("joints", hidden=1, vel_clip=10.0),
    "Hopper": _EnvLayout("joints", hidden=1, vel_clip=10.0),
    "HalfCheetah": _EnvLayout("joints", hidden=1),
    "Swimmer": _EnvLayout("joints", hidden=2),
    "Ant": _EnvLayout("joints", hidden=2, extras=("cfrc_ext",)),
    "Humanoid": _EnvLayout("joints", hidden=2, extras=("cinert", "cvel", "qfrc_actuator", "cfrc_ext")),
    "HumanoidStandup": _EnvLayout("joints", hidden=2, extras=("cinert", "cvel", "qfrc_actuator", "cfrc_ext")),
    "InvertedPendulum": _EnvLayout("joints"),
    "InvertedDoublePendulum": _EnvLayout("double_pendulum", vel_clip=10.0),
    "Reacher": _EnvLayout("reacher"),
    "Pusher": _EnvLayout("pusher"),
}

# Extras that are a function of (qpos, qvel) alone; the others depend on the action or the contact solve.
_DETERMINED_EXTRAS = {"cinert", "cvel"}

_FAST_RENDER_FLAGS = ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX", "mjRND_FOG", "mjRND_HAZE")

SUPPORTED_ENVS: tuple[str, ...] = tuple(f"{name}-v5" for name in _LAYOUTS)
"""Gymnasium ids whose state observations can be put back into the simulator."""


def _layout_for(env_id: str) -> _EnvLayout:
    base, _, version = env_id.rpartition("-")
    if version != "v5" or base not in _LAYOUTS:
        raise UserError(
            f"cannot map observations of {env_id} back into a MuJoCo simulator "
            f"(supported: {', '.join(SUPPORTED_ENVS)})"
        )
    return _LAYOUTS[base]


def is_supported(env_id: str) -> bool:
    """Whether :class:`SimState` can map and render observations of this Gymnasium id."""
    try:
        _layout_for(env_id)
    except UserError:
        return False
    return True


class SimState:
    """A private simulator for one env that takes state observations and renders them.

    Attributes:
        env_id: the Gymnasium id (``Walker2d-v5``).
        obs_dim: length D of the observation vector.
        nq, nv: sizes of qpos and qvel.
        dt: simulated seconds per agent step (env ``dt`` times ``action_repeat``); used to integrate
            left-out positions.
        hidden: names of the qpos entries the observation leaves out (``("x",)``, ``("x", "y")`` or ``()``).
        integrate: True when left-out positions are integrated from velocities, False when held.
        determined: (D,) bool, True for observation entries that are a function of (qpos, qvel).
        exact: (D,) bool, the entries read straight from qpos and qvel. The other determined entries
            (body positions, com inertia and velocity) come from MuJoCo's kinematics, which a
            Gymnasium step reads one simulator substep before its final integration, so they match a
            stepped observation only up to one substep of motion (exactly after ``reset``).
        size: side of rendered frames in pixels.
    """

    def __init__(
        self,
        env: str,
        *,
        size: int = 64,
        fast_render: bool = True,
        action_repeat: int = 1,
        integrate: bool = True,
        env_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Build the simulator copy.

        Args:
            env: short name or Gymnasium id (``Walker2d`` or ``Walker2d-v5``).
            size: side of square frames rendered by :meth:`render`.
            fast_render: turn off shadows, reflections, skybox, fog and haze (much faster in software GL).
            action_repeat: simulator steps per agent step (sets :attr:`dt`).
            integrate: recover left-out root positions by integrating root velocities (else hold them).
            env_kwargs: keyword arguments the observed env was made with (observation options).

        Raises:
            UserError: the env's observations cannot be mapped back into the simulator.
        """
        import gymnasium as gym

        self.env_id = resolve_env_id(env)
        self._layout = _layout_for(self.env_id)
        self._kwargs = dict(env_kwargs or {})
        self._env: gym.Env = gym.make(self.env_id, **self._kwargs)
        base = self._env.unwrapped
        self.model: Any = base.model  # type: ignore[attr-defined]
        self.data: Any = base.data  # type: ignore[attr-defined]
        renderer = getattr(base, "mujoco_renderer", None)
        self._cam_config: dict[str, Any] = dict(getattr(renderer, "default_cam_config", None) or {})
        self.nq = int(self.model.nq)
        self.nv = int(self.model.nv)
        shape = self._env.observation_space.shape
        assert shape is not None and len(shape) == 1, shape
        self.obs_dim = int(shape[0])
        self.dt = float(base.dt) * action_repeat  # type: ignore[attr-defined]
        self.integrate = integrate
        self.size = size
        self.fast_render = fast_render
        self._renderer: Any = None
        self._init_qpos = self.data.qpos.copy()

        hidden = self._layout.hidden
        if hidden and not self._kwargs.get("exclude_current_positions_from_observation", True):
            hidden = 0
        self._hidden = hidden
        self.hidden: tuple[str, ...] = ("x", "y")[:hidden]
        self._extras = tuple(
            e for e in self._layout.extras if self._kwargs.get(f"include_{e}_in_observation", True)
        )
        self.determined = self._determined_mask()
        self.exact = self._exact_mask()

    # ------------------------------------------------------------------ layout

    def _determined_mask(self) -> np.ndarray:
        mask = np.ones(self.obs_dim, dtype=bool)
        kind = self._layout.kind
        if kind == "joints":
            start = self.nq - self._hidden + self.nv
            sizes = self._extra_sizes()
            assert start + sum(sizes.values()) == self.obs_dim, (self.env_id, start, sizes, self.obs_dim)
            for name, n in sizes.items():
                if name not in _DETERMINED_EXTRAS:
                    mask[start : start + n] = False
                start += n
        elif kind == "double_pendulum":
            mask[-1] = False  # constraint force
        return mask

    def _exact_mask(self) -> np.ndarray:
        mask = np.zeros(self.obs_dim, dtype=bool)
        kind = self._layout.kind
        if kind == "joints":
            mask[: self.nq - self._hidden + self.nv] = True
        elif kind in ("double_pendulum", "reacher"):
            mask[:8] = True
        else:
            mask[:14] = True
        return mask

    def _extra_sizes(self) -> dict[str, int]:
        nbody = int(self.model.nbody) - 1
        sizes = {"cinert": 10 * nbody, "cvel": 6 * nbody, "qfrc_actuator": self.nv - 6, "cfrc_ext": 6 * nbody}
        return {name: sizes[name] for name in self._extras}

    def _check(self, obs: np.ndarray) -> np.ndarray:
        obs = np.nan_to_num(np.asarray(obs, dtype=np.float64), nan=0.0, posinf=1e3, neginf=-1e3)
        if obs.shape[-1] != self.obs_dim:
            raise UserError(f"{self.env_id} observations have {self.obs_dim} entries, got {obs.shape[-1]}")
        return obs

    # ------------------------------------------------------------------ obs -> state

    def state_from_obs(
        self, obs: np.ndarray, root: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map one observation to simulator positions and velocities.

        Args:
            obs: (D,) observation (a prediction may be off-manifold: angles are read with atan2,
                quaternions normalised, NaNs set to 0).
            root: (len(hidden),) values for the left-out root positions; default: the env's initial ones.

        Returns:
            qpos (nq,), qvel (nv,) float64.
        """
        obs = self._check(obs)
        qpos = self._init_qpos.copy()
        qvel = np.zeros(self.nv)
        kind = self._layout.kind
        if kind == "joints":
            k = self._hidden
            qpos[k:] = obs[: self.nq - k]
            qvel[:] = obs[self.nq - k : self.nq - k + self.nv]
            if root is not None:
                qpos[:k] = root
            if self._layout.extras and np.linalg.norm(qpos[3:7]) < 1e-6:
                # Free-joint root: MuJoCo normalises quaternions itself, but not a zero one.
                qpos[3:7] = (1.0, 0.0, 0.0, 0.0)
        elif kind == "double_pendulum":
            qpos[0] = obs[0]
            qpos[1:3] = np.arctan2(obs[1:3], obs[3:5])
            qvel[:] = obs[5:8]
        elif kind == "reacher":
            qpos[:2] = np.arctan2(obs[2:4], obs[0:2])
            qpos[2:4] = obs[4:6]
            qvel[:2] = obs[6:8]
        else:  # pusher
            qpos[:7] = obs[:7]
            qvel[:7] = obs[7:14]
            qpos[7:9] = self._slide_solve("object", obs[17:20])
            qpos[9:11] = self._slide_solve("goal", obs[20:23])
        return qpos, qvel

    def _slide_solve(self, body: str, target: np.ndarray) -> np.ndarray:
        """Slide-joint values that put ``body``'s frame origin nearest to ``target`` (Pusher)."""
        import mujoco

        body_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, body)
        first = int(self.model.body_jntadr[body_id])
        joints = range(first, first + int(self.model.body_jntnum[body_id]))
        adr = [int(self.model.jnt_qposadr[j]) for j in joints]
        self.data.qpos[:] = self._init_qpos
        self.data.qpos[adr] = 0.0
        mujoco.mj_kinematics(self.model, self.data)
        origin = self.data.xpos[body_id].copy()
        axes = np.stack([self.data.xaxis[j] for j in joints], axis=1)  # (3, n) world-frame slide axes
        q, *_ = np.linalg.lstsq(axes, target - origin, rcond=None)
        return q

    def states_from_obs(
        self, obs: np.ndarray, root0: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map a trajectory of observations, recovering left-out root positions.

        Left-out positions start at ``root0`` (default: the env's initial root) and follow the trapezoid
        integral of the observed root velocity (or stay there with ``integrate=False``).

        Args:
            obs: (T, D) consecutive observations (one agent step apart).
            root0: (len(hidden),) root position at t = 0.

        Returns:
            qpos (T, nq), qvel (T, nv).
        """
        obs = self._check(obs)
        k = self._hidden
        root = self._init_qpos[:k].copy() if root0 is None else np.asarray(root0, dtype=np.float64)
        qpos = np.zeros((len(obs), self.nq))
        qvel = np.zeros((len(obs), self.nv))
        prev_vel: np.ndarray | None = None
        for t, o in enumerate(obs):
            p, v = self.state_from_obs(o)
            if k and self.integrate and prev_vel is not None:
                root = root + self.dt * 0.5 * (prev_vel + v[:k])
            p[:k] = root
            qpos[t], qvel[t] = p, v
            prev_vel = v[:k]
        return qpos, qvel

    # ------------------------------------------------------------------ simulator

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Put qpos (nq,) and qvel (nv,) into the simulator (zero controls) and recompute derived values."""
        import mujoco

        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel
        self.data.ctrl[:] = 0.0
        if self.model.na:
            self.data.act[:] = 0.0
        mujoco.mj_forward(self.model, self.data)
        mujoco.mj_rnePostConstraint(self.model, self.data)

    def observe(self) -> np.ndarray:
        """The observation of the simulator's current state, in the env's layout.

        Entries not determined by the state (see :attr:`determined`) are the simulator's values for
        this state at zero controls, computed without the episode's history.

        Returns:
            (D,) float64.
        """
        d = self.data
        kind = self._layout.kind
        clip = self._layout.vel_clip
        qvel = d.qvel if clip is None else np.clip(d.qvel, -clip, clip)
        if kind == "joints":
            parts = [d.qpos[self._hidden :], qvel]
            for name in self._extras:
                if name == "cinert":
                    parts.append(d.cinert[1:].ravel())
                elif name == "cvel":
                    parts.append(d.cvel[1:].ravel())
                elif name == "qfrc_actuator":
                    parts.append(d.qfrc_actuator[6:].ravel())
                else:
                    forces = d.cfrc_ext[1:]
                    if self._layout.extras == ("cfrc_ext",):  # Ant clips its contact forces
                        low, high = self._kwargs.get("contact_force_range", (-1.0, 1.0))
                        forces = np.clip(forces, low, high)
                    parts.append(forces.ravel())
        elif kind == "double_pendulum":
            parts = [
                d.qpos[:1],
                np.sin(d.qpos[1:]),
                np.cos(d.qpos[1:]),
                qvel,
                np.clip(d.qfrc_constraint, -10, 10)[:1],
            ]
        elif kind == "reacher":
            tip = d.body("fingertip").xpos - d.body("target").xpos
            parts = [np.cos(d.qpos[:2]), np.sin(d.qpos[:2]), d.qpos[2:], d.qvel[:2], tip[:2]]
        else:
            parts = [d.qpos[:7], d.qvel[:7]] + [d.body(b).xpos for b in ("tips_arm", "object", "goal")]
        return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])

    # ------------------------------------------------------------------ rendering

    def _camera(self) -> Any:
        import mujoco

        cam = mujoco.MjvCamera()
        cam.lookat[:] = np.median(self.data.geom_xpos, axis=0)
        cam.distance = float(self.model.stat.extent)
        for key, value in self._cam_config.items():
            if isinstance(value, np.ndarray):
                getattr(cam, key)[:] = value
            else:
                setattr(cam, key, value)
        if self._hidden:
            # Follow the root body along the floor (Gymnasium's own renderer leaves the camera in place,
            # so a walker leaves the view); the height stays the env's. The floor's checkers then show
            # the root's travel. A pure function of the root position, not of the limbs' pose.
            cam.lookat[:2] = self.data.xpos[1][:2]
        return cam

    def render(self) -> np.ndarray:
        """Render the simulator's current state.

        Returns:
            (size, size, 3) uint8 RGB frame.

        Raises:
            UserError: no offscreen OpenGL context could be made (callers fall back to a plot).
        """
        import mujoco

        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self.model, self.size, self.size)
            except (ImportError, OSError, RuntimeError, AttributeError, mujoco.FatalError) as err:
                import os

                first_line = (str(err).splitlines() or [type(err).__name__])[0]
                backend = os.environ.get("MUJOCO_GL", "<unset>")
                raise UserError(
                    f"cannot render {self.env_id} offscreen with MUJOCO_GL={backend} "
                    f"({first_line}); set MUJOCO_GL=egl or osmesa before MuJoCo is imported"
                ) from err
            if self.fast_render:
                for flag in _FAST_RENDER_FLAGS:
                    self._renderer.scene.flags[getattr(mujoco.mjtRndFlag, flag)] = 0
        self._renderer.update_scene(self.data, camera=self._camera())
        return np.asarray(self._renderer.render(), dtype=np.uint8).copy()

    def render_obs(self, obs: np.ndarray, root0: np.ndarray | None = None) -> np.ndarray:
        """Render a trajectory of observations (left-out positions recovered, see :meth:`states_from_obs`).

        Args:
            obs: (T, D) consecutive observations.
            root0: (len(hidden),) root position at t = 0.

        Returns:
            (T, size, size, 3) uint8 frames.
        """
        qpos, qvel = self.states_from_obs(obs, root0)
        frames = np.zeros((len(obs), self.size, self.size, 3), dtype=np.uint8)
        for t in range(len(obs)):
            self.set_state(qpos[t], qvel[t])
            frames[t] = self.render()
        return frames

    def close(self) -> None:
        """Free the renderer and the simulator."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()

    def __enter__(self) -> SimState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
