"""The shared evaluation protocol and its log, ``eval.csv``, which every agent writes the same way.

Protocol: N episodes (default 10), one in each of N separate env instances stepped together as a
synchronous vector env, seeded with ``envs.seeds.eval_seed(seed) + i`` (disjoint from the training
seeds), with deterministic actions. Each instance counts only for its first episode. Returns are the
undiscounted sums of rewards; lengths and the ``step`` column count simulator steps (agent steps x
action repeat).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agents.config import RunConfig
from envs import Policy, make_vector_env
from envs.config import EnvConfig
from envs.episode import StepObs
from envs.errors import UserError
from envs.seeds import eval_seed

EVAL_COLUMNS = (
    "step",
    "wall_time",
    "episodes",
    "return_mean",
    "return_std",
    "return_min",
    "return_max",
    "length_mean",
)


@dataclass(frozen=True)
class EvalResult:
    """Outcome of one evaluation.

    Attributes:
        returns: (N,) undiscounted return of each episode.
        lengths: (N,) length of each episode in simulator steps (agent steps x action repeat; an
            episode that terminates inside a repeated action counts the whole repeat).
    """

    returns: np.ndarray
    lengths: np.ndarray

    @property
    def episodes(self) -> int:
        """Number of episodes."""
        return len(self.returns)

    @property
    def return_mean(self) -> float:
        """Mean return."""
        return float(np.mean(self.returns))

    @property
    def return_std(self) -> float:
        """Standard deviation of the returns (population, ddof=0)."""
        return float(np.std(self.returns))

    @property
    def return_min(self) -> float:
        """Lowest return."""
        return float(np.min(self.returns))

    @property
    def return_max(self) -> float:
        """Highest return."""
        return float(np.max(self.returns))

    @property
    def length_mean(self) -> float:
        """Mean length in simulator steps."""
        return float(np.mean(self.lengths))

    def metrics(self) -> dict[str, float]:
        """``eval/...`` scalars for the logger."""
        return {
            "eval/return_mean": self.return_mean,
            "eval/return_std": self.return_std,
            "eval/return_min": self.return_min,
            "eval/return_max": self.return_max,
            "eval/length_mean": self.length_mean,
        }


def evaluate(policy: Policy, env: str, env_cfg: EnvConfig, *, episodes: int = 10, seed: int) -> EvalResult:
    """Run the evaluation protocol (see the module docstring).

    Args:
        policy: Acts on ``StepObs`` of all N envs at once, with ``deterministic=True``.
        env: Env name (short or full id).
        env_cfg: How envs are built; ``num_envs`` and ``vector`` are overridden (N, sync).
        episodes: N, the number of episodes and of env instances.
        seed: The run's seed; the envs use ``eval_seed(seed) + i``.

    Returns:
        Returns and lengths of the N first episodes.
    """
    if episodes < 1:
        raise ValueError(f"evaluate needs at least one episode, got {episodes}")
    cfg = dataclasses.replace(env_cfg, num_envs=episodes, vector="sync")
    first_seed = eval_seed(seed)
    venv = make_vector_env(env, cfg, seed=first_seed, num_envs=episodes)
    try:
        obs, _ = venv.reset(seed=first_seed)
        returns = np.zeros(episodes, dtype=np.float64)
        agent_steps = np.zeros(episodes, dtype=np.int64)
        done = np.zeros(episodes, dtype=bool)
        is_first = np.ones(episodes, dtype=bool)
        state = None
        while not done.all():
            with torch.inference_mode():  # evaluation never trains
                action, state = policy.act(StepObs(obs, is_first), state, deterministic=True)
            obs, reward, terminated, truncated, _ = venv.step(action)
            active = ~done
            returns[active] += np.asarray(reward, dtype=np.float64)[active]
            agent_steps[active] += 1
            ended = np.logical_or(terminated, truncated)
            done |= ended
            # Envs that ended are reset by the next step (autoreset); their later episodes are ignored.
            is_first = np.zeros(episodes, dtype=bool)
    finally:
        venv.close()
    return EvalResult(returns=returns, lengths=agent_steps * env_cfg.action_repeat)


def evaluate_run(policy: Policy, cfg: RunConfig) -> EvalResult:
    """The protocol for a run: what every training loop calls, ours and the baselines' alike.

    Takes the run's config (not a seed) so that no caller can derive the evaluation seeds a second
    time: a run with ``--seed S`` evaluates on the envs ``eval_seed(S) + i`` whatever the agent.
    """
    return evaluate(policy, cfg.env, cfg.envs, episodes=cfg.eval_episodes, seed=cfg.seed)


class EvalLog:
    """Appends evaluation rows to ``eval.csv`` (header :data:`EVAL_COLUMNS`), flushed row by row.

    Each row is written and flushed at once, so a crash loses no finished evaluation. ``wall_time`` is
    seconds since the run started, kept across resume: it continues from ``elapsed`` when given (store
    :meth:`elapsed` in checkpoints), else from the last kept row's ``wall_time``.

    On resume pass ``resume_step``, the step of the checkpoint the run continues from: rows with a
    ``step`` beyond it (evaluations after that checkpoint, which the resumed run will redo) are dropped
    from the file, so that every step appears once.

    Args:
        path: The CSV file (created with its header if missing or empty).
        resume_step: Checkpoint step the run resumes from (None for a new run).
        elapsed: Seconds the run had spent before this process (from the checkpoint).
    """

    def __init__(self, path: Path, *, resume_step: int | None = None, elapsed: float | None = None) -> None:
        self.path = Path(path)
        header, rows, intact = _parse_eval_csv(self.path)
        if header and header != EVAL_COLUMNS:
            raise ValueError(f"{self.path} has columns {list(header)}, expected {list(EVAL_COLUMNS)}")
        if resume_step is not None:
            kept = [r for r in rows if r["step"] <= resume_step]
            intact = intact and len(kept) == len(rows)
            rows = kept
        if not intact:
            self._rewrite(rows)
        if elapsed is None:
            elapsed = float(rows[-1]["wall_time"]) if rows else 0.0
        self._offset = elapsed
        self._start = time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the run started (across resumes)."""
        return self._offset + time.monotonic() - self._start

    def write(self, step: int, result: EvalResult) -> None:
        """Append the row for an evaluation at ``step`` environment steps and flush it."""
        row = {
            "step": int(step),
            "wall_time": round(self.elapsed(), 3),
            "episodes": result.episodes,
            "return_mean": result.return_mean,
            "return_std": result.return_std,
            "return_min": result.return_min,
            "return_max": result.return_max,
            "length_mean": result.length_mean,
        }
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=EVAL_COLUMNS, lineterminator="\n").writerow(row)
            f.flush()

    def rows(self) -> list[dict[str, float]]:
        """The rows in the file, numbers parsed (``step`` and ``episodes`` as int)."""
        return read_eval_csv(self.path)

    def _rewrite(self, rows: list[dict[str, float]]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=EVAL_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)


