"""The pixel runs beside the state agent: evaluation return at the same env steps, per seed and median.

    python benchmarks/pixels/table.py [RUNS]

With RUNS (the folder ``run.sh`` wrote), each run's ``eval.csv`` is first copied to
``eval-csv/<env>-pixels-seed<k>.csv`` here, and its ``scripts.imagine`` files to ``imagine/``. Then the
imagination table: per run, the SSIM and squared error of the imagined frames k steps after the 8 observed
ones (mean over 8 segments, ``imagine/*-8seg.json``), and the median over segments of the first imagined
step whose SSIM falls below 0.9. The state agent's rows are the committed runs of the same
``cpu`` preset on state observations (InvertedPendulum: ``benchmarks/cpu-looks2``, Walker2d:
``benchmarks/locomotion-looks2``); a step a run did not evaluate at is shown as ``-``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from agents.evaluation import read_eval_csv  # noqa: E402

STATE = {
    "InvertedPendulum": HERE.parent / "cpu-looks2" / "eval-csv" / "InvertedPendulum-dreamer-seed{k}.csv",
    "Walker2d": HERE.parent / "locomotion-looks2" / "eval-csv" / "Walker2d-dreamer-seed{k}.csv",
}
STEPS = {
    "InvertedPendulum": (2000, 4000, 6000, 8000, 10000, 12000, 16000, 20000),
    "Walker2d": (5000, 10000, 20000, 30000),
}


def returns(path: Path) -> dict[int, float]:
    """Evaluation return by step of one ``eval.csv``."""
    return {int(r["step"]): r["return_mean"] for r in read_eval_csv(path)} if path.is_file() else {}


def row(label: str, runs: list[dict[int, float]], steps: tuple[int, ...]) -> str:
    cells = []
    for step in steps:
        values = [r.get(step) for r in runs]
        got = [v for v in values if v is not None]
        seeds = ", ".join("-" if v is None else f"{v:.0f}" for v in values)
        cells.append(f"{statistics.median(got):.0f} [{seeds}]" if got else "-")
    return f"| {label} | {len(runs)} | " + " | ".join(cells) + " |"


HORIZONS = (1, 5, 10, 20, 30, 40)
"""Imagined steps (after the observed context) shown in the imagination table."""


def imagination_table() -> None:
    files = sorted((HERE / "imagine").glob("*-8seg.json"))
    if not files:
        return
    print("\nImagined frames k steps after 8 observed ones: SSIM / squared error (mean of 8 segments)\n")
    print("| run | " + " | ".join(f"k={k}" for k in HORIZONS) + " | first k with SSIM < 0.9 (median) |")
    print("| --- | " + " | ".join("---" for _ in HORIZONS) + " | --- |")
    for path in files:
        d = json.loads(path.read_text())
        context, ssim, mse = d["context"], d["ssim_mean"], d["mse_mean"]
        cells = [f"{ssim[context + k - 1]:.2f} / {mse[context + k - 1]:.4f}" for k in HORIZONS]
        firsts = []
        for seg in d["per_segment"]:
            below = [k for k, v in enumerate(seg["ssim"][context:], start=1) if v < 0.9]
            firsts.append(below[0] if below else len(seg["ssim"]) - context + 1)
        name = path.name.removesuffix("-8seg.json")
        print(f"| {name} | " + " | ".join(cells) + f" | {statistics.median(firsts):g} |")


def main() -> None:
    out = HERE / "eval-csv"
    if len(sys.argv) > 1:
        out.mkdir(exist_ok=True)
        for csv in sorted(Path(sys.argv[1]).glob("*/seed*/eval.csv")):
            env, seed = csv.parent.parent.name, csv.parent.name.removeprefix("seed")
            shutil.copy(csv, out / f"{env}-pixels-seed{seed}.csv")
        (HERE / "imagine").mkdir(exist_ok=True)
        for path in sorted((Path(sys.argv[1]) / "imagine").glob("*")):
            shutil.copy(path, HERE / "imagine" / path.name)
    for env, steps in STEPS.items():
        pixels = [returns(p) for p in sorted(out.glob(f"{env}-pixels-seed*.csv"))]
        if not pixels:
            continue
        state = [returns(Path(str(STATE[env]).format(k=k))) for k in range(3)]
        print(f"\n{env}: evaluation return, median [seeds]\n")
        print("| observations | seeds | " + " | ".join(f"{s // 1000}k" for s in steps) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in steps) + " |")
        print(row("state (`cpu`)", state, steps))
        print(row("pixels (`pixels`)", pixels, steps))
    imagination_table()


if __name__ == "__main__":
    main()
