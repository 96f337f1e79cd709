"""Learning-curve reports over run directories: load, group, aggregate over seeds, write.

A run directory holds ``config.yaml`` (the run's config, read into the class that wrote it by
:func:`agents.configs.load_run_config`) and ``eval.csv`` (header
``step,wall_time,episodes,return_mean,return_std,return_min,return_max,length_mean``, one row per
evaluation). Runs are grouped by environment and algorithm (:func:`algo_label`), and each group is
summarised over its seeds:

- curves: every run's eval return is linearly interpolated onto a common grid (the union of the
  env's eval steps, or 200 even wall-clock times); a run counts at a grid point only inside its own
  evaluated range (plus ``TOLERANCE`` of the step, for collectors that overshoot a budget by a few
  steps), so runs of different lengths give a curve whose seed count ``n`` drops where runs end;
- budgets: the return at a fixed step budget ``b`` is, per run, the latest evaluation at or before
  ``b`` (the policy one would have after ``b`` steps), for runs that trained at least ``b`` steps and
  were evaluated within ``STALE`` of ``b``; a budget is listed when at least one run has a figure;
- area under the curve: per run, the mean eval return over the env's common step range (the
  trapezoid integral divided by the range), so algorithms in one env are compared over the same steps;
- the statistic over seeds: median, interquartile range (numpy's linear percentiles), min and max,
  and the count ``n``; one seed gives n=1 and no spread;
- per seed: the return at each budget, the best evaluation and the last over the best (a run that
  ends far below its best lost what it had learned), and the smoothed no-collapse rule (the mean of the
  last 3 evaluations is at least 0.8 x the best mean of 3 consecutive ones, :func:`collapse_check`);
  ``report.json`` also keeps every run's evaluations, so a committed report still holds the per-seed
  curves once the run folders are gone;
- the same hours, not the same steps: each algorithm's return within the wall time that one run of a
  reference algorithm (``dreamer``) takes for its budget on the env (:func:`wall_budget`,
  :func:`value_at_wall`), with the machine each run recorded (CPU model, cores, torch threads, from
  ``system.json``), since wall times compare only on one machine.

Runs without evaluations, runs that stopped before their configured budget, and directories that
cannot be read are listed in the report's notes, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agents.config import RunConfig
from agents.configs import BaselineConfig, DreamConfig, MPCRunConfig, load_run_config
from agents.evaluation import EVAL_COLUMNS, read_eval_csv
from agents.run_dir import CONFIG_FILE, SYSTEM_FILE
from analysis.events import read_scalars, run_event_files
from envs.errors import UserError

BUDGETS: tuple[int, ...] = (5_000, 10_000, 20_000, 50_000, 100_000, 300_000, 500_000, 1_000_000)
"""Step budgets reported in the table (those that at least one run of the env reaches)."""

TOLERANCE = 0.01
"""Relative slack on step positions: a run evaluated at 10,004 steps counts for the 10k budget."""

STALE = 0.1
"""A budget's figure must come from an evaluation no more than this fraction of the budget before it."""

DEBUG_PRESETS = frozenset({"debug"})

COLLAPSE_WINDOW = 3
"""Evaluations averaged by the no-collapse rule (:func:`collapse_check`)."""

COLLAPSE_RATIO = 0.8
"""The no-collapse rule: the mean of the last ``COLLAPSE_WINDOW`` evaluations is at least this share of
the best mean of ``COLLAPSE_WINDOW`` consecutive evaluations."""

WALL_REFERENCE = "dreamer"
"""The algorithm whose wall time per run sets the "same hours" column of the report."""
"""Presets that only check that the code runs (seconds-long budgets, tiny models): their runs are marked."""


Band = Literal["iqr", "minmax"]


# ----------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class Run:
    """One run directory, read.

    Attributes:
        path: The run directory.
        env: Environment id (resolved to the full Gymnasium id where possible).
        algo: Algorithm label used for grouping (see ``algo_label``).
        seed: The run's seed.
        target_steps: The configured training budget (``config.steps``), or None if not known.
        step: (K,) env steps of the evaluations, increasing.
        wall_time: (K,) seconds since the run started, per evaluation.
        returns: (K,) mean eval return per evaluation.
        config: The run's config (:func:`agents.configs.load_run_config`, lenient): a ``DreamConfig``,
            ``FitConfig`` or ``BaselineConfig``, or the shared :class:`RunConfig` fields of a
            ``config.yaml`` written before its class was recorded.
        device: The device the run trained on, from ``system.json`` (written by the run; sessions on
            different devices are joined with ``+``); None when not recorded (see ``config.device``).
        machines: The machines the run's sessions ran on, from ``system.json``'s ``machines``
            (``{"cpu", "cores", "threads", ...}``, each distinct one once); empty when not recorded.
    """

    path: Path
    env: str
    algo: str
    seed: int
    target_steps: int | None
    step: np.ndarray
    wall_time: np.ndarray
    returns: np.ndarray
    config: RunConfig = field(repr=False)
    device: str | None = None
    machines: tuple[dict[str, Any], ...] = ()

    @property
    def preset(self) -> str | None:
        """The named defaults the run started from (``preset`` in config.yaml), if recorded."""
        return self.config.preset

    @property
    def last_step(self) -> int:
        """Env steps at the last evaluation (0 when the run has none)."""
        return int(self.step[-1]) if len(self.step) else 0

    @property
    def finished(self) -> bool:
        """Whether the evaluations reach the configured budget (within ``TOLERANCE``)."""
        if self.target_steps is None:
            return len(self.step) > 0
        return len(self.step) > 0 and self.last_step >= self.target_steps * (1 - TOLERANCE)


def eval_columns(path: Path) -> dict[str, np.ndarray]:
    """``eval.csv`` as columns (float64 arrays of equal length, sorted by step), read with
    :func:`agents.evaluation.read_eval_csv`; repeated steps (a resumed run that evaluated the same step
    twice) keep the last row.

    Raises:
        UserError: the header lacks ``step``, ``wall_time`` or ``return_mean``.
    """
    by_step = {row["step"]: row for row in read_eval_csv(path)}
    steps = sorted(by_step)
    return {name: np.array([by_step[s][name] for s in steps], dtype=np.float64) for name in EVAL_COLUMNS}


