"""Named world-model sizes: ``tiny`` (tests), ``small`` (CPUs), ``S`` and ``M`` (DreamerV3 sizes, GPUs)."""

from __future__ import annotations

from envs.errors import UserError
from world_model.config import (
    EncoderConfig,
    HeadsConfig,
    OptimConfig,
    RSSMConfig,
    WorldModelConfig,
)

PRESETS: dict[str, WorldModelConfig] = {
    "tiny": WorldModelConfig(
        rssm=RSSMConfig(deter=32, hidden=32, stoch=4, classes=4),
        encoder=EncoderConfig(mlp_units=32, mlp_layers=1, cnn_depth=4),
        heads=HeadsConfig(units=32, layers=1, bins=63),
        optim=OptimConfig(lr=1e-3),
    ),
    "small": WorldModelConfig(),
    "S": WorldModelConfig(
        rssm=RSSMConfig(deter=512, hidden=512, stoch=32, classes=32),
        encoder=EncoderConfig(mlp_units=512, mlp_layers=2, cnn_depth=32),
        heads=HeadsConfig(units=512, layers=2),
        optim=OptimConfig(lr=1e-4, grad_clip=1000.0),
    ),
    "M": WorldModelConfig(
        rssm=RSSMConfig(deter=1024, hidden=640, stoch=32, classes=32),
        encoder=EncoderConfig(mlp_units=640, mlp_layers=3, cnn_depth=48),
        heads=HeadsConfig(units=640, layers=3),
        optim=OptimConfig(lr=1e-4, grad_clip=1000.0),
    ),
}
"""The presets by name. ``small`` equals the defaults of :class:`WorldModelConfig`."""


def world_model_preset(name: str) -> WorldModelConfig:
    """Return the world-model config called ``name`` (``tiny``, ``small``, ``S`` or ``M``).

    Raises:
        UserError: for an unknown name.
    """
    if name not in PRESETS:
        raise UserError(f"unknown world-model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
