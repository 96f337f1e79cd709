"""How many torch CPU threads a run uses: the one policy behind ``--threads 0`` (auto).

A small model's updates are chains of small kernels that extra threads barely speed up, while every
thread a run holds slows down whatever else the machine runs (another run, the benchmark next to it):
small models get one thread. A larger model gets up to :data:`MAX_AUTO_THREADS` of the cores that are
free now (the cores this process may use minus the 1-minute load average, at least one). An explicit
``--threads N`` or an ``OMP_NUM_THREADS`` in the environment is taken as given.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SMALL_MODEL_PARAMS = 2_000_000
"""Models with fewer parameters than this (world model, actor and critic together) count as small: the
``debug`` and ``cpu`` presets (0.03M and 0.44M on Walker2d), not ``dreamerv3`` (9.7M)."""

MAX_AUTO_THREADS = 4
"""The most threads the automatic choice gives a run."""


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count of a run and why.

    Attributes:
        threads: torch intra-op threads.
        reason: what decided it, for the start-up line.
    """

    threads: int
    reason: str

    def line(self) -> str:
        """The line printed at start, e.g. ``threads: 1 (auto: small model, 2 cores, load 1.9)``."""
        return f"threads: {self.threads} ({self.reason})"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (0 where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def choose_threads(
    requested: int,
    params: int,
    *,
    cores: int | None = None,
    load: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> ThreadChoice:
    """The thread count for a run (see the module docstring).

    Args:
        requested: ``--threads``; 0 chooses automatically.
        params: parameters of the models the run trains.
        cores: cores available (default: :func:`available_cores`).
        load: 1-minute load average (default: :func:`load_average`).
        environ: the process environment (default ``os.environ``), read for ``OMP_NUM_THREADS``.

    Returns:
        The choice and its reason.
    """
    if requested > 0:
        return ThreadChoice(requested, "--threads")
    environ = os.environ if environ is None else environ
    omp = environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), "OMP_NUM_THREADS")
    cores = available_cores() if cores is None else cores
    load = load_average() if load is None else load
    where = f"{cores} cores, load {load:.1f}"
    if params < SMALL_MODEL_PARAMS:
        return ThreadChoice(1, f"auto: small model, {where}")
    free = max(1, math.floor(cores - load))
    return ThreadChoice(min(free, MAX_AUTO_THREADS), f"auto: {params / 1e6:.1f}M parameters, {where}")


def apply_threads(requested: int, params: int, run_dir: Path | None = None) -> ThreadChoice:
    """Choose the thread count of a run, set it in torch and print the choice; with ``run_dir``, also
    record the machine and the choice in the run's ``system.json`` (:func:`record_machine`)."""
    import torch

    choice = choose_threads(requested, params)
    torch.set_num_threads(choice.threads)
    print(choice.line(), flush=True)
    if run_dir is not None:
        record_machine(run_dir, choice)
    return choice


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def record_machine(run_dir: Path, choice: ThreadChoice) -> dict[str, Any]:
    """Add this session's machine to ``run_dir/system.json`` under ``machines`` (each distinct one once,
    beside the ``devices`` the run directory records), so that reports can say what a run's wall time was
    measured on: ``{"cpu": "AMD EPYC", "cores": 2, "threads": 1, "threads_reason": "auto: ..."}``.

    Returns:
        The entry recorded.
    """
    from agents.run_dir import SYSTEM_FILE, read_system
    from envs.atomic import atomic_write

    entry: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "threads": choice.threads,
        "threads_reason": choice.reason,
    }
    path = Path(run_dir) / SYSTEM_FILE
    data = read_system(path)
    machines = [m for m in data.get("machines", []) if isinstance(m, dict)]
    same = {k: entry[k] for k in ("cpu", "cores", "threads")}
    if not any({k: m.get(k) for k in same} == same for m in machines):
        machines.append(entry)
    data["machines"] = machines
    with atomic_write(path, "w") as f:
        f.write(json.dumps(data) + "\n")
    return entry
