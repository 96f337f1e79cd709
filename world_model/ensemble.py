"""PETS-style probabilistic ensemble on state observations: the baseline a latent world model has to beat.

Each of E members maps the standardised input [obs, action] through an MLP (SiLU) to a diagonal
Gaussian over the standardised target [obs' - obs, reward] and to a continue logit. Training minimises
the Gaussian negative log-likelihood (up to the constant 0.5 log 2 pi per dimension)

    NLL = 0.5 * sum_k ((mu_k - y_k)^2 exp(-s_k) + s_k),

with the log-variance s soft-clamped between learned bounds (PETS):

    s <- s_max - softplus(s_max - s);   s <- s_min + softplus(s - s_min)

plus ``bound_weight * (sum s_max - sum s_min)`` so the bounds close in on the data, and a binary
cross-entropy for the continue logit. The members differ by their initialisation and, with
``bootstrap``, by the transitions they see: each update gives every member its own minibatch, drawn
from the replay independently of the others' (the stand-in for PETS' per-member resamples of a fixed
training set when the data grows while the model trains). Inputs and targets are standardised by
running statistics of the training batches.

Open-loop prediction uses trajectory sampling (``propagation``): with TS-inf every particle keeps one
member for the whole rollout (particles of a window are spread over the members round-robin from a
random offset), with TS-1 the member is redrawn at every step; the next state is drawn from that member's
Gaussian (``sample``) or set to its mean. ``mean`` rolls the average of the members' means.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from world_model.config import EnsembleConfig
from world_model.normalise import Standardiser
from world_model.transitions import StateRollout, Transitions, change_and_reward, rollout_particles


class EnsembleLinear(nn.Module):
    """E independent linear layers applied at once: (E, N, in) -> (E, N, out).

    Each member's weights are drawn independently (uniform in +-1/sqrt(in), as ``nn.Linear``).
    """

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def soft_clamp(x: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Smoothly bound ``x`` below ``high`` and above ``low`` (PETS' log-variance bounds); differentiable
    in all three."""
    x = high - F.softplus(high - x)
    return low + F.softplus(x - low)


