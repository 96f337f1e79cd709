"""The evaluation protocol (on a real MuJoCo env) and eval.csv (EvalLog)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.evaluation import EVAL_COLUMNS, EvalLog, EvalResult, evaluate, read_eval_csv
from envs import make_env
from envs.config import EnvConfig
from envs.episode import StepObs
from envs.seeds import eval_seed, train_seed

ENV = "InvertedPendulum"


def controller(obs: np.ndarray) -> np.ndarray:
    """A poor fixed controller: the pole falls after 10-20 steps, at different times per start state."""
    return np.tanh(-2.0 * obs[..., 1:2] + 0.3 * obs[..., 0:1]).astype(np.float32)


class FakePolicy:
    """Stateless per-row controller that records what it was shown."""

    def __init__(self) -> None:
        self.first_obs: np.ndarray | None = None
        self.calls = 0

    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        assert deterministic
        if state is None:
            assert obs.is_first.all()
            self.first_obs = obs.obs.copy()
        else:
            assert not obs.is_first.any()
        self.calls += 1
        return controller(obs.obs), "state"


def first_episode(seed: int, action_repeat: int) -> tuple[float, int, np.ndarray]:
    """(return, simulator steps, first obs) of one env run by hand with the same controller."""
    env = make_env(ENV, EnvConfig(action_repeat=action_repeat))
    obs, _ = env.reset(seed=seed)
    first, total, steps = np.asarray(obs).copy(), 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(controller(np.asarray(obs)))
        total += float(reward)
        steps += action_repeat
        if terminated or truncated:
            env.close()
            return total, steps, first


@pytest.mark.mujoco
@pytest.mark.parametrize("action_repeat", [1, 2])
def test_protocol_counts_first_episodes_with_eval_seeds(action_repeat: int) -> None:
    policy = FakePolicy()
    result = evaluate(policy, ENV, EnvConfig(action_repeat=action_repeat, num_envs=3), episodes=5, seed=2)
    assert result.episodes == 5 and result.returns.shape == result.lengths.shape == (5,)
    assert len(set(result.lengths.tolist())) > 1  # episodes end at different times ...
    assert policy.calls == result.lengths.max() // action_repeat  # ... and the longest one sets the pace
    expected = [first_episode(eval_seed(2) + i, action_repeat) for i in range(5)]
    np.testing.assert_allclose(result.returns, [e[0] for e in expected])
    np.testing.assert_array_equal(result.lengths, [e[1] for e in expected])
    assert policy.first_obs is not None
    np.testing.assert_allclose(policy.first_obs, np.stack([e[2] for e in expected]))
    # Evaluation starts differ from the training envs' starts.
    for i in range(5):
        train_obs, _ = make_env(ENV).reset(seed=train_seed(2) + i)
        assert not np.allclose(policy.first_obs[i], train_obs)


@pytest.mark.mujoco
def test_evaluation_is_deterministic() -> None:
    a = evaluate(FakePolicy(), ENV, EnvConfig(), episodes=3, seed=0)
    b = evaluate(FakePolicy(), ENV, EnvConfig(), episodes=3, seed=0)
    np.testing.assert_array_equal(a.returns, b.returns)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    c = evaluate(FakePolicy(), ENV, EnvConfig(), episodes=3, seed=1)
    assert not np.array_equal(a.returns, c.returns) or not np.array_equal(a.lengths, c.lengths)


def result(returns: list[float]) -> EvalResult:
    return EvalResult(returns=np.array(returns), lengths=np.array([10] * len(returns)))


def test_eval_result_statistics() -> None:
    r = result([1.0, 2.0, 6.0])
    assert (r.episodes, r.return_mean, r.return_min, r.return_max, r.length_mean) == (3, 3.0, 1.0, 6.0, 10.0)
    assert r.return_std == pytest.approx(np.std([1.0, 2.0, 6.0]))
    assert set(r.metrics()) == {f"eval/{k}" for k in EVAL_COLUMNS[3:]}


def test_eval_log_appends_and_flushes(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    log = EvalLog(path)
    assert path.read_text() == ",".join(EVAL_COLUMNS) + "\n"
    log.write(1000, result([1.0, 3.0]))
    # Flushed: another reader sees the row while the log is still open.
    rows = read_eval_csv(path)
    assert len(rows) == 1 and rows[0]["step"] == 1000 and rows[0]["episodes"] == 2
    assert rows[0]["return_mean"] == 2.0 and rows[0]["return_std"] == 1.0 and rows[0]["length_mean"] == 10.0
    log.write(2000, result([5.0]))
    assert [r["step"] for r in log.rows()] == [1000, 2000]
    assert rows[0]["wall_time"] >= 0.0


def test_eval_log_resume_drops_later_rows_and_keeps_wall_time(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    log = EvalLog(path)
    for step in (1000, 2000, 3000):
        log.write(step, result([float(step)]))
    # A crash mid-write leaves a cut line; the run resumes from the checkpoint at step 2000.
    with path.open("a") as f:
        f.write("4000,12.5,1,40")
    rows = read_eval_csv(path)
    assert [r["step"] for r in rows] == [1000, 2000, 3000]
    resumed = EvalLog(path, resume_step=2000, elapsed=100.0)
    assert [r["step"] for r in resumed.rows()] == [1000, 2000]
    assert path.read_text().count("\n") == 3
    resumed.write(3000, result([7.0]))
    rows = resumed.rows()
    assert [r["step"] for r in rows] == [1000, 2000, 3000]
    assert rows[-1]["wall_time"] >= 100.0 and rows[-1]["return_mean"] == 7.0
    # Without `elapsed`, the clock continues from the last kept row.
    again = EvalLog(path, resume_step=3000)
    assert again.elapsed() >= rows[-1]["wall_time"]
    # A cut line is repaired even without resume, so the next row starts on its own line.
    with path.open("a") as f:
        f.write("9000,1")
    fixed = EvalLog(path)
    fixed.write(4000, result([1.0]))
    assert [r["step"] for r in fixed.rows()] == [1000, 2000, 3000, 4000]
