"""Command-line mistakes in a subprocess: one line on stderr, exit status 2, nothing written.

Each script runs in an empty working directory, so a run directory created by mistake (the default
``runs/...``) would show up there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("scripts.dream", ["--steps", "-5"], "error: --steps must be at least 1, got -5"),
        ("scripts.dream", ["--preset", "debug", "--envs.num-envs", "0"], "error: --envs.num-envs must be"),
        ("scripts.dream", ["--threads", "-1"], "error: --threads must be at least 0"),
        ("scripts.mpc", ["--plan.horizon", "0"], "error: planner horizon must be >= 1"),
        ("scripts.dream", ["--act", "planner"], "error: --act is an option of latent MPC, which has its own"),
        ("scripts.baseline", ["--eval-every", "0"], "error: --eval-every must be at least 1, got 0"),
        ("scripts.baseline", ["--eval-early", "0"], "error: --eval-early steps must be at least 1"),
        ("scripts.baseline", ["--hp.gamma", "1.5"], "error: --hp.gamma must be in (0, 1], got 1.5"),
        ("scripts.imagine", ["--run", "r", "--out", "v.mp4", "--horizon", "-1"], "error: --horizon must be"),
    ],
)
def test_out_of_range_options_end_with_one_line_and_write_nothing(
    tmp_path: Path, module: str, args: list[str], message: str
) -> None:
    proc = run_script(module, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_typo_or_a_bad_choice_is_one_line_with_the_suggestion(tmp_path: Path) -> None:
    typo = run_script("scripts.dream", "--stesp", "100", cwd=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr == "error: unrecognized option --stesp (did you mean --steps?)\n"
    choice = run_script("scripts.baseline", "--algo", "sacc", cwd=tmp_path)
    assert choice.returncode == 2
    assert choice.stderr == (
        "error: invalid choice 'sacc' for --algo; choose from sac, td3, ppo, crossq, tqc "
        "(did you mean sac?)\n"
    )
    compare = run_script("scripts.compare", "runs", "--bnd", "iqr", cwd=tmp_path)
    assert compare.returncode == 2
    assert compare.stderr == "error: unrecognized option --bnd (did you mean --band?)\n"
    assert list(tmp_path.iterdir()) == []


def test_help_names_the_module_lists_the_presets_and_shows_no_rest_markup(tmp_path: Path) -> None:
    dream = run_script("scripts.dream", "--help", cwd=tmp_path)
    assert dream.returncode == 0, dream.stderr
    assert dream.stdout.startswith("usage: python -m scripts.dream ")
    assert "--preset {debug,cpu,pixels,dreamerv3}" in dream.stdout
    assert "Examples:\n" in dream.stdout and "::" not in dream.stdout
    baseline = run_script("scripts.baseline", "--help", cwd=tmp_path)
    assert baseline.stdout.startswith("usage: python -m scripts.baseline ")
    assert "--preset" not in baseline.stdout  # no presets: the baselines use the RL Zoo's settings
