"""Test-session set-up: headless MuJoCo rendering and one torch thread per test process."""

from __future__ import annotations

import os

# The test process is where this process starts, so this is the place to pick the GL backend.
os.environ.setdefault("MUJOCO_GL", "egl")

import torch

torch.set_num_threads(1)
