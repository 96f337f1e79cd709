"""Tiny ``python -m scripts.baseline`` runs in a subprocess: what they write, refusal, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.evaluation import EVAL_COLUMNS
from envs.episode import Episode

EPISODE_FIELDS = ("obs", "action", "reward", "terminated", "truncated", "is_first")

REPO = Path(__file__).resolve().parents[2]

# A tiny but real SAC run: updates start after 100 agent steps, two evaluations of 2 episodes.
TINY_SAC = [
    "--algo", "sac", "--env", "Pendulum", "--seed", "3",
    "--eval-every", "150", "--eval-episodes", "2",
    "--hp.learning-starts", "100", "--hp.batch-size", "32", "--hp.buffer-size", "1000",
]  # fmt: skip


def run_baseline(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    return subprocess.run(
        [sys.executable, "-m", "scripts.baseline", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_csv(path: Path) -> tuple[list[str], list[dict[str, float]]]:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]
    return header, rows


def eval_scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points: list[tuple[int, float]] = []
    for events in sorted(run_dir.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            points += [(e.step, e.value) for e in acc.Scalars(tag)]
    return sorted(points)


def test_tiny_sac_run_writes_the_run_directory_refuses_reuse_and_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_baseline(*TINY_SAC, "--steps", "300", "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stderr

    # eval.csv: the shared columns, one row per evaluation, in simulator steps.
    header, rows = read_csv(run_dir / "eval.csv")
    assert tuple(header) == EVAL_COLUMNS
    assert [int(r["step"]) for r in rows] == [150, 300]
    for r in rows:
        assert r["episodes"] == 2 and r["length_mean"] == 200  # Pendulum's time limit
        assert -2000 < r["return_min"] <= r["return_mean"] <= r["return_max"] <= 0
        assert r["wall_time"] > 0
    assert rows[1]["wall_time"] > rows[0]["wall_time"]

    # config.yaml holds the final config, hyperparams.yaml the resolved SB3 settings.
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["algo"] == "sac" and config["steps"] == 300 and config["hp"]["batch_size"] == 32
    hp = yaml.safe_load((run_dir / "hyperparams.yaml").read_text())
    assert hp["kwargs"]["learning_rate"] == 1e-3 and "sac.yml" in hp["source"]

    # The run ends with a summary: steps, wall time, last evaluation, run directory.
    lines = done.stdout.splitlines()
    assert any(line.startswith("done: 300 env steps") and "wall time" in line for line in lines), done.stdout
    assert f"last evaluation: return {rows[1]['return_mean']:.1f} at step 300" in lines
    assert f"run directory: {run_dir}" in lines
    assert "step 100: random warm-up done, updates start" in lines
    assert "threads: 1 (OMP_NUM_THREADS)" in lines  # the thread policy of the other scripts
    system = json.loads((run_dir / "system.json").read_text())
    assert system["machines"][0]["threads"] == 1 and system["machines"][0]["cores"] >= 1

    # TensorBoard events with the evaluation curve.
    assert [step for step, _ in eval_scalars(run_dir, "eval/return_mean")] == [150, 300]

    # The final model loads with plain SB3 and acts in [-1, 1]; the replay buffer is kept.
    from stable_baselines3 import SAC

    model = SAC.load(run_dir / "checkpoints" / "model.zip", device="cpu")
    assert model.num_timesteps == 300
    assert model._n_updates == 200  # the update after the last step is in the final checkpoint too
    action, _ = model.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,) and abs(float(action[0])) <= 1.0
    assert (run_dir / "checkpoints" / "replay_buffer.pkl").is_file()

    # The same run directory again without --resume: one-line error, exit 2, nothing overwritten.
    again = run_baseline(*TINY_SAC, "--steps", "300", "--run-dir", str(run_dir))
    assert again.returncode == 2
    assert again.stderr.startswith("error: ") and again.stderr.count("\n") == 1
    assert "exists" in again.stderr and "--resume" in again.stderr
    assert len(read_csv(run_dir / "eval.csv")[1]) == 2

    # --resume continues to the new budget with the saved config.
    resumed = run_baseline("--resume", "--run-dir", str(run_dir), "--steps", "450")
    assert resumed.returncode == 0, resumed.stderr
    _, rows = read_csv(run_dir / "eval.csv")
    assert [int(r["step"]) for r in rows] == [150, 300, 450]
    assert SAC.load(run_dir / "checkpoints" / "model.zip", device="cpu").num_timesteps == 450

    # ... and refuses to change the hyperparameters of the run.
    changed = run_baseline("--resume", "--run-dir", str(run_dir), "--hp.batch-size", "64")
    assert changed.returncode == 2 and "hp.batch_size" in changed.stderr


def test_bad_options_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = run_baseline(
        "--algo", "ppo", "--hp.buffer-size", "10", "--steps", "10", "--run-dir", str(tmp_path / "r")
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --hp.buffer-size does not apply to ppo"


@pytest.mark.mujoco
def test_tiny_ppo_run_on_mujoco_keeps_the_normaliser(tmp_path: Path) -> None:
    run_dir = tmp_path / "ppo"
    done = run_baseline(
        "--algo", "ppo", "--env", "InvertedPendulum", "--steps", "64", "--eval-every", "32",
        "--eval-episodes", "2", "--hp.n-steps", "32", "--hp.batch-size", "32", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, rows = read_csv(run_dir / "eval.csv")
    assert [int(r["step"]) for r in rows] == [32, 64]
    assert all(r["length_mean"] >= 1 for r in rows)
    assert (run_dir / "checkpoints" / "vecnormalize.pkl").is_file()
    assert (run_dir / "checkpoints" / "model.zip").is_file()


def test_sigterm_checkpoints_and_resume_continues(tmp_path: Path) -> None:
    import signal
    import time

    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    args = [*TINY_SAC, "--steps", "100000", "--run-dir", str(run_dir)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.baseline", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    eval_csv = run_dir / "eval.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (eval_csv.is_file() and len(read_csv(eval_csv)[1]) >= 1):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert (run_dir / "checkpoints" / "model.zip").is_file()
    # the stop ends with the summary of the other scripts and the command that continues the run
    tail = stdout[stdout.index("stopped (checkpoint saved): ") :].splitlines()
    assert "env steps" in tail[0] and "updates this session" in tail[0], stdout
    assert tail[1].startswith("last evaluation: return ")
    assert f"run directory: {run_dir}" in tail
    assert tail[-1] == f"continue with: python -m scripts.baseline --resume --run-dir {run_dir}"
    stopped_at = max(row["step"] for row in read_csv(eval_csv)[1])
    resumed = run_baseline("--resume", "--run-dir", str(run_dir), "--steps", str(int(stopped_at) + 150))
    assert resumed.returncode == 0, resumed.stderr
    assert max(row["step"] for row in read_csv(eval_csv)[1]) >= stopped_at + 150


def read_episode(path: Path) -> Episode:
    with np.load(path) as data:
        return Episode(**{name: data[name] for name in EPISODE_FIELDS})


def test_sac_writes_every_training_episode_as_the_env_played_it(tmp_path: Path) -> None:
    """episodes/ holds what SB3 collected, in the replay's format, so a world model can be fitted on it."""
    from envs import EnvConfig, make_env, seeds

    run_dir = tmp_path / "run"
    done = run_baseline(
        *TINY_SAC, "--envs.max-episode-steps", "50", "--steps", "300", "--run-dir", str(run_dir)
    )
    assert done.returncode == 0, done.stderr
    files = sorted((run_dir / "episodes").glob("*.npz"))
    assert [f.name for f in files] == [f"{i:06d}-51.npz" for i in range(6)]  # 300 steps = 6 episodes of 50

    # Replay each episode's actions in a reference env that resets like SB3's vector env: seeded once at
    # the start of training (seed 3 -> train seed 3000), then unseeded after each episode.
    reference = make_env("Pendulum", EnvConfig(max_episode_steps=50))
    start = reference.reset(seed=seeds.train_seed(3))[0]
    for path in files:
        ep = read_episode(path)
        assert ep.is_first.tolist() == [True] + [False] * 50
        assert ep.obs.dtype == np.float32 and ep.obs.shape == (51, 3)
        assert ep.action.dtype == np.float32 and np.all(np.abs(ep.action) <= 1) and not ep.action[0].any()
        assert ep.reward[0] == 0 and not ep.terminated.any()
        assert ep.truncated.tolist() == [False] * 50 + [True]  # Pendulum's end is a time limit
        np.testing.assert_array_equal(ep.obs[0], start)  # a reset observation
        for t in range(1, 51):
            obs, reward, terminated, truncated, _ = reference.step(ep.action[t])
            np.testing.assert_array_equal(ep.obs[t], obs)
            assert ep.reward[t] == np.float32(reward)
            assert (ep.terminated[t], ep.truncated[t]) == (terminated, truncated)
        start = reference.reset()[0]

    # TensorBoard: the mean return of the training episodes under Dreamer's name, at SB3's log dump
    # (every 4 episodes: the 4th ends at step 200); speeds under Dreamer's names at each evaluation.
    first_four = [read_episode(path).reward.sum() for path in files[:4]]
    ((step, value),) = eval_scalars(run_dir, "train/episode_return")
    assert step == 200 and value == pytest.approx(float(np.mean(first_four)), rel=1e-5)
    assert eval_scalars(run_dir, "train/episodes") == [(200, 4.0)]
    assert [s for s, _ in eval_scalars(run_dir, "time/env_steps_per_s")] == [150, 300]
    assert [s for s, _ in eval_scalars(run_dir, "time/update_ms")] == [150, 300]

    # A resumed run continues the numbering; its envs are reseeded past the steps done.
    resumed = run_baseline("--resume", "--run-dir", str(run_dir), "--steps", "450")
    assert resumed.returncode == 0, resumed.stderr
    names = sorted(p.name for p in (run_dir / "episodes").glob("*.npz"))
    assert names == [f"{i:06d}-51.npz" for i in range(9)]
    first_resumed = read_episode(run_dir / "episodes" / "000006-51.npz")
    np.testing.assert_array_equal(first_resumed.obs[0], reference.reset(seed=seeds.train_seed(3) + 300)[0])


