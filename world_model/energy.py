"""Energy-consistency regulariser: imagined trajectories should change energy the way real ones do.

The simulator gives the energy E(s_t) of every real state for free (``envs.physics``: labels computed
from the stored observations when a training batch is built). Two auxiliary heads learn, from the
posterior feature f_t:

- the energy head  E_hat(f_t) ~ E(s_t)                             (standardised by running statistics);
- the transfer head dE_hat(f_t, a_{t+1}) ~ E(s_{t+1}) - E(s_t)     (actuator work of the action plus
  dissipation and contact losses, exactly as the simulator's energy bookkeeping sums them).

The regulariser rolls the prior from posterior states under the sequence's own actions and penalises
every imagined step k by

    (E_hat(f'_{k+1}) - E_hat(f'_k) - sg[dE_hat(f'_k, a_k)])^2     (in units of the real dE's spread,
                                                                 floored at 1% of the energy's spread)

with both heads' parameters frozen and the target stopped, so the gradient moves only the dynamics
(and the start states' representation is detached too): the model cannot satisfy the penalty by
flattening its energy head, which the real labels anchor. With actuation and friction this penalises
the *mismatch* of the energy change, not the change itself (WORLD-MODELS.md section 3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from world_model.config import EnergyConfig
from world_model.networks import mlp
from world_model.normalise import Standardiser


def _frozen(module: nn.Module, *args: Tensor) -> Tensor:
    """``module(*args)`` with its parameters detached: gradients reach the inputs only."""
    params = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, params, args)


class EnergyRegulariser(nn.Module):
    """The energy and transfer heads and the consistency penalty.

    Args:
        cfg: head sizes, imagination horizon and stride.
        feat_dim: model feature size F.
        action_dim: A.
    """

    def __init__(self, cfg: EnergyConfig, feat_dim: int, action_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.energy_head = mlp(feat_dim, 1, units=cfg.units, layers=cfg.layers)
        self.transfer_head = mlp(feat_dim + action_dim, 1, units=cfg.units, layers=cfg.layers)
        self.energy_norm = Standardiser(1, min_std=1e-3)
        self.change_norm = Standardiser(1, min_std=1e-4)

    def change_scale(self) -> Tensor:
        """(1,) unit of energy changes: their running std, floored at ``min_change_scale`` x energy's std."""
        return torch.maximum(self.change_norm.std, self.cfg.min_change_scale * self.energy_norm.std)

    def energy(self, feat: Tensor) -> Tensor:
        """(...) predicted energy (J) of states with features (..., F)."""
        return self.energy_norm.inverse(self.energy_head(feat)).squeeze(-1)

    def head_losses(
        self, feat: Tensor, action: Tensor, energy: Tensor, is_first: Tensor, *, update_stats: bool
    ) -> dict[str, Tensor]:
        """Regression losses of both heads on real sequences.

        Args:
            feat: (B, T, F) posterior features.
            action: (B, T, A); ``action[:, t]`` led to step t.
            energy: (B, T) simulator energy of the real states.
            is_first: (B, T) bool.
            update_stats: move the running energy statistics towards this batch (training).

        Returns:
            ``energy_head`` and ``energy_transfer`` (scalar MSE in standardised units) and
            ``energy_transfer_r2`` (share of the real energy change's variance the transfer head explains).
        """
        energy = energy.to(feat.dtype)
        change = energy[:, 1:] - energy[:, :-1]  # (B, T - 1)
        same = (~is_first[:, 1:]).to(feat.dtype)
        if update_stats:
            self.energy_norm.update(energy.reshape(-1, 1))
            if bool(same.any()):
                self.change_norm.update(change[same.bool()].reshape(-1, 1))
        e_err = (self.energy_head(feat).squeeze(-1) - self.energy_norm(energy.unsqueeze(-1)).squeeze(-1)) ** 2
        pred = self.transfer_head(torch.cat([feat[:, :-1], action[:, 1:]], -1)).squeeze(-1)
        target = (change - self.change_norm.mean) / self.change_scale()
        t_err = (pred - target) ** 2
        n = same.sum().clamp(min=1.0)
        transfer = (t_err * same).sum() / n
        centred = ((target - (target * same).sum() / n) ** 2 * same).sum() / n
        return {
            "energy_head": e_err.mean(),
            "energy_transfer": transfer,
            "energy_transfer_r2": 1.0 - transfer.detach() / centred.detach().clamp(min=1e-8),
        }

    def consistency(self, feat: Tensor, action: Tensor, valid: Tensor) -> Tensor:
        """The penalty on imagined trajectories.

        Args:
            feat: (N, H + 1, F) imagined features, index 0 the start state.
            action: (N, H, A); ``action[:, k]`` leads from state k to k + 1.
            valid: (N,) bool, rollouts whose actions stay inside one episode.

        Returns:
            Scalar: mean squared mismatch per imagined step, in units of :meth:`change_scale`.
        """
        e = _frozen(self.energy_head, feat).squeeze(-1)  # (N, H + 1), standardised energy
        unit = self.change_scale()
        d_model = (e[:, 1:] - e[:, :-1]) * (self.energy_norm.std / unit)  # dE / unit
        with torch.no_grad():  # the transfer head's (dE - mean) / unit, back to dE / unit
            pred = self.transfer_head(torch.cat([feat[:, :-1], action], -1)).squeeze(-1)
            target = pred + self.change_norm.mean / unit
        err = ((d_model - target) ** 2).mean(-1)  # (N,)
        w = valid.to(err.dtype)
        return (err * w).sum() / w.sum().clamp(min=1.0)
