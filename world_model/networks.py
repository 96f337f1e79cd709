"""The one MLP builder and the one CNN encoder / decoder of the toolkit."""

from __future__ import annotations

import math

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
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.lerp_(o, 1.0 - decay)
        for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
            tb.copy_(ob)
