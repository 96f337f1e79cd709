"""Energy-based dynamics on state observations: p(y | s, a) proportional to exp(-E(s, a, y)), sampled by
Langevin dynamics.

WORLD-MODELS.md section 4. The modelled variable y is the standardised [observation change, reward] of a
transition (as the ensemble's target); the condition x is the standardised [observation, action]. The
energy is noise-conditional: a Gaussian well around a learned centre plus a free learned energy,

    E(x, y, sigma) = || y - mu(x, log sigma) ||^2 / (2 sigma^2) + g(x, y, log sigma) / sigma,

with mu and g two smooth MLPs (g starts at 0). The well is the right shape for the nearly deterministic
dynamics of a simulator at every noise scale; g can bend it into any other shape (several modes, skew),
so samples come from exp(-E) of a general energy. (A pure g, or the energy ||y - f(x, y)||^2 / 2 sigma^2,
trained worse here: the first must grow a curvature of 1 / sigma in y, the second collapsed to f = y.)
E is trained by denoising score matching at noise scales sigma_1 > ... > sigma_L (geometric): for
y~ = y + sigma eps the score of the noised data is -(y~ - y) / sigma^2 = -eps / sigma, and the
sigma^2-weighted squared error of the model's score against it is

    L_DSM = E_{sigma, eps} || sigma dE(x, y~, sigma)/dy~ - eps ||^2,

which needs second derivatives for the gradient step (as the Hamiltonian model's loss). Sampling is
annealed Langevin dynamics (:func:`annealed_langevin`) from N(0, sigma_1^2) through every level,
y <- y - alpha_i dE/dy + sqrt(2 alpha_i) xi with alpha_i = step_size (sigma_i / sigma_L)^2, then one
denoising step y <- y - sigma_L^2 dE/dy (Tweedie's formula for the noise left at sigma_L). With
``sample: false`` the noise term is dropped: plain descent of the energy, towards a mode. The episode's
continuation comes from a separate logistic head on x.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from world_model.config import EBMConfig
from world_model.networks import mlp
from world_model.normalise import Standardiser
from world_model.transitions import StateRollout, Transitions, change_and_reward, rollout_particles


def geometric_sigmas(sigma_max: float, sigma_min: float, levels: int) -> Tensor:
    """(levels,) noise scales from ``sigma_max`` down to ``sigma_min``, evenly spaced in log."""
    if levels == 1:
        return torch.tensor([sigma_min])
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), levels))


def annealed_langevin(
    score: Callable[[Tensor, int], Tensor],
    y: Tensor,
    step_sizes: Sequence[float],
    steps: int,
    *,
    noise: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Langevin dynamics through a sequence of levels.

    At level i, ``steps`` times: y <- y + alpha_i score(y, i) + sqrt(2 alpha_i) xi, xi ~ N(0, I) (left out
    without ``noise``). With a fixed energy and small steps the samples are distributed as exp(-E).

    Args:
        score: (y, level) -> -dE/dy at that level, same shape as y.
        y: start points (..., K).
        step_sizes: alpha_i per level.
        steps: steps per level.
        noise: add the Langevin noise (sampling); without it this is gradient descent on E.
        generator: source of the noise (CPU generator; the draws are moved to y's device).

    Returns:
        The points after the last level (detached).
    """
    for level, alpha in enumerate(step_sizes):
        for _ in range(steps):
            y = (y + alpha * score(y, level)).detach()
            if noise:
                xi = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
                y = y + math.sqrt(2.0 * alpha) * xi
    return y


