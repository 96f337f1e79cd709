"""RL Baselines3 Zoo hyperparameters for the stable-baselines3 baselines: the tables (data) and their
resolution for an environment, with the user's overrides.

The tables hold the values of the Zoo's ``hyperparams/{sac,td3,ppo,crossq,tqc}.yml`` as shipped in the rl-zoo3
package, version :data:`ZOO_VERSION` (``pip download rl-zoo3==2.9.2 --no-deps``). The package itself is not
a dependency: beside sb3-contrib it pulls in 36 more packages (optuna with SQLAlchemy and alembic,
huggingface_hub with httpx, moviepy, pytablewriter with six helpers, rich, shimmy, ...) for these few files,
whose values are Python expressions that the Zoo evaluates with ``eval``. ``tests/unit/test_zoo_upstream.py``
downloads that wheel from PyPI (checked against its sha256; cached in ``.cache/rl-zoo3/``) and checks every
entry of these tables against its files, so this module is the one place the toolkit reads hyperparameters
from, and a drift from the Zoo fails a test. To move to a newer Zoo: change the version and the wheel's
sha256 in that test and :data:`ZOO_VERSION`, run the test, update the tables.

The Zoo names its MuJoCo entries ``-v4`` (a few PPO entries ``-v2``); the toolkit runs ``-v5`` and applies
an entry to every version of its env family (``Hopper-v5`` gets ``Hopper-v4``'s entry). Every entry starts
from the algorithm's own defaults (SB3's; sb3-contrib's for CrossQ and TQC).

SAC (sac.yml): Pendulum ``learning_rate=1e-3``. MuJoCo locomotion (HalfCheetah, Ant, Hopper, Walker2d,
Humanoid, Swimmer): ``learning_starts=10_000``; Swimmer adds ``gamma=0.999``. The Zoo has no SAC entry for
InvertedPendulum, InvertedDoublePendulum, Reacher, Pusher: they get SB3's defaults (``learning_starts=100``),
not the locomotion warm-up of 10k random steps, which is tuned for 1M-step budgets and would leave SAC
untrained for the whole of a 10k-step pendulum budget.

TD3 (td3.yml): Pendulum ``gamma=0.98, buffer_size=200_000, learning_starts=10_000``, Gaussian action noise
of std 0.1, ``learning_rate=1e-3``, ``net_arch=[400, 300]``. MuJoCo locomotion: ``learning_starts=10_000``
and Gaussian noise std 0.1 (plus values equal to TD3's defaults); Swimmer adds ``gamma=0.9999``; the other
MuJoCo tasks (no Zoo entry) get SB3's defaults plus that noise.

PPO (ppo.yml): Pendulum: 4 envs, ``n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0,
learning_rate=1e-3, clip_range=0.2``, gSDE with ``sde_sample_freq=4``. MuJoCo: the Zoo's tuned entries
(HalfCheetah, Hopper, Walker2d, Humanoid, HumanoidStandup, Swimmer, Reacher, InvertedPendulum,
InvertedDoublePendulum), all with observation and reward normalisation (``VecNormalize``); Ant and Pusher
get the Zoo's MuJoCo defaults (the ``Ant-v4`` entry: normalisation, SB3 defaults otherwise).

CrossQ (crossq.yml, sb3-contrib): Pendulum ``policy_delay=2``, networks ``[256, 256]``. MuJoCo
(HalfCheetah, Ant, Hopper, Walker2d, Humanoid, HumanoidStandup, Swimmer): ``learning_starts=5000``,
``learning_rate=1e-3``, ``policy_delay=3``, an actor of ``[256, 256]`` and critics of ``[2048, 2048]`` (the
width of the CrossQ paper; sb3-contrib's own default is ``[1024, 1024]``, "a good compromise between speed
and performance" in its docs: ``--hp.critic-arch 1024 1024``); Swimmer adds ``gamma=0.999``. sb3-contrib's
defaults supply the rest: batch renormalisation (momentum 0.01, 100k warm-up steps), Adam betas (0.5,
0.999), batch 256, no target networks.

TQC (tqc.yml, sb3-contrib): Pendulum ``learning_rate=1e-3``. MuJoCo locomotion ``learning_starts=10_000``;
Hopper drops 5 quantiles per critic (``top_quantiles_to_drop_per_net=5``, default 2); Swimmer
``gamma=0.999``. sb3-contrib's defaults supply the rest (2 critics of 25 quantiles, ``[256, 256]``).

Any other environment runs with the algorithm's defaults (TD3 adds Gaussian noise of std 0.1, without which
it would not explore); the run prints which entry it used, and ``hyperparams.yaml`` in the run directory
records the resolved values. :class:`Sb3Options` overrides the main ones from the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from envs.errors import UserError

Algo = Literal["sac", "td3", "ppo", "crossq", "tqc"]
"""The algorithms the toolkit wraps: stable-baselines3's SAC, TD3, PPO; sb3-contrib's CrossQ and TQC."""

ALGOS: tuple[str, ...] = get_args(Algo)

OFF_POLICY: tuple[str, ...] = ("sac", "td3", "crossq", "tqc")
"""Algorithms with a replay buffer and a random warm-up (``learning_starts``)."""

CONTRIB_ALGOS: tuple[str, ...] = ("crossq", "tqc")
"""Algorithms that come from sb3-contrib rather than stable-baselines3."""

ZOO_VERSION = "2.9.2"
"""The rl-zoo3 release the tables were taken from (the test fetches its wheel to check them)."""

MUJOCO_LOCOMOTION = frozenset({"HalfCheetah", "Ant", "Hopper", "Walker2d", "Humanoid", "Swimmer"})
"""MuJoCo tasks that the Zoo's ``mujoco-defaults`` entries were written for."""
MUJOCO_OTHER = frozenset(
    {"InvertedPendulum", "InvertedDoublePendulum", "Reacher", "Pusher", "HumanoidStandup"}
)
"""Other MuJoCo tasks: PPO without a Zoo entry gets the Zoo's MuJoCo defaults; SAC / TD3 / TQC get the
algorithm's defaults; CrossQ's Zoo file also lists HumanoidStandup."""

