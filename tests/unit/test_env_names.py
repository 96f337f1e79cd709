"""Env names: short names resolve to the registry's latest version; unknown names give UserError."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest

from envs import SHORT_NAMES, UserError, make_env, resolve_env_id, seeds


def _latest(base: str) -> str:
    """Highest registered version of ``base``, computed from the registry independently."""
    versions = [int(m.group(1)) for k in gym.envs.registry if (m := re.fullmatch(rf"{base}-v(\d+)", k))]
    return f"{base}-v{max(versions)}"


@pytest.mark.parametrize("name", SHORT_NAMES)
def test_short_names_resolve_to_latest_version(name: str) -> None:
    env_id = resolve_env_id(name)
    assert env_id == _latest(name)
    assert env_id in gym.envs.registry


def test_full_ids_and_older_versions_pass_through() -> None:
    assert resolve_env_id("Walker2d-v5") == "Walker2d-v5"
    assert resolve_env_id("Walker2d-v4") == "Walker2d-v4"
    assert resolve_env_id("Pendulum-v1") == "Pendulum-v1"


def test_short_names_are_case_insensitive() -> None:
    assert resolve_env_id("walker2d") == resolve_env_id("Walker2d")
    assert resolve_env_id(" halfcheetah ") == resolve_env_id("HalfCheetah")


@pytest.mark.parametrize(("typo", "suggestion"), [("Walkr2d", "Walker2d"), ("HalfCheeta", "HalfCheetah")])
def test_unknown_name_lists_close_matches(typo: str, suggestion: str) -> None:
    with pytest.raises(UserError) as info:
        resolve_env_id(typo)
    msg = str(info.value)
    assert "\n" not in msg
    assert typo in msg and suggestion in msg


def test_unknown_version_lists_registered_versions() -> None:
    with pytest.raises(UserError, match=r"Walker2d-v9.*Walker2d-v5"):
        resolve_env_id("Walker2d-v9")


def test_name_with_no_close_match_lists_short_names() -> None:
    with pytest.raises(UserError) as info:
        resolve_env_id("zzzqqq")
    assert all(n in str(info.value) for n in SHORT_NAMES)


def test_make_env_rejects_unknown_names_with_user_error() -> None:
    with pytest.raises(UserError, match="Hoper"):
        make_env("Hoper")


@pytest.mark.mujoco
@pytest.mark.filterwarnings("ignore:.*is out of date")
def test_envs_that_cannot_be_built_are_user_errors() -> None:
    with pytest.raises(UserError, match="Discrete action space"):
        make_env("CartPole")
    with pytest.raises(UserError, match="Walker2d-v3 cannot be built here"):
        make_env("Walker2d-v3")  # needs mujoco-py, which Gymnasium 1.x no longer supports


def test_train_and_eval_seeds_are_disjoint() -> None:
    train = {seeds.train_seed(s) + i for s in range(5) for i in range(16)}
    evals = {seeds.eval_seed(s) + i for s in range(5) for i in range(16)}
    assert len(train) == 80 and len(evals) == 80
    assert not train & evals
    assert seeds.train_seed(3) == 3000 and seeds.eval_seed(3) == 10**9 + 3000
