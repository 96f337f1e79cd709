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
    fresh_start: bool = False
    """Train each replayed sequence's first step as an episode start: its previous action is zeroed and
    its reward not trained. That step already starts from the zero state; with the previous action zeroed
    it is exactly the state an agent takes an episode's first action on, which is otherwise only seen at
    true episode starts (one step in an episode). Measured on Pendulum (3 seeds, 10k): no gain
    (benchmarks/pendulum-starts)."""


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
    energy: float = 0.0
    """Energy-consistency regulariser scale (0 disables): imagined steps are penalised where the model's
    energy change departs from the change that real transitions show for that state and action
    (see ``energy``). Needs energy labels from the simulator (MuJoCo state-observation envs)."""
    energy_head: float = 1.0
    """Scale of the auxiliary energy heads (energy of a state, energy change of a transition), used
    only when ``energy`` > 0."""


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
class EnergyConfig:
    """The energy-consistency regulariser (active when ``loss.energy`` > 0).

    An energy head learns the simulator's energy E(s_t) of real states from the posterior feature; a
    transfer head learns the energy change E(s_{t+1}) - E(s_t) that real transitions show for a state and
    the action taken (actuator work plus dissipation and contact losses, as the simulator books them).
    From posterior states the prior is rolled ``horizon`` steps under the sequence's own actions, and
    each imagined step pays (E_hat(s'_{k+1}) - E_hat(s'_k) - dE_hat(s'_k, a_k))^2, both heads frozen and
    the target stopped: only the dynamics move.
    """

    units: int = 128
    """Width of the energy and transfer heads."""
    layers: int = 2
    """Hidden layers of the energy and transfer heads."""
    horizon: int = 8
    """Imagined steps penalised from each start state."""
    stride: int = 4
    """Imagination starts every this many steps of each training sequence."""
    min_change_scale: float = 0.01
    """Floor of the energy-change scale (the unit of the transfer head and of the penalty), as a fraction
    of the energy's standard deviation: in a conservative system real changes are ~0 and would make any
    mismatch infinitely costly."""


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
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    """Options of the energy-consistency regulariser (``loss.energy`` > 0)."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser."""


@dataclass(frozen=True)
class EnsembleConfig:
    """A PETS-style probabilistic ensemble on state observations (Chua et al. 2018).

    Each member is an MLP from the standardised (observation, action) to a diagonal Gaussian over the
    standardised (observation change, reward), plus a continue logit. Its log-variance is soft-clamped
    between a learned maximum and minimum (log_var <- max - softplus(max - log_var), then
    min + softplus(log_var - min)); the bounds are trained with a small penalty pulling them together.
    Members differ by their initialisation and (``bootstrap``) by drawing their minibatches independently.
    """

    members: int = 5
    """Ensemble members."""
    units: int = 200
    """Width of each member's hidden layers."""
    layers: int = 4
    """Hidden layers of each member (SiLU)."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 5e-5
    """L2 penalty on the weights (Adam's coupled weight decay)."""
    batch_size: int = 256
    """Transitions per member per update."""
    bootstrap: bool = True
    """Give each member its own minibatch, drawn from the replay independently of the others' (the
    online stand-in for PETS' per-member resamples); else all members train on the same minibatch."""
    max_log_var: float = 0.5
    """Initial learned upper bound of the log-variance (standardised units)."""
    min_log_var: float = -10.0
    """Initial learned lower bound of the log-variance."""
    bound_weight: float = 0.01
    """Penalty weight on (max bound - min bound) of the log-variance."""
    propagation: Literal["tsinf", "ts1", "mean"] = "tsinf"
    """Trajectory sampling: ``tsinf`` binds each particle to one member for the whole rollout (TS-inf),
    ``ts1`` redraws the member at every step (TS-1), ``mean`` rolls the mean of the members' means."""
    sample: bool = True
    """Draw each next state from the member's Gaussian (PETS); False takes its mean."""
    particles: int = 5
    """Particles per evaluation window; errors are averaged over them (each is a sampled trajectory)."""

    @property
    def transitions_per_update(self) -> int:
        """Replayed transitions one update takes: ``batch_size`` per member (``bootstrap``) or in all."""
        return self.batch_size * (self.members if self.bootstrap else 1)


@dataclass(frozen=True)
class HamiltonianConfig:
    """A Hamiltonian dynamics model for conservative systems whose observation is (q, p).

    The observation is read as n generalised coordinates q followed by their n momenta p. The model
    learns a separable H(q, p) = T(p) + V(q) (two MLPs) and steps with the leapfrog (Stormer-Verlet)
    integrator, which is symplectic: the learned H is conserved up to a bounded oscillation. Actions
    are ignored (torque-free systems). ``dynamics: mlp`` is the unstructured baseline that predicts the
    change of (q, p) directly, with the same input features.
    """

    dynamics: Literal["hamiltonian", "mlp"] = "hamiltonian"
    """``hamiltonian``: learned H + leapfrog; ``mlp``: an MLP predicting (dq, dp)."""
    units: int = 64
    """Width of the hidden layers (of T and V each, or of the MLP)."""
    layers: int = 2
    """Hidden layers (SiLU, no normalisation layers: H must be smooth)."""
    angles: bool = True
    """q are angles: the networks see (cos q, sin q) instead of q (periodic potential)."""
    substeps: int = 1
    """Leapfrog steps per environment step (step size 1 / substeps in the model's time unit)."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 256
    """Transitions per update."""
