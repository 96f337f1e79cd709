"""Training of the world model: Adam, gradient clipping, EMA of the latent objective's target encoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from envs.episode import SequenceBatch
from world_model.config import WorldModelConfig
from world_model.model import WorldModel
from world_model.networks import adam, clip_grad_norm, step_if_finite
from world_model.rssm import RSSMState

ExtraLoss = Callable[[RSSMState], tuple[torch.Tensor, dict[str, float]]]
"""Posterior states (B, T, ...) with their graph -> (a loss added to the world model's, its metrics)."""


class ModelCheckpoint:
    """Checkpoint parts of a learner with one model, one optimiser and an update counter: ``world_model``,
    ``optimizers.world_model``, ``counters.world_model_updates`` (every model family names them so)."""

    model: Any  # the subclass's model (an nn.Module)
    opt: torch.optim.Optimizer
    updates: int

    def state_dict(self) -> dict[str, Any]:
        """The three parts."""
        return {
            "world_model": self.model.state_dict(),
            "optimizers": {"world_model": self.opt.state_dict()},
            "counters": {"world_model_updates": self.updates},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the parts :meth:`state_dict` names (other parts of a checkpoint are ignored)."""
        self.model.load_state_dict(state["world_model"])
        self.opt.load_state_dict(state["optimizers"]["world_model"])
        self.updates = int(state["counters"]["world_model_updates"])


class WorldModelLearner(ModelCheckpoint):
    """Owns the optimiser of a :class:`WorldModel` and performs its updates.

    Args:
        model: the world model (its parameters are optimised in place).
        cfg: the model's config (``optim`` and ``latent.ema`` are used).
        energy_fn: observations (B, T, D) numpy -> simulator energies (B, T), the labels of the
            energy-consistency regulariser (``loss.energy`` > 0), e.g. ``envs.physics.physics_for(env)``'s
            ``energy``; computed from each training batch's observations.

    Raises:
        ValueError: ``loss.energy`` > 0 without an ``energy_fn``.
    """

    def __init__(
        self,
        model: WorldModel,
        cfg: WorldModelConfig,
        *,
        energy_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        if model.energy is not None and energy_fn is None:
            raise ValueError("loss.energy > 0 needs energy labels: pass energy_fn (observations -> energy)")
        self.model = model
        self.cfg = cfg
        self.energy_fn = energy_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        opt = cfg.optim
        self.opt = adam(self.params, lr=opt.lr, eps=opt.eps, weight_decay=opt.weight_decay, decoupled=True)
        self.updates = 0

    def update(
        self, batch: SequenceBatch[torch.Tensor], *, extra: ExtraLoss | None = None
    ) -> tuple[dict[str, float], RSSMState]:
        """One gradient step on a batch of real sequences (B, T, ...); a step whose gradients are not
        finite is skipped (:func:`world_model.networks.step_if_finite`), the running statistics the batch
        moved (observation normalisation) are put back, and ``wm/skipped`` is 1.

        Args:
            batch: the (B, T) batch.
            extra: a further loss on the posterior states (with their graph) added to the model's loss
                before the step, and its metrics (an agent's term that trains the representation).

        Returns:
            (metrics under ``wm/``, detached posterior states (B, T, ...) for imagination).
        """
        self.model.train()
        saved = [b.detach().clone() for b in self.model.buffers()]  # a few hundred numbers
        loss, metrics, post = self.model.loss(batch, self.energy_labels(batch))
        if extra is not None:
            term, found = extra(post)
            loss = loss + term
            metrics.update(found)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg.optim.grad_clip
        norm = clip_grad_norm(self.params, clip if clip > 0 else float("inf"))
        stepped = step_if_finite(self.opt, norm)
        if not stepped:  # a corrupt batch leaves no trace, in the weights or in the statistics
            with torch.no_grad():
                for buffer, before in zip(self.model.buffers(), saved, strict=True):
                    buffer.copy_(before)
        self.model.update_target(self.cfg.latent.ema)
        self.updates += 1
        metrics["wm/grad_norm"] = float(norm)
        metrics["wm/skipped"] = 0.0 if stepped else 1.0
        return metrics, post.detach()

    @torch.no_grad()
    def metrics(self, batch: SequenceBatch[torch.Tensor]) -> dict[str, float]:
        """The training loss's metrics (under ``wm/``) on a batch, without updating anything (evaluation
        mode: no running statistics move)."""
        was_training = self.model.training
        self.model.eval()
        _, metrics, _ = self.model.loss(batch, self.energy_labels(batch))
        self.model.train(was_training)
        return metrics

    def energy_labels(self, batch: SequenceBatch[torch.Tensor]) -> torch.Tensor | None:
        """(B, T) simulator energies of the batch's observations (``None`` when the regulariser is off)."""
        if self.model.energy is None or self.energy_fn is None:
            return None
        energy = np.asarray(self.energy_fn(batch.obs.detach().cpu().numpy()), dtype=np.float32)
        return torch.as_tensor(energy, device=batch.obs.device)
