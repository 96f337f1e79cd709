"""The hyperparameter tables of ``agents.zoo`` against the RL Baselines3 Zoo release they were taken from.

The reference is the rl-zoo3 wheel itself, fetched from PyPI by ``pip download`` into a cache folder the
first time (``.cache/rl-zoo3/``, git-ignored; PyPI is reachable on our machines and in CI) and checked
against its sha256; nothing of it is copied into the repository. The tests check every entry of our tables
against its Zoo entry in ``rl_zoo3/hyperparams/*.yml``, value for value, and that no Zoo entry for a
family we run is left out. The Zoo's ``policy_kwargs`` strings are Python expressions; they are read here
with ``ast``, never evaluated.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents import zoo
from agents.zoo import MUJOCO_LOCOMOTION, MUJOCO_OTHER, TABLES, ZOO_VERSION, env_family

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "rl-zoo3"
WHEEL = f"rl_zoo3-{ZOO_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "dcacaf62bec49a98160189d498517a7a70c106f6e7d6e6a9f3a159653dc99a05"
"""sha256 of the rl-zoo3 2.9.2 wheel on PyPI."""
FILES = ("crossq", "ppo", "sac", "td3", "tqc")


@functools.cache
def wheel() -> Path:
    """The rl-zoo3 wheel the tables were taken from, downloaded once into :data:`CACHE`."""
    path = CACHE / WHEEL
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"rl-zoo3=={ZOO_VERSION}",
            "--no-deps",
            "-d",
            str(CACHE),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not path.is_file():
            pytest.skip(f"cannot download rl-zoo3 {ZOO_VERSION} from PyPI: {done.stderr.strip()[-300:]}")
    return path


NOT_HYPERPARAMETERS = ("n_timesteps", "policy")
"""Zoo keys the toolkit sets itself: the budget (``--steps``) and the policy class (``MlpPolicy``)."""


def expression(text: str) -> Any:
    """A Zoo expression string such as ``"dict(net_arch=[400, 300], activation_fn=nn.ReLU)"`` as data:
    ``dict(...)`` calls become dicts, dotted names (``nn.ReLU``) their text, literals themselves."""

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            assert not node.args, ast.unparse(node)
            return {kw.arg: value(kw.value) for kw in node.keywords}
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        if isinstance(node, ast.List):
            return [value(e) for e in node.elts]
        return ast.literal_eval(node)

    return value(ast.parse(text.strip(), mode="eval").body)


def upstream(algo: str) -> dict[str, dict[str, Any]]:
    """The Zoo file of ``algo``: entry name -> settings (YAML anchors and merges resolved)."""
    with zipfile.ZipFile(wheel()) as zf:
        data = yaml.safe_load(zf.read(f"rl_zoo3/hyperparams/{algo}.yml").decode())
    assert isinstance(data, dict)
    return data


def as_entry(raw: dict[str, Any]) -> dict[str, Any]:
    """A Zoo entry in the shape of :class:`agents.zoo.ZooEntry`: kwargs, n_envs, normalize, noise."""
    kwargs = {k: v for k, v in raw.items() if k not in NOT_HYPERPARAMETERS}
    n_envs = kwargs.pop("n_envs", 1)
    normalize = kwargs.pop("normalize", False)
    noise_std = None
    if "noise_type" in kwargs:
        assert kwargs.pop("noise_type") == "normal"
        noise_std = kwargs.pop("noise_std")
    if isinstance(kwargs.get("policy_kwargs"), str):
        kwargs["policy_kwargs"] = expression(kwargs["policy_kwargs"])
    return {"kwargs": kwargs, "n_envs": n_envs, "normalize": normalize, "noise_std": noise_std}


def test_the_reference_is_the_released_wheel() -> None:
    """The wheel is PyPI's file for the version the tables name, and holds the five hyperparameter files."""
    assert hashlib.sha256(wheel().read_bytes()).hexdigest() == WHEEL_SHA256
    with zipfile.ZipFile(wheel()) as zf:
        names = set(zf.namelist())
    assert all(f"rl_zoo3/hyperparams/{algo}.yml" in names for algo in FILES)