DEFAULT_NET_ARCH: dict[str, dict[str, list[int]]] = {
    "sac": {"pi": [256, 256], "qf": [256, 256]},
    "td3": {"pi": [400, 300], "qf": [400, 300]},
    "tqc": {"pi": [256, 256], "qf": [256, 256]},
    "crossq": {"pi": [256, 256], "qf": [1024, 1024]},
}
"""The actor (``pi``) and critic (``qf``) hidden layers each off-policy algorithm builds when no
``net_arch`` is given (SB3 2.9 / sb3-contrib 2.9 policies)."""

RELU = "nn.ReLU"
"""How the tables name torch's ReLU class (imported only when a run is built, see :func:`materialize`)."""


@dataclass(frozen=True)
class ZooEntry:
    """One entry of a Zoo file, as the toolkit uses it.

    Attributes:
        key: the entry's name in the Zoo file (``"Hopper-v4"``).
        kwargs: keyword arguments of the algorithm's constructor, as the Zoo gives them (``policy_kwargs``
            as a dict; an activation as :data:`RELU`).
        n_envs: environments stepped together (the Zoo's ``n_envs``, default 1).
        normalize: the Zoo's ``normalize: true`` (``VecNormalize`` of observations and rewards).
        noise_std: TD3: std of the Gaussian action noise (the Zoo's ``noise_type: normal``).
    """

    key: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    n_envs: int = 1
    normalize: bool = False
    noise_std: float | None = None


def _ppo_mujoco_policy() -> dict[str, Any]:
    return {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": RELU,
        "net_arch": {"pi": [256, 256], "vf": [256, 256]},
    }


def _ppo_tuned(key: str, policy: bool = True, **kwargs: Any) -> ZooEntry:
    """A tuned PPO MuJoCo entry (``normalize: true``, 1 env)."""
    if policy:
        kwargs["policy_kwargs"] = _ppo_mujoco_policy()
    return ZooEntry(key, kwargs, normalize=True)


