"""Diagnostics of an imagination-trained agent on real episodes: does its critic match reality, does
its world model see the episode ends?

Known failure modes of Dreamer-style agents on locomotion, each with a number:

- **value overestimation**: the critic learns from imagined returns; on real states its value can drift
  far above the discounted return the agent really gets. ``overestimation`` = mean critic value over
  mean discounted Monte-Carlo return-to-go of the same real states (1 is calibrated; reported where that
  return is clearly positive), ``value_bias`` = their difference in return units (any sign of return).
- **missed terminal states**: a continue head that rarely predicts a fall lets imagined trajectories
  run on after the walker has fallen. ``cont_at_terminal`` is the mean P(continue) at real terminal
  states (should be near 0), ``terminal_missed`` the fraction of them above 0.5, and
  ``cont_before_terminal`` the mean P(continue) one to five steps before them. The training loop also
  scores each new terminated episode as it arrives, before any update has trained on it
  (``unseen_cont_at_terminal``, ``unseen_terminal_missed`` over the newest 16): a head that catches the
  falls of its replay but misses new ones has memorised its falls rather than learnt what a fall is.
- **saturated actions** (from the update metrics, ``actor/saturated``): the share of action
  dimensions whose mean is beyond 0.95 in size, where exploration and the gradient vanish.

:func:`warnings_for` turns these into one-line warnings; the training loop prints each once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from envs.episode import Episode
from world_model import DreamWorld

OVERESTIMATION_WARN = 2.0
"""Warn when the critic's value is more than this multiple of the real discounted return."""
SATURATION_WARN = 0.5
"""Warn when more than this share of action dimensions is saturated."""
UNSEEN_MISSED_WARN = 0.5
"""Warn when the continue head misses more than this share of the falls it has not trained on."""
MIN_RETURN_FOR_RATIO = 1.0
"""The overestimation ratio is reported only where the mean real return is at least this (a ratio of
values near 0, or of negative returns, would not say which way the critic errs: ``value_bias`` does)."""
TAIL = 0.05
"""Truncated episodes: only states whose unseen tail weighs less than this (gamma^k < TAIL) count."""


def discounted_return_to_go(reward: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_{k >= 1} gamma^(k-1) r_{t+k} for the records of one episode (storage convention).

    Args:
        reward: (L + 1,) rewards, ``reward[t]`` received on arriving in record t.
        gamma: discount per step.

    Returns:
        (L + 1,) return-to-go of each record (0 at the last one).
    """
    out = np.zeros(len(reward), dtype=np.float64)
    acc = 0.0
    for t in range(len(reward) - 2, -1, -1):
        acc = float(reward[t + 1]) + gamma * acc
        out[t] = acc
    return out


@torch.no_grad()
def value_diagnostics(
    world_model: DreamWorld,
    value: Callable[[Tensor], Tensor],
    episodes: Sequence[Episode],
    *,
    gamma: float,
    device: torch.device,
) -> dict[str, float]:
    """Critic and continue head on real episodes, observed from their start by the world model.

    Args:
        world_model: the agent's model (its posterior gives the states the critic is asked about).
        value: the critic's expected value, ``feat (..., F) -> (...)``.
        episodes: finished real episodes (e.g. the newest ones of the replay).
        gamma: the agent's discount per step.
        device: where the model lives.

    Returns:
        ``diag/value_mean``, ``diag/mc_return_mean``, ``diag/value_bias``, ``diag/overestimation`` (from
        terminated episodes and states of truncated ones far enough from the cut), and where terminal
        states exist
        ``diag/cont_at_terminal``, ``diag/terminal_missed``, ``diag/cont_before_terminal``; empty if
        no episode is given.
    """
    values, returns, at_term, before_term = [], [], [], []
    tail = math.inf if gamma >= 1 else math.log(TAIL) / math.log(gamma)
    was_training = world_model.training
    world_model.eval()
    try:
        for ep in episodes:
            obs = torch.as_tensor(ep.obs, device=device).unsqueeze(0)
            if obs.is_floating_point():
                obs = obs.float()
            action = torch.as_tensor(ep.action, device=device, dtype=torch.float32).unsqueeze(0)
            first = torch.as_tensor(ep.is_first, device=device).unsqueeze(0)
            post, _ = world_model.observe(obs, action, first)
            feat = world_model.feat(post)[0]  # (L + 1, F)
            v = value(feat).float().cpu().numpy()
            g = discounted_return_to_go(ep.reward, gamma)
            n = len(ep)
            terminal = bool(ep.terminated[-1])
            # states whose return-to-go is known: all but the last of a terminated episode; for a
            # truncated one those with enough steps left that the unseen tail hardly counts
            keep = np.arange(n) < n - 1 if terminal else (n - 1 - np.arange(n)) >= tail
            values.append(v[keep])
            returns.append(g[keep])
            if terminal:
                cont = world_model.observed_cont(post, action)[0].float().cpu().numpy()
                at_term.append(cont[-1])
                before_term.extend(cont[max(0, n - 6) : n - 1].tolist())
    finally:
        world_model.train(was_training)
    out: dict[str, float] = {}
    if values:
        v_all, g_all = np.concatenate(values), np.concatenate(returns)
        if len(v_all):
            out["diag/value_mean"] = float(v_all.mean())
            out["diag/mc_return_mean"] = float(g_all.mean())
            out["diag/value_bias"] = float(v_all.mean() - g_all.mean())
            if g_all.mean() >= MIN_RETURN_FOR_RATIO:  # a ratio means something for clearly positive returns
                out["diag/overestimation"] = float(v_all.mean() / g_all.mean())
    if at_term:
        out["diag/cont_at_terminal"] = float(np.mean(at_term))
        out["diag/terminal_missed"] = float(np.mean(np.asarray(at_term) > 0.5))
    if before_term:
        out["diag/cont_before_terminal"] = float(np.mean(before_term))
    return out


def warnings_for(metrics: dict[str, float]) -> dict[str, str]:
    """One-line warnings, by key, for the known failure modes visible in ``metrics``."""
    out: dict[str, str] = {}
    over = metrics.get("diag/overestimation")
    if over is not None and over > OVERESTIMATION_WARN:
        out["overestimation"] = (
            f"the critic's value is {over:.1f}x the real discounted return on recent episodes "
            f"(> {OVERESTIMATION_WARN:g}): value overestimation"
        )
    sat = metrics.get("actor/saturated")
    if sat is not None and sat > SATURATION_WARN:
        out["saturation"] = (
            f"{100 * sat:.0f}% of action dimensions are saturated (|mean action| > 0.95): "
            "exploration and the actor's gradient vanish there"
        )
    missed = metrics.get("diag/unseen_terminal_missed")
    if missed is not None and missed > UNSEEN_MISSED_WARN:
        out["unseen_falls"] = (
            f"the continue head misses {100 * missed:.0f}% of the newest falls before training on them"
            " (P(continue) > 0.5 at the terminal state): imagined trajectories run on past new falls"
        )
    return out
