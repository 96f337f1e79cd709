"""Momentum conservation by construction: pairwise impulses applied antisymmetrically (Newton's third law).

WORLD-MODELS.md section 4c. The observation holds N particles' positions x_i, then their velocities v_i
(d numbers each, :mod:`envs.particles`), and the masses m_i are known. For every unordered pair i < j a
network (the edge function of a graph network on the complete graph) maps

    (x_j - x_i, v_j - v_i, |x_j - x_i|, m_i, m_j)  ->  f_ij  (d numbers: an impulse),

and the step applies it with opposite signs, dv_i = +f_ij / m_i, dv_j = -f_ij / m_j. Then

    sum_i m_i v_i' = sum_i m_i v_i + sum_{i<j} (f_ij - f_ij) = sum_i m_i v_i

for any weights, exactly up to floating-point round-off. The features are differences, so the model is
also translation invariant. Positions move by the trapezoid rule, x_i' = x_i + tau (v_i + v_i') / 2, with
tau (the step in the velocities' time unit) learned, from an estimate on the first training batch.
``substeps`` impulse-and-drift steps make one environment step.

The baseline (``dynamics: mlp``) is an MLP from the whole standardised observation to its change, with no
structure. Both models are trained on the same loss as the Hamiltonian model: the squared error of the
predicted change in units of its standard deviation, plus a reward head on the next observation (the same
head in both). Actions are ignored (no external force); the episode never ends (continue probability 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from world_model.config import GraphConfig
from world_model.networks import mlp
from world_model.normalise import Standardiser
from world_model.transitions import DeterministicStateModel, Transitions


class PairwiseForceModel(DeterministicStateModel):
    """Antisymmetric pairwise impulses (``dynamics: graph``) or the unstructured MLP baseline.

    Args:
        cfg: dynamics kind, sizes, substeps.
        obs_dim: 2 N d.
        action_dim: A (ignored).
        masses: (N,) the particles' masses.
        dim: d, spatial dimensions.

    Raises:
        ValueError: an observation size other than 2 N d, fewer than 2 particles, or a mass <= 0.
    """

    def __init__(
        self, cfg: GraphConfig, obs_dim: int, action_dim: int, masses: Sequence[float], dim: int
    ) -> None:
        super().__init__()
        n = len(masses)
        if n < 2 or min(masses) <= 0 or dim < 1 or obs_dim != 2 * n * dim:
            raise ValueError(
                f"need >= 2 positive masses and observations of 2 N d = {2 * n * dim} entries "
                f"(N = {n} particles, d = {dim}), got {obs_dim} entries and masses {tuple(masses)}"
            )
        self.cfg = cfg
        self.n, self.dim = n, dim
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.graph = cfg.dynamics == "graph"
        self.masses: Tensor
        self.first: Tensor
        self.second: Tensor
        self.register_buffer("masses", torch.tensor(masses, dtype=torch.float32), persistent=False)
        first, second = torch.triu_indices(n, n, 1)
        self.register_buffer("first", first, persistent=False)
        self.register_buffer("second", second, persistent=False)
        self.obs_norm = Standardiser(obs_dim)
        self.delta_norm = Standardiser(obs_dim)
        self.reward_norm = Standardiser(1)
        if self.graph:
            self.rel_pos_norm = Standardiser(dim)
            self.rel_vel_norm = Standardiser(dim)
            self.impulse_norm = Standardiser(dim)
            self.pair_net = mlp(2 * dim + 1 + 2, dim, units=cfg.units, layers=cfg.layers, norm=False)
            self.log_tau = nn.Parameter(torch.zeros(()))
            self.tau0: Tensor
            self.register_buffer("tau0", torch.zeros(()))
        else:
            self.step_net = mlp(obs_dim, obs_dim, units=cfg.units, layers=cfg.layers, norm=False)
        self.reward_net = mlp(obs_dim, 1, units=cfg.reward_units, layers=2, norm=False)

    # ----- state layout -----------------------------------------------------------------------
    def split(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Positions and velocities (..., N, d) of observations (..., 2 N d)."""
        half = self.n * self.dim
        lead = obs.shape[:-1]
        return obs[..., :half].reshape(*lead, self.n, self.dim), obs[..., half:].reshape(
            *lead, self.n, self.dim
        )

    def momentum(self, obs: Tensor) -> Tensor:
        """Total momentum sum_i m_i v_i (..., d) of observations (..., 2 N d)."""
        _, v = self.split(obs)
        return (self.masses.to(v.dtype)[:, None] * v).sum(-2)

    # ----- dynamics ---------------------------------------------------------------------------
    def impulses(self, x: Tensor, v: Tensor) -> Tensor:
        """f_ij (..., P, d) of the P = N (N - 1) / 2 pairs i < j (``torch.triu_indices`` order)."""
        i, j = self.first, self.second
        m = self.masses.to(x.dtype)
        r, u = x[..., j, :] - x[..., i, :], v[..., j, :] - v[..., i, :]
        r_scale, u_scale = self.rel_pos_norm.std.to(x.dtype), self.rel_vel_norm.std.to(x.dtype)
        dist = r.norm(dim=-1, keepdim=True) / r_scale.mean()
        mass = (torch.stack([m[i], m[j]], -1) / m.mean()).expand(*r.shape[:-1], 2)
        feat = torch.cat([r / r_scale, u / u_scale, dist, mass], -1)
        return self.pair_net(feat) * self.impulse_norm.std.to(x.dtype)

    def tau(self) -> Tensor:
        """() the learned step of the positions, in units of the velocities' time."""
        return self.tau0 * self.log_tau.exp()

    def step(self, obs: Tensor) -> Tensor:
        """The next observation (..., 2 N d) from (..., 2 N d) (actions play no part)."""
        if not self.graph:
            return obs + self.delta_norm.inverse(self.step_net(self.obs_norm(obs)))
        x, v = self.split(obs)
        m = self.masses.to(obs.dtype)[:, None]
        h = 1.0 / self.cfg.substeps
        tau = self.tau().to(obs.dtype)
        for _ in range(self.cfg.substeps):
            f = h * self.impulses(x, v)
            net = torch.zeros_like(v).index_add(-2, self.first, f).index_add(-2, self.second, -f)
            v_next = v + net / m
            x = x + h * tau * 0.5 * (v + v_next)
            v = v_next
        return torch.cat([x.flatten(-2), v.flatten(-2)], -1)

    def _reward(self, obs: Tensor) -> Tensor:
        return self.reward_norm.inverse(self.reward_net(self.obs_norm(obs))).squeeze(-1)

    # ----- StateModel -------------------------------------------------------------------------
    @torch.no_grad()
    def update_normalisers(self, data: Transitions[Tensor]) -> None:
        """Move the scales of the observation, its change, the reward (and, for the graph dynamics, the
        relative positions and velocities and the impulses m_i dv_i) towards the transitions (N, ...); the
        first batch also sets the estimate tau0 of the position step: least squares of dx against
        (v + v') / 2."""
        self.obs_norm.update(data.obs)
        self.delta_norm.update(data.next_obs - data.obs)
        self.reward_norm.update(data.reward.unsqueeze(-1))
        if not self.graph:
            return
        x, v = self.split(data.obs)
        x_next, v_next = self.split(data.next_obs)
        i, j = self.first, self.second
        self.rel_pos_norm.update(x[..., j, :] - x[..., i, :])
        self.rel_vel_norm.update(v[..., j, :] - v[..., i, :])
        self.impulse_norm.update(self.masses[:, None] * (v_next - v))
        if float(self.tau0) == 0.0:
            mid = 0.5 * (v + v_next)
            self.tau0.fill_(float(((x_next - x) * mid).sum() / (mid**2).sum().clamp(min=1e-12)))