def test_budgets_that_do_nothing_are_announced(tmp_path: Path) -> None:
    """A budget inside the random warm-up says so at the start and in the summary; PPO stops at its budget
    instead of finishing a rollout of 4 x 1024 steps."""
    warm = run_baseline(
        *TINY_SAC, "--hp.learning-starts", "300", "--steps", "300", "--run-dir", str(tmp_path / "sac")
    )
    assert warm.returncode == 0, warm.stderr
    warning = "warning: --steps 300 ends within sac's random warm-up of 300 steps"
    assert warm.stdout.count(warning) == 2, warm.stdout  # at the start, and again under the summary
    assert "(300 and 0 updates this session)" in warm.stdout

    ppo_dir = tmp_path / "ppo"
    ppo = run_baseline(
        "--algo", "ppo", "--env", "Pendulum", "--steps", "400", "--eval-every", "200", "--eval-episodes", "1",
        "--run-dir", str(ppo_dir),
    )  # fmt: skip
    assert ppo.returncode == 0, ppo.stderr
    assert "warning: 400 steps to go are fewer than one PPO rollout of 4,096 steps" in ppo.stdout
    assert [int(r["step"]) for r in read_csv(ppo_dir / "eval.csv")[1]] == [200, 400]  # not 4,096
    from stable_baselines3 import PPO

    assert PPO.load(ppo_dir / "checkpoints" / "model.zip", device="cpu").num_timesteps == 400


