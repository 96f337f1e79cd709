"""Test-session set-up: headless MuJoCo rendering and one torch thread per test process."""

from __future__ import annotations

import os

# The test process is where this process starts, so this is the place to pick the GL backend.
os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Iterator

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _torch_global_state() -> Iterator[None]:
    """Leave torch's global state (threads, default dtype, grad mode) as every test found it."""
    threads, dtype, grad = torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled()
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    torch.set_grad_enabled(grad)
