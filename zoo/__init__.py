"""RL Baselines3 Zoo hyperparameters for the stable-baselines3 baselines: the tables (data, from the Zoo's
``hyperparams/{sac,td3,ppo}.yml``) and their resolution for an environment, with the user's overrides.

Hyperparameters (Zoo entry per family; every entry starts from SB3's defaults for the algorithm):

SAC (sac.yml): Pendulum ``learning_rate=1e-3``. MuJoCo locomotion (HalfCheetah, Ant, Hopper, Walker2d,
Humanoid): ``learning_starts=10_000``; Swimmer adds ``gamma=0.9999``. The Zoo has no SAC entry for
InvertedPendulum, InvertedDoublePendulum, Reacher, Pusher: they get SB3's defaults (``learning_starts=100``),
not the locomotion warm-up of 10k random steps, which is tuned for 1M-step budgets and would leave SAC
untrained for the whole of a 10k-step pendulum budget.

TD3 (td3.yml): Pendulum ``gamma=0.98, buffer_size=200_000, learning_starts=10_000``, Gaussian action noise
of std 0.1, one gradient step per collected step done at the end of each episode, ``learning_rate=1e-3``,
``net_arch=[400, 300]``. MuJoCo: ``learning_starts=10_000`` and Gaussian noise std 0.1 (Swimmer adds
``gamma=0.9999``); the other MuJoCo tasks (no Zoo entry) get SB3's defaults plus that noise.

PPO (ppo.yml): Pendulum: 4 envs, ``n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0,
learning_rate=1e-3, clip_range=0.2``, gSDE with ``sde_sample_freq=4``. MuJoCo: the Zoo's tuned ``-v4``
entries (HalfCheetah, Hopper, Walker2d, Humanoid, Swimmer, Reacher, InvertedPendulum,
InvertedDoublePendulum), all with observation and reward normalisation (``VecNormalize``); Ant and Pusher
get the Zoo's MuJoCo defaults (normalisation, SB3 defaults otherwise).

Any other environment runs with SB3's defaults (TD3 adds Gaussian noise of std 0.1, without which it
would not explore); the run prints which entry it used, and ``hyperparams.yaml`` in the run directory
records the resolved values. :class:`Sb3Options` overrides the main ones from the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from errors import UserError

Algo = Literal["sac", "td3", "ppo"]
"""The stable-baselines3 algorithms the toolkit wraps."""

ALGOS: tuple[str, ...] = get_args(Algo)


MUJOCO_LOCOMOTION = frozenset({"HalfCheetah", "Ant", "Hopper", "Walker2d", "Humanoid", "Swimmer"})
"""MuJoCo tasks that the Zoo's ``mujoco-defaults`` entries were written for."""
MUJOCO_OTHER = frozenset(
    {"InvertedPendulum", "InvertedDoublePendulum", "Reacher", "Pusher", "HumanoidStandup"}
)
"""Other MuJoCo tasks: PPO without a Zoo entry gets the Zoo's MuJoCo defaults; SAC / TD3 get SB3's."""

_ZOO = "RL Baselines3 Zoo hyperparams/{algo}.yml"


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
    learning_starts: int | None = None
    """SAC / TD3: agent steps of uniform random actions before the first update."""
    buffer_size: int | None = None
    """SAC / TD3: replay buffer capacity in transitions."""
    train_freq: int | None = None
    """SAC / TD3: update every this many agent steps."""
    gradient_steps: int | None = None
    """SAC / TD3: gradient steps per update (-1: as many as agent steps collected since the last one)."""
    n_steps: int | None = None
    """PPO: rollout length per env between updates."""
    n_epochs: int | None = None
    """PPO: passes over each rollout."""
    n_envs: int | None = None
    """Environments stepped together while training (the Zoo uses 1, or 4 for PPO on Pendulum)."""
    save_replay: bool = True
    """SAC / TD3: save the replay buffer with each checkpoint, so that --resume continues exactly."""

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
        if self.net_arch is not None and (not self.net_arch or min(self.net_arch) < 1):
            raise bad("net_arch", "one or more layer sizes of at least 1", list(self.net_arch))