def _mujoco(algo: str, base: Mapping[str, Any], **changes: Mapping[str, Any]) -> dict[str, ZooEntry]:
    """The ``mujoco-defaults`` entries of an off-policy Zoo file: every locomotion family gets ``base``,
    updated by ``changes[family]``; TD3's carry Gaussian noise."""
    noise = 0.1 if algo == "td3" else None
    return {
        family: ZooEntry(f"{family}-v4", {**base, **changes.get(family, {})}, noise_std=noise)
        for family in sorted(MUJOCO_LOCOMOTION)
    }


TABLES: dict[str, dict[str, ZooEntry]] = {
    "sac": {
        "Pendulum": ZooEntry("Pendulum-v1", {"learning_rate": 1e-3}),
        **_mujoco("sac", {"learning_starts": 10_000}, Swimmer={"gamma": 0.999}),
    },
    "td3": {
        "Pendulum": ZooEntry(
            "Pendulum-v1",
            {
                "gamma": 0.98,
                "buffer_size": 200_000,
                "learning_starts": 10_000,
                "gradient_steps": 1,
                "train_freq": 1,
                "learning_rate": 1e-3,
                "policy_kwargs": {"net_arch": [400, 300]},
            },
            noise_std=0.1,
        ),
        **_mujoco(
            "td3",
            {
                "learning_starts": 10_000,
                "train_freq": 1,
                "gradient_steps": 1,
                "learning_rate": 1e-3,
                "batch_size": 256,
                "policy_kwargs": {"net_arch": [400, 300]},
            },
            Swimmer={"gamma": 0.9999},
        ),
    },
    "ppo": {
        "Pendulum": ZooEntry(
            "Pendulum-v1",
            {
                "n_steps": 1024,
                "gae_lambda": 0.95,
                "gamma": 0.9,
                "n_epochs": 10,
                "ent_coef": 0.0,
                "learning_rate": 1e-3,
                "clip_range": 0.2,
                "use_sde": True,
                "sde_sample_freq": 4,
            },
            n_envs=4,
        ),
        "Ant": ZooEntry("Ant-v4", {}, normalize=True),
        "Swimmer": ZooEntry(
            "Swimmer-v4",
            {"gamma": 0.9999, "n_steps": 1024, "batch_size": 256, "learning_rate": 6e-4, "gae_lambda": 0.98},
            n_envs=4,
            normalize=True,
        ),
        "HalfCheetah": _ppo_tuned(
            "HalfCheetah-v4",
            batch_size=64,
            n_steps=512,
            gamma=0.98,
            learning_rate=2.0633e-05,
            ent_coef=0.000401762,
            clip_range=0.1,
            n_epochs=20,
            gae_lambda=0.92,
            max_grad_norm=0.8,
            vf_coef=0.58096,
        ),
        "Hopper": _ppo_tuned(
            "Hopper-v4",
            batch_size=32,
            n_steps=512,
            gamma=0.999,
            learning_rate=9.80828e-05,
            ent_coef=0.00229519,
            clip_range=0.2,
            n_epochs=5,
            gae_lambda=0.99,
            max_grad_norm=0.7,
            vf_coef=0.835671,
        ),
        "Walker2d": _ppo_tuned(
            "Walker2d-v4",
            policy=False,
            batch_size=32,
            n_steps=512,
            gamma=0.99,
            learning_rate=5.05041e-05,
            ent_coef=0.000585045,
            clip_range=0.1,
            n_epochs=20,
            gae_lambda=0.95,
            max_grad_norm=1.0,
            vf_coef=0.871923,
        ),
        "Humanoid": _ppo_tuned(
            "Humanoid-v4",
            batch_size=256,
            n_steps=512,
            gamma=0.95,
            learning_rate=3.56987e-05,
            ent_coef=0.00238306,
            clip_range=0.3,
            n_epochs=5,
            gae_lambda=0.9,
            max_grad_norm=2.0,
            vf_coef=0.431892,
        ),
        "HumanoidStandup": _ppo_tuned(
            "HumanoidStandup-v2",
            batch_size=32,
            n_steps=512,
            gamma=0.99,
            learning_rate=2.55673e-05,
            ent_coef=3.62109e-06,
            clip_range=0.3,
            n_epochs=20,
            gae_lambda=0.9,
            max_grad_norm=0.7,
            vf_coef=0.430793,
        ),
        "InvertedDoublePendulum": _ppo_tuned(
            "InvertedDoublePendulum-v2",
            policy=False,
            batch_size=512,
            n_steps=128,
            gamma=0.98,
            learning_rate=0.000155454,
            ent_coef=1.05057e-06,
            clip_range=0.4,
            n_epochs=10,
            gae_lambda=0.8,
            max_grad_norm=0.5,
            vf_coef=0.695929,
        ),
        "InvertedPendulum": _ppo_tuned(
            "InvertedPendulum-v2",
            policy=False,
            batch_size=64,
            n_steps=32,
            gamma=0.999,
            learning_rate=0.000222425,
            ent_coef=1.37976e-07,
            clip_range=0.4,
            n_epochs=5,
            gae_lambda=0.9,
            max_grad_norm=0.3,
            vf_coef=0.19816,
        ),
        "Reacher": _ppo_tuned(
            "Reacher-v2",
            policy=False,
            batch_size=32,
            n_steps=512,
            gamma=0.9,
            learning_rate=0.000104019,
            ent_coef=7.52585e-08,
            clip_range=0.3,
            n_epochs=5,
            gae_lambda=1.0,
            max_grad_norm=0.9,
            vf_coef=0.950368,
        ),
    },
    "crossq": {
        "Pendulum": ZooEntry("Pendulum-v1", {"policy_delay": 2, "policy_kwargs": {"net_arch": [256, 256]}}),
        **{
            family: ZooEntry(
                f"{family}-v4",
                {
                    "buffer_size": 1_000_000,
                    "learning_rate": 1e-3,
                    "learning_starts": 5000,
                    "policy_delay": 3,
                    "policy_kwargs": {"net_arch": {"pi": [256, 256], "qf": [2048, 2048]}},
                    **({"gamma": 0.999} if family == "Swimmer" else {}),
                },
            )
            for family in sorted(MUJOCO_LOCOMOTION | {"HumanoidStandup"})
        },
    },
    "tqc": {
        "Pendulum": ZooEntry("Pendulum-v1", {"learning_rate": 1e-3}),
        **_mujoco(
            "tqc",
            {"learning_starts": 10_000},
            Hopper={"top_quantiles_to_drop_per_net": 5},
            Swimmer={"gamma": 0.999},
        ),
    },
}
"""The Zoo's entries the toolkit uses: algorithm -> env family -> entry (see the module docstring)."""


