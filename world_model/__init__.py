"""Latent world models: RSSM dynamics, reward / continue heads, reconstruction and latent objectives;
models on the state itself (PETS-style ensemble, Hamiltonian) as baselines; open-loop evaluation."""

from world_model.config import (
    EncoderConfig,
    EnergyConfig,
    EnsembleConfig,
    HamiltonianConfig,
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
    "EnergyConfig",
    "EnsembleConfig",
    "HamiltonianConfig",
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
