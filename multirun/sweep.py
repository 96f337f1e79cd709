"""A search over config fields with seeds, run on Ray Tune: the spec, its trials, and the Tune run.

A sweep spec is a YAML mapping::

    env: Pendulum            # scripts' --env
    agent: dreamer           # a scripts.benchmark agent label (dreamer, mpc-mppi, sac, ...)
    preset: debug            # scripts.dream --preset (optional)
    steps: 2000              # budget per trial, env steps
    eval_every: 200
    eval_episodes: 2
    seeds: 2                 # every configuration runs seeds 0 .. seeds-1
    search: grid             # grid: every combination of the listed values; random: `samples` draws
    samples: 4               # random search: configurations drawn (seeded by sample_seed)
    sample_seed: 0
    params:                  # config fields as dotted paths, each a list of values ...
      agent.horizon: [5, 15]
      train.train_ratio: {low: 8, high: 64, log: true}   # ... or, for random search, a range
    args: []                 # fixed extra arguments for every trial
    scheduler: asha          # asha: stop bad trials early at eval steps; none: run every trial out
    grace_period: 400        # ASHA: env steps every trial runs before it may be stopped
    reduction_factor: 2      # ASHA: keep the best 1/reduction_factor at each rung

Each (configuration, seed) is a Tune trial that runs the agent's script as a subprocess in a run
directory of ours (``runs/<env>/<agent>/<field=value,...>/seed<S>``) and reports each new eval.csv row to
Tune (``step``, ``eval_return``) as it appears, so ASHA compares trials at equal env steps; eval.csv stays
the source of truth for the results table. A trial that ASHA stops ends with its Tune actor (Ray ends
the actor's child processes): its run keeps eval.csv and its last periodic checkpoint. A trial whose
process is killed is retried from its checkpoint (``FailureConfig``). Running the same sweep again
resumes unfinished trials (stopped ones too, which ASHA may stop again) and replays finished ones from
their eval.csv. Random draws
are made here, seeded, not by Tune, so that the configurations and their folders are the same each time.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from agents.evaluation import read_eval_csv
from envs.errors import UserError
from multirun.jobs import Job, JobProcess, RunKilledError, Task

TAIL_S = 1.0
"""Seconds between reads of a running trial's eval.csv."""


@dataclass(frozen=True)
class Range:
    """A random-search range: uniform in [low, high] (log-uniform with ``log``), rounded with ``integer``."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        """One value."""
        if self.log:
            value = float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        else:
            value = float(rng.uniform(self.low, self.high))
        return round(value) if self.integer else value


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: what runs, which fields vary and how, and the early-stopping scheduler (see the module)."""

    env: str
    steps: int
    eval_every: int
    agent: str = "dreamer"
    preset: str | None = None
    eval_episodes: int = 5
    seeds: int = 1
    search: Literal["grid", "random"] = "grid"
    samples: int = 4
    sample_seed: int = 0
    params: dict[str, tuple[Any, ...] | Range] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int | None = None
    reduction_factor: float = 2.0

    @property
    def grace(self) -> int:
        """ASHA's grace period in env steps (default: two evaluations)."""
        return self.grace_period if self.grace_period is not None else 2 * self.eval_every


SPEC_KEYS = frozenset(SweepSpec.__dataclass_fields__)