@dataclass(frozen=True)
class Hyperparams:
    """Resolved settings of one baseline run.

    Attributes:
        algo: ``sac``, ``td3`` or ``ppo``.
        kwargs: keyword arguments of the SB3 constructor (besides policy, env, seed, device).
        n_envs: environments stepped together.
        normalize: wrap the training envs in ``VecNormalize`` (observations and rewards).
        noise_std: TD3 only: std of the Gaussian exploration noise in the [-1, 1] action space.
        source: where the values come from (the Zoo entry, or SB3's defaults), plus any overrides.
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


def env_family(env_id: str) -> str:
    """``"Walker2d-v5"`` -> ``"Walker2d"`` (the key of the hyperparameter tables)."""
    name = env_id.split("/")[-1]
    head, sep, version = name.rpartition("-v")
    return head if sep and version.isdigit() else name


def _relu() -> type:
    from torch import nn

    return nn.ReLU


def _ppo_mujoco_policy() -> dict[str, Any]:
    return {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": _relu(),
        "net_arch": {"pi": [256, 256], "vf": [256, 256]},
    }


def _ppo_tuned(family: str) -> dict[str, Any] | None:
    """The Zoo's tuned PPO entries for MuJoCo ``-v4`` tasks (all with ``normalize: true``, 1 env)."""
    table: dict[str, dict[str, Any]] = {
        "HalfCheetah": {
            "batch_size": 64,
            "n_steps": 512,
            "gamma": 0.98,
            "learning_rate": 2.0633e-05,
            "ent_coef": 0.000401762,
            "clip_range": 0.1,
            "n_epochs": 20,
            "gae_lambda": 0.92,
            "max_grad_norm": 0.8,
            "vf_coef": 0.58096,
            "policy_kwargs": _ppo_mujoco_policy(),
        },
        "Hopper": {
            "batch_size": 32,
            "n_steps": 512,
            "gamma": 0.999,
            "learning_rate": 9.80828e-05,
            "ent_coef": 0.00229519,
            "clip_range": 0.2,
            "n_epochs": 5,
            "gae_lambda": 0.99,
            "max_grad_norm": 0.7,
            "vf_coef": 0.835671,
            "policy_kwargs": _ppo_mujoco_policy(),
        },
        "Walker2d": {
            "batch_size": 32,
            "n_steps": 512,
            "gamma": 0.99,
            "learning_rate": 5.05041e-05,
            "ent_coef": 0.000585045,
            "clip_range": 0.1,
            "n_epochs": 20,
            "gae_lambda": 0.95,
            "max_grad_norm": 1.0,
            "vf_coef": 0.871923,
        },
        "Humanoid": {
            "batch_size": 256,
            "n_steps": 512,
            "gamma": 0.95,
            "learning_rate": 3.56987e-05,
            "ent_coef": 0.00238306,
            "clip_range": 0.3,
            "n_epochs": 5,
            "gae_lambda": 0.9,
            "max_grad_norm": 2.0,
            "vf_coef": 0.431892,
            "policy_kwargs": _ppo_mujoco_policy(),
        },
        "HumanoidStandup": {
            "batch_size": 32,
            "n_steps": 512,
            "gamma": 0.99,
            "learning_rate": 2.55673e-05,
            "ent_coef": 3.62109e-06,
            "clip_range": 0.3,
            "n_epochs": 20,
            "gae_lambda": 0.9,
            "max_grad_norm": 0.7,
            "vf_coef": 0.430793,
            "policy_kwargs": _ppo_mujoco_policy(),
        },
        "InvertedDoublePendulum": {
            "batch_size": 512,
            "n_steps": 128,
            "gamma": 0.98,
            "learning_rate": 0.000155454,
            "ent_coef": 1.05057e-06,
            "clip_range": 0.4,
            "n_epochs": 10,
            "gae_lambda": 0.8,
            "max_grad_norm": 0.5,
            "vf_coef": 0.695929,
        },
        "InvertedPendulum": {
            "batch_size": 64,
            "n_steps": 32,
            "gamma": 0.999,
            "learning_rate": 0.000222425,
            "ent_coef": 1.37976e-07,
            "clip_range": 0.4,
            "n_epochs": 5,
            "gae_lambda": 0.9,
            "max_grad_norm": 0.3,
            "vf_coef": 0.19816,
        },
        "Reacher": {
            "batch_size": 32,
            "n_steps": 512,
            "gamma": 0.9,
            "learning_rate": 0.000104019,
            "ent_coef": 7.52585e-08,
            "clip_range": 0.3,
            "n_epochs": 5,
            "gae_lambda": 1.0,
            "max_grad_norm": 0.9,
            "vf_coef": 0.950368,
        },
    }
    return table.get(family)