def algo_label(cfg: RunConfig, run_dir: Path) -> str:
    """The grouping label of a run, from the class of its config.

    A ``BaselineConfig`` (scripts.baseline): its ``algo`` (``sac``, ``td3``, ``ppo``, ``crossq``,
    ``tqc``), with the critics' widths when ``--hp.critic-arch`` set them: ``crossq-1024`` for ``1024
    1024``, ``sac-512x256`` for ``512 256``. An ``MPCRunConfig`` (scripts.mpc, and a scripts.dream
    ``--act planner`` run from before it, which :func:`agents.configs.load_run_config` reads as one):
    ``mpc-<planner>`` (e.g. ``mpc-mppi``), with ``-prior`` appended when the planner draws candidates
    from the actor. A ``DreamConfig`` (scripts.dream): ``dreamer``. Any other run (a world-model fit, a config
    written before its class was recorded): the name of the folder that holds the run directory (the
    ``runs/<env>/<algo>/<seed>-<time>`` layout; ``scripts.benchmark`` names it after the agent too).
    """
    if isinstance(cfg, BaselineConfig):
        critic = cfg.hp.critic_arch
        if critic:  # a baseline with critics other than its Zoo entry's
            widths = [str(w) for w in critic]
            return f"{cfg.algo}-{widths[0] if len(set(widths)) == 1 else 'x'.join(widths)}"
        return cfg.algo
    if isinstance(cfg, MPCRunConfig):  # before DreamConfig: a subclass of it
        label = f"mpc-{cfg.planner}"
        return f"{label}-prior" if cfg.planner_prior else label
    if isinstance(cfg, DreamConfig):
        return "dreamer"
    return run_dir.parent.name or "unknown"


def canonical_env(name: str) -> str:
    """The full Gymnasium id for ``name`` when the env registry knows it, else ``name`` unchanged."""
    try:
        from envs import resolve_env_id

        return str(resolve_env_id(name))
    except (ImportError, UserError):
        return name


def load_run(run_dir: Path) -> Run:
    """Read one run directory: its config through :func:`agents.configs.load_run_config` (lenient: a
    report only looks at the run), its ``eval.csv`` and ``system.json``.

    Raises:
        UserError: not a run directory, a config.yaml that cannot be read into its class, or a malformed
            eval.csv.
    """
    cfg = load_run_config(run_dir, lenient=True)
    cols = eval_columns(run_dir / "eval.csv")
    system = _read_json(run_dir / SYSTEM_FILE)
    devices = system.get("devices")
    device = "+".join(str(d) for d in devices) if isinstance(devices, list) and devices else None
    machines = system.get("machines")
    machines = [m for m in machines if isinstance(m, dict)] if isinstance(machines, list) else []
    return Run(
        path=run_dir,
        env=canonical_env(cfg.env),
        algo=algo_label(cfg, run_dir),
        seed=cfg.seed,
        target_steps=cfg.steps,
        step=cols["step"],
        wall_time=cols["wall_time"],
        returns=cols["return_mean"],
        config=cfg,
        device=device,
        machines=tuple(machines),
    )


def find_run_dirs(patterns: Iterable[str]) -> list[Path]:
    """Expand run directories, parent folders (searched recursively) and glob patterns.

    Raises:
        UserError: a pattern matches nothing that holds a ``config.yaml``.
    """
    found: list[Path] = []
    for pattern in patterns:
        matches = (
            [Path(m) for m in sorted(glob.glob(pattern, recursive=True))]
            if _is_glob(pattern)
            else [Path(pattern)]
        )
        dirs: list[Path] = []
        for match in matches:
            if (match / CONFIG_FILE).is_file():
                dirs.append(match)
            elif match.is_dir():
                dirs.extend(_run_dirs_under(match))
        if not dirs:
            raise UserError(f"no run directory (a folder with {CONFIG_FILE}) matches '{pattern}'")
        found.extend(dirs)
    # One entry per run, however many names reach it; the first name stays (not the symlink's target),
    # so that ``--group-by folder`` and the report's paths use the folder the user laid out.
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), Path(os.path.abspath(path)))
    return list(unique.values())


def _run_dirs_under(root: Path) -> list[Path]:
    """Folders with a ``config.yaml`` under ``root``, symlinked folders followed (once each)."""
    dirs: list[Path] = []
    seen: set[str] = set()
    for folder, subdirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree, or a second link to the same folder
            subdirs.clear()
            continue
        seen.add(real)
        subdirs.sort()
        if CONFIG_FILE in files:
            dirs.append(Path(folder))
    return sorted(dirs)


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


