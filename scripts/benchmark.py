"""Run a fixed benchmark protocol: our agents and the model-free baselines (stable-baselines3's SAC, TD3,
PPO; sb3-contrib's CrossQ and TQC, and CrossQ with sb3-contrib's narrower critics as ``crossq-1024``), then
the comparison report.

    python -m scripts.benchmark --suite smoke --seeds 1 --out bench/smoke
    python -m scripts.benchmark --suite cpu --seeds 3 --out benchmarks/cpu --backend ray --jobs 2
    python -m scripts.benchmark --suite mujoco --seeds 5 --out bench/mujoco --backend ray --address auto \
        --gpus-per-run 0.25 --storage /shared/bench
    python -m scripts.benchmark --suite speed --out benchmarks/speed [--concurrent-steps 3000]
    python -m scripts.benchmark --suite gpu --out benchmarks/gpu [--device cuda]

Every (env, agent, seed) is one subprocess (``python -m scripts.dream ...``, ``python -m scripts.mpc ...``
or ``python -m scripts.baseline ...``) writing its run directory to ``OUT/runs/<env>/<agent>/seed<S>``, its
output to ``OUT/logs/<env>-<agent>-seed<S>.log``, and what the benchmark measured from outside (wall seconds,
peak resident memory) to ``bench.json`` in the run directory.

Backends: ``--backend local`` (the default) runs them one after another; each run chooses its threads
itself (``--threads 0``: see ``agents/threads.py``) or follows the OMP_NUM_THREADS you set.
``--backend ray`` (``pip install -e '.[ray]'``) makes every run a Ray task with declared resources
(``--cpus-per-run``, default 1, which is also its thread count; ``--gpus-per-run``, fractions share a
GPU) on a local Ray instance started for the suite (``--jobs J``: J runs at once; default all cores) or
on a running cluster (``--address auto`` or ``HOST:PORT``; with several nodes, ``--storage`` a folder
every node mounts, mirrored into OUT as runs end). Several runs at once are Ray's job: the local backend
refuses ``--jobs`` above 1, but the same local command started twice shares the suite (each launcher puts
off the runs the other one is running). A Ray run whose worker, node or process is killed is retried from
its last checkpoint (``--max-retries``). Either backend prints how many runs are done, running and
pending, with an ETA.

Run the same command again to resume an interrupted suite: a run whose eval.csv reaches its budget is
skipped, one with a checkpoint is continued with ``--resume``, one that died before its first
checkpoint starts over. At the end the compare report (``report.md``, ``report.json``, one PNG per env,
with a speed table and the machine description) is written into OUT; runs that failed are listed at its
top with the reason.

``--suite speed`` trains nothing: in this process it measures the ms per world-model and actor-critic
update of every ``scripts.dream`` preset (on Pendulum and Walker2d; ``dreamerv3`` on Walker2d only), the
env steps/s of collection and of training they imply, and the ms per planned action of each planner at
its defaults, with 1 torch thread and with all cores; with 1 thread the env steps/s of the raw simulator
(one Walker2d, random actions, no policy) beside collection with random actions and with the agent acting
(1, 4 and 16 envs), the op counts of each preset (machine-independent) and its peak memory; and with
``--concurrent-steps N`` the training env steps/s of ``scripts.dream`` runs (``cpu`` preset, Walker2d,
N steps) alone and two at once, with automatic threads and with all cores. It writes ``speed.json`` and
``speed.md`` into OUT.

``--suite gpu`` (under 10 minutes on one GPU) measures ms per update of the ``cpu`` and ``dreamerv3``
presets eager, with bfloat16 autocast, compiled, and both, with peak GPU memory, then the training env
steps/s of short ``scripts.dream`` runs (``cpu`` preset, Walker2d, 3000 steps; on CUDA also with
``--amp --compile``), and writes ``gpu.json`` and ``gpu.md``. ``--tiny`` runs it at tiny sizes in seconds
(``--device cpu --tiny --compile-backend aot_eager`` is what the tests run).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from agents.cli import parse_options, run_main
from analysis.report import build_report, find_run_dirs, load_runs, show_path, write_report
from envs.errors import UserError
from multirun.jobs import Batch, Job, Task, job_command, job_state, resolved_device
from multirun.local import run_local

# ----------------------------------------------------------------------------------------------------
# The protocol: plain tables.

AGENTS: dict[str, tuple[str, ...]] = {
    # label      module and fixed arguments
    "dreamer": ("scripts.dream",),
    "mpc-mppi": ("scripts.mpc", "--planner", "mppi"),
    "mpc-mppi-prior": ("scripts.mpc", "--planner", "mppi", "--planner-prior"),
    "sac": ("scripts.baseline", "--algo", "sac"),
    "td3": ("scripts.baseline", "--algo", "td3"),
    "ppo": ("scripts.baseline", "--algo", "ppo"),
    "crossq": ("scripts.baseline", "--algo", "crossq"),  # sb3-contrib; on MuJoCo the Zoo's 2048-wide critics
    # sb3-contrib's own default critics, 1024 wide ("a good compromise between speed and performance"):
    # a variant for CPU budgets, run only where a suite names it
    "crossq-1024": ("scripts.baseline", "--algo", "crossq", "--hp.critic-arch", "1024", "1024"),
    "tqc": ("scripts.baseline", "--algo", "tqc"),  # sb3-contrib
}
"""Agents by report label. The label is also the run's folder name; it must match what
``analysis.report.algo_label`` reads back from the run's typed config (a baseline's ``algo`` and critic
widths, a latent MPC run's ``planner`` / ``planner_prior``; a test checks every agent)."""

