"""The one MLP builder and the one CNN encoder / decoder of the toolkit."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn


def mlp(
    in_dim: int,
    out_dim: int | None,
    *,
    units: int,
    layers: int,
    norm: bool = True,
    zero_out: bool = False,
) -> nn.Sequential:
    """Build ``layers`` x (Linear -> LayerNorm -> SiLU), then a Linear to ``out_dim``.

    Args:
        in_dim: input features.
        out_dim: output features; ``None`` ends after the hidden layers (output size ``units``).
        units: width of the hidden layers.
        layers: number of hidden layers (0 gives a single Linear).
        norm: LayerNorm after each hidden Linear (whose bias is then dropped).
        zero_out: initialise the output layer to zeros (reward / value heads start at 0).

    Returns:
        A module mapping (..., in_dim) -> (..., out_dim or units).
    """
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(dim, units, bias=not norm))
        if norm:
            mods.append(nn.LayerNorm(units))
        mods.append(nn.SiLU())
        dim = units
    if out_dim is not None:
        out = nn.Linear(dim, out_dim)
        if zero_out:
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)
        mods.append(out)
    return nn.Sequential(*mods)


def _cnn_stages(size: int) -> int:
    """Stride-2 stages that take a square image of side ``size`` down to 4x4."""
    stages = round(math.log2(size / 4))
    if size < 8 or 4 * 2**stages != size:
        raise ValueError(f"CNN needs a square image whose side is 4 * 2**k >= 8, got {size}")
    return stages


class _ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of (N, C, H, W) maps."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class CNNEncoder(nn.Module):
    """Stride-2 convolutions from a (size x size x channels) image down to 4x4, flattened.

    Args:
        size: image side (4 * 2**k, e.g. 64).
        depth: channels of the first layer, doubled at each stage.
        channels: image channels (3 for RGB).

    Input (..., C, H, W) float images scaled to about [-0.5, 0.5]; output (..., out_dim).
    """

    def __init__(self, size: int, depth: int, channels: int = 3) -> None:
        super().__init__()
        stages = _cnn_stages(size)
        mods: list[nn.Module] = []
        c_in = channels
        for i in range(stages):
            c_out = depth * 2**i
            mods += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), _ChannelNorm(c_out), nn.SiLU()]
            c_in = c_out
        self.net = nn.Sequential(*mods)
        self.out_dim = c_in * 16

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-3]
        y = self.net(x.reshape(-1, *x.shape[-3:]))
        return y.reshape(*lead, self.out_dim)


class CNNDecoder(nn.Module):
    """Mirror of :class:`CNNEncoder`: a feature vector to a (channels, size, size) image.

    Args:
        in_dim: input features.
        size: image side (4 * 2**k).
        depth: channels of the encoder's first layer (the decoder's last hidden layer).
        channels: image channels.

    Input (..., in_dim); output (..., C, H, W) in the encoder's input scale.
    """

    def __init__(self, in_dim: int, size: int, depth: int, channels: int = 3) -> None:
        super().__init__()
        stages = _cnn_stages(size)
        self.c0 = depth * 2 ** (stages - 1)
        self.proj = nn.Linear(in_dim, self.c0 * 16)
        mods: list[nn.Module] = []
        c_in = self.c0
        for i in reversed(range(stages)):
            if i == 0:
                mods.append(nn.ConvTranspose2d(c_in, channels, 4, 2, 1))
            else:
                c_out = depth * 2 ** (i - 1)
                mods += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), _ChannelNorm(c_out), nn.SiLU()]
                c_in = c_out
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        y = self.proj(x.reshape(-1, x.shape[-1])).reshape(-1, self.c0, 4, 4)
        y = self.net(y)
        return y.reshape(*lead, *y.shape[1:])


def ema_update(target: nn.Module, online: nn.Module, decay: float) -> None:
    """theta_target <- decay * theta_target + (1 - decay) * theta_online, in place, no gradient."""
    with torch.no_grad():
        targets: list[Tensor] = list(target.parameters())
        onlines: list[Tensor] = list(online.parameters())
        if len(targets) != len(onlines):
            raise ValueError(f"target has {len(targets)} parameters, online {len(onlines)}")
        if targets:
            torch._foreach_lerp_(targets, onlines, 1.0 - decay)  # one call for all parameters
        for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
            tb.copy_(ob)


def adam(
    params: Iterable[Tensor], *, lr: float, eps: float, weight_decay: float = 0.0, decoupled: bool = False
) -> torch.optim.Optimizer:
    """Adam (``decoupled``: AdamW) in torch's fused implementation: one kernel updates all parameters
    instead of about ten per parameter (the same update rule). A checkpoint of the per-parameter
    implementation loads into it and carries on with that implementation.

    Args:
        params: the parameters (all on one CPU or CUDA device).
        lr: learning rate.
        eps: epsilon of the denominator.
        weight_decay: L2 penalty (Adam) or decoupled weight decay (AdamW).
        decoupled: AdamW instead of Adam.
    """
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    return cls(params, lr=lr, eps=eps, weight_decay=weight_decay, fused=True)


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> Tensor:
    """Scale the gradients of ``params`` so that their global L2 norm is at most ``max_norm``; returns the
    norm before clipping. The maths of ``nn.utils.clip_grad_norm_`` (coefficient max_norm / (norm + 1e-6),
    at most 1) in five multi-tensor ops, where torch's spends one more per parameter (all on one device).
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (norm + 1e-6)).clamp(max=1.0))
    return norm


