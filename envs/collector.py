"""Collect whole episodes from a vector env with any policy.

Gymnasium 1.x vector envs autoreset in ``NEXT_STEP`` mode: when env ``i`` ends an episode at step k
(terminated or truncated), the observation of step k is the episode's last one, and at step k + 1 the
env ignores its action, resets, and returns the first observation of the next episode with reward 0
and both flags False. That step is not a transition: the collector records it as the start
(``is_first``) of a new episode and never pairs the last observation of one episode with the first of
the next.
"""

from __future__ import annotations

from typing import Any, Protocol, SupportsFloat

import gymnasium as gym
import numpy as np

from envs.episode import Episode, StepObs


class Policy(Protocol):
    """Anything that acts in N vectorised envs."""

    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        """Choose actions.

        Args:
            obs: observations (N, *obs_shape) and ``is_first`` (N,); reset recurrent state where True.
            state: the recurrent state returned by the previous call, or None for a fresh start.
            deterministic: act greedily (evaluation) instead of sampling (exploration).

        Returns:
            actions (N, A) float32 in [-1, 1], and the new recurrent state.
        """
        ...


class RandomPolicy:
    """Uniform random actions in [-1, 1]; no recurrent state (its generator is saved with ``state_dict``)."""

    def __init__(self, action_dim: int, seed: int) -> None:
        """Create the policy.

        Args:
            action_dim: A, the size of one action.
            seed: seed of its own random generator.
        """
        self.action_dim = action_dim
        self._rng = np.random.default_rng(seed)

    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        """Actions (N, A) float32 uniform in [-1, 1] (also when ``deterministic``); state stays None."""
        n = len(obs.is_first)
        return self._rng.uniform(-1.0, 1.0, size=(n, self.action_dim)).astype(np.float32), None

    def state_dict(self) -> dict[str, Any]:
        """The generator's state, so that a resumed prefill draws the same actions."""
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self._rng.bit_generator.state = state["rng"]


class EpisodeBuilder:
    """Records of one unfinished episode (storage convention of :mod:`envs.episode`).

    Start it with the reset observation; :meth:`add` one transition at a time; :meth:`episode` returns
    the :class:`Episode` (L + 1 records: record 0 is the reset observation with a zero action).
    """

    def __init__(self, obs: np.ndarray, action_dim: int) -> None:
        self.obs = [obs]
        self.action = [np.zeros(action_dim, np.float32)]
        self.reward = [0.0]
        self.terminated = [False]
        self.truncated = [False]

    def add(
        self, obs: np.ndarray, action: np.ndarray, reward: float, terminated: bool, truncated: bool
    ) -> None:
        """Add the transition: ``action`` (A,) led to ``obs``, with ``reward`` received on arriving."""
        self.obs.append(obs)
        self.action.append(action)
        self.reward.append(reward)
        self.terminated.append(terminated)
        self.truncated.append(truncated)

    def episode(self) -> Episode:
        """The records so far as an :class:`Episode` (arrays, not views of the builder)."""
        n = len(self.obs)
        is_first = np.zeros(n, bool)
        is_first[0] = True
        return Episode(
            obs=np.stack(self.obs),
            action=np.stack(self.action).astype(np.float32, copy=False),
            reward=np.asarray(self.reward, np.float32),
            terminated=np.asarray(self.terminated, bool),
            truncated=np.asarray(self.truncated, bool),
            is_first=is_first,
        )


class _EpisodeBuffers:
    """The unfinished episodes of N envs, one row each, written for all envs at once per step.

    Records follow the storage convention of :mod:`envs.episode`; the arrays grow (doubling) when an
    episode outgrows them.
    """

    def __init__(self, obs: np.ndarray, action_dim: int, capacity: int = 256) -> None:
        n = len(obs)
        self.rows = np.arange(n)
        self.length = np.zeros(n, np.int64)
        self.obs = np.zeros((n, capacity, *obs.shape[1:]), obs.dtype)
        self.action = np.zeros((n, capacity, action_dim), np.float32)
        self.reward = np.zeros((n, capacity), np.float32)
        self.terminated = np.zeros((n, capacity), bool)
        self.truncated = np.zeros((n, capacity), bool)
        self.start(np.ones(n, bool), obs)

    def start(self, rows: np.ndarray, obs: np.ndarray) -> None:
        """Begin new episodes in the envs where ``rows`` (N,) is True with their first observations."""
        self.length[rows] = 0
        self.add(rows, obs, 0.0, 0.0, False, False)

    def add(
        self,
        rows: np.ndarray,
        obs: np.ndarray,
        action: np.ndarray | float,
        reward: np.ndarray | float,
        terminated: np.ndarray | bool,
        truncated: np.ndarray | bool,
    ) -> None:
        """Append one record to the episodes of the envs where ``rows`` (N,) is True (values: (N, ...))."""
        if self.length.max() >= self.obs.shape[1]:
            self._grow()
        i, t = self.rows[rows], self.length[rows]
        for buf, v in (
            (self.obs, obs),
            (self.action, action),
            (self.reward, reward),
            (self.terminated, terminated),
            (self.truncated, truncated),
        ):
            buf[i, t] = v[rows] if isinstance(v, np.ndarray) else v
        self.length[rows] += 1

    def episode(self, i: int) -> Episode:
        """The episode recorded in env ``i`` (copies)."""
        n = int(self.length[i])
        is_first = np.zeros(n, bool)
        is_first[0] = True
        return Episode(
            obs=self.obs[i, :n].copy(),
            action=self.action[i, :n].copy(),
            reward=self.reward[i, :n].copy(),
            terminated=self.terminated[i, :n].copy(),
            truncated=self.truncated[i, :n].copy(),
            is_first=is_first,
        )

    def _grow(self) -> None:
        for name in ("obs", "action", "reward", "terminated", "truncated"):
            old = getattr(self, name)
            new = np.zeros((old.shape[0], 2 * old.shape[1], *old.shape[2:]), old.dtype)
            new[:, : old.shape[1]] = old
            setattr(self, name, new)