DREAM_PRESETS: dict[str, str] = {"smoke": "debug", "cpu": "cpu", "locomotion": "cpu", "mujoco": "dreamerv3"}
"""``scripts.dream --preset`` (and ``scripts.mpc --preset``, the same presets) used by each suite (baselines
use their RL-Zoo settings everywhere)."""

PRESET_SCRIPTS = ("scripts.dream", "scripts.mpc")
"""The agents' scripts that take :data:`DREAM_PRESETS`."""

COST_PER_STEP: dict[str, float] = {
    "dreamer": 11.0,
    "mpc-mppi": 14.0,
    "mpc-mppi-prior": 14.0,
    "sac": 1.0,
    "td3": 0.8,
    "ppo": 0.3,
    "crossq": 30.0,  # 435 ms of CPU per update against SAC's 14 (benchmarks/sac-check/README.md)
    "crossq-1024": 9.5,  # 136 ms
    "tqc": 1.5,  # 22 ms
}
"""Rough relative CPU cost of one env step per agent: on Ray the longest runs of a seed start first, so
the last minutes do not leave cores idle; the progress line's ETA weighs runs by it."""

SUITE_ARGS: dict[tuple[str, str], tuple[str, ...]] = {
    # (suite, agent): extra arguments
    ("smoke", "mpc-mppi"): ("--plan.population", "64", "--plan.iterations", "2"),  # seconds, not minutes
    ("smoke", "mpc-mppi-prior"): ("--plan.population", "64", "--plan.iterations", "2"),
    # the Zoo's Pendulum settings would not update within 400 steps (TD3: 10k-step warm-up; PPO: rollouts
    # of 4 x 1024 steps): the smoke suite runs their update code too
    ("smoke", "td3"): ("--hp.learning-starts", "100"),
    ("smoke", "ppo"): ("--hp.n-steps", "64"),
    # MPC plans at every env step (~16 ms here) on top of learning; to fit the suite's hour it learns with
    # half of Dreamer's updates (train ratio 128) and its actor-critic (value at the planning horizon,
    # policy prior) imagines from 64 instead of 256 start states: ~40 ms per env step instead of ~100
    ("cpu", "mpc-mppi"): ("--agent.imag-starts", "64", "--train.train-ratio", "128"),
    ("cpu", "mpc-mppi-prior"): ("--agent.imag-starts", "64", "--train.train-ratio", "128"),
}
"""Per-suite changes to an agent's defaults, kept few and visible (they are in each run's config.yaml)."""

VARIANTS = ("crossq-1024",)
"""Agents that are a cost variant of another: in a suite only where its task names them."""

ALL = tuple(a for a in AGENTS if a not in VARIANTS)
"""The agents of a task that names none."""


MODEL_FREE = ("sac", "td3", "ppo", "crossq", "crossq-1024", "tqc")
MPC = ("mpc-mppi", "mpc-mppi-prior")
LOCOMOTION = ("dreamer", "sac", "crossq", "crossq-1024", "tqc")

