"""Collector: episodes per the storage convention, NEXT_STEP autoreset boundaries, terminated vs truncated."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from envs import (
    Collector,
    EnvConfig,
    Episode,
    EpisodeRecorder,
    RandomPolicy,
    StepObs,
    make_env,
    make_vector_env,
)
from envs.collector import EPISODE_INFO_KEY

pytestmark = pytest.mark.mujoco


class RecordingPolicy:
    """Random actions; records what it was shown and threads a counter through its state."""

    def __init__(self, action_dim: int, seed: int) -> None:
        self.random = RandomPolicy(action_dim, seed)
        self.seen: list[StepObs] = []
        self.states: list[Any] = []

    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        self.seen.append(obs)
        self.states.append(state)
        action, _ = self.random.act(obs, None, deterministic=deterministic)
        return action, (0 if state is None else state + 1)


def _check_convention(ep: Episode, action_dim: int) -> None:
    n = len(ep)
    assert n >= 2
    assert ep.is_first.tolist() == [True] + [False] * (n - 1)
    assert ep.action.dtype == np.float32 and ep.action.shape == (n, action_dim)
    np.testing.assert_array_equal(ep.action[0], 0)
    assert np.all(np.abs(ep.action) <= 1)
    assert ep.reward.dtype == np.float32 and ep.reward[0] == 0
    assert ep.terminated.dtype == bool and ep.truncated.dtype == bool
    assert not ep.terminated[:-1].any() and not ep.truncated[:-1].any()  # only the last record ends it
    assert ep.terminated[-1] or ep.truncated[-1]


def _replay_against_reference(episodes: list[Episode], name: str, cfg: EnvConfig, seed: int, n: int) -> None:
    """Each episode must be exactly what a single env with the same seed does under the same actions.

    Env i of the vector env is seeded ``seed + i``; after each episode the reference env resets without
    a seed (as the vector env's autoreset does). Episodes are assigned to the env whose next reset
    observation matches their first one; within an env they come in order.
    """
    refs = [make_env(name, cfg, seed=seed + i) for i in range(n)]
    starts = [ref.reset()[0] for ref in refs]
    for ep in episodes:
        owners = [i for i, s in enumerate(starts) if np.array_equal(s, ep.obs[0])]
        assert len(owners) == 1, "episode does not start where exactly one env's next episode starts"
        ref = refs[owners[0]]
        for t in range(1, len(ep)):
            obs, reward, terminated, truncated, _ = ref.step(ep.action[t])
            np.testing.assert_array_equal(ep.obs[t], obs)  # obs[t] follows obs[t-1] under action[t]
            assert ep.reward[t] == np.float32(reward)
            assert (ep.terminated[t], ep.truncated[t]) == (terminated, truncated)
        starts[owners[0]] = ref.reset()[0]


def test_random_policy_is_uniform_in_unit_box_and_seeded() -> None:
    obs = StepObs(obs=np.zeros((5, 3), np.float32), is_first=np.ones(5, bool))
    a, state = RandomPolicy(4, seed=0).act(obs, None, deterministic=False)
    assert a.shape == (5, 4) and a.dtype == np.float32 and state is None
    assert np.all(np.abs(a) <= 1)
    np.testing.assert_array_equal(a, RandomPolicy(4, seed=0).act(obs, None, deterministic=True)[0])
    big = RandomPolicy(2, seed=1).act(
        StepObs(np.zeros((4000, 1)), np.ones(4000, bool)), None, deterministic=False
    )
    assert big[0].min() < -0.99 and big[0].max() > 0.99 and abs(big[0].mean()) < 0.05


def test_truncated_episodes_match_a_reference_env_across_autoresets() -> None:
    cfg = EnvConfig(max_episode_steps=7, num_envs=2)
    venv = make_vector_env("HalfCheetah", cfg, seed=10)
    collector = Collector(venv, action_repeat=1)
    episodes = collector.collect(RandomPolicy(6, seed=0), 60)
    assert len(episodes) >= 6
    for ep in episodes:
        _check_convention(ep, 6)
        assert ep.transitions == 7  # HalfCheetah never terminates: every episode is cut by the limit
        assert ep.truncated[-1] and not ep.terminated.any()
    _replay_against_reference(episodes, "HalfCheetah", cfg, 10, 2)
    assert collector.episodes == len(episodes)
    venv.close()


def test_episodes_longer_than_the_first_buffers_are_recorded_whole() -> None:
    """The per-env record arrays grow (from 256 records) without losing or reordering records."""
    cfg = EnvConfig(max_episode_steps=300, num_envs=2)
    venv = make_vector_env("HalfCheetah", cfg, seed=3)
    episodes = Collector(venv, action_repeat=1).collect(RandomPolicy(6, seed=1), 2 * 310)
    assert [ep.transitions for ep in episodes] == [300, 300]
    _replay_against_reference(episodes, "HalfCheetah", cfg, 3, 2)
    venv.close()


def test_terminated_episodes_are_not_truncated() -> None:
    cfg = EnvConfig(num_envs=2)
    venv = make_vector_env("InvertedPendulum", cfg, seed=3)
    episodes = Collector(venv, action_repeat=1).collect(RandomPolicy(1, seed=0), 150)
    assert len(episodes) >= 4  # random actions drop the pole within a few dozen steps
    for ep in episodes:
        _check_convention(ep, 1)
        assert ep.terminated[-1] and not ep.truncated.any()
    _replay_against_reference(episodes, "InvertedPendulum", cfg, 3, 2)
    venv.close()


def test_policy_sees_is_first_exactly_at_episode_starts_and_keeps_its_state() -> None:
    cfg = EnvConfig(max_episode_steps=4, num_envs=3)
    venv = make_vector_env("HalfCheetah", cfg, seed=0)
    collector = Collector(venv, action_repeat=1)
    policy = RecordingPolicy(6, seed=0)
    episodes = collector.collect(policy, 30) + collector.collect(policy, 30)
    assert policy.states[0] is None and policy.states[1:] == list(range(len(policy.states) - 1))
    # All envs share the schedule: call 5k shows the first obs of episode k (is_first), calls 5k+1..5k+4
    # the obs after transitions 1..4; the action chosen at call 5k+4 is ignored by the autoreset.
    assert len(episodes) % 3 == 0 and len(episodes) >= 9
    complete = min(len(episodes) // 3, len(policy.seen) // 5)  # the last terminal obs may be unshown
    assert complete >= 4
    for k in range(complete):
        for i in range(3):
            ep = episodes[3 * k + i]  # finished in env order at the same step
            shown = policy.seen[5 * k : 5 * k + 5]
            assert [s.is_first[i] for s in shown] == [True, False, False, False, False]
            np.testing.assert_array_equal(np.stack([s.obs[i] for s in shown]), ep.obs)
    venv.close()


def test_collection_resumes_across_calls_and_counts_env_steps() -> None:
    cfg = EnvConfig(max_episode_steps=9, num_envs=2, action_repeat=2)
    one_call = Collector(make_vector_env("HalfCheetah", cfg, seed=4), action_repeat=2)
    many_calls = Collector(make_vector_env("HalfCheetah", cfg, seed=4), action_repeat=2)
    big = one_call.collect(RandomPolicy(6, seed=1), 80)
    small: list[Episode] = []
    policy = RandomPolicy(6, seed=1)
    while many_calls.env_steps < one_call.env_steps:
        before = many_calls.env_steps
        small += many_calls.collect(policy, 4)
        assert 4 <= many_calls.env_steps - before < 4 + 2 * 2  # at most one extra round of N envs
    assert many_calls.env_steps == one_call.env_steps
    assert 80 <= one_call.env_steps < 80 + 2 * 2
    assert len(small) == len(big) and one_call.episodes == len(big)
    for a, b in zip(small, big, strict=True):
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.action, b.action)
    for ep in big:
        assert ep.transitions == 5  # 9 simulator steps in agent steps of 2: 2, 4, 6, 8, 9 (cut)
        assert ep.truncated[-1]


def test_async_vector_env_collects_the_same_episodes_as_sync() -> None:
    cfg = EnvConfig(max_episode_steps=5, num_envs=2)
    runs = []
    for kind in ("sync", "async"):
        venv = make_vector_env("Hopper", dataclasses.replace(cfg, vector=kind), seed=2)
        assert isinstance(venv, gym.vector.SyncVectorEnv if kind == "sync" else gym.vector.AsyncVectorEnv)
        runs.append(Collector(venv, action_repeat=1).collect(RandomPolicy(3, seed=0), 30))
        venv.close()
    assert len(runs[0]) == len(runs[1]) >= 4
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.reward, b.reward)


def test_pixel_episodes_hold_uint8_frames() -> None:
    cfg = EnvConfig(obs="pixels", size=32, max_episode_steps=3)
    venv = make_vector_env("Hopper", cfg, seed=0, num_envs=1)
    episodes = Collector(venv, action_repeat=1).collect(RandomPolicy(3, seed=0), 6)
    assert len(episodes) == 2
    for ep in episodes:
        _check_convention(ep, 3)
        assert ep.obs.shape == (4, 32, 32, 3) and ep.obs.dtype == np.uint8
    assert not np.array_equal(episodes[0].obs[-1], episodes[1].obs[0])
    venv.close()


def test_collector_refuses_same_step_autoreset() -> None:
    venv = gym.vector.SyncVectorEnv(
        [lambda: make_env("Hopper")], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    with pytest.raises(ValueError, match="NEXT_STEP"):
        Collector(venv, action_repeat=1)


def test_random_policy_state_round_trip() -> None:
    obs = StepObs(obs=np.zeros((3, 2), np.float32), is_first=np.zeros(3, bool))
    policy = RandomPolicy(2, seed=5)
    policy.act(obs, None, deterministic=False)
    saved = policy.state_dict()
    expected = policy.act(obs, None, deterministic=False)[0]
    restored = RandomPolicy(2, seed=99)
    restored.load_state_dict(saved)
    np.testing.assert_array_equal(restored.act(obs, None, deterministic=False)[0], expected)


@pytest.mark.parametrize(
    ("name", "cfg"), [("InvertedPendulum", EnvConfig()), ("Pendulum", EnvConfig(max_episode_steps=9))]
)
def test_episode_recorder_hands_out_what_the_env_did(name: str, cfg: EnvConfig) -> None:
    """The wrapper SB3 baselines train through: each episode, as the env played it, in ``info``."""
    env = EpisodeRecorder(make_env(name, cfg))
    reference = make_env(name, cfg)
    rng = np.random.default_rng(0)
    action_dim = int(env.action_space.shape[0])  # type: ignore[index]
    for episode_number in range(3):
        seed = 100 + episode_number
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, reference.reset(seed=seed)[0])
        actions, rewards, done, info = [], [], False, {}
        while not done:
            action = rng.uniform(-1, 1, action_dim).astype(np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            actions.append(action)
            rewards.append(reward)
            done = terminated or truncated
            assert (EPISODE_INFO_KEY in info) == done
        ep: Episode = info[EPISODE_INFO_KEY]
        _check_convention(ep, action_dim)
        assert ep.transitions == len(actions)
        assert ep.terminated[-1] == terminated and ep.truncated[-1] == truncated
        if name == "Pendulum":
            assert ep.truncated[-1] and ep.transitions == 9  # the time limit: a truncation
        else:
            assert ep.terminated[-1] and not ep.truncated[-1]  # the pole fell
        np.testing.assert_array_equal(ep.obs[0], reference.reset(seed=seed)[0])
        for t, action in enumerate(actions, start=1):
            r_obs, r_reward, *_ = reference.step(action)
            np.testing.assert_array_equal(ep.obs[t], r_obs)
            np.testing.assert_array_equal(ep.action[t], action)
            assert ep.reward[t] == np.float32(r_reward) == np.float32(rewards[t - 1])
