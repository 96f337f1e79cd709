"""Fault injection for the Ray backend's fault test: SIGKILL one run of a running suite, mid-run.

    python benchmarks/ray/kill_run.py OUT/runs/Pendulum/dreamer/seed0 --target worker
    python benchmarks/ray/kill_run.py OUT/runs/Pendulum/sac/seed0 --target run

Waits until the run directory has a checkpoint, finds the run's process by its command line (``--run-dir
RUN_DIR``), and kills with SIGKILL either that process (``run``) or its parent, the Ray worker executing
the task (``worker``, whose command line starts with ``ray::``). Prints what it killed and the run's
eval.csv steps at that moment. Only ever kills a process of the given run (or its own Ray worker).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise RuntimeError(f"no parent for {pid}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--target", choices=("run", "worker"), required=True)
    ap.add_argument("--timeout", type=float, default=600.0)
    a = ap.parse_args()
    run_dir = a.run_dir.resolve()
    deadline = time.monotonic() + a.timeout
    while not any((run_dir / "checkpoints").glob("ckpt-*.pt")):
        if time.monotonic() > deadline:
            sys.exit(f"no checkpoint in {run_dir} after {a.timeout:.0f} s")
        time.sleep(0.2)
    needle = f"--run-dir {run_dir}"
    runs = [int(p) for p in os.listdir("/proc") if p.isdigit() and needle in cmdline(int(p))]
    runs = [p for p in runs if "-m scripts." in cmdline(p)]
    if len(runs) != 1:
        sys.exit(f"expected one process running {run_dir}, found {runs}")
    pid = runs[0]
    if a.target == "worker":
        pid = parent(pid)
        if not cmdline(pid).startswith("ray::"):
            sys.exit(f"the parent of the run is not a Ray worker: {pid} {cmdline(pid)!r}")
    steps = [line.split(",")[0] for line in (run_dir / "eval.csv").read_text().splitlines()[1:]]
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*.pt"))
    print(f"killing {a.target} {pid} ({cmdline(pid)[:100]})")
    print(f"  at that moment: eval.csv steps {steps}, checkpoints {checkpoints}")
    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
