"""Vector envs for collection: N copies of :func:`envs.make_env`, synchronous or asynchronous."""

from __future__ import annotations

from functools import partial

import gymnasium as gym

from envs.config import EnvConfig
from envs.errors import UserError
from envs.make import make_env


def make_vector_env(
    name: str, cfg: EnvConfig | None = None, *, seed: int, num_envs: int | None = None
) -> gym.vector.VectorEnv:
    """Build ``num_envs`` copies of ``make_env(name, cfg)`` stepped together.

    Args:
        name: short name or full Gymnasium id.
        cfg: env options; ``cfg.vector`` picks ``SyncVectorEnv`` (this process; best on few cores) or
            ``AsyncVectorEnv`` (one subprocess per env); default ``EnvConfig()``.
        seed: env ``i`` is seeded with ``seed + i``.
        num_envs: number of envs; default ``cfg.num_envs``.

    Returns:
        A vector env with Gymnasium's ``NEXT_STEP`` autoreset: the ``step`` after an episode ends
        resets that env (its action is ignored) and returns the first observation of the next
        episode. :class:`envs.Collector` handles this; actions are (N, A) in [-1, 1].

    Raises:
        UserError: bad name or options (raised here, in this process, also for ``async``).
    """
    cfg = cfg if cfg is not None else EnvConfig()
    n = cfg.num_envs if num_envs is None else num_envs
    if n < 1:
        raise UserError(f"num_envs must be at least 1, got {n}")
    if cfg.vector not in ("sync", "async"):
        raise UserError(f"vector must be 'sync' or 'async', got {cfg.vector!r}")
    fns = [partial(make_env, name, cfg, seed=seed + i) for i in range(n)]
    mode = gym.vector.AutoresetMode.NEXT_STEP
    if cfg.vector == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    # AsyncVectorEnv builds env 0 in this process first (user errors surface here with their message).
    # Workers are spawned, not forked: a fork would copy this process's OpenGL and torch thread state.
    return gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode, context="spawn")