# ----------------------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class Stats:
    """Summary of one number over seeds (NaN fields when ``n`` is 0)."""

    n: int
    median: float
    q25: float
    q75: float
    min: float
    max: float
    values: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping (NaN -> None)."""
        return {
            "n": self.n,
            "median": _num(self.median),
            "q25": _num(self.q25),
            "q75": _num(self.q75),
            "min": _num(self.min),
            "max": _num(self.max),
            "values": [_num(v) for v in self.values],
        }


def summarize(values: Sequence[float]) -> Stats:
    """Median, quartiles (numpy linear interpolation), min, max and count of the finite values."""
    arr = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if len(arr) == 0:
        return Stats(0, math.nan, math.nan, math.nan, math.nan, math.nan, ())
    q25, med, q75 = np.percentile(arr, [25, 50, 75])
    return Stats(
        len(arr), float(med), float(q25), float(q75), float(arr.min()), float(arr.max()), tuple(arr.tolist())
    )


@dataclass(frozen=True)
class Curve:
    """A learning curve summarised over seeds on a grid.

    Attributes:
        x: (G,) grid (env steps or wall-clock seconds).
        n: (G,) number of runs covering each grid point.
        median, q25, q75, min, max: (G,) statistics over the covering runs (NaN where n == 0).
    """

    x: np.ndarray
    n: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    min: np.ndarray
    max: np.ndarray

    def to_json(self) -> dict[str, list[Any]]:
        """JSON-ready mapping of lists (NaN -> None)."""
        out: dict[str, list[Any]] = {"x": [_num(v) for v in self.x], "n": [int(v) for v in self.n]}
        for name in ("median", "q25", "q75", "min", "max"):
            out[name] = [_num(v) for v in getattr(self, name)]
        return out


def curve_on_grid(
    xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], grid: np.ndarray | None = None, *, tol: float = 0.0
) -> Curve:
    """Interpolate each run onto a common grid and summarise over runs at each grid point.

    Args:
        xs: per run (K_i,) increasing x positions (steps or seconds).
        ys: per run (K_i,) values.
        grid: (G,) grid; default the sorted union of all x positions.
        tol: relative slack: run i covers grid point g when
            ``xs[i][0] - tol * g <= g <= xs[i][-1] + tol * g`` (values outside its range are clamped).

    Returns:
        The Curve; a run with no points covers nothing.
    """
    if grid is None:
        parts = [np.asarray(x, dtype=np.float64) for x in xs if len(x)]
        grid = np.unique(np.concatenate(parts)) if parts else np.zeros(0)
    grid = np.asarray(grid, dtype=np.float64)
    table = np.full((len(xs), len(grid)), np.nan)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if len(x) == 0:
            continue
        x = np.asarray(x, dtype=np.float64)
        covered = (grid >= x[0] - tol * np.abs(grid)) & (grid <= x[-1] + tol * np.abs(grid))
        table[i, covered] = np.interp(grid[covered], x, np.asarray(y, dtype=np.float64))
    n = np.isfinite(table).sum(axis=0)
    stats = {name: np.full(len(grid), np.nan) for name in ("median", "q25", "q75", "min", "max")}
    for j in np.flatnonzero(n):
        col = table[:, j][np.isfinite(table[:, j])]
        stats["q25"][j], stats["median"][j], stats["q75"][j] = np.percentile(col, [25, 50, 75])
        stats["min"][j], stats["max"][j] = col.min(), col.max()
    return Curve(x=grid, n=n, **stats)


def value_at_budget(run: Run, budget: int, *, tol: float = TOLERANCE) -> float | None:
    """A run's eval return at a step budget: its latest evaluation at or before ``budget``.

    Returns None when the run did not train ``budget`` steps (last eval below ``budget * (1 - tol)``),
    or when that latest evaluation is stale (before ``budget * (1 - STALE)``: a run evaluated every
    25k steps has no 10k figure rather than its step-0 one).
    """
    if len(run.step) == 0 or run.last_step < budget * (1 - tol):
        return None
    idx = np.flatnonzero(run.step <= budget * (1 + tol))
    if len(idx) == 0 or run.step[idx[-1]] < budget * (1 - STALE):
        return None
    return float(run.returns[idx[-1]])


def mean_return_over(run: Run, lo: float, hi: float) -> float | None:
    """Area under the run's (linearly interpolated) eval curve over ``[lo, hi]``, divided by ``hi - lo``.

    Returns the interpolated value at ``lo`` when ``hi == lo``, and None when the run does not cover
    the range (within ``TOLERANCE``).
    """
    if len(run.step) == 0 or hi < lo:
        return None
    if run.step[0] > lo + TOLERANCE * max(lo, 1.0) or run.last_step < hi * (1 - TOLERANCE):
        return None
    if hi == lo:
        return float(np.interp(lo, run.step, run.returns))
    inside = run.step[(run.step > lo) & (run.step < hi)]
    x = np.concatenate([[lo], inside, [hi]])
    y = np.interp(x, run.step, run.returns)
    return float(np.trapezoid(y, x) / (hi - lo))


@dataclass(frozen=True)
class Collapse:
    """The smoothed no-collapse rule on one run (:func:`collapse_check`).

    Attributes:
        last: mean return of the run's last ``COLLAPSE_WINDOW`` evaluations.
        best: the best mean return of ``COLLAPSE_WINDOW`` consecutive evaluations.
        passed: ``last >= COLLAPSE_RATIO * best``; None when ``best`` is not positive (returns that are
            costs, Pendulum's say, make the ratio meaningless).
    """

    last: float
    best: float
    passed: bool | None


def collapse_check(
    run: Run, *, window: int = COLLAPSE_WINDOW, ratio: float = COLLAPSE_RATIO
) -> Collapse | None:
    """The smoothed no-collapse rule: the mean of the last ``window`` evaluations against the best mean of
    ``window`` consecutive evaluations (moving means over the evaluations in order, whatever their step
    spacing). None when the run has fewer than ``window`` evaluations."""
    if len(run.returns) < window:
        return None
    means = np.convolve(run.returns, np.ones(window) / window, mode="valid")
    last, best = float(means[-1]), float(means.max())
    return Collapse(last, best, None if best <= 0 else bool(last >= ratio * best))


@dataclass(frozen=True)
class WallBudget:
    """The wall time one run of the reference algorithm takes for its budget on an env.

    Attributes:
        reference: the reference algorithm's label (``dreamer``).
        seconds: median over its finished runs of the wall time at their last evaluation.
        steps: their budget (env steps).
        runs: how many runs the median is over.
    """

    reference: str
    seconds: float
    steps: int
    runs: int


def wall_budget(runs: Sequence[Run], reference: str) -> WallBudget | None:
    """The env's :class:`WallBudget` from the finished runs of ``reference`` (those of the largest budget
    when they differ); None when there is none."""
    done = [r for r in runs if r.algo == reference and r.finished and len(r.step)]
    if not done:
        return None
    steps = max(r.target_steps or r.last_step for r in done)
    same = [r for r in done if (r.target_steps or r.last_step) == steps]
    seconds = float(np.median([float(r.wall_time[-1]) for r in same]))
    return WallBudget(reference, seconds, int(steps), len(same))


def value_at_wall(run: Run, seconds: float, *, tol: float = TOLERANCE) -> tuple[float, bool] | None:
    """A run's eval return within ``seconds`` of wall time: its latest evaluation at or before then.

    Returns:
        ``(return, ended_before)``: ``ended_before`` is True for a run that finished its whole budget in
        less time (its last evaluation is given: it had hours left that its budget did not use). None when
        the run has no evaluation by then, or stopped before both its budget and ``seconds``.
    """
    if len(run.step) == 0:
        return None
    if run.wall_time[-1] < seconds * (1 - tol):
        return (float(run.returns[-1]), True) if run.finished else None
    idx = np.flatnonzero(run.wall_time <= seconds * (1 + tol))
    return (float(run.returns[idx[-1]]), False) if len(idx) else None


def machine_text(machine: dict[str, Any]) -> str:
    """``{"cpu": "AMD EPYC", "cores": 2, "threads": 1}`` -> ``AMD EPYC, 2 cores, 1 torch thread``."""
    threads = machine.get("threads")
    parts = [
        str(machine.get("cpu") or "unknown CPU"),
        f"{machine.get('cores', '?')} cores",
        f"{threads} torch thread{'' if threads == 1 else 's'}",
    ]
    return ", ".join(parts)


def hardware_lines(runs: Sequence[Run]) -> list[str]:
    """Per algorithm, the machines its runs recorded (``machine_text``, with run counts), and the runs
    that recorded none (their ``bench.json`` host when a benchmark ran them)."""
    lines = []
    for algo in sorted({r.algo for r in runs}):
        group = [r for r in runs if r.algo == algo]
        counts: dict[str, int] = {}
        for r in group:
            key = " + ".join(machine_text(m) for m in r.machines) if r.machines else ""
            counts[key] = counts.get(key, 0) + 1
        parts = []
        for key, n in sorted(counts.items()):
            if key:
                parts.append(f"{key} ({n} run{'s' if n > 1 else ''})")
        missing = [r for r in group if not r.machines]
        if missing:
            hosts = sorted({h for r in missing for h in _bench_hosts(r.path)})
            where = f"; hosts {', '.join(hosts)}" if hosts else ""
            parts.append(f"not recorded ({len(missing)} run{'s' if len(missing) > 1 else ''}{where})")
        lines.append(f"{algo}: {'; '.join(parts)}")
    return lines


def _bench_hosts(run_dir: Path) -> list[str]:
    """The hosts ``scripts.benchmark`` ran the run's sessions on (``bench.json``), if any."""
    sessions = _read_json(run_dir / "bench.json").get("sessions")
    if not isinstance(sessions, list):
        return []
    return [str(s["host"]) for s in sessions if isinstance(s, dict) and s.get("host")]