def test_expression_reads_the_zoo_strings_without_eval() -> None:
    text = "dict(\n  log_std_init=-2,\n  activation_fn=nn.ReLU,\n  net_arch=dict(pi=[256, 256], vf=[64]))"
    assert expression(text) == {
        "log_std_init": -2,
        "activation_fn": "nn.ReLU",
        "net_arch": {"pi": [256, 256], "vf": [64]},
    }
    with pytest.raises(ValueError):
        expression("__import__('os').getcwd()")  # a call other than dict(...) is refused, not run


@pytest.mark.parametrize("algo", sorted(TABLES))
def test_every_table_entry_is_its_zoo_entry(algo: str) -> None:
    files = upstream(algo)
    for family, ours in TABLES[algo].items():
        assert ours.key in files, f"{algo}: {ours.key} (our {family} entry) is not in the Zoo's {algo}.yml"
        assert env_family(ours.key) == family
        theirs = as_entry(files[ours.key])
        mine = {
            "kwargs": dict(ours.kwargs),
            "n_envs": ours.n_envs,
            "normalize": ours.normalize,
            "noise_std": ours.noise_std,
        }
        assert mine == theirs, f"{algo} {family}: ours differs from the Zoo's {ours.key}"


@pytest.mark.parametrize("algo", sorted(TABLES))
def test_no_zoo_entry_of_our_env_families_is_left_out(algo: str) -> None:
    """Every Zoo entry for Pendulum or a MuJoCo task is in our table (only one version of each)."""
    ours = TABLES[algo]
    wanted = MUJOCO_LOCOMOTION | MUJOCO_OTHER | {"Pendulum"}
    for key in upstream(algo):
        family = env_family(key)
        if family in wanted:
            assert family in ours and ours[family].key == key, f"{algo}: the Zoo's {key} is not in our table"


def test_resolved_hyperparams_name_their_zoo_entry() -> None:
    hopper = zoo.zoo_hyperparams("tqc", "Hopper-v5")
    assert hopper.source == "RL Baselines3 Zoo (rl-zoo3 2.9.2) hyperparams/tqc.yml: Hopper-v4"
    assert dict(hopper.kwargs) == {"learning_starts": 10_000, "top_quantiles_to_drop_per_net": 5}
    cheetah = zoo.zoo_hyperparams("ppo", "HalfCheetah-v5")
    from torch import nn

    assert cheetah.kwargs["policy_kwargs"]["activation_fn"] is nn.ReLU  # the table's "nn.ReLU", built


def test_the_library_defaults_the_tables_rely_on() -> None:
    """Values the toolkit assumes where a Zoo entry is silent: warm-up 100, PPO rollouts of 2048, and the
    network widths of :data:`agents.zoo.DEFAULT_NET_ARCH`."""
    import gymnasium as gym
    from sb3_contrib import TQC, CrossQ
    from stable_baselines3 import PPO, SAC, TD3

    classes = {"sac": SAC, "td3": TD3, "tqc": TQC, "crossq": CrossQ}
    for algo, cls in classes.items():
        assert inspect.signature(cls.__init__).parameters["learning_starts"].default == 100, algo
    assert inspect.signature(PPO.__init__).parameters["n_steps"].default == 2048
    env = gym.make("Pendulum-v1")
    for algo, cls in classes.items():
        policy = cls("MlpPolicy", env, buffer_size=1, device="cpu").policy
        actor_widths = [m.out_features for m in policy.actor.modules() if hasattr(m, "out_features")]
        critic = policy.critic
        critic_net = critic.q_networks[0] if hasattr(critic, "q_networks") else critic.quantile_critics[0]
        critic_widths = [m.out_features for m in critic_net.modules() if hasattr(m, "out_features")]
        expected = zoo.DEFAULT_NET_ARCH[algo]
        assert actor_widths[: len(expected["pi"])] == expected["pi"], algo
        assert critic_widths[: len(expected["qf"])] == expected["qf"], algo
    env.close()
