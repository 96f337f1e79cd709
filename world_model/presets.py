"""Named world-model sizes, each a complete value read top to bottom.

``cpu`` is the class defaults (:class:`WorldModelConfig`), the world model of ``scripts.dream``'s default
``cpu`` preset. Every other preset writes out each field where it differs from them: ``tiny`` (tests,
``scripts.fit_world_model --preset tiny``), ``small`` (``scripts.fit_world_model``'s default), ``S`` and
``M`` (DreamerV3 sizes, GPUs). Those four weigh terminal records like the others in the continue head's
loss (the ``cpu`` model weighs them 10x).
"""

from __future__ import annotations

from envs.errors import UserError
from world_model.config import (
    EncoderConfig,
    HeadsConfig,
    LossConfig,
    OptimConfig,
    RSSMConfig,
    WorldModelConfig,
)

PRESETS: dict[str, WorldModelConfig] = {
    "tiny": WorldModelConfig(
        rssm=RSSMConfig(deter=32, hidden=32, stoch=4, classes=4),
        encoder=EncoderConfig(mlp_units=32, mlp_layers=1, cnn_depth=4),
        heads=HeadsConfig(units=32, layers=1, bins=63),
        loss=LossConfig(terminal_weight=1.0),
        optim=OptimConfig(lr=1e-3),
    ),
    "cpu": WorldModelConfig(),
    "small": WorldModelConfig(
        rssm=RSSMConfig(deter=256, stoch=16, classes=16),
        heads=HeadsConfig(bins=255),
        loss=LossConfig(terminal_weight=1.0),
    ),
    "S": WorldModelConfig(
        rssm=RSSMConfig(deter=512, hidden=512, stoch=32, classes=32),
        encoder=EncoderConfig(mlp_units=512, mlp_layers=2, cnn_depth=32),
        heads=HeadsConfig(units=512, layers=2, bins=255),
        loss=LossConfig(terminal_weight=1.0),
        optim=OptimConfig(lr=1e-4, grad_clip=1000.0),
    ),
    "M": WorldModelConfig(
        rssm=RSSMConfig(deter=1024, hidden=640, stoch=32, classes=32),
        encoder=EncoderConfig(mlp_units=640, mlp_layers=3, cnn_depth=48),
        heads=HeadsConfig(units=640, layers=3, bins=255),
        loss=LossConfig(terminal_weight=1.0),
        optim=OptimConfig(lr=1e-4, grad_clip=1000.0),
    ),
}
"""The presets by name. ``cpu`` equals the defaults of :class:`WorldModelConfig`."""


def world_model_preset(name: str) -> WorldModelConfig:
    """Return the world-model config called ``name`` (``tiny``, ``cpu``, ``small``, ``S`` or ``M``).

    Raises:
        UserError: for an unknown name.
    """
    if name not in PRESETS:
        raise UserError(f"unknown world-model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
