"""The thread policy of ``--threads 0``: its decisions on given cores, load and environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agents.threads import (
    MAX_AUTO_THREADS,
    SMALL_MODEL_PARAMS,
    ThreadChoice,
    apply_threads,
    choose_threads,
    record_machine,
)

SMALL, LARGE = 437_532, 9_747_484  # the cpu and dreamerv3 presets on Walker2d


@pytest.mark.parametrize(
    "params,cores,load,threads",
    [
        (SMALL, 2, 1.9, 1),  # small model: one thread, however idle the machine
        (SMALL, 16, 0.0, 1),
        (LARGE, 16, 0.2, MAX_AUTO_THREADS),  # large model, idle machine: capped
        (LARGE, 16, 13.5, 2),  # 2.5 cores free: 2
        (LARGE, 2, 0.0, 2),
        (LARGE, 2, 1.9, 1),  # 0.1 core free: still one thread
        (LARGE, 2, 7.0, 1),  # overloaded
        (SMALL_MODEL_PARAMS, 8, 3.0, 4),  # the threshold counts as large
    ],
)
def test_auto_threads_follow_model_size_and_free_cores(
    params: int, cores: int, load: float, threads: int
) -> None:
    choice = choose_threads(0, params, cores=cores, load=load, environ={})
    assert choice.threads == threads
    assert choice.reason.startswith("auto:") and f"{cores} cores, load {load:.1f}" in choice.reason


def test_explicit_threads_and_omp_num_threads_win() -> None:
    assert choose_threads(3, SMALL, cores=2, load=5.0, environ={"OMP_NUM_THREADS": "1"}).threads == 3
    omp = choose_threads(0, LARGE, cores=16, load=0.0, environ={"OMP_NUM_THREADS": "2"})
    assert (omp.threads, omp.reason) == (2, "OMP_NUM_THREADS")
    bad = choose_threads(0, LARGE, cores=16, load=0.0, environ={"OMP_NUM_THREADS": "lots"})
    assert bad.threads == MAX_AUTO_THREADS  # unreadable: ignored


def test_start_line_and_apply(capsys: pytest.CaptureFixture[str]) -> None:
    line = choose_threads(0, SMALL, cores=2, load=1.94, environ={}).line()
    assert line == "threads: 1 (auto: small model, 2 cores, load 1.9)"
    choice = apply_threads(2, SMALL)  # the conftest fixture restores torch's thread count afterwards
    assert torch.get_num_threads() == 2 and choice.line() in capsys.readouterr().out


def test_the_machine_is_recorded_beside_the_devices(tmp_path: Path) -> None:
    """system.json keeps what the run directory wrote and gains each distinct machine once."""
    (tmp_path / "system.json").write_text(json.dumps({"devices": ["cpu"]}))
    choice = ThreadChoice(1, "--threads")
    entry = record_machine(tmp_path, choice)
    assert entry["threads"] == 1 and entry["cores"] >= 1 and entry["cpu"]
    record_machine(tmp_path, choice)  # a resumed session on the same machine: not repeated
    record_machine(tmp_path, ThreadChoice(2, "--threads"))
    data = json.loads((tmp_path / "system.json").read_text())
    assert data["devices"] == ["cpu"]
    assert [m["threads"] for m in data["machines"]] == [1, 2]
    assert data["machines"][0]["threads_reason"] == "--threads"