# fmt: off
SUITES: dict[str, tuple[Task, ...]] = {
    # Estimated CPU-minutes per run (one thread per run, idle machine, from the runs' own speed logs:
    # dreamer `cpu` preset ~0.08 s per env step, MPC with SUITE_ARGS ~0.065 s, SAC ~0.012 s, PPO ~1 ms).
    #    env                       steps  eval_every  eval_episodes  agents                    CPU-min
    "smoke": (  # every agent for a few hundred steps (CI): ~1.5 min in all
        Task("Pendulum",                 400,    200,   1),
    ),
    "cpu": (  # seed 0 ~130 CPU-min (~65 min with --jobs 2 on 2 cores), seeds 1 and 2 ~105 each
        Task("Pendulum",              20_000,  1_000,   5, ("dreamer", "sac", "ppo")),  # 27, 4, 0.3
        Task("InvertedPendulum",      20_000,  1_000,   5, ("dreamer", "sac", "ppo")),  # 27, 4, 0.3
        Task("Pendulum",              10_000,  2_500,   5, MPC),                        # 11 each
        Task("InvertedPendulum",      10_000,  2_500,   5, MPC),                        # 11 each
        Task("Hopper",                15_000,  2_500,   5, ("dreamer", "sac"), seeds=1),  # 20, 3
    ),
    "locomotion": (  # Dreamer's `cpu` preset against the model-free baselines on locomotion, 100k steps,
        # evaluated at 1k, 2.5k, 5k and every 10k; a Dreamer run is ~3 CPU-hours here, SAC ~40 CPU-min,
        # TQC ~45, CrossQ ~12 CPU-hours with the Zoo's 2048-wide critics and ~4 with sb3-contrib's 1024
        # (crossq-1024); pick with --agents
        Task("Walker2d",             100_000, 10_000,  10, LOCOMOTION),
        Task("Hopper",               100_000, 10_000,  10, LOCOMOTION),
    ),
    "mujoco": (  # GPU machines; the 100k / 500k / 1M budgets are read off the way to 1M
        Task("Walker2d",           1_000_000, 10_000,  10),
        Task("Hopper",             1_000_000, 10_000,  10),
        Task("HalfCheetah",        1_000_000, 10_000,  10),
        Task("Ant",                1_000_000, 10_000,  10),
    ),
}
# fmt: on
"""The suites: per env, the budget in env steps, the evaluation schedule and the agents (default all)."""


# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkConfig:
    """Command-line options of ``scripts.benchmark``."""

    suite: Literal["smoke", "cpu", "locomotion", "mujoco", "speed", "gpu"] = "smoke"
    """Which protocol to run (see SUITES in scripts/benchmark.py); ``speed`` measures update, collection
    and planning speed in-process instead of training; ``gpu`` measures updates with and without
    compilation and autocast, and short real runs, on the device (``--device``, default auto)."""
    seeds: int = 3
    """Seeds per (env, agent): 0 .. K-1."""
    out: Path = Path("bench")
    """Output folder: runs/, logs/, the report, and benchmark.json."""
    backend: Literal["local", "ray"] = "local"
    """local: the runs one after another in this machine; ray: each run a Ray task (pip install -e
    '.[ray]'), on a local Ray instance, or on a cluster with --address."""
    jobs: int | None = None
    """Runs at once (--backend ray; default as many as the CPUs allow). The local backend runs one at a
    time."""
    address: str | None = None
    """--backend ray: a running Ray cluster (auto, or HOST:PORT of its head); default: start a local
    Ray instance for the suite and stop it at the end."""
    storage: Path | None = None
    """--backend ray on several nodes: a folder that every node mounts at the same path; runs are
    written there and mirrored into --out as they end (default: --out itself, which is right on one
    machine)."""
    cpus_per_run: float = 1.0
    """--backend ray: CPUs each run asks for (also its CPU thread count, at least 1)."""
    gpus_per_run: float = 0.0
    """--backend ray: GPUs each run asks for (0.25: four runs share a GPU)."""
    max_retries: int = 2
    """--backend ray: retries of a run whose worker, node or process was killed (from its checkpoint)."""
    device: str | None = None
    """Passed to every run as --device (default: the scripts' own, auto)."""
    agents: tuple[str, ...] = ()
    """Only these agents (labels from AGENTS; default all of the suite's)."""
    envs: tuple[str, ...] = ()
    """Only these envs of the suite (as written in SUITES; default all)."""
    steps_cap: int | None = None
    """Stop every run at this many env steps when its budget is larger: a partial pass (say 10k of a 20k
    suite) whose runs a later pass without the cap continues to the full budget from their checkpoints."""
    dry_run: bool = False
    """Print what would run (and what is finished or resumable), run nothing."""
    report_only: bool = False
    """Run nothing: write the report (and benchmark.json) from the runs already in OUT, finished or not."""
    concurrent_steps: int = 0
    """``--suite speed``: also run the ``cpu`` preset on Walker2d alone and two runs at once, each this many
    env steps, with --threads 0 (automatic) and with --threads set to all cores (torch's own default);
    0: skip (it takes minutes)."""
    tiny: bool = False
    """``--suite gpu``: tiny sizes (the ``debug`` preset, a 300-step Pendulum run) that run in seconds, even
    on a CPU (the tests run it so)."""
    compile_backend: str | None = None
    """``--suite gpu``: torch.compile backend of the compiled variants (default: torch's, inductor;
    ``aot_eager`` traces forward and backward without generating code)."""
    budget_s: float = 300.0
    """``--suite gpu``: variants not started within this many seconds are skipped (the short runs keep
    their own time)."""

    @property
    def root(self) -> Path:
        """Where the runs are written: --storage when given, else --out (absolute)."""
        return (self.storage if self.storage is not None else self.out).resolve()