class EnergyDynamicsModel(nn.Module):
    """Noise-conditional energy over the next state's change and reward, and a continue head.

    Args:
        cfg: sizes, noise scales, sampler.
        obs_dim: D (state observations only).
        action_dim: A.
    """

    def __init__(self, cfg: EBMConfig, obs_dim: int, action_dim: int) -> None:
        super().__init__()
        if cfg.noise_levels < 1 or not 0 < cfg.sigma_min <= cfg.sigma_max:
            raise ValueError(
                f"need noise_levels >= 1 and 0 < sigma_min <= sigma_max, got {cfg.noise_levels}, "
                f"{cfg.sigma_min}, {cfg.sigma_max}"
            )
        self.cfg = cfg
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.y_dim = obs_dim + 1  # [delta obs, reward]
        self.in_norm = Standardiser(obs_dim + action_dim)
        self.target_norm = Standardiser(self.y_dim)
        cond = obs_dim + action_dim
        self.mu_net = mlp(cond + 1, self.y_dim, units=cfg.units, layers=cfg.layers, norm=False)
        self.g_net = mlp(
            cond + self.y_dim + 1, 1, units=cfg.units, layers=cfg.layers, norm=False, zero_out=True
        )
        self.cont_net = mlp(obs_dim + action_dim, 1, units=cfg.units, layers=1, norm=False)
        self.sigmas: Tensor
        self.register_buffer(
            "sigmas", geometric_sigmas(cfg.sigma_max, cfg.sigma_min, cfg.noise_levels), persistent=False
        )

    # ----- energy and score ------------------------------------------------------------------
    def energy(self, x: Tensor, y: Tensor, sigma: Tensor) -> Tensor:
        """(N,) E(x, y, sigma) of standardised conditions x (N, D + A), targets y (N, D + 1), scales (N,)."""
        log_sigma = sigma.log().unsqueeze(-1)
        mu = self.mu_net(torch.cat([x, log_sigma], -1))
        g = self.g_net(torch.cat([x, y, log_sigma], -1)).squeeze(-1)
        return 0.5 * ((y - mu) ** 2).sum(-1) / sigma**2 + g / sigma

    def _grad(self, x: Tensor, y: Tensor, sigma: Tensor, *, create_graph: bool) -> Tensor:
        """dE/dy (N, D + 1)."""
        with torch.enable_grad():
            y_ = y if y.requires_grad else y.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(x, y_, sigma).sum(), y_, create_graph=create_graph)
        return grad

    def score(self, x: Tensor, y: Tensor, level: int) -> Tensor:
        """-dE/dy (N, D + 1) at noise level ``level`` (an index into the noise scales)."""
        return -self._grad(x, y, self.sigmas[level].expand(len(y)), create_graph=False)

    # ----- StateModel -------------------------------------------------------------------------
    def update_normalisers(self, data: Transitions[Tensor]) -> None:
        """Move the condition and target normalisers towards the transitions (N, ...)."""
        self.in_norm.update(torch.cat([data.obs, data.action], -1))
        self.target_norm.update(change_and_reward(data))

    def minibatch(self, data: Transitions[Tensor]) -> Transitions[Tensor]:
        """The transitions (B, ...) as they are: one minibatch."""
        return data

    def loss(self, batch: Transitions[Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Denoising score matching at a random noise level per transition, plus the continue BCE."""
        x = self.in_norm(torch.cat([batch.obs, batch.action], -1))
        y = self.target_norm(change_and_reward(batch))
        level = torch.randint(len(self.sigmas), (len(y),), device=y.device)
        sigma = self.sigmas[level]
        eps = torch.randn_like(y)
        grad = self._grad(x, y + sigma[:, None] * eps, sigma, create_graph=torch.is_grad_enabled())
        dsm = ((sigma[:, None] * grad - eps) ** 2).sum(-1).mean()
        cont = F.binary_cross_entropy_with_logits(
            self.cont_net(x).squeeze(-1), (~batch.terminated).to(x.dtype)
        )
        total = dsm + cont
        return total, {
            "wm/loss": float(total.detach()),
            "wm/dsm_loss": float(dsm.detach()),
            "wm/cont_loss": float(cont.detach()),
        }

    def sample(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Standardised [obs change, reward] (N, D + 1) drawn for conditions x (N, D + A) by annealed Langevin
        dynamics and a last denoising step."""
        cfg = self.cfg
        sig = self.sigmas.tolist()
        y = sig[0] * torch.randn((len(x), self.y_dim), generator=generator).to(x.device)
        steps = [cfg.step_size * (s / sig[-1]) ** 2 for s in sig]
        y = annealed_langevin(
            lambda v, i: self.score(x, v, i),
            y,
            steps,
            cfg.langevin_steps,
            noise=cfg.sample,
            generator=generator,
        )
        return (y + sig[-1] ** 2 * self.score(x, y, len(sig) - 1)).detach()

    def rollout(
        self, obs: Tensor, actions: Tensor, *, particles: int, generator: torch.Generator | None = None
    ) -> StateRollout:
        """P sampled trajectories from each start observation (N, D) under actions (N, H, A):
        :class:`StateRollout` (P, N, H, ...)."""

        def step(state: Tensor, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            x = self.in_norm(torch.cat([state, action], -1))
            y = self.target_norm.inverse(self.sample(x, generator))
            return state + y[:, : self.obs_dim], y[:, -1], torch.sigmoid(self.cont_net(x).squeeze(-1))

        return rollout_particles(self, step, obs, actions, particles)
