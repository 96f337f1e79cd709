"""Search over config fields with seeds on Ray Tune (ASHA stops bad trials early); a ranked results table.

    python -m scripts.sweep --spec benchmarks/ray/sweep-horizon.yaml --out benchmarks/ray/sweep --jobs 2
    python -m scripts.sweep --spec sweep.yaml --out sweeps/x --address auto --storage /shared/sweeps/x

Needs Ray: ``pip install -e '.[ray]'``. The spec is a YAML file: env, agent, preset, budget, evaluation
schedule, seeds, the fields to vary (``agent.horizon: [5, 15]``, ``train.train_ratio: {low: 8, high: 64,
log: true}``), grid or random search, and the scheduler (see ``multirun/sweep.py`` for every key). Each
(configuration, seed) is a Tune trial with its own run directory, ``OUT/runs/<env>/<agent>/<field=value,
...>/seed<S>``, and log, ``OUT/logs/``; it reports every evaluation to Tune as it is written, so ASHA
compares trials at equal env steps. Every trial's arguments are checked against the agent's config before
anything starts. Running the same command again resumes unfinished trials.

Writes into OUT: ``sweep.md`` and ``sweep.json`` (per configuration, ranked: seeds, final return and
the area under the curve, trials stopped early or failed), ``runs/``, ``logs/`` and ``tune/`` (Tune's
own records). Options for where and how the trials run are those of ``scripts.benchmark --backend ray``.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from agents.cli import parse_options, run_main
from analysis.report import load_runs
from analysis.sweep import Trial, summarize_sweep, sweep_json, sweep_markdown
from envs.errors import UserError
from multirun.jobs import Job, job_command, job_state
from multirun.sweep import SweepSpec, load_spec, sweep_jobs
from scripts.benchmark import AGENTS, COST_PER_STEP, machine_description


@dataclass(frozen=True)
class SweepConfig:
    """Command-line options of ``scripts.sweep``."""

    spec: Path
    """The sweep spec (YAML; keys in multirun/sweep.py)."""
    out: Path = Path("sweep")
    """Output folder: runs/, logs/, tune/, sweep.md, sweep.json."""
    jobs: int | None = None
    """Trials at once (default as many as the CPUs allow)."""
    address: str | None = None
    """A running Ray cluster (auto, or HOST:PORT of its head); default: a local Ray instance."""
    storage: Path | None = None
    """On several nodes: a folder every node mounts at the same path; trials are written there and
    mirrored into --out at the end (default: --out)."""
    cpus_per_run: float = 1.0
    """CPUs each trial asks for (also its CPU thread count, at least 1)."""
    gpus_per_run: float = 0.0
    """GPUs each trial asks for (0.25: four trials share a GPU)."""
    max_retries: int = 2
    """Retries of a trial whose process, worker or node was killed (from its checkpoint)."""
    device: str | None = None
    """Passed to every trial as --device (default: the scripts' own, auto)."""
    dry_run: bool = False
    """Print the trials (and what is finished or resumable), run nothing."""
    report_only: bool = False
    """Run nothing: write the table from the trials' run directories as they are."""

    @property
    def root(self) -> Path:
        """Where the trials are written: --storage when given, else --out (absolute)."""
        return (self.storage if self.storage is not None else self.out).resolve()


def check_arguments(spec: SweepSpec, trials: Sequence[tuple[dict[str, Any], Job]]) -> None:
    """Parse each configuration's command line with the agent's own config class, as its run would.

    Raises:
        UserError: a field that does not exist or a value of the wrong type (the message names the trial).
    """
    from agents.cli import parse_config
    from agents.configs import (
        DREAM_PRESETS,
        MPC_PRESETS,
        BaselineConfig,
        DreamConfig,
        MPCRunConfig,
        RunConfig,
    )

    module = AGENTS[spec.agent][0]
    classes: dict[str, tuple[type[RunConfig], dict[str, Any] | None]] = {
        "scripts.dream": (DreamConfig, dict(DREAM_PRESETS)),
        "scripts.mpc": (MPCRunConfig, dict(MPC_PRESETS)),
        "scripts.baseline": (BaselineConfig, None),
    }
    if module not in classes:
        raise UserError(f"agent {spec.agent} ({module}) cannot be swept")
    cls, presets = classes[module]
    seen: set[str] = set()
    for _, job in trials:
        if job.variant in seen:
            continue
        seen.add(job.variant)
        args = job_command(job, "fresh", None)[3:]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                parse_config(cls, algo=spec.agent, description="", presets=presets, args=args)
        except UserError as err:  # one line, with tyro's suggestion ("did you mean --agent.horizon?")
            raise UserError(f"{job.variant}: {module} refuses {shlex.join(args)}: {err}") from None


def collect(
    trials: Sequence[tuple[dict[str, Any], Job]], errors: dict[str, str], root: Path, out: Path
) -> list[Trial]:
    """Each trial's run read back (mirrored from ``root`` into ``out`` first when they differ)."""
    from multirun.ray_backend import mirror_run

    result = []
    for point, job in trials:
        if root != out:
            mirror_run(job, root, out)
        run_dir = out / job.run_dir.relative_to(root)
        run = None
        if (run_dir / "config.yaml").is_file():
            runs, unreadable = load_runs([run_dir])  # a run directory that does not read is a trial's error
            run = runs[0] if runs else None
            for why in unreadable:
                errors.setdefault(job.name, why)
        result.append(Trial(tuple(point.items()), job.seed, run, errors.get(job.name, "")))
    return result


def run_sweep(cfg: SweepConfig, argv: Sequence[str]) -> int:
    """Run (or resume) the sweep and write its table. Returns the exit status (1 if a trial failed)."""
    spec = load_spec(cfg.spec)
    if spec.agent not in AGENTS:
        raise UserError(f"unknown agent {spec.agent}; choose from {', '.join(AGENTS)}")
    from multirun.ray_backend import RayOptions, import_ray

    opts = RayOptions(cfg.address, cfg.jobs, cfg.cpus_per_run, cfg.gpus_per_run, cfg.max_retries)
    trials = [(point, _with_cost(job)) for point, job in sweep_jobs(spec, AGENTS[spec.agent], cfg.root)]
    check_arguments(spec, trials)
    states = {job.name: job_state(job) for _, job in trials}
    done = sum(s == "done" for s in states.values())
    configs = len({job.variant for _, job in trials})
    print(f"sweep {cfg.spec}: {configs} configurations x {spec.seeds} seeds, {done} trials finished")
    if cfg.dry_run:
        for _, job in trials:
            print(f"{states[job.name]:7s} {shlex.join(job_command(job, states[job.name], cfg.device)[1:])}")
        return 0
    started = datetime.now(UTC)
    cfg.out.mkdir(parents=True, exist_ok=True)
    errors: dict[str, str] = {}
    backend = "none (--report-only)"
    if not cfg.report_only:
        import_ray("scripts.sweep")
        from multirun.sweep import run_tune

        ends, backend = run_tune(
            spec, [job for _, job in trials], opts=opts, device=cfg.device, storage=cfg.root
        )
        errors = {name: end.error for name, end in ends.items() if end.error}
    results = collect(trials, errors, cfg.root, cfg.out.resolve())
    rows, window = summarize_sweep(results, spec.steps)
    command = shlex.join(["python", "-m", "scripts.sweep", *argv])
    scheduler = "none"
    if spec.scheduler == "asha":
        scheduler = (
            f"ASHA on eval_return at env steps (grace period {spec.grace:,}, reduction factor "
            f"{spec.reduction_factor:g}, max {spec.steps:,})"
        )
    preset = f", preset {spec.preset}" if spec.preset else ""
    fields = ", ".join(f"`{p}`" for p in spec.params)
    head = [
        f"# Sweep: {spec.agent} on {spec.env}",
        "",
        f"- command: `{command}`",
        f"- date: {_now()} (UTC; started {started.isoformat(timespec='seconds')})",
        f"- machine: {machine_description()}",
        f"- backend: {backend}",
        f"- search: {spec.search} over {fields}; {configs} configurations x {spec.seeds} seeds;"
        f" {spec.steps:,} env steps{preset}, evaluation every {spec.eval_every:,} "
        f"steps ({spec.eval_episodes} episodes)",
        f"- scheduler: {scheduler}",
        "",
    ]
    (cfg.out / "sweep.md").write_text("\n".join(head) + "\n" + sweep_markdown(rows, window))
    data = {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "machine": machine_description(),
        "backend": backend,
        "spec": yaml.safe_load(Path(cfg.spec).read_text()),
        **sweep_json(rows, window, cfg.out),
    }
    (cfg.out / "sweep.json").write_text(json.dumps(data, indent=1))
    print(cfg.out / "sweep.md")
    failed = [t for t in results if t.error]
    for t in failed:
        print(f"  failed: {dict(t.params)} seed {t.seed}: {t.error}", file=sys.stderr)
    return 1 if failed else 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _with_cost(job: Job) -> Job:
    """The job with its agent's relative cost (ETA weights)."""
    from dataclasses import replace

    return replace(job, cost=COST_PER_STEP.get(job.agent, 1.0))


def main(args: list[str] | None = None) -> None:
    """Entry point: one-line errors (exit 2), the suite's status as the exit status."""
    argv = list(sys.argv[1:] if args is None else args)

    def run() -> None:
        cfg = parse_options(SweepConfig, args=argv, description=__doc__ or "")
        status = run_sweep(cfg, argv)
        if status:
            raise SystemExit(status)

    run_main(run)


if __name__ == "__main__":
    main()