@dataclass(frozen=True)
class Sb3Options:
    """Overrides of the main RL-Zoo hyperparameters; leave a field unset to keep the Zoo's value."""

    learning_rate: float | None = None
    """Adam learning rate (constant)."""
    gamma: float | None = None
    """Discount factor."""
    batch_size: int | None = None
    """Minibatch size of each gradient step."""
    net_arch: tuple[int, ...] | None = None
    """Hidden layer sizes of the actor and critic networks (PPO: of both the policy and value nets)."""
    critic_arch: tuple[int, ...] | None = None
    """SAC / TD3 / CrossQ / TQC: hidden layer sizes of the critics only (after --hp.net-arch), e.g. 1024
    1024 for sb3-contrib's default CrossQ critic instead of the Zoo's 2048 2048."""
    learning_starts: int | None = None
    """SAC / TD3 / CrossQ / TQC: agent steps of uniform random actions before the first update."""
    buffer_size: int | None = None
    """SAC / TD3 / CrossQ / TQC: replay buffer capacity in transitions."""
    train_freq: int | None = None
    """SAC / TD3 / CrossQ / TQC: update every this many agent steps."""
    gradient_steps: int | None = None
    """SAC / TD3 / CrossQ / TQC: gradient steps per update (-1: as many as agent steps collected since the
    last one)."""
    n_steps: int | None = None
    """PPO: rollout length per env between updates."""
    n_epochs: int | None = None
    """PPO: passes over each rollout."""
    n_envs: int | None = None
    """Environments stepped together while training (the Zoo uses 1, or 4 for PPO on Pendulum)."""
    save_replay: bool = True
    """SAC / TD3 / CrossQ / TQC: save the replay buffer with each checkpoint, so that --resume continues
    exactly."""

    def __post_init__(self) -> None:
        def bad(name: str, need: str, value: Any) -> UserError:
            return UserError(f"--hp.{name.replace('_', '-')} must be {need}, got {value}")

        if self.learning_rate is not None and not self.learning_rate > 0:
            raise bad("learning_rate", "positive", self.learning_rate)
        if self.gamma is not None and not 0 < self.gamma <= 1:
            raise bad("gamma", "in (0, 1]", self.gamma)
        at_least = {
            "batch_size": 1,
            "learning_starts": 0,
            "buffer_size": 1,
            "train_freq": 1,
            "n_steps": 2,
            "n_epochs": 1,
            "n_envs": 1,
        }
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise bad(name, f"at least {low}", value)
        if self.gradient_steps is not None and not (self.gradient_steps >= 1 or self.gradient_steps == -1):
            raise bad("gradient_steps", "at least 1, or -1", self.gradient_steps)
        for name in ("net_arch", "critic_arch"):
            arch = getattr(self, name)
            if arch is not None and (not arch or min(arch) < 1):
                raise bad(name, "one or more layer sizes of at least 1", list(arch))