def step_if_finite(opt: torch.optim.Optimizer, norm: Tensor) -> bool:
    """Take ``opt``'s step only when ``norm``, the gradients' global norm before clipping (as
    :func:`clip_grad_norm` returns it), is finite; otherwise drop the gradients and leave the parameters
    and the optimiser's moments as they were. One non-finite batch (an overflow, a diverging loss) then
    costs one update instead of every parameter.

    Reads ``norm`` on the host (one device synchronisation on a GPU).

    Returns:
        Whether the step was taken.
    """
    if bool(torch.isfinite(norm)):
        opt.step()
        return True
    opt.zero_grad(set_to_none=True)
    return False


class _DeferredWeightGrad(torch.autograd.Function):
    """Identity on ``base`` (T, B, O) whose backward also gives the gradients of weights applied inside a
    loop, dL/dW_k = sum_t grad_t^T x_t^k, from the inputs (T, B, I_k) that ``box`` holds by then."""

    @staticmethod
    def forward(ctx: Any, base: Tensor, box: list[Tensor | None], *weights: Tensor) -> Tensor:
        ctx.box = box
        ctx.dtypes = [w.dtype for w in weights]
        return base.clone(memory_format=torch.contiguous_format)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        grads: list[Tensor | None] = []
        for k, dtype in enumerate(ctx.dtypes):
            x = ctx.box[k] if k < len(ctx.box) else None
            if x is None or not ctx.needs_input_grad[2 + k]:
                grads.append(None)
                continue
            g = grad.reshape(-1, grad.shape[-1]).to(dtype)
            grads.append(g.t().mm(x.reshape(-1, x.shape[-1]).to(dtype)))
        return (grad, None, *grads)


class LoopLinear:
    """The weights of ``y_t = base[t] + sum_k x_t^k W_k^T``, applied at every step t of a sequential loop.

    The weights are transposed (and, under autocast, cast) once, not at every step. When a weight needs a
    gradient, the loop uses it detached and its gradient is computed once after the loop from the inputs
    of all steps: one matmul per weight instead of a matmul, two transposes and a gradient accumulation
    per step and weight. The gradients of ``base`` (a bias, or inputs projected before the loop) and of
    the inputs are those of the plain computation, and so are the values.

    Per step the loop computes ``y_t`` from :attr:`bases` and :attr:`wts` (or :attr:`weights`) itself and
    hands the inputs to :meth:`note`; :meth:`close` ends the loop (before the backward pass).

    Args:
        base: (T, B, O) what is added at each step (``bias.expand(T, B, O)`` for a bias; zeros for none).
        weights: (O, I_k) weights, as ``nn.Linear.weight``.
        defer: defer the weights' gradients when they need one (``False``: plain per-step gradients).
    """

    def __init__(self, base: Tensor, *weights: Tensor, defer: bool = True) -> None:
        if base.dim() != 3:
            raise ValueError(f"LoopLinear needs a (T, B, O) base, got {tuple(base.shape)}")
        self.defer = defer and torch.is_grad_enabled() and any(w.requires_grad for w in weights)
        self._inputs: list[list[Tensor]] = [[] for _ in weights]
        self._box: list[Tensor | None] = []
        if self.defer:
            base = _DeferredWeightGrad.apply(base, self._box, *weights)
            weights = tuple(w.detach() for w in weights)
        device = weights[0].device.type
        if torch.is_autocast_enabled(device):
            dtype = torch.get_autocast_dtype(device)
            weights = tuple(w.to(dtype) for w in weights)
        self.weights = weights
        """(O, I_k) the weights to apply in the loop."""
        self.wts = tuple(w.t() for w in weights)
        """(I_k, O) the same, transposed (for ``torch.addmm(base_t, x, wt)``)."""
        self.bases = base.unbind(0)
        """(B, O) per step."""

    def note(self, *xs: Tensor) -> None:
        """Record this step's inputs x_t^k (B, I_k), one per weight (kept when gradients are deferred)."""
        if self.defer:
            for inputs, x in zip(self._inputs, xs, strict=True):
                inputs.append(x)

    def close(self) -> None:
        """End of the loop: hand the inputs of all steps, stacked (T, B, I_k), to the backward pass."""
        if self.defer:
            with torch.no_grad():
                self._box.extend(torch.stack(xs) if xs else None for xs in self._inputs)
            self._inputs = []
