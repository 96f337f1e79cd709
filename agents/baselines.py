"""Model-free reference agents: stable-baselines3 SAC, TD3 and PPO, and sb3-contrib's CrossQ and TQC,
trained and evaluated like ours.

The baselines are what users compare our model-based agents against, so they are faithful SB3 runs:
the stable-baselines3 (or sb3-contrib) algorithm, with the hyperparameters of the RL Baselines3 Zoo
(``DLR-RM/rl-baselines3-zoo``, files ``hyperparams/{sac,td3,ppo,crossq,tqc}.yml``) for the environment's
family, on top of the algorithm's own defaults. Only the plumbing is ours:

- environments come from :func:`envs.make_env` (actions rescaled to [-1, 1], which is also the space SB3
  works in internally, so nothing changes for the algorithms);
- step counts are simulator steps (agent steps x action repeat; the repeat is 1 by default);
- every ``eval_every`` simulator steps and at the end, :func:`agents.evaluation.evaluate` runs the shared
  protocol (deterministic actions, separate env instances, evaluation seeds) and appends a row to
  ``eval.csv`` through :class:`agents.evaluation.EvalLog`;
- TensorBoard event files in the run directory get SB3's own metrics under SB3's names, and, under the
  names our agents use so that the curves of both overlay: ``eval/*`` (the shared evaluation),
  ``train/episode_return`` (mean return of the training episodes finished since the last SB3 log; SB3's
  ``rollout/ep_rew_mean`` is a mean over the last 100), ``train/episodes``, ``train/updates`` (gradient
  steps; SB3's ``train/n_updates`` counts PPO epochs), ``time/env_steps_per_s`` and ``time/update_ms``
  (at each evaluation), and PPO's policy entropy as ``actor/entropy`` (SB3 logs its negative as
  ``train/entropy_loss``). SB3's ``train/actor_loss``, ``train/critic_loss`` and ``train/ent_coef`` keep
  their names: they are other objectives than Dreamer's ``actor/loss`` and ``critic/loss``;
- every finished training episode goes to ``episodes/`` in our replay's file format
  (:class:`envs.EpisodeRecorder` inside each training env sees the env's own observations, before any
  ``VecNormalize``; :class:`envs.EpisodeWriter` numbers the files, continuing on ``--resume``), so that
  a world model can be fitted on the data SAC collected;
- progress: a line per evaluation (the first at 1k steps, ``eval_early``) and at the end of the off-policy
  algorithms' random warm-up, a bar on a terminal, else a line at least every minute
  (:mod:`agents.progress`); a budget that leaves nothing to learn (ending inside the warm-up, or shorter
  than one PPO rollout) is announced with a ``warning:`` line at the start and in the summary;
- torch threads follow the toolkit's policy (``--threads``, :mod:`agents.threads`), printed as
  ``threads: ...`` and recorded with the machine in ``system.json``;
- ``checkpoints/`` holds the latest model (``model.zip``, loadable with ``SAC.load`` etc.), the replay
  buffer of the off-policy algorithms (``replay_buffer.pkl``) and the observation normaliser of PPO where
  the Zoo uses one (``vecnormalize.pkl``), each written atomically after every evaluation, at the end, and
  on Ctrl-C / SIGTERM, which end with the summary and the command that continues the run. ``--resume``
  loads them and continues to ``--steps``;
- PPO stops at ``--steps`` (SB3 alone would finish the rollout under way, up to ``n_steps x n_envs`` more).

Hyperparameters: the RL-Zoo tables and their resolution for an env live in :mod:`agents.zoo`.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from agents.config import RunConfig, pick_device
from agents.progress import ProgressLines, format_duration
from agents.schedule import Schedule
from agents.signals import StopRequest, stop_signals
from agents.threads import apply_threads
from agents.zoo import CONTRIB_ALGOS, OFF_POLICY, Hyperparams, Sb3Options, resolve_hyperparams
from envs.atomic import atomic_write
from envs.collector import EPISODE_INFO_KEY
from envs.episode import StepObs
from envs.errors import UserError
from envs.replay import EpisodeWriter

MODEL_FILE = "model.zip"
REPLAY_FILE = "replay_buffer.pkl"
VECNORM_FILE = "vecnormalize.pkl"
PROGRESS_FILE = "progress.json"


class Sb3Policy:
    """An :class:`envs.Policy` over a trained SB3 model (for the shared evaluation).

    Observations are normalised with the training statistics when the model was trained with
    ``VecNormalize``; the statistics are not updated. The policy is memoryless: ``state`` stays None.
    """

    def __init__(self, model: Any, obs_normalizer: Any | None = None) -> None:
        """Wrap a model.

        Args:
            model: a stable-baselines3 / sb3-contrib algorithm whose action space is [-1, 1]^A.
            obs_normalizer: the training ``VecNormalize`` wrapper, or None.
        """
        self.model = model
        self.obs_normalizer = obs_normalizer

    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        """Actions for N envs.

        Args:
            obs: ``obs.obs`` (N, *obs_shape), ``obs.is_first`` (N,).
            state: ignored (None).
            deterministic: the mean / mode action instead of a sample.

        Returns:
            Actions (N, A) float32 in [-1, 1], and None.
        """
        x = np.asarray(obs.obs)
        if self.obs_normalizer is not None:
            x = self.obs_normalizer.normalize_obs(x)
        action, _ = self.model.predict(x, deterministic=deterministic)
        action = np.asarray(action, dtype=np.float32).reshape(len(x), -1)
        return np.clip(action, -1.0, 1.0), None


def save_sb3_checkpoint(
    directory: Path, model: Any, *, save_replay: bool = True, meta: Mapping[str, Any] | None = None
) -> None:
    """Write ``model.zip`` (+ ``replay_buffer.pkl``, ``vecnormalize.pkl``) atomically into ``directory``.

    Each file is written with :func:`envs.atomic.atomic_write`, so a crash leaves either the old or the
    new file, never a partial one. ``meta`` (e.g. the run's elapsed wall
    time) goes to ``progress.json``, renamed last.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    directory.mkdir(parents=True, exist_ok=True)
    with atomic_write(directory / MODEL_FILE) as f:
        model.save(f)
    if save_replay and getattr(model, "replay_buffer", None) is not None:
        with atomic_write(directory / REPLAY_FILE) as f:
            model.save_replay_buffer(f)
    venv = model.get_env()
    if isinstance(venv, VecNormalize):
        with atomic_write(directory / VECNORM_FILE) as f:
            pickle.dump(venv, f)  # VecNormalize pickles its statistics, not the wrapped envs
    if meta is not None:  # written last: it says which checkpoint is complete
        with atomic_write(directory / PROGRESS_FILE, "w") as f:
            f.write(json.dumps(dict(meta)))
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sb3_class(algo: str) -> Any:
    """The algorithm's class: SB3's SAC, TD3, PPO; sb3-contrib's CrossQ, TQC.

    Raises:
        UserError: sb3-contrib is not installed (CrossQ, TQC).
    """
    if algo in CONTRIB_ALGOS:
        try:
            import sb3_contrib
        except ImportError:
            raise UserError(
                f"--algo {algo} needs sb3-contrib, which is not installed: pip install sb3-contrib"
            ) from None
        return {"crossq": sb3_contrib.CrossQ, "tqc": sb3_contrib.TQC}[algo]
    from stable_baselines3 import PPO, SAC, TD3

    return {"sac": SAC, "td3": TD3, "ppo": PPO}[algo]