def same_machine(runs: Sequence[Run]) -> bool | None:
    """Whether every run recorded the same CPU model, core count and thread count (None when some run
    recorded none)."""
    if any(not r.machines for r in runs):
        return None
    keys = {(m.get("cpu"), m.get("cores"), m.get("threads")) for r in runs for m in r.machines}
    return len(keys) == 1


# ----------------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class AlgoSummary:
    """One (env, algorithm) group."""

    algo: str
    runs: tuple[Run, ...]
    budgets: dict[int, Stats]
    final: Stats
    final_step: Stats
    auc: Stats
    curve_steps: Curve
    curve_wall: Curve
    at_wall: Stats = field(default_factory=lambda: summarize([]))
    """The return within the env's :class:`WallBudget` (see :func:`value_at_wall`)."""
    ended_before_wall: int = 0
    """Runs that finished their budget in less than the wall budget (their last evaluation counts)."""
    steps_in_wall: Stats = field(default_factory=lambda: summarize([]))
    """Env steps the runs would train in the wall budget at their own overall speed."""


@dataclass(frozen=True)
class EnvReport:
    """All algorithms on one env.

    Attributes:
        env: Environment id.
        budgets: The step budgets at least one run reaches.
        auc_range: (lo, hi) env steps of the area-under-curve window, or None if no window exists.
        algos: Per algorithm, sorted by name.
        notes: Human-readable problems (missing evals, unfinished runs, runs left out of the AUC).
        wall: The wall time of one reference run (the "same hours" column), None without reference runs.
    """

    env: str
    budgets: tuple[int, ...]
    auc_range: tuple[float, float] | None
    algos: tuple[AlgoSummary, ...]
    notes: tuple[str, ...]
    wall: WallBudget | None = None


@dataclass(frozen=True)
class Report:
    """Everything ``write_report`` writes."""

    envs: tuple[EnvReport, ...]
    skipped: tuple[str, ...]
    band: Band = "iqr"
    speed: tuple[tuple[Run, dict[str, float]], ...] = ()
    """Per run, the speed figures of ``read_speed`` (runs without any are left out)."""
    base: Path | None = None
    """Run paths inside this folder are shown relative to it (the report's own folder)."""

    def show(self, path: Path) -> str:
        """``path`` as the report shows it: relative to ``base`` when inside it."""
        return show_path(path, self.base)


def show_path(path: Path, base: Path | None) -> str:
    """``path`` relative to ``base`` when it lies inside ``base``, else unchanged."""
    if base is not None:
        for inside, outside in ((path.absolute(), base.absolute()), (path.resolve(), base.resolve())):
            try:
                return str(inside.relative_to(outside))
            except ValueError:
                pass
    return str(path)


def _auc_range(runs: Sequence[Run]) -> tuple[float, float] | None:
    """The env's AUC window, common to its algorithms.

    It ends at the shortest algorithm's longest finished run (an algorithm whose runs all stopped
    early does not shrink the window; it is left out of the AUC, with a note) and starts at the
    latest first evaluation among the runs that reach that end. None when there is no window longer
    than a single step (e.g. runs evaluated once).
    """
    evaluated = [r for r in runs if len(r.step)]
    if not evaluated:
        return None
    finished = [r for r in evaluated if r.finished]
    longest: dict[str, float] = {}
    for r in finished or evaluated:
        longest[r.algo] = max(longest.get(r.algo, 0.0), float(r.last_step))
    hi = min(longest.values())
    reaching = [r for r in evaluated if r.last_step >= hi * (1 - TOLERANCE)]
    lo = max(float(r.step[0]) for r in reaching)
    return (lo, hi) if lo < hi else None  # a single step has no area under the curve