REQUIRED_COLUMNS = ("step", "wall_time", "return_mean")
"""Columns every ``eval.csv`` reader needs; the others may be missing or empty (NaN)."""


def read_eval_csv(path: Path) -> list[dict[str, float]]:
    """Rows of an ``eval.csv`` in file order (empty if the file does not exist).

    Every :data:`EVAL_COLUMNS` key is present: ``step`` and ``episodes`` as int where given, a missing or
    empty optional value as NaN. A damaged row (a line cut short by a crash mid-write, an unparsable
    required value) is skipped. Repeated steps are kept as written (the report keeps the last).

    Raises:
        UserError: the header lacks ``step``, ``wall_time`` or ``return_mean``.
    """
    path = Path(path)
    header, rows, _ = _parse_eval_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if header and c not in header]
    if missing:
        raise UserError(f"{path}: header has no '{missing[0]}' column (found {','.join(header)})")
    return rows


def _parse_eval_csv(path: Path) -> tuple[tuple[str, ...], list[dict[str, float]], bool]:
    """(header, rows, intact): intact is False if the file is missing or empty, has damaged lines, or does
    not end with a newline (a row cut mid-write)."""
    if not path.is_file():
        return (), [], False
    text = path.read_text()
    lines = text.splitlines()
    if not lines:
        return (), [], False
    header = tuple(lines[0].split(","))
    intact = text.endswith("\n")
    rows: list[dict[str, float]] = []
    for line in lines[1:]:
        values = line.split(",")
        if len(values) != len(header):
            intact = False
            continue
        given = dict(zip(header, values, strict=True))
        try:
            row: dict[str, float] = {}
            for k in EVAL_COLUMNS:
                v = given.get(k, "")
                if v == "":
                    if k in REQUIRED_COLUMNS:
                        raise ValueError(k)
                    row[k] = math.nan
                else:
                    row[k] = int(v) if k in ("step", "episodes") else float(v)
            rows.append(row)
        except ValueError:
            intact = False
    return header, rows, intact
