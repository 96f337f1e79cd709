"""The ablation table: eval return per variant (median over seeds, per-seed values) and diagnostics.

    python benchmarks/locomotion-ablation/table.py RUNS_DIR > benchmarks/locomotion-ablation/table.md
    STEPS="1000 2500 5000 10000" python benchmarks/locomotion-ablation/table.py \
        benchmarks/energy-regulariser/runs

RUNS_DIR holds ``<variant>/<seed>/`` run directories of ``scripts.dream`` (see ``run.sh``). Diagnostics are
read from each run's TensorBoard events at its last evaluation: ``diag/overestimation`` (critic value over
the real discounted return), ``diag/terminal_missed`` (share of real falls the continue head missed),
``actor/entropy`` and ``actor/saturated`` (last logged values).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())

from agents.evaluation import read_eval_csv
from analysis.report import read_scalars, run_event_files

STEPS = tuple(int(s) for s in os.environ.get("STEPS", "2500 5000 7500 10000 12500").split())
"""Evaluation steps of the columns (the environment variable ``STEPS``, e.g. ``STEPS="1000 5000 10000"``)."""
DIAG = ("diag/overestimation", "diag/terminal_missed", "actor/entropy", "actor/saturated")


def last_scalars(run: Path) -> dict[str, float]:
    found = read_scalars(run_event_files(run), DIAG.__contains__)
    return {tag: points[-1][1] for tag, points in found.items()}


def main() -> None:
    root = Path(sys.argv[1])
    rows = []
    for variant in sorted(p for p in root.iterdir() if p.is_dir()):
        seeds = sorted(p for p in variant.iterdir() if (p / "eval.csv").is_file())
        if not seeds:
            continue
        per_step: dict[int, list[float]] = {s: [] for s in STEPS}
        diags: dict[str, list[float]] = {t: [] for t in DIAG}
        last: list[float] = []
        best: list[float] = []
        for run in seeds:
            evals = {int(r["step"]): float(r["return_mean"]) for r in read_eval_csv(run / "eval.csv")}
            for s in STEPS:
                if s in evals:
                    per_step[s].append(evals[s])
            kept = [v for k, v in evals.items() if k <= max(STEPS)]
            last.append(kept[-1])
            best.append(max(kept))
            for tag, v in last_scalars(run).items():
                diags[tag].append(v)
        rows.append(
            {
                "variant": variant.name,
                "seeds": len(seeds),
                "returns": {s: per_step[s] for s in STEPS},
                "last_over_best": [
                    round(a / b, 2) if b > 0 else None for a, b in zip(last, best, strict=True)
                ],
                "diagnostics": diags,
            }
        )
    cols = " | ".join(f"{s / 1000:g}k" for s in STEPS)
    print(f"| variant | seeds | {cols} | last / best | overestimation | falls missed | entropy | saturated |")
    print("| --- | --- | " + " | ".join("---" for _ in STEPS) + " | --- | --- | --- | --- | --- |")
    for r in rows:
        cells = []
        for s in STEPS:
            v = r["returns"][s]
            cells.append(f"{np.median(v):.0f} [{', '.join(f'{x:.0f}' for x in v)}]" if v else "-")
        d = r["diagnostics"]
        diag = [", ".join(f"{x:.2g}" for x in d[t]) or "-" for t in DIAG]
        lob = ", ".join("-" if x is None else f"{x:.2f}" for x in r["last_over_best"])
        print(f"| {r['variant']} | {r['seeds']} | {' | '.join(cells)} | {lob} | {' | '.join(diag)} |")
    (root.parent / "table.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