def build_report(
    runs: Sequence[Run],
    *,
    band: Band = "iqr",
    skipped: Sequence[str] = (),
    speed: bool = False,
    base: Path | None = None,
    wall_reference: str | None = WALL_REFERENCE,
) -> Report:
    """Group runs by env and algorithm and compute every number the report shows.

    Args:
        runs: The loaded runs.
        band: Spread shown around the median: interquartile range or min-max.
        skipped: Notes on directories that could not be loaded (shown in the report).
        speed: Also read each run's speed figures (``read_speed``).
        base: Show run paths inside this folder relative to it (pass the report's output folder).
        wall_reference: The algorithm whose wall time per run gives every algorithm the same hours
            (:func:`wall_budget`); None: no such column.
    """
    by_env: dict[str, list[Run]] = {}
    for run in runs:
        by_env.setdefault(run.env, []).append(run)
    envs = []
    for env in sorted(by_env):
        env_runs = sorted(by_env[env], key=lambda r: (r.algo, r.seed, str(r.path)))
        notes: list[str] = []
        for r in env_runs:
            if len(r.step) == 0:
                notes.append(f"{r.algo} seed {r.seed}: no evaluations ({show_path(r.path, base)})")
            elif not r.finished:
                notes.append(
                    f"{r.algo} seed {r.seed}: stopped at {r.last_step:,} of "
                    f"{r.target_steps:,} steps ({show_path(r.path, base)})"
                )
        budgets = tuple(b for b in BUDGETS if any(value_at_budget(r, b) is not None for r in env_runs))
        window = _auc_range(env_runs)
        step_grid = _union([r.step for r in env_runs])
        several = len({r.algo for r in env_runs}) > 1  # one algorithm alone: nothing to give the same hours
        wall = wall_budget(env_runs, wall_reference) if wall_reference and several else None
        algos = []
        for algo in sorted({r.algo for r in env_runs}):
            group = tuple(r for r in env_runs if r.algo == algo)
            aucs = [mean_return_over(r, *window) if window else None for r in group]
            if window:
                for r, a in zip(group, aucs, strict=True):
                    if a is None and len(r.step):
                        notes.append(
                            f"{algo} seed {r.seed}: left out of the AUC (evaluated {int(r.step[0]):,}-"
                            f"{r.last_step:,}, window {int(window[0]):,}-{int(window[1]):,})"
                        )
            evaluated = [r for r in group if len(r.step)]
            at_wall = [value_at_wall(r, wall.seconds) for r in group] if wall else []
            speeds = [r.last_step / r.wall_time[-1] for r in evaluated if r.wall_time[-1] > 0]
            algos.append(
                AlgoSummary(
                    algo=algo,
                    runs=group,
                    budgets={b: summarize(_present(value_at_budget(r, b) for r in group)) for b in budgets},
                    final=summarize([float(r.returns[-1]) for r in evaluated]),
                    final_step=summarize([float(r.last_step) for r in evaluated]),
                    auc=summarize(_present(aucs)),
                    curve_steps=curve_on_grid(
                        [r.step for r in group], [r.returns for r in group], step_grid, tol=TOLERANCE
                    ),
                    curve_wall=curve_on_grid(
                        [r.wall_time for r in group],
                        [r.returns for r in group],
                        _even_grid([r.wall_time for r in group]),
                    ),
                    at_wall=summarize([v[0] for v in at_wall if v is not None]),
                    ended_before_wall=sum(1 for v in at_wall if v is not None and v[1]),
                    steps_in_wall=summarize([wall.seconds * v for v in speeds] if wall else []),
                )
            )
        envs.append(EnvReport(env, budgets, window, tuple(algos), tuple(notes), wall))
    speed_rows: list[tuple[Run, dict[str, float]]] = []
    if speed:
        for run in runs:
            figures = read_speed(run.path)
            if figures:
                speed_rows.append((run, figures))
    return Report(tuple(envs), tuple(skipped), band, tuple(speed_rows), base)


def load_runs(run_dirs: Iterable[Path]) -> tuple[list[Run], list[str]]:
    """Load run directories; unreadable ones become ``skipped`` notes instead of errors."""
    runs, skipped = [], []
    for path in run_dirs:
        try:
            runs.append(load_run(path))
        except UserError as exc:
            skipped.append(str(exc))
    return runs, skipped


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _union(xs: Sequence[np.ndarray]) -> np.ndarray:
    parts = [x for x in xs if len(x)]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0)


def _even_grid(xs: Sequence[np.ndarray], points: int = 200) -> np.ndarray:
    """``points`` evenly spaced positions from the smallest to the largest x (wall-clock times of
    different seeds rarely coincide, so their union would give a jagged median)."""
    parts = [x for x in xs if len(x)]
    if not parts:
        return np.zeros(0)
    lo, hi = min(float(x[0]) for x in parts), max(float(x[-1]) for x in parts)
    return np.linspace(lo, hi, points) if hi > lo else np.array([lo])


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def format_steps(steps: float) -> str:
    """10000 -> '10k', 1000000 -> '1M', 2500 -> '2.5k', 300 -> '300'."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if steps >= size:
            return f"{steps / size:g}{unit}"
    return f"{steps:g}"


def format_cell(stats: Stats, band: Band = "iqr") -> str:
    """'median [q25, q75] (n=3)' ('[min, max]' for band=minmax); one seed: 'v (n=1)'; none: '-'."""
    if stats.n == 0:
        return "-"
    if stats.n == 1:
        return f"{stats.median:.1f} (n=1)"
    lo, hi = (stats.q25, stats.q75) if band == "iqr" else (stats.min, stats.max)
    return f"{stats.median:.1f} [{lo:.1f}, {hi:.1f}] (n={stats.n})"


def format_seeds(seeds: Sequence[int]) -> tuple[str, str]:
    """The seeds cell, ``'3 (0,1,2)'``, and a description of repeated seeds ('' when none):
    ``[0, 0]`` -> ``('2 (0,0: seed 0 twice!)', 'seed 0 twice')``."""
    counts: dict[int, int] = {}
    for seed in seeds:
        counts[seed] = counts.get(seed, 0) + 1
    times = {2: "twice", 3: "three times"}
    repeated = "; ".join(
        f"seed {seed} {times.get(n, f'{n} times')}" for seed, n in sorted(counts.items()) if n > 1
    )
    listed = ",".join(str(s) for s in seeds)
    return (f"{len(seeds)} ({listed}: {repeated}!)" if repeated else f"{len(seeds)} ({listed})"), repeated


def md_row(cells: Sequence[str]) -> str:
    """One row of a Markdown table."""
    return "| " + " | ".join(cells) + " |"


def md_head(header: Sequence[str]) -> list[str]:
    """A Markdown table's header row and its separator."""
    return [md_row(header), md_row(["---"] * len(header))]