def parse_spec(data: Any, source: str = "sweep spec") -> SweepSpec:
    """A :class:`SweepSpec` from a YAML mapping.

    Raises:
        UserError: not a mapping, unknown or missing keys, bad values (the message names them).
    """
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping of sweep settings")
    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise UserError(f"{source}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(SPEC_KEYS))})")
    missing = [k for k in ("env", "steps", "eval_every", "params") if k not in data]
    if missing:
        raise UserError(f"{source}: missing {', '.join(missing)}")
    params: dict[str, tuple[Any, ...] | Range] = {}
    if not isinstance(data["params"], dict) or not data["params"]:
        raise UserError(f"{source}: params must map config fields (agent.horizon, ...) to values")
    search = data.get("search", "grid")
    if search not in ("grid", "random"):
        raise UserError(f"{source}: search must be grid or random, not {search!r}")
    for name, values in data["params"].items():
        if isinstance(values, list) and values:
            params[str(name)] = tuple(values)
        elif isinstance(values, dict) and search == "random":
            extra = set(values) - {"low", "high", "log", "integer"}
            if extra or not {"low", "high"} <= set(values) or not values["low"] < values["high"]:
                raise UserError(f"{source}: {name}: a range is {{low, high, log, integer}} with low < high")
            if values.get("log") and values["low"] <= 0:
                raise UserError(f"{source}: {name}: a log range needs low > 0")
            params[str(name)] = Range(
                float(values["low"]),
                float(values["high"]),
                bool(values.get("log")),
                bool(values.get("integer")),
            )
        else:
            kind = "a list of values" + (" or {low, high, log}" if search == "random" else "")
            raise UserError(f"{source}: {name} must be {kind}")
    scheduler = data.get("scheduler", "asha")
    if scheduler not in ("asha", "none"):
        raise UserError(f"{source}: scheduler must be asha or none, not {scheduler!r}")
    try:
        spec = SweepSpec(
            env=str(data["env"]),
            steps=int(data["steps"]),
            eval_every=int(data["eval_every"]),
            agent=str(data.get("agent", "dreamer")),
            preset=None if data.get("preset") is None else str(data["preset"]),
            eval_episodes=int(data.get("eval_episodes", 5)),
            seeds=int(data.get("seeds", 1)),
            search=search,
            samples=int(data.get("samples", 4)),
            sample_seed=int(data.get("sample_seed", 0)),
            params=params,
            args=tuple(str(a) for a in data.get("args") or ()),
            scheduler=scheduler,
            grace_period=None if data.get("grace_period") is None else int(data["grace_period"]),
            reduction_factor=float(data.get("reduction_factor", 2.0)),
        )
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: {exc}") from None
    if min(spec.steps, spec.eval_every, spec.eval_episodes, spec.seeds, spec.samples) < 1:
        raise UserError(f"{source}: steps, eval_every, eval_episodes, seeds and samples must be >= 1")
    if spec.reduction_factor <= 1:
        raise UserError(f"{source}: reduction_factor must be > 1")
    return spec


def load_spec(path: Path) -> SweepSpec:
    """Read a sweep spec file (YAML).

    Raises:
        UserError: unreadable file or a bad spec.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read sweep spec {path}: {exc}") from None
    return parse_spec(data, str(path))


def points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The configurations: every combination (grid) or ``samples`` seeded draws (random), fields in spec
    order."""
    names = list(spec.params)
    if spec.search == "grid":
        lists = []
        for name in names:
            values = spec.params[name]
            if isinstance(values, Range):
                raise UserError(f"{name}: a grid search needs a list of values, not a range")
            lists.append(values)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]
    rng = np.random.default_rng(spec.sample_seed)
    drawn = []
    for _ in range(spec.samples):
        point: dict[str, Any] = {}
        for name in names:
            values = spec.params[name]
            point[name] = (
                values.draw(rng) if isinstance(values, Range) else values[int(rng.integers(len(values)))]
            )
        drawn.append(point)
    return drawn


def param_flags(point: dict[str, Any]) -> tuple[str, ...]:
    """Command-line flags for a configuration: ``{"train.train_ratio": 16}`` -> ``--train.train-ratio 16``;
    booleans as ``--x`` / ``--no-x`` (tyro's form), lists as several values."""
    flags: list[str] = []
    for name, value in point.items():
        parts = name.replace("_", "-").split(".")
        if isinstance(value, bool):
            leaf = parts[-1] if value else f"no-{parts[-1]}"
            flags.append("--" + ".".join([*parts[:-1], leaf]))
        elif isinstance(value, list | tuple):
            flags += ["--" + ".".join(parts), *(str(v) for v in value)]
        else:
            flags += ["--" + ".".join(parts), str(value)]
    return tuple(flags)


def variant_name(point: dict[str, Any]) -> str:
    """The configuration as a folder name: ``agent.horizon=5,train.train_ratio=16``."""

    def show(v: Any) -> str:
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in text)

    return ",".join(f"{name}={show(value)}" for name, value in point.items())


