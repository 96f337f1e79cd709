"""Environments: names, ``make_env`` with its wrappers, vector envs, collection and the episode replay.

Importing this package does not import MuJoCo and sets no environment variables; pick the OpenGL
backend (``MUJOCO_GL``) where a process starts.
"""

from envs import seeds
from envs.collector import Collector, EpisodeRecorder, Policy, RandomPolicy
from envs.config import EnvConfig
from envs.episode import Episode, SequenceBatch, StepObs
from envs.errors import UserError
from envs.make import make_env
from envs.names import SHORT_NAMES, resolve_env_id
from envs.replay import EpisodeReplay, EpisodeWriter
from envs.vector import make_vector_env

__all__ = [
    "SHORT_NAMES",
    "Collector",
    "EnvConfig",
    "Episode",
    "EpisodeRecorder",
    "EpisodeReplay",
    "EpisodeWriter",
    "Policy",
    "RandomPolicy",
    "SequenceBatch",
    "StepObs",
    "UserError",
    "make_env",
    "make_vector_env",
    "resolve_env_id",
    "seeds",
]