class ProbabilisticEnsemble(nn.Module):
    """E probabilistic MLPs predicting the change of the state observation, the reward and continuation.

    Args:
        cfg: members, sizes, bounds, trajectory sampling.
        obs_dim: D (state observations only).
        action_dim: A.
    """

    def __init__(self, cfg: EnsembleConfig, obs_dim: int, action_dim: int) -> None:
        super().__init__()
        if cfg.members < 1 or cfg.layers < 1:
            raise ValueError(f"need members >= 1 and layers >= 1, got {cfg.members}, {cfg.layers}")
        self.cfg = cfg
        self.members = cfg.members
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.out_dim = obs_dim + 1  # [delta obs, reward]
        self.in_norm = Standardiser(obs_dim + action_dim)
        self.target_norm = Standardiser(self.out_dim)
        mods: list[nn.Module] = []
        dim = obs_dim + action_dim
        for _ in range(cfg.layers):
            mods += [EnsembleLinear(cfg.members, dim, cfg.units), nn.SiLU()]
            dim = cfg.units
        mods.append(EnsembleLinear(cfg.members, dim, 2 * self.out_dim + 1))
        self.net = nn.Sequential(*mods)
        self.max_log_var = nn.Parameter(torch.full((self.out_dim,), cfg.max_log_var))
        self.min_log_var = nn.Parameter(torch.full((self.out_dim,), cfg.min_log_var))

    # ----- data ------------------------------------------------------------------------------
    def update_normalisers(self, data: Transitions[Tensor]) -> None:
        """Move the input and target normalisers' statistics towards the transitions (N, ...)."""
        self.in_norm.update(torch.cat([data.obs, data.action], -1))
        self.target_norm.update(change_and_reward(data))

    def minibatch(self, data: Transitions[Tensor]) -> Transitions[Tensor]:
        """Each member's minibatch, fields (E, B, ...), from N transitions: with ``bootstrap`` the rows
        are split into E blocks of B = N / E (row order is member order), else every member gets all N.

        Raises:
            ValueError: with ``bootstrap``, N not a multiple of E.
        """
        n, e = data.obs.shape[0], self.members
        if self.cfg.bootstrap:
            if n % e:
                raise ValueError(f"{n} transitions do not split into {e} members' minibatches")
            return Transitions(*(x.reshape(e, n // e, *x.shape[1:]) for x in data))
        return Transitions(*(x.unsqueeze(0).expand(e, *x.shape) for x in data))

    # ----- network ---------------------------------------------------------------------------
    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Every member's prediction.

        Args:
            obs: (E, N, D) or (N, D) (then every member sees the same rows).
            action: (E, N, A) or (N, A).

        Returns:
            mean (E, N, D + 1) and bounded log-variance (E, N, D + 1) of the standardised
            [obs change, reward], and continue logits (E, N).
        """
        x = self.in_norm(torch.cat([obs, action], -1))
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.members, *x.shape)
        out = self.net(x)
        k = self.out_dim
        mean, raw_log_var, logit = out[..., :k], out[..., k : 2 * k], out[..., 2 * k]
        return mean, soft_clamp(raw_log_var, self.min_log_var, self.max_log_var), logit

    def loss(self, batch: Transitions[Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Gaussian NLL per member (summed over members), bound penalty, continue BCE.

        Args:
            batch: fields (E, B, ...), one minibatch per member (:meth:`minibatch`).

        Returns:
            (scalar loss, metrics under ``wm/``).
        """
        mean, log_var, logit = self(batch.obs, batch.action)
        target = self.target_norm(change_and_reward(batch))
        sq = (mean - target) ** 2
        nll = (0.5 * (sq * torch.exp(-log_var) + log_var)).sum(-1).mean(-1)  # (E,)
        bounds = self.cfg.bound_weight * (self.max_log_var.sum() - self.min_log_var.sum())
        cont = F.binary_cross_entropy_with_logits(
            logit, (~batch.terminated).to(logit.dtype), reduction="none"
        ).mean(-1)  # (E,)
        total = nll.sum() + bounds + cont.sum()
        metrics = {
            "wm/loss": float(total.detach()),
            "wm/nll": float(nll.detach().mean()),
            "wm/mse": float(sq.detach().mean()),
            "wm/log_var": float(log_var.detach().mean()),
            "wm/cont_loss": float(cont.detach().mean()),
        }
        return total, metrics

    # ----- prediction ------------------------------------------------------------------------
    def rollout(
        self, obs: Tensor, actions: Tensor, *, particles: int, generator: torch.Generator | None = None
    ) -> StateRollout:
        """Trajectory sampling from start observations under fixed actions.

        Args:
            obs: (N, D) start observations.
            actions: (N, H, A); ``actions[:, t]`` leads to step t + 1.
            particles: P trajectories per start.
            generator: source of the member assignment and the Gaussian draws.

        Returns:
            :class:`StateRollout` (P, N, H, ...).
        """
        N = obs.shape[0]
        E, P = self.members, particles
        device = obs.device
        rows = torch.arange(P * N, device=device)  # particle-major: row p N + i is particle p of start i
        prop = self.cfg.propagation
        offset = torch.randint(E, (N,), generator=generator).to(device)
        member = ((torch.arange(P, device=device)[:, None] + offset[None]) % E).reshape(-1)

        def step(state: Tensor, action: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            nonlocal member
            mean, log_var, logit = self(state, action)  # (E, M, K), (E, M)
            if prop == "mean":
                mu, lv, lg = mean.mean(0), log_var.mean(0), logit.mean(0)
            else:
                if prop == "ts1":
                    member = torch.randint(E, (P * N,), generator=generator).to(device)
                mu, lv, lg = mean[member, rows], log_var[member, rows], logit[member, rows]
            z = mu
            if self.cfg.sample and prop != "mean":
                eps = torch.randn(mu.shape, generator=generator).to(device)
                z = mu + torch.exp(0.5 * lv) * eps
            change = self.target_norm.inverse(z)
            reward = self.target_norm.inverse(mu)[:, -1]
            return state + change[:, : self.obs_dim], reward, torch.sigmoid(lg)

        return rollout_particles(self, step, obs, actions, particles)

    @torch.no_grad()
    def predictive_std(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """(aleatoric, epistemic) standard deviations (N, D + 1) of [obs change, reward] in data units:
        the root mean of the members' variances, and the spread of their means."""
        mean, log_var, _ = self(obs, action)
        std = self.target_norm.std
        return torch.exp(log_var).mean(0).sqrt() * std, mean.std(0, unbiased=False) * std
