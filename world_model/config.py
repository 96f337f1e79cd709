"""Configuration of the world model: nested frozen dataclasses, one per part.

Each part's constructor takes only its own sub-config (``RSSM(cfg.rssm, ...)``); sizes that depend on
the environment (observation shape, action size) are passed separately and never written back here.

The defaults are the world model of ``scripts.dream``'s ``cpu`` preset (the world-model preset ``cpu``);
the other named sizes (``tiny``, ``small``, ``S``, ``M``) are in :mod:`world_model.presets`, each written
out where it differs from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class RSSMConfig:
    """Recurrent state-space model: deterministic GRU state plus a stochastic latent."""

    deter: int = 128
    """Size of the deterministic recurrent state h (GRU hidden size)."""
    hidden: int = 128
    """Width of the layers around the GRU (input projection, prior and posterior networks)."""
    latent: Literal["categorical", "gaussian"] = "categorical"
    """Stochastic latent kind: several categorical variables (straight-through) or a diagonal Gaussian."""
    stoch: int = 8
    """Number of categorical variables, or number of Gaussian dimensions."""
    classes: int = 8
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
    bins: int = 63
    """Number of two-hot bins of the reward head, evenly spaced in symlog space over +-bin_limit."""
    bin_limit: float = 20.0
    """The reward bins span [-bin_limit, bin_limit] in symlog space (20: rewards up to 4.9e8 in size)."""


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
    contrastive: float = 1.0
    """InfoNCE scale (objective ``contrastive``)."""
    reward: float = 1.0
    """Reward head scale."""
    cont: float = 1.0
    """Continue head scale."""
    terminal_weight: float = 10.0
    """Weight of the continue head's loss at terminal records relative to the others (terminal steps are
    about 1% of locomotion data; a larger weight makes the head predict falls instead of averaging
    them away). On Walker2d the unweighted head missed 87-100% of the real falls (P(continue) > 0.5 at
    terminal states), weighted 10x it missed 0-25% (benchmarks/locomotion-ablation)."""
    probe: float = 1.0
    """Probe decoder scale (objectives ``latent`` and ``contrastive``; the probe never trains the model)."""
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
class ContrastiveConfig:
    """The contrastive objective (CPC-style InfoNCE): the model's state must pick out the embedding of the
    observation it leads to among other trajectories' embeddings.

    A query q = g(h) comes from the deterministic state h at step t (it has seen the observations before
    t and the actions up to a_t, never x_t), or from the prior rolled k - 1 more steps under the real
    actions for offsets k > 1; a key comes from the online encoder's embedding of x_t, and

        L = -log exp(sim(q_t, key_t) / tau) / sum_{j in {t} + other sequences} exp(sim(q_t, key_j) / tau)

    with sim the cosine similarity and the negatives j every step of the batch's *other* sequences (the
    same sequence's other steps are left out of the denominator: they are neither the positive nor
    another trajectory). The negatives keep the embedding from collapsing: no target encoder, no EMA.
    """

    temperature: float = 0.1
    """tau of the InfoNCE softmax."""
    dim: int = 64
    """Size of the query and key projections the similarity is computed on."""
    offsets: int = 1
    """Offsets k = 1..offsets between the predicting state and the later observation (k = 1: h_t picks
    x_t; k > 1 rolls the prior k - 1 more steps under the real actions, from starts every ``stride``)."""
    stride: int = 4
    """With offsets > 1: rollouts start every this many steps of each training sequence."""


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

    objective: Literal["reconstruction", "latent", "contrastive"] = "reconstruction"
    """Representation objective: decode observations (Dreamer), predict target embeddings (JEPA), or pick
    the next observation's embedding out of other trajectories' (InfoNCE, ``contrastive.*``)."""
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
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    """Options of the contrastive (InfoNCE) objective."""
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


@dataclass(frozen=True)
class EBMConfig:
    """An energy-based dynamics model on state observations: p(y | s, a) proportional to exp(-E(s, a, y)).

    y is the standardised [observation change, reward]. E(s, a, y, sigma) = ||y - mu(s, a, sigma)||^2 /
    (2 sigma^2) + g(s, a, y, sigma) / sigma, a Gaussian well plus a free energy (two MLPs, g starting at
    0), learned by denoising score matching at ``noise_levels`` noise scales sigma
    (geometric from ``sigma_max`` to ``sigma_min``): for y~ = y + sigma eps the score -dE/dy~ should be
    -(y~ - y) / sigma^2, i.e. the loss is || sigma dE/dy~ - eps ||^2. Predictions are drawn by annealed
    Langevin dynamics, y <- y - alpha_i dE/dy + sqrt(2 alpha_i) xi with alpha_i = step_size (sigma_i /
    sigma_min)^2, from noise through every level, and a last denoising step y <- y - sigma_min^2 dE/dy.
    A separate head gives the continue probability.
    """

    units: int = 200
    """Width of the hidden layers of mu and g (SiLU, no normalisation layers: E must be smooth)."""
    layers: int = 3
    """Hidden layers of mu and of g."""
    sigma_max: float = 1.0
    """Largest noise scale, in standardised units of y (the data's spread is 1)."""
    sigma_min: float = 0.01
    """Smallest noise scale: the noise left in a sample before the last denoising step."""
    noise_levels: int = 8
    """Noise scales, geometric from sigma_max to sigma_min (training draws one per transition)."""
    langevin_steps: int = 5
    """Langevin steps per noise level when sampling (total gradient evaluations: levels x steps + 1)."""
    step_size: float = 2e-5
    """alpha at the smallest noise level; level i takes step_size (sigma_i / sigma_min)^2."""
    sample: bool = True
    """Sample with Langevin noise (draws from the model's distribution); False descends the energy
    without noise (towards a mode)."""
    particles: int = 5
    """Sampled trajectories per evaluation window; errors are averaged over them."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 100.0
    """Clip the global gradient norm to this value (0 disables)."""
    batch_size: int = 256
    """Transitions per update."""


@dataclass(frozen=True)
class DiffusionConfig:
    """A diffusion dynamics model on state observations, with the discrete parts predicted by heads.

    The continuous part x_0 (the standardised observation change) is noised by the forward process
    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (cosine schedule, ``steps`` steps), and a network
    eps_theta(x_t, t, c) conditioned on c = (observation, action) learns the noise:
    L_diffusion = E || eps - eps_theta ||^2. Sampling runs DDIM from pure noise in ``sample_steps`` steps.
    The discrete parts of the step, the reward (two-hot over symlog bins: cross-entropy) and the episode's
    continuation (Bernoulli), come after the continuous block, autoregressively: their heads see
    (observation, action, next observation). Loss: L_discrete + ``diffusion_weight`` L_diffusion.
    """

    units: int = 256
    """Width of the noise network's hidden layers."""
    layers: int = 3
    """Hidden layers of the noise network (Linear -> LayerNorm -> SiLU)."""
    steps: int = 100
    """Diffusion steps T of the training schedule (cosine abar_t)."""
    sample_steps: int = 5
    """DDIM steps when sampling (evenly spaced over T; 1..T)."""
    eta: float = 0.0
    """DDIM noise: 0 is the deterministic sampler (the only randomness is the start noise), 1 is DDPM-like."""
    diffusion_weight: float = 1.0
    """lambda of L_discrete + lambda L_diffusion."""
    head_units: int = 128
    """Width of the reward and continue heads."""
    reward_bins: int = 255
    """Bins of the two-hot reward head, evenly spaced in symlog space over [-20, 20]."""
    particles: int = 5
    """Sampled trajectories per evaluation window; errors are averaged over them."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 100.0
    """Clip the global gradient norm to this value (0 disables)."""
    batch_size: int = 256
    """Transitions per update."""


@dataclass(frozen=True)
class GraphConfig:
    """Momentum conservation by construction for systems of interacting particles (``ParticleSprings``).

    The observation is N particles' positions then velocities (d numbers each), and the masses m_i are
    known (the env's layout). For every pair i < j an MLP of (x_j - x_i, v_j - v_i, |x_j - x_i|, m_i, m_j)
    gives an impulse f_ij, applied antisymmetrically (Newton's third law): dv_i = f_ij / m_i and
    dv_j = -f_ij / m_j, so sum_i m_i v_i is unchanged by every step, whatever the network learned.
    Positions move by the mean of the old and new velocity times a learned time step. ``dynamics: mlp``
    is the unstructured baseline: an MLP from the whole standardised state to its change.
    """

    dynamics: Literal["graph", "mlp"] = "graph"
    """``graph``: pairwise antisymmetric impulses; ``mlp``: an MLP predicting the state's change."""
    units: int = 64
    """Width of the hidden layers (of the pair network, or of the MLP)."""
    layers: int = 2
    """Hidden layers (SiLU)."""
    substeps: int = 1
    """Impulse-and-drift steps per environment step (graph dynamics)."""
    reward_units: int = 64
    """Width of the reward head's two hidden layers (the same head for both dynamics, so that their sizes
    compare by ``units``: 64 for the pair network and 54 for the MLP give 4.8k dynamics parameters each on
    ParticleSprings)."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 256
    """Transitions per update."""
