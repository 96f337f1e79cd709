"""Dreamer agent: a policy learned inside the world model's imagination (actor-critic on latent states).

Per update: the world model learns from a replayed batch; from a random subset of ``imag_starts`` of its
posterior states (0: all) the actor's actions are imagined ``horizon`` steps forward through the frozen
learned dynamics; the critic regresses two-hot symlog targets onto lambda-returns bootstrapped with the
online critic (``slow_target``: the slow one), regularised towards the slow critic, plus a loss on
lambda-returns of the real replayed rewards (``replay_value``); the actor follows REINFORCE on the stopped
imagined states with advantages normalised by the return range (``actor_grad: dynamics`` backpropagates
the returns through the dynamics instead), plus an entropy bonus."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from agents.acting import observe_step
from agents.checkpoint import merge_parts
from agents.diagnostics import value_diagnostics
from agents.returns import (
    ReturnNormalizer,
    SpreadNormalizer,
    discount_weights,
    lambda_return,
    replay_lambda_return,
)
from agents.world_model_agent import ModelLearner
from envs.episode import Episode, SequenceBatch, StepObs
from envs.errors import UserError
from world_model import DiffusionConfig, DreamWorld, WorldModel, WorldModelConfig
from world_model.diffusion import DiffusionDynamicsModel
from world_model.distributions import TwoHotDist, symlog_bins
from world_model.learner import WorldModelLearner
from world_model.networks import adam, clip_grad_norm, ema_update, mlp, step_if_finite
from world_model.state_fit import build_state_model
from world_model.state_imagination import StateModelDreamLearner, StateSpaceWorldModel

DreamFamily = Literal["rssm", "diffusion"]
"""The dynamics a Dreamer agent imagines through: the RSSM's latent state, or a diffusion model of the
state observation (:mod:`world_model.state_imagination`)."""


@dataclass(frozen=True)
class ActorCriticConfig:
    """Actor-critic learned in imagination.

    The defaults are the ``cpu`` preset's (``scripts.dream``'s defaults), chosen by the Walker2d ablation in
    benchmarks/locomotion-ablation/ (2 seeds per setting): REINFORCE on stopped imagined states with a
    bounded normal policy, lambda-returns bootstrapped by the online critic with a slow-critic regulariser,
    and the replay value loss. The previous defaults (dynamics backprop, tanh-normal, slow-critic targets,
    no real-data value loss) overestimated values 2x by 10k steps, saturated their actions and collapsed.
    The ``dreamerv3`` preset (agents/configs.py) lists every field where it differs.
    """

    # 128 imagination starts and 63 critic bins (DreamerV3: all B*T starts, 255 bins): about half the
    # actor-critic's cost (chosen for cost, not ablated alone). gamma 0.99 and a faster critic than
    # DreamerV3's (0.997, 3e-5): with few updates the critic of gamma 0.997 lags (InvertedPendulum
    # stalled). Gradient clip 10 for actor and critic (DreamerV3: 100).
    horizon: int = 15
    """Imagination horizon (steps of the learned dynamics per start state)."""
    imag_starts: int = 128
    """Posterior states imagination starts from, drawn at random from the B*T of the batch (0: all)."""
    gamma: float = 0.99
    """Discount per agent step."""
    lam: float = 0.95
    """Lambda of the TD(lambda) returns."""
    hidden: int = 128
    """Hidden width of the actor and critic MLPs."""
    layers: int = 2
    """Hidden layers of the actor and critic MLPs."""
    actor_lr: float = 1e-4
    """Actor learning rate (Adam)."""
    critic_lr: float = 3e-4
    """Critic learning rate (Adam)."""
    adam_eps: float = 1e-5
    """Adam epsilon for actor and critic."""
    grad_clip: float = 10.0
    """Global gradient-norm clip for actor and critic."""
    actor_grad: Literal["reinforce", "dynamics"] = "reinforce"
    """Actor gradient: ``reinforce`` (score function on stopped imagined states, advantages against the
    critic; imagination runs without a graph) or ``dynamics`` (backpropagate the returns through the
    learned dynamics into the actions)."""
    actor_dist: Literal["normal", "tanh_normal"] = "normal"
    """Action distribution: ``normal`` (mean tanh(mu), bounded std; samples clipped to [-1, 1] like the
    env clips them) or ``tanh_normal`` (a Gaussian squashed by tanh)."""
    actor_out_scale: float = 0.01
    """Scale of the initial weights of the actor's output layer (small: near-zero mean actions, the
    largest std, at the start)."""
    entropy: float = 3e-4
    """Entropy bonus weight (advantages are normalised, so one value serves all reward scales); with
    --agent.entropy-target, its starting value."""
    entropy_target: float | None = None
    """Entropy per action dimension (nats) to hold the actor at: the entropy bonus's weight is then
    adapted after each update, log w += entropy_rate x (target - the imagined states' mean entropy per
    dimension), within [1e-8, 1], as SAC adapts its temperature (the Normal's entropy per dimension is
    1.42 + ln std: std 0.2 is -0.19 nats, std 0.5 0.73). None: the weight stays --agent.entropy."""
    entropy_rate: float = 1e-3
    """Step size of the entropy weight's adaptation (per update, on its log) under --agent.entropy-target:
    1e-3 moves the weight by a factor e in about 1,000 updates one nat off the target."""
    min_std: float = 0.1
    """Smallest standard deviation of the actor's Gaussian."""
    max_std: float = 1.0
    """Largest standard deviation of the actor's Gaussian."""
    eval_action: Literal["mode", "mean", "sample"] = "mode"
    """Action taken when acting deterministically (evaluation): ``mode`` tanh(mu); ``mean`` the expected
    executed action E[squash(u)] (for ``normal`` E[clip(u)] in closed form, which differs from tanh(mu)
    where the Gaussian reaches past a bound); ``sample`` a draw, as in training (not deterministic)."""
    critic_bins: int = 63
    """Number of two-hot bins of the critic (evenly spaced in symlog space)."""
    critic_bin_limit: float = 20.0
    """The critic's bins span [-limit, limit] in symlog space (20: values up to 4.9e8 in size)."""
    slow_critic_decay: float = 0.98
    """EMA decay of the slow critic per update."""
    slow_target: bool = False
    """Bootstrap the lambda-returns with the slow critic (else with the online critic)."""
    slow_reg: float = 1.0
    """Weight of the critic's regulariser towards the slow critic's predictions (0: none)."""
    replay_value: float = 0.3
    """Weight of the critic's loss on real replayed sequences: lambda-returns of the real rewards and
    terminals, bootstrapped with the imagined returns of each real state (0: imagination only)."""
    replay_value_wm: float = 0.0
    """Weight of a replay value loss whose gradient trains the world model (the critic frozen), added to
    its loss in the same step: the real states' lambda-returns (bootstrapped with the critic, as the
    imagined returns come after the world model's step) scored by the critic on the posterior features
    with their graph, so that the representation learns what predicts value (DreamerV3's 2024 code lets
    its replay value loss reach the world model). 0: the features are stopped (RSSM family only)."""
    return_norm_decay: float = 0.99
    """EMA decay of the 5th-95th percentile return range used to normalise advantages."""
    advantage_norm: Literal["return_range", "advantage_spread"] = "return_range"
    """What the actor's advantages are divided by: ``return_range`` max(1, S), S the running 5th-95th
    percentile range of the lambda-returns (DreamerV3); ``advantage_spread`` the running standard
    deviation of the advantages themselves (decay ``return_norm_decay``), which holds the entropy bonus's
    weight against the policy gradient fixed while the returns grow (a lever of benchmarks/locomotion-levers,
    not screened yet)."""
    first_looks: int = 2
    """Posterior steps on an episode's first observation before its first action (acting only: the
    actor's, and the planner's in scripts.mpc, which acts by the same rule). 2 (the default): a second
    look, as if the env had been there one step before under a zero action; after one look the latent
    hardly tells the actor the state (Pendulum's first action barely depends on it; two looks were better
    on 11 of 12 checkpoints, benchmarks/pendulum-starts). 1: one look."""

    def __post_init__(self) -> None:
        checks = {
            "horizon >= 1": self.horizon >= 1,
            "imag_starts >= 0": self.imag_starts >= 0,
            "0 < gamma <= 1": 0 < self.gamma <= 1,
            "0 <= lam <= 1": 0 <= self.lam <= 1,
            "hidden >= 1 and layers >= 0": self.hidden >= 1 and self.layers >= 0,
            "actor_lr > 0 and critic_lr > 0": self.actor_lr > 0 and self.critic_lr > 0,
            "grad_clip > 0": self.grad_clip > 0,
            "actor_out_scale > 0": self.actor_out_scale > 0,
            "entropy >= 0": self.entropy >= 0,
            "entropy in [1e-8, 1] and entropy_rate > 0 with entropy_target": self.entropy_target is None
            or (1e-8 <= self.entropy <= 1.0 and self.entropy_rate > 0),
            "0 < min_std <= max_std": 0 < self.min_std <= self.max_std,
            "critic_bins >= 2": self.critic_bins >= 2,
            "critic_bin_limit > 0": self.critic_bin_limit > 0,
            "0 <= slow_critic_decay < 1": 0 <= self.slow_critic_decay < 1,
            "slow_reg >= 0 and replay_value >= 0": self.slow_reg >= 0 and self.replay_value >= 0,
            "replay_value_wm >= 0": self.replay_value_wm >= 0,
            "0 <= return_norm_decay < 1": 0 <= self.return_norm_decay < 1,
            "first_looks >= 1": self.first_looks >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise UserError(f"actor-critic config needs {', '.join(bad)}")


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite.hermgauss(16)
"""Gauss-Hermite rule: E[f(z)], z ~ N(0, 1), is sum_i w_i f(sqrt(2) x_i) / sqrt(pi) (exact for f a
polynomial of degree < 32)."""
SATURATED = 0.95
"""An action dimension counts as saturated where the policy's mean action |tanh(mu)| exceeds this."""


class ActionDist:
    """The actor's distribution over actions in [-1, 1] at a batch of states (..., A).

    ``normal``: ``u ~ N(tanh(mu), std)``, the action is ``clip(u, -1, 1)``. ``tanh_normal``:
    ``u ~ N(mu, std)``, the action is ``tanh(u)``. Samples return the pre-squash ``u`` too, which
    :meth:`log_prob` scores.
    """

    def __init__(self, mu: Tensor, std: Tensor, tanh: bool) -> None:
        self.mu, self.std, self.tanh = mu, std, tanh
        self.loc = mu if tanh else torch.tanh(mu)

    def squash(self, u: Tensor) -> Tensor:
        """Actions (..., A) in [-1, 1] from raw samples ``u``."""
        return torch.tanh(u) if self.tanh else u.clamp(-1.0, 1.0)

    def mode(self) -> Tensor:
        """(..., A) the deterministic action ``tanh(mu)``."""
        return torch.tanh(self.mu)

    def mean(self) -> Tensor:
        """(..., A) the expected action E[squash(u)].

        ``normal``: E[clip(u, -1, 1)] for u ~ N(m, s), in closed form with a = (-1 - m) / s,
        b = (1 - m) / s: ``m (Phi(b) - Phi(a)) + s (phi(a) - phi(b)) - Phi(a) + 1 - Phi(b)``.
        ``tanh_normal``: E[tanh(u)] by 16-point Gauss-Hermite quadrature.
        """
        m, s = self.loc, self.std
        if self.tanh:
            nodes = torch.as_tensor(_HERMITE_NODES * math.sqrt(2.0), dtype=m.dtype, device=m.device)
            weights = torch.as_tensor(_HERMITE_WEIGHTS / math.sqrt(math.pi), dtype=m.dtype, device=m.device)
            return (torch.tanh(m.unsqueeze(-1) + s.unsqueeze(-1) * nodes) * weights).sum(-1)
        a, b = (-1.0 - m) / s, (1.0 - m) / s
        cdf_a, cdf_b = torch.special.ndtr(a), torch.special.ndtr(b)
        pdf_a, pdf_b = _INV_SQRT_2PI * torch.exp(-0.5 * a * a), _INV_SQRT_2PI * torch.exp(-0.5 * b * b)
        return m * (cdf_b - cdf_a) + s * (pdf_a - pdf_b) - cdf_a + (1.0 - cdf_b)

    def rsample(self) -> tuple[Tensor, Tensor]:
        """A reparameterised sample: (action, raw u), each (..., A)."""
        u = self.loc + self.std * torch.randn_like(self.loc)
        return self.squash(u), u

    def log_prob(self, u: Tensor) -> Tensor:
        """(...) log-density of the actions whose raw samples are ``u`` (..., A), summed over A."""
        logp = -0.5 * ((u - self.loc) / self.std).square() - self.std.log() - _HALF_LOG_2PI
        if self.tanh:  # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u))
            logp = logp - 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        return logp.sum(-1)

    def entropy(self, u: Tensor | None = None) -> Tensor:
        """(...) entropy of the action distribution.

        ``normal``: the Gaussian's, exact (``u`` is ignored). ``tanh_normal``: the Gaussian's plus a
        one-sample estimate of E[log |d tanh(u) / du|] (the squashed density is N(u) / |tanh'(u)|). The
        sample must carry the graph of a reparameterised draw, or the estimate has no gradient towards the
        bounds: ``u`` is such a draw (e.g. the one an action was taken with, inside a graph), and with
        ``u=None`` a fresh draw is made here. A sample with stopped gradients (as the REINFORCE actor
        stores) must not be passed: its expected gradient through ``mu`` and ``std`` is zero.
        """
        gauss = (self.std.log() + 0.5 + _HALF_LOG_2PI).sum(-1)
        if not self.tanh:
            return gauss
        if u is None:
            u = self.rsample()[1]
        log_det = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        return gauss + log_det.sum(-1)

    def act(self, how: str) -> Tensor:
        """(..., A) an action: ``mode`` (tanh(mu)), ``mean`` (:meth:`mean`) or ``sample`` (a draw)."""
        if how == "mode":
            return self.mode()
        if how == "mean":
            return self.mean()
        if how == "sample":
            return self.rsample()[0]
        raise ValueError(f"unknown action choice {how!r}")

    def saturated(self) -> Tensor:
        """() fraction of action dimensions whose mean action is beyond :data:`SATURATED` in size."""
        return (self.mode().abs() > SATURATED).float().mean()


class Actor(nn.Module):
    """Gaussian policy over actions in [-1, 1] (see :class:`ActionDist`), an MLP of the model feature."""

    def __init__(self, feat_dim: int, action_dim: int, cfg: ActorCriticConfig):
        """Build the actor MLP ``feat (.., F) -> (mu, std) (.., A)``, output layer scaled down."""
        super().__init__()
        self.net = mlp(feat_dim, 2 * action_dim, units=cfg.hidden, layers=cfg.layers)
        out = self.net[-1]
        assert isinstance(out, nn.Linear)
        with torch.no_grad():
            out.weight.mul_(cfg.actor_out_scale)
            out.bias.zero_()
        self.min_std, self.max_std = cfg.min_std, cfg.max_std
        self.tanh = cfg.actor_dist == "tanh_normal"
        self.eval_action = cfg.eval_action

    def forward(self, feat: Tensor) -> ActionDist:
        """The action distribution at states ``feat`` (.., F)."""
        mu, raw = self.net(feat).chunk(2, dim=-1)
        std = self.min_std + (self.max_std - self.min_std) * torch.sigmoid(raw + 2.0)
        return ActionDist(mu, std, self.tanh)

    def dist(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """Mean parameter ``mu`` and standard deviation (.., A) of the Gaussian."""
        d = self(feat)
        return d.mu, d.std

    def sample(self, feat: Tensor) -> Tensor:
        """Reparameterised action sample (.., A) in [-1, 1]."""
        return self(feat).rsample()[0]

    def mode(self, feat: Tensor) -> Tensor:
        """Deterministic action (.., A): ``tanh(mu)``."""
        return self(feat).mode()

    def eval_act(self, feat: Tensor) -> Tensor:
        """The action (.., A) of deterministic acting, as ``eval_action`` of the config chooses."""
        return self(feat).act(self.eval_action)

    def sample_with_entropy(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """A reparameterised sample (.., A) and the entropy (..) of the distribution it came from."""
        d = self(feat)
        action, u = d.rsample()
        return action, d.entropy(u)


class Critic(nn.Module):
    """Value of latent states as a two-hot distribution over symlog-spaced bins."""

    bins: Tensor

    def __init__(self, feat_dim: int, cfg: ActorCriticConfig):
        """Build the critic MLP ``feat (.., F) -> logits (.., bins)``, last layer zero-initialised."""
        super().__init__()
        self.net = mlp(feat_dim, cfg.critic_bins, units=cfg.hidden, layers=cfg.layers, zero_out=True)
        self.register_buffer(
            "bins", symlog_bins(cfg.critic_bins, -cfg.critic_bin_limit, cfg.critic_bin_limit)
        )

    def forward(self, feat: Tensor) -> TwoHotDist:
        """Value distribution of states ``feat`` (.., F)."""
        return TwoHotDist(self.net(feat), self.bins)


class DreamerState(NamedTuple):
    """Recurrent acting state of N envs: the model's latent and the previous action (N, A)."""

    latent: Any
    action: Tensor


@contextlib.contextmanager
def _frozen(*modules: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into the parameters of ``modules`` (gradients still flow through them)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class EntropyWeight(nn.Module):
    """The entropy bonus's weight, adapted to hold the actor's entropy at a target.

    A dual step on the log weight after each update: log w += rate x (target - entropy per action
    dimension), so the weight grows while the policy is narrower than the target and shrinks while it is
    wider, whatever the scale of the advantages it competes with. Kept within [1e-8, 1]; a non-finite
    entropy leaves it as it was. A buffer: device-side, no host syncs, saved with ``state_dict``.
    """

    log_weight: Tensor
    BOUNDS = (math.log(1e-8), 0.0)

    def __init__(self, initial: float, target: float, rate: float):
        """Start at weight ``initial`` and adapt towards entropy ``target`` (nats per dimension)."""
        super().__init__()
        self.target, self.rate = target, rate
        self.register_buffer("log_weight", torch.tensor(math.log(initial)))

    def forward(self) -> Tensor:
        """() the current weight."""
        return self.log_weight.exp()

    @torch.no_grad()
    def update(self, entropy_per_dim: Tensor) -> None:
        """One dual step from the mean entropy per action dimension of the last update's states."""
        step = torch.nan_to_num(self.rate * (self.target - entropy_per_dim.float()), 0.0, 0.0, 0.0)
        self.log_weight.add_(step).clamp_(*self.BOUNDS)


class DreamerAgent:
    """World model + imagination-trained actor-critic; implements :class:`envs.Policy`.

    Acting never trains; only :meth:`update` changes parameters.
    """

    def __init__(
        self,
        world_model: DreamWorld,
        learner: ModelLearner,
        cfg: ActorCriticConfig,
        action_dim: int,
        *,
        device: torch.device,
        amp: bool = False,
    ):
        """Wrap a world model (already on ``device``) and its learner, and build the actor-critic.

        Args:
            world_model: the model acted and imagined with.
            learner: its optimiser wrapper (``update(batch) -> (metrics, post)``).
            cfg: actor-critic settings.
            action_dim: A.
            device: device of every module and of the batches passed to :meth:`update`.
            amp: run forward passes under bfloat16 autocast (CUDA only).
        """
        self.cfg, self.action_dim, self.device = cfg, action_dim, device
        self.world_model, self.learner = world_model, learner
        feat_dim = world_model.feat_dim
        self.actor = Actor(feat_dim, action_dim, cfg).to(device)
        self.critic = Critic(feat_dim, cfg).to(device)
        self.target_critic = Critic(feat_dim, cfg).to(device)
        self.target_critic.load_state_dict(self.critic.state_dict())
        self.target_critic.requires_grad_(False)
        self.normalizer = ReturnNormalizer(decay=cfg.return_norm_decay).to(device)
        self.spread = (
            SpreadNormalizer(decay=cfg.return_norm_decay).to(device)
            if cfg.advantage_norm == "advantage_spread"
            else None
        )
        self.entropy_weight = (
            EntropyWeight(cfg.entropy, cfg.entropy_target, cfg.entropy_rate).to(device)
            if cfg.entropy_target is not None
            else None
        )
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr, eps=cfg.adam_eps)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr, eps=cfg.adam_eps)
        self.amp = amp and device.type == "cuda"
        self.updates = 0

    @classmethod
    def build(
        cls,
        wm_cfg: WorldModelConfig,
        cfg: ActorCriticConfig,
        obs_shape: tuple[int, ...],
        action_dim: int,
        *,
        device: torch.device,
        amp: bool = False,
        energy_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        family: DreamFamily = "rssm",
        diffusion: DiffusionConfig | None = None,
    ) -> DreamerAgent:
        """Build the world model, its learner and the actor-critic on ``device``.

        ``energy_fn`` (observations -> simulator energies) labels the batches of the world model's
        energy-consistency regulariser; needed when ``wm_cfg.loss.energy`` > 0. ``family="diffusion"``
        builds the diffusion model of the state observation (``diffusion``'s settings) in place of the
        RSSM (``wm_cfg`` is then unused).
        """
        if family == "diffusion":
            dyn, state_learner = build_state_model(
                "diffusion", obs_shape, action_dim, diffusion=diffusion or DiffusionConfig()
            )
            assert isinstance(dyn, DiffusionDynamicsModel)
            world = StateSpaceWorldModel(dyn.to(device))
            return cls(world, StateModelDreamLearner(state_learner), cfg, action_dim, device=device, amp=amp)
        model = WorldModel(wm_cfg, obs_shape, action_dim).to(device)
        learner = WorldModelLearner(model, wm_cfg, energy_fn=energy_fn)
        return cls(model, learner, cfg, action_dim, device=device, amp=amp)

    def compile(self, **options: Any) -> None:
        """``torch.compile`` the step functions of the world model's loops (observe, imagine), the actor
        and the critic; ``options`` go to ``torch.compile`` (default: static shapes, and on CUDA
        ``mode="reduce-overhead"``: CUDA graphs, as a run's shapes do not change)."""
        options.setdefault("dynamic", False)
        if self.device.type == "cuda" and "backend" not in options:
            options.setdefault("mode", "reduce-overhead")
        self.world_model.compile_steps(**options)
        self.actor.compile(**options)
        self.critic.compile(**options)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ acting
    @torch.inference_mode()
    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        """Actions (N, A) float32 in [-1, 1] for N envs; resets the latent where ``obs.is_first``."""
        fresh = not isinstance(state, DreamerState)  # None, or the state of another policy (prefill)
        with self._autocast():
            latent, _ = observe_step(
                self.world_model,
                None if fresh else state.latent,
                None if fresh else state.action,
                obs,
                self.device,
                self.action_dim,
                looks=self.cfg.first_looks,
            )
            feat = self.world_model.feat(latent)
            action = self.actor.eval_act(feat) if deterministic else self.actor.sample(feat)
        if action.dtype != torch.float32:
            action = action.float()
        out = action.numpy() if action.device.type == "cpu" else action.cpu().numpy()
        return out.copy(), DreamerState(latent, action)

    def value(self, feat: Tensor) -> Tensor:
        """(..) the critic's expected value of states with features ``feat`` (.., F)."""
        return self.critic(feat).mean()

    def diagnose(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """Critic and continue head on real episodes (see :mod:`agents.diagnostics`)."""
        with self._autocast():
            return value_diagnostics(
                self.world_model, self.value, episodes, gamma=self.cfg.gamma, device=self.device
            )

    # ---------------------------------------------------------------- learning
    def update(self, batch: SequenceBatch[Tensor]) -> dict[str, float]:
        """One world-model update, then one actor and one critic update from imagination (and replay).

        Args:
            batch: (B, T, ...) sequences on ``self.device``.

        Returns:
            Metrics under ``wm/``, ``actor/``, ``critic/`` (floats; one host sync at the end).
        """
        t_start = time.perf_counter()
        with self._autocast():
            if self.cfg.replay_value_wm > 0:
                assert isinstance(self.learner, WorldModelLearner)  # DreamConfig refuses the state families
                wm_metrics, post = self.learner.update(batch, extra=partial(self.replay_value_wm_loss, batch))
            else:
                wm_metrics, post = self.learner.update(batch)  # returns floats: the device has synced
        t_wm = time.perf_counter()
        cfg = self.cfg
        start = post.flatten()  # (B*T, ...)
        start_cont = 1.0 - batch.terminated.reshape(-1).float()
        n = start_cont.shape[0]
        idx: Tensor | None = None
        if 0 < cfg.imag_starts < n:
            idx = torch.randperm(n, device=start_cont.device)[: cfg.imag_starts]
            start = start.map(lambda x: x[idx])
            start_cont = start_cont[idx]
        with self._autocast(), _frozen(self.world_model):
            out = self.imagine_losses(start, start_cont)
            critic_loss = out["critic_loss"]
            if cfg.replay_value > 0:
                with torch.no_grad():
                    real_feat = self.world_model.feat(post).float()  # (B, T, F)
                rep = self.replay_value_loss(real_feat, batch, out["return"][:, 0], idx)
                critic_loss = critic_loss + cfg.replay_value * rep["loss"]
        self.actor_opt.zero_grad(set_to_none=True)
        out["actor_loss"].backward()
        actor_norm = clip_grad_norm(self.actor.parameters(), cfg.grad_clip)
        actor_stepped = step_if_finite(self.actor_opt, actor_norm)  # non-finite gradients: skipped
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_norm = clip_grad_norm(self.critic.parameters(), cfg.grad_clip)
        critic_stepped = step_if_finite(self.critic_opt, critic_norm)
        ema_update(self.target_critic, self.critic, cfg.slow_critic_decay)
        if self.entropy_weight is not None:
            self.entropy_weight.update(out["entropy"].mean() / self.action_dim)
        self.updates += 1

        named = {
            "actor/loss": out["actor_loss"].detach(),
            "actor/grad_norm": actor_norm,
            "actor/entropy": out["entropy"].mean(),
            "actor/saturated": out["saturated"],
            "actor/return_scale": out["scale"],
            "actor/return_mean": out["return"].mean(),
            "actor/advantage_std": out["advantage"].std(),
            "critic/loss": out["critic_loss"].detach(),
            "critic/grad_norm": critic_norm,
            "critic/value_mean": out["value"].mean(),
            "actor/imag_reward_mean": out["reward"].mean(),
            "actor/imag_cont_mean": out["cont"].mean(),
        }
        if self.entropy_weight is not None:
            named["actor/entropy_weight"] = self.entropy_weight()
        if cfg.replay_value > 0:
            named["critic/replay_loss"] = rep["loss"].detach()
            named["critic/replay_return_mean"] = rep["return_mean"]
        stats = torch.stack([v.detach().float() for v in named.values()]).tolist()
        metrics = dict(wm_metrics)
        metrics.update(zip(named, stats, strict=True))
        metrics["actor/skipped"] = 0.0 if actor_stepped else 1.0
        metrics["critic/skipped"] = 0.0 if critic_stepped else 1.0
        t_end = time.perf_counter()  # after .tolist(): the actor-critic work has finished
        metrics["time/wm_update_ms"] = 1000.0 * (t_wm - t_start)
        metrics["time/ac_update_ms"] = 1000.0 * (t_end - t_wm)
        return metrics

    def replay_value_wm_loss(
        self, batch: SequenceBatch[Tensor], post: Any
    ) -> tuple[Tensor, dict[str, float]]:
        """The world model's replay value term: ``replay_value_wm`` x the critic's loss on real
        lambda-returns at the posterior features of ``batch`` (with their graph; the critic frozen and
        bootstrapped with its own values, no imagination yet), and its metric ``wm/replay_value_loss``."""
        feat = self.world_model.feat(post).float()  # (B, T, F), graph into the world model
        with _frozen(self.critic):
            loss = self.replay_value_loss(feat, batch, None, None)["loss"]
        return self.cfg.replay_value_wm * loss, {"wm/replay_value_loss": float(loss.detach())}

    def _bootstrap_critic(self) -> Critic:
        return self.target_critic if self.cfg.slow_target else self.critic

    def imagine_losses(self, start: Any, start_cont: Tensor) -> dict[str, Tensor]:
        """Imagine from ``start`` with the actor and compute the actor and critic losses.

        Call with the world model's parameters frozen. With ``actor_grad="reinforce"`` the imagination
        runs without a graph and the actor learns from ``log pi(a_t | s_t) * (R_t - v(s_t)) / S``; with
        ``"dynamics"`` its gradient flows from the returns through the imagined states into the actions.

        Args:
            start: (N, ...) latent start states (detached posteriors).
            start_cont: (N,) 1 where the start state is not terminal (0 gives its trajectory no weight).

        Returns:
            ``actor_loss``, ``critic_loss`` (scalars with graphs into actor / critic) and detached
            ``return`` (N, H), ``advantage`` (N, H), ``weight`` (N, H), ``value`` (N, H+1), ``reward``,
            ``cont`` (N, H), ``entropy`` (N, H), ``scale`` (), ``saturated`` ().
        """
        cfg = self.cfg
        reinforce = cfg.actor_grad == "reinforce"
        raws: list[Tensor] = []
        entropies: list[Tensor] = []

        def policy(f: Tensor) -> Tensor:
            d = self.actor(f)
            action, u = d.rsample()
            raws.append(u)
            if not reinforce:  # the entropy of the action taken, without a second actor pass
                entropies.append(d.entropy(u))
            return action

        with torch.no_grad() if reinforce else contextlib.nullcontext():
            imag = self.world_model.imagine(start, policy, cfg.horizon)
            feat = imag.feat  # (N, H+1, F)
            # contiguous copy: a Linear on a strided 3-d slice runs as a slow batched matmul on CPU
            here = feat[:, :-1].contiguous()  # (N, H, F) states t
            reward, cont = self.world_model.outcomes(imag)  # (N, H) of arriving in states t + 1
            reward, cont = reward.float(), cont.float()
        critic = self._bootstrap_critic()
        online: TwoHotDist | None = None  # the online critic's output on (N, H) states, with its graph
        if reinforce and critic is self.critic:
            # one pass serves both: the bootstrap values (detached) and the critic's loss
            full = self.critic(feat)
            value = full.mean().detach().float()  # (N, H+1)
            online = TwoHotDist(full.logits[:, :-1], full.bins)
        else:
            # dynamics: the bootstrap values pass their gradient through the imagined states (not the critic)
            with torch.no_grad() if reinforce else _frozen(critic):
                value = critic(feat).mean().float()  # (N, H+1)
        ret = lambda_return(reward, value, cont, gamma=cfg.gamma, lam=cfg.lam)  # (N, H)
        weight = (start_cont.unsqueeze(1) * discount_weights(cont, gamma=cfg.gamma)).detach()
        self.normalizer.update(ret)
        scale = self.normalizer.scale()
        if self.spread is not None:
            self.spread.update(ret - value[:, :-1])
            scale = self.spread.scale()
        advantage = (ret - value[:, :-1]).detach() / scale
        entropy_weight = cfg.entropy if self.entropy_weight is None else self.entropy_weight()
        if reinforce:
            dist = self.actor(here)
            u = torch.stack(raws, 1)  # (N, H, A), drawn without a graph: scored, not differentiated
            entropy = dist.entropy()  # a fresh reparameterised draw where the estimate needs one
            actor_obj = dist.log_prob(u) * advantage + entropy_weight * entropy
            saturated = dist.saturated().detach()
        else:
            entropy = torch.stack(entropies, 1)
            actor_obj = ret / scale + entropy_weight * entropy
            with torch.no_grad():
                saturated = self.actor(here.detach()).saturated()
        actor_loss = -(weight * actor_obj).mean()
        critic_loss = self._critic_loss(here.detach(), ret.detach(), weight, online)
        return {
            "actor_loss": actor_loss,
            "critic_loss": critic_loss,
            "return": ret.detach(),
            "advantage": advantage,
            "weight": weight,
            "value": value.detach(),
            "reward": reward.detach(),
            "cont": cont.detach(),
            "entropy": entropy.detach(),
            "scale": scale,
            "saturated": saturated,
        }

    def _critic_loss(
        self, feat: Tensor, target: Tensor, weight: Tensor, dist: TwoHotDist | None = None
    ) -> Tensor:
        """Weighted two-hot NLL of ``target`` (...) at states ``feat`` (..., F), plus the slow regulariser.

        ``dist`` is the critic's output at ``feat`` where the caller has it already.
        """
        if dist is None:
            dist = self.critic(feat)
        nll = -dist.log_prob(target)
        if self.cfg.slow_reg > 0:
            with torch.no_grad():
                slow = self.target_critic(feat).mean()
            nll = nll - self.cfg.slow_reg * dist.log_prob(slow)
        return (weight * nll).mean()

    def replay_value_loss(
        self, feat: Tensor, batch: SequenceBatch[Tensor], imag_return: Tensor | None, idx: Tensor | None
    ) -> dict[str, Tensor]:
        """The critic's loss on real sequences: lambda-returns of the real rewards and terminals.

        Each real state's bootstrap value is the imagined lambda-return that starts there (the
        bootstrap critic's value for states imagination did not start from).

        Args:
            feat: (B, T, F) posterior features of the batch (with a graph only for
                :meth:`replay_value_wm_loss`).
            batch: the (B, T) batch.
            imag_return: (N,) imagined returns R_0 of the N imagination starts (``None``: none, the
                bootstrap critic's value everywhere).
            idx: (N,) flat indices of those starts into B*T (``None``: all, in order).

        Returns:
            ``loss`` (scalar, graph into the critic) and ``return_mean`` (detached).
        """
        B, T = batch.reward.shape
        with torch.no_grad():
            if imag_return is None:
                boot = self._bootstrap_critic()(feat).mean().float()
            elif idx is None:
                boot = imag_return.reshape(B, T)
            else:
                boot = self._bootstrap_critic()(feat).mean().float().reshape(-1)
                boot = boot.index_copy(0, idx, imag_return.to(boot.dtype)).reshape(B, T)
            ret, weight = replay_lambda_return(
                batch.reward.float(),
                batch.terminated,
                batch.is_first,
                boot,
                gamma=self.cfg.gamma,
                lam=self.cfg.lam,
            )
        loss = self._critic_loss(feat[:, :-1].contiguous(), ret, weight)
        return {"loss": loss, "return_mean": (ret * weight).sum() / weight.sum().clamp(min=1.0)}

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Checkpoint parts (see :mod:`agents.checkpoint`): world model, actor, critic and its slow copy,
        optimisers, the return normaliser (and the advantage spread, the entropy weight where adapted) and the
        update counts."""
        return merge_parts(
            self.learner.state_dict(),
            {
                "actor": self.actor.state_dict(),
                "critic": {"online": self.critic.state_dict(), "slow": self.target_critic.state_dict()},
                "optimizers": {"actor": self.actor_opt.state_dict(), "critic": self.critic_opt.state_dict()},
                "normalizers": {name: m.state_dict() for name, m in self._adaptive().items()},
                "counters": {"agent_updates": self.updates},
            },
        )

    def _adaptive(self) -> dict[str, nn.Module]:
        """The running statistics the actor's objective adapts by, under their checkpoint names."""
        parts: dict[str, nn.Module | None] = {
            "return": self.normalizer,
            "advantage": self.spread,
            "entropy": self.entropy_weight,
        }
        return {name: m for name, m in parts.items() if m is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the parts :meth:`state_dict` names (other parts of a checkpoint are ignored)."""
        self.learner.load_state_dict(state)
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"]["online"])
        self.target_critic.load_state_dict(state["critic"]["slow"])
        self.actor_opt.load_state_dict(state["optimizers"]["actor"])
        self.critic_opt.load_state_dict(state["optimizers"]["critic"])
        for name, m in self._adaptive().items():
            m.load_state_dict(state["normalizers"][name])
        self.updates = int(state["counters"]["agent_updates"])


__all__ = ["Actor", "ActorCriticConfig", "Critic", "DreamerAgent", "DreamerState"]
