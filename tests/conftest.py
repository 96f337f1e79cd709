"""Test-session set-up: headless MuJoCo rendering, one torch thread per process, SIGHUP at its default."""

from __future__ import annotations

import os
import signal

# The test process is where this process starts, so this is the place to pick the GL backend.
os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Iterator

import pytest
import torch

torch.set_num_threads(1)

# Under `nohup make test` the test process starts with SIGHUP ignored, which the runs respect (a nohup'ed
# run keeps running when its terminal closes); the tests of SIGHUP as a stop request need the default, and
# the one of nohup sets the ignore itself.
if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def _torch_global_state() -> Iterator[None]:
    """Leave torch's global state (threads, default dtype, grad mode) as every test found it."""
    threads, dtype, grad = torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled()
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    torch.set_grad_enabled(grad)