def to_markdown(report: Report) -> str:
    """The report's Markdown: one table per env (budgets, final, AUC), then notes."""
    spread = "interquartile range" if report.band == "iqr" else "min-max"
    lines = [
        "# Evaluation return",
        "",
        f"Cells: median [{spread}] over seeds (n = seeds counted) of the mean deterministic eval return.",
        "A budget column uses, per run, the latest evaluation at or before that many env steps, for runs",
        "that trained that long. *final*: each run's last evaluation (@ median step).",
        "*AUC*: mean eval return over the env's common step window (area under the curve / window).",
        "",
    ]
    for env in report.envs:
        lines.append(f"## {env.env}")
        lines.append("")
        window = (
            f" ({format_steps(env.auc_range[0])}-{format_steps(env.auc_range[1])})" if env.auc_range else ""
        )
        header = ["algorithm", "seeds", *(format_steps(b) for b in env.budgets), "final", f"AUC{window}"]
        if env.wall:
            header.append(f"@ {env.wall.reference} wall time ({format_hours(env.wall.seconds)})")
        lines.extend(md_head(header))
        warnings: list[str] = []
        for a in env.algos:
            final = format_cell(a.final, report.band)
            if a.final.n:
                final += f" @{format_steps(a.final_step.median)}"
            name = a.algo
            debug = [r for r in a.runs if r.preset in DEBUG_PRESETS]
            if debug:
                name += " (debug preset!)" if len(debug) == len(a.runs) else f" ({len(debug)} debug preset!)"
                warnings.append(
                    f"{a.algo}: {len(debug)} of {len(a.runs)} runs used `--preset {debug[0].preset}`, a "
                    "seconds-long smoke-test configuration: their returns say nothing about the algorithm."
                )
            presets = sorted({r.preset or "-" for r in a.runs})
            if len(presets) > 1:
                warnings.append(f"{a.algo}: the runs mix presets ({', '.join(presets)}).")
            seeds, repeated = format_seeds([r.seed for r in a.runs])
            if repeated:
                warnings.append(
                    f"{a.algo}: {repeated}; the spread over seeds is not over independent runs "
                    "(give each run its own --seed)."
                )
            cells = [
                name,
                seeds,
                *(format_cell(a.budgets[b], report.band) for b in env.budgets),
                final,
                format_cell(a.auc, report.band) if env.auc_range else "n/a",
            ]
            if env.wall:
                early = a.ended_before_wall and a.algo != env.wall.reference
                cells.append(format_cell(a.at_wall, report.band) + (" *" if early else ""))
            lines.append(md_row(cells))
        lines.append("")
        if env.wall:
            lines.extend(wall_markdown(env))
        if not env.auc_range:
            warnings.append("AUC n/a: the runs share no evaluated range longer than a single step.")
        lines.extend(f"- **Warning**: {w}" for w in warnings)
        if warnings:
            lines.append("")
        lines.extend(per_seed_markdown(env))
        lines.append(f"![{env.env}]({plot_name(env.env)})")
        lines.append("")
        if env.notes:
            lines.append("Notes:")
            lines.extend(f"- {note}" for note in env.notes)
            lines.append("")
    if report.speed:
        lines.append("## Speed")
        lines.append("")
        lines.append(
            "Median over seeds. *train steps/s*: the training loop's env steps per second (collection and "
            "updates); *overall steps/s*: last eval step / its wall time (evaluations included); *peak "
            "memory (MB)*: peak resident memory; *wall s*: measured by `scripts.benchmark` around the run "
            "(see `analysis.report`)."
        )
        lines.append("")
        lines.append(run_cost_markdown(report.speed))
    if report.skipped:
        lines.append("## Skipped directories")
        lines.append("")
        lines.extend(f"- {s}" for s in report.skipped)
        lines.append("")
    return "\n".join(lines)


def best_evaluation(run: Run) -> tuple[float, int] | None:
    """The run's best mean eval return and the env steps it came at (the first, on ties); None
    when the run has no evaluations."""
    if len(run.returns) == 0:
        return None
    i = int(np.argmax(run.returns))
    return float(run.returns[i]), int(run.step[i])


def last_over_best(run: Run) -> float | None:
    """The last evaluation over the best one: below 0.7 a run lost much of what it had learned.
    None without evaluations or when the best return is not positive (the ratio means nothing on
    returns that are costs, Pendulum's say)."""
    best = best_evaluation(run)
    if best is None or best[0] <= 0:
        return None
    return float(run.returns[-1]) / best[0]


def per_seed_markdown(env: EnvReport) -> list[str]:
    """Lines of the env's per-seed table: each run's return at every budget, its best evaluation and
    last / best (empty when no run has an evaluation)."""
    rows = [(a.algo, r) for a in env.algos for r in a.runs if len(r.step)]
    if not rows:
        return []
    k = COLLAPSE_WINDOW
    header = [
        "algorithm",
        "seed",
        *(format_steps(b) for b in env.budgets),
        "best",
        "last / best",
        f"last {k}",
        f"best {k}",
        "no collapse",
    ]
    lines = [
        "Per seed: the run's evaluation at each budget, its best evaluation (@ env steps) and its last over "
        "its best (below 0.70: it lost much of what it had learned; n/a where the best is not positive). "
        f"*last {k}*: mean of its last {k} evaluations; *best {k}*: the best mean of {k} consecutive "
        f"evaluations; *no collapse*: pass when last {k} >= {COLLAPSE_RATIO:g} x best {k} "
        f"(n/a where best {k} is not positive, - with fewer than {k} evaluations).",
        "",
        *md_head(header),
    ]
    for algo, r in rows:
        at = [value_at_budget(r, b) for b in env.budgets]
        best = best_evaluation(r)
        ratio = last_over_best(r)
        check = collapse_check(r)
        verdict = "-" if check is None else {None: "n/a", True: "pass", False: "FAIL"}[check.passed]
        cells = [
            algo,
            str(r.seed),
            *("-" if v is None else f"{v:.1f}" for v in at),
            "-" if best is None else f"{best[0]:.1f} @{format_steps(best[1])}",
            "n/a" if ratio is None else f"{ratio:.2f}",
            "-" if check is None else f"{check.last:.1f}",
            "-" if check is None else f"{check.best:.1f}",
            verdict,
        ]
        lines.append(md_row(cells))
    lines.append("")
    return lines


def format_hours(seconds: float) -> str:
    """``8669`` -> ``2.41 h``; under an hour in minutes (``1349`` -> ``22.5 min``), under a minute in
    seconds."""
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def wall_markdown(env: EnvReport) -> list[str]:
    """The lines under an env's table that explain its same-hours column and name the hardware."""
    wall = env.wall
    assert wall is not None
    lines = [
        f"*@ {wall.reference} wall time*: each run's latest evaluation within "
        f"{format_hours(wall.seconds)} of wall time, the median time of the {wall.runs} finished "
        f"{wall.reference} run{'s' if wall.runs > 1 else ''} of {format_steps(wall.steps)} steps "
        "(evaluations included): every agent gets the same hours instead of the same steps.",
    ]
    for a in env.algos:
        if a.algo == wall.reference or not a.ended_before_wall:
            continue
        more = a.steps_in_wall.median
        hint = (
            f"; at their own speed {format_hours(wall.seconds)} would be about {format_steps(more)} env "
            f"steps (`--steps {int(round(more, -3))}`)"
            if math.isfinite(more)
            else ""
        )
        lines.append(
            f"- \\* {a.algo}: {a.ended_before_wall} of {a.at_wall.n} runs finished their budget in less "
            f"time; their last evaluation is shown{hint}."
        )
    env_runs = [r for a in env.algos for r in a.runs]
    lines.append("- hardware (each run's `system.json`): " + "; ".join(hardware_lines(env_runs)) + ".")
    same = same_machine(env_runs)
    if same is False:
        lines.append(
            "- **Warning**: the runs recorded different machines or thread counts: their wall times do not "
            "compare."
        )
    elif same is None:
        lines.append(
            "- Some runs recorded no machine: wall times compare only if they ran on the same one, with the "
            "same load (two runs sharing two cores take longer than one alone)."
        )
    lines.append("")
    return lines


