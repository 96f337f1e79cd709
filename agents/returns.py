"""Pure return maths for imagination-trained actor-critics: lambda-returns and return normalisation.

Index convention (matches :meth:`world_model.WorldModel.imagine`): an imagined trajectory has states
``s_0 .. s_H`` (``s_0`` the start). ``reward[:, t]`` is the reward received on arriving in ``s_{t+1}``,
``cont[:, t]`` the probability that ``s_{t+1}`` is not terminal, and ``value[:, t]`` the value of ``s_t``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def lambda_return(reward: Tensor, value: Tensor, cont: Tensor, *, gamma: float, lam: float) -> Tensor:
    """TD(lambda) returns of an imagined trajectory, bootstrapped with the value of the last state.

    ``R_t = r_t + gamma * c_t * ((1 - lam) * v_{t+1} + lam * R_{t+1})`` with ``R_H = v_H``, where
    ``r_t, c_t`` belong to the arrival in ``s_{t+1}``. A terminal arrival (``c_t = 0``) stops the sum.

    Args:
        reward: (N, H) rewards on arriving in ``s_1 .. s_H``.
        value: (N, H+1) values of ``s_0 .. s_H``.
        cont: (N, H) continue probabilities of ``s_1 .. s_H``.
        gamma: discount per step.
        lam: lambda (0: one-step TD targets, 1: Monte-Carlo returns bootstrapped at the horizon).

    Returns:
        (N, H) returns ``R_0 .. R_{H-1}``.
    """
    assert reward.shape == cont.shape and value.shape[:-1] == reward.shape[:-1], (reward.shape, value.shape)
    assert value.shape[-1] == reward.shape[-1] + 1, (reward.shape, value.shape)
    disc = gamma * cont
    # Everything that does not depend on the recursion is computed batched; the loop is H additions.
    base = reward + disc * (1.0 - lam) * value[:, 1:]
    scale = disc * lam
    out = []
    last = value[:, -1]
    for t in range(reward.shape[1] - 1, -1, -1):
        last = base[:, t] + scale[:, t] * last
        out.append(last)
    return torch.stack(out[::-1], dim=1)


def replay_lambda_return(
    reward: Tensor,
    terminated: Tensor,
    is_first: Tensor,
    boot: Tensor,
    *,
    gamma: float,
    lam: float,
) -> tuple[Tensor, Tensor]:
    """TD(lambda) returns along real replayed sequences, bootstrapped with values of the real states.

    Storage convention of :mod:`envs.episode`: ``reward[:, t]`` is received on arriving in record t,
    ``terminated[:, t]`` says record t is terminal, ``is_first[:, t]`` that record t starts an episode (a
    sequence may run from one episode into the next). For record t whose successor t + 1 is in the same
    episode::

        R_t = r_{t+1} + gamma * (1 - d_{t+1}) * ((1 - lam * c_{t+1}) * b_{t+1} + lam * c_{t+1} * R_{t+1})

    with ``d`` terminated, ``b`` the bootstrap values and ``c_{t+1} = 0`` where t + 1 is the last record
    of its episode or of the sequence (its return is not known beyond it, so ``b`` stands in).

    Args:
        reward: (B, T) real rewards.
        terminated: (B, T) real terminal flags.
        is_first: (B, T) episode starts.
        boot: (B, T) bootstrap values of the records (e.g. imagined lambda-returns from each record, or
            the critic's values).
        gamma: discount per step.
        lam: lambda.

    Returns:
        (returns, weights), each (B, T - 1) for records 0 .. T - 2. The weight is 0 where the return is
        undefined: the last record of an episode (its successor starts the next one) and terminal records.
    """
    assert reward.shape == terminated.shape == is_first.shape == boot.shape, (reward.shape, boot.shape)
    f = reward.dtype
    live = gamma * (1.0 - terminated[:, 1:].to(f))  # (B, T-1): discount of arriving in t + 1
    nxt_first = is_first[:, 1:]
    # c_{t+1}: record t + 1 continues its episode within the sequence (it has a successor there)
    cont = torch.cat([(~is_first[:, 2:]).to(f), torch.zeros_like(reward[:, :1])], 1) * lam
    base = reward[:, 1:] + live * (1.0 - cont) * boot[:, 1:]
    scale = live * cont
    out = []
    last = boot[:, -1]
    for t in range(reward.shape[1] - 2, -1, -1):
        last = base[:, t] + scale[:, t] * last
        out.append(last)
    ret = torch.stack(out[::-1], dim=1)
    weight = (~nxt_first & ~terminated[:, :-1].bool()).to(f)
    return ret, weight


def discount_weights(cont: Tensor, *, gamma: float) -> Tensor:
    """Weights of imagined states for the actor and critic losses: the discounted reach probability.

    ``w_0 = 1`` and ``w_t = prod_{k<t} gamma * c_k``, so states after a predicted terminal state get no
    weight (their imagined continuation is meaningless) while the terminal state itself keeps its weight.

    Args:
        cont: (N, H) continue probabilities of ``s_1 .. s_H``.
        gamma: discount per step.

    Returns:
        (N, H) weights of ``s_0 .. s_{H-1}``.
    """
    ones = torch.ones_like(cont[:, :1])
    return torch.cumprod(torch.cat([ones, gamma * cont[:, :-1]], dim=1), dim=1)


class ReturnNormalizer(nn.Module):
    """Running scale of returns: the EMA of the 5th-95th percentile range, floored at 1.

    Advantages divided by ``scale`` have a comparable size across tasks with very different reward
    scales, while small returns (range below 1) are not blown up. State is kept in buffers (device-side,
    no host syncs) and saved with ``state_dict``.
    """

    low: Tensor
    high: Tensor
    count: Tensor

    def __init__(self, decay: float = 0.99, low_q: float = 0.05, high_q: float = 0.95, floor: float = 1.0):
        """Create a normaliser.

        Args:
            decay: EMA decay of the percentile estimates per update.
            low_q: lower quantile.
            high_q: upper quantile.
            floor: the scale never goes below this.
        """
        super().__init__()
        self.decay, self.low_q, self.high_q, self.floor = decay, low_q, high_q, floor
        self.register_buffer("low", torch.zeros(()))
        self.register_buffer("high", torch.zeros(()))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, returns: Tensor) -> None:
        """Fold the percentiles of a batch of returns (any shape) into the running estimates.

        A batch whose percentiles are not finite (a diverged update) leaves the estimates as they were
        (device-side, no host sync), so one bad batch does not poison every later scale."""
        flat = returns.detach().float().flatten()
        q = torch.quantile(flat, torch.tensor([self.low_q, self.high_q], device=flat.device))
        q = torch.where(torch.isfinite(q), q, torch.stack([self.low, self.high]))
        self.low.mul_(self.decay).add_((1.0 - self.decay) * q[0])
        self.high.mul_(self.decay).add_((1.0 - self.decay) * q[1])
        self.count.add_(1)

    def scale(self) -> Tensor:
        """() the current divisor ``max(floor, high - low)``."""
        return torch.clamp(self.high - self.low, min=self.floor)


class SpreadNormalizer(nn.Module):
    """Running spread of advantages: the EMA of their standard deviation, floored.

    Divided by it, advantages keep a standard deviation near 1 however the returns grow, so a fixed entropy
    weight keeps the same weight against the policy gradient through training (divided by the return
    range instead, advantages shrink as the range grows and the entropy bonus gains ground). The first
    batch sets the estimate (no bias towards the zero start); a batch whose spread is not finite leaves it
    as it was. Buffers only: device-side, no host syncs, saved with ``state_dict``.
    """

    var: Tensor
    count: Tensor

    def __init__(self, decay: float = 0.99, floor: float = 0.1):
        """Create a normaliser.

        Args:
            decay: EMA decay of the variance estimate per update.
            floor: the scale never goes below this, so that the near-zero advantages of an untrained
                critic and reward head (std ~1e-4 at the start) are not blown up into a full-size signal
                of noise; 0.1 is below the spread of trained locomotion runs' advantages (~10-20).
        """
        super().__init__()
        self.decay, self.floor = decay, floor
        self.register_buffer("var", torch.zeros(()))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, advantages: Tensor) -> None:
        """Fold the variance of a batch of advantages (any shape, at least 2 values) into the estimate."""
        v = advantages.detach().float().flatten().var()
        v = torch.where(torch.isfinite(v), v, self.var)
        ema = self.decay * self.var + (1.0 - self.decay) * v
        self.var.copy_(torch.where(self.count == 0, v, ema))
        self.count.add_(1)

    def scale(self) -> Tensor:
        """() the current divisor ``max(floor, sqrt(var))``."""
        return torch.clamp(self.var.sqrt(), min=self.floor)