class Collector:
    """Steps a vector env with a policy and returns the episodes that finish.

    Unfinished episodes, the current observations and the policy's recurrent state are kept across
    :meth:`collect` calls, so collection can be interleaved with training.

    Attributes:
        env_steps: simulator steps collected so far (agent transitions x action_repeat; reset steps do
            not count).
        episodes: episodes finished so far.
    """

    def __init__(self, venv: gym.vector.VectorEnv, *, action_repeat: int) -> None:
        """Wrap a vector env from :func:`envs.make_vector_env`.

        Args:
            venv: vector env with ``NEXT_STEP`` autoreset and actions in [-1, 1].
            action_repeat: simulator steps per agent step (the env's ``cfg.action_repeat``).
        """
        mode = venv.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        if mode != gym.vector.AutoresetMode.NEXT_STEP:
            raise ValueError(f"Collector needs NEXT_STEP autoreset, the vector env uses {mode}")
        shape = venv.single_action_space.shape
        assert shape is not None and len(shape) == 1, f"need a flat action space, got {shape}"
        self.venv = venv
        self.action_repeat = action_repeat
        self.num_envs = venv.num_envs
        self.action_dim = int(shape[0])
        self.env_steps = 0
        self.episodes = 0
        self._obs: np.ndarray | None = None
        self._is_first = np.ones(self.num_envs, bool)
        self._resetting = np.zeros(self.num_envs, bool)  # the next step of env i is an autoreset
        self._buffers: _EpisodeBuffers | None = None
        self._policy_state: Any = None

    def _start(self) -> np.ndarray:
        obs, _ = self.venv.reset()
        self._buffers = _EpisodeBuffers(np.asarray(obs), self.action_dim)
        self._is_first[:] = True
        self._resetting[:] = False
        self._policy_state = None
        return obs

    def collect(self, policy: Policy, env_steps: int, *, deterministic: bool = False) -> list[Episode]:
        """Step the envs until at least ``env_steps`` simulator steps were added.

        Args:
            policy: chooses actions (N, A) in [-1, 1] from :class:`StepObs`.
            env_steps: simulator steps to add in this call (>= 1; counted as agent steps x action_repeat).
            deterministic: passed to the policy.

        Returns:
            The episodes that finished during this call, in the order they finished.
        """
        obs = self._start() if self._obs is None else self._obs
        finished: list[Episode] = []
        added = 0
        while added < env_steps:
            action, self._policy_state = policy.act(
                StepObs(obs=obs, is_first=self._is_first.copy()),
                self._policy_state,
                deterministic=deterministic,
            )
            action = np.asarray(action, np.float32)
            assert action.shape == (self.num_envs, self.action_dim), (
                f"policy returned actions {action.shape}, expected {(self.num_envs, self.action_dim)}"
            )
            obs, reward, terminated, truncated, _ = self.venv.step(action)
            obs = np.asarray(obs)
            # NEXT_STEP autoreset: where the previous step ended an episode, the action was ignored and
            # obs starts a new episode; everywhere else obs follows the action.
            restarted, stepped = self._resetting, ~self._resetting
            buffers = self._buffers
            assert buffers is not None
            if restarted.any():
                buffers.start(restarted, obs)
            ended = stepped & (np.asarray(terminated) | np.asarray(truncated))
            if stepped.any():
                buffers.add(stepped, obs, action, np.asarray(reward), terminated, truncated)
                added += self.action_repeat * int(stepped.sum())
            finished.extend(buffers.episode(int(i)) for i in np.flatnonzero(ended))
            self._is_first = restarted
            self._resetting = ended
        self.env_steps += added
        self.episodes += len(finished)
        self._obs = obs
        return finished


EPISODE_INFO_KEY = "episode_record"
"""``info`` key under which :class:`EpisodeRecorder` hands out a finished :class:`Episode`."""


class EpisodeRecorder(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """Builds each episode of one env as it is played, for code that steps the env itself (SB3).

    It sees exactly what the env gives and takes: the reset observation, each action as the env received
    it, the observation, reward and ``terminated`` / ``truncated`` flags of each step (the time limit
    inside :func:`envs.make_env` sets ``truncated``). When an episode ends, the step's ``info`` carries
    the finished :class:`Episode` under :data:`EPISODE_INFO_KEY` (an episode cut by a reset before its
    end is dropped). Observations are the env's own, before any normalisation outside it.
    """

    def __init__(self, env: gym.Env[np.ndarray, np.ndarray]) -> None:
        """Wrap ``env`` (flat Box actions, as :func:`envs.make_env` builds them)."""
        super().__init__(env)
        shape = env.action_space.shape
        assert shape is not None and len(shape) == 1, f"need a flat action space, got {shape}"
        self._action_dim = int(shape[0])
        self._builder: EpisodeBuilder | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env and start a new episode with its first observation."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._builder = EpisodeBuilder(np.array(obs), self._action_dim)
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env and record the transition; the last step of an episode hands it out in ``info``."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._builder is not None:
            taken = np.asarray(action, np.float32).reshape(self._action_dim).copy()
            self._builder.add(np.array(obs), taken, float(reward), bool(terminated), bool(truncated))
            if terminated or truncated:
                info = {**info, EPISODE_INFO_KEY: self._builder.episode()}
                self._builder = None
        return obs, reward, terminated, truncated, info
