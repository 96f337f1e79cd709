"""Build one environment: name resolution, action scaling, action repeat, pixel observations.

Wrapper stack, innermost first::

    gym.make(id, render_mode="rgb_array", width=size, height=size)   # TimeLimit inside, in sim steps
    OffscreenRender            # pixels / render only: own GL context current; fast: no shadows etc.
    DtypeObservation(float32)  # state observations only (MuJoCo returns float64)
    RescaleAction(-1, 1)       # the agent always acts in [-1, 1]
    ActionRepeat               # cfg.action_repeat > 1; sums rewards, stops at the end of the episode
    AddRenderObservation       # cfg.obs == "pixels": uint8 (size, size, 3) frames replace the state

Pixel observations sit outside the action repeat so that one frame is rendered per agent step, not per
simulator step.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from envs.config import EnvConfig
from envs.errors import UserError
from envs.names import resolve_env_id

Obs = np.ndarray
Act = np.ndarray

# What the first offscreen render raises when no OpenGL backend works or the env cannot render at all.
_RENDER_ERRORS: tuple[type[BaseException], ...] = (
    ImportError,
    OSError,
    AttributeError,
    RuntimeError,
    gym.error.DependencyNotInstalled,
)


class ActionRepeat(gym.Wrapper[Obs, Act, Obs, Act], gym.utils.RecordConstructorArgs):
    """Applies each action ``repeat`` times and sums the rewards.

    Stops early when the episode terminates or is truncated, and returns the last step's observation,
    flags and info, so ``terminated`` and ``truncated`` keep their meaning.
    """

    def __init__(self, env: gym.Env[Obs, Act], repeat: int) -> None:
        """Wrap ``env``.

        Args:
            env: the environment to wrap.
            repeat: simulator steps per agent step, >= 1.
        """
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        gym.utils.RecordConstructorArgs.__init__(self, repeat=repeat)
        gym.Wrapper.__init__(self, env)
        self.repeat = repeat

    def step(self, action: Act) -> tuple[Obs, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step ``repeat`` times (fewer if the episode ends) and return the summed reward."""
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class OffscreenRender(gym.Wrapper[Obs, Act, Obs, Act], gym.utils.RecordConstructorArgs):
    """Makes a MuJoCo env's offscreen renderer safe to share a process with others, and optionally fast.

    - Every ``render()`` first makes this env's OpenGL context current. Gymnasium does so only when one
      env holds several viewers, so with two envs in a process, closing one left the other rendering
      all-black frames (seen with EGL: an evaluation env closed, the training env went black).
    - With ``fast=True``, shadows, reflections and the skybox are turned off: with software OpenGL
      (Mesa llvmpipe) they cost about 10x the frame time of the bare scene, and a learning agent does
      not need them.

    - ``close()`` frees the MuJoCo render context's GL objects (framebuffers, textures) in this env's own
      GL context before the env destroys that context. Gymnasium leaves them to the garbage collector,
      which frees them later in whatever context is current then, and deletes the objects of the same
      ids in another env's context: after an evaluation's envs were collected, the training env of a
      pixel run rendered only black frames for the rest of the run.

    Uses only public attributes (``env.unwrapped.mujoco_renderer.viewer`` and its ``con``); a no-op for envs
    without a MuJoCo renderer. The viewer is created lazily by the first ``render()``, so that call renders
    twice.
    """

    def __init__(self, env: gym.Env[Obs, Act], *, fast: bool = True) -> None:
        """Wrap ``env`` (built with ``render_mode="rgb_array"``)."""
        gym.utils.RecordConstructorArgs.__init__(self, fast=fast)
        gym.Wrapper.__init__(self, env)
        self.fast = fast
        self._configured: object | None = None

    def render(self) -> Any:
        """Render a frame in this env's own GL context (with the expensive effects off when fast)."""
        renderer = getattr(self.env.unwrapped, "mujoco_renderer", None)
        viewer = getattr(renderer, "viewer", None)
        if viewer is not None:
            viewer.make_context_current()
        frame = self.env.render()
        viewer = getattr(renderer, "viewer", None)
        if self.fast and viewer is not None and viewer is not self._configured:
            import mujoco

            for flag in (
                mujoco.mjtRndFlag.mjRND_SHADOW,
                mujoco.mjtRndFlag.mjRND_REFLECTION,
                mujoco.mjtRndFlag.mjRND_SKYBOX,
            ):
                viewer.scn.flags[flag] = 0
            self._configured = viewer
            frame = self.env.render()
        return frame

    def close(self) -> None:
        """Free the render context's GL objects in this env's GL context, then close the env."""
        renderer = getattr(self.env.unwrapped, "mujoco_renderer", None)
        viewer = getattr(renderer, "viewer", None)
        context = getattr(viewer, "con", None)
        if viewer is not None and context is not None:
            with contextlib.suppress(Exception):  # a context already gone: nothing left to free
                viewer.make_context_current()
                context.free()
        self._configured = None
        super().close()


