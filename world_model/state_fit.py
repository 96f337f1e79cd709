"""Fitting and open-loop evaluation of models on the state itself (``ensemble``, ``hamiltonian``).

These models take the last observation as their whole state (no recurrent latent): they train on
single transitions and predict from the last context observation of an evaluation window. They are
scored by :func:`world_model.evaluation.score_openloop`, like the RSSM, so that
``scripts.fit_world_model --family rssm|ensemble|hamiltonian`` writes the same keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from envs.episode import SequenceBatch
from envs.errors import UserError
from world_model.config import EnsembleConfig, HamiltonianConfig
from world_model.ensemble import ProbabilisticEnsemble
from world_model.evaluation import PhysicsFn, score_openloop
from world_model.hamiltonian import HamiltonianModel
from world_model.transitions import StateModel, Transitions

Family = Literal["rssm", "ensemble", "hamiltonian"]


class StateModelLearner:
    """Adam over a state model's parameters; each update draws the model's own minibatch.

    Args:
        model: an :class:`~world_model.ensemble.ProbabilisticEnsemble` or
            :class:`~world_model.hamiltonian.HamiltonianModel`.
        lr: learning rate; weight_decay: Adam's (coupled, L2) weight decay.
        batch_size: transitions per update (per member for the ensemble).
    """

    def __init__(self, model: Any, *, lr: float, batch_size: int, weight_decay: float = 0.0) -> None:
        self.model = model
        self.batch_size = batch_size
        self.opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.updates = 0

    def update(self, data: Transitions[Tensor], generator: torch.Generator) -> dict[str, float]:
        """One gradient step; metrics under ``wm/``."""
        self.model.train()
        batch = self.model.sample_batch(data, self.batch_size, generator)
        loss, metrics = self.model.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.updates += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser and update count."""
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.updates = int(state["updates"])


def build_state_model(
    family: Family,
    obs_shape: tuple[int, ...],
    action_dim: int,
    *,
    ensemble: EnsembleConfig,
    hamiltonian: HamiltonianConfig,
) -> tuple[nn.Module, StateModelLearner]:
    """The model of ``family`` (``ensemble`` or ``hamiltonian``) and its learner.

    Raises:
        UserError: pixel observations (these are state-observation models), an odd observation size for
            the Hamiltonian model, or the ``rssm`` family (built by :class:`world_model.WorldModel`).
    """
    if len(obs_shape) != 1:
        raise UserError(
            f"the {family} model works on state observations (D,), got {obs_shape}: use --envs.obs state "
            "or --family rssm"
        )
    if family == "ensemble":
        model: nn.Module = ProbabilisticEnsemble(ensemble, obs_shape[0], action_dim)
        learner = StateModelLearner(
            model, lr=ensemble.lr, batch_size=ensemble.batch_size, weight_decay=ensemble.weight_decay
        )
        return model, learner
    if family == "hamiltonian":
        try:
            model = HamiltonianModel(hamiltonian, obs_shape[0], action_dim)
        except ValueError as err:
            raise UserError(f"the hamiltonian model needs (q, p) observations: {err}") from err
        return model, StateModelLearner(model, lr=hamiltonian.lr, batch_size=hamiltonian.batch_size)
    raise UserError(f"{family!r} is not a state-model family (ensemble, hamiltonian)")


def fit_state_model(
    learner: StateModelLearner,
    data: Transitions[Tensor],
    *,
    updates: int,
    generator: torch.Generator,
    on_update: Callable[[int, dict[str, float]], None] | None = None,
) -> None:
    """Prepare the model on ``data`` (normalisers, bootstrap) and train it up to ``updates`` updates.

    Args:
        learner: the model's learner (continues from ``learner.updates``).
        data: all training transitions, on the model's device.
        updates: total updates to reach.
        generator: source of the bootstrap resamples and minibatches.
        on_update: called after every update with (update count, metrics): logging, evaluation,
            checkpoints, progress are the caller's.
    """
    if learner.updates == 0:
        learner.model.prepare(data, generator)
    while learner.updates < updates:
        metrics = learner.update(data, generator)
        if on_update is not None:
            on_update(learner.updates, metrics)


@torch.no_grad()
def openloop_eval_states(
    model: StateModel,
    batch: SequenceBatch[Tensor],
    *,
    context: int,
    horizon: int,
    particles: int = 1,
    threshold: float = 0.1,
    physics: PhysicsFn | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Open-loop evaluation of a state model on the same windows the RSSM is scored on.

    The model starts from the real observation at step K - 1 (the last of the context) and predicts
    steps K .. K + H - 1 under the real actions, ``particles`` sampled trajectories per window.

    Returns:
        The keys of :func:`world_model.evaluation.openloop_eval`; ``posterior_nmse`` is 0 (the state is
        the observation itself), and ``openloop_nmse_particle_mean`` (the error of the particles' mean)
        is added when ``particles`` > 1.
    """
    K, H = context, horizon
    if context < 1 or horizon < 1 or batch.obs.shape[1] < K + H:
        raise ValueError(
            f"need context >= 1, horizon >= 1 and T >= context + horizon, got T={batch.obs.shape[1]}"
        )
    generator = torch.Generator().manual_seed(seed)
    start = batch.obs[:, K - 1].to(torch.float32)
    roll = model.rollout(start, batch.action[:, K : K + H].float(), particles=particles, generator=generator)
    result: dict[str, Any] = {"posterior_nmse": 0.0}
    result.update(
        score_openloop(
            batch,
            context=K,
            horizon=H,
            pred_obs=roll.obs,
            pred_reward=roll.reward,
            pred_cont=roll.cont,
            threshold=threshold,
            physics=physics,
        )
    )
    result["particles"] = particles
    return result
