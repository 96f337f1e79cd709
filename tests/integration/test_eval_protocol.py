"""One evaluation protocol for every agent: a Dreamer run and a SAC run with the same --seed start their
evaluation episodes from identical states (both run in process, tiny budgets)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import agents.evaluation
from agents.baselines import train_baseline
from agents.config import RunConfig
from agents.zoo import Sb3Options
from envs.seeds import eval_seed

ENV = "Pendulum"


class _Recorder:
    """Wraps ``make_vector_env`` as the evaluation calls it and records each first reset."""

    def __init__(self) -> None:
        self.resets: list[tuple[int | None, np.ndarray]] = []
        self._make = agents.evaluation.make_vector_env

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        venv = self._make(*args, **kwargs)
        reset, resets = venv.reset, self.resets

        def recording_reset(*a: Any, **kw: Any) -> Any:
            obs, info = reset(*a, **kw)
            resets.append((kw.get("seed"), np.array(obs)))
            return obs, info

        venv.reset = recording_reset
        return venv


@pytest.mark.mujoco
def test_dreamer_and_sac_evaluate_from_the_same_start_states(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts import dream

    seed = 3
    rec = _Recorder()
    monkeypatch.setattr(agents.evaluation, "make_vector_env", rec)
    argv = ["dream", "--preset", "debug", "--env", ENV, "--seed", str(seed), "--steps", "200"]
    monkeypatch.setattr(sys, "argv", [*argv, "--eval-every", "200", "--run-dir", str(tmp_path / "d")])
    dream.main()
    dreamer_resets = list(rec.resets)
    rec.resets.clear()
    cfg = RunConfig(env=ENV, steps=200, seed=seed, eval_every=200, eval_episodes=1, run_dir=tmp_path / "sac")
    train_baseline(cfg, algo="sac", options=Sb3Options(learning_starts=100))
    sac_resets = list(rec.resets)

    assert dreamer_resets and sac_resets
    assert {s for s, _ in dreamer_resets} == {s for s, _ in sac_resets} == {eval_seed(seed)}
    np.testing.assert_array_equal(dreamer_resets[0][1], sac_resets[0][1])
