"""Learning and open-loop evaluation of models on the state itself (``ensemble``, ``hamiltonian``, ``ebm``,
``diffusion``, ``graph``).

These models take the last observation as their whole state (no recurrent latent): they learn from
single transitions of the replayed sequences the training loop samples (:func:`transitions_from_batch`),
and predict from the last context observation of an evaluation window. They are scored by
:func:`world_model.evaluation.score_openloop`, like the RSSM, so that
``scripts.fit_world_model --family rssm|ensemble|hamiltonian|ebm|diffusion|graph`` writes the same keys.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from envs.episode import SequenceBatch
from envs.errors import UserError
from envs.particles import ParticleLayout
from world_model.config import DiffusionConfig, EBMConfig, EnsembleConfig, GraphConfig, HamiltonianConfig
from world_model.diffusion import DiffusionDynamicsModel
from world_model.ebm import EnergyDynamicsModel
from world_model.ensemble import ProbabilisticEnsemble
from world_model.evaluation import PhysicsFn, score_openloop
from world_model.hamiltonian import HamiltonianModel
from world_model.learner import ModelCheckpoint
from world_model.networks import adam
from world_model.pairwise import PairwiseForceModel
from world_model.transitions import StateModel, Transitions, transitions_from_batch

Family = Literal["rssm", "ensemble", "hamiltonian", "ebm", "diffusion", "graph"]
STATE_FAMILIES: tuple[str, ...] = ("ensemble", "hamiltonian", "ebm", "diffusion", "graph")
"""The families modelled on the state itself (all but ``rssm``)."""

StateModule = (
    ProbabilisticEnsemble
    | HamiltonianModel
    | EnergyDynamicsModel
    | DiffusionDynamicsModel
    | PairwiseForceModel
)


class StateModelLearner(ModelCheckpoint):
    """Adam over a state model's parameters; one update per replayed batch, like the RSSM's learner.

    Each update turns the (B, T) batch into its B (T - 1) transitions (a pair that crosses into a new
    episode is replaced by the nearest real transition before it in the batch), moves the model's
    normalisers towards them, arranges them into the model's minibatch and takes one gradient step.

    Args:
        model: one of the state models (:data:`StateModule`).
        lr: learning rate; weight_decay: Adam's (coupled, L2) weight decay.
        grad_clip: clip the global gradient norm to this value (0: no clipping).
    """

    def __init__(
        self, model: StateModule, *, lr: float, weight_decay: float = 0.0, grad_clip: float = 0.0
    ) -> None:
        self.model = model
        self.opt = adam(model.parameters(), lr=lr, eps=1e-8, weight_decay=weight_decay)
        self.grad_clip = grad_clip
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
        if self.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            metrics["wm/grad_norm"] = float(norm)
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
    ensemble: EnsembleConfig | None = None,
    hamiltonian: HamiltonianConfig | None = None,
    ebm: EBMConfig | None = None,
    diffusion: DiffusionConfig | None = None,
    graph: GraphConfig | None = None,
    layout: ParticleLayout | None = None,
) -> tuple[StateModule, StateModelLearner]:
    """The model of a state family and its learner; each family reads its own config (default: the
    config's defaults).

    Args:
        family: ``ensemble``, ``hamiltonian``, ``ebm``, ``diffusion`` or ``graph``.
        obs_shape: (D,).
        action_dim: A.
        ensemble, hamiltonian, ebm, diffusion, graph: the families' configs.
        layout: the particle system's masses and spatial dimension (``graph`` only: the env's
            ``layout``, :class:`envs.particles.ParticleLayout`).

    Raises:
        UserError: pixel observations (these are state-observation models), an odd observation size for
            the Hamiltonian model, ``graph`` without a particle layout or with observations that do not
            fit it, or the ``rssm`` family (built by :class:`world_model.WorldModel`).
    """
    if len(obs_shape) != 1:
        raise UserError(
            f"the {family} model works on state observations (D,), got {obs_shape}: use --envs.obs state "
            "or --family rssm"
        )
    if family == "ensemble":
        e_cfg = ensemble or EnsembleConfig()
        ens = ProbabilisticEnsemble(e_cfg, obs_shape[0], action_dim)
        return ens, StateModelLearner(ens, lr=e_cfg.lr, weight_decay=e_cfg.weight_decay)
    if family == "hamiltonian":
        h_cfg = hamiltonian or HamiltonianConfig()
        try:
            ham = HamiltonianModel(h_cfg, obs_shape[0], action_dim)
        except ValueError as err:
            raise UserError(f"the hamiltonian model needs (q, p) observations: {err}") from err
        return ham, StateModelLearner(ham, lr=h_cfg.lr)
    if family == "ebm":
        b_cfg = ebm or EBMConfig()
        try:
            energy = EnergyDynamicsModel(b_cfg, obs_shape[0], action_dim)
        except ValueError as err:
            raise UserError(f"--ebm.*: {err}") from err
        return energy, StateModelLearner(energy, lr=b_cfg.lr, grad_clip=b_cfg.grad_clip)
    if family == "diffusion":
        d_cfg = diffusion or DiffusionConfig()
        diff = DiffusionDynamicsModel(d_cfg, obs_shape[0], action_dim)
        return diff, StateModelLearner(diff, lr=d_cfg.lr, grad_clip=d_cfg.grad_clip)
    if family == "graph":
        g_cfg = graph or GraphConfig()
        if layout is None:
            raise UserError(
                "the graph model needs a particle system's masses and layout (an env like ParticleSprings)"
            )
        try:
            pair = PairwiseForceModel(g_cfg, obs_shape[0], action_dim, layout.masses, layout.dim)
        except ValueError as err:
            raise UserError(f"the graph model does not fit these observations: {err}") from err
        return pair, StateModelLearner(pair, lr=g_cfg.lr)
    raise UserError(f"{family!r} is not a state-model family ({', '.join(STATE_FAMILIES)})")


def sampled_particles(
    family: Family,
    *,
    ensemble: EnsembleConfig | None = None,
    ebm: EBMConfig | None = None,
    diffusion: DiffusionConfig | None = None,
) -> int:
    """Trajectories per evaluation window: the sampling families' ``particles``, 1 for deterministic ones."""
    per_family = {
        "ensemble": (ensemble or EnsembleConfig()).particles,
        "ebm": (ebm or EBMConfig()).particles,
        "diffusion": (diffusion or DiffusionConfig()).particles,
    }
    return per_family.get(family, 1)


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
