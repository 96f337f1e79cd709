"""The objectives' table: median [seed 0, 1, 2] of the evaluation return at each budget, per objective
(and the diffusion family, whose imagination runs through a diffusion model of the state observation).

Usage: python benchmarks/objectives-pendulum/table.py [RUNS]
    RUNS (default /tmp/objectives-pendulum): run.sh's folder; each finished run's eval.csv is copied to
    eval-csv/<objective>-seed<k>.csv first. The reconstruction rows are the README's `dreamer (today)`
    runs (benchmarks/cpu-looks2/eval-csv/Pendulum-dreamer-seed<k>.csv, the same protocol to 20k).
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path

from agents.evaluation import read_eval_csv

HERE = Path(__file__).resolve().parent
RECONSTRUCTION = HERE.parent / "cpu-looks2" / "eval-csv"
BUDGETS = (1000, 2500, 3000, 5000, 7000, 10_000)
OBJECTIVES = ("reconstruction", "latent", "contrastive", "diffusion")
"""The RSSM's objectives, then ``diffusion``: the diffusion state model as the world (--family diffusion)."""


def curve(objective: str, seed: int) -> dict[int, float] | None:
    path = (
        RECONSTRUCTION / f"Pendulum-dreamer-seed{seed}.csv"
        if objective == "reconstruction"
        else HERE / "eval-csv" / f"{objective}-seed{seed}.csv"
    )
    if not path.is_file():
        return None
    return {int(r["step"]): float(r["return_mean"]) for r in read_eval_csv(path)}


def cell(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return ""
    seeds = ", ".join("-" if v is None else f"{v:.0f}" for v in values)
    return f"{statistics.median(got):.0f} [{seeds}]"


def main() -> None:
    runs = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/objectives-pendulum")
    for objective in OBJECTIVES[1:]:
        for seed in range(3):
            src = runs / objective / f"seed{seed}" / "eval.csv"
            if src.is_file():
                shutil.copyfile(src, HERE / "eval-csv" / f"{objective}-seed{seed}.csv")
    head = ["objective", "seeds", *(f"{b // 1000}k" if b % 1000 == 0 else f"{b / 1000}k" for b in BUDGETS)]
    head += ["mean of evaluations 6k-10k"]
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join("---" for _ in head) + " |")
    for objective in OBJECTIVES:
        curves = [curve(objective, s) for s in range(3)]
        row = [objective, str(sum(c is not None for c in curves))]
        for b in BUDGETS:
            row.append(cell([None if c is None else c.get(b) for c in curves]))
        late = [
            None if c is None or not all(s in c for s in range(6000, 10_001, 1000))
            else statistics.fmean(c[s] for s in range(6000, 10_001, 1000))
            for c in curves
        ]  # fmt: skip
        row.append(cell(late))
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