def test_ppo_logs_its_entropy_under_the_actor_name(tmp_path: Path) -> None:
    run_dir = tmp_path / "ppo"
    done = run_baseline(
        "--algo", "ppo", "--env", "Pendulum", "--steps", "400", "--eval-every", "400", "--eval-episodes", "1",
        "--hp.n-steps", "32", "--hp.batch-size", "64", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "note: PPO updates after every rollout of 128 steps: the last 16 of the 400 steps" in done.stdout
    # SB3 dumps an update's metrics after the next rollout: the first two of three updates are logged
    entropy = eval_scalars(run_dir, "actor/entropy")
    loss = eval_scalars(run_dir, "train/entropy_loss")
    assert [s for s, _ in entropy] == [256, 384] and entropy == [(s, -v) for s, v in loss]
    assert eval_scalars(run_dir, "train/updates")[-1] == (384, 40.0)  # 2 updates x 10 epochs x 2 batches


@pytest.mark.parametrize("algo", ["crossq", "tqc"])
def test_sb3_contrib_algorithms_run_evaluate_and_resume(tmp_path: Path, algo: str) -> None:
    run_dir = tmp_path / algo
    tiny = [
        "--algo", algo, "--env", "Pendulum", "--seed", "1", "--eval-every", "100", "--eval-episodes", "1",
        "--hp.learning-starts", "50", "--hp.batch-size", "16", "--hp.buffer-size", "500",
        "--hp.net-arch", "32", "32",
    ]  # fmt: skip
    done = run_baseline(*tiny, "--steps", "200", "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stderr
    assert f"{algo} on Pendulum-v1 (RL Baselines3 Zoo (rl-zoo3 2.9.2) hyperparams/{algo}.yml" in done.stdout
    assert [int(r["step"]) for r in read_csv(run_dir / "eval.csv")[1]] == [100, 200]
    hp = yaml.safe_load((run_dir / "hyperparams.yaml").read_text())
    assert hp["algo"] == algo and hp["kwargs"]["policy_kwargs"]["net_arch"] == [32, 32]
    import sb3_contrib

    cls = {"crossq": sb3_contrib.CrossQ, "tqc": sb3_contrib.TQC}[algo]
    model = cls.load(run_dir / "checkpoints" / "model.zip", device="cpu")
    assert model.num_timesteps == 200 and model._n_updates == 150
    assert len(list((run_dir / "episodes").glob("*.npz"))) == 1  # one 200-step Pendulum episode
    resumed = run_baseline("--resume", "--run-dir", str(run_dir), "--steps", "300")
    assert resumed.returncode == 0, resumed.stderr
    assert [int(r["step"]) for r in read_csv(run_dir / "eval.csv")[1]] == [100, 200, 300]
