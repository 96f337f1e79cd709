"""Learning and open-loop evaluation of models on the state itself (``ensemble``, ``hamiltonian``).

These models take the last observation as their whole state (no recurrent latent): they learn from
single transitions of the replayed sequences the training loop samples (:func:`transitions_from_batch`),
and predict from the last context observation of an evaluation window. They are scored by
:func:`world_model.evaluation.score_openloop`, like the RSSM, so that
``scripts.fit_world_model --family rssm|ensemble|hamiltonian`` writes the same keys.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from envs.episode import SequenceBatch
from envs.errors import UserError
from world_model.config import EnsembleConfig, HamiltonianConfig
from world_model.ensemble import ProbabilisticEnsemble
from world_model.evaluation import PhysicsFn, score_openloop
from world_model.hamiltonian import HamiltonianModel
from world_model.learner import ModelCheckpoint
from world_model.networks import adam
from world_model.transitions import StateModel, Transitions, transitions_from_batch

Family = Literal["rssm", "ensemble", "hamiltonian"]


class StateModelLearner(ModelCheckpoint):
    """Adam over a state model's parameters; one update per replayed batch, like the RSSM's learner.

    Each update turns the (B, T) batch into its B (T - 1) transitions (a pair that crosses into a new
    episode is replaced by the nearest real transition before it in the batch), moves the model's
    normalisers towards them, arranges them into the model's minibatch and takes one gradient step.

    Args:
        model: an :class:`~world_model.ensemble.ProbabilisticEnsemble` or
            :class:`~world_model.hamiltonian.HamiltonianModel`.
        lr: learning rate; weight_decay: Adam's (coupled, L2) weight decay.
    """

    def __init__(
        self, model: ProbabilisticEnsemble | HamiltonianModel, *, lr: float, weight_decay: float = 0.0
    ) -> None:
        self.model = model
        self.opt = adam(model.parameters(), lr=lr, eps=1e-8, weight_decay=weight_decay)
        self.updates = 0

    def update(self, batch: SequenceBatch[Tensor]) -> tuple[dict[str, float], None]:
        """One gradient step on the transitions of a batch of real sequences (B, T, D).

        Returns:
            (metrics under ``wm/``, None: the state is the observation, there are no latent states).
        """
        data = _real_transitions(batch)
        if data is None:  # every pair crosses an episode start: nothing to learn from
            return {}, None
        self.model.train()
        self.model.update_normalisers(data)
        loss, metrics = self.model.loss(self.model.minibatch(data))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.updates += 1
        return metrics, None

    @torch.no_grad()
    def metrics(self, batch: SequenceBatch[Tensor]) -> dict[str, float]:
        """The training loss's metrics on a batch, without updating anything (normalisers included)."""
        data = _real_transitions(batch)
        if data is None:
            return {}
        was_training = self.model.training
        self.model.eval()
        _, metrics = self.model.loss(self.model.minibatch(data))
        self.model.train(was_training)
        return metrics


def _real_transitions(batch: SequenceBatch[Tensor]) -> Transitions[Tensor] | None:
    """The batch's transitions, each pair across an episode start replaced by the nearest real transition
    before it (wrapping around); ``None`` if there is none. Rows keep their number and order."""
    data, valid = transitions_from_batch(batch)
    if bool(valid.all()):
        return data
    if not bool(valid.any()):
        return None
    rows = torch.arange(len(valid), device=valid.device)
    nearest = torch.cummax(torch.where(valid, rows, -1), 0).values
    last = int(rows[valid][-1])
    nearest = torch.where(nearest < 0, last, nearest)
    return Transitions(*(x[nearest] for x in data))


def build_state_model(
    family: Family,
    obs_shape: tuple[int, ...],
    action_dim: int,
    *,
    ensemble: EnsembleConfig,
    hamiltonian: HamiltonianConfig,
) -> tuple[ProbabilisticEnsemble | HamiltonianModel, StateModelLearner]:
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
        ens = ProbabilisticEnsemble(ensemble, obs_shape[0], action_dim)
        return ens, StateModelLearner(ens, lr=ensemble.lr, weight_decay=ensemble.weight_decay)
    if family == "hamiltonian":
        try:
            ham = HamiltonianModel(hamiltonian, obs_shape[0], action_dim)
        except ValueError as err:
            raise UserError(f"the hamiltonian model needs (q, p) observations: {err}") from err
        return ham, StateModelLearner(ham, lr=hamiltonian.lr)
    raise UserError(f"{family!r} is not a state-model family (ensemble, hamiltonian)")


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
