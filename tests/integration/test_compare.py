"""`python -m scripts.compare` in a subprocess on synthetic run directories."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from agents.config import RunConfig
from agents.configs import BaselineConfig, DreamConfig
from agents.run_dir import CONFIG_FILE, load_config, save_config

ROOT = Path(__file__).resolve().parents[2]
HEADER = "step,wall_time,episodes,return_mean,return_std,return_min,return_max,length_mean"


def write_run(path: Path, env: str, algo: str, seed: int, evals: list[tuple[int, float]]) -> None:
    """A run directory as scripts.dream (``algo`` dreamer) or scripts.baseline leaves it: the typed
    config.yaml and eval.csv."""
    path.mkdir(parents=True)
    cfg: RunConfig
    if algo == "dreamer":
        cfg = DreamConfig(env=env, seed=seed, steps=20_000)
    else:
        cfg = BaselineConfig(env=env, algo=algo, seed=seed, steps=20_000)
    save_config(cfg, path / CONFIG_FILE)
    rows = [f"{s},{s / 50},5,{r},2.0,{r - 3},{r + 3},200" for s, r in evals]
    (path / "eval.csv").write_text("\n".join([HEADER, *rows]) + "\n")


def run_compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.compare", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_compare_writes_png_markdown_and_json(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for seed in range(3):
        steps = [0, 5_000, 10_000, 15_000, 20_000][: 5 - (seed == 2) * 2]  # seed 2 stops at 10k
        write_run(
            runs / f"sac-{seed}", "Pendulum-v1", "sac", seed, [(s, -1200 + s / 20 + seed) for s in steps]
        )
    write_run(runs / "dreamer-0", "Pendulum-v1", "dreamer", 0, [(0, -1100), (10_000, -300), (20_000, -150)])
    (runs / "not-a-run").mkdir()
    out = tmp_path / "report"
    proc = run_compare(str(runs / "*"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    png = out / "Pendulum-v1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    md = (out / "report.md").read_text()
    assert "| dreamer | 1 (0) | - | -300.0 (n=1) | -150.0 (n=1) |" in md  # no eval between 0 and 5k
    assert (
        "| sac | 3 (0,1,2) | -949.0 [-949.5, -948.5] (n=3) | -699.0 [-699.5, -698.5] (n=3)"
        " | -199.5 [-199.8, -199.2] (n=2) |" in md
    )
    assert "sac seed 2: stopped at 10,000 of 20,000 steps" in md
    data = json.loads((out / "report.json").read_text())
    sac = data["envs"]["Pendulum-v1"]["algos"]["sac"]
    assert sac["budgets"]["20000"]["n"] == 2 and sac["curve_steps"]["n"][-1] == 2
    assert [r["finished"] for r in sac["runs"]] == [True, True, False]
    # the same hours: the dreamer run took 400 s for its 20k steps; every run here has the same speed
    assert "@ dreamer wall time (6.7 min) |" in md
    assert data["envs"]["Pendulum-v1"]["wall"]["seconds"] == 400.0
    assert "| no collapse |" in md

    other = tmp_path / "other"
    by_sac = run_compare(str(runs / "*"), "--out", str(other), "--wall-reference", "sac")
    assert by_sac.returncode == 0, by_sac.stderr
    assert "@ sac wall time (6.7 min) |" in (other / "report.md").read_text()
    bad = run_compare(str(runs / "*"), "--out", str(other), "--wall-reference", "td3")
    assert bad.returncode == 2
    expected = "error: --wall-reference td3: no run is grouped so; the groups are dreamer, sac"
    assert bad.stderr.strip() == expected


def test_compare_reports_bad_input_on_one_line(tmp_path: Path) -> None:
    proc = run_compare(str(tmp_path / "missing"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no run directory")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_compare_marks_debug_runs_and_repeated_seeds(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for name in ("a", "b"):  # two --preset debug Dreamer runs, both seed 0
        write_run(runs / name, "Pendulum-v1", "dreamer", 0, [(200, -1500), (400, -1400)])
        config = load_config(DreamConfig, runs / name / CONFIG_FILE)
        save_config(dataclasses.replace(config, preset="debug"), runs / name / CONFIG_FILE)
    write_run(runs / "sac", "Pendulum-v1", "sac", 0, [(200, -1300), (400, -1200)])
    out = tmp_path / "report"
    proc = run_compare(str(runs), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    assert "| dreamer (debug preset!) | 2 (0,0: seed 0 twice!) |" in md
    assert "- **Warning**: dreamer: 2 of 2 runs used `--preset debug`" in md
    assert "- **Warning**: dreamer: seed 0 twice;" in md


def test_compare_group_by_folder_separates_variants_of_one_algorithm(tmp_path: Path) -> None:
    # "wider" lies in another suite's folder named dreamer and is linked in: it keeps the link's name.
    folders = {"base": tmp_path / "runs" / "base", "wider": tmp_path / "other-suite" / "dreamer"}
    for folder, shift in zip(folders.values(), (0.0, 100.0), strict=True):
        for seed in range(2):
            evals = [(0, -1000.0), (10_000, -300.0 + shift + seed)]
            write_run(folder / f"seed{seed}", "Pendulum-v1", "dreamer", seed, evals)
    (tmp_path / "runs" / "wider").symlink_to(folders["wider"], target_is_directory=True)
    pattern = str(tmp_path / "runs")
    by_algo, by_folder = tmp_path / "by-algo", tmp_path / "by-folder"
    assert run_compare(pattern, "--out", str(by_algo)).returncode == 0
    proc = run_compare(pattern, "--out", str(by_folder), "--group-by", "folder")
    assert proc.returncode == 0, proc.stderr
    algos = json.loads((by_algo / "report.json").read_text())["envs"]["Pendulum-v1"]["algos"]
    assert sorted(algos) == ["dreamer"] and algos["dreamer"]["budgets"]["10000"]["n"] == 4
    algos = json.loads((by_folder / "report.json").read_text())["envs"]["Pendulum-v1"]["algos"]
    assert sorted(algos) == ["base", "wider"]
    assert algos["base"]["budgets"]["10000"]["median"] == -299.5
    assert algos["wider"]["budgets"]["10000"]["median"] == -199.5


def test_compare_reads_runs_of_older_versions_and_skips_other_files_with_a_note(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs / "sac" / "seed0", "Pendulum-v1", "sac", 0, [(0, -1200), (20_000, -200)])
    # written before config.yaml named its class: grouped by the folder that holds it
    old = runs / "mpc-mppi" / "seed0"
    write_run(old, "Pendulum-v1", "sac", 0, [(0, -1100), (20_000, -300)])
    (old / CONFIG_FILE).write_text("env: Pendulum-v1\nseed: 0\nsteps: 20000\nact: planner\nplanner: mppi\n")
    other = runs / "other-tool" / "seed0"  # a YAML config of another program
    write_run(other, "Pendulum-v1", "sac", 0, [(0, -1000)])
    (other / CONFIG_FILE).write_text("config_class: TrainConfig\nenv: Pendulum-v1\n")
    out = tmp_path / "report"
    proc = run_compare(str(runs), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    algos = json.loads((out / "report.json").read_text())["envs"]["Pendulum-v1"]["algos"]
    assert sorted(algos) == ["mpc-mppi", "sac"] and algos["mpc-mppi"]["final"]["values"] == [-300.0]
    md = (out / "report.md").read_text()
    assert "names an unknown config class ('TrainConfig')" in md
