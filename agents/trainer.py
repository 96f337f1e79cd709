"""The training loop, generic over the agent: collect, replay, update, evaluate, log, checkpoint.

One loop serves every agent that acts (:class:`envs.Policy`) and learns from replayed sequences
(``update(batch) -> metrics``): the Dreamer agent and the MPC agent. The loop alone decides when to
update: after a random-action prefill, every collected environment step earns ``train_ratio`` replayed
steps, i.e. ``train_ratio / (batch_size * seq_len)`` updates, whatever the number of envs.

Resuming (``--resume``) restores the agent, optimisers, counters, RNG states and the replay (reloaded
from the run's ``episodes/``) from the newest checkpoint that loads (a damaged newer one is set aside as
``*.pt.damaged``, and the run says so); episodes unfinished at the checkpoint are lost and the training
envs start new episodes.

Faults end in one line, never in silence: an update whose losses or gradients are not finite is skipped
by the agent (its metrics ``*/skipped``) and reported at the next log step; :data:`MAX_BAD_UPDATES`
such updates in a row stop the run (:class:`agents.run_dir.RunStoppedError`: it keeps diverging). A full disk
stops it too, naming the newest intact checkpoint. Ctrl-C, SIGTERM and SIGHUP checkpoint, then stop; the
first one during an evaluation cuts the evaluation short (it runs again on resume).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import resource
import shlex
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import gymnasium as gym
import numpy as np
import torch
import yaml
from tqdm import tqdm

from agents.checkpoint import (
    merge_parts,
    newest_intact_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from agents.cli import program_name
from agents.config import RunConfig
from agents.diagnostics import warnings_for
from agents.evaluation import EvalLog, evaluate_run
from agents.logger import Logger
from agents.progress import ProgressLines, format_duration
from agents.run_dir import RunDir, RunStoppedError, config_to_dict
from agents.schedule import Schedule
from agents.signals import stop_signals
from envs import Collector, EpisodeReplay, RandomPolicy, seeds
from envs.episode import Episode, SequenceBatch, StepObs
from envs.errors import UserError
from envs.replay import to_torch
from world_model import WorldModel
from world_model.evaluation import OpenLoopWindow


@dataclass(frozen=True)
class TrainerConfig:
    """When to collect, update, evaluate, log and checkpoint.

    The defaults are the ``cpu`` preset's (``scripts.dream``'s defaults): 16 x 32 batches at train ratio
    512, one update per env step. The ``dreamerv3`` preset (agents/configs.py) lists where it differs;
    ``scripts.fit_world_model`` builds its own from its options (:meth:`agents.configs.FitConfig.trainer`).
    """

    prefill: int = 1000
    """Environment steps of uniformly random actions before the first update."""
    train_ratio: float = 512.0
    """Replayed steps per environment step (updates per env step = ratio / (batch_size * seq_len))."""
    batch_size: int = 16
    """Sequences per update batch (B)."""
    seq_len: int = 32
    """Steps per sequence (T)."""
    replay_capacity: int = 1_000_000
    """Steps kept in the in-memory replay (all episodes stay on disk under episodes/)."""
    end_fraction: float = 0.0
    """Share of each batch's sequences that end at a terminal record (a fall), drawn among the replay's
    terminated episodes; the rest start uniformly. 0: uniform sampling only."""
    recent_fraction: float = 0.0
    """Share of each batch's sequences (rounded) drawn from within the newest --train.recent-window
    replayed steps, so that the newest data reaches every batch (with end-fraction, at most 1 in all).
    0: none."""
    recent_window: int = 5000
    """The newest steps of the replay that --train.recent-fraction's sequences lie within (>= seq-len)."""
    log_every: int = 1000
    """Write TensorBoard scalars every this many environment steps."""
    checkpoint_every: int = 10_000
    """Save a checkpoint every this many environment steps (also at the end of the random prefill, at the
    end of the run and on Ctrl-C / SIGTERM / SIGHUP)."""
    checkpoint_minutes: float = 5.0
    """Also save one when this many minutes of wall time have passed since the last (0: only by steps), so
    that a run killed outright (kill -9, a crash) loses at most this much work."""
    wm_eval_every: int = 10_000
    """Run the world model's open-loop evaluation every this many environment steps (0: never)."""
    wm_eval_context: int = 8
    """Open-loop evaluation: real steps the model observes before it predicts on its own (K of
    :attr:`wm_eval_window`)."""
    wm_eval_horizon: int = 16
    """Open-loop evaluation: steps it then predicts open-loop under the real actions (H)."""
    wm_eval_threshold: float = 0.1
    """Open-loop evaluation: error threshold that defines the prediction horizon."""
    video_every: int = 25_000
    """Write a video of imagined rollouts beside the real ones into videos/ every this many env steps
    (0: never). See ``python -m scripts.imagine`` for videos of a finished run."""
    video_context: int = 8
    """Video: real steps the model observes before it predicts on its own (K of :attr:`video_window`)."""
    video_horizon: int = 32
    """Video: steps it then imagines open-loop under the stored actions (H)."""
    video_segments: int = 2
    """Video: episode segments tiled side by side."""
    progress: bool = True
    """Show a progress bar (env steps, steps/s, last eval return, ETA)."""

    def __post_init__(self) -> None:
        checks = {
            "prefill >= 0": self.prefill >= 0,
            "train_ratio >= 0": self.train_ratio >= 0,
            "batch_size >= 1 and seq_len >= 2": self.batch_size >= 1 and self.seq_len >= 2,
            "replay_capacity >= seq_len": self.replay_capacity >= self.seq_len,
            "0 <= end_fraction <= 1": 0.0 <= self.end_fraction <= 1.0,
            "recent_fraction >= 0 and end_fraction + recent_fraction <= 1": (
                self.recent_fraction >= 0.0 and self.end_fraction + self.recent_fraction <= 1.0
            ),
            "recent_window >= seq_len": self.recent_window >= self.seq_len,
            "log_every >= 1 and checkpoint_every >= 1": self.log_every >= 1 and self.checkpoint_every >= 1,
            "checkpoint_minutes >= 0": self.checkpoint_minutes >= 0,
            "wm_eval_every >= 0": self.wm_eval_every >= 0,
            "wm_eval_context >= 1 and wm_eval_horizon >= 1": (
                self.wm_eval_context >= 1 and self.wm_eval_horizon >= 1
            ),
            "video_every >= 0": self.video_every >= 0,
            "video_context >= 1, video_horizon >= 0 and video_segments >= 1": (
                self.video_context >= 1 and self.video_horizon >= 0 and self.video_segments >= 1
            ),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise UserError(f"training loop config needs {', '.join(bad)}")

    @property
    def wm_eval_window(self) -> OpenLoopWindow:
        """The world model evaluation's open-loop window (``wm_eval_context`` + ``wm_eval_horizon``)."""
        return OpenLoopWindow(context=self.wm_eval_context, horizon=self.wm_eval_horizon)

    @property
    def video_window(self) -> OpenLoopWindow:
        """The open-loop window of the training videos (``video_context`` + ``video_horizon``)."""
        return OpenLoopWindow(context=self.video_context, horizon=self.video_horizon)


class Agent(Protocol):
    """What the loop needs from an agent."""

    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        """Actions (N, A) in [-1, 1] and the next recurrent state (see :class:`envs.Policy`)."""
        ...

    def update(self, batch: SequenceBatch[torch.Tensor]) -> dict[str, float]:
        """Learn from one (B, T) batch on the training device; returns namespaced metrics."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        ...


DIAGNOSTIC_EPISODES = 8
"""Newest replay episodes the critic / continue-head diagnostics look at, at each evaluation."""
UNSEEN_FALLS = 16
"""Newest terminated episodes whose last state the continue head is scored on as they arrive, before
any update has trained on them (``diag/unseen_*``): does it see falls it has not memorised?"""


_T = TypeVar("_T")


def _keeps_rng(method: Callable[..., _T]) -> Callable[..., _T]:
    """Run a :class:`Trainer` method on a forked torch random state (see :meth:`Trainer._forked_rng`)."""

    @functools.wraps(method)
    def wrapper(self: Trainer, *args: Any, **kwargs: Any) -> _T:
        with self._forked_rng():
            return method(self, *args, **kwargs)

    return wrapper


MAX_BAD_UPDATES = 100
"""Updates in a row with non-finite losses or gradients (each skipped) after which the run stops: one
overflowing batch is skipped and forgotten, a run that keeps producing them has diverged."""


class _StopRequestedError(Exception):
    """Raised inside the loop when a stop was requested (Ctrl-C, SIGTERM or SIGHUP)."""


def bad_update_keys(metrics: dict[str, float]) -> list[str]:
    """The keys of one update's metrics that say it went wrong: losses and gradient norms that are not
    finite, else the optimiser steps the agent skipped (``*/skipped`` > 0); empty for a sound update."""
    watched = [(k, v) for k, v in metrics.items() if k.endswith(("loss", "grad_norm"))]
    nonfinite = [k for k, v in watched if not math.isfinite(v)]
    return nonfinite or [k for k, v in metrics.items() if k.endswith("/skipped") and v > 0]


BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}"
"""The progress bar: percentage, bar, steps and :func:`progress_postfix` (tqdm puts ", " before it)."""


def progress_postfix(
    phase: str, rate: float, eta: str, train_return: float | None, eval_return: float | None
) -> str:
    """The progress bar's status, short enough that the bar still shows at 80 columns, e.g.
    ``train 11.8/s ETA 2:20:13 ret -150 eval -160`` (no ETA in the random prefill: its rate says
    nothing about training's)."""
    parts = [phase, f"{rate:.3g}/s" if rate > 0 else "-/s"]
    if phase != "prefill":
        parts += ["ETA", eta]
    if train_return is not None:
        parts += ["ret", f"{train_return:.0f}"]
    if eval_return is not None:
        parts += ["eval", f"{eval_return:.0f}"]
    return " ".join(parts)


class Trainer:
    """Runs one training run of ``agent`` in ``venv`` into ``run``.

    Args:
        agent: the learner (acts in the envs, updates from replay).
        venv: training vector env (actions in [-1, 1]).
        run: the run directory (``resumed`` selects whether the latest checkpoint is loaded).
        cfg: the run's shared config (env, steps, seed, eval schedule, env options).
        train_cfg: loop settings.
        device: device of the update batches.
        world_model: model for the open-loop evaluation under ``wm/`` (``None``: skipped).
        video: writes a video of imagined rollouts at the given env step into the run's ``videos/``,
            called every ``video_every`` steps; returns None when there is nothing to show yet (no
            stored episode is long enough). ``None``: no videos; scripts wire in
            :func:`analysis.video.write_replay_video`.
        evaluator: replaces the evaluation protocol on the evaluation schedule (a learner-only agent has
            no returns to measure): returns metrics for TensorBoard; no ``eval.csv`` rows are written.
        resume_command: the command that continues this run, for the stop message (default: the running
            ``python -m <script>`` with ``--resume --run-dir <run>``).
    """

    def __init__(
        self,
        agent: Agent,
        venv: gym.vector.VectorEnv,
        run: RunDir,
        cfg: RunConfig,
        train_cfg: TrainerConfig,
        *,
        device: torch.device,
        world_model: WorldModel | None = None,
        video: Callable[[int], object | None] | None = None,
        evaluator: Callable[[], dict[str, float]] | None = None,
        resume_command: str | None = None,
    ):
        self.agent, self.venv, self.run, self.cfg, self.tc = agent, venv, run, cfg, train_cfg
        self.device, self.world_model, self.video = device, world_model, video
        self.evaluator = evaluator
        script = program_name() or "python -m scripts.<script>"
        self.resume_command = resume_command or f"{script} --resume --run-dir {shlex.quote(str(run.path))}"
        self.action_dim = int(np.prod(venv.single_action_space.shape or ()))
        self.replay = EpisodeReplay(run.episodes, train_cfg.replay_capacity, seed=cfg.seed)
        self.collector = Collector(venv, action_repeat=cfg.envs.action_repeat)
        self.random_policy = RandomPolicy(self.action_dim, seed=seeds.train_seed(cfg.seed) + 1)
        self.updates_per_step = train_cfg.train_ratio / (train_cfg.batch_size * train_cfg.seq_len)
        # counters (saved in checkpoints)
        self.env_steps = 0
        self.updates = 0
        self.update_debt = 0.0
        self.episodes = 0
        self.wall_time = 0.0
        # schedules: what is due is derived from the step it last ran at
        self.eval_schedule = Schedule.of(cfg.eval_every, cfg.eval_early)
        self.log_schedule = Schedule.of(train_cfg.log_every)
        self.checkpoint_schedule = Schedule.of(train_cfg.checkpoint_every)
        self.wm_eval_schedule = Schedule.of(train_cfg.wm_eval_every)
        self.video_schedule = Schedule.of(train_cfg.video_every)
        self.last_eval: float | None = None
        self.last_eval_step = -1
        self.last_log_step = 0
        self.last_checkpoint_step = 0
        self.last_wm_eval_step = 0
        self.last_video_step = 0
        self.update_seconds = 0.0  # wall time in updates, this session
        self._sums: dict[str, float] = {}
        self._count = 0
        self._update_time = 0.0
        self._collect_time, self._collect_steps = 0.0, 0
        self._recent_returns: list[float] = []
        self._bar_returns: deque[float] = deque(maxlen=10)  # the progress bar's recent training returns
        self._unseen_cont: deque[float] = deque(maxlen=UNSEEN_FALLS)  # P(continue) at falls not trained on
        self._warned: set[str] = set()
        self.phase = "prefill"  # what the loop does now: prefill, train or eval (the progress bar shows it)
        self._bad_in_row = 0  # updates in a row with non-finite losses or gradients
        self._bad_count = 0  # such updates since the last log step
        self._bad_keys: set[str] = set()
        self._bad_skipped = False  # the agent skipped them (``*/skipped`` metrics), rather than applied them
        self._bad_total = 0
        self._interruptible = False  # a stop request may interrupt what runs now (an evaluation)

    # ------------------------------------------------------------------ state
    def _counters(self) -> dict[str, Any]:
        return {
            "env_steps": self.env_steps,
            "updates": self.updates,
            "update_debt": self.update_debt,
            "episodes": self.episodes,
            "wall_time": self.wall_time,
            "last_eval": self.last_eval,
            "last_eval_step": self.last_eval_step,
            "last_log_step": self.last_log_step,
            "last_checkpoint_step": self.last_checkpoint_step,
            "last_wm_eval_step": self.last_wm_eval_step,
            "last_video_step": self.last_video_step,
        }

    def checkpoint(self) -> None:
        """Save agent, counters, replay sampler and RNG states atomically."""
        state = merge_parts(
            self.agent.state_dict(),
            {
                "counters": self._counters(),
                "replay": self.replay.state_dict(),
                "random_policy": self.random_policy.state_dict(),
                "rng": rng_state(),
            },
        )
        save_checkpoint(self.run.checkpoints, self.env_steps, state)

    def restore(self) -> None:
        """Load the newest intact checkpoint of the run and reload the replay from its episodes.

        A newer checkpoint that does not load is renamed ``<name>.damaged`` (out of the rotation of the
        newest three, which would otherwise keep it and delete intact ones); both are named in a line.
        """
        found = newest_intact_checkpoint(self.run.checkpoints)
        for damaged, message in found.damaged:
            damaged.rename(damaged.with_name(damaged.name + ".damaged"))
            tqdm.write(f"{message}: set aside as {damaged.name}.damaged; resuming from the one before")
        state = found.state
        self.agent.load_state_dict(state)
        counters = state["counters"]
        for k in self._counters():
            setattr(self, k, counters[k])
        self.replay.load(upto=self.episodes)  # not episodes written after the checkpoint (a killed run)
        self.replay.load_state_dict(state["replay"])
        self.random_policy.load_state_dict(state["random_policy"])
        set_rng_state(state["rng"])
        tqdm.write(
            f"resuming from {found.path} at step {self.env_steps:,} of {self.cfg.steps:,} "
            f"({self.updates:,} updates, {self.episodes:,} episodes)"
        )

    def add_episodes(self, episodes: Sequence[Episode]) -> None:
        """Put episodes from elsewhere (another run's files) into the replay of a new run, before
        :meth:`train`: they are written to the run's ``episodes/`` and counted like collected ones (so a
        resumed run reloads them), but earn no updates and count no environment steps or returns."""
        if self.run.resumed:
            raise ValueError("add_episodes is for new runs: a resumed run reloads its episodes")
        for ep in episodes:
            self.replay.add(ep)
            self.episodes += 1

    # ------------------------------------------------------------------- loop
    def _forked_rng(self) -> contextlib.AbstractContextManager[None]:
        """Torch's random state (CPU and the training GPU) restored on exit: what evaluations,
        diagnostics, open-loop scores and videos draw (posterior samples, planner populations) leaves
        the run's own random stream as it was, so a run trains the same whatever and whenever it
        measures."""
        if self.device.type != "cuda":
            return torch.random.fork_rng(devices=[])
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        return torch.random.fork_rng(devices=[index])

    @_keeps_rng
    def _diagnose(self, episodes: list[Episode]) -> dict[str, float]:
        """The agent's diagnostics on real episodes (empty for agents without them)."""
        diagnose = getattr(self.agent, "diagnose", None)
        if not callable(diagnose) or not episodes:
            return {}
        return dict(diagnose(episodes))

    def _add(self, episodes: list[Episode]) -> None:
        for ep in episodes:
            if self.updates > 0 and bool(ep.terminated[-1]):
                # scored before the replay holds it: a fall this model has never been trained on
                cont = self._diagnose([ep]).get("diag/cont_at_terminal")
                if cont is not None:
                    self._unseen_cont.append(cont)
            self.replay.add(ep)
            self.episodes += 1
            self._recent_returns.append(ep.score)
            self._bar_returns.append(ep.score)

    def _update(self) -> None:
        tc = self.tc
        batch = to_torch(
            self.replay.sample(
                tc.batch_size,
                tc.seq_len,
                end_fraction=tc.end_fraction,
                recent_fraction=tc.recent_fraction,
                recent_window=tc.recent_window,
            ),
            self.device,
        )
        t0 = time.perf_counter()
        metrics = self.agent.update(batch)
        spent = time.perf_counter() - t0
        self._update_time += spent
        self.update_seconds += spent
        for k, v in metrics.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        self.updates += 1
        bad = bad_update_keys(metrics)
        if not bad:
            self._bad_in_row = 0
            return
        self._bad_in_row += 1
        self._bad_count += 1
        self._bad_total += 1
        self._bad_keys.update(bad)
        self._bad_skipped = self._bad_skipped or any(
            k.endswith("/skipped") and v > 0 for k, v in metrics.items()
        )
        if self._bad_in_row >= MAX_BAD_UPDATES:
            keys = ", ".join(sorted(self._bad_keys))
            raise RunStoppedError(
                f"training diverged: {self._bad_in_row} updates in a row up to step {self.env_steps:,} had "
                f"non-finite losses or gradients ({keys}){self._skipped_note()}; stopped without a new "
                f"checkpoint ({self._newest_checkpoint()}). Lower the learning rates or clip the gradients, "
                "then start a new run"
            )

    def _skipped_note(self) -> str:
        """Whether the agent skipped the bad updates it reported (it says so in ``*/skipped`` metrics)."""
        return " and were skipped" if self._bad_skipped else " (this agent applied them)"

    def _log(self, elapsed: float, steps: int) -> None:
        out = {k: v / self._count for k, v in self._sums.items()} if self._count else {}
        out["time/env_steps_per_s"] = steps / max(elapsed, 1e-9)
        if self._count:
            out["time/update_ms"] = 1000.0 * self._update_time / self._count
        if self._collect_time > 0:  # acting + env stepping only (no updates, no evaluation)
            out["time/collect_steps_per_s"] = self._collect_steps / self._collect_time
        out["time/peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        if self.device.type == "cuda":
            out["time/gpu_peak_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        agent_metrics = getattr(self.agent, "metrics", None)
        if callable(agent_metrics):  # e.g. planner statistics of the MPC agent
            out.update(agent_metrics())
        out["train/updates"] = float(self.updates)
        out["train/episodes"] = float(self.episodes)
        out["train/replay_steps"] = float(len(self.replay))
        if self._recent_returns:
            out["train/episode_return"] = float(np.mean(self._recent_returns))
        if self._count:
            out["train/nonfinite_updates"] = float(self._bad_count)
        self.logger.scalars(out, self.env_steps)
        self._warn(out)
        if self._bad_count:
            tqdm.write(
                f"step {self.env_steps:,}: {self._bad_count:,} of {self._count:,} updates since step "
                f"{self.last_log_step:,} had non-finite losses or gradients "
                f"({', '.join(sorted(self._bad_keys))}){self._skipped_note()} ({self._bad_total:,} in all; "
                f"{MAX_BAD_UPDATES} in a row stop the run)"
            )
        nonfinite = sorted(
            k for k, v in out.items() if not math.isfinite(v) and k not in self._warned | self._bad_keys
        )
        if nonfinite:  # e.g. a loss that overflowed in some updates of the window
            self._warned.update(nonfinite)
            tqdm.write(f"warning at step {self.env_steps:,}: non-finite {', '.join(nonfinite)}")
        self._sums, self._count, self._update_time, self._recent_returns = {}, 0, 0.0, []
        self._collect_time, self._collect_steps = 0.0, 0
        self._bad_count, self._bad_keys = 0, set()

    def _warn(self, metrics: dict[str, float]) -> None:
        """Print each known failure mode's warning once per process."""
        for key, message in warnings_for(metrics).items():
            if key not in self._warned:
                self._warned.add(key)
                tqdm.write(f"warning at step {self.env_steps:,}: {message}")

    @_keeps_rng
    def _evaluate(self) -> None:
        if self.evaluator is not None:
            self.last_eval_step = self.env_steps
            self.logger.scalars(self.evaluator(), self.env_steps)
            return
        with self._interruptible_phase("eval"):  # a stop request cuts it short: it runs again on resume
            result = evaluate_run(self.agent, self.cfg)
        self.eval_log.write(self.env_steps, result)
        self.last_eval = float(result.return_mean)
        self.last_eval_step = self.env_steps
        metrics = result.metrics()
        tqdm.write(
            f"step {self.env_steps:,}: eval return {result.return_mean:.1f} +- {result.return_std:.1f} "
            f"({result.episodes} episodes)"
        )
        if len(self.replay):
            metrics.update(self._diagnose(self.replay.recent(DIAGNOSTIC_EPISODES)))
        if self._unseen_cont:
            unseen = np.asarray(self._unseen_cont)
            metrics["diag/unseen_cont_at_terminal"] = float(unseen.mean())
            metrics["diag/unseen_terminal_missed"] = float((unseen > 0.5).mean())
        self.logger.scalars(metrics, self.env_steps)
        self.last_diagnostics = {k: v for k, v in metrics.items() if k.startswith("diag/")}
        self._warn(metrics)

    @_keeps_rng
    def _wm_eval(self) -> None:
        from world_model.evaluation import openloop_eval, openloop_scalars

        assert self.world_model is not None
        tc, window = self.tc, self.tc.wm_eval_window
        if len(self.replay) < window.length:
            return
        batch = to_torch(self.replay.sample(tc.batch_size, window.length), self.device)
        with torch.no_grad():
            metrics = openloop_eval(
                self.world_model,
                batch,
                context=window.context,
                horizon=window.horizon,
                threshold=tc.wm_eval_threshold,
            )
        self.logger.scalars(openloop_scalars(metrics), self.env_steps)  # the names of scripts.fit_world_model

    @_keeps_rng
    def _video(self) -> None:
        assert self.video is not None
        if self.video(self.env_steps) is None:
            tqdm.write(f"no video at step {self.env_steps}: no stored episode is long enough yet")

    @contextlib.contextmanager
    def _interruptible_phase(self, phase: str) -> Iterator[None]:
        """Show ``phase`` in the progress bar while the block runs, and let the first stop request
        interrupt it at once (KeyboardInterrupt): for work that changes nothing the run keeps (an
        evaluation), which could otherwise keep a Ctrl-C waiting for a minute."""
        previous = self.phase
        self.phase, self._interruptible = phase, True
        self._show(refresh=True)
        try:
            yield
        finally:
            self.phase, self._interruptible = previous, False

    def _on_stop_request(self) -> str:
        """What the first Ctrl-C / SIGTERM / SIGHUP says at once (called inside the signal handler)."""
        if self._interruptible:
            return f"stop requested: the {self.phase} is cut short (it runs again on resume); checkpointing"
        return f"stop requested: checkpointing at step {self.env_steps:,} after this step, then stopping"

    def _newest_checkpoint(self) -> str:
        """``newest checkpoint <path> (step N)``, or that there is none yet, for messages."""
        try:
            found = newest_intact_checkpoint(self.run.checkpoints)
        except UserError:
            return f"no intact checkpoint in {self.run.checkpoints}"
        return f"newest intact checkpoint: {found.path} (step {found.state['step']:,})"

    def _show(self, refresh: bool = False) -> None:
        """Update the progress bar's status (and, without a terminal, print a line when one is due)."""
        bar = getattr(self, "_bar", None)
        if bar is None:
            return
        status = self._status()
        bar.set_postfix_str(status, refresh=refresh)
        self._shown_at = time.monotonic()
        if self._lines.due():
            self._lines.write(f"step {self.env_steps:,} / {self.cfg.steps:,}: {status}")
            self._lines.start(self.env_steps)

    def _status(self) -> str:
        rate = self._rate.rate()
        train_return = float(np.mean(self._bar_returns)) if self._bar_returns else None
        return progress_postfix(
            self.phase, rate, self._rate.eta(self.cfg.steps - self.env_steps), train_return, self.last_eval
        )

    def train(self) -> None:
        """Run until ``cfg.steps`` env steps, evaluating, logging and checkpointing on schedule.

        Raises:
            KeyboardInterrupt: after saving a checkpoint, when stopped by Ctrl-C, SIGTERM or SIGHUP.
            RunStoppedError: the run keeps diverging, or the disk is full (the message names the newest
                intact checkpoint).
        """
        try:
            self._train()
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self._close_quietly()
            what = f" ({err.filename})" if err.filename else ""
            raise RunStoppedError(
                f"no space left on the device of {self.run.path}{what} at step {self.env_steps:,}: the run "
                f"stopped; {self._newest_checkpoint()}. Free some space, then continue with: "
                f"{self.resume_command}"
            ) from err
        except RunStoppedError:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        """Close the progress bar and the event file after a fault (their own errors are moot then)."""
        for part in (getattr(self, "_bar", None), getattr(self, "logger", None)):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()

    def _train(self) -> None:
        if self.run.resumed:
            self.restore()
            self.logger = Logger(self.run.path, purge_step=self.env_steps)
        else:
            self.logger = Logger(self.run.path)
            self.logger.text("config", "```yaml\n" + yaml.safe_dump(config_to_dict(self.cfg)) + "```")
        if self.evaluator is None:  # eval.csv: the returns of the evaluation protocol
            resume = self.env_steps if self.run.resumed else None
            self.eval_log = EvalLog(self.run.eval_csv, resume_step=resume, elapsed=self.wall_time)
        cfg, tc = self.cfg, self.tc
        start_wall = time.time() - self.wall_time
        session_start_steps = self.env_steps
        last_log_time, last_log_steps = time.time(), self.env_steps
        last_checkpoint_time = time.monotonic()
        per_call = max(1, self.venv.num_envs) * cfg.envs.action_repeat
        self._rate = PhaseRate()
        self.phase = "prefill" if self.env_steps < tc.prefill else "train"
        # without a terminal (a log file, a scheduler) the bar is off: a plain line at least every minute
        on_terminal = sys.stderr.isatty()
        self._bar = tqdm(
            total=cfg.steps,
            initial=self.env_steps,
            unit="step",
            unit_scale=True,
            disable=not (tc.progress and on_terminal),
            dynamic_ncols=True,
            bar_format=BAR_FORMAT,
        )
        self._lines = ProgressLines(cfg.env, cfg.steps, enabled=not (tc.progress and on_terminal))
        self._lines.start(self.env_steps)
        self._shown_at = 0.0
        bar = self._bar

        def checkpoint_now() -> None:
            nonlocal last_checkpoint_time
            self.wall_time = time.time() - start_wall
            self.last_checkpoint_step = self.env_steps
            self.checkpoint()
            last_checkpoint_time = time.monotonic()

        try:
            with stop_signals(self._on_stop_request, lambda: self._interruptible) as stop:
                due = self.eval_schedule.due(self.env_steps, self.last_eval_step)
                if self.run.resumed and due and self.env_steps < cfg.steps:  # one cut short by a stop
                    self._evaluate()
                while self.env_steps < cfg.steps:
                    if stop.requested:
                        raise _StopRequestedError
                    prefill = self.env_steps < tc.prefill
                    self.phase = "prefill" if prefill else "train"
                    policy = self.random_policy if prefill else self.agent
                    before = self.collector.env_steps
                    t_collect = time.perf_counter()
                    self._add(self.collector.collect(policy, per_call))
                    self._collect_time += time.perf_counter() - t_collect
                    new = self.collector.env_steps - before
                    self._collect_steps += new
                    self.env_steps += new
                    if self.env_steps >= tc.prefill:
                        self.update_debt += new * self.updates_per_step
                    if len(self.replay) >= tc.seq_len:  # updates owed before the replay could serve wait
                        while self.update_debt >= 1.0:
                            self._update()
                            self.update_debt -= 1.0
                    self._rate.add(self.env_steps, self.phase)
                    bar.update(new)
                    if time.monotonic() - self._shown_at >= 1.0 or self._lines.due():
                        self._show()
                    self.wall_time = time.time() - start_wall
                    step = self.env_steps
                    if self.log_schedule.due(step, self.last_log_step):
                        now = time.time()
                        self._log(now - last_log_time, step - last_log_steps)
                        last_log_time, last_log_steps = now, step
                        self.last_log_step = step
                    if self.wm_eval_schedule.due(step, self.last_wm_eval_step):
                        if self.world_model is not None:
                            self._wm_eval()
                        self.last_wm_eval_step = step
                    if self.video_schedule.due(step, self.last_video_step):
                        if self.video is not None:
                            self._video()
                        self.last_video_step = step
                    if self.eval_schedule.due(step, self.last_eval_step) and step < cfg.steps:
                        self._evaluate()
                        self._show(refresh=True)
                    prefill_ended = 0 < tc.prefill <= step and self.last_checkpoint_step < tc.prefill
                    overdue = tc.checkpoint_minutes > 0 and (
                        time.monotonic() - last_checkpoint_time >= 60.0 * tc.checkpoint_minutes
                    )
                    by_steps = self.checkpoint_schedule.due(step, self.last_checkpoint_step)
                    if (by_steps or prefill_ended or overdue) and step < cfg.steps:
                        checkpoint_now()
                if self.last_eval_step != self.env_steps:
                    self._evaluate()
                    self._show(refresh=True)
                checkpoint_now()
        except (_StopRequestedError, KeyboardInterrupt):
            checkpoint_now()
            self.logger.close()
            with contextlib.suppress(OSError):  # a terminal that is gone (SIGHUP)
                bar.close()
                tqdm.write(self.summary(session_start_steps, stopped=True))
            raise KeyboardInterrupt from None
        bar.close()
        self.logger.close()
        tqdm.write(self.summary(session_start_steps, stopped=False))

    def summary(self, session_start_steps: int, *, stopped: bool) -> str:
        """The lines printed when the run ends or stops: steps, wall time, last evaluation, diagnostics."""
        head = "stopped (checkpoint saved)" if stopped else "done"
        lines = [
            f"{head}: {self.env_steps:,} env steps ({self.env_steps - session_start_steps:,} this session), "
            f"{self.updates:,} updates, {self.episodes:,} episodes, "
            f"wall time {format_duration(self.wall_time)}",
        ]
        if self._bad_total:
            lines.append(f"updates with non-finite losses or gradients: {self._bad_total:,}")
        if self.last_eval is not None:
            lines.append(f"last evaluation: return {self.last_eval:.1f} at step {self.last_eval_step:,}")
        diag = getattr(self, "last_diagnostics", {})
        if diag:
            lines.append(
                "diagnostics: " + ", ".join(f"{k.removeprefix('diag/')} {v:.3g}" for k, v in diag.items())
            )
        lines.append(f"run directory: {self.run.path}")
        if stopped:
            lines.append(f"continue with: {self.resume_command}")
        return "\n".join(lines)


class PhaseRate:
    """Steps per second over a recent window of the current phase (prefill or training).

    The rate of a fast random prefill says nothing about the training that follows, so a change of phase
    starts a new window; the ETA is the remaining steps at the current phase's recent rate.

    Args:
        window: seconds of history the rate is measured over.
    """

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self.phase = ""
        self._points: deque[tuple[float, int]] = deque()

    def add(self, steps: int, phase: str, now: float | None = None) -> None:
        """Record the step count reached at time ``now`` (default: the monotonic clock) in ``phase``."""
        now = time.monotonic() if now is None else now
        if phase != self.phase:
            self.phase = phase
            self._points.clear()
        if len(self._points) > 1 and now - self._points[-2][0] < 1.0:
            self._points[-1] = (now, steps)  # at most one point per second
        else:
            self._points.append((now, steps))
        while len(self._points) > 2 and now - self._points[1][0] >= self.window:
            self._points.popleft()

    def rate(self) -> float:
        """Steps per second in the window (0 until two points of the same phase exist)."""
        if len(self._points) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._points[0], self._points[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def eta(self, remaining: int) -> str:
        """``H:MM:SS`` for ``remaining`` steps at the current rate (``?`` before there is one)."""
        r = self.rate()
        if r <= 0:
            return "?"
        return format_duration(remaining / r)
