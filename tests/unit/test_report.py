"""Report maths and loading, checked by hand on synthetic run directories."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from agents.config import RunConfig
from agents.configs import BaselineConfig, DreamConfig, FitConfig, MPCRunConfig, load_run_config
from agents.run_dir import CONFIG_FILE, save_config
from agents.zoo import Sb3Options
from analysis.report import (
    Run,
    algo_label,
    build_report,
    collapse_check,
    column_title,
    curve_on_grid,
    eval_columns,
    find_run_dirs,
    format_seeds,
    format_steps,
    load_run,
    load_runs,
    mean_return_over,
    read_speed,
    show_path,
    summarize,
    to_json,
    to_markdown,
    value_at_budget,
    value_at_wall,
    wall_budget,
)
from envs.errors import UserError

HEADER = "step,wall_time,episodes,return_mean,return_std,return_min,return_max,length_mean"


def make_run(
    root: Path,
    name: str,
    *,
    env: str = "Pendulum-v1",
    algo: str = "sac",
    seed: int = 0,
    steps: int = 20_000,
    evals: list[tuple[float, float]] | None = None,
    extra: dict | None = None,
    seconds_per_step: float = 0.01,
) -> Path:
    """A run directory with the config.yaml its script writes (``algo``: ``dreamer`` for scripts.dream, else
    a scripts.baseline algorithm; ``extra``: more fields) and (unless evals is None) eval.csv rows (step,
    return), evaluated at ``step x seconds_per_step`` seconds of wall time."""
    path = root / name
    path.mkdir(parents=True)
    fields: dict = {"env": env, "steps": steps, "seed": seed, **(extra or {})}
    cfg = DreamConfig(**fields) if algo == "dreamer" else BaselineConfig(algo=algo, **fields)
    save_config(cfg, path / CONFIG_FILE)
    if evals is not None:
        rows = [HEADER] + [f"{s},{s * seconds_per_step},10,{r},1.0,{r - 1},{r + 1},200" for s, r in evals]
        (path / "eval.csv").write_text("\n".join(rows) + "\n")
    return path


def run_of(step: list[float], ret: list[float], *, algo: str = "a", target: int | None = None) -> Run:
    return Run(
        path=Path("x"),
        env="E",
        algo=algo,
        seed=0,
        target_steps=target,
        step=np.array(step, dtype=float),
        wall_time=np.array(step, dtype=float) / 10,
        returns=np.array(ret, dtype=float),
        config=RunConfig(),
    )


def test_summarize_quartiles_by_hand() -> None:
    s = summarize([4.0, 1.0, 3.0, 2.0])
    assert (s.n, s.median, s.q25, s.q75, s.min, s.max) == (4, 2.5, 1.75, 3.25, 1.0, 4.0)
    one = summarize([7.0])
    assert (one.n, one.median, one.q25, one.q75) == (1, 7.0, 7.0, 7.0)
    none = summarize([])
    assert none.n == 0 and math.isnan(none.median)
    assert summarize([1.0, math.nan, 3.0]).n == 2


def test_curve_on_union_grid_interpolates_and_counts_seeds() -> None:
    # A is evaluated every 10 steps, B only at 0 and 20 (interpolated: 20 at step 10), C stops at 10.
    xs = [np.array([0.0, 10, 20]), np.array([0.0, 20]), np.array([0.0, 10])]
    ys = [np.array([0.0, 10, 20]), np.array([0.0, 40]), np.array([6.0, 6])]
    c = curve_on_grid(xs, ys)
    np.testing.assert_array_equal(c.x, [0, 10, 20])
    np.testing.assert_array_equal(c.n, [3, 3, 2])
    np.testing.assert_allclose(c.median, [0, 10, 30])  # step 10: {10, 20, 6}; step 20: {20, 40}
    np.testing.assert_allclose(c.q25, [0, 8, 25])
    np.testing.assert_allclose(c.q75, [3, 15, 35])
    np.testing.assert_allclose(c.min, [0, 6, 20])
    np.testing.assert_allclose(c.max, [6, 20, 40])


def test_curve_tolerance_and_empty_runs() -> None:
    # A run that stopped at 9,950 steps still counts at 10,000 with 1% slack; an empty run counts nowhere.
    xs = [np.array([0.0, 9_950]), np.array([0.0, 10_000]), np.zeros(0)]
    ys = [np.array([1.0, 3]), np.array([1.0, 5]), np.zeros(0)]
    c = curve_on_grid(xs, ys, tol=0.01)
    np.testing.assert_array_equal(c.x, [0, 9_950, 10_000])
    np.testing.assert_array_equal(c.n, [2, 2, 2])
    assert c.median[2] == 4.0  # the short run is clamped to its last value, 3
    strict = curve_on_grid(xs, ys)
    np.testing.assert_array_equal(strict.n, [2, 2, 1])
    grid_only = curve_on_grid(xs, ys, np.array([20_000.0]))
    assert grid_only.n[0] == 0 and math.isnan(grid_only.median[0])


def test_value_at_budget_takes_latest_eval_at_or_before() -> None:
    run = run_of([0, 5_000, 10_004, 15_000], [1, 2, 3, 4])
    assert value_at_budget(run, 10_000) == 3  # 10,004 is within 1% of 10k
    assert value_at_budget(run, 11_000) == 3  # no interpolation into the future
    assert value_at_budget(run, 12_000) is None  # 10,004 is more than 10% before 12k: stale
    assert value_at_budget(run, 20_000) is None  # never trained 20k steps
    assert value_at_budget(run_of([0, 9_500, 20_000], [-5, 7, 9]), 10_000) == 7  # 5% early: fine
    sparse = run_of([0, 20_000], [-5, 9])
    assert value_at_budget(sparse, 10_000) is None  # its latest eval before 10k is the stale step-0 one
    late = run_of([15_000, 30_000], [1, 2])
    assert value_at_budget(late, 10_000) is None  # no evaluation at or before 10k
    assert value_at_budget(run_of([], []), 10_000) is None


def test_mean_return_over_is_area_divided_by_range() -> None:
    run = run_of([0, 10, 20], [0, 10, 10])
    assert mean_return_over(run, 0, 20) == pytest.approx((50 + 100) / 20)
    assert mean_return_over(run, 5, 15) == pytest.approx((37.5 + 50) / 10)  # 5->7.5..10 then flat 10
    assert mean_return_over(run, 10, 10) == 10
    assert mean_return_over(run, 0, 40) is None  # does not reach 40
    assert mean_return_over(run_of([5, 20], [1, 1]), 0, 20) is None  # starts too late


def test_eval_columns_skip_broken_rows_and_keeps_last_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text(
        f"{HEADER}\n0,0.5,10,-100,1,-101,-99,200\n1000,9.0,10,-50,1,-51,-49,200\n"
        "1000,12.0,10,-40,1,-41,-39,200\n1500,15.0,10,-30,,,,\n2000,20.0,10,-3"
    )  # a resumed run re-evaluated 1000; optional columns left empty at 1500; last row cut mid-write
    cols = eval_columns(path)
    np.testing.assert_array_equal(cols["step"], [0, 1000, 1500])
    np.testing.assert_array_equal(cols["return_mean"], [-100, -40, -30])
    assert math.isnan(cols["return_std"][2])
    assert len(eval_columns(tmp_path / "missing.csv")["step"]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("step,wall_time,foo\n1,2,3\n")
    with pytest.raises(UserError, match="return_mean"):
        eval_columns(bad)


def test_algo_label_from_the_config_class(tmp_path: Path) -> None:
    run_dir = tmp_path / "Pendulum-v1" / "world_model" / "0-20260101-000000"
    assert algo_label(BaselineConfig(algo="sac"), run_dir) == "sac"
    assert algo_label(BaselineConfig(algo="crossq", hp=Sb3Options(critic_arch=None)), run_dir) == "crossq"
    wide = Sb3Options(critic_arch=(1024, 1024))
    assert algo_label(BaselineConfig(algo="crossq", hp=wide), run_dir) == "crossq-1024"
    narrow = Sb3Options(critic_arch=(512, 256))
    assert algo_label(BaselineConfig(algo="sac", hp=narrow), run_dir) == "sac-512x256"
    assert algo_label(DreamConfig(), tmp_path / "custom" / "dir") == "dreamer"
    assert algo_label(MPCRunConfig(planner="mppi"), run_dir) == "mpc-mppi"
    assert algo_label(MPCRunConfig(planner="mppi", planner_prior=True), run_dir) == "mpc-mppi-prior"
    assert algo_label(MPCRunConfig(planner="cem", planner_value=False), run_dir) == "mpc-cem"
    # a world-model fit, or a config written before its class was recorded: the folder that holds the run
    assert algo_label(FitConfig(), run_dir) == "world_model"
    assert algo_label(RunConfig(), tmp_path / "runs" / "Hopper-v5" / "sac" / "seed0") == "sac"


def test_every_benchmark_agent_reads_back_as_its_label(tmp_path: Path) -> None:
    """scripts.benchmark names each run's folder after its agent; the report must group it so from the
    config the agent's script writes, wherever the run lies."""
    from agents.cli import parse_config
    from agents.configs import DREAM_PRESETS, MPC_PRESETS
    from scripts.benchmark import AGENTS

    for label, (module, *args) in AGENTS.items():
        cfg: RunConfig
        if module == "scripts.dream":
            cfg = parse_config(DreamConfig, algo="dreamer", description="", presets=DREAM_PRESETS, args=args)
        elif module == "scripts.mpc":
            cfg = parse_config(MPCRunConfig, algo="mpc", description="", presets=MPC_PRESETS, args=args)
        else:
            assert module == "scripts.baseline"
            cfg = parse_config(BaselineConfig, algo="baseline", description="", args=args)
        run = tmp_path / label / "elsewhere"
        run.mkdir(parents=True)
        save_config(cfg, run / CONFIG_FILE)
        assert load_run(run).algo == label


