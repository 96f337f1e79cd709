"""Cost of the ``pixels`` preset beside ``cpu`` on state observations: the speed suite's per-preset rows
(:func:`analysis.speed.measure_preset`: ms per world-model / actor-critic update, collection steps/s with
the agent acting and MuJoCo rendering each frame, and the env steps/s of training without evaluations), one
thread, written to ``speed.json`` here.

    OMP_NUM_THREADS=1 MUJOCO_GL=egl python benchmarks/pixels/speed.py

The whole suite (``python -m scripts.benchmark --suite speed``) measures the same rows with the others.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    from agents.configs import DREAM_PRESETS
    from analysis.speed import measure_preset

    torch.set_num_threads(1)
    rows = []
    for preset, env, updates in (
        ("cpu", "InvertedPendulum", 10),
        ("pixels", "InvertedPendulum", 5),
        ("cpu", "Walker2d", 10),
        ("pixels", "Walker2d", 5),
    ):
        row = measure_preset(preset, DREAM_PRESETS[preset], env, device=torch.device("cpu"), updates=updates)
        rows.append(row)
        print(
            f"{preset:7s} {env:17s} update {row['update_ms']:6.1f} ms (wm {row['wm_update_ms']:.1f}, "
            f"ac {row['ac_update_ms']:.1f}), {row['updates_per_env_step']:.2f} updates/env step, "
            f"collect {row['collect_steps_per_s']:.0f} steps/s, train {row['train_steps_per_s']:.1f} steps/s",
            flush=True,
        )
    result = {
        "command": "OMP_NUM_THREADS=1 MUJOCO_GL=egl python benchmarks/pixels/speed.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}",
        "rows": rows,
    }
    (HERE / "speed.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
