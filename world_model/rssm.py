"""RSSM: h_t = GRU(h_{t-1}, [z_{t-1}, a_t]), prior p(z_t | h_t), posterior q(z_t | h_t, e_t).

The sequential loops are kept lean; each step runs only what depends on the recurrence:
- what does not depend on it is computed for all steps at once: the action and embedding projections and
  the random numbers of the latent samples before the loop, the log-probabilities (and in ``observe``
  the prior over the posterior states) after it;
- the layers are called as functions on weights transposed (and, under autocast, cast) once per call;
- when the loop trains the weights, their gradients are computed once after the loop from all steps'
  inputs (:class:`world_model.networks.LoopLinear`), not with one small matmul per step and weight.

Random numbers: the categorical samples of a loop are drawn as one (T, B, S, 1) block of uniforms before
it. Where nothing else draws inside the loop (``observe``, ``imagine`` with fixed actions) the samples are
those of drawing step by step from the same CPU generator; ``imagine`` with a policy that samples draws
the latents' numbers before the policy's, so its stream differs from drawing them in turn (the sampled
distribution is the same). The Gaussian latent draws its normals as one block too (same distribution; the
stream differs from step-by-step draws).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

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
from world_model.networks import LoopLinear, mlp


def _layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    """``norm(x)`` without the module call."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


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
        self._compiled_step: Callable[..., tuple[Tensor, ...]] | None = None

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
        return self._sample(raw, None)[0]

    def stats(self, raw: Tensor) -> Tensor:
        """Distribution statistics (..., P) from raw outputs: log-probabilities, or [mean, std]."""
        if self.categorical:
            return self._stats(self._probs(raw))
        return self._stats(raw)

    def _probs(self, raw: Tensor) -> Tensor:
        """Categorical probabilities (..., S, C) from raw outputs (..., S * C), in float32."""
        if raw.dtype != torch.float32:  # autocast: sample and score in full precision
            raw = raw.float()
        shape = (*raw.shape[:-1], self.cfg.stoch, self.cfg.classes)
        return categorical_probs(raw.reshape(shape), self.cfg.unimix)

    def _sample(self, raw: Tensor, noise: Tensor | None) -> tuple[Tensor, Tensor]:
        """(latent sample (..., Z), its distribution: probabilities (..., S, C) or the raw outputs).

        ``noise``: the sample's random numbers, uniforms (..., S, 1) or normals (..., S); ``None`` draws them.
        """
        if self.categorical:
            probs = self._probs(raw)
            return categorical_sample(probs, noise).reshape(*raw.shape[:-1], self.stoch_dim), probs
        mean, std_raw = raw.chunk(2, -1)
        if noise is None:
            noise = torch.randn_like(mean)
        return torch.addcmul(mean, F.softplus(std_raw) + self.cfg.min_std, noise), raw

    def _stats(self, dist: Tensor) -> Tensor:
        """Statistics (..., P) from what :meth:`_sample` returns as the distribution."""
        if self.categorical:
            return torch.log(dist).flatten(-2)
        mean, std_raw = dist.chunk(2, -1)
        return torch.cat([mean, F.softplus(std_raw) + self.cfg.min_std], -1)

    def _noise(self, steps: int, rows: int, device: torch.device) -> tuple[Tensor, ...]:
        """The random numbers of ``steps`` latent samples of ``rows`` rows, drawn at once."""
        shape = (self.cfg.stoch, 1) if self.categorical else (self.cfg.stoch,)
        draw = torch.rand if self.categorical else torch.randn
        return draw(steps, rows, *shape, device=device).unbind(0)

    def prior(self, deter: Tensor) -> RSSMState:
        """Prior states p(z | h) for deterministic states of any leading shape (..., D)."""
        z, dist = self._sample(self.prior_net(deter), None)
        return RSSMState(deter, z, self._stats(dist))

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
        keep = (~is_first).to(embed.dtype)  # (B, T)
        # Projections of all steps at once, time-major so that each step's slice is contiguous.
        act_in = self.in_action((action * keep.unsqueeze(-1)).transpose(0, 1).contiguous())  # (T, B, hidden)
        emb_in = self.post_embed(embed.transpose(0, 1).contiguous())  # (T, B, hidden)
        cell, cpu = self.cell, embed.device.type == "cpu"
        gru_in = LoopLinear(act_in, self.in_stoch.weight)
        # torch.gru_cell takes the per-step biases that defer its weights' gradients only on the CPU
        cell_x = LoopLinear(cell.bias_ih.expand(T, B, -1), cell.weight_ih, defer=cpu)
        cell_h = LoopLinear(cell.bias_hh.expand(T, B, -1), cell.weight_hh, defer=cpu)
        post_in = LoopLinear(emb_in, self.post_deter.weight)
        post_out = LoopLinear(self.post_out.bias.expand(T, B, -1), self.post_out.weight)
        noise = self._noise(T, B, embed.device)
        # Rows reset only at steps where some is_first is set: one sync instead of two ops per step.
        keeps = keep.t().unsqueeze(-1).unbind(0)  # (B, 1) per step
        resets = [k if first else None for k, first in zip(keeps, is_first.any(0).tolist(), strict=True)]
        deters, stochs, dists, _ = self._unroll(
            state.deter,
            state.stoch,
            noise,
            gru_in,
            cell_x,
            cell_h,
            post_in,
            post_out,
            posterior=True,
            resets=resets,
        )
        return RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1), self._stats(torch.stack(dists, 1)))

    def compile_steps(self, **options: Any) -> None:
        """Compile the step function of :meth:`observe` and :meth:`imagine`: ``torch.compile(**options)``.

        Their shapes are fixed within a run (batch, imagination starts), so ``mode="reduce-overhead"``
        (CUDA graphs) applies on a GPU.
        """
        self._compiled_step = torch.compile(self._step, **options)

    def obs_step(self, state: RSSMState | None, action: Tensor, embed: Tensor, is_first: Tensor) -> RSSMState:
        """One posterior step (the :meth:`_step` of :meth:`observe`, uncompiled), for acting.

        Args:
            state: (B, ...) previous state, or ``None`` for zeros.
            action: (B, A) the action that led to the observation.
            embed: (B, E) its embedding.
            is_first: (B,) bool; the state and the action are zeroed there first.

        Returns:
            (B, ...) posterior state.
        """
        if state is None:
            state = self.initial(embed.shape[0])
        keep = (~is_first).to(embed.dtype).unsqueeze(-1)  # (B, 1)
        cell = self.cell
        h, z, dist, _, _ = self._step(
            state.deter * keep,
            state.stoch * keep,
            None,
            None,
            self.in_action(action * keep),
            cell.bias_ih,
            cell.bias_hh,
            self.post_embed(embed),
            self.post_out.bias,
            None,
            self.in_stoch.weight.t(),
            cell.weight_ih,
            cell.weight_hh,
            self.post_deter.weight.t(),
            self.post_out.weight.t(),
            True,
        )
        return RSSMState(h, z, self._stats(dist))

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
        N, H = h.shape[0], horizon
        deters, stochs = [h], [z]
        policy: Callable[[Tensor], Tensor] | None = None
        if callable(policy_or_actions):
            policy = policy_or_actions
            gru_in = LoopLinear(
                self.in_action.bias.expand(H, N, -1), self.in_action.weight, self.in_stoch.weight
            )
        else:
            fixed = policy_or_actions
            if fixed.shape[:2] != (N, H):
                raise ValueError(f"actions {tuple(fixed.shape)} do not match (N={N}, H={H}, A)")
            act_in = self.in_action(fixed.transpose(0, 1).contiguous())  # (H, N, hidden)
            gru_in = LoopLinear(act_in, self.in_stoch.weight)
        cell, cpu = self.cell, h.device.type == "cpu"
        cell_x = LoopLinear(cell.bias_ih.expand(H, N, -1), cell.weight_ih, defer=cpu)
        cell_h = LoopLinear(cell.bias_hh.expand(H, N, -1), cell.weight_hh, defer=cpu)
        hidden, out = self._prior_layers()
        prior_in = LoopLinear(hidden.weight.new_zeros(()).expand(H, N, hidden.out_features), hidden.weight)
        prior_out = LoopLinear(out.bias.expand(H, N, -1), out.weight)
        noise = self._noise(H, N, h.device)
        new_deters, new_stochs, dists, actions = self._unroll(
            h, z, noise, gru_in, cell_x, cell_h, prior_in, prior_out, posterior=False, policy=policy
        )
        deters += new_deters
        stochs += new_stochs
        stats = [start.stats.unsqueeze(1)]
        if dists:
            stats.append(self._stats(torch.stack(dists, 1)))
        states = RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1), torch.cat(stats, 1))
        act = policy_or_actions if policy is None else torch.stack(actions, 1)
        assert isinstance(act, Tensor)
        return states, act

    def _prior_layers(self) -> tuple[nn.Linear, nn.Linear]:
        """The prior network's hidden and output Linear layers (its LayerNorm is ``prior_net[1]``)."""
        hidden, out = self.prior_net[0], self.prior_net[3]
        assert isinstance(hidden, nn.Linear) and isinstance(out, nn.Linear)
        return hidden, out

    def _unroll(
        self,
        h: Tensor,
        z: Tensor,
        noise: Sequence[Tensor],
        gru_in: LoopLinear,
        cell_x: LoopLinear,
        cell_h: LoopLinear,
        hidden_in: LoopLinear,
        hidden_out: LoopLinear,
        *,
        posterior: bool,
        resets: Sequence[Tensor | None] | None = None,
        policy: Callable[[Tensor], Tensor] | None = None,
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """The sequential loop of :meth:`observe` (``posterior``) and of :meth:`imagine`: one :meth:`_step`
        per block of noise, on the loop's prepared layers, whose inputs it notes and which it closes.

        Args:
            h, z: (B, D), (B, Z) the state before the first step.
            noise: per step, the random numbers of its latent sample.
            gru_in: the GRU input's layer: weights [W_z] (the actions' projection in its base) or, with a
                ``policy``, [W_a, W_z].
            cell_x, cell_h: the GRU cell's input and hidden weights.
            hidden_in, hidden_out: the posterior's hidden layer (base: the embeddings' projection) and
                output layer, or the prior's.
            posterior: the posterior's LayerNorm on the hidden layer, else the prior's.
            resets: per step, (B, 1) float 0 / 1 the state is multiplied by before the step, or ``None``.
            policy: features (B, F) -> actions (B, A), called before each step.

        Returns:
            Lists over steps: h, z, the distribution of z (as :meth:`_sample` returns it), the policy's
            actions (empty without a policy).
        """
        step = self._compiled_step or self._step
        cell = self.cell
        deters, stochs, dists, actions = [], [], [], []
        for t, eps in enumerate(noise):
            keep = None if resets is None else resets[t]
            if keep is not None:
                h, z = h * keep, z * keep
            a = None
            if policy is not None:
                a = policy(torch.cat([h, z], -1))
                actions.append(a)
            h_in, z_in = h, z
            h, z, dist, x, s = step(
                h,
                z,
                a,
                eps,
                gru_in.bases[t],
                cell_x.bases[t] if cell_x.defer else cell.bias_ih,
                cell_h.bases[t] if cell_h.defer else cell.bias_hh,
                hidden_in.bases[t],
                hidden_out.bases[t],
                gru_in.wts[0] if a is not None else None,
                gru_in.wts[-1],
                cell_x.weights[0],
                cell_h.weights[0],
                hidden_in.wts[0],
                hidden_out.wts[0],
                posterior,
            )
            gru_in.note(*((a, z_in) if a is not None else (z_in,)))
            cell_x.note(x)
            cell_h.note(h_in)
            hidden_in.note(h)
            hidden_out.note(s)
            deters.append(h)
            stochs.append(z)
            dists.append(dist)
        for lin in (gru_in, cell_x, cell_h, hidden_in, hidden_out):
            lin.close()
        return deters, stochs, dists, actions

    def _step(
        self,
        h: Tensor,
        z: Tensor,
        a: Tensor | None,
        noise: Tensor | None,
        gru_base: Tensor,
        bias_x: Tensor,
        bias_h: Tensor,
        hidden_base: Tensor,
        out_base: Tensor,
        wt_a: Tensor | None,
        wt_z: Tensor,
        w_x: Tensor,
        w_h: Tensor,
        wt_hidden: Tensor,
        wt_out: Tensor,
        posterior: bool,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """One posterior or prior step on prepared weights (``wt_*`` transposed): a function of tensors
        only, which :meth:`compile_steps` compiles; every loop (and :meth:`obs_step`) takes its steps here.

        x = SiLU(LN(gru_base [+ a W_a^T] + z W_z^T)), h' = GRU(x, h), s = SiLU(LN(hidden_base + h' W^T)),
        z' sampled from out_base + s W_out^T; the LayerNorm of s is the posterior's or the prior's.

        Args:
            a: the action where its projection is not in ``gru_base`` already (a policy's), else ``None``.
            noise: the sample's random numbers (``None``: drawn here).
            posterior: the posterior's LayerNorm, else the prior's.

        Returns:
            (h', z', the distribution of z', the GRU input x, the hidden layer s).
        """
        x = gru_base if a is None or wt_a is None else torch.addmm(gru_base, a, wt_a)
        x = F.silu(_layer_norm(torch.addmm(x, z, wt_z), self.in_norm))
        h = torch.gru_cell(x, h, w_x, w_h, bias_x, bias_h)
        norm = self.post_norm if posterior else self.prior_net[1]
        assert isinstance(norm, nn.LayerNorm)
        s = F.silu(_layer_norm(torch.addmm(hidden_base, h, wt_hidden), norm))
        z, dist = self._sample(torch.addmm(out_base, s, wt_out), noise)
        return h, z, dist, x, s

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
