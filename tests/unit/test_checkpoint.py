"""Checkpoints: round trip, keep-last-3, a crash mid-write, damaged files, RNG state."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agents import checkpoint
from agents.checkpoint import list_checkpoints, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from envs.errors import UserError


def model_state() -> dict[str, Any]:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {"model": net.state_dict(), "optim": opt.state_dict(), "episodes": 7, "note": "x", "none": None}


def test_round_trip_and_latest(tmp_path: Path) -> None:
    state = model_state()
    save_checkpoint(tmp_path, 100, state)
    path = save_checkpoint(tmp_path, 200, {**state, "episodes": 9})
    assert path == tmp_path / "ckpt-000000000200.pt"
    latest = load_checkpoint(tmp_path)
    assert latest["step"] == 200 and latest["episodes"] == 9
    torch.testing.assert_close(latest["model"]["weight"], state["model"]["weight"])
    assert latest["optim"]["param_groups"] == state["optim"]["param_groups"]
    assert load_checkpoint(tmp_path / "ckpt-000000000100.pt")["episodes"] == 7


def test_keeps_the_last_three(tmp_path: Path) -> None:
    for step in (5, 10, 1000, 20, 3000):
        save_checkpoint(tmp_path, step, {"step_seen": step})
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 1000, 3000]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-000000000020.pt",
        "ckpt-000000001000.pt",
        "ckpt-000000003000.pt",
    ]


def test_crash_mid_write_leaves_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_checkpoint(tmp_path, 100, {"value": torch.arange(4)})
    real_save = torch.save

    def crashing_save(obj: Any, f: Any) -> None:
        real_save(obj, f)
        f.truncate(f.tell() // 2)  # half the bytes are on disk ...
        raise KeyboardInterrupt  # ... when the process is interrupted

    monkeypatch.setattr(checkpoint.torch, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 200, {"value": torch.arange(8)})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-000000000100.pt"]
    restored = load_checkpoint(tmp_path)
    assert restored["step"] == 100
    torch.testing.assert_close(restored["value"], torch.arange(4))
    # A process killed outright leaves its temporary file; it is ignored, then cleaned up.
    (tmp_path / ".ckpt-000000000200.pt.x.tmp").write_bytes(b"partial")
    assert load_checkpoint(tmp_path)["step"] == 100
    save_checkpoint(tmp_path, 300, {"value": torch.arange(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000000100.pt", "ckpt-000000000300.pt"]


def test_damaged_or_missing_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no checkpoint in"):
        load_checkpoint(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "ckpt-000000000001.pt")
    good = save_checkpoint(tmp_path, 1, {"a": 1})
    bad = save_checkpoint(tmp_path, 2, {"a": 2})
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    assert load_checkpoint(tmp_path)["a"] == 1  # the newest that loads (tests/unit/test_faults.py)
    good.write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"none of the 2 checkpoints .*ckpt-000000000002\.pt is damaged"):
        load_checkpoint(tmp_path)
    good = save_checkpoint(tmp_path, 1, {"a": 1})
    bad.write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"ckpt-000000000002\.pt is damaged"):
        load_checkpoint(bad)
    assert load_checkpoint(good)["a"] == 1


def test_state_that_would_not_load_safely_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"state\['stats'\]\['mean'\] has type ndarray"):
        save_checkpoint(tmp_path, 1, {"stats": {"mean": np.zeros(3)}})
    with pytest.raises(TypeError, match="float64"):
        save_checkpoint(tmp_path, 1, {"x": np.float64(1.0)})
    assert list_checkpoints(tmp_path) == []


def test_rng_state_round_trip(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    save_checkpoint(tmp_path, 1, {"rng": rng_state()})
    first = (random.random(), np.random.rand(3), torch.rand(3))
    random.seed(10)
    np.random.seed(20)
    torch.manual_seed(30)
    set_rng_state(load_checkpoint(tmp_path)["rng"])
    again = (random.random(), np.random.rand(3), torch.rand(3))
    assert first[0] == again[0]
    np.testing.assert_array_equal(first[1], again[1])
    torch.testing.assert_close(first[2], again[2])


def test_process_killed_while_saving_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    """A real SIGKILL at an arbitrary moment of a loop of saves: the newest checkpoint still loads whole."""
    child = textwrap.dedent(
        f"""
        import sys, torch
        from agents.checkpoint import save_checkpoint
        step = 0
        while True:
            step += 1
            save_checkpoint({str(tmp_path)!r}, step, {{"x": torch.full((2_000_000,), float(step))}})
            if step == 1:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    state = load_checkpoint(tmp_path)
    assert state["step"] >= 1
    torch.testing.assert_close(state["x"], torch.full((2_000_000,), float(state["step"])))
    # A kill between the rename and the pruning of the oldest leaves one extra (whole) checkpoint.
    assert len(list_checkpoints(tmp_path)) <= 4


