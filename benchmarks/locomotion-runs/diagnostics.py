"""The issue's diagnostics over a run's training, one row per window of env steps.

    python benchmarks/locomotion-runs/diagnostics.py RUN_DIR [RUN_DIR ...] [--window 10000]

Reads the TensorBoard scalars a ``scripts.dream`` run logged (all its event files, so resumed runs are
whole) and prints, per window of env steps, the median of each logged value in that window: training
episode return and length, evaluation return (last in the window), actor entropy, the share of saturated
action dims, the return scale S, the spread of the
actor's advantages (R - v) / max(1, S), the critic's overestimation ratio on real replayed states, P(continue)
at real falls, the mean imagined reward per step and the critic's mean value. Nothing is recomputed: these
are the numbers the run wrote while it trained.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.report import read_scalars, run_event_files

COLUMNS = {
    "train return": "train/episode_return",
    "eval return": "eval/return_mean",
    "entropy": "actor/entropy",
    "saturated": "actor/saturated",
    "S": "actor/return_scale",
    "adv. std": "actor/advantage_std",
    "overest.": "diag/overestimation",
    "P(cont) fall": "diag/cont_at_terminal",
    "imag. reward": "actor/imag_reward_mean",
    "value": "critic/value_mean",
}
LAST = {"eval return"}  # evaluations are sparse: show the latest one in the window, not a median


def scalars(run: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tag -> (steps, values) over every event file of the run; a resumed run's later files win."""
    out = {}
    for tag, points in read_scalars(run_event_files(run)).items():
        by_step = dict(points)
        steps = np.array(sorted(by_step))
        out[tag] = (steps, np.array([by_step[s] for s in steps]))
    return out


def table(run: Path, window: int) -> str:
    s = scalars(run)
    end = max(int(v[0][-1]) for v in s.values() if len(v[0]))
    head = ["steps", *COLUMNS]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lo in range(0, end, window):
        hi = lo + window
        cells = [f"{lo // 1000}-{hi // 1000}k"]
        for name, tag in COLUMNS.items():
            steps, vals = s.get(tag, (np.array([]), np.array([])))
            sel = vals[(steps > lo) & (steps <= hi)]
            if not len(sel):
                cells.append("")
            else:
                v = float(sel[-1] if name in LAST else np.median(sel))
                cells.append(f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--window", type=int, default=10000, help="env steps per row")
    a = p.parse_args()
    for run in a.runs:
        print(f"## {run}\n\n{table(run, a.window)}\n")


if __name__ == "__main__":
    main()