def check_options(cfg: BenchmarkConfig) -> None:
    """Refuse options that do not go together.

    Raises:
        UserError: --jobs above 1 or a Ray option on the local backend, --backend ray with --suite speed,
            non-positive numbers.
    """
    if cfg.seeds < 1 or (cfg.jobs is not None and cfg.jobs < 1):
        raise UserError("--seeds and --jobs must be at least 1")
    if cfg.steps_cap is not None and cfg.steps_cap < 1:
        raise UserError(f"--steps-cap {cfg.steps_cap}: must be at least 1")
    if cfg.backend == "local":
        if cfg.jobs is not None and cfg.jobs > 1:
            raise UserError(
                f"--jobs {cfg.jobs}: the local backend runs one run at a time; for several at once add "
                "--backend ray (Ray schedules them, on this machine too; install it with pip install -e "
                "'.[ray]'), or start the same command twice: local launchers share the suite's runs"
            )
        given = [
            flag
            for flag, value, default in (
                ("--address", cfg.address, None),
                ("--storage", cfg.storage, None),
                ("--cpus-per-run", cfg.cpus_per_run, 1.0),
                ("--gpus-per-run", cfg.gpus_per_run, 0.0),
                ("--max-retries", cfg.max_retries, 2),
            )
            if value != default
        ]
        if given:
            raise UserError(f"{', '.join(given)} only apply to --backend ray")
    elif cfg.suite == "speed":
        raise UserError("--suite speed measures in this process; --backend ray does not apply")


def build_jobs(cfg: BenchmarkConfig) -> list[Job]:
    """The suite's runs in execution order, under ``cfg.root``.

    Seed-major, so every agent has seed 0 before any has seed 1; within a seed the longest runs first
    (``COST_PER_STEP`` x steps) on Ray, where several run at once, else in table order.

    Raises:
        UserError: unknown agent label or env, or options that do not go together (:func:`check_options`).
    """
    check_options(cfg)
    unknown = sorted(set(cfg.agents) - set(AGENTS))
    if unknown:
        raise UserError(f"unknown agent {', '.join(unknown)}; choose from {', '.join(AGENTS)}")
    suite_envs = [task.env for task in SUITES[cfg.suite]]
    unknown = sorted(set(cfg.envs) - set(suite_envs))
    if unknown:
        raise UserError(f"env {', '.join(unknown)} is not in the {cfg.suite} suite: {', '.join(suite_envs)}")
    root = cfg.root
    jobs: list[Job] = []
    for seed in range(cfg.seeds):
        first = len(jobs)
        for task in SUITES[cfg.suite]:
            if cfg.envs and task.env not in cfg.envs:
                continue
            if cfg.steps_cap is not None and cfg.steps_cap < task.steps:
                task = replace(task, steps=cfg.steps_cap)
            if task.seeds is not None and seed >= task.seeds:
                continue
            for agent in task.agents or ALL:
                if cfg.agents and agent not in cfg.agents:
                    continue
                module = AGENTS[agent]
                preset = DREAM_PRESETS[cfg.suite] if module[0] in PRESET_SCRIPTS else None
                jobs.append(
                    Job(
                        agent=agent,
                        env=task.env,
                        seed=seed,
                        task=task,
                        module=module,
                        preset=preset,
                        extra=SUITE_ARGS.get((cfg.suite, agent), ()),
                        run_dir=root / "runs" / task.env / agent / f"seed{seed}",
                        log=root / "logs" / f"{task.env}-{agent}-seed{seed}.log",
                        cost=COST_PER_STEP.get(agent, 1.0),
                    )
                )
        if cfg.backend == "ray":
            jobs[first:] = sorted(jobs[first:], key=lambda j: -j.work)
    return jobs