@dataclass(frozen=True)
class Hyperparams:
    """Resolved settings of one baseline run.

    Attributes:
        algo: ``sac``, ``td3``, ``ppo``, ``crossq`` or ``tqc``.
        kwargs: keyword arguments of the algorithm's constructor (besides policy, env, seed, device).
        n_envs: environments stepped together.
        normalize: wrap the training envs in ``VecNormalize`` (observations and rewards).
        noise_std: TD3 only: std of the Gaussian exploration noise in the [-1, 1] action space.
        source: where the values come from (the Zoo entry, or the algorithm's defaults), plus any overrides.
    """

    algo: str
    kwargs: Mapping[str, Any]
    n_envs: int = 1
    normalize: bool = False
    noise_std: float | None = None
    source: str = ""

    def describe(self) -> dict[str, Any]:
        """A YAML-friendly view (classes by name) for ``hyperparams.yaml`` and TensorBoard."""

        def plain(value: Any) -> Any:
            if isinstance(value, Mapping):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            if isinstance(value, type):
                return f"{value.__module__}.{value.__qualname__}"
            return value

        return {
            "algo": self.algo,
            "source": self.source,
            "n_envs": self.n_envs,
            "normalize": self.normalize,
            "noise_std": self.noise_std,
            "kwargs": plain(dict(self.kwargs)),
        }

    @property
    def warmup_steps(self) -> int:
        """Off-policy: agent steps of uniform random actions before the first update (0 for PPO)."""
        if self.algo not in OFF_POLICY:
            return 0
        return int(self.kwargs.get("learning_starts", 100))  # 100: the default of SB3 and sb3-contrib

    @property
    def rollout_steps(self) -> int:
        """PPO: agent steps (over all envs) collected between two updates (0 for off-policy)."""
        if self.algo != "ppo":
            return 0
        return int(self.kwargs.get("n_steps", 2048)) * self.n_envs  # 2048: SB3's PPO default


def env_family(env_id: str) -> str:
    """``"Walker2d-v5"`` -> ``"Walker2d"`` (the key of the hyperparameter tables)."""
    name = env_id.split("/")[-1]
    head, sep, version = name.rpartition("-v")
    return head if sep and version.isdigit() else name


def materialize(value: Any) -> Any:
    """A table value as the algorithm's constructor takes it: :data:`RELU` becomes ``torch.nn.ReLU``
    (torch is imported here, not when the tables are), containers are copied."""
    if isinstance(value, Mapping):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    if value == RELU:
        from torch import nn

        return nn.ReLU
    return value


def zoo_source(algo: str) -> str:
    """``RL Baselines3 Zoo (rl-zoo3 2.9.2) hyperparams/sac.yml``."""
    return f"RL Baselines3 Zoo (rl-zoo3 {ZOO_VERSION}) hyperparams/{algo}.yml"


