"""Latent world models: RSSM dynamics, reward / continue heads, reconstruction and latent objectives."""

from world_model.config import (
    EncoderConfig,
    HeadsConfig,
    LatentConfig,
    LossConfig,
    OptimConfig,
    RSSMConfig,
    WorldModelConfig,
)
from world_model.model import Imagination, WorldModel
from world_model.presets import world_model_preset
from world_model.rssm import RSSMState

__all__ = [
    "EncoderConfig",
    "HeadsConfig",
    "Imagination",
    "LatentConfig",
    "LossConfig",
    "OptimConfig",
    "RSSMConfig",
    "RSSMState",
    "WorldModel",
    "WorldModelConfig",
    "world_model_preset",
]