def machine_description() -> str:
    """One line: CPU model and cores, memory, OS, Python, torch and the GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    import torch

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {cores} cores available{memory}{gpu}; {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def run_jobs(cfg: BenchmarkConfig, jobs: Sequence[Job]) -> Batch:
    """Run ``jobs`` on the configured backend."""
    if cfg.backend == "local":
        return run_local(jobs, device=cfg.device)
    from multirun.ray_backend import RayOptions, run_on_ray

    opts = RayOptions(cfg.address, cfg.jobs, cfg.cpus_per_run, cfg.gpus_per_run, cfg.max_retries)
    return run_on_ray(jobs, opts=opts, device=cfg.device, root=cfg.root, out=cfg.out.resolve())


def run_suite(cfg: BenchmarkConfig, argv: Sequence[str]) -> int:
    """Run (or resume) the suite, then write the report. Returns the exit status (1 if a run failed)."""
    jobs = build_jobs(cfg)
    states = [(job, job_state(job)) for job in jobs]
    todo = [(job, state) for job, state in states if state != "done"]
    print(f"suite {cfg.suite}: {len(jobs)} runs, {len(jobs) - len(todo)} finished, {len(todo)} to run")
    if cfg.dry_run:
        for job, state in states:
            print(f"{state:7s} {shlex.join(job_command(job, state, cfg.device)[1:])}")
        return 0
    if cfg.backend == "ray" and not cfg.report_only:
        from multirun.ray_backend import import_ray

        import_ray()  # before anything is written: a missing Ray is a one-line error
    cfg.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    if cfg.report_only:
        batch = Batch([], False, "none (--report-only)")
    else:
        batch = run_jobs(cfg, [job for job, _ in todo])
    if batch.interrupted:
        print("interrupted: the runs checkpointed; run the same command again to resume")
        return 130
    if cfg.storage is not None:
        from multirun.ray_backend import mirror_run

        for job in jobs:  # runs finished in an earlier invocation, not yet in --out
            if job.run_dir.is_dir() and not (cfg.out / job.run_dir.relative_to(cfg.root)).exists():
                mirror_run(job, cfg.root, cfg.out.resolve())
    failed = [o for o in batch.outcomes if o.failed]
    summary = {
        "command": shlex.join(["python", "-m", "scripts.benchmark", *argv]),
        "suite": cfg.suite,
        "backend": batch.backend,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "device": resolved_device(cfg.device),
        "runs": [
            {"env": j.env, "agent": j.agent, "seed": j.seed, "steps": j.task.steps, "state": s}
            for j, s in states
        ],
        "failed": [
            {
                "run_dir": show_path(_in_out(cfg, o.job.run_dir), cfg.out),
                "log": show_path(_in_out(cfg, o.job.log), cfg.out),
                "exit": o.returncode,
                "reason": o.why(),
            }
            for o in failed
        ],
    }
    (cfg.out / "benchmark.json").write_text(json.dumps(summary, indent=1))
    preamble = [
        f"# Benchmark: suite `{cfg.suite}`",
        "",
        f"- command: `{summary['command']}`",
        f"- date: {summary['finished']} (UTC; this invocation started {summary['started']})",
        f"- machine: {summary['machine']}",
        f"- backend: {batch.backend}",
        f"- runs: {len(jobs)} ({len(jobs) - len(todo)} already finished before this invocation)",
    ]
    if cfg.report_only and todo:
        unfinished = ", ".join(j.label for j, _ in todo)
        preamble.append(f"- report only (`--report-only`): {len(todo)} runs not finished: {unfinished}")
    preamble += [
        f"- FAILED: {o.job.label} ({o.why()}), see `{show_path(_in_out(cfg, o.job.log), cfg.out)}`"
        for o in failed
    ]
    runs_dir = cfg.out / "runs"
    if not runs_dir.is_dir():
        print("error: no run produced a run directory", file=sys.stderr)
        return 1
    try:
        runs, skipped = load_runs(find_run_dirs([str(runs_dir)]))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = build_report(runs, skipped=skipped, speed=True, base=cfg.out)
    for path in write_report(report, cfg.out, preamble="\n".join(preamble) + "\n"):
        print(path)
    if failed:
        print(f"{len(failed)} runs failed:", file=sys.stderr)
        for o in failed:
            print(f"  {o.job.label}: {o.why()}", file=sys.stderr)
    return 1 if failed else 0


def _in_out(cfg: BenchmarkConfig, path: Path) -> Path:
    """Where ``path`` (under the runs' root) is found under --out (the same path without --storage)."""
    return cfg.out.resolve() / path.relative_to(cfg.root)


SPEED_PRESETS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    # preset      envs                               timed updates
    ("debug",     ("Pendulum", "Walker2d"),          20),
    ("cpu",       ("Pendulum", "Walker2d"),          10),
    ("pixels",    ("InvertedPendulum", "Walker2d"),  3),
    ("dreamerv3", ("Walker2d",),                     2),
)  # fmt: skip
"""What ``--suite speed`` measures: each preset on these envs."""


