"""Lambda-returns, loss weights and the return normaliser against hand calculations."""

from __future__ import annotations

import pytest
import torch

from agents.returns import (
    ReturnNormalizer,
    SpreadNormalizer,
    discount_weights,
    lambda_return,
    replay_lambda_return,
)


def _t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_lambda_return_hand_calculation() -> None:
    # gamma = lam = 0.5, r = [1, 2], v = [0, 4, 8], no terminals:
    # R_1 = 2 + 0.5 * (0.5 * 8 + 0.5 * 8) = 6;  R_0 = 1 + 0.5 * (0.5 * 4 + 0.5 * 6) = 3.5
    ret = lambda_return(_t([1.0, 2.0]), _t([0.0, 4.0, 8.0]), _t([1.0, 1.0]), gamma=0.5, lam=0.5)
    assert torch.allclose(ret, _t([3.5, 6.0]))


def test_lambda_return_limits() -> None:
    r, v, c = _t([1.0, 2.0]), _t([0.0, 4.0, 8.0]), _t([1.0, 1.0])
    # lam = 0: one-step TD targets r_t + gamma v_{t+1}
    assert torch.allclose(lambda_return(r, v, c, gamma=0.5, lam=0.0), _t([3.0, 6.0]))
    # lam = 1: discounted sum bootstrapped at the horizon: 1 + 0.5 * 2 + 0.25 * 8 = 4
    assert torch.allclose(lambda_return(r, v, c, gamma=0.5, lam=1.0), _t([4.0, 6.0]))


def test_lambda_return_stops_at_terminal() -> None:
    # arriving in s_1 is terminal: R_0 = r_0 only; R_1 is unaffected (it is never used with weight)
    ret = lambda_return(_t([1.0, 2.0]), _t([0.0, 4.0, 8.0]), _t([0.0, 1.0]), gamma=0.5, lam=0.5)
    assert torch.allclose(ret, _t([1.0, 6.0]))


def test_lambda_return_batched_rows_independent() -> None:
    r = _t([1.0, 2.0], [0.0, 0.0])
    v = _t([0.0, 4.0, 8.0], [0.0, 0.0, 2.0])
    c = _t([1.0, 1.0], [1.0, 1.0])
    ret = lambda_return(r, v, c, gamma=0.5, lam=0.5)
    # row 2: R_1 = 0.5 * 2 = 1; R_0 = 0.5 * (0.5 * 0 + 0.5 * 1) = 0.25
    assert torch.allclose(ret, _t([3.5, 6.0], [0.25, 1.0]))


def test_replay_lambda_return_hand_calculation() -> None:
    # records 0-2: episode A, record 2 terminal; records 3-4: episode B (cut by the sequence end)
    reward = _t([0.0, 1.0, 2.0, 0.0, 5.0])
    terminated = torch.tensor([[False, False, True, False, False]])
    is_first = torch.tensor([[True, False, False, True, False]])
    boot = _t([10.0, 20.0, 30.0, 40.0, 50.0])
    ret, weight = replay_lambda_return(reward, terminated, is_first, boot, gamma=0.5, lam=0.5)
    # R_3 = 5 + 0.5 * 50 = 30 (record 4 ends the sequence: bootstrap only)
    # R_1 = 2 (arriving in record 2 is terminal); R_0 = 1 + 0.5 * (0.5 * 20 + 0.5 * 2) = 6.5
    # record 2 is the last of episode A: no return, weight 0
    assert weight.tolist() == [[1.0, 1.0, 0.0, 1.0]]
    assert torch.allclose(ret[weight > 0], torch.tensor([6.5, 2.0, 30.0]))


