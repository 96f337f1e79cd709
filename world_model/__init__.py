"""Latent world models: RSSM dynamics, reward / continue heads, reconstruction, latent and contrastive
objectives; models on the state itself (PETS-style ensemble, Hamiltonian, energy-based, diffusion, pairwise
momentum-conserving) beside it; open-loop evaluation."""

from world_model.config import (
    ContrastiveConfig,
    DiffusionConfig,
    EBMConfig,
    EncoderConfig,
    EnergyConfig,
    EnsembleConfig,
    GraphConfig,
    HamiltonianConfig,
    HeadsConfig,
    LatentConfig,
    LossConfig,
    OptimConfig,
    RSSMConfig,
    WorldModelConfig,
)
from world_model.model import DreamWorld, Imagination, WorldModel
from world_model.presets import world_model_preset
from world_model.rssm import RSSMState

__all__ = [
    "ContrastiveConfig",
    "DiffusionConfig",
    "DreamWorld",
    "EBMConfig",
    "EncoderConfig",
    "EnergyConfig",
    "EnsembleConfig",
    "GraphConfig",
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