SPEED_COLLECTION: tuple[str, str, int] = ("Walker2d", "cpu", 2000)
"""``--suite speed``'s collection against the raw simulator: env, preset of the acting agent, env steps per
measurement (1, 4 and 16 envs)."""


def suite_result(argv: Sequence[str], started: datetime, device: object) -> dict[str, Any]:
    """The head of a measuring suite's JSON: the command, start and end, the machine and the device."""
    return {
        "command": shlex.join(["python", "-m", "scripts.benchmark", *argv]),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "device": str(device),
    }


def write_suite_result(
    out: Path, stem: str, title: str, result: dict[str, Any], body: str, notes: Sequence[str] = ()
) -> None:
    """``OUT/STEM.json`` (the result) and ``OUT/STEM.md`` (a head naming command, date and machine, then
    ``body``); prints the Markdown file's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    head = [
        f"# {title}",
        "",
        f"- command: `{result['command']}`",
        f"- date: {result['finished']} (UTC)",
        f"- machine: {result['machine']}",
        *notes,
        "",
    ]
    (out / f"{stem}.md").write_text("\n".join(head) + "\n" + body)
    print(out / f"{stem}.md")


def run_speed(cfg: BenchmarkConfig, argv: Sequence[str]) -> int:
    """``--suite speed``: measure presets and planners with 1 thread and with all cores, collection against
    the raw simulator and op counts with 1 thread, and (``--concurrent-steps``) runs at once; write the
    results."""
    check_options(cfg)
    import torch

    from agents.configs import DREAM_PRESETS as PRESETS
    from analysis.speed import (
        concurrency_specs,
        matmul_peak_gflops,
        measure_collection,
        measure_op_counts,
        measure_peak_memory,
        measure_planners,
        measure_preset,
        measure_runs,
        speed_markdown,
    )

    os.environ.setdefault("MUJOCO_GL", "egl")
    device = torch.device(resolved_device(cfg.device))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = sorted({1, cores}) if device.type == "cpu" else [torch.get_num_threads()]
    started = datetime.now(UTC)
    presets, planners = [], []
    before = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            for preset, envs, updates in SPEED_PRESETS:
                for env in envs:
                    print(f"[speed] {preset} on {env}, {n} thread(s)", flush=True)
                    presets.append(
                        measure_preset(preset, PRESETS[preset], env, device=device, updates=updates)
                    )
            for env in ("Pendulum", "Walker2d"):
                print(f"[speed] planners on {env}, {n} thread(s)", flush=True)
                planners += measure_planners(PRESETS["cpu"], env, device=device)
        torch.set_num_threads(1)
        env, preset, steps = SPEED_COLLECTION
        print(f"[speed] collection on {env} against the raw env, 1, 4 and 16 envs", flush=True)
        collection = measure_collection(PRESETS[preset], env, device=device, steps=steps)
        print("[speed] op counts", flush=True)
        op_counts = [measure_op_counts(name, PRESETS[name]) for name, _, _ in SPEED_PRESETS]
        peak = matmul_peak_gflops()
        print("[speed] peak memory per preset", flush=True)
        memory = [measure_peak_memory(name) for name, _, _ in SPEED_PRESETS]
    finally:
        torch.set_num_threads(before)  # the caller's setting (a test process, say) is left as it was
    runs: list[dict[str, Any]] = []
    if cfg.concurrent_steps > 0:
        for group in concurrency_specs("cpu", "Walker2d", sorted({0, cores}), steps=cfg.concurrent_steps):
            print(
                f"[speed] {len(group)} run(s) at once: {', '.join(spec.name for spec in group)}", flush=True
            )
            runs += measure_runs(group, cfg.out / "concurrent", timeout=3600.0)
    result = suite_result(argv, started, device)
    result |= {"presets": presets, "planners": planners, "collection": collection, "op_counts": op_counts}
    result |= {"memory": memory, "runs": runs, "matmul_gflops_1thread": peak}
    note = (
        "- medians over the timed calls after a warm-up; models untrained (cost does not depend on weights)"
    )
    write_suite_result(cfg.out, "speed", "Speed: `--suite speed`", result, speed_markdown(result), [note])
    return 0


GPU_PRESETS: tuple[str, ...] = ("cpu", "pixels", "dreamerv3")
"""Presets whose updates ``--suite gpu`` measures (``--tiny``: ``debug``)."""


def run_gpu(cfg: BenchmarkConfig, argv: Sequence[str]) -> int:
    """``--suite gpu``: ms per update of each preset in each variant (eager, autocast, compiled, both) with
    peak GPU memory, then short real runs of ``scripts.dream``; writes ``gpu.json`` and ``gpu.md``."""
    import torch

    from agents.configs import DREAM_PRESETS as PRESETS
    from analysis.speed import RunSpec, gpu_markdown, measure_runs, measure_update_variants

    os.environ.setdefault("MUJOCO_GL", "egl")
    device = torch.device(resolved_device(cfg.device))
    started = datetime.now(UTC)
    deadline = time.monotonic() + cfg.budget_s
    options = {"backend": cfg.compile_backend} if cfg.compile_backend else {}
    presets = ("debug",) if cfg.tiny else GPU_PRESETS
    updates: list[dict[str, Any]] = []
    for preset in presets:
        print(f"[gpu] {preset}: updates on {device}", flush=True)
        updates += measure_update_variants(
            preset,
            PRESETS[preset],
            device=device,
            updates=2 if cfg.tiny else 10,
            warmup=1 if cfg.tiny else 3,
            compile_options=options,
            deadline=deadline,
        )
    dev = ("--device", str(device))
    if cfg.tiny:
        specs = [RunSpec("debug-Pendulum", ("--preset", "debug", "--env", "Pendulum", *dev), 300, 100, 50)]
    else:
        base = ("--preset", "cpu", "--env", "Walker2d", *dev)
        specs = [RunSpec("cpu-Walker2d", base, 3000, 1000, 250)]
        pixels = ("--preset", "pixels", "--env", "InvertedPendulum", *dev)
        specs.append(RunSpec("pixels-InvertedPendulum", pixels, 3000, 1000, 250))
        if device.type == "cuda":  # --amp and --compile are CUDA-only options of scripts.dream
            specs.append(RunSpec("cpu-Walker2d-amp-compile", (*base, "--amp", "--compile"), 3000, 1000, 250))
    runs: list[dict[str, Any]] = []
    for spec in specs:
        print(f"[gpu] run {spec.name}", flush=True)
        runs += measure_runs([spec], cfg.out / "runs", timeout=120.0)
    result = suite_result(argv, started, device) | {"updates": updates, "runs": runs}
    write_suite_result(cfg.out, "gpu", "GPU: `--suite gpu`", result, gpu_markdown(result))
    failed = [r for r in updates if r.get("error", "").split(":")[0] not in ("", "skipped")]
    failed += [r for r in runs if r["returncode"] != 0]
    return 1 if failed else 0


def main(args: list[str] | None = None) -> None:
    """Entry point: one-line errors (exit 2), the suite's status as the exit status."""
    argv = list(sys.argv[1:] if args is None else args)

    def run() -> None:
        cfg = parse_options(BenchmarkConfig, args=argv, description=__doc__ or "")
        if cfg.suite == "speed":
            status = run_speed(cfg, argv)
        elif cfg.suite == "gpu":
            status = run_gpu(cfg, argv)
        else:
            status = run_suite(cfg, argv)
        if status:
            raise SystemExit(status)

    run_main(run)


if __name__ == "__main__":
    main()
