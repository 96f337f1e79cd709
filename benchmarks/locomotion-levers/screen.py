"""The screening table: arm x seed, evaluation return at fixed steps and the training diagnostics.

    python benchmarks/locomotion-levers/screen.py ARM=PATH [ARM=PATH ...] [--steps 10000 20000 30000]
        [--json FILE]

PATH is a folder holding one run directory per seed (``seed<k>/``, a ``scripts.dream`` run each), a
folder of ``*seed<k>.csv`` evaluation files (an arm whose run folders are gone: returns only), or a pattern
of such files (``eval-csv/Walker2d-*``: one env of a folder that holds several). Per run: the
evaluation return at each of ``--steps`` (from ``eval.csv``) and, per 10k window ending at each of
``--windows``, the median of what the
run logged to TensorBoard: the actor's entropy (nats, summed over action dims), the share of saturated
action dims, the return scale S and the advantage spread (R - v) / max(1, S). Per arm: the median over
seeds. Nothing is recomputed from checkpoints.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.report import read_scalars, run_event_files

DIAG = {
    "entropy": "actor/entropy",
    "saturated": "actor/saturated",
    "S": "actor/return_scale",
    "adv std": "actor/advantage_std",
}


def _seed(path: Path) -> int:
    m = re.search(r"seed(\d+)", path.name)
    if m is None:
        raise SystemExit(f"error: cannot tell the seed of {path} (expected seed<k> in its name)")
    return int(m.group(1))


def _eval(csv_path: Path) -> dict[int, float]:
    with csv_path.open() as f:
        return {int(r["step"]): float(r["return_mean"]) for r in csv.DictReader(f)}


def _windows(run: Path, ends: list[int]) -> dict[str, dict[int, float]]:
    """Diagnostic -> window end -> median over (end - 10k, end]."""
    scal = read_scalars(run_event_files(run))
    out: dict[str, dict[int, float]] = {}
    for name, tag in DIAG.items():
        points = dict(scal.get(tag, []))
        steps = np.array(sorted(points))
        vals = np.array([points[s] for s in steps])
        out[name] = {}
        for end in ends:
            sel = vals[(steps > end - 10_000) & (steps <= end)] if len(steps) else vals
            if len(sel):
                out[name][end] = float(np.median(sel))
    return out


def runs_of(path: Path, ends: list[int]) -> list[tuple[int, dict[int, float], dict[str, dict[int, float]]]]:
    """(seed, eval return by step, diagnostics) of every seed of an arm."""
    found = []
    if not path.is_dir():  # a pattern of evaluation files, e.g. eval-csv/Walker2d-* (one env of a folder)
        return [(_seed(f), _eval(f), {}) for f in sorted(path.parent.glob(path.name)) if "seed" in f.name]
    for run in sorted(p for p in path.iterdir() if p.is_dir() and (p / "eval.csv").is_file()):
        found.append((run, run / "eval.csv"))
    for csv_path in sorted(path.glob("*seed*.csv")):
        found.append((None, csv_path))
    return [
        (_seed(csv_path if run is None else run), _eval(csv_path), {} if run is None else _windows(run, ends))
        for run, csv_path in found
    ]


def _fmt(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return f"{v:.2f}" if abs(v) < 10 else f"{v:,.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("arms", nargs="+", help="ARM=PATH")
    p.add_argument("--steps", nargs="+", type=int, default=[10_000, 20_000, 30_000], help="evaluations shown")
    p.add_argument(
        "--windows", nargs="+", type=int, default=[10_000, 20_000, 30_000], help="diagnostics: ends"
    )
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    head = ["arm", "seed", *(f"{s / 1000:g}k" for s in a.steps)]
    head += [f"{d} {(s - 10_000) // 1000}-{s // 1000}k" for d in DIAG for s in a.windows]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    out = {}
    for spec in a.arms:
        arm, _, path = spec.partition("=")
        seeds = runs_of(Path(path), a.windows)
        out[arm] = {str(seed): {"eval": ev, "diagnostics": dg} for seed, ev, dg in seeds}
        for seed, ev, dg in seeds:
            cells = [arm, str(seed), *(_fmt(ev.get(s)) for s in a.steps)]
            cells += [_fmt(dg.get(d, {}).get(s)) for d in DIAG for s in a.windows]
            lines.append("| " + " | ".join(cells) + " |")
        med = [arm, "median"]
        for s in a.steps:
            vals = [ev[s] for _, ev, _ in seeds if s in ev]
            med.append(f"**{_fmt(float(np.median(vals)))}** ({len(vals)})" if vals else "")
        for d in DIAG:
            for s in a.windows:
                vals = [dg[d][s] for _, _, dg in seeds if d in dg and s in dg[d]]
                med.append(_fmt(float(np.median(vals))) if vals else "")
        lines.append("| " + " | ".join(med) + " |")
    print("\n".join(lines))
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
