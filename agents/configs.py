"""The run configs of the scripts, with their named presets, beside the code they configure.

Each script (``scripts.dream``, ``scripts.mpc``, ``scripts.fit_world_model``, ``scripts.baseline``) parses
one of these classes from the command line; ``config.yaml`` in a run directory records which one wrote it
(:data:`RUN_CONFIGS`), so tools that open a run never guess.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

import tyro
import yaml

from agents.checkpoint import load_checkpoint
from agents.config import RunConfig
from agents.dreamer import ActorCriticConfig, DreamFamily
from agents.mpc import MPCConfig
from agents.run_dir import CLASS_KEY, CONFIG_FILE, load_config, read_config_class
from agents.trainer import TrainerConfig
from agents.zoo import Algo, Sb3Options
from envs.config import EnvConfig
from envs.errors import UserError
from planners import PlannerConfig
from world_model.config import (
    DiffusionConfig,
    EBMConfig,
    EncoderConfig,
    EnsembleConfig,
    GraphConfig,
    HamiltonianConfig,
    HeadsConfig,
    RSSMConfig,
    WorldModelConfig,
)
from world_model.evaluation import OpenLoopWindow
from world_model.presets import world_model_preset

if TYPE_CHECKING:
    import torch

    from agents.dreamer import DreamerAgent

C = TypeVar("C", bound=RunConfig)


@dataclass(frozen=True)
class DreamConfig(RunConfig):
    """Dreamer training run.

    Its defaults, and those of every config inside it, are the ``cpu`` preset (:data:`DREAM_PRESETS`).
    """

    family: DreamFamily = "rssm"
    """Dynamics the actor-critic imagines through: the RSSM's latent state (--model.*), or a diffusion
    model of the next state observation with reward and continue heads on the whole step (--diffusion.*;
    state observations only; the actor and critic see the standardised observation; no open-loop
    evaluation or imagination videos in the run)."""
    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    """World model (RSSM, encoder, heads, objective, optimiser) of --family rssm."""
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    """Diffusion dynamics model of --family diffusion (its batch-size and particles are not used here:
    it learns from the loop's batches, one sample per imagined step)."""
    agent: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    """Actor-critic learned in imagination."""
    train: TrainerConfig = field(default_factory=TrainerConfig)
    """Training loop: prefill, train ratio, batch shape, logging and checkpoint schedule."""
    amp: bool = False
    """CUDA only: bfloat16 autocast for the forward passes."""
    compile: bool = False
    """CUDA only: torch.compile the world model's observe and imagine steps, the actor and the critic
    (CUDA graphs: mode reduce-overhead)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model.loss.energy > 0 and self.envs.obs != "state":
            raise UserError("--model.loss.energy needs state observations (energies come from mapped states)")
        if self.family != "rssm":
            if self.envs.obs != "state":
                raise UserError(f"--family {self.family} models state observations: use --envs.obs state")
            if self.model.loss.energy > 0:
                raise UserError("--model.loss.energy regularises the RSSM: it needs --family rssm")
            if self.agent.replay_value_wm > 0:
                raise UserError(
                    "--agent.replay-value-wm trains the RSSM's representation: it needs --family rssm"
                )


@dataclass(frozen=True)
class MPCRunConfig(DreamConfig):
    """Latent MPC run: the world model of a Dreamer run, actions chosen by a planner over it.

    The planner's objective is the imagined discounted reward, plus the critic's value at the planning
    horizon (--planner-value), and a share of its candidates may come from the actor (--planner-prior).
    The actor-critic (--agent.*) is trained only when the planner uses it: either option trains both
    (the critic learns the value of the actor's imagined behaviour, the actor learns from the critic).
    Without either, the world model alone learns. --agent.first-looks applies in every case: the
    planner observes an episode's first observation as the actor would. Its presets are
    ``scripts.dream``'s (:data:`MPC_PRESETS`).
    """

    agent: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    """Actor-critic learned in imagination: trained only with --planner-value or --planner-prior;
    agent.first-looks sets how the planner observes an episode's first observation in every case."""
    planner: Literal["cem", "mppi", "shooting"] = "mppi"
    """Planner: CEM, MPPI or random shooting."""
    plan: PlannerConfig = field(default_factory=PlannerConfig)
    """Planner settings."""
    mpc: MPCConfig = field(default_factory=MPCConfig)
    """How the MPC agent scores plans and explores."""
    planner_value: bool = True
    """Add the critic's value at the planning horizon to the imagined returns (trains the actor-critic)."""
    planner_prior: bool = False
    """Draw a share (--plan.prior-fraction) of the candidates from the actor, a TD-MPC2-style policy prior
    (trains the actor-critic)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.family != "rssm":
            raise UserError("scripts.mpc plans through the RSSM: --family diffusion is scripts.dream's")

    @property
    def trains_actor_critic(self) -> bool:
        """Whether the planner uses the actor-critic, and so the run trains it."""
        return self.planner_value or self.planner_prior

    @classmethod
    def from_dream(cls, dream: DreamConfig, **planner: Any) -> MPCRunConfig:
        """The MPC run with ``dream``'s fields (world model, actor-critic, loop) and ``planner``'s fields."""
        return cls(**{f.name: getattr(dream, f.name) for f in dataclasses.fields(DreamConfig)}, **planner)


DREAM_PRESETS: dict[str, DreamConfig] = {
    # the cpu preset made small: the same objective, discount, gradient clips, learning rates, critic,
    # actor gradient and imagination from a random subset of the posterior states (a quarter, as cpu's
    # 128 of 16 x 32); only sizes, budgets and schedules shrink
    "debug": DreamConfig(
        steps=400,
        eval_every=200,
        eval_episodes=1,
        model=WorldModelConfig(
            rssm=RSSMConfig(deter=32, hidden=32, stoch=4, classes=4),
            encoder=EncoderConfig(mlp_units=32, mlp_layers=1, cnn_depth=4),
            heads=HeadsConfig(units=32, layers=1),
        ),
        diffusion=DiffusionConfig(units=32, layers=1, head_units=32, steps=20, sample_steps=2),
        agent=ActorCriticConfig(horizon=5, imag_starts=8, hidden=32, layers=1),
        train=TrainerConfig(
            prefill=100,
            train_ratio=16.0,
            batch_size=4,
            seq_len=8,
            replay_capacity=10_000,
            log_every=100,
            checkpoint_every=200,
            wm_eval_every=200,
            wm_eval_context=4,
            wm_eval_horizon=4,
            progress=False,
        ),
    ),
    "cpu": DreamConfig(),
    # cpu from 64x64 RGB frames, sized so a 20k-step run takes about an hour on one CPU thread: each action
    # held 2 simulator steps, a CNN of depth 8 (16 x 32 frames at depth 16 cost 0.8 s per update here),
    # 16 x 16 batches, 0.5 updates per simulator step (1 per agent step), evaluations every 2k steps
    "pixels": DreamConfig(
        eval_every=2000,
        eval_early=(1000,),
        envs=EnvConfig(obs="pixels", size=64, action_repeat=2),
        model=WorldModelConfig(encoder=EncoderConfig(cnn_depth=8)),
        train=TrainerConfig(batch_size=16, seq_len=16, train_ratio=128.0),
    ),
    # every field where it differs from cpu: the S world model, a wider actor-critic with DreamerV3's
    # discount, learning rates, gradient clip, 255 critic bins and imagination from all B x T states,
    # longer sequences, 4 envs
    "dreamerv3": DreamConfig(
        steps=1_000_000,
        envs=EnvConfig(num_envs=4),
        model=world_model_preset("S"),
        agent=ActorCriticConfig(
            imag_starts=0,
            gamma=0.997,
            hidden=512,
            actor_lr=3e-5,
            critic_lr=3e-5,
            grad_clip=100.0,
            critic_bins=255,
        ),
        train=TrainerConfig(prefill=5000, seq_len=64, wm_eval_every=50_000),
    ),
}
"""Named defaults: ``debug`` (the ``cpu`` preset made small: the whole loop in seconds, for tests), ``cpu``
(the class defaults: small tasks on a CPU), ``pixels`` (``cpu`` from 64x64 frames, a 20k-step run in
about an hour on one CPU thread), ``dreamerv3`` (DreamerV3-like sizes and train ratio, for
locomotion on a GPU)."""

MPC_PRESETS: dict[str, MPCRunConfig] = {name: MPCRunConfig.from_dream(p) for name, p in DREAM_PRESETS.items()}
"""``scripts.mpc``'s named defaults: :data:`DREAM_PRESETS` with the planner's class defaults."""


@dataclass(frozen=True)
class FitConfig(RunConfig):
    """Fit a world model alone on random-policy data and evaluate it open-loop on held-out episodes.

    The training loop's settings are a few fields of this class that :meth:`trainer` translates into a
    :class:`agents.trainer.TrainerConfig`, not a nested ``TrainerConfig``, because a fit chooses few of
    them and means some differently:

    - fixed by what a fit is: no random prefill (all its data is random), none of the loop's own model
      evaluations or videos (the fit evaluates on its held-out episodes at ``eval_every``);
    - derived from the fit: a replay that keeps all the data, a log every twentieth of the run;
    - a meaning of their own: ``train_ratio`` counts the transitions of a state family (the loop counts
      records, two per transition), ``batch_size`` and ``seq_len`` are the RSSM's (a state family takes
      its batch from its own config: ``--ensemble.batch-size``, ...);
    - the loop's own: ``checkpoint_every`` and ``progress``, kept at the top level beside the others.

    A nested ``TrainerConfig`` would offer a dozen options that a fit ignores or must refuse, and its
    ``--train.train-ratio`` would mean one thing in the loop's help and another in a fit.
    """

    RENAMED_FIELDS: ClassVar[dict[str, str]] = {"context": "window.context", "horizon": "window.horizon"}
    """Keys of an older run's ``config.yaml`` and where they live now (2026-12-07: the open-loop window
    became one field); :func:`agents.run_dir.load_config` moves them."""

    steps: int = 10_000
    """Environment steps of random-policy data. This sets the run's length: updates follow the data at
    --train-ratio (10k steps give 2,500 updates at the defaults)."""
    eval_every: int = 2500
    """Evaluate open-loop on the held-out episodes every this many environment steps (and at the end)."""
    eval_episodes: int = 50
    """Held-out random-policy episodes (evaluation seeds, never trained on) the evaluation measures. Random
    Walker2d / Hopper episodes end after 10-40 steps, so many are needed for enough windows."""
    family: Literal["rssm", "ensemble", "hamiltonian", "ebm", "diffusion", "graph"] = "rssm"
    """Model family: the RSSM world model (options below; --objective reconstruction|latent|contrastive), or
    a model on the state itself: a PETS-style probabilistic ensemble (--ensemble.*), a Hamiltonian model for
    (q, p) observations (--hamiltonian.*), an energy-based model sampled by Langevin dynamics (--ebm.*), a
    diffusion model sampled by DDIM (--diffusion.*), or pairwise antisymmetric impulses that conserve
    momentum, for particle systems such as ParticleSprings (--graph.*)."""
    model: Annotated[WorldModelConfig, tyro.conf.arg(name="")] = field(
        default_factory=lambda: world_model_preset("small")
    )
    """World model (its fields are top-level options: --objective, --rssm.deter, --optim.lr, ...)."""
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    """The probabilistic ensemble (--family ensemble)."""
    hamiltonian: HamiltonianConfig = field(default_factory=HamiltonianConfig)
    """The Hamiltonian model (--family hamiltonian)."""
    ebm: EBMConfig = field(default_factory=EBMConfig)
    """The energy-based model (--family ebm)."""
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    """The diffusion model (--family diffusion)."""
    graph: GraphConfig = field(default_factory=GraphConfig)
    """The pairwise-impulse model and its MLP baseline (--family graph)."""
    physics: bool = True
    """Add energy / momentum errors and energy drift where state observations map into the simulator."""
    train_episodes: tuple[str, ...] = ()
    """Glob patterns of episode files (NNNNNN-LEN.npz, as runs write them; read only) added to the
    random-policy training data before training starts, e.g. a Dreamer run's 'RUN/episodes/*.npz'."""
    extra_eval_episodes: tuple[str, ...] = ()
    """Glob patterns of episode files (read only) forming a second held-out set (e.g. a policy's episodes);
    the final model is also scored on it, under 'extra_eval' in the JSON."""
    train_ratio: float = 256.0
    """Replayed steps per environment step: updates = steps x train_ratio / (batch_size x seq_len) for the
    rssm, steps x train_ratio / (transitions per update) for the state families."""
    batch_size: int = 16
    """Sequences per update (--family rssm; the state families take --ensemble.batch-size,
    --hamiltonian.batch-size, ... transitions)."""
    seq_len: int = 64
    """Steps per training sequence (--family rssm; a transition is 2 steps)."""
    window: Annotated[OpenLoopWindow, tyro.conf.arg(name="")] = field(
        default_factory=lambda: OpenLoopWindow(context=5, horizon=15)
    )
    """Open-loop evaluation (--context K, --horizon H): the model observes K real steps of a held-out
    episode, then predicts H steps under the real actions; the default H is Dreamer's imagination horizon.
    A held-out episode needs K + H steps to give a window."""
    threshold: float = 0.1
    """Normalised MSE under which a prediction counts as accurate (defines the prediction horizon T_h)."""
    eval_windows: int = 512
    """At most this many held-out windows (of --context + --horizon steps) are evaluated."""
    checkpoint_every: int = 10_000
    """Save a checkpoint every this many environment steps (also at the end and on Ctrl-C / SIGTERM)."""
    progress: bool = True
    """Show a progress bar (env steps, updates, ETA)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = {
            "steps >= 1": self.steps >= 1,
            "train_ratio > 0": self.train_ratio > 0,
            "batch_size >= 1 and seq_len >= 2": self.batch_size >= 1 and self.seq_len >= 2,
            "horizon >= 1": self.window.horizon >= 1,
            "threshold > 0": self.threshold > 0,
            "eval_windows >= 1 and eval_episodes >= 1": self.eval_windows >= 1 and self.eval_episodes >= 1,
            "checkpoint_every >= 1 and eval_every >= 1": self.checkpoint_every >= 1 and self.eval_every >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise UserError(f"world-model fit needs {', '.join(bad)}")
        if self.family != "rssm" and self.envs.obs != "state":
            raise UserError(
                f"--family {self.family} models state observations: use --envs.obs state or --family rssm"
            )
        if self.family != "rssm" and self.model.loss.energy > 0:
            raise UserError(
                f"--loss.energy is the rssm's regulariser; it has no effect with --family {self.family}"
            )
        if self.ensemble.members < 1 or self.ensemble.batch_size < 1 or self.ensemble.particles < 1:
            raise UserError("--ensemble.members, --ensemble.batch-size and --ensemble.particles must be >= 1")
        if self.hamiltonian.batch_size < 1 or self.hamiltonian.substeps < 1:
            raise UserError("--hamiltonian.batch-size and --hamiltonian.substeps must be >= 1")
        ebm, diff, graph, con = self.ebm, self.diffusion, self.graph, self.model.contrastive
        family_checks = {
            "--ebm.batch-size, .particles, .noise-levels, .langevin-steps >= 1": min(
                ebm.batch_size, ebm.particles, ebm.noise_levels, ebm.langevin_steps
            )
            >= 1,
            "0 < --ebm.sigma-min <= --ebm.sigma-max": 0 < ebm.sigma_min <= ebm.sigma_max,
            "--ebm.step-size > 0": ebm.step_size > 0,
            "--diffusion.batch-size, .particles, .steps, .sample-steps >= 1": (
                min(diff.batch_size, diff.particles, diff.steps, diff.sample_steps) >= 1
            ),
            "--diffusion.reward-bins >= 2": diff.reward_bins >= 2,
            "0 <= --diffusion.eta <= 1": 0 <= diff.eta <= 1,
            "--graph.batch-size and --graph.substeps >= 1": min(graph.batch_size, graph.substeps) >= 1,
            "--contrastive.temperature > 0": con.temperature > 0,
            "--contrastive.dim, --contrastive.offsets, --contrastive.stride >= 1": min(
                con.dim, con.offsets, con.stride
            )
            >= 1,
        }
        bad = [k for k, ok in family_checks.items() if not ok]
        if bad:
            raise UserError(f"world-model fit needs {'; '.join(bad)}")

    @property
    def batch_shape(self) -> tuple[int, int]:
        """(sequences, records) of each update's replayed batch: the RSSM's (batch_size, seq_len); for a
        state model one sequence of 2 records per transition."""
        per_update = {
            "ensemble": self.ensemble.transitions_per_update,
            "hamiltonian": self.hamiltonian.batch_size,
            "ebm": self.ebm.batch_size,
            "diffusion": self.diffusion.batch_size,
            "graph": self.graph.batch_size,
        }
        if self.family in per_update:
            return per_update[self.family], 2
        return self.batch_size, self.seq_len

    @property
    def replayed_per_update(self) -> int:
        """Replayed steps one update counts: batch_size x seq_len (rssm), or its transitions."""
        sequences, records = self.batch_shape
        return sequences * records if self.family == "rssm" else sequences

    @property
    def updates(self) -> int:
        """Gradient updates the run will make (derived from the data and the train ratio)."""
        return int(self.steps * self.train_ratio / self.replayed_per_update)

    def trainer(self, extra_records: int = 0) -> TrainerConfig:
        """The loop settings of a fit: no prefill (all data is random), no in-loop model evaluation.

        Args:
            extra_records: records of the ``train_episodes`` added to the replay (its capacity grows by them).
        """
        sequences, records = self.batch_shape
        return TrainerConfig(
            prefill=0,
            # the loop counts replayed records, 2 per transition of a state model
            train_ratio=self.train_ratio * (1 if self.family == "rssm" else records),
            batch_size=sequences,
            seq_len=records,
            replay_capacity=max(self.steps * 2 + 10_000 + extra_records, records),
            log_every=max(1, min(1000, self.steps // 20)),
            checkpoint_every=self.checkpoint_every,
            wm_eval_every=0,
            video_every=0,
            progress=self.progress,
        )


FIT_PRESETS: dict[str, FitConfig] = {
    "tiny": FitConfig(
        steps=1000,
        eval_every=500,
        eval_early=(),
        model=world_model_preset("tiny"),
        train_ratio=2.56,
        batch_size=4,
        seq_len=16,
        window=OpenLoopWindow(context=4, horizon=8),
        eval_episodes=2,
        eval_windows=64,
        checkpoint_every=500,
    ),
    "small": FitConfig(),
    "S": FitConfig(model=world_model_preset("S"), train_ratio=1024.0),
    "M": FitConfig(model=world_model_preset("M"), train_ratio=1024.0),
}
"""Named defaults: ``tiny`` (seconds: smoke tests, 40 updates), ``small`` (the defaults: CPU), ``S`` / ``M``
(DreamerV3 sizes for a GPU, 10k updates per 10k steps)."""


@dataclass(frozen=True)
class BaselineConfig(RunConfig):
    """Options of ``python -m scripts.baseline``."""

    algo: Algo = "sac"
    """Algorithm: stable-baselines3's sac, td3 or ppo, or sb3-contrib's crossq or tqc."""
    hp: Sb3Options = field(default_factory=Sb3Options)
    """Overrides of the RL-Zoo hyperparameters (unset: the Zoo's value for the env family)."""


RUN_CONFIGS: dict[str, type[RunConfig]] = {
    "DreamConfig": DreamConfig,
    "FitConfig": FitConfig,
    "BaselineConfig": BaselineConfig,
    "MPCRunConfig": MPCRunConfig,
}
"""The config classes a ``config.yaml`` may name (its ``config_class`` key)."""

RUN_SCRIPTS: dict[str, tuple[str, str]] = {
    "DreamConfig": ("scripts.dream", "a Dreamer run"),
    "FitConfig": ("scripts.fit_world_model", "a world-model fit"),
    "BaselineConfig": ("scripts.baseline", "a baseline run"),
    "MPCRunConfig": ("scripts.mpc", "a latent MPC run"),
}
"""The script that writes (and resumes) the runs of each config class, and what to call such a run."""


def _legacy_dream_class() -> type[MPCRunConfig]:
    """The ``DreamConfig`` of a run written before latent MPC had its own script (``scripts.mpc``, from
    2026-12): ``scripts.dream --act planner|policy``, the planner's fields at the top level. It is today's
    :class:`MPCRunConfig` plus ``act``, under the old name (the name its ``config.yaml`` records); read
    only to convert (:func:`_from_legacy`)."""
    act = ("act", Literal["policy", "planner"], field(default="policy"))
    legacy = dataclasses.make_dataclass("DreamConfig", [act], bases=(MPCRunConfig,), frozen=True)
    legacy.__module__ = __name__
    return typing.cast(type[MPCRunConfig], legacy)


def _is_legacy_dream(path: Path) -> bool:
    """Whether ``path`` is a ``config.yaml`` of ``scripts.dream`` older than ``scripts.mpc`` (has ``act``)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False  # load_config reports it
    return isinstance(data, dict) and data.get(CLASS_KEY) == "DreamConfig" and "act" in data


def _from_legacy(old: MPCRunConfig) -> DreamConfig | MPCRunConfig:
    """Today's config of an old ``scripts.dream`` run: an :class:`MPCRunConfig` where it acted with a
    planner, else a :class:`DreamConfig` (its planner fields, which did nothing, left out)."""
    if getattr(old, "act", "policy") == "planner":
        return MPCRunConfig(**{f.name: getattr(old, f.name) for f in dataclasses.fields(MPCRunConfig)})
    return DreamConfig(**{f.name: getattr(old, f.name) for f in dataclasses.fields(DreamConfig)})


def load_resumed_config(cls: type[C], path: Path, *, optional: Collection[str] = ()) -> C:
    """The saved config ``path`` of a run that ``cls``'s script is asked to resume, complete (a field it
    lacks, other than the top-level ``optional`` ones, is an error: see :func:`agents.run_dir.load_config`).

    A run of another script is refused with the command that resumes it; a ``scripts.dream --act planner``
    run from before ``scripts.mpc`` is resumed by ``scripts.mpc`` (and one that acted with its policy by
    ``scripts.dream``), its config converted.

    Raises:
        UserError: an unreadable or incomplete file, fields that do not fit, or a run of another script.
    """
    name = read_config_class(path)
    saved: RunConfig
    if name == "DreamConfig" and _is_legacy_dream(path):
        saved = _from_legacy(load_config(_legacy_dream_class(), path, complete=True, optional=optional))
    elif name in RUN_SCRIPTS and name != cls.__name__:
        saved = load_config(RUN_CONFIGS[name], path, drop_unknown=True)
    else:
        return load_config(cls, path, complete=True, optional=optional)
    if type(saved).__name__ != cls.__name__:
        run = path.parent
        script, what = RUN_SCRIPTS[type(saved).__name__]
        raise UserError(f"{run} is {what}: resume it with python -m {script} --resume --run-dir {run}")
    return typing.cast(C, saved)


def load_run_config(run: Path, *, lenient: bool = False) -> RunConfig:
    """The saved config of the run directory ``run``, read into the class that wrote it (its
    ``config_class``, one of :data:`RUN_CONFIGS`): the one reader of a run's ``config.yaml``.

    Strict (the default), for tools that rebuild a run's parts (``scripts.imagine``, :func:`load_dreamer`,
    the probes): the file must name a known class and hold only fields that class has; fields it lacks
    take their defaults. ``lenient``, for tools that only look at a run (the compare report): fields the
    class no longer has (renamed or removed since the run) are left out, and a file written before the
    class was recorded (before 2026-11-29) is read as the fields every script shares (:class:`RunConfig`,
    :func:`agents.run_dir.load_shared_fields`). A ``DreamConfig`` written before latent MPC had its own
    script (it has ``act``) is read as today's class of that run: :class:`MPCRunConfig` where it acted
    with a planner (``act: planner``), else :class:`DreamConfig`.

    Raises:
        UserError: not a run directory, an unreadable ``config.yaml``, one that does not name a known
            config class (lenient: names an unknown one), or fields that do not fit the class.
    """
    from agents.run_dir import load_shared_fields

    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{run} is not a run directory (no {CONFIG_FILE})")
    name = read_config_class(path)
    if name is None and lenient:
        return load_shared_fields(path)
    if name == "DreamConfig" and _is_legacy_dream(path):  # scripts.dream --act planner|policy, before 2026-12
        return _from_legacy(load_config(_legacy_dream_class(), path, drop_unknown=lenient))
    if name not in RUN_CONFIGS:
        what = "no config class" if name is None else f"an unknown config class ({name!r})"
        raise UserError(
            f"{path} names {what} (known: {', '.join(RUN_CONFIGS)}): it was written by another tool or "
            "an older version of the toolkit"
        )
    return load_config(RUN_CONFIGS[name], path, drop_unknown=lenient)


def load_dreamer(
    run: Path, checkpoint: Path | None = None, device: torch.device | None = None
) -> tuple[DreamConfig, DreamerAgent, dict[str, Any]]:
    """A Dreamer run's config and its agent with a checkpoint's weights, for tools that evaluate or probe it.

    Args:
        run: The run directory (``scripts.dream``).
        checkpoint: A checkpoint file or folder; default the run's newest checkpoint.
        device: Where the agent lives; default the CPU.

    Returns:
        ``(cfg, agent, state)``: the run's config, the agent (world model, actor and critic in eval mode,
        acting with the run's own options) and the loaded checkpoint dict (``state["step"]``: its env step).

    Raises:
        UserError: not a Dreamer run, no or a damaged checkpoint, or weights that do not fit the config.
    """
    import numpy as np
    import torch

    from agents.dreamer import DreamerAgent
    from envs import make_env

    cfg = load_run_config(run)
    if not isinstance(cfg, DreamConfig):
        raise UserError(f"{run} is a {type(cfg).__name__} run, not a Dreamer run (scripts.dream)")
    state = load_checkpoint(checkpoint if checkpoint is not None else Path(run) / "checkpoints")
    if isinstance(cfg, MPCRunConfig) and not cfg.trains_actor_critic:
        raise UserError(f"{run} is a latent MPC run that trained no actor-critic (its planner used none)")
    if "actor" not in state:
        raise UserError(f"the checkpoint of {run} holds no actor (parts: {', '.join(sorted(state))})")
    env = make_env(cfg.env, cfg.envs, seed=0)  # for the observation and action sizes only
    try:
        obs_shape = tuple(env.observation_space.shape or ())
        action_dim = int(np.prod(env.action_space.shape or ()))
    finally:
        env.close()
    energy_fn = None
    if cfg.model.loss.energy > 0:  # the model was built with the energy regulariser's labels
        from envs.physics import energy_labeller

        energy_fn = energy_labeller(cfg.env)
    agent = DreamerAgent.build(
        cfg.model,
        cfg.agent,
        obs_shape,
        action_dim,
        device=device or torch.device("cpu"),
        energy_fn=energy_fn,
        family=cfg.family,
        diffusion=cfg.diffusion,
    )
    try:
        agent.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        raise UserError(f"the checkpoint of {run} does not match the run's config: {err}") from err
    for module in (agent.world_model, agent.actor, agent.critic):
        module.eval()
    return cfg, agent, state
