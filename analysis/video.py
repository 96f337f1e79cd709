"""Videos of imagined rollouts beside the real ones.

A segment of ``context + horizon`` real steps is taken (from the replay, or from a fresh rollout of the
policy). The world model observes the first ``context`` steps (posterior states: the right panel shows
its reconstruction of what it sees) and then imagines ``horizon`` steps open-loop (prior states: the
right panel shows what it believes will happen), under the segment's actions (``replay``) or under the
policy with the real env following the same actions (``policy``).

Each video frame holds, per segment, three panels side by side and a caption strip under them::

    +----------+----------+----------+
    |   real   |  model   |  |diff|  |      model panel framed green while observing, red while imagining
    +----------+----------+----------+
    | real  model  diff              |
    | t=12 imagine   mse 0.0123      |
    | r +0.53  pred +0.61            |
    +--------------------------------+

For state observations whose energy the simulator can compute (:func:`envs.physics.physics_for`), an
energy strip under the caption plots the real (white) and the model's (red, dashed) energy of the whole
segment, the start of imagination marked green and the current step by a yellow cursor: a model whose
imagined energy runs away from the real curve shows it at a glance.

Segments are tiled in a grid. Pixel models show decoded frames (the decoder, or the probe decoder of
the ``latent`` objective). State models' decoded observations are put back into the MuJoCo simulator
and rendered (:class:`envs.sim_state.SimState`); left-out root positions are integrated from the
(real or predicted) velocities. Envs whose observations cannot be mapped back get a line plot instead
of a video (matplotlib, Agg backend).

Beside the output ``FILE.mp4`` go ``FILE.json`` (per-step errors and rewards) and ``FILE.png`` (a
contact sheet: a grid of frames at a few steps under a legend that says what the colours and curves
mean, at most :data:`SHEET_WIDTH` pixels wide, for a quick look without a video player).
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from envs.episode import Episode, SequenceBatch, cut_windows, read_episode
from envs.errors import UserError
from world_model.evaluation import OpenLoopWindow, ssim

_FONT_W, _FONT_H = 6, 11  # PIL's built-in bitmap font
_CAPTION_LINES = 3
_CONTEXT_COLOUR = (40, 200, 80)
_IMAGINE_COLOUR = (230, 50, 50)


@dataclass(frozen=True)
class VideoConfig:
    """What an imagination video shows and how it is written."""

    context: int = 8
    """Real steps the model observes before it predicts on its own (K of :attr:`window`)."""
    horizon: int = 32
    """Steps it then imagines open-loop (H)."""
    segments: int = 1
    """Segments tiled in one video."""
    size: int = 64
    """Side of each panel in pixels (state models render at this size; pixel frames are scaled up to it)."""
    fps: int = 15
    """Frames per second of the written video."""
    gif: bool = False
    """Also write an animated GIF beside the MP4."""
    diff_gain: float = 3.0
    """Gain of the difference panel (|real - model| * gain)."""
    fast_render: bool = True
    """Render MuJoCo states without shadows, reflections and skybox."""

    def __post_init__(self) -> None:
        _ = self.window  # checks context and horizon

    @property
    def window(self) -> OpenLoopWindow:
        """The open-loop window of each segment: ``context`` + ``horizon``."""
        return OpenLoopWindow(context=self.context, horizon=self.horizon)


class Imagined(NamedTuple):
    """What the model saw and imagined for N segments of T = K + H steps.

    Attributes:
        obs: (N, T, *obs_shape) float32: reconstructions for t < K, open-loop predictions after.
        reward: (N, T) float32 predicted rewards (of arriving in step t).
    """

    obs: np.ndarray
    reward: np.ndarray


@dataclass
class VideoResult:
    """What :func:`write_imagination_video` wrote.

    Attributes:
        kind: ``video`` or ``plot`` (observations that cannot be rendered).
        paths: files written (video, GIF, contact sheet or plot, JSON).
        frames: frames in the video (K + H), 0 for a plot.
        width: frame width in pixels; height: frame height.
        mse: (N, T) per-step mean squared error between real and model observations.
        message: why a plot was written instead of a video (empty otherwise).
    """

    kind: Literal["video", "plot"]
    paths: list[Path] = field(default_factory=list)
    frames: int = 0
    width: int = 0
    height: int = 0
    mse: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    message: str = ""


# --------------------------------------------------------------------------------------- segments


def read_episodes(directory: Path, *, limit: int | None = None) -> list[Episode]:
    """Episodes saved by the replay in ``directory`` (``*.npz``), newest first.

    Args:
        directory: a run's ``episodes/``.
        limit: read at most this many (the newest).

    Raises:
        UserError: no readable episode in the directory.
    """
    episodes = _readable_episodes(Path(directory), limit)
    if not episodes:
        raise UserError(f"no readable episodes in {directory}")
    return episodes


def _readable_episodes(directory: Path, limit: int | None) -> list[Episode]:
    """The episodes of :func:`read_episodes`, newest first; files that do not read are passed over (an
    episode being written, a damaged file: :func:`envs.episode.read_episode` documents these errors)."""
    files = sorted(directory.glob("*.npz"), reverse=True)
    episodes: list[Episode] = []
    for path in files[:limit] if limit else files:
        try:
            episodes.append(read_episode(path))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            continue
    return episodes


def segments_from_episodes(
    episodes: Sequence[Episode], *, length: int, count: int, seed: int = 0
) -> SequenceBatch[np.ndarray]:
    """Cut ``count`` segments of ``length`` records from distinct episodes where possible.

    Starts are uniform within each episode; every segment starts a fresh model state (``is_first[:, 0]``).

    Returns:
        A (count, length, ...) numpy batch.

    Raises:
        UserError: no episode has ``length`` records.
    """
    rng = np.random.default_rng(seed)
    long_enough = [ep for ep in episodes if len(ep) >= length]
    if not long_enough:
        longest = max((len(ep) for ep in episodes), default=0)
        raise UserError(
            f"no episode has {length} steps (context + horizon); the longest has {longest}: "
            "use a smaller --context/--horizon"
        )
    order = rng.permutation(len(long_enough))
    picks = [int(order[i % len(order)]) for i in range(count)]
    starts = [(i, int(rng.integers(0, len(long_enough[i]) - length + 1))) for i in picks]
    batch = cut_windows(long_enough, length, starts)
    batch.is_first[:, 0] = True
    return batch


# -------------------------------------------------------------------------------------- imagining


@contextmanager
def _inference(model: Any, seed: int) -> Iterator[torch.device]:
    """Eval mode and seeded torch draws (the model samples its latents); yields the model's device.

    Torch's global generators and the model's train / eval mode are restored afterwards.
    """
    device = next(model.parameters()).device
    was_training = model.training
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model.eval()
        try:
            yield device
        finally:
            model.train(was_training)


def _as_tensor(x: np.ndarray, device: torch.device) -> Tensor:
    t = torch.as_tensor(x, device=device)
    return t.float() if t.is_floating_point() else t


@torch.no_grad()
def imagine_segments(
    model: Any, batch: SequenceBatch[np.ndarray], *, context: int, seed: int = 0
) -> Imagined:
    """Observe the first ``context`` steps of each segment, then imagine the rest under its actions.

    The model samples its stochastic latents: the picture is one sample of what it believes, fixed by
    ``seed`` (torch's global generators are left as they were).

    Args:
        model: a :class:`world_model.WorldModel` (``observe``, ``imagine``, ``feat``, ``decode``, ``reward``).
        batch: (N, T, ...) real segments, T = context + horizon.
        context: K >= 1 steps observed.
        seed: seed of the latent samples.

    Returns:
        :class:`Imagined` (N, T, ...).

    Raises:
        ValueError: ``context`` outside [1, T] (callers check their options first).
    """
    t_total = batch.reward.shape[1]
    if not 1 <= context <= t_total:
        raise ValueError(f"context must be between 1 and the segment length {t_total}, got {context}")
    with _inference(model, seed) as device:
        obs = _as_tensor(batch.obs[:, :context], device)
        action = _as_tensor(batch.action, device).float()
        is_first = torch.as_tensor(batch.is_first[:, :context], device=device, dtype=torch.bool)
        post, _ = model.observe(obs, action[:, :context], is_first)
        feats = [model.feat(post)]  # (N, K, F)
        horizon = t_total - context
        if horizon > 0:
            start = post.map(lambda x: x[:, -1])
            imag = model.imagine(start, action[:, context:], horizon)
            feats.append(imag.feat[:, 1:])
        feat = torch.cat(feats, 1)
        pred_obs = model.decode(feat).float().cpu().numpy()
        pred_reward = model.reward(feat).float().cpu().numpy()
    return Imagined(pred_obs.astype(np.float32), pred_reward.astype(np.float32))


@torch.no_grad()
def rollout_with_policy(
    model: Any,
    actor: Callable[[Tensor], Tensor],
    env: Any,
    *,
    context: int,
    horizon: int,
    seed: int,
) -> tuple[SequenceBatch[np.ndarray], Imagined]:
    """One segment under the policy: the model imagines with the actor, the real env takes the same actions.

    The policy acts for ``context`` steps in the real env while the model observes; then the model
    imagines ``horizon`` steps choosing actions with ``actor`` on imagined features, and the real env is
    stepped open-loop with those actions. If the real episode ends early, the last real step is repeated
    (reward 0) so that every segment has K + H steps.

    Args:
        model: the world model.
        actor: features (1, F) -> actions (1, A) in [-1, 1] (deterministic for a clear picture).
        env: a single env as the agent was trained on (``envs.make_env``).
        context: K >= 1; horizon: H >= 0.
        seed: reset seed of the env and seed of the model's latent samples.

    Returns:
        The real segment (1, K + H, ...) and what the model saw and imagined.
    """
    with _inference(model, seed) as device:
        obs, _ = env.reset(seed=seed)
        action_dim = int(np.prod(env.action_space.shape))
        real_obs, real_act, real_rew, real_term = [obs], [np.zeros(action_dim, np.float32)], [0.0], [False]
        latent, feats = None, []
        done = False
        for t in range(context):
            o = _as_tensor(np.asarray(real_obs[t])[None], device)
            a = torch.as_tensor(real_act[t][None], device=device)
            latent = model.obs_step(latent, a, o, torch.tensor([t == 0], device=device))
            feat = model.feat(latent)
            feats.append(feat)
            if t < context - 1 and not done:
                action = actor(feat)[0].float().cpu().numpy()
                done = _step(env, action, real_obs, real_act, real_rew, real_term)
            elif t < context - 1:
                _repeat_last(real_obs, real_act, real_rew, real_term)
        assert latent is not None
        imag_feat = torch.zeros(1, 0, feats[0].shape[-1], device=device)
        if horizon > 0:
            imag = model.imagine(latent, actor, horizon)
            imag_feat = imag.feat[:, 1:]
            for action in imag.action[0].float().cpu().numpy():
                if done:
                    _repeat_last(real_obs, real_act, real_rew, real_term)
                else:
                    done = _step(env, action, real_obs, real_act, real_rew, real_term)
        feat = torch.cat([torch.stack(feats, 1), imag_feat], 1)
        pred_obs = model.decode(feat).float().cpu().numpy()
        pred_reward = model.reward(feat).float().cpu().numpy()
    is_first = np.zeros((1, context + horizon), dtype=bool)
    is_first[0, 0] = True
    batch = SequenceBatch(
        obs=np.stack(real_obs)[None],
        action=np.stack(real_act).astype(np.float32)[None],
        reward=np.asarray(real_rew, np.float32)[None],
        terminated=np.asarray(real_term, bool)[None],
        truncated=np.zeros((1, context + horizon), dtype=bool),
        is_first=is_first,
    )
    return batch, Imagined(pred_obs.astype(np.float32), pred_reward.astype(np.float32))


def _step(env: Any, action: np.ndarray, obs: list, act: list, rew: list, term: list) -> bool:
    o, r, terminated, truncated, _ = env.step(action)
    obs.append(o)
    act.append(np.asarray(action, np.float32))
    rew.append(float(r))
    term.append(bool(terminated))
    return bool(terminated or truncated)


def _repeat_last(obs: list, act: list, rew: list, term: list) -> None:
    obs.append(obs[-1])
    act.append(np.zeros_like(act[-1]))
    rew.append(0.0)
    term.append(term[-1])


def step_errors(real: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-step mean squared error (N, T) between real and model observations (N, T, *obs_shape).

    Pixels (uint8 real observations) are compared in [0, 1]; states in observation units.
    """
    scale = 255.0 if real.dtype == np.uint8 else 1.0
    diff = (real.astype(np.float64) - pred.astype(np.float64)) / scale
    return (diff**2).reshape(*diff.shape[:2], -1).mean(-1)


def step_ssim(real: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-step structural similarity (N, T) of real and model frames (N, T, H, W, C) in 0..255 (1: the
    same image; :func:`world_model.evaluation.ssim`, 11x11 Gaussian window)."""
    n, t = real.shape[:2]
    x = torch.from_numpy(np.asarray(real, dtype=np.float32) / 255.0).flatten(0, 1)
    y = torch.from_numpy(np.clip(np.asarray(pred, dtype=np.float32), 0.0, 255.0) / 255.0).flatten(0, 1)
    with torch.no_grad():
        return ssim(x, y).reshape(n, t).double().numpy()


# --------------------------------------------------------------------------------------- drawing


def _font() -> Any:
    from PIL import ImageFont

    return ImageFont.load_default_imagefont()


def caption_height() -> int:
    """Height in pixels of the caption strip under each segment's panels."""
    return _CAPTION_LINES * _FONT_H + 5  # even, so tiles of even panels need no padding


def draw_text(image: np.ndarray, lines: Sequence[str], *, x: int = 2, y: int = 2) -> np.ndarray:
    """Write ``lines`` (white, built-in bitmap font, 11 px a line) on a copy of ``image`` (H, W, 3) uint8."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    font = _font()
    for i, line in enumerate(lines):
        draw.text((x, y + i * _FONT_H), line, fill=(255, 255, 255), font=font)
    return np.asarray(pil).copy()


def _fit(frame: np.ndarray, size: int) -> np.ndarray:
    """Scale a (h, w, 3) frame to (size, size, 3): nearest-neighbour repeat or stride (square frames)."""
    h = frame.shape[0]
    if h == size:
        return frame
    idx = (np.arange(size) * h // size).clip(0, h - 1)
    return frame[idx][:, idx]


def compose_tile(
    real: np.ndarray,
    model: np.ndarray,
    *,
    step: int,
    context: int,
    reward: float,
    pred_reward: float,
    mse: float,
    diff_gain: float = 3.0,
    ssim: float | None = None,
) -> np.ndarray:
    """One segment's frame at one step: ``[real | model | |diff|]`` over a caption.

    Args:
        real, model: (S, S, 3) uint8 frames.
        step: t within the segment; ``t < context`` is observed (green frame), later imagined (red).
        context: K.
        reward, pred_reward: real and predicted reward of arriving in step t.
        mse: the observation error at t.
        diff_gain: gain of the difference panel.
        ssim: the frames' structural similarity at t (pixel observations), written after the error.

    Returns:
        (S + caption_height(), 3 S, 3) uint8.
    """
    s = real.shape[0]
    if real.shape != (s, s, 3) or model.shape != real.shape:
        raise ValueError(f"panels must be equal (S, S, 3) frames, got {real.shape} and {model.shape}")
    diff = np.clip(np.abs(real.astype(np.int16) - model.astype(np.int16)) * diff_gain, 0, 255).astype(
        np.uint8
    )
    framed = model.copy()
    colour = _CONTEXT_COLOUR if step < context else _IMAGINE_COLOUR
    b = max(1, s // 32)
    framed[:b], framed[-b:], framed[:, :b], framed[:, -b:] = colour, colour, colour, colour
    panels = np.concatenate([real, framed, diff], axis=1)
    caption = np.zeros((caption_height(), 3 * s, 3), dtype=np.uint8)
    phase = "observe" if step < context else "imagine"
    if s >= 40:  # panel names under the panels, then two lines across
        for i, name in enumerate(("real", "model", "|diff|")):
            caption = draw_text(caption, [name], x=i * s + 2)
        similarity = "" if ssim is None else f" ssim {ssim:.2f}"
        rewards = f"r {reward:+.2f} pred {pred_reward:+.2f}"
        lines = ["", f"t={step} {phase} mse {mse:.3g}{similarity}", rewards]
    else:
        error = f"mse {mse:.2g}" if ssim is None else f"m{mse:.1g} s{ssim:.2f}"
        lines = [f"t={step} {phase[:3]}", error, f"r{reward:+.1f} p{pred_reward:+.1f}"]
    caption = draw_text(caption, lines)
    return np.concatenate([panels, caption], axis=0)


def grid_columns(count: int) -> int:
    """Columns of the segment grid (tiles are about 2.3 times wider than high)."""
    return max(1, round(math.sqrt(count / 2)))


def tile(tiles: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Arrange equal (h, w, 3) tiles in a grid (row-major, empty cells black), padded to even sides."""
    h, w, _ = tiles[0].shape
    rows = math.ceil(len(tiles) / columns)
    out = np.zeros((rows * h + (rows * h) % 2, columns * w + (columns * w) % 2, 3), dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        out[r * h : (r + 1) * h, c * w : (c + 1) * w] = t
    return out


def compose_frames(
    real_frames: np.ndarray,
    model_frames: np.ndarray,
    *,
    context: int,
    reward: np.ndarray,
    pred_reward: np.ndarray,
    mse: np.ndarray,
    diff_gain: float = 3.0,
    strips: Sequence[np.ndarray] | None = None,
    ssim: np.ndarray | None = None,
) -> np.ndarray:
    """All video frames: per step, every segment's tile in a grid.

    Args:
        real_frames, model_frames: (N, T, S, S, 3) uint8.
        context: K.
        reward, pred_reward, mse: (N, T).
        diff_gain: gain of the difference panel.
        strips: per segment, a static (h, 3 S, 3) plot strip (:func:`energy_strip`) put under the tile,
            with a cursor at the current step.
        ssim: (N, T) structural similarity of the frames (pixel observations), written in the captions.

    Returns:
        (T, height, width, 3) uint8 with width = columns * 3 S (rounded up to even).
    """
    n, t_total = reward.shape
    columns = grid_columns(n)
    frames = []
    for t in range(t_total):
        tiles = [
            compose_tile(
                real_frames[i, t],
                model_frames[i, t],
                step=t,
                context=context,
                reward=float(reward[i, t]),
                pred_reward=float(pred_reward[i, t]),
                mse=float(mse[i, t]),
                diff_gain=diff_gain,
                ssim=None if ssim is None else float(ssim[i, t]),
            )
            for i in range(n)
        ]
        if strips is not None:
            tiles = [
                np.concatenate([tiles[i], strip_cursor(strips[i], t, t_total)], axis=0) for i in range(n)
            ]
        frames.append(tile(tiles, columns))
    return np.stack(frames)


def energy_strip(
    real: np.ndarray, model: np.ndarray, *, context: int, width: int, height: int = 40
) -> np.ndarray:
    """A static plot strip of a segment's energy: real (white) and model (red, dashed) over its T steps.

    The x axis spans the strip exactly (step t at column ``(t + 0.5) / T * width``); a green line marks
    where imagination starts.

    Args:
        real, model: (T,) energies.
        context: K.
        width, height: strip size in pixels.

    Returns:
        (height, width, 3) uint8.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_total = len(real)
    dpi = 100
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="black")
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0), facecolor="black")
    steps = np.arange(t_total)
    ax.plot(steps, real, color="white", lw=1.0)
    ax.plot(steps, model, color=(0.9, 0.2, 0.2), lw=1.0, ls="--")
    ax.axvline(context - 0.5, color=(0.16, 0.78, 0.31), lw=0.8)
    values = np.concatenate([real, model])
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    pad = 0.08 * (high - low) + 1e-6
    ax.set_xlim(-0.5, t_total - 0.5)
    ax.set_ylim(low - pad, high + pad)
    ax.set_axis_off()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # type: ignore[attr-defined]
    plt.close(fig)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    h, w = min(height, image.shape[0]), min(width, image.shape[1])
    out[:h, :w] = image[:h, :w]
    return draw_text(out, [f"E {low:.4g}..{high:.4g} J"], x=2, y=0)


def strip_cursor(strip: np.ndarray, step: int, steps: int) -> np.ndarray:
    """A copy of ``strip`` (h, w, 3) with a yellow vertical cursor at step ``step`` of ``steps``."""
    out = strip.copy()
    x = min(int((step + 0.5) / steps * strip.shape[1]), strip.shape[1] - 1)
    out[:, x] = (240, 220, 40)
    return out


SHEET_WIDTH = 1600
"""Widest contact sheet :func:`write_imagination_video` writes: its 11-pixel captions stay readable on a
screen without zooming out (a sheet of 4 frames of 768 pixels side by side was 3,072 wide)."""
SHEET_HEIGHT = 1100
"""Tallest contact sheet (about a screen) where at least 2 frames fit: fewer frames rather than smaller."""


def contact_sheet(
    frames: np.ndarray,
    context: int,
    *,
    max_frames: int = 8,
    columns: int = 4,
    max_width: int | None = None,
    max_height: int | None = None,
    legend: Sequence[str] = (),
) -> np.ndarray:
    """A still grid of a few frames for a quick look without a video player.

    The frames shown are, in this order of priority, the last observed (t = K - 1), the last imagined,
    the first imagined, the first, then steps spread evenly, at most ``max_frames`` (fewer where
    ``max_width`` / ``max_height`` leave room for fewer: frames are never scaled down, or their captions
    would not be readable), shown in time order.

    Args:
        frames: (T, H, W, 3) uint8 video frames.
        context: K.
        max_frames: most frames shown.
        columns: most frames per row.
        max_width, max_height: pixels the grid should fit in (at least one frame is always shown, and two
            where the width allows).
        legend: lines written above the grid (wrapped at its width), e.g. :func:`sheet_legend`.

    Returns:
        (legend height + rows x H, columns x W, 3) uint8.
    """
    t_total, frame_h, frame_w = frames.shape[0], frames.shape[1], frames.shape[2]
    if max_width is not None:
        columns = max(1, min(columns, max_width // frame_w))
    if max_height is not None:
        rows = max(1, max_height // frame_h)
        max_frames = min(max_frames, max(columns * rows, 2 if columns >= 2 else 1))
    order = [context - 1, t_total - 1, min(context, t_total - 1), 0]
    order += [round(x) for x in np.linspace(0, t_total - 1, max_frames)]
    chosen: list[int] = []
    for t in order:
        if 0 <= t < t_total and t not in chosen and len(chosen) < max_frames:
            chosen.append(t)
    chosen.sort()
    grid = tile([frames[t] for t in chosen], min(columns, len(chosen)))
    if not legend:
        return grid
    import textwrap

    chars = max(20, grid.shape[1] // _FONT_W - 1)
    lines = [wrapped for line in legend for wrapped in textwrap.wrap(line, chars) or [""]]
    band = np.zeros((len(lines) * _FONT_H + 6, grid.shape[1], 3), dtype=np.uint8)
    band = draw_text(band, lines, x=3, y=3)
    for i, line in enumerate(lines):  # the colour words of the legend in their colours
        for m in _COLOUR_WORD.finditer(line):
            x, colour = 3 + m.start() * _FONT_W, _LEGEND_COLOURS[m.group(0)]
            band = draw_text_coloured(band, m.group(0), x=x, y=3 + i * _FONT_H, colour=colour)
    out = np.concatenate([band, grid], axis=0)
    return out[: out.shape[0] - out.shape[0] % 2]


_LEGEND_COLOURS = {
    "green": _CONTEXT_COLOUR,
    "red": _IMAGINE_COLOUR,
    "yellow": (240, 220, 40),
}
_COLOUR_WORD = re.compile(r"\b(?:green|red|yellow)\b")


def draw_text_coloured(
    image: np.ndarray, text: str, *, x: int, y: int, colour: tuple[int, int, int]
) -> np.ndarray:
    """Write ``text`` in ``colour`` (built-in bitmap font) on a copy of ``image`` (H, W, 3) uint8."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image)
    ImageDraw.Draw(pil).text((x, y), text, fill=colour, font=_font())
    return np.asarray(pil).copy()


def sheet_legend(
    env: str, mode: str, *, context: int, horizon: int, segments: int, energy: bool, pixels: bool
) -> list[str]:
    """What the contact sheet shows, in words: the lines :func:`contact_sheet` writes above its frames."""
    actions = (
        "the recorded actions of a stored episode"
        if mode == "replay"
        else "the policy's actions, which the real env takes too"
    )
    seen = "the decoded frames" if pixels else "the decoded states put back into the simulator and rendered"
    lines = [
        f"{env}, {mode}: the model observes {context} real steps, then imagines {horizon} open-loop under "
        f"{actions}; {segments} segment(s) per frame, frames at a few steps t.",
        f"Each tile: real env | model ({seen}) | |real - model| x3. Model panel framed green: observing "
        f"(t < {context}, its reconstruction of what it sees); framed red: imagining (t >= {context}).",
        "Under the panels: step t, observe / imagine, the observation's mean squared error at t; r: the real "
        "reward, pred: the model's.",
    ]
    if energy:
        lines.append(
            "Strip: the simulator's energy of the real states (white) and of the model's (red, dashed) over "
            "the segment; green line: imagination starts; yellow line: this frame's step."
        )
    return lines


# --------------------------------------------------------------------------------------- writing


def write_frames(frames: np.ndarray, path: Path, *, fps: int) -> Path:
    """Write (T, H, W, 3) uint8 frames as MP4 (H.264 through imageio-ffmpeg) or, for ``.gif``, a looping GIF.

    Frame sides must be even for MP4 (:func:`tile` pads them).
    """
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        imageio.mimsave(path, list(frames), duration=1000.0 / fps, loop=0)
        return path
    writer = imageio.get_writer(
        path, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p", quality=8
    )
    try:
        for frame in frames:
            writer.append_data(frame)
    finally:
        writer.close()
    return path


def _frames_for(
    env: str,
    obs: np.ndarray,
    *,
    size: int,
    action_repeat: int,
    fast_render: bool,
    env_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """(N, T, S, S, 3) uint8 frames of observations (N, T, ...): pixels scaled, states rendered."""
    if obs.ndim == 5:  # pixels (N, T, h, w, 3)
        pix = np.clip(np.rint(obs), 0, 255).astype(np.uint8)
        return np.stack([np.stack([_fit(f, size) for f in seg]) for seg in pix])
    from envs.sim_state import SimState

    with SimState(
        env, size=size, fast_render=fast_render, action_repeat=action_repeat, env_kwargs=env_kwargs
    ) as sim:
        return np.stack([sim.render_obs(seg) for seg in obs])


def _plot(
    path: Path,
    real: np.ndarray,
    pred: np.ndarray,
    reward: np.ndarray,
    pred_reward: np.ndarray,
    context: int,
    title: str,
    energies: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Line plot of real (solid) and model (dashed) observation entries, rewards (and energies) of
    segment 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = min(real.shape[-1], 8)
    rows = dims + 1 + (energies is not None)
    fig, axes = plt.subplots(rows, 1, figsize=(7, 1.3 * rows), sharex=True, squeeze=False)
    steps = np.arange(real.shape[1])
    for d in range(dims):
        ax = axes[d, 0]
        ax.plot(steps, real[0, :, d], "k-", lw=1, label="real")
        ax.plot(steps, pred[0, :, d], "r--", lw=1, label="model")
        ax.axvline(context - 0.5, color="g", lw=0.8)
        ax.set_ylabel(f"obs[{d}]", fontsize=7)
    ax = axes[dims, 0]
    ax.plot(steps, reward[0], "k-", lw=1, label="real")
    ax.plot(steps, pred_reward[0], "r--", lw=1, label="model")
    ax.axvline(context - 0.5, color="g", lw=0.8)
    ax.set_ylabel("reward", fontsize=7)
    if energies is not None:
        ax = axes[dims + 1, 0]
        ax.plot(steps, energies[0][0], "k-", lw=1, label="real")
        ax.plot(steps, energies[1][0], "r--", lw=1, label="model")
        ax.axvline(context - 0.5, color="g", lw=0.8)
        ax.set_ylabel("energy (J)", fontsize=7)
    ax.set_xlabel("step (green line: imagination starts)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _energies(
    env: str, real: np.ndarray, model: np.ndarray, env_kwargs: dict[str, Any] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Simulator energies (N, T) of real and model state observations (N, T, D); None where the env's
    observations do not map to a physical state."""
    from envs import particles, pendulum
    from envs.names import resolve_env_id
    from envs.physics import physics_for
    from envs.sim_state import is_supported

    env_id = resolve_env_id(env)
    if env_id not in (pendulum.ENV_ID, particles.ENV_ID) and not is_supported(env_id):
        return None
    physics = physics_for(env, env_kwargs=env_kwargs)
    return physics(real).energy, physics(model).energy


def _unmappable(env: str) -> str | None:
    """Why ``env``'s state observations cannot be put back into a simulator and rendered (None: they can)."""
    from envs.names import resolve_env_id
    from envs.sim_state import SUPPORTED_ENVS, is_supported

    env_id = resolve_env_id(env)
    if is_supported(env_id):
        return None
    supported = ", ".join(SUPPORTED_ENVS)
    return f"cannot map observations of {env_id} back into a MuJoCo simulator (supported: {supported})"


def _ssim_summary(similarity: np.ndarray, context: int) -> dict[str, Any]:
    """The JSON fields of per-step SSIM (N, T): its mean per step and over the observed / imagined steps."""
    imagined = similarity[:, context:]
    return {
        "ssim": "structural similarity per step of the real and the model's frames (1: identical)",
        "ssim_mean": similarity.mean(0).round(4).tolist(),
        "ssim_context_mean": round(float(similarity[:, :context].mean()), 4),
        "ssim_imagined_mean": round(float(imagined.mean()), 4) if imagined.size else None,
    }


def write_imagination_video(
    env: str,
    real: SequenceBatch[np.ndarray],
    imagined: Imagined,
    out: Path,
    cfg: VideoConfig,
    *,
    action_repeat: int = 1,
    mode: str = "replay",
    env_kwargs: dict[str, Any] | None = None,
) -> VideoResult:
    """Render real and imagined segments side by side and write the video, contact sheet and errors.

    Args:
        env: env name or id (state observations are rendered through its simulator).
        real: (N, T, ...) real segments.
        imagined: (N, T, ...) what the model saw and imagined (:func:`imagine_segments`).
        out: ``FILE.mp4`` (or ``FILE.gif``); ``FILE.json`` and ``FILE.png`` are written beside it.
        cfg: context length, frame size, fps, GIF.
        action_repeat: simulator steps per agent step (integration of left-out positions).
        mode: ``replay`` or ``policy``, recorded in the JSON.
        env_kwargs: the observation options the env was made with (state envs).

    Returns:
        :class:`VideoResult`. For state envs that cannot be mapped back to the simulator, ``kind`` is
        ``plot``: ``FILE.png`` holds a line plot and ``message`` says why.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    context = cfg.context
    mse = step_errors(real.obs, imagined.obs)
    pixels = real.obs.ndim == 5
    similarity = step_ssim(real.obs, imagined.obs) if pixels else None
    summary: dict[str, Any] = {
        "env": env,
        "mode": mode,
        "context": context,
        "horizon": real.reward.shape[1] - context,
        "segments": real.reward.shape[0],
        "observations": "pixels" if pixels else "state",
        "error": "mean squared error per step"
        + (" of pixels in [0, 1]" if pixels else " of the observation"),
        "mse_mean": mse.mean(0).round(6).tolist(),
        "mse_context_mean": round(float(mse[:, :context].mean()), 6),
        "mse_imagined_mean": round(float(mse[:, context:].mean()), 6) if mse.shape[1] > context else None,
        **(_ssim_summary(similarity, context) if similarity is not None else {}),
        "per_segment": [
            {
                "mse": mse[i].round(6).tolist(),
                "reward": real.reward[i].round(4).tolist(),
                "pred_reward": imagined.reward[i].round(4).tolist(),
                **({} if similarity is None else {"ssim": similarity[i].round(4).tolist()}),
            }
            for i in range(len(mse))
        ],
    }
    result = VideoResult(kind="video", mse=mse)
    energies = None if pixels else _energies(env, real.obs, imagined.obs, env_kwargs)
    if energies is not None:
        summary["energy"] = "simulator energy (J) of the real and the model's states (mapped back)"
        for i, seg in enumerate(summary["per_segment"]):
            seg["energy_real"] = energies[0][i].round(4).tolist()
            seg["energy_model"] = energies[1][i].round(4).tolist()
    why_no_video = None if pixels else _unmappable(env)
    if why_no_video is None and not pixels:
        from envs.sim_state import SimState

        with SimState(env, size=8, env_kwargs=env_kwargs) as probe:  # how hidden positions are recovered
            summary["env"] = probe.env_id
            summary["left_out_positions"] = (
                f"{', '.join(probe.hidden)} integrated from the real / predicted velocities"
                if probe.hidden
                else "none"
            )
    if why_no_video is None:
        try:
            real_frames, model_frames = (
                _frames_for(
                    env,
                    obs,
                    size=cfg.size,
                    action_repeat=action_repeat,
                    fast_render=cfg.fast_render,
                    env_kwargs=env_kwargs,
                )
                for obs in (real.obs, imagined.obs)
            )
        except UserError as err:  # SimState.render: no offscreen OpenGL context on this machine (MUJOCO_GL)
            why_no_video = str(err)
    if why_no_video is not None:
        result.kind = "plot"
        result.message = f"{why_no_video}; wrote a plot instead of a video"
        summary["plot_instead_of_video"] = result.message
        result.paths.append(
            _plot(
                out.with_suffix(".png"),
                real.obs,
                imagined.obs,
                real.reward,
                imagined.reward,
                context,
                str(env),
                energies,
            )
        )
    else:
        strips = None
        if energies is not None:
            strips = [
                energy_strip(energies[0][i], energies[1][i], context=context, width=3 * cfg.size)
                for i in range(len(mse))
            ]
        frames = compose_frames(
            real_frames,
            model_frames,
            context=context,
            reward=real.reward,
            pred_reward=imagined.reward,
            mse=mse,
            diff_gain=cfg.diff_gain,
            strips=strips,
            ssim=similarity,
        )
        result.frames, result.height, result.width = frames.shape[0], frames.shape[1], frames.shape[2]
        result.paths.append(write_frames(frames, out, fps=cfg.fps))
        if cfg.gif and out.suffix.lower() != ".gif":
            result.paths.append(write_frames(frames, out.with_suffix(".gif"), fps=cfg.fps))
        import imageio.v2 as imageio

        sheet = out.with_suffix(".png")
        legend = sheet_legend(
            summary["env"],
            mode,
            context=context,
            horizon=summary["horizon"],
            segments=summary["segments"],
            energy=strips is not None,
            pixels=pixels,
        )
        imageio.imwrite(
            sheet,
            contact_sheet(frames, context, max_width=SHEET_WIDTH, max_height=SHEET_HEIGHT, legend=legend),
        )
        result.paths.append(sheet)
        summary.update(frames=result.frames, width=result.width, height=result.height, fps=cfg.fps)
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(summary, indent=1))
    result.paths.append(json_path)
    return result


def write_replay_video(
    model: Any,
    episodes: Path | Sequence[Episode],
    env: str,
    out: Path,
    cfg: VideoConfig,
    *,
    action_repeat: int = 1,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> VideoResult | None:
    """Segments of stored episodes, imagined under their actions, written as a video (one call for a trainer).

    Args:
        model: the world model.
        episodes: a run's ``episodes/`` directory (the newest 100 are read) or the episodes themselves.
        env: env name or id.
        out: ``FILE.mp4`` (see :func:`write_imagination_video` for what is written beside it).
        cfg: context, horizon, segments, size, fps.
        action_repeat: simulator steps per agent step.
        seed: chooses the segments and the model's latent samples.
        env_kwargs: the observation options the env was made with.

    Returns:
        What was written, or None when no stored episode has ``context + horizon`` steps yet (early in
        a run: nothing is written then).
    """
    if isinstance(episodes, str | Path):
        episodes = _readable_episodes(Path(episodes), limit=100)
    length = cfg.window.length
    if not any(len(ep) >= length for ep in episodes):
        return None
    batch = segments_from_episodes(episodes, length=length, count=cfg.segments, seed=seed)
    imagined = imagine_segments(model, batch, context=cfg.context, seed=seed)
    return write_imagination_video(
        env, batch, imagined, out, cfg, action_repeat=action_repeat, mode="replay", env_kwargs=env_kwargs
    )