def _render_error(env_id: str, err: BaseException, *, doing: str = "render frames") -> UserError:
    """A one-line message for an env that cannot render offscreen (or load its OpenGL backend)."""
    import os

    first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, gym.error.DependencyNotInstalled):
        return UserError(f"{env_id} cannot {doing}: {first_line}")
    backend = os.environ.get("MUJOCO_GL", "<unset>")
    return UserError(
        f"{env_id} cannot {doing} with MUJOCO_GL={backend} ({first_line}); headless rendering needs "
        "MUJOCO_GL=egl (libEGL) or MUJOCO_GL=osmesa (libOSMesa) set before MuJoCo is imported"
    )


def _import_mujoco(env_id: str) -> None:
    """Import MuJoCo for a MuJoCo env, turning a broken GL set-up into a UserError.

    MuJoCo loads the OpenGL backend named by ``MUJOCO_GL`` when it is first imported, so a bad value or
    a missing library fails even for state observations.
    """
    entry_point = str(gym.spec(env_id).entry_point)
    if "mujoco" not in entry_point:
        return
    try:
        import mujoco  # noqa: F401
    except _RENDER_ERRORS as err:
        raise _render_error(env_id, err, doing="load MuJoCo") from err


def make_env(
    name: str,
    cfg: EnvConfig | None = None,
    *,
    seed: int | None = None,
    render: bool = False,
    render_size: int | None = None,
) -> gym.Env[Obs, Act]:
    """Build one environment as the agents see it.

    Args:
        name: short name (``"Walker2d"``, latest version) or full Gymnasium id (``"Walker2d-v5"``).
        cfg: observation kind, pixel size, action repeat, time limit; default ``EnvConfig()``.
        seed: when given, the env is reset once with it and its spaces are seeded, so later unseeded
            ``reset()`` calls are reproducible.
        render: also make ``env.render()`` return RGB frames (for videos) when observations are states.
        render_size: side of the frames ``render()`` returns; default ``cfg.size``. With pixel
            observations it is always ``cfg.size`` (the frames are the observations).

    Returns:
        The wrapped env: actions Box(-1, 1, (A,), float32); observations float32 ``(D,)`` states or
        uint8 ``(size, size, 3)`` frames. Rewards of repeated steps are summed.

    Raises:
        UserError: unknown name, bad option, non-continuous action space, or an env that cannot render.
    """
    cfg = cfg if cfg is not None else EnvConfig()  # its options are checked when it is built
    env_id = resolve_env_id(name)
    pixels = cfg.obs == "pixels"
    rendering = pixels or render
    kwargs: dict[str, Any] = {}
    if rendering:
        size = cfg.size if pixels or render_size is None else render_size
        kwargs.update(render_mode="rgb_array", width=size, height=size)
        if "mujoco" in str(gym.spec(env_id).entry_point):
            # Locomotion models carry a camera "track" that follows the centre of mass; gymnasium's
            # default free camera stays put and the body walks out of frame. Models without that
            # camera fall back to the free camera.
            kwargs["camera_name"] = "track"
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    _import_mujoco(env_id)
    try:
        try:
            env: gym.Env[Obs, Act] = gym.make(env_id, **kwargs)
        except TypeError as err:
            if not (rendering and "width" in str(err)):
                raise
            if pixels:
                raise UserError(
                    f"{env_id} cannot give pixel observations: only MuJoCo envs render offscreen at a "
                    "chosen size (use obs=state)"
                ) from err
            # Videos of a non-MuJoCo env (e.g. Pendulum with pygame): its own frame size.
            for key in ("width", "height", "camera_name"):
                kwargs.pop(key, None)
            env = gym.make(env_id, **kwargs)
    except (gym.error.DependencyNotInstalled, ImportError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{env_id} cannot be built here: {first_line}") from err

    if not isinstance(env.action_space, gym.spaces.Box):
        env.close()
        raise UserError(
            f"{env_id} has a {type(env.action_space).__name__} action space; need continuous (Box)"
        )
    if not np.all(np.isfinite(env.action_space.low) & np.isfinite(env.action_space.high)):
        env.close()
        raise UserError(f"{env_id} has unbounded actions; cannot rescale them to [-1, 1]")
    if not pixels and not isinstance(env.observation_space, gym.spaces.Box):
        env.close()
        raise UserError(f"{env_id} has {type(env.observation_space).__name__} observations; need a Box")

    if rendering:
        env = OffscreenRender(env, fast=cfg.fast_render)
    if not pixels and env.observation_space.dtype != np.float32:
        with warnings.catch_warnings():
            # MuJoCo's float64 bounds are +-inf: casting them to float32 loses nothing.
            warnings.filterwarnings("ignore", message=".*precision lowered by casting to float32")
            env = gym.wrappers.DtypeObservation(env, np.float32)
    env = gym.wrappers.RescaleAction(env, np.float32(-1.0), np.float32(1.0))
    if cfg.action_repeat > 1:
        env = ActionRepeat(env, cfg.action_repeat)
    try:
        if pixels:
            # Renders once while building (after an unseeded reset) to learn the frame shape.
            env = gym.wrappers.AddRenderObservation(env, render_only=True)
        elif render:
            env.reset()
            env.render()
    except _RENDER_ERRORS as err:
        raise _render_error(env_id, err) from err
    if pixels:
        shape = env.observation_space.shape
        assert shape == (cfg.size, cfg.size, 3), f"pixel observations {shape} != ({cfg.size}, {cfg.size}, 3)"

    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
    return env