def test_load_run_reads_the_typed_config_and_files_of_older_versions(tmp_path: Path) -> None:
    typed = make_run(tmp_path, "typed", env="Hopper-v5", algo="ppo", seed=3, steps=1000)
    run = load_run(typed)
    assert isinstance(run.config, BaselineConfig) and run.config.algo == "ppo"
    assert (run.env, run.algo, run.seed, run.target_steps, len(run.step)) == ("Hopper-v5", "ppo", 3, 1000, 0)
    assert not run.finished
    # A field removed or renamed since the run: the report reads the rest (a tool that rebuilds the run
    # does not: tests/unit/test_run_dir.py).
    text = (typed / CONFIG_FILE).read_text().replace("\nhp:\n", "\nhp:\n  retired_option: 2\n")
    (typed / CONFIG_FILE).write_text(text + "retired_flag: true\n")
    assert load_run(typed).algo == "ppo"
    # Written before config.yaml named its class (2026-11-29): the fields every script shares, grouped by
    # the folder that holds the run (runs/<env>/<algo>/<seed>-<time>, or a suite's <env>/<agent>/seed<k>).
    old = tmp_path / "Hopper-v5" / "mpc-mppi" / "0-20261128-120000"
    old.mkdir(parents=True)
    (old / CONFIG_FILE).write_text("env: Hopper-v5\nseed: 2\nsteps: 500\npreset: cpu\nact: planner\n")
    run = load_run(old)
    assert type(run.config) is RunConfig and run.preset == "cpu"
    assert (run.env, run.algo, run.seed, run.target_steps) == ("Hopper-v5", "mpc-mppi", 2, 500)
    with pytest.raises(UserError, match=r"is not a run directory \(no config\.yaml\)"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    "text,message",
    [
        ("env: Hopper-v5\nrun_dir: !!python/object/apply:pathlib.PosixPath [x]\n", "cannot read config"),
        ("- env\n", "does not hold a mapping"),
        ("seed: 1\nsteps: 300\n", "has no env and names no config class"),
        ("env: Hopper-v5\nseed: one\n", 'field "seed" - should be "int"'),
        ("config_class: TrainConfig\nenv: Hopper-v5\n", "names an unknown config class ('TrainConfig')"),
    ],
)
def test_a_config_of_another_tool_is_one_line_and_skipped(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r"
    path.mkdir()
    (path / CONFIG_FILE).write_text(text)
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_run_config(path, lenient=True)
    assert "\n" not in str(err.value)
    runs, skipped = load_runs([path])
    assert runs == [] and len(skipped) == 1 and message in skipped[0]


def test_build_report_groups_budgets_auc_and_notes(tmp_path: Path) -> None:
    make_run(tmp_path, "s0", seed=0, evals=[(0, -1000), (10_000, -500), (20_000, -200)])
    make_run(tmp_path, "s1", seed=1, evals=[(0, -1200), (10_000, -300), (20_000, -100)])
    make_run(tmp_path, "s2", seed=2, evals=[(0, -1100), (10_000, -400)])  # crashed at 10k
    make_run(tmp_path, "s3", seed=3, evals=None)  # never evaluated
    make_run(tmp_path, "d0", algo="dreamer", evals=[(0, -900), (10_000, -150), (20_000, -140)])
    make_run(tmp_path, "h0", env="Hopper-v5", algo="ppo", steps=300, evals=[(0, 10), (300, 20)])
    runs, skipped = load_runs(find_run_dirs([str(tmp_path)]))
    assert skipped == [] and len(runs) == 6
    report = build_report(runs)
    assert [e.env for e in report.envs] == ["Hopper-v5", "Pendulum-v1"]
    hopper, pend = report.envs
    assert hopper.budgets == () and hopper.algos[0].final.median == 20
    assert pend.budgets == (10_000, 20_000)
    dreamer, sac = pend.algos
    assert (dreamer.algo, sac.algo) == ("dreamer", "sac")
    assert len(sac.runs) == 4
    b10, b20 = sac.budgets[10_000], sac.budgets[20_000]
    assert (b10.n, b10.median, b10.q25, b10.q75) == (3, -400, -450, -350)
    assert (b20.n, b20.median) == (2, -150)
    assert sac.final.n == 3 and sac.final.median == -200  # finals {-200, -100, -400}
    # AUC window 0..20k (both algorithms' longest runs reach 20k); the crashed seed is left out.
    assert pend.auc_range == (0.0, 20_000.0)
    s0 = ((-1000 - 500) / 2 * 10_000 + (-500 - 200) / 2 * 10_000) / 20_000
    s1 = ((-1200 - 300) / 2 * 10_000 + (-300 - 100) / 2 * 10_000) / 20_000
    assert sac.auc.n == 2 and sac.auc.median == pytest.approx((s0 + s1) / 2)
    assert dreamer.auc.n == 1
    np.testing.assert_array_equal(sac.curve_steps.n, [3, 3, 2])
    notes = "\n".join(pend.notes)
    assert "sac seed 2: stopped at 10,000 of 20,000 steps" in notes
    assert "sac seed 3: no evaluations" in notes
    assert "sac seed 2: left out of the AUC" in notes


def test_auc_window_ignores_an_algorithm_that_only_crashed(tmp_path: Path) -> None:
    make_run(tmp_path, "a", algo="sac", steps=300, evals=[(100, 1), (200, 2), (300, 3)])
    make_run(tmp_path, "b", algo="ppo", steps=300, evals=[(100, 5), (200, 5), (300, 5)])
    make_run(tmp_path, "c", algo="dreamer", steps=300, evals=[(100, 0)])  # crashed after one eval
    pend = build_report(load_runs(find_run_dirs([str(tmp_path)]))[0]).envs[0]
    assert pend.auc_range == (100.0, 300.0)
    dreamer, ppo, sac = pend.algos
    assert (dreamer.auc.n, ppo.auc.median, sac.auc.median) == (0, 5.0, 2.0)


def test_markdown_and_json_show_counts(tmp_path: Path) -> None:
    make_run(tmp_path, "s0", seed=0, evals=[(0, -1000), (10_000, -500)], steps=10_000)
    make_run(tmp_path, "s1", seed=1, evals=[(0, -1200), (10_000, -300)], steps=10_000)
    make_run(tmp_path, "p0", algo="ppo", evals=[(0, -1300), (10_000, -800)], steps=10_000)
    runs, _ = load_runs(find_run_dirs([str(tmp_path / "*")]))
    report = build_report(runs, skipped=["junk has no config.yaml"])
    md = to_markdown(report)
    assert "| algorithm | seeds | 10k | final | AUC (0-10k) |" in md
    assert "| ppo | 1 (0) | -800.0 (n=1) | -800.0 (n=1) @10k | -1050.0 (n=1) |" in md
    assert "| sac | 2 (0,1) | -400.0 [-450.0, -350.0] (n=2) |" in md
    assert "junk has no config.yaml" in md and "![Pendulum-v1](Pendulum-v1.png)" in md
    data = json.loads(json.dumps(to_json(report)))
    sac = data["envs"]["Pendulum-v1"]["algos"]["sac"]
    assert sac["budgets"]["10000"]["values"] == [-500.0, -300.0]
    assert sac["curve_steps"]["n"] == [2, 2]
    minmax = to_markdown(build_report(runs, band="minmax"))
    assert "-400.0 [-500.0, -300.0] (n=2)" in minmax
    # per seed: returns that are costs have no meaningful last / best
    assert "| algorithm | seed | 10k | best | last / best |" in md
    assert "| sac | 1 | -300.0 | -300.0 @10k | n/a |" in md
    assert sac["runs"][1]["eval"] == {
        "step": [0, 10_000],
        "wall_time": [0.0, 100.0],
        "return": [-1200.0, -300.0],
    }
    assert (sac["runs"][1]["best"], sac["runs"][1]["best_step"], sac["runs"][1]["last_over_best"]) == (
        -300.0,
        10_000,
        None,
    )


def test_per_seed_table_gives_each_run_its_best_and_last_over_best(tmp_path: Path) -> None:
    """The issue's collapse rule (last evaluation >= 70% of the best) per seed, in report.md and report.json;
    a run that stopped early shows '-' at the budgets it did not reach."""
    make_run(tmp_path, "d0", algo="dreamer", seed=0, evals=[(5_000, 100), (10_000, 800), (20_000, 400)])
    make_run(tmp_path, "d1", algo="dreamer", seed=1, evals=[(5_000, 50), (10_000, 600), (20_000, 600)])
    make_run(tmp_path, "d2", algo="dreamer", seed=2, evals=[(5_000, 90)])
    report = build_report(load_runs(find_run_dirs([str(tmp_path)]))[0])
    md = to_markdown(report)
    assert "| algorithm | seed | 5k | 10k | 20k | best | last / best |" in md
    assert "| dreamer | 0 | 100.0 | 800.0 | 400.0 | 800.0 @10k | 0.50 |" in md
    assert "| dreamer | 1 | 50.0 | 600.0 | 600.0 | 600.0 @10k | 1.00 |" in md  # ties: the first
    assert "| dreamer | 2 | 90.0 | - | - | 90.0 @5k | 1.00 |" in md
    runs = to_json(report)["envs"]["Pendulum-v1"]["algos"]["dreamer"]["runs"]
    assert [r["last_over_best"] for r in runs] == [0.5, 1.0, 1.0]
    assert runs[0]["eval"]["return"] == [100.0, 800.0, 400.0]


def test_find_run_dirs_patterns(tmp_path: Path) -> None:
    a = make_run(tmp_path / "runs", "a", evals=[(0, 1)])
    b = make_run(tmp_path / "runs" / "deeper", "b", evals=[(0, 1)])
    assert find_run_dirs([str(a)]) == [a]
    assert set(find_run_dirs([str(tmp_path / "runs")])) == {a, b}
    assert find_run_dirs([str(tmp_path / "runs" / "*"), str(a)]) == [a, b]
    with pytest.raises(UserError, match="nope"):
        find_run_dirs([str(tmp_path / "nope*")])


def test_find_run_dirs_follows_symlinked_folders_and_keeps_their_names(tmp_path: Path) -> None:
    """A suite folder that links in another suite's runs (suite/Hopper/sac -> elsewhere) finds them under
    the link's name; a run reached twice (through the link and directly) or a link back up counts once."""
    elsewhere = make_run(tmp_path / "old" / "sac", "seed0", evals=[(0, 1)])
    own = make_run(tmp_path / "suite" / "dreamer", "seed0", algo="dreamer", evals=[(0, 1)])
    (tmp_path / "suite" / "sac").symlink_to(tmp_path / "old" / "sac", target_is_directory=True)
    (tmp_path / "suite" / "dreamer" / "loop").symlink_to(tmp_path / "suite", target_is_directory=True)
    linked = tmp_path / "suite" / "sac" / "seed0"
    assert find_run_dirs([str(tmp_path / "suite")]) == [own, linked]
    assert find_run_dirs([str(tmp_path / "suite"), str(elsewhere)]) == [own, linked]
    assert find_run_dirs([str(elsewhere), str(tmp_path / "suite")]) == [elsewhere, own]
    assert show_path(linked / "eval.csv", tmp_path / "suite") == "sac/seed0/eval.csv"


def test_read_speed_from_tensorboard_json_and_eval_csv(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    run = make_run(tmp_path, "r", evals=[(0, 1), (1000, 2)])  # wall_time = step / 100 -> 100 steps/s
    writer = SummaryWriter(str(run / "tb"))
    for i, v in enumerate([10.0, 30.0, 20.0]):
        writer.add_scalar("time/wm_update_ms", v, i)
        writer.add_scalar("time/total_timesteps", 100.0 * i, i)  # an SB3 counter, not a speed
        writer.add_scalar("train/loss", 5.0, i)
    writer.close()
    bench = {"preset": "debug", "device": "cpu", "measured": {"peak_rss_mb": 512.0, "wall_s": 10}}
    (run / "bench.json").write_text(json.dumps(bench))
    speed = read_speed(run)
    assert speed == {
        "time/wm_update_ms": 20.0,
        "peak_rss_mb": 512.0,
        "wall_s": 10.0,
        "overall_steps_per_s": 100.0,
    }
    md = to_markdown(build_report(load_runs([run])[0], speed=True))
    assert "| preset | device | threads | runs | ms/WM update | peak memory (MB) | overall steps/s |" in md
    assert "| Pendulum-v1 | sac | debug | cpu | - | 1 | 20 | 512 | 100 | 10 |" in md  # threads: not recorded
    # What the run itself recorded wins over the benchmark's view: its preset, resolved device, threads.
    save_config(BaselineConfig(env="Pendulum-v1", steps=20_000, algo="sac", preset="cpu"), run / CONFIG_FILE)
    system = {"devices": ["cuda:0"], "machines": [{"cpu": "X", "cores": 8, "threads": 4}]}
    (run / "system.json").write_text(json.dumps(system))
    md = to_markdown(build_report(load_runs([run])[0], speed=True))
    assert "| Pendulum-v1 | sac | cpu | cuda:0 | 4 | 1 |" in md


def test_speed_columns_have_titles_for_people() -> None:
    assert column_title("time/peak_rss_mb") == "peak rss (MB)"
    assert column_title("time/replay_sample_ms") == "replay sample (ms)"
    assert column_title("time/env_steps_per_s") == "env steps/s"
    assert column_title("planner/calls") == "calls"


def test_report_marks_debug_runs_repeated_seeds_and_a_single_point_auc(tmp_path: Path) -> None:
    debug = {"preset": "debug", "device": "auto"}
    make_run(tmp_path, "d0", algo="dreamer", steps=3000, evals=[(3000, -900)], extra=debug)
    make_run(tmp_path, "d1", algo="dreamer", steps=3000, evals=[(3000, -800)], extra=debug)
    make_run(tmp_path, "s0", seed=0, steps=3000, evals=[(3000, -1000)])
    make_run(tmp_path, "s1", seed=1, steps=3000, evals=[(3000, -1100)])
    (tmp_path / "d0" / "system.json").write_text(json.dumps({"devices": ["cpu"]}))
    report = build_report(load_runs(find_run_dirs([str(tmp_path)]))[0])
    assert report.envs[0].auc_range is None  # every run evaluated at 3k only: no area
    md = to_markdown(report)
    assert "| algorithm | seeds | final | AUC |" in md
    assert (
        "| dreamer (debug preset!) | 2 (0,0: seed 0 twice!) | -850.0 [-875.0, -825.0] (n=2) @3k | n/a |" in md
    )
    assert "| sac | 2 (0,1) |" in md
    assert "- **Warning**: dreamer: 2 of 2 runs used `--preset debug`" in md
    assert "- **Warning**: dreamer: seed 0 twice;" in md
    assert "AUC n/a" in md
    runs = to_json(report)["envs"]["Pendulum-v1"]["algos"]["dreamer"]["runs"]
    assert [(r["preset"], r["device"]) for r in runs] == [("debug", "cpu"), ("debug", "auto")]


def test_format_seeds() -> None:
    assert format_seeds([0, 1, 2]) == ("3 (0,1,2)", "")
    assert format_seeds([0, 0]) == ("2 (0,0: seed 0 twice!)", "seed 0 twice")
    assert format_seeds([1, 0, 1, 1, 0]) == (
        "5 (1,0,1,1,0: seed 0 twice; seed 1 three times!)",
        "seed 0 twice; seed 1 three times",
    )


def test_format_steps() -> None:
    assert [format_steps(s) for s in (300, 2_500, 10_000, 1_000_000)] == ["300", "2.5k", "10k", "1M"]


def test_collapse_check_smooths_over_three_evaluations_by_hand() -> None:
    """Issue #28's rule: mean of the last 3 evaluations >= 0.8 x the best mean of 3 consecutive ones."""
    fell = collapse_check(run_of([1, 2, 3, 4, 5, 6, 7], [100, 400, 700, 1000, 900, 500, 300]))
    # moving means 400, 700, 866.67, 800, 566.67: best 866.67 (700, 1000, 900), last 566.67 < 693.33
    assert fell is not None and fell.passed is False
    assert fell.best == pytest.approx(2600 / 3) and fell.last == pytest.approx(1700 / 3)
    # one bad last evaluation is forgiven (last / best would be 0.60): means 833.3, 1000, 866.7
    dip = collapse_check(run_of([1, 2, 3, 4, 5], [500, 1000, 1000, 1000, 600]))
    assert dip is not None and dip.passed is True and dip.last == pytest.approx(2600 / 3) and dip.best == 1000
    edge = collapse_check(run_of([1, 2, 3, 4], [0, 1000, 1000, 1000]))  # the rule's edge, 800 >= 800
    assert edge is not None and edge.passed is True
    assert collapse_check(run_of([1, 2, 3, 4], [1000, 1000, 1000, 0]), ratio=0.8).passed is False  # type: ignore[union-attr]
    costs = collapse_check(run_of([1, 2, 3], [-500, -300, -200]))
    assert costs is not None and costs.passed is None  # a best that is not positive: n/a
    assert collapse_check(run_of([1, 2], [10, 20])) is None  # fewer than 3 evaluations


def test_per_seed_table_shows_the_no_collapse_rule(tmp_path: Path) -> None:
    evals = [(s * 1000, r) for s, r in enumerate([100, 400, 700, 1000, 900, 500, 300], start=1)]
    make_run(tmp_path, "d0", algo="dreamer", seed=0, steps=7000, evals=evals)
    kept = [(s * 1000, r) for s, r in enumerate([500, 1000, 1000, 1000, 600], start=1)]
    make_run(tmp_path, "d1", algo="dreamer", seed=1, steps=5000, evals=kept)
    make_run(tmp_path, "d2", algo="dreamer", seed=2, steps=2000, evals=[(1000, 5), (2000, 6)])
    report = build_report(load_runs(find_run_dirs([str(tmp_path)]))[0])
    md = to_markdown(report)
    assert "| best | last / best | last 3 | best 3 | no collapse |" in md
    assert "| dreamer | 0 | 900.0 | 1000.0 @4k | 0.30 | 566.7 | 866.7 | FAIL |" in md
    assert "| dreamer | 1 | 600.0 | 1000.0 @2k | 0.60 | 866.7 | 1000.0 | pass |" in md
    assert "wall time" not in md  # one algorithm alone: no same-hours column
    assert "| dreamer | 2 | - | 6.0 @2k | 1.00 | - | - | - |" in md
    data = to_json(report)
    runs = data["envs"]["Pendulum-v1"]["algos"]["dreamer"]["runs"]
    assert [r["no_collapse"] for r in runs] == [False, True, None]
    assert runs[0]["last3_mean"] == pytest.approx(1700 / 3) and runs[1]["best3_mean"] == 1000
    assert data["collapse_rule"] == {"window": 3, "ratio": 0.8}


def test_value_at_wall_takes_the_latest_evaluation_within_the_time() -> None:
    run = run_of([0, 10_000, 20_000], [1, 2, 3], target=20_000)  # wall time = step / 10
    assert value_at_wall(run, 1500) == (2.0, False)
    assert value_at_wall(run, 2000) == (3.0, False)
    assert value_at_wall(run, 5000) == (3.0, True)  # finished its budget in less time
    stopped = run_of([0, 10_000], [1, 2], target=20_000)
    assert value_at_wall(stopped, 5000) is None  # stopped before its budget and before the time
    late = run_of([10_000, 20_000], [1, 2], target=20_000)
    assert value_at_wall(late, 500) is None  # no evaluation yet


def write_machine(run_dir: Path, cpu: str = "AMD EPYC", threads: int = 1) -> None:
    machine = {"cpu": cpu, "cores": 2, "threads": threads, "threads_reason": "auto"}
    (run_dir / "system.json").write_text(json.dumps({"devices": ["cpu"], "machines": [machine]}))


def test_report_gives_every_algorithm_the_wall_time_of_one_dreamer_run(tmp_path: Path) -> None:
    evals = [(0, -1000), (10_000, -400), (20_000, -200)]
    d0 = make_run(tmp_path, "d0", algo="dreamer", seed=0, evals=evals, seconds_per_step=0.02)  # 400 s
    d1 = make_run(tmp_path, "d1", algo="dreamer", seed=1, evals=evals, seconds_per_step=0.03)  # 600 s
    fast = [(0, -1100), (10_000, -700), (20_000, -300)]
    s0 = make_run(tmp_path, "s0", seed=0, evals=fast, seconds_per_step=0.01)  # done in 200 s
    slow = [(0, -1200), (10_000, -600), (20_000, -100)]
    p0 = make_run(tmp_path, "p0", algo="ppo", evals=slow, seconds_per_step=0.05)  # 10k at 500 s
    for run_dir in (d0, d1, s0, p0):
        write_machine(run_dir)
    runs = load_runs(find_run_dirs([str(tmp_path)]))[0]
    pend = build_report(runs).envs[0]
    assert pend.wall is not None
    assert (pend.wall.reference, pend.wall.seconds, pend.wall.steps, pend.wall.runs) == (
        "dreamer",
        500,
        20_000,
        2,
    )
    assert wall_budget(runs, "td3") is None
    dreamer, ppo, sac = pend.algos
    assert dreamer.at_wall.values == (-200.0, -400.0)  # the slower seed is at 10k after 500 s
    assert ppo.at_wall.values == (-600.0,) and ppo.ended_before_wall == 0
    assert sac.at_wall.values == (-300.0,) and sac.ended_before_wall == 1
    assert sac.steps_in_wall.median == 50_000  # 100 steps/s x 500 s
    md = to_markdown(build_report(runs))
    assert "| final | AUC (0-20k) | @ dreamer wall time (8.3 min) |" in md
    assert "| ppo | 1 (0) |" in md and "| -600.0 (n=1) |" in md
    assert "| -300.0 (n=1) * |" in md
    assert "sac: 1 of 1 runs finished their budget in less time" in md and "`--steps 50000`" in md
    assert "hardware (each run's `system.json`): dreamer: AMD EPYC, 2 cores, 1 torch thread (2 runs)" in md
    assert "Warning" not in md.split("## Speed")[0].split("hardware")[1]
    data = to_json(build_report(runs))["envs"]["Pendulum-v1"]
    assert data["wall"] == {"reference": "dreamer", "seconds": 500.0, "steps": 20_000, "runs": 2}
    assert data["same_machine"] is True
    assert data["algos"]["sac"]["runs"][0]["at_wall"] == {"return": -300.0, "ended_before": True}
    assert data["algos"]["sac"]["runs"][0]["machines"][0]["threads"] == 1

    write_machine(p0, threads=2)  # another thread count: wall times no longer compare
    (tmp_path / "s0" / "system.json").unlink()  # and a run that recorded nothing
    md = to_markdown(build_report(load_runs(find_run_dirs([str(tmp_path)]))[0]))
    assert "ppo: AMD EPYC, 2 cores, 2 torch threads (1 run)" in md
    assert "sac: not recorded (1 run)" in md
    assert "Some runs recorded no machine" in md
    write_machine(s0)
    md = to_markdown(build_report(load_runs(find_run_dirs([str(tmp_path)]))[0]))
    assert "**Warning**: the runs recorded different machines or thread counts" in md
    assert "@ dreamer wall time" not in to_markdown(build_report(runs, wall_reference=None))