def sweep_jobs(spec: SweepSpec, module: tuple[str, ...], root: Path) -> list[tuple[dict[str, Any], Job]]:
    """Every trial as (its configuration, its job), configuration-major, under ``root``."""
    task = Task(spec.env, spec.steps, spec.eval_every, spec.eval_episodes, (spec.agent,))
    trials = []
    for point in points(spec):
        variant = variant_name(point)
        for seed in range(spec.seeds):
            job = Job(
                agent=spec.agent,
                env=spec.env,
                seed=seed,
                task=task,
                module=module,
                preset=spec.preset,
                extra=(*spec.args, *param_flags(point)),
                run_dir=root / "runs" / spec.env / spec.agent / variant / f"seed{seed}",
                log=root / "logs" / f"{spec.env}-{spec.agent}-{variant}-seed{seed}.log",
                variant=variant,
            )
            trials.append((point, job))
    names = [job.name for _, job in trials]
    if len(set(names)) != len(names):
        raise UserError("two configurations of the sweep are the same (draw fewer samples or widen ranges)")
    return trials


def tune_trial(config: dict[str, Any], jobs: dict[str, Job], device: str | None, threads: int) -> None:
    """A Tune function trainable: run ``jobs[config["job"]]`` and report each new eval.csv row.

    The row that reaches the budget is reported only after the run has ended (and been recorded in
    bench.json): Tune ends a trial's actor as soon as it has seen its last step. A trial that ASHA stops
    earlier loses its actor at once, and its run with it (no bench.json entry for that session).
    """
    from ray import tune

    job = jobs[config["job"]]
    reported = -1.0
    with JobProcess(job, device=device, threads=threads, session={"backend": "ray-tune"}) as proc:
        while True:
            ended = proc.poll()
            for row in read_eval_csv(job.run_dir / "eval.csv"):
                if row["step"] >= job.task.steps and not ended:
                    break  # Tune ends a trial at its budget: report the last row once the run has ended
                if row["step"] > reported:
                    metrics = {"step": int(row["step"]), "eval_return": float(row["return_mean"])}
                    tune.report({**metrics, "wall_time": float(row["wall_time"])})
                    reported = row["step"]
            if ended:
                break
            time.sleep(TAIL_S)
    outcome = proc.outcome
    assert outcome is not None
    if outcome.returncode < 0:
        raise RunKilledError(f"{job.label}: {outcome.why()}")
    if outcome.failed:
        raise RuntimeError(f"{job.label}: {outcome.why()}, see {job.log}")


@dataclass(frozen=True)
class TrialEnd:
    """How Tune saw a trial end: its error (empty if none) and the last step it reported."""

    error: str
    last_step: int | None


def run_tune(
    spec: SweepSpec,
    jobs: list[Job],
    *,
    opts: Any,
    device: str | None,
    storage: Path,
) -> tuple[dict[str, TrialEnd], str]:
    """Run the trials on Tune (ASHA on ``eval_return`` at ``step`` unless ``scheduler: none``).

    Args:
        spec: The sweep.
        jobs: Its trials.
        opts: :class:`multirun.ray_backend.RayOptions` (address, jobs, resources, retries).
        device: ``--device`` for every trial (None: the scripts' own).
        storage: Tune's experiment folder goes to ``storage / "tune"``.

    Returns:
        Each trial's end by job name, and the backend in words.
    """
    from multirun.ray_backend import describe_cluster, start_ray_or_explain

    ray, own = start_ray_or_explain(opts)
    try:
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

        backend = describe_cluster(ray, opts, local=opts.address is None)
        print(backend, flush=True)
        by_name = {job.name: job for job in jobs}
        trainable = tune.with_resources(
            tune.with_parameters(tune_trial, jobs=by_name, device=device, threads=opts.threads),
            {"cpu": opts.cpus_per_run, "gpu": opts.gpus_per_run},
        )
        scheduler: Any = FIFOScheduler()
        if spec.scheduler == "asha":
            scheduler = ASHAScheduler(
                time_attr="step",
                max_t=spec.steps,
                grace_period=spec.grace,
                reduction_factor=spec.reduction_factor,
            )
        tuner = tune.Tuner(
            trainable,
            param_space={"job": tune.grid_search(list(by_name))},
            tune_config=tune.TuneConfig(
                metric="eval_return",
                mode="max",
                scheduler=scheduler,
                max_concurrent_trials=opts.jobs,
                reuse_actors=False,
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str(storage.resolve()),
                failure_config=tune.FailureConfig(max_failures=opts.max_retries),
                verbose=1,
            ),
        )
        results = tuner.fit()
        ends = {}
        for result in results:
            error = str(result.error).strip().splitlines()[-1] if result.error else ""
            step = result.metrics.get("step") if result.metrics else None
            ends[result.config["job"]] = TrialEnd(error, None if step is None else int(step))
        return ends, backend
    finally:
        if own:
            ray.shutdown()