def zoo_hyperparams(algo: str, env_id: str) -> Hyperparams:
    """The RL-Zoo hyperparameters of ``algo`` for ``env_id``'s family (see the module docstring).

    Args:
        algo: one of :data:`ALGOS`.
        env_id: a full Gymnasium id, e.g. ``"Pendulum-v1"``.

    Returns:
        The Zoo entry on top of the algorithm's defaults, or its defaults where the Zoo has no entry.
    """
    if algo not in ALGOS:
        raise UserError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    family = env_family(env_id)
    zoo = zoo_source(algo)
    entry = TABLES[algo].get(family)
    if entry is not None:
        return Hyperparams(
            algo,
            materialize(dict(entry.kwargs)),
            n_envs=entry.n_envs,
            normalize=entry.normalize,
            noise_std=entry.noise_std,
            source=f"{zoo}: {entry.key}",
        )
    library = "sb3-contrib" if algo in CONTRIB_ALGOS else "SB3"
    if algo == "ppo" and family in MUJOCO_LOCOMOTION | MUJOCO_OTHER:
        ant = TABLES["ppo"]["Ant"]
        return Hyperparams(
            algo, {}, normalize=ant.normalize, source=f"{zoo}: MuJoCo defaults ({ant.key} entry)"
        )
    if algo == "td3":
        return Hyperparams(
            algo, {}, noise_std=0.1, source=f"{library} defaults (no RL-Zoo entry) + noise std 0.1"
        )
    return Hyperparams(algo, {}, source=f"{library} defaults (no RL-Zoo entry)")


def resolve_hyperparams(algo: str, env_id: str, options: Sb3Options) -> Hyperparams:
    """Zoo hyperparameters with the user's overrides applied.

    Raises:
        UserError: an override that the algorithm does not have (``--hp.buffer-size`` for PPO, ...).
    """
    base = zoo_hyperparams(algo, env_id)
    off_policy_only = ("learning_starts", "buffer_size", "train_freq", "gradient_steps")
    ppo_only = ("n_steps", "n_epochs")
    defaults = Sb3Options()
    changed = [
        f.name for f in dataclasses.fields(options) if getattr(options, f.name) != getattr(defaults, f.name)
    ]
    refused = ppo_only if algo in OFF_POLICY else (*off_policy_only, "critic_arch", "save_replay")
    wrong = [n for n in changed if n in refused]
    if wrong:
        flags = ", ".join("--hp." + n.replace("_", "-") for n in wrong)
        raise UserError(f"{flags} does not apply to {algo}")
    kwargs = dict(base.kwargs)
    for name in ("learning_rate", "gamma", "batch_size", *off_policy_only, *ppo_only):
        value = getattr(options, name)
        if value is not None:
            kwargs[name] = value
    if options.net_arch is not None or options.critic_arch is not None:
        policy_kwargs = dict(kwargs.get("policy_kwargs", {}))
        policy_kwargs["net_arch"] = _net_arch(algo, policy_kwargs.get("net_arch"), options)
        kwargs["policy_kwargs"] = policy_kwargs
    n_envs = base.n_envs if options.n_envs is None else options.n_envs
    overridden = [n for n in changed if n != "save_replay"]
    source = base.source + (f"; overridden: {', '.join(overridden)}" if overridden else "")
    return dataclasses.replace(base, kwargs=kwargs, n_envs=n_envs, source=source)


def _net_arch(algo: str, current: Any, options: Sb3Options) -> Any:
    """The ``net_arch`` policy argument after ``--hp.net-arch`` / ``--hp.critic-arch``.

    PPO: ``{"pi": arch, "vf": arch}``. Off-policy: a list when actor and critic are the same, else
    ``{"pi": actor, "qf": critic}``, starting from the table's value or the algorithm's default.
    """
    if algo == "ppo":
        assert options.net_arch is not None  # --hp.critic-arch is refused for PPO
        arch = list(options.net_arch)
        return {"pi": arch, "vf": arch}
    if isinstance(current, Mapping):
        actor, critic = list(current["pi"]), list(current["qf"])
    elif isinstance(current, list | tuple):
        actor = critic = list(current)
    else:
        actor, critic = DEFAULT_NET_ARCH[algo]["pi"], DEFAULT_NET_ARCH[algo]["qf"]
    if options.net_arch is not None:
        actor = critic = list(options.net_arch)
    if options.critic_arch is not None:
        critic = list(options.critic_arch)
    return list(actor) if actor == critic else {"pi": list(actor), "qf": list(critic)}