def test_replay_lambda_return_lam_one_is_monte_carlo() -> None:
    reward = _t([0.0, 1.0, 1.0, 1.0])
    terminated = torch.tensor([[False, False, False, True]])
    is_first = torch.tensor([[True, False, False, False]])
    ret, weight = replay_lambda_return(
        reward, terminated, is_first, torch.full((1, 4), 99.0), gamma=0.9, lam=1.0
    )
    assert torch.allclose(ret, _t([1 + 0.9 + 0.81, 1.9, 1.0]))
    assert weight.tolist() == [[1.0, 1.0, 1.0]]


def test_discount_weights() -> None:
    w = discount_weights(_t([1.0, 0.0, 1.0]), gamma=0.5)
    # w_0 = 1, w_1 = 0.5 * 1, w_2 = 0.5 * 0.5 * 0 = 0 (after the terminal state)
    assert torch.allclose(w, _t([1.0, 0.5, 0.0]))


def test_return_normalizer_ema_of_percentiles() -> None:
    norm = ReturnNormalizer(decay=0.9)
    x = torch.arange(101, dtype=torch.float32)  # 5th percentile 5, 95th percentile 95
    norm.update(x)
    assert norm.low.item() == pytest.approx(0.5)
    assert norm.high.item() == pytest.approx(9.5)
    assert norm.scale().item() == pytest.approx(9.0)
    norm.update(x)
    assert norm.low.item() == pytest.approx(0.9 * 0.5 + 0.5)
    assert norm.high.item() == pytest.approx(0.9 * 9.5 + 9.5)
    assert int(norm.count) == 2


def test_return_normalizer_floor_and_state_dict() -> None:
    norm = ReturnNormalizer(decay=0.0)
    norm.update(torch.tensor([0.1, 0.2, 0.3]))
    assert norm.scale().item() == pytest.approx(1.0)  # a small range is not blown up
    norm.update(torch.linspace(-50.0, 50.0, 101))
    assert norm.scale().item() == pytest.approx(90.0)
    other = ReturnNormalizer(decay=0.0)
    other.load_state_dict(norm.state_dict())
    assert other.scale().item() == pytest.approx(90.0)


def test_return_normalizer_ignores_a_non_finite_batch() -> None:
    norm = ReturnNormalizer(decay=0.5)
    norm.update(torch.linspace(0.0, 100.0, 101))
    low, high = float(norm.low), float(norm.high)
    norm.update(torch.tensor([1.0, float("nan"), 3.0]))
    norm.update(torch.tensor([float("inf"), 2.0]))
    assert float(norm.low) == pytest.approx(low) and float(norm.high) == pytest.approx(high)
    assert torch.isfinite(norm.scale())
    norm.update(torch.linspace(0.0, 100.0, 101))  # a sound batch moves them again
    assert float(norm.high) == pytest.approx(0.5 * high + 0.5 * 95.0)


def test_spread_normalizer_starts_at_the_first_batch_then_follows_an_ema_of_the_variance() -> None:
    norm = SpreadNormalizer(decay=0.9)
    norm.update(torch.tensor([1.0, 3.0]))  # variance (unbiased) 2: the first batch sets it, no zero start
    assert norm.var.item() == pytest.approx(2.0)
    assert norm.scale().item() == pytest.approx(2.0**0.5)
    norm.update(torch.tensor([0.0, 0.0, 6.0, 6.0]))  # variance 12: 0.9 * 2 + 0.1 * 12 = 3
    assert norm.var.item() == pytest.approx(3.0)
    assert norm.scale().item() == pytest.approx(3.0**0.5)
    norm.update(torch.tensor([float("nan"), 1.0]))  # a diverged batch leaves the estimate
    assert norm.var.item() == pytest.approx(3.0) and int(norm.count) == 3
    flat = SpreadNormalizer(decay=0.0)
    flat.update(torch.full((8,), 5.0))  # equal advantages: the floor, not a division by zero
    assert flat.scale().item() == pytest.approx(0.1)
    other = SpreadNormalizer()
    other.load_state_dict(norm.state_dict())
    assert other.scale().item() == pytest.approx(3.0**0.5)