def budget_warnings(hp: Hyperparams, steps: int, done: int, action_repeat: int) -> list[str]:
    """What a budget leaves undone, in words: nothing to learn (``warning: ...``) or an untrained tail
    (``note: ...``); empty when the budget is fine.

    Args:
        hp: the run's hyperparameters (warm-up, PPO rollout length).
        steps: the budget (``--steps``) in simulator steps.
        done: simulator steps already done (a resumed run).
        action_repeat: simulator steps per agent step.
    """
    if steps <= done:
        return []
    if hp.algo in OFF_POLICY:
        warmup = hp.warmup_steps * action_repeat
        if steps <= warmup:
            return [
                f"warning: --steps {steps:,} ends within {hp.algo}'s random warm-up of {warmup:,} steps "
                f"(learning_starts, {hp.source}): no update will run, so every evaluation scores an "
                f"untrained policy; give --steps above {warmup:,} or a smaller --hp.learning-starts"
            ]
        return []
    rollout = hp.rollout_steps * action_repeat
    n_steps = int(hp.kwargs.get("n_steps", hp.rollout_steps // max(hp.n_envs, 1)))
    session = steps - done
    if session < rollout:
        return [
            f"warning: {session:,} steps to go are fewer than one PPO rollout of {rollout:,} steps "
            f"(n_steps {n_steps:,} x {hp.n_envs} envs): the run stops at {steps:,} steps without an update; "
            f"give --steps of at least {done + rollout:,} or a smaller --hp.n-steps"
        ]
    tail = session % rollout
    if tail:
        return [
            f"note: PPO updates after every rollout of {rollout:,} steps: the last {tail:,} of the "
            f"{session:,} steps to go are collected but not trained on"
        ]
    return []


def _make_venv(env_id: str, cfg: RunConfig, hp: Hyperparams) -> Any:
    """SB3 vector env of ``hp.n_envs`` :func:`envs.make_env` instances with episode statistics."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from envs import EpisodeRecorder, make_env

    def factory() -> Callable[[], Any]:
        # EpisodeRecorder sees the env's own observations (before VecNormalize) and hands each finished
        # episode to the callback through ``info``; Monitor adds SB3's episode statistics.
        return lambda: Monitor(EpisodeRecorder(make_env(env_id, cfg.envs)))

    fns = [factory() for _ in range(hp.n_envs)]
    if cfg.envs.vector == "async" and hp.n_envs > 1:
        return SubprocVecEnv(fns)
    return DummyVecEnv(fns)


_UNREADABLE = (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile)
"""What loading a damaged or foreign checkpoint file raises."""


def build_model(env_id: str, cfg: RunConfig, hp: Hyperparams, *, checkpoint: Path | None = None) -> Any:
    """Build (or load from ``checkpoint``) the SB3 model with its training envs.

    Args:
        env_id: full Gymnasium id.
        cfg: the run's config (env options, seed, device).
        hp: resolved hyperparameters.
        checkpoint: a ``checkpoints/`` directory to resume from, or None for a fresh model.

    Returns:
        The SB3 algorithm, its env seeded with :func:`envs.seeds.train_seed` (offset by the steps done
        when resuming, so a resumed run does not replay the same episodes).
    """
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import VecNormalize

    from envs.seeds import train_seed

    cls = _sb3_class(hp.algo)
    device = str(pick_device(cfg.device))
    venv = _make_venv(env_id, cfg, hp)
    if checkpoint is None:
        if hp.normalize:
            venv = VecNormalize(venv, gamma=float(hp.kwargs.get("gamma", 0.99)))
        kwargs = copy.deepcopy(dict(hp.kwargs))  # SB3 adds entries to policy_kwargs in place
        if hp.noise_std is not None:
            action_dim = int(np.prod(venv.action_space.shape))
            kwargs["action_noise"] = NormalActionNoise(
                mean=np.zeros(action_dim), sigma=hp.noise_std * np.ones(action_dim)
            )
        model = cls("MlpPolicy", venv, seed=cfg.seed, device=device, verbose=0, **kwargs)
        offset = 0
    else:
        vecnorm = checkpoint / VECNORM_FILE
        replay = checkpoint / REPLAY_FILE
        if hp.normalize and not vecnorm.is_file():
            raise UserError(f"cannot resume: {vecnorm} is missing")
        current = checkpoint / MODEL_FILE
        try:
            if vecnorm.is_file():
                current = vecnorm
                venv = VecNormalize.load(str(vecnorm), venv)
            current = checkpoint / MODEL_FILE
            model = cls.load(current, env=venv, device=device)
            if hp.algo != "ppo" and replay.is_file():
                current = replay
                model.load_replay_buffer(replay)
        except _UNREADABLE as exc:
            raise UserError(f"cannot resume: {current} is unreadable ({type(exc).__name__}: {exc})") from None
        offset = int(model.num_timesteps)
    venv.seed(train_seed(cfg.seed) + offset)
    return model


SB3_ALIASES: dict[str, tuple[str, float]] = {
    "train/entropy_loss": ("actor/entropy", -1.0),
}
"""SB3 scalars that mean the same as one of our agents' metrics: also logged under our name, times the
factor (PPO's ``train/entropy_loss`` is minus the policy's mean entropy)."""


def _make_sb3_logger(tb: Any, action_repeat: int, extra: Callable[[], dict[str, float]] | None = None) -> Any:
    """An SB3 logger whose scalars go to our TensorBoard :class:`agents.logger.Logger`.

    SB3 dumps at its own step count (agent steps over all envs); the x-axis of every curve in the run
    directory is simulator steps, so the step is multiplied by the action repeat. Scalars in
    :data:`SB3_ALIASES` are also written under our name, and ``extra()`` adds our own ``train/`` scalars at
    each dump.
    """
    from stable_baselines3.common.logger import KVWriter
    from stable_baselines3.common.logger import Logger as Sb3Logger

    class ToTensorBoard(KVWriter):
        def write(
            self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0
        ) -> None:
            scalars = {
                key: float(value)
                for key, value in key_values.items()
                if isinstance(value, int | float | np.number)
                and not isinstance(value, bool)
                and "tensorboard" not in (key_excluded.get(key) or ())
            }
            for key, (alias, factor) in SB3_ALIASES.items():
                if key in scalars:
                    scalars[alias] = factor * scalars[key]
            if extra is not None:
                scalars.update(extra())
            tb.scalars(scalars, int(step) * action_repeat)

        def close(self) -> None:
            tb.flush()

    return Sb3Logger(folder=None, output_formats=[ToTensorBoard()])


def _make_callback(loop: BaselineLoop, stop: StopRequest) -> Any:
    """The SB3 callback driving ``loop`` (built here so that importing this module does not import SB3)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class ScheduleCallback(BaseCallback):
        """Evaluates on schedule, checkpoints, times the updates, draws the progress bar."""

        def __init__(self) -> None:
            super().__init__(verbose=0)
            self._train_started: float | None = None
            self._updates_before = 0

        def _on_training_start(self) -> None:
            loop.on_start(self.model)

        def _on_rollout_start(self) -> None:
            # SB3 trains between the end of one rollout and the start of the next.
            self._stop_update_timer()

        def _on_rollout_end(self) -> None:
            self._train_started = time.perf_counter()
            self._updates_before = loop.gradient_steps(self.model)

        def _on_training_end(self) -> None:
            self._stop_update_timer()

        def _stop_update_timer(self) -> None:
            if self._train_started is not None:
                n = loop.gradient_steps(self.model) - self._updates_before
                loop.add_update_time(time.perf_counter() - self._train_started, n)
                self._train_started = None

        def _on_step(self) -> bool:
            loop.on_step(self.model, self.locals.get("infos", ()))
            # False ends learn() after this step: checkpoint, then stop; PPO also at the budget (SB3 would
            # finish the rollout under way first)
            return not stop.requested and not loop.budget_reached(self.model)

    return ScheduleCallback()


class BaselineLoop:
    """Bookkeeping of one baseline session: evaluation schedule, checkpoints, timing, progress bar.

    Attributes:
        history: (simulator step, mean return) of each evaluation in this session.
        update_seconds: wall time spent in gradient updates in this session.
        updates: gradient steps done in this session.
        last_eval: simulator step of the latest evaluation (-1: none yet).
    """

    def __init__(
        self,
        cfg: RunConfig,
        hp: Hyperparams,
        *,
        checkpoints: Path,
        eval_log: Any,
        tb: Any,
        total_steps: int,
        save_replay: bool = True,
        episodes: EpisodeWriter | None = None,
    ) -> None:
        """Set up the bookkeeping.

        Args:
            cfg: the run's config (env, evaluation schedule, seed).
            hp: the resolved hyperparameters.
            checkpoints: the run's ``checkpoints/`` directory.
            eval_log: the run's :class:`agents.evaluation.EvalLog`.
            tb: the run's :class:`agents.logger.Logger`.
            total_steps: the simulator-step budget (for the progress bar).
            save_replay: save the replay buffer with each checkpoint (SAC / TD3).
            episodes: writes finished training episodes into the run's ``episodes/`` (None: not written).
        """
        self.cfg = cfg
        self.hp = hp
        self.checkpoints = checkpoints
        self.eval_log = eval_log
        self.tb = tb
        self.total_steps = total_steps
        self.save_replay = save_replay
        self.history: list[tuple[int, float]] = []
        self.update_seconds = 0.0
        self.updates = 0
        self.last_eval = -1
        self.last_save: tuple[int, int] = (-1, -1)
        self.next_eval = self._next_eval(0)
        self.episodes = episodes
        self._bar: Any = None
        self._start = time.perf_counter()
        self._start_steps = 0
        self._lines = ProgressLines(f"{hp.algo} {cfg.env}", total_steps)
        self._warmup_reported = False
        self._recent_returns: list[float] = []
        self._model: Any = None

    def sim_steps(self, model: Any) -> int:
        """Simulator steps done: SB3 counts agent steps summed over its envs."""
        return int(model.num_timesteps) * self.cfg.envs.action_repeat

    def gradient_steps(self, model: Any) -> int:
        """Gradient steps done so far (PPO: SB3 counts epochs, each of rollout / batch_size minibatches)."""
        n = int(getattr(model, "_n_updates", 0))
        if self.hp.algo == "ppo":
            rollout = int(model.n_steps) * int(model.n_envs)
            n *= math.ceil(rollout / int(model.batch_size))
        return n

    def add_update_time(self, seconds: float, n: int) -> None:
        """Account ``n`` gradient steps that took ``seconds``."""
        if n > 0:
            self.update_seconds += seconds
            self.updates += n

    def ms_per_update(self) -> float:
        """Mean wall time of one gradient step in this session (ms; 0 before the first)."""
        return 1000.0 * self.update_seconds / self.updates if self.updates else 0.0

    def budget_reached(self, model: Any) -> bool:
        """PPO: whether the budget is spent (the off-policy algorithms stop at it by themselves)."""
        return self.hp.algo == "ppo" and self.sim_steps(model) >= self.total_steps

    def train_metrics(self) -> dict[str, float]:
        """Our ``train/`` scalars for the SB3 log dump: the mean return of the training episodes finished
        since the previous dump (none: left out), episodes and gradient steps so far."""
        out: dict[str, float] = {}
        if self._recent_returns:
            out["train/episode_return"] = float(np.mean(self._recent_returns))
            self._recent_returns = []
        if self.episodes is not None:
            out["train/episodes"] = float(self.episodes.next_index)
        if self._model is not None:
            out["train/updates"] = float(self.gradient_steps(self._model))
        return out

    def on_start(self, model: Any) -> None:
        """Start timing and the progress bar; place the next evaluation after the steps already done."""
        self._model = model
        done = self.sim_steps(model)
        self.last_eval = max((int(row["step"]) for row in self.eval_log.rows()), default=-1)
        self.next_eval = self._next_eval(max(done, self.last_eval, 0))
        self._start = time.perf_counter()
        self._start_steps = done
        self._lines.start(done)
        learning_starts = int(getattr(model, "learning_starts", 0) or 0)  # SAC / TD3: random warm-up
        self._warmup_reported = self.hp.algo == "ppo" or int(model.num_timesteps) >= learning_starts
        if not self._warmup_reported:
            _say(
                f"random warm-up: {learning_starts * self.cfg.envs.action_repeat:,} steps of uniform random "
                "actions before the first update"
            )
        self._bar = tqdm(
            total=self.total_steps,
            initial=done,
            unit="step",
            desc=f"{self.hp.algo} {self.cfg.env}",
            dynamic_ncols=True,
            disable=None,  # off when stderr is not a terminal; evaluations are printed either way
        )

    def on_step(self, model: Any, infos: Any = ()) -> None:
        """After each vector step: episodes that finished (in the envs' ``infos``) to ``episodes/``,
        progress, and evaluation + checkpoint when one is due."""
        for info in infos:
            episode = info.pop(EPISODE_INFO_KEY, None) if isinstance(info, dict) else None
            if episode is not None:
                self._recent_returns.append(episode.score)
                if self.episodes is not None:
                    self.episodes.write(episode)
        steps = self.sim_steps(model)
        if self._bar is not None:
            self._bar.update(steps - self._bar.n)
        self._lines.update(steps)
        if not self._warmup_reported and int(model.num_timesteps) >= int(model.learning_starts):
            self._warmup_reported = True
            _say(f"step {steps:,}: random warm-up done, updates start")
        if steps >= self.next_eval:
            self.evaluate(model, steps)
            self.save(model)
            self.next_eval = self._next_eval(steps)

    def _next_eval(self, step: int) -> int:
        """The next evaluation step after ``step`` on the shared schedule (the same for every agent)."""
        nxt = Schedule.of(self.cfg.eval_every, self.cfg.eval_early).next_after(step)
        return nxt if nxt is not None else self.total_steps

    def evaluate(self, model: Any, steps: int) -> None:
        """Run the shared evaluation, append to ``eval.csv``, log ``eval/`` and ``time/`` to TensorBoard."""
        from agents.evaluation import evaluate_run

        result = evaluate_run(Sb3Policy(model, model.get_vec_normalize_env()), self.cfg)
        self.eval_log.write(steps, result)
        self.last_eval = steps
        self.history.append((steps, result.return_mean))
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        metrics = result.metrics()
        metrics["time/env_steps_per_s"] = (steps - self._start_steps) / elapsed  # the name Dreamer's runs use
        line = f"step {steps:>9,d}  eval return {result.return_mean:9.2f} +- {result.return_std:7.2f}"
        if self.updates:
            metrics["time/update_ms"] = self.ms_per_update()
            line += f"  ({self.ms_per_update():.2f} ms/update)"
        self.tb.scalars(metrics, steps)
        self.tb.flush()
        _say(line)
        self._lines.start(steps)

    def save(self, model: Any) -> None:
        """Checkpoint the model (and replay buffer / normaliser) atomically, once per step count and
        gradient step count: the evaluation at the budget checkpoints before SB3's update after that step,
        the end of the run once more after it."""
        saved = (self.sim_steps(model), self.gradient_steps(model))
        if saved != self.last_save:
            meta: dict[str, Any] = {"step": saved[0], "elapsed": self.eval_log.elapsed()}
            if self.episodes is not None:
                meta["episodes"] = self.episodes.next_index  # files from later episodes: after the checkpoint
            save_sb3_checkpoint(self.checkpoints, model, save_replay=self.save_replay, meta=meta)
            self.last_save = saved

    def close(self) -> None:
        """Close the progress bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@dataclass(frozen=True)
class BaselineResult:
    """What a finished baseline session reports.

    Attributes:
        run_dir: the run directory.
        steps: simulator steps trained in total.
        evals: (step, mean return) of every evaluation in this session.
        wall_seconds: wall time of this session.
        updates: gradient steps done in this session.
        ms_per_update: mean wall time of one gradient step (ms), 0 if none.
    """

    run_dir: Path
    steps: int
    evals: list[tuple[int, float]]
    wall_seconds: float
    updates: int
    ms_per_update: float


def _read_progress(checkpoints: Path) -> dict[str, Any]:
    path = checkpoints / PROGRESS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot resume: {path} is unreadable ({exc})") from None
    return data if isinstance(data, dict) else {}


def train_baseline(
    cfg: RunConfig, *, algo: str, options: Sb3Options, threads: int = 0, command: str = "scripts.baseline"
) -> BaselineResult:
    """Train an SB3 baseline per ``cfg`` in a run directory, evaluating on the shared schedule.

    Opens (with ``cfg.resume``: reopens) the run directory, builds (loads) the model, sets the torch
    threads, trains until ``cfg.steps`` simulator steps, evaluates every ``cfg.eval_every`` steps and at
    the end, and checkpoints after each evaluation and at the end. On Ctrl-C / SIGTERM it checkpoints,
    prints the summary with the command that continues the run, then re-raises ``KeyboardInterrupt``.

    Args:
        cfg: the run's config.
        algo: ``sac``, ``td3``, ``ppo``, ``crossq`` or ``tqc``.
        options: hyperparameter overrides.
        threads: torch CPU threads (0: automatic, see :func:`agents.threads.choose_threads`).
        command: the module that continues the run, for the stop message (``python -m <command>``).

    Returns:
        A summary of the session.

    Raises:
        UserError: pixel observations, bad options, an existing run directory without ``--resume``,
            a missing or unreadable checkpoint, sb3-contrib missing for CrossQ / TQC.
    """
    from agents.evaluation import EvalLog
    from agents.logger import Logger
    from agents.run_dir import RunDir
    from envs import resolve_env_id

    if cfg.envs.obs != "state":
        raise UserError("the SB3 baselines train on state observations only (drop --envs.obs pixels)")
    if cfg.envs.num_envs != 1:
        raise UserError(
            "the SB3 baselines take their env count from the RL Zoo; override it with --hp.n-envs"
        )
    env_id = resolve_env_id(cfg.env)
    hp = resolve_hyperparams(algo, env_id, options)
    _sb3_class(algo)  # sb3-contrib missing: one line before anything is written
    device = pick_device(cfg.device)
    run = RunDir.open(cfg, algo=algo)
    run.record_device(device)
    repeat = cfg.envs.action_repeat
    resume_step: int | None = None
    elapsed: float | None = None
    episodes = EpisodeWriter(run.episodes)
    if run.resumed:
        if not (run.checkpoints / MODEL_FILE).is_file():
            raise UserError(f"cannot resume: no {MODEL_FILE} in {run.checkpoints}")
        model = build_model(env_id, cfg, hp, checkpoint=run.checkpoints)
        resume_step = int(model.num_timesteps) * repeat
        progress = _read_progress(run.checkpoints)
        elapsed = float(progress["elapsed"]) if "elapsed" in progress else None
        if isinstance(progress.get("episodes"), int):
            episodes.set_aside(progress["episodes"])  # written by a killed run after its checkpoint
        print(f"resuming {run.path} at step {resume_step:,}", flush=True)
    else:
        model = build_model(env_id, cfg, hp)
        print(f"{algo} on {env_id} ({hp.source}); run dir {run.path}", flush=True)
    apply_threads(threads, sum(p.numel() for p in model.policy.parameters()), run_dir=run.path)
    warnings = budget_warnings(hp, cfg.steps, resume_step or 0, repeat)
    for line in warnings:
        print(line, flush=True)
    eval_log = EvalLog(run.eval_csv, resume_step=resume_step, elapsed=elapsed)
    tb = Logger(run.path, purge_step=resume_step)
    described = yaml.safe_dump(hp.describe(), sort_keys=False)
    _write_text(run.path / "hyperparams.yaml", described)
    tb.text("hyperparams", "```\n" + described + "```")
    tb.text("config", "```\n" + (run.path / "config.yaml").read_text() + "```")

    total_agent_steps = math.ceil(cfg.steps / repeat)
    loop = BaselineLoop(
        cfg,
        hp,
        checkpoints=run.checkpoints,
        eval_log=eval_log,
        tb=tb,
        total_steps=total_agent_steps * repeat,
        save_replay=options.save_replay,
        episodes=episodes,
    )
    model.set_logger(_make_sb3_logger(tb, repeat, loop.train_metrics))
    start = time.perf_counter()
    remaining = total_agent_steps - int(model.num_timesteps)

    def summary(head: str) -> str:
        steps = loop.sim_steps(model)
        session = steps - (resume_step or 0)
        lines = [
            f"{head}: {steps:,} env steps ({session:,} and {loop.updates:,} updates this session), "
            f"{episodes.next_index:,} episodes, wall time {format_duration(eval_log.elapsed())} "
            f"({format_duration(time.perf_counter() - start)} this session)"
        ]
        rows = eval_log.rows()
        if rows:
            ret, at = float(rows[-1]["return_mean"]), int(rows[-1]["step"])
            lines.append(f"last evaluation: return {ret:.1f} at step {at:,}")
        if session > 0 and loop.updates == 0:
            lines += [w for w in warnings if w.startswith("warning:")]
        lines.append(f"{'final model' if head == 'done' else 'model'}: {run.checkpoints / MODEL_FILE}")
        lines.append(f"run directory: {run.path}")
        return "\n".join(lines)

    # Ctrl-C and SIGTERM (a scheduler or the benchmark runner) stop after the current step, as in our loop.
    with stop_signals() as stop:
        try:
            if remaining > 0:
                callback = _make_callback(loop, stop)
                model.learn(total_timesteps=remaining, callback=callback, reset_num_timesteps=False)
            else:
                loop.on_start(model)
            if stop.requested:
                raise KeyboardInterrupt
            loop.close()
            steps = loop.sim_steps(model)
            if loop.last_eval < steps:
                loop.evaluate(model, steps)
            loop.save(model)
        except KeyboardInterrupt:
            loop.close()
            print(f"\ninterrupted at step {loop.sim_steps(model):,}: saving a checkpoint", flush=True)
            loop.save(model)
            print(
                summary("stopped (checkpoint saved)")
                + f"\ncontinue with: python -m {command} --resume --run-dir {run.path}",
                flush=True,
            )
            raise
        finally:
            loop.close()
            tb.close()
            model.get_env().close()
    print(summary("done"), flush=True)
    wall = time.perf_counter() - start
    return BaselineResult(run.path, steps, list(loop.history), wall, loop.updates, loop.ms_per_update())


def _say(line: str) -> None:
    """Print a line above the progress bar (if any) and flush, so that a log shows it at once."""
    tqdm.write(line)
    sys.stdout.flush()


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)
