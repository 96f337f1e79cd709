"""RSSM: h_t = GRU(h_{t-1}, [z_{t-1}, a_t]), prior p(z_t | h_t), posterior q(z_t | h_t, e_t).

The sequential loops are kept lean: everything that does not depend on the recurrence (the action and
embedding projections before the loop, the prior after it) is computed for all (B, T) at once, so each
step runs one projection of z, one fused GRU cell and the posterior layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from world_model.config import RSSMConfig
from world_model.distributions import (
    categorical_kl,
    categorical_probs,
    categorical_sample,
    gaussian_kl,
)
from world_model.networks import mlp


class RSSMState(NamedTuple):
    """Model state; every field has leading dims (...) = (B,), (B, T) or (N, H+1), and one feature axis.

    Attributes:
        deter: (..., D) deterministic GRU state h.
        stoch: (..., Z) stochastic latent z (flattened one-hots, or a Gaussian sample).
        stats: (..., P) the distribution z was drawn from: log-probabilities (S * C) for the
            categorical latent, [mean, std] (2 S) for the Gaussian one.
    """

    deter: Tensor
    stoch: Tensor
    stats: Tensor

    def map(self, fn: Callable[[Tensor], Tensor]) -> RSSMState:
        """Apply ``fn`` to every field (e.g. ``lambda x: x[:, -1]`` for the last step)."""
        return RSSMState(fn(self.deter), fn(self.stoch), fn(self.stats))

    def detach(self) -> RSSMState:
        """The same state cut from the autograd graph."""
        return self.map(torch.Tensor.detach)

    def flatten(self) -> RSSMState:
        """Merge all leading dims into one: (B, T, X) -> (B * T, X)."""
        return self.map(lambda x: x.reshape(-1, x.shape[-1]))

    def mask(self, keep: Tensor) -> RSSMState:
        """Zero rows where ``keep`` (leading dims, float 0/1) is 0; used to reset at ``is_first``."""
        k = keep.unsqueeze(-1)
        return self.map(lambda x: x * k)


class RSSM(nn.Module):
    """The recurrent dynamics with prior and posterior.

    Args:
        cfg: sizes and latent kind.
        action_dim: action size A.
        embed_dim: observation embedding size E.
    """

    def __init__(self, cfg: RSSMConfig, action_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.categorical = cfg.latent == "categorical"
        self.stoch_dim = cfg.stoch * cfg.classes if self.categorical else cfg.stoch
        self.stats_dim = self.stoch_dim if self.categorical else 2 * cfg.stoch
        self.deter_dim = cfg.deter
        self.action_dim = action_dim
        # Input of the GRU: W_z z + W_a a + b -> LayerNorm -> SiLU (the action part is precomputed).
        self.in_stoch = nn.Linear(self.stoch_dim, cfg.hidden, bias=False)
        self.in_action = nn.Linear(action_dim, cfg.hidden)
        self.in_norm = nn.LayerNorm(cfg.hidden)
        self.cell = nn.GRUCell(cfg.hidden, cfg.deter)
        self.prior_net = mlp(cfg.deter, self.stats_dim, units=cfg.hidden, layers=1)
        # Posterior: W_h h + W_e e + b -> LayerNorm -> SiLU -> Linear (the embedding part is precomputed).
        self.post_deter = nn.Linear(cfg.deter, cfg.hidden, bias=False)
        self.post_embed = nn.Linear(embed_dim, cfg.hidden)
        self.post_norm = nn.LayerNorm(cfg.hidden)
        self.post_out = nn.Linear(cfg.hidden, self.stats_dim)

    def initial(self, batch_size: int) -> RSSMState:
        """All-zero state for ``batch_size`` rows (also the state after a reset)."""
        p = self.post_out.weight
        return RSSMState(
            p.new_zeros(batch_size, self.deter_dim),
            p.new_zeros(batch_size, self.stoch_dim),
            p.new_zeros(batch_size, self.stats_dim),
        )

    def sample(self, raw: Tensor) -> Tensor:
        """A latent sample (..., Z) from raw network outputs (..., P) (straight-through / reparameterised)."""
        if self.categorical:
            shape = (*raw.shape[:-1], self.cfg.stoch, self.cfg.classes)
            probs = categorical_probs(raw.reshape(shape), self.cfg.unimix)
            return categorical_sample(probs).reshape(raw.shape)
        mean, std_raw = raw.chunk(2, -1)
        return torch.addcmul(mean, F.softplus(std_raw) + self.cfg.min_std, torch.randn_like(mean))

    def stats(self, raw: Tensor) -> Tensor:
        """Distribution statistics (..., P) from raw outputs: log-probabilities, or [mean, std]."""
        if self.categorical:
            shape = (*raw.shape[:-1], self.cfg.stoch, self.cfg.classes)
            return torch.log(categorical_probs(raw.reshape(shape), self.cfg.unimix)).reshape(raw.shape)
        mean, std_raw = raw.chunk(2, -1)
        return torch.cat([mean, F.softplus(std_raw) + self.cfg.min_std], -1)

    def prior(self, deter: Tensor) -> RSSMState:
        """Prior states p(z | h) for deterministic states of any leading shape (..., D)."""
        raw = self.prior_net(deter)
        return RSSMState(deter, self.sample(raw), self.stats(raw))

    def observe(self, embed: Tensor, action: Tensor, is_first: Tensor, state: RSSMState | None) -> RSSMState:
        """Posterior states over real sequences.

        Args:
            embed: (B, T, E) observation embeddings.
            action: (B, T, A) action[t] led to step t.
            is_first: (B, T) bool; the state and the action are zeroed there before the step.
            state: (B, ...) state before step 0, or ``None`` for zeros.

        Returns:
            Posterior states with leading dims (B, T).
        """
        B, T = embed.shape[:2]
        if state is None:
            state = self.initial(B)
        keep = (~is_first).to(embed.dtype).unsqueeze(-1)  # (B, T, 1)
        act_in = self.in_action(action * keep)  # (B, T, hidden), bias included
        emb_in = self.post_embed(embed)  # (B, T, hidden)
        h, z = state.deter, state.stoch
        # Rows reset only at steps where some is_first is set: one sync instead of two ops per step.
        resets = is_first.any(0).tolist()
        keeps, acts, embs = keep.unbind(1), act_in.unbind(1), emb_in.unbind(1)
        w_z, w_h = self.in_stoch.weight.t(), self.post_deter.weight.t()
        deters, stochs, raws = [], [], []
        for t in range(T):
            if resets[t]:
                h, z = h * keeps[t], z * keeps[t]
            x = F.silu(self.in_norm(torch.addmm(acts[t], z, w_z)))
            h = self.cell(x, h)
            raw = self.post_out(F.silu(self.post_norm(torch.addmm(embs[t], h, w_h))))
            z = self.sample(raw)
            deters.append(h)
            stochs.append(z)
            raws.append(raw)
        stats = self.stats(torch.stack(raws, 1))
        return RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1), stats)

    def imagine(
        self, start: RSSMState, policy_or_actions: Callable[[Tensor], Tensor] | Tensor, horizon: int
    ) -> tuple[RSSMState, Tensor]:
        """Roll the prior forward from ``start``.

        Args:
            start: (N, ...) start states.
            policy_or_actions: a policy mapping features (N, F) -> actions (N, A), or actions (N, H, A).
            horizon: H steps.

        Returns:
            States with leading dims (N, H + 1) (index 0 is ``start``) and the actions (N, H, A).
        """
        h, z = start.deter, start.stoch
        deters, stochs, raws = [h], [z], []
        fixed = not callable(policy_or_actions)
        actions: list[Tensor] = []
        if fixed:
            assert isinstance(policy_or_actions, Tensor)
            if policy_or_actions.shape[:2] != (h.shape[0], horizon):
                raise ValueError(
                    f"actions {tuple(policy_or_actions.shape)} do not match (N={h.shape[0]}, H={horizon}, A)"
                )
            act_in = self.in_action(policy_or_actions).unbind(1)
        w_z = self.in_stoch.weight.t()
        for t in range(horizon):
            if fixed:
                a_in = act_in[t]
            else:
                assert callable(policy_or_actions)
                a = policy_or_actions(torch.cat([h, z], -1))
                actions.append(a)
                a_in = self.in_action(a)
            h = self.cell(F.silu(self.in_norm(torch.addmm(a_in, z, w_z))), h)
            raw = self.prior_net(h)
            z = self.sample(raw)
            deters.append(h)
            stochs.append(z)
            raws.append(raw)
        stats = [start.stats.unsqueeze(1)]
        if raws:
            stats.append(self.stats(torch.stack(raws, 1)))
        states = RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1), torch.cat(stats, 1))
        act = policy_or_actions if fixed else torch.stack(actions, 1)
        assert isinstance(act, Tensor)
        return states, act

    def kl(self, post: RSSMState, prior: RSSMState) -> tuple[Tensor, Tensor]:
        """(dynamics KL, representation KL), each (...): KL(sg(post) || prior) and KL(post || sg(prior))."""
        if self.categorical:
            shape = (*post.stats.shape[:-1], self.cfg.stoch, self.cfg.classes)
            lp, lq = post.stats.reshape(shape), prior.stats.reshape(shape)
            return categorical_kl(lp.detach(), lq), categorical_kl(lp, lq.detach())
        mp, sp = post.stats.chunk(2, -1)
        mq, sq = prior.stats.chunk(2, -1)
        dyn = gaussian_kl(mp.detach(), sp.detach(), mq, sq)
        rep = gaussian_kl(mp, sp, mq.detach(), sq.detach())
        return dyn, rep

    def entropy(self, state: RSSMState) -> Tensor:
        """(...) entropy of the latent distribution of ``state``, summed over latent dimensions."""
        if self.categorical:
            lp = state.stats
            return -(lp.exp() * lp).sum(-1)
        _, std = state.stats.chunk(2, -1)
        return (0.5 + 0.5 * torch.log(2 * torch.pi * std**2)).sum(-1)