def _run_json(report: Report, r: Run, wall: WallBudget | None = None) -> dict[str, Any]:
    """One run in ``report.json``: where it is, how far it went, its evaluations, the no-collapse rule,
    its machine and (with ``wall``) its return within the env's wall budget."""
    best = best_evaluation(r)
    check = collapse_check(r)
    at_wall = value_at_wall(r, wall.seconds) if wall else None
    return {
        "path": report.show(r.path),
        "seed": r.seed,
        "evaluations": len(r.step),
        "last_step": r.last_step,
        "target_steps": r.target_steps,
        "finished": r.finished,
        "preset": r.preset,
        "device": r.device or r.config.device,
        "best": None if best is None else best[0],
        "best_step": None if best is None else best[1],
        "last_over_best": last_over_best(r),
        f"last{COLLAPSE_WINDOW}_mean": None if check is None else check.last,
        f"best{COLLAPSE_WINDOW}_mean": None if check is None else check.best,
        "no_collapse": None if check is None else check.passed,
        "machines": list(r.machines),
        "at_wall": None if at_wall is None else {"return": at_wall[0], "ended_before": at_wall[1]},
        "eval": {
            "step": [int(v) for v in r.step],
            "wall_time": [_num(float(v)) for v in r.wall_time],
            "return": [_num(float(v)) for v in r.returns],
        },
    }


def to_json(report: Report) -> dict[str, Any]:
    """The report's numbers as a JSON-ready mapping."""
    envs: dict[str, Any] = {}
    for env in report.envs:
        algos: dict[str, Any] = {}
        for a in env.algos:
            algos[a.algo] = {
                "runs": [_run_json(report, r, env.wall) for r in a.runs],
                "budgets": {str(b): s.to_json() for b, s in a.budgets.items()},
                "final": a.final.to_json(),
                "final_step": a.final_step.to_json(),
                "auc": a.auc.to_json(),
                "curve_steps": a.curve_steps.to_json(),
                "curve_wall_time": a.curve_wall.to_json(),
                "at_wall": a.at_wall.to_json(),
                "ended_before_wall": a.ended_before_wall,
                "steps_in_wall": a.steps_in_wall.to_json(),
            }
        env_runs = [r for a in env.algos for r in a.runs]
        envs[env.env] = {
            "budgets": list(env.budgets),
            "auc_range": list(env.auc_range) if env.auc_range else None,
            "wall": dataclasses.asdict(env.wall) if env.wall else None,
            "same_machine": same_machine(env_runs),
            "hardware": hardware_lines(env_runs),
            "algos": algos,
            "notes": list(env.notes),
        }
    speed = [
        {"path": report.show(r.path), "env": r.env, "algo": r.algo, "seed": r.seed, **figures}
        for r, figures in report.speed
    ]
    return {
        "band": report.band,
        "tolerance": TOLERANCE,
        "collapse_rule": {"window": COLLAPSE_WINDOW, "ratio": COLLAPSE_RATIO},
        "envs": envs,
        "speed": speed,
        "skipped": list(report.skipped),
    }