def zoo_hyperparams(algo: str, env_id: str) -> Hyperparams:
    """The RL-Zoo hyperparameters of ``algo`` for ``env_id``'s family (see the module docstring).

    Args:
        algo: ``sac``, ``td3`` or ``ppo``.
        env_id: a full Gymnasium id, e.g. ``"Pendulum-v1"``.

    Returns:
        The Zoo entry on top of SB3's defaults, or SB3's defaults where the Zoo has no entry.
    """
    if algo not in ALGOS:
        raise UserError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    family = env_family(env_id)
    zoo = _ZOO.format(algo=algo)
    mujoco = family in MUJOCO_LOCOMOTION  # off-policy Zoo entries exist for locomotion only
    if algo == "sac":
        if family == "Pendulum":
            return Hyperparams(algo, {"learning_rate": 1e-3}, source=f"{zoo}: Pendulum-v1")
        if mujoco:
            kwargs: dict[str, Any] = {"learning_starts": 10_000}
            if family == "Swimmer":
                kwargs["gamma"] = 0.9999
            return Hyperparams(algo, kwargs, source=_mujoco_source(zoo, family))
        return Hyperparams(algo, {}, source="SB3 defaults (no RL-Zoo entry)")
    if algo == "td3":
        if family == "Pendulum":
            kwargs = {
                "gamma": 0.98,
                "buffer_size": 200_000,
                "learning_starts": 10_000,
                "train_freq": (1, "episode"),
                "gradient_steps": -1,
                "learning_rate": 1e-3,
                "policy_kwargs": {"net_arch": [400, 300]},
            }
            return Hyperparams(algo, kwargs, noise_std=0.1, source=f"{zoo}: Pendulum")
        if mujoco:
            kwargs = {"learning_starts": 10_000}
            if family == "Swimmer":
                kwargs.update(gamma=0.9999, train_freq=1, gradient_steps=1)
            return Hyperparams(algo, kwargs, noise_std=0.1, source=_mujoco_source(zoo, family))
        return Hyperparams(algo, {}, noise_std=0.1, source="SB3 defaults (no RL-Zoo entry) + noise std 0.1")
    # ppo
    if family == "Pendulum":
        kwargs = {
            "n_steps": 1024,
            "gae_lambda": 0.95,
            "gamma": 0.9,
            "n_epochs": 10,
            "ent_coef": 0.0,
            "learning_rate": 1e-3,
            "clip_range": 0.2,
            "use_sde": True,
            "sde_sample_freq": 4,
        }
        return Hyperparams(algo, kwargs, n_envs=4, source=f"{zoo}: Pendulum-v1")
    if family == "Swimmer":
        kwargs = {
            "gamma": 0.9999,
            "n_steps": 1024,
            "batch_size": 256,
            "learning_rate": 6e-4,
            "gae_lambda": 0.98,
        }
        return Hyperparams(algo, kwargs, n_envs=4, normalize=True, source=f"{zoo}: Swimmer-v4 (tuned)")
    tuned = _ppo_tuned(family)
    if tuned is not None:
        return Hyperparams(algo, tuned, normalize=True, source=f"{zoo}: {family}-v4 (tuned)")
    if family in MUJOCO_LOCOMOTION or family in MUJOCO_OTHER:
        return Hyperparams(algo, {}, normalize=True, source=f"{zoo}: MuJoCo defaults (Ant-v4 entry)")
    return Hyperparams(algo, {}, source="SB3 defaults (no RL-Zoo entry)")


def _mujoco_source(zoo: str, family: str) -> str:
    return f"{zoo}: {family} (mujoco-defaults)"


def resolve_hyperparams(algo: str, env_id: str, options: Sb3Options) -> Hyperparams:
    """Zoo hyperparameters with the user's overrides applied.

    Raises:
        UserError: an override that the algorithm does not have (``--hp.buffer-size`` for PPO, ...).
    """
    base = zoo_hyperparams(algo, env_id)
    off_policy_only = ("learning_starts", "buffer_size", "train_freq", "gradient_steps", "save_replay")
    ppo_only = ("n_steps", "n_epochs")
    defaults = Sb3Options()
    changed = [
        f.name for f in dataclasses.fields(options) if getattr(options, f.name) != getattr(defaults, f.name)
    ]
    wrong = [
        n for n in changed if (algo == "ppo" and n in off_policy_only) or (algo != "ppo" and n in ppo_only)
    ]
    if wrong:
        flags = ", ".join("--hp." + n.replace("_", "-") for n in wrong)
        raise UserError(f"{flags} does not apply to {algo}")
    kwargs = dict(base.kwargs)
    for name in ("learning_rate", "gamma", "batch_size", *off_policy_only[:-1], *ppo_only):
        value = getattr(options, name)
        if value is not None:
            kwargs[name] = value
    if options.net_arch is not None:
        arch = list(options.net_arch)
        policy_kwargs = dict(kwargs.get("policy_kwargs", {}))
        policy_kwargs["net_arch"] = {"pi": arch, "vf": arch} if algo == "ppo" else arch
        kwargs["policy_kwargs"] = policy_kwargs
    n_envs = base.n_envs if options.n_envs is None else options.n_envs
    overridden = [n for n in changed if n != "save_replay"]
    source = base.source + (f"; overridden: {', '.join(overridden)}" if overridden else "")
    return dataclasses.replace(base, kwargs=kwargs, n_envs=n_envs, source=source)
