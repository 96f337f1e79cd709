"""Configuration of the world model: nested frozen dataclasses, one per part.

Each part's constructor takes only its own sub-config (``RSSM(cfg.rssm, ...)``); sizes that depend on
the environment (observation shape, action size) are passed separately and never written back here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class RSSMConfig:
    """Recurrent state-space model: deterministic GRU state plus a stochastic latent."""

    deter: int = 256
    """Size of the deterministic recurrent state h (GRU hidden size)."""
    hidden: int = 128
    """Width of the layers around the GRU (input projection, prior and posterior networks)."""
    latent: Literal["categorical", "gaussian"] = "categorical"
    """Stochastic latent kind: several categorical variables (straight-through) or a diagonal Gaussian."""
    stoch: int = 16
    """Number of categorical variables, or number of Gaussian dimensions."""
    classes: int = 16
    """Classes per categorical variable (ignored for the Gaussian latent)."""
    unimix: float = 0.01
    """Mix of the uniform distribution into categorical probabilities (keeps every class possible)."""
    min_std: float = 0.1
    """Smallest standard deviation of the Gaussian latent."""


@dataclass(frozen=True)
class EncoderConfig:
    """Observation encoder and decoder (MLP for state vectors, CNN for pixels); the decoder mirrors it."""

    mlp_units: int = 128
    """Width of the MLP encoder / decoder layers (state observations)."""
    mlp_layers: int = 2
    """Hidden layers of the MLP encoder / decoder."""
    cnn_depth: int = 16
    """Channels of the first CNN layer; each stride-2 layer doubles them (pixel observations)."""
    norm_obs: bool = True
    """State observations: standardise each dimension by running statistics of the training batches
    before symlog, so the decoder weighs dimensions by their spread (low-variance positions matter)."""


@dataclass(frozen=True)
class HeadsConfig:
    """Reward and continue heads on the model feature."""

    units: int = 128
    """Width of the head MLPs."""
    layers: int = 1
    """Hidden layers of the head MLPs."""
    reward: Literal["twohot", "gaussian"] = "twohot"
    """Reward head: two-hot over symlog-spaced bins (DreamerV3) or a unit-variance Gaussian mean."""
    bins: int = 255
    """Number of two-hot bins, spaced evenly in symlog space over [-20, 20]."""


@dataclass(frozen=True)
class LossConfig:
    """Scales of the loss terms and the KL free bits."""

    dyn: float = 0.5
    """Dynamics KL scale: trains the prior towards the (stopped) posterior."""
    rep: float = 0.1
    """Representation KL scale: trains the posterior towards the (stopped) prior."""
    free_nats: float = 1.0
    """Free bits: each step's KL below this many nats gives no gradient."""
    dec: float = 1.0
    """Observation reconstruction scale (objective ``reconstruction``)."""
    latent: float = 1.0
    """Latent prediction scale (objective ``latent``)."""
    reward: float = 1.0
    """Reward head scale."""
    cont: float = 1.0
    """Continue head scale."""
    terminal_weight: float = 1.0
    """Weight of the continue head's loss at terminal records relative to the others (terminal steps are
    about 1% of locomotion data; a larger weight makes the head predict falls instead of averaging
    them away)."""
    probe: float = 1.0
    """Probe decoder scale (objective ``latent``; the probe never trains the model)."""


@dataclass(frozen=True)
class LatentConfig:
    """The latent (JEPA) objective: predict a target encoder's embedding of the next observation."""

    ema: float = 0.99
    """Target encoder update: theta_bar <- ema * theta_bar + (1 - ema) * theta, once per update."""
    var_weight: float = 1.0
    """Weight of a hinge keeping the per-dimension spread of online embeddings up (0 disables)."""
    var_target: float = 0.5
    """Spread the hinge asks for: per-dimension std of unit-norm embeddings times sqrt(dims)."""


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser of the world model."""

    lr: float = 3e-4
    """Adam learning rate."""
    eps: float = 1e-8
    """Adam epsilon."""
    grad_clip: float = 100.0
    """Clip the global gradient norm to this value (0 disables)."""
    weight_decay: float = 0.0
    """Adam(W) weight decay."""


@dataclass(frozen=True)
class WorldModelConfig:
    """A whole world model: sizes of every part, the representation objective, losses, optimiser."""

    objective: Literal["reconstruction", "latent"] = "reconstruction"
    """Representation objective: decode observations (Dreamer), or predict target embeddings (JEPA)."""
    rssm: RSSMConfig = field(default_factory=RSSMConfig)
    """Recurrent state-space model."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Observation encoder / decoder sizes."""
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    """Reward and continue heads."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Loss scales and KL free bits."""
    latent: LatentConfig = field(default_factory=LatentConfig)
    """Options of the latent (JEPA) objective."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser."""
