"""Diffusion dynamics on state observations: the continuous half of a Transfusion-style model, with the
discrete parts of a step (reward bin, episode end) predicted by heads after it.

WORLD-MODELS.md section 4b. The continuous block x_0 is the standardised observation change of a
transition. The forward process (:class:`NoiseSchedule`, cosine schedule) is the Markov chain
x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps, whose marginal is the closed form

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),    abar_t = prod_{s <= t} (1 - beta_s).

A network predicts the noise from x_t, t and the condition c = (standardised observation, action), and
is trained with the epsilon-prediction loss L = E_{t, eps} || eps - eps_theta(x_t, t, c) ||^2. It is
parameterised as eps_theta = sqrt(1 - abar_t) x_t + sqrt(abar_t) F_theta(x_t, t, c): the noise a
unit-Gaussian x_0 would have plus a learned correction, so the implied x_0 estimate
x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t) = sqrt(abar_t) x_t - sqrt(1 - abar_t) F_theta
never divides by sqrt(abar_t), which is about 5e-4 at t = T (the loss is still the epsilon loss).
Sampling (:func:`ddim_sample`) runs DDIM from pure noise in a few steps (deterministic with eta = 0).

The discrete parts follow autoregressively, conditioned on the continuous block: a two-hot head over
symlog-spaced reward bins (cross-entropy) and a Bernoulli continue head, both on (observation, action,
next observation): the real next observation in training, the sampled one in rollouts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from world_model.config import DiffusionConfig
from world_model.distributions import TwoHotDist, symlog_bins
from world_model.networks import mlp
from world_model.normalise import Standardiser
from world_model.transitions import StateRollout, Transitions, rollout_particles


class NoiseSchedule(nn.Module):
    """The cosine schedule of T diffusion steps: beta_t, abar_t (t = 0..T, abar_0 = 1, beta_0 = 0).

    abar follows Nichol & Dhariwal's cos^2(((t / T) + s) / (1 + s) pi / 2), normalised to 1 at t = 0;
    beta_t = 1 - abar_t / abar_{t-1} is capped at ``max_beta``, and abar_t is then recomputed as the
    product of (1 - beta_s), so that the closed form and the step-by-step chain agree exactly.

    Args:
        steps: T.
        offset: s of the cosine schedule.
        max_beta: cap of beta_t (the last steps of the cosine schedule approach 1).
    """

    def __init__(self, steps: int, *, offset: float = 0.008, max_beta: float = 0.999) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"need at least one diffusion step, got {steps}")
        self.steps = steps
        t = torch.arange(steps + 1, dtype=torch.float64)
        f = torch.cos((t / steps + offset) / (1 + offset) * math.pi / 2) ** 2
        cosine = f / f[0]
        betas = (1 - cosine[1:] / cosine[:-1]).clamp(0.0, max_beta)
        betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        self.betas: Tensor
        self.alpha_bar: Tensor
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def q_sample(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps for x0, eps (N, K) and steps t (N,) in 0..T."""
        ab = self.alpha_bar[t].unsqueeze(-1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def forward_step(self, x_prev: Tensor, t: int, eps: Tensor) -> Tensor:
        """One step of the forward chain: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps (t in 1..T)."""
        b = self.betas[t]
        return (1 - b).sqrt() * x_prev + b.sqrt() * eps

    def ddim_times(self, steps: int) -> list[int]:
        """``steps`` decreasing diffusion steps from T to 1, evenly spaced (fewer if T is smaller)."""
        times = torch.linspace(self.steps, 1, max(1, min(steps, self.steps))).round().long().tolist()
        return sorted(set(times), reverse=True)


def ddim_sample(
    eps_fn: Callable[[Tensor, int], Tensor],
    x: Tensor,
    schedule: NoiseSchedule,
    steps: int,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DDIM from x_T to x_0 in ``steps`` steps.

    At each chosen step t with the next one t' < t (0 after the last):
    x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t),
    sigma = eta sqrt((1 - abar_t') / (1 - abar_t)) sqrt(1 - abar_t / abar_t'),
    x_t' = sqrt(abar_t') x0_hat + sqrt(1 - abar_t' - sigma^2) eps_hat + sigma z.

    Args:
        eps_fn: (x_t, t) -> predicted noise, same shape as x_t.
        x: (..., K) start noise x_T.
        schedule: the noise schedule.
        steps: DDIM steps.
        eta: 0 deterministic (DDIM), 1 about DDPM's noise.
        generator: source of z (CPU generator; draws moved to x's device).

    Returns:
        x_0 (..., K).
    """
    times = schedule.ddim_times(steps)
    for i, t in enumerate(times):
        t_prev = times[i + 1] if i + 1 < len(times) else 0
        ab, ab_prev = schedule.alpha_bar[t], schedule.alpha_bar[t_prev]
        eps = eps_fn(x, t)
        x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        sigma = eta * ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).sqrt()
        x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0.0).sqrt() * eps
        if eta > 0 and t_prev > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return x


def time_features(t: Tensor, steps: int, frequencies: int = 8) -> Tensor:
    """(N, 2 frequencies) Fourier features sin / cos(pi 2^k t / T), k < frequencies, of steps t (N,)."""
    s = t.to(torch.float32)[:, None] / steps
    f = math.pi * 2.0 ** torch.arange(frequencies, device=t.device, dtype=torch.float32)
    return torch.cat([torch.sin(f * s), torch.cos(f * s)], -1)


class DiffusionDynamicsModel(nn.Module):
    """Noise network over the next observation's change, plus reward and continue heads after it.

    Args:
        cfg: sizes, schedule, sampler.
        obs_dim: D (state observations only).
        action_dim: A.
    """

    TIME_FEATURES = 8

    def __init__(self, cfg: DiffusionConfig, obs_dim: int, action_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.schedule = NoiseSchedule(cfg.steps)
        self.obs_norm = Standardiser(obs_dim)
        self.action_norm = Standardiser(action_dim)
        self.delta_norm = Standardiser(obs_dim)
        cond = obs_dim + action_dim
        self.eps_net = mlp(
            obs_dim + cond + 2 * self.TIME_FEATURES, obs_dim, units=cfg.units, layers=cfg.layers
        )
        self.reward_net = mlp(cond + obs_dim, cfg.reward_bins, units=cfg.head_units, layers=2, zero_out=True)
        self.cont_net = mlp(cond + obs_dim, 1, units=cfg.head_units, layers=2)
        self.bins: Tensor
        self.register_buffer("bins", symlog_bins(cfg.reward_bins), persistent=False)

    # ----- networks ---------------------------------------------------------------------------
    def _cond(self, obs: Tensor, action: Tensor) -> Tensor:
        return torch.cat([self.obs_norm(obs), self.action_norm(action)], -1)

    def eps(self, x_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """eps_theta(x_t, t, c) (N, D) = sqrt(1 - abar_t) x_t + sqrt(abar_t) F(x_t, t, c)."""
        ab = self.schedule.alpha_bar[t].unsqueeze(-1)
        feat = time_features(t, self.schedule.steps, self.TIME_FEATURES)
        return (1 - ab).sqrt() * x_t + ab.sqrt() * self.eps_net(torch.cat([x_t, cond, feat], -1))

    def _heads(self, cond: Tensor, next_obs: Tensor) -> tuple[Tensor, Tensor]:
        """(reward logits (N, bins), continue logits (N,)) after the continuous block."""
        h = torch.cat([cond, self.obs_norm(next_obs)], -1)
        return self.reward_net(h), self.cont_net(h).squeeze(-1)

    def heads(self, obs: Tensor, action: Tensor, next_obs: Tensor) -> tuple[Tensor, Tensor]:
        """(reward logits (..., bins), continue logits (...)) of steps from observations (..., D) under
        actions (..., A) to next observations (..., D)."""
        return self._heads(self._cond(obs, action), next_obs)

    # ----- StateModel -------------------------------------------------------------------------
    def update_normalisers(self, data: Transitions[Tensor]) -> None:
        """Move the observation, action and observation-change normalisers towards the transitions."""
        self.obs_norm.update(data.obs)
        self.action_norm.update(data.action)
        self.delta_norm.update(data.next_obs - data.obs)

    def minibatch(self, data: Transitions[Tensor]) -> Transitions[Tensor]:
        """The transitions (B, ...) as they are: one minibatch."""
        return data

    def loss(self, batch: Transitions[Tensor]) -> tuple[Tensor, dict[str, float]]:
        """L_discrete (reward cross-entropy + continue BCE) + diffusion_weight x the epsilon loss."""
        cond = self._cond(batch.obs, batch.action)
        x0 = self.delta_norm(batch.next_obs - batch.obs)
        t = torch.randint(1, self.schedule.steps + 1, (len(x0),), device=x0.device)
        eps = torch.randn_like(x0)
        diffusion = ((self.eps(self.schedule.q_sample(x0, t, eps), t, cond) - eps) ** 2).sum(-1).mean()
        reward_logits, cont_logit = self._heads(cond, batch.next_obs)
        reward = -TwoHotDist(reward_logits, self.bins).log_prob(batch.reward).mean()
        cont = F.binary_cross_entropy_with_logits(cont_logit, (~batch.terminated).to(x0.dtype))
        total = reward + cont + self.cfg.diffusion_weight * diffusion
        return total, {
            "wm/loss": float(total.detach()),
            "wm/diffusion_loss": float(diffusion.detach()),
            "wm/reward_loss": float(reward.detach()),
            "wm/cont_loss": float(cont.detach()),
        }

    def sample(
        self, obs: Tensor, action: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One sampled step from observations (N, D) under actions (N, A): (next observations (N, D),
        expected rewards (N,), continue probabilities (N,))."""
        cond = self._cond(obs, action)
        noise = torch.randn((len(obs), self.obs_dim), generator=generator).to(obs.device)

        def eps_fn(x: Tensor, t: int) -> Tensor:
            return self.eps(x, torch.full((len(x),), t, device=x.device, dtype=torch.long), cond)

        x0 = ddim_sample(
            eps_fn, noise, self.schedule, self.cfg.sample_steps, eta=self.cfg.eta, generator=generator
        )
        next_obs = obs + self.delta_norm.inverse(x0)
        reward_logits, cont_logit = self._heads(cond, next_obs)
        return next_obs, TwoHotDist(reward_logits, self.bins).mean(), torch.sigmoid(cont_logit)

    def rollout(
        self, obs: Tensor, actions: Tensor, *, particles: int, generator: torch.Generator | None = None
    ) -> StateRollout:
        """P sampled trajectories from each start observation (N, D) under actions (N, H, A):
        :class:`StateRollout` (P, N, H, ...)."""
        return rollout_particles(self, lambda s, a: self.sample(s, a, generator), obs, actions, particles)