def plot_name(env: str) -> str:
    """File name of an env's plot ('Walker2d-v5' -> 'Walker2d-v5.png')."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in env) + ".png"


def plot_env(env: EnvReport, path: Path, *, band: Band = "iqr") -> None:
    """Two panels (eval return against env steps, and against wall-clock time), one line per algorithm.

    The line is the median over seeds, solid where every run of the algorithm covers the point and
    dashed where fewer do (runs of different lengths); the band is the IQR or min-max.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    max_wall = max((float(np.nanmax(a.curve_wall.x)) for a in env.algos if len(a.curve_wall.x)), default=0.0)
    scale, unit = (3600.0, "hours") if max_wall > 3 * 3600 else (60.0, "minutes")
    if max_wall < 120:
        scale, unit = 1.0, "seconds"
    for i, a in enumerate(env.algos):
        color = f"C{i % 10}"
        evaluated = [r for r in a.runs if len(r.step)]
        total = len(evaluated)
        label = f"{a.algo} (n={total})"
        if total < len(a.runs):
            label += f", {len(a.runs) - total} without evaluations"
        if total == 0:  # still in the legend, so the missing algorithm is seen
            axes[0].plot([], [], color=color, label=label)
            continue
        panels = (
            (axes[0], a.curve_steps, 1.0, [r.step for r in evaluated]),
            (axes[1], a.curve_wall, scale, [r.wall_time for r in evaluated]),
        )
        for ax, curve, xscale, run_x in panels:
            if len(curve.x) == 0:
                continue
            x = curve.x / xscale
            full = np.where(curve.n >= total, curve.median, np.nan)
            part = np.where(curve.n > 0, curve.median, np.nan)
            ax.plot(x, part, color=color, linestyle="--", linewidth=1.2)
            ax.plot(x, full, color=color, linewidth=2.0, label=label if ax is axes[0] else None)
            if total == 1:  # one seed: mark its actual evaluations
                ax.plot(run_x[0] / xscale, evaluated[0].returns, color=color, marker="o", markersize=3, ls="")
            lo, hi = (curve.q25, curve.q75) if band == "iqr" else (curve.min, curve.max)
            ok = curve.n > 1
            ax.fill_between(x, lo, hi, where=ok, color=color, alpha=0.2, linewidth=0)
    spread = "IQR" if band == "iqr" else "min-max"
    axes[0].xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_steps(v) if v > 0 else f"{v:g}"))
    axes[0].set_xlabel("env steps")
    axes[1].set_xlabel(f"wall-clock {unit}")
    for ax in axes:
        ax.set_ylabel("eval return")
        ax.grid(alpha=0.3)
    axes[0].set_title(f"{env.env}: median over seeds, {spread} band")
    axes[1].set_title("against wall-clock time (dashed: fewer seeds)")
    axes[0].legend(loc="best", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: Report, out: Path, *, preamble: str = "") -> list[Path]:
    """Write ``report.md``, ``report.json`` and one PNG per env into ``out``; returns the paths.

    Args:
        report: What to write.
        out: Output folder (created).
        preamble: Markdown put before the tables (the benchmark's command, date and machine).
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for env in report.envs:
        path = out / plot_name(env.env)
        plot_env(env, path, band=report.band)
        written.append(path)
    md = out / "report.md"
    md.write_text((preamble + "\n" if preamble else "") + to_markdown(report))
    js = out / "report.json"
    js.write_text(json.dumps(to_json(report), indent=1))
    return [md, js, *written]


# ----------------------------------------------------------------------------------------------------
# Speed


def read_speed(run_dir: Path) -> dict[str, float]:
    """The system's own speed figures recorded by a run, by metric name.

    Sources, later ones overriding earlier ones:
    - TensorBoard scalars under ``time/`` in any event file below ``run_dir``: the median of the
      logged values per tag (``time/env_steps_per_s``, ``time/wm_update_ms``, ...);
      SB3's counters (``time/total_timesteps``, ``time/time_elapsed``, ...) are left out;
    - ``run_dir/speed.json``: a flat mapping of numbers the run wrote itself;
    - ``run_dir/bench.json``, its ``measured`` mapping: what ``scripts.benchmark`` measured from
      outside the run (``wall_s`` summed over sessions, ``peak_rss_mb`` the peak resident memory).
    Plus ``overall_steps_per_s`` from eval.csv (last step / its wall time: collection, updates and
    evaluations together).
    """
    out: dict[str, float] = {}
    events = run_event_files(run_dir, recursive=True)
    if events:
        out.update(_tensorboard_time_scalars(events))
    for data in (_read_json(run_dir / "speed.json"), _read_json(run_dir / "bench.json").get("measured")):
        if isinstance(data, dict):
            out.update({k: float(v) for k, v in data.items() if isinstance(v, int | float)})
    cols = eval_columns(run_dir / "eval.csv")
    if len(cols["step"]) and cols["wall_time"][-1] > 0:
        out["overall_steps_per_s"] = float(cols["step"][-1] / cols["wall_time"][-1])
    return out


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON mapping from ``path``; {} when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


SB3_COUNTERS = frozenset(
    {"time/total_timesteps", "time/time_elapsed", "time/iterations", "time/episodes", "time/fps"}
)
"""``time/`` scalars of stable-baselines3 that are counters (or its own fps since start): not read."""

EXTRA_SPEED_TAGS = frozenset({"planner/ms_per_plan", "planner/ms_per_act"})
"""Speed scalars logged outside ``time/`` that ``read_speed`` also reads."""

SPEED_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # column                 metric names that feed it, first found wins
    ("collect steps/s", ("time/collect_steps_per_s",)),
    ("train steps/s", ("time/env_steps_per_s", "time/sim_steps_per_s")),
    ("ms/update", ("time/update_ms", "time/ms_per_update")),
    ("ms/WM update", ("time/wm_update_ms",)),
    ("ms/AC update", ("time/ac_update_ms",)),
    ("ms/plan step", ("time/plan_ms", "planner/ms_per_plan")),
    ("ms/act", ("time/act_ms", "planner/ms_per_act")),
    ("peak GPU memory (MB)", ("time/gpu_peak_mb", "gpu_peak_mb")),
    ("peak memory (MB)", ("peak_rss_mb", "time/peak_rss_mb")),
    ("overall steps/s", ("overall_steps_per_s",)),
    ("wall s", ("wall_s",)),
)
"""Columns of the speed table. *train steps/s*: env steps per second of the training loop (collection
and updates, from the runs' ``time/`` scalars); *overall steps/s*: last eval step / its wall time
(evaluations included); *peak memory (MB)*: the peak resident memory measured by ``scripts.benchmark``
from outside, else the run's own ``time/peak_rss_mb``; *wall s*: measured by ``scripts.benchmark``.
Other ``time/`` metrics a run logs get a column of their own, titled from the tag (``column_title``)."""


def column_title(tag: str) -> str:
    """A column title for a metric tag without a listed one: ``time/replay_sample_ms`` ->
    ``replay sample (ms)``."""
    name = tag.rsplit("/", 1)[-1]
    if name.endswith("_per_s"):
        return name.removesuffix("_per_s").replace("_", " ") + "/s"
    for suffix, unit in (("_ms", "ms"), ("_mb", "MB"), ("_s", "s")):
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{name.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


def _tensorboard_time_scalars(files: Sequence[Path]) -> dict[str, float]:
    def wanted(tag: str) -> bool:
        return (tag.startswith("time/") or tag in EXTRA_SPEED_TAGS) and tag not in SB3_COUNTERS

    return {tag: float(np.median([v for _, v in pts])) for tag, pts in read_scalars(files, wanted).items()}


def run_cost_markdown(rows: Sequence[tuple[Run, dict[str, float]]]) -> str:
    """The cost of the runs of a report (speed, memory, wall time), one row per (env, algorithm, preset,
    device, torch threads as the runs recorded them in ``system.json``; ``-``: not recorded), median over
    seeds; for the speed suite's own table see :func:`analysis.speed.speed_markdown`."""
    groups: dict[tuple[str, str, str, str, str], list[dict[str, float]]] = {}
    for run, speed in rows:
        bench = _read_json(run.path / "bench.json")  # the benchmark's preset and device, for older runs
        preset = run.preset or bench.get("preset")
        device = run.device or bench.get("device") or run.config.device
        if device == "auto":  # a run from before the device was recorded
            device = "auto (not recorded)"
        threads = "+".join(str(m.get("threads", "?")) for m in run.machines) or "-"
        key = (run.env, run.algo, str(preset or "-"), str(device or "-"), threads)
        groups.setdefault(key, []).append(speed)
    found = {m for _, s in rows for m in s}
    known = {m for _, names in SPEED_COLUMNS for m in names}
    columns = [(col, names) for col, names in SPEED_COLUMNS if found & set(names)]
    columns += [(column_title(m), (m,)) for m in sorted(found - known)]
    if not columns:
        return ""
    header = ["env", "algorithm", "preset", "device", "threads", "runs", *(col for col, _ in columns)]
    lines = md_head(header)
    for key in sorted(groups):
        speeds = groups[key]
        cells = [*key, str(len(speeds))]
        for _, names in columns:
            vals = [next(s[m] for m in names if m in s) for s in speeds if any(m in s for m in names)]
            cells.append(f"{float(np.median(vals)):.4g}" if vals else "-")
        lines.append(md_row(cells))
    return "\n".join(lines) + "\n"
