"""Do scripts.baseline's SAC and plain_sac.py train the same? Their training episodes side by side, in order.

    python benchmarks/sac-check/compare_episodes.py RUNNER_RUN_DIR PLAIN_OUT [--csv FILE]

Reads the runner's episodes/*.npz (return = sum of rewards, length = records - 1) and plain_sac.py's
monitor.csv (r, l), prints how many episodes match (return within 1e-4 relative, same length), the first
that differs, and the largest difference between the two final models' weights. --csv writes the runner's
episode returns and lengths (so a result stays readable once the run directory is gone).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def runner_episodes(run_dir: Path) -> list[tuple[float, int]]:
    """(return, length) of each training episode the runner wrote, in order."""
    out = []
    for path in sorted((run_dir / "episodes").glob("*.npz")):
        with np.load(path) as data:
            out.append((float(data["reward"].sum()), len(data["reward"]) - 1))
    return out


def plain_episodes(out_dir: Path) -> list[tuple[float, int]]:
    """(return, length) of each training episode in plain_sac.py's monitor.csv (its first line is a
    JSON comment)."""
    lines = (out_dir / "monitor.csv").read_text().splitlines()[1:]
    return [(float(row["r"]), int(row["l"])) for row in csv.DictReader(lines)]


def same(a: tuple[float, int], b: tuple[float, int]) -> bool:
    """Equal lengths and returns equal to the precision monitor.csv writes (6 significant digits)."""
    return a[1] == b[1] and abs(a[0] - b[0]) <= 1e-4 * max(1.0, abs(b[0]))


def weight_difference(run_dir: Path, out_dir: Path) -> float | None:
    """The largest absolute difference between the final policies' weights (None without both models)."""
    runner, plain = run_dir / "checkpoints" / "model.zip", out_dir / "model.zip"
    if not (runner.is_file() and plain.is_file()):
        return None
    from stable_baselines3 import SAC

    a = SAC.load(runner, device="cpu").policy.state_dict()
    b = SAC.load(plain, device="cpu").policy.state_dict()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("runner", type=Path, help="run directory of python -m scripts.baseline --algo sac")
    parser.add_argument("plain", type=Path, help="--out folder of plain_sac.py")
    parser.add_argument("--csv", type=Path, help="write the runner's episode returns and lengths here")
    args = parser.parse_args()
    ours, theirs = runner_episodes(args.runner), plain_episodes(args.plain)
    n = min(len(ours), len(theirs))
    first = next((i for i in range(n) if not same(ours[i], theirs[i])), None)
    print(f"episodes: runner {len(ours)}, plain {len(theirs)}; compared {n}")
    if first is None:
        print(f"identical: all {n} episodes have the same return and length, in the same order")
    else:
        steps = sum(length for _, length in theirs[:first])
        print(f"first difference: episode {first} (after {steps:,} env steps)")
        for i in range(max(0, first - 2), min(n, first + 3)):
            print(
                f"  episode {i}: runner {ours[i][0]:.3f} ({ours[i][1]} steps), plain {theirs[i][0]:.3f} "
                f"({theirs[i][1]} steps)"
            )
    diff = weight_difference(args.runner, args.plain)
    if diff is not None:
        print(f"final policies: largest weight difference {diff:.3g}")
    if args.csv is not None:
        with args.csv.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["episode", "return", "length"])
            writer.writerows((i, f"{r:.6g}", length) for i, (r, length) in enumerate(ours))


if __name__ == "__main__":
    main()
