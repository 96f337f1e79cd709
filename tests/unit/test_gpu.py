"""The CUDA path (skipped without a GPU; marked ``gpu``): compiled loops, autocast, replay transfers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.configs import DREAM_PRESETS
from agents.dreamer import DreamerAgent
from analysis.speed import random_batch
from envs.episode import SequenceBatch
from envs.replay import to_torch
from world_model import WorldModel, world_model_preset

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
CUDA = torch.device("cuda")


def test_compiled_steps_with_cuda_graphs_match_eager() -> None:
    torch.manual_seed(0)
    model = WorldModel(world_model_preset("tiny"), (17,), 6).to(CUDA)
    model.train(False)
    batch = random_batch(4, 8, 17, 6, CUDA)

    def run() -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        loss, _, post = model.loss(batch)
        loss.backward()
        with torch.no_grad():
            feat = model.imagine(post.flatten(), lambda f: torch.tanh(f[:, :6]), 5).feat
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None], feat

    eager = run()
    model.rssm.compile_steps(mode="reduce-overhead", dynamic=False)
    for _ in range(3):  # compile, record the graphs, replay them
        compiled = run()
    torch.testing.assert_close(eager[0], compiled[0], rtol=1e-3, atol=1e-4)
    for a, b in zip(eager[1], compiled[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(eager[2], compiled[2], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("compiled", [False, True])
def test_amp_updates_and_acting_on_cuda(compiled: bool) -> None:
    cfg = DREAM_PRESETS["debug"]
    torch.manual_seed(0)
    agent = DreamerAgent.build(cfg.model, cfg.agent, (17,), 6, device=CUDA, amp=True)
    if compiled:
        agent.compile()
    batch = random_batch(cfg.train.batch_size, cfg.train.seq_len, 17, 6, CUDA)
    for _ in range(3):
        metrics = agent.update(batch)
    assert all(np.isfinite(v) for v in metrics.values())
    from envs.episode import StepObs

    action, _ = agent.act(StepObs(np.zeros((2, 17)), np.ones(2, bool)), None, deterministic=False)
    assert action.shape == (2, 6) and action.dtype == np.float32


def test_replay_batches_reach_the_gpu_intact() -> None:
    rng = np.random.default_rng(0)
    batch = SequenceBatch(
        obs=rng.integers(0, 255, (2, 3, 8, 8, 3), dtype=np.uint8),
        action=rng.uniform(-1, 1, (2, 3, 6)).astype(np.float32),
        reward=rng.normal(size=(2, 3)).astype(np.float32),
        terminated=np.zeros((2, 3), bool),
        truncated=np.zeros((2, 3), bool),
        is_first=np.eye(2, 3, dtype=bool),
    )
    out = to_torch(batch, CUDA)
    for a, t in zip(batch, out, strict=True):
        assert t.device.type == "cuda" and np.array_equal(t.cpu().numpy(), a)