def test_flat_format_2_parts(tmp_path: Path) -> None:
    from agents.checkpoint import FORMAT

    save_checkpoint(tmp_path, 5, {"world_model": {"w": torch.ones(2)}, "counters": {"env_steps": 5}})
    state = load_checkpoint(tmp_path)
    assert state["format"] == FORMAT == 2 and state["step"] == 5
    assert set(state) == {"format", "step", "world_model", "counters"}
    raw = torch.load(tmp_path / "ckpt-000000000005.pt", weights_only=True)
    raw["format"] = 99
    torch.save(raw, tmp_path / "ckpt-000000000006.pt")
    with pytest.raises(UserError, match="format 99"):
        load_checkpoint(tmp_path)


def test_format_1_checkpoints_are_migrated(tmp_path: Path) -> None:
    """Format 1 nested the world model per agent: Dreamer, MPC over Dreamer, a world-model fit."""
    learner = {"model": {"w": torch.ones(1)}, "opt": {"state": {}}, "updates": 3}
    dreamer = {
        "learner": learner,
        "actor": {"a": torch.zeros(1)},
        "critic": {"c": torch.zeros(1)},
        "target_critic": {"c": torch.ones(1)},
        "actor_opt": {"state": {}},
        "critic_opt": {"state": {}},
        "normalizer": {"low": torch.zeros(())},
        "updates": 3,
    }
    common = {"counters": {"env_steps": 40}, "replay": {"rng": 1}, "rng": {"x": 2}}
    cases = {
        "dreamer": {"agent": dreamer, **common},
        "mpc": {
            "agent": {"learner": dreamer, "planner_rng": torch.zeros(2), "noise_rng": torch.ones(2)},
            **common,
        },
        "fit": {"learner": learner, "replay": {"rng": 1}, "rng": {"x": 2}},
    }
    for name, old in cases.items():
        path = tmp_path / name
        path.mkdir()
        torch.save({"step": 40, "state": old}, path / "ckpt-000000000040.pt")
        state = load_checkpoint(path)
        assert state["format"] == 2 and state["step"] == 40
        assert torch.equal(state["world_model"]["w"], torch.ones(1)), name
        assert state["counters"]["world_model_updates"] == 3
        if name != "fit":
            assert torch.equal(state["critic"]["slow"]["c"], torch.ones(1))
            assert set(state["optimizers"]) == {"world_model", "actor", "critic"}
            assert state["counters"]["env_steps"] == 40 and state["counters"]["agent_updates"] == 3
        assert ("planner" in state) == (name == "mpc")


def test_merge_parts() -> None:
    from agents.checkpoint import merge_parts

    merged = merge_parts({"optimizers": {"a": 1}, "x": 1}, {"optimizers": {"b": 2}})
    assert merged == {"optimizers": {"a": 1, "b": 2}, "x": 1}
    with pytest.raises(ValueError, match="given twice"):
        merge_parts({"x": 1}, {"x": 2})
    with pytest.raises(ValueError, match="given twice"):
        merge_parts({"counters": {"a": 1}}, {"counters": {"a": 2}})
