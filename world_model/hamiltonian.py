"""Hamiltonian dynamics for conservative systems: learn H(q, p), step with a symplectic integrator.

The observation is read as (q, p): n generalised coordinates and their n momenta. The model learns a
separable Hamiltonian H(q, p) = T(p) + V(q) (two MLPs) and moves the state with the leapfrog
(Stormer-Verlet) integrator

    p_half = p - (h / 2) dV/dq(q);   q' = q + h dT/dp(p_half);   p' = p_half - (h / 2) dV/dq(q'),

which is symplectic and time-reversible, so the *learned* H is conserved up to a bounded oscillation of
order h^2 over any number of steps instead of drifting. Gradients of T and V come from autograd (the
training loss differentiates through them: second derivatives). The time unit is the environment step
(h = 1 / substeps): H absorbs the physical time scale.

The baseline (``dynamics: mlp``) is an MLP with the same input features that predicts (q' - q, p' - p)
directly. Both are trained on the same loss: the squared error of the predicted change of (q, p) in
units of its standard deviation (running statistics of the training batches), plus a reward head on
the next state. Actions are ignored (the systems
are torque-free); the episode never ends (continue probability 1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from world_model.config import HamiltonianConfig
from world_model.networks import mlp
from world_model.normalise import Standardiser
from world_model.transitions import DeterministicStateModel, Transitions


def leapfrog(
    q: Tensor, p: Tensor, grad_v: Callable[[Tensor], Tensor], grad_t: Callable[[Tensor], Tensor], h: float
) -> tuple[Tensor, Tensor]:
    """One leapfrog step of a separable Hamiltonian H = T(p) + V(q).

    Args:
        q, p: (..., n) coordinates and momenta.
        grad_v: dV/dq as a function of q; grad_t: dT/dp as a function of p.
        h: step size.

    Returns:
        (q', p') after one step.
    """
    p_half = p - 0.5 * h * grad_v(q)
    q_next = q + h * grad_t(p_half)
    return q_next, p_half - 0.5 * h * grad_v(q_next)


class HamiltonianModel(DeterministicStateModel):
    """Learned separable Hamiltonian with leapfrog steps, or the same-size MLP baseline.

    Args:
        cfg: dynamics kind, sizes, angle features, substeps.
        obs_dim: 2 n (q then p).
        action_dim: A (ignored).

    Raises:
        ValueError: an odd observation size.
    """

    def __init__(self, cfg: HamiltonianConfig, obs_dim: int, action_dim: int) -> None:
        super().__init__()
        if obs_dim % 2 or obs_dim < 2:
            raise ValueError(f"a (q, p) observation has an even size, got {obs_dim}")
        self.cfg = cfg
        self.n = obs_dim // 2
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.hamiltonian = cfg.dynamics == "hamiltonian"
        q_feat = 2 * self.n if cfg.angles else self.n
        self.p_norm = Standardiser(self.n)
        self.q_norm = Standardiser(self.n)  # used for non-angle coordinates only
        self.delta_norm = Standardiser(obs_dim)
        self.reward_norm = Standardiser(1)

        def smooth_mlp(in_dim: int, out_dim: int) -> nn.Sequential:
            """Linear -> SiLU stacks without LayerNorm (H and its gradient must be smooth in the input)."""
            return mlp(in_dim, out_dim, units=cfg.units, layers=cfg.layers, norm=False)

        if self.hamiltonian:
            self.kinetic = smooth_mlp(self.n, 1)
            self.potential = smooth_mlp(q_feat, 1)
        else:
            self.step_net = smooth_mlp(q_feat + self.n, obs_dim)
        self.reward_net = smooth_mlp(q_feat + self.n, 1)

    # ----- features and energy ---------------------------------------------------------------
    def _q_features(self, q: Tensor) -> Tensor:
        if self.cfg.angles:
            return torch.cat([torch.cos(q), torch.sin(q)], -1)
        return self.q_norm(q)

    def energy(self, q: Tensor, p: Tensor) -> Tensor:
        """(...) the learned H(q, p) = T(p) + V(q) (``dynamics: hamiltonian`` only)."""
        if not self.hamiltonian:
            raise RuntimeError("the mlp dynamics has no Hamiltonian")
        return (self.kinetic(self.p_norm(p)) + self.potential(self._q_features(q))).squeeze(-1)

    def _grad(self, net: nn.Module, feat: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
        def grad(x: Tensor) -> Tensor:
            create = torch.is_grad_enabled()  # training: the loss differentiates through the gradient
            with torch.enable_grad():
                x_ = x if x.requires_grad else x.detach().requires_grad_(True)
                out = net(feat(x_)).sum()
                (g,) = torch.autograd.grad(out, x_, create_graph=create)
            return g

        return grad

    def step(self, obs: Tensor) -> Tensor:
        """The next observation (..., 2 n) from (..., 2 n) (actions play no part)."""
        q, p = obs[..., : self.n], obs[..., self.n :]
        if self.hamiltonian:
            grad_v = self._grad(self.potential, self._q_features)
            grad_t = self._grad(self.kinetic, self.p_norm)
            h = 1.0 / self.cfg.substeps
            for _ in range(self.cfg.substeps):
                q, p = leapfrog(q, p, grad_v, grad_t, h)
            return torch.cat([q, p], -1)
        x = torch.cat([self._q_features(q), self.p_norm(p)], -1)
        return obs + self.delta_norm.inverse(self.step_net(x))

    def _reward(self, obs: Tensor) -> Tensor:
        q, p = obs[..., : self.n], obs[..., self.n :]
        x = torch.cat([self._q_features(q), self.p_norm(p)], -1)
        return self.reward_norm.inverse(self.reward_net(x)).squeeze(-1)

    # ----- StateModel -------------------------------------------------------------------------
    def update_normalisers(self, data: Transitions[Tensor]) -> None:
        """Move the scales of p (and q), of the change of (q, p) and of the reward towards the
        transitions (N, ...)."""
        self.p_norm.update(data.obs[:, self.n :])
        self.q_norm.update(data.obs[:, : self.n])
        self.delta_norm.update(data.next_obs - data.obs)
        self.reward_norm.update(data.reward.unsqueeze(-1))
