"""Write a video of what a run's world model imagines, beside what really happens.

The model observes ``--context`` real steps, then imagines ``--horizon`` steps open-loop: under the
actions of a replayed episode segment (``--mode replay``, from the run's ``episodes/``), or under the
learned policy while the real env takes the same actions (``--mode policy``). Each frame shows the real
env (left), the model (right: its reconstruction while observing, its imagination after) and their
difference, with the step and the real and predicted rewards written under them. State models are
rendered by putting the decoded state back into the MuJoCo simulator; envs whose observations cannot be
mapped back get a plot instead. ``FILE.json`` (per-step errors) and ``FILE.png`` (a contact sheet with a
legend) are written beside the video, by default ``RUN/videos/imagine-<mode>-<checkpoint step>.mp4``.

Examples::

    python -m scripts.imagine --run runs/Walker2d-v5/dreamer/0-20260101-120000
    python -m scripts.imagine --run RUN --out walker.mp4 --horizon 48 --segments 4
    python -m scripts.imagine --run RUN --mode policy \\
        --checkpoint RUN/checkpoints/ckpt-000000050000.pt   # ckpt-<step>.pt
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
import tyro
from torch import Tensor

from agents import configs
from agents.checkpoint import load_checkpoint
from agents.cli import parse_options, run_main
from analysis.video import (
    Imagined,
    VideoConfig,
    imagine_segments,
    read_episodes,
    rollout_with_policy,
    segments_from_episodes,
    write_imagination_video,
)
from envs.episode import SequenceBatch
from envs.errors import UserError
from world_model.evaluation import OpenLoopWindow


@dataclass(frozen=True)
class ImagineConfig:
    """Options of ``scripts.imagine``."""

    run: Path
    """Run directory (holds config.yaml, checkpoints/ and episodes/)."""
    out: Annotated[Path | None, tyro.conf.arg(metavar="FILE")] = None
    """Output video, FILE.mp4 (or FILE.gif); FILE.json and FILE.png are written beside it. Default:
    RUN/videos/imagine-<mode>-<checkpoint step>.mp4."""
    window: Annotated[OpenLoopWindow, tyro.conf.arg(name="")] = field(
        default_factory=lambda: OpenLoopWindow(context=8, horizon=32)
    )
    """What each segment shows (--context K, --horizon H): the model observes K real steps, then imagines
    H steps open-loop."""
    checkpoint: Annotated[Path | None, tyro.conf.arg(metavar="FILE")] = None
    """Checkpoint file; default: the newest in the run's checkpoints/."""
    segments: int = 1
    """Segments tiled in the video."""
    mode: Literal["replay", "policy"] = "replay"
    """replay: segments of stored episodes under their actions; policy: a fresh rollout, the model
    imagining with the learned actor and the real env taking the same actions."""
    gif: bool = False
    """Also write FILE.gif."""
    size: int = 256
    """Side of each panel in pixels (state models are rendered at this size; pixel observations are
    scaled up to it). A frame is 3 panels wide."""
    fps: int = 15
    """Frames per second."""
    seed: int = 0
    """Seed for choosing segments (replay) or resetting the env (policy)."""
    device: str = "cpu"
    """Torch device for the model."""

    def __post_init__(self) -> None:
        at_least = {"segments": 1, "size": 8, "fps": 1, "seed": 0}
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise UserError(f"--{name} must be at least {low}, got {getattr(self, name)}")
        if self.out is not None and self.out.suffix.lower() not in (".mp4", ".gif"):
            raise UserError(f"--out must end in .mp4 or .gif, got {self.out}")


def world_model_run(run: Path) -> configs.DreamConfig | configs.FitConfig:
    """The run's saved config (:func:`agents.configs.load_run_config`), which must be of a run with an RSSM
    world model: ``scripts.dream``, or ``scripts.fit_world_model --family rssm``.

    Raises:
        UserError: not a run directory, an unreadable config, or a run without an RSSM world model (an SB3
            baseline, a fit of another model family).
    """
    cfg = configs.load_run_config(run)
    if not isinstance(cfg, configs.DreamConfig | configs.FitConfig):
        raise UserError(f"{run} is a {type(cfg).__name__} run: it has no world model to imagine with")
    if isinstance(cfg, configs.FitConfig) and cfg.family != "rssm":
        raise UserError(f"{run} fitted a model of the {cfg.family} family; scripts.imagine shows RSSM models")
    if isinstance(cfg, configs.DreamConfig) and cfg.family != "rssm":
        raise UserError(f"{run} imagined through the {cfg.family} family; scripts.imagine shows RSSM models")
    return cfg


def world_model_weights(state: dict[str, Any]) -> dict[str, Any]:
    """The world model's ``state_dict``: the checkpoint's ``world_model`` part.

    Raises:
        UserError: the checkpoint holds no world model.
    """
    weights = state.get("world_model")
    if not isinstance(weights, dict) or not weights:
        raise UserError(f"the checkpoint holds no world model (parts: {', '.join(sorted(state))})")
    return weights


def default_output(run: Path, mode: str, step: int) -> Path:
    """Where the video goes without ``--out``: ``RUN/videos/imagine-<mode>-<step, 9 digits>.mp4`` (beside the
    videos the run writes while training, ``imagine-<step>.mp4``)."""
    return Path(run) / "videos" / f"imagine-{mode}-{step:09d}.mp4"


def main(args: list[str] | None = None) -> None:
    """Parse the options, load the run's model and write the video."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from envs import make_env, seeds
    from world_model import WorldModel

    opts = parse_options(ImagineConfig, args=args, description=__doc__ or "")
    cfg = world_model_run(opts.run)
    if opts.mode == "policy" and not isinstance(cfg, configs.DreamConfig):
        raise UserError("--mode policy needs a Dreamer run (a checkpoint with an actor); use --mode replay")
    device = torch.device(opts.device)
    env = make_env(cfg.env, cfg.envs, seed=seeds.eval_seed(cfg.seed))
    try:
        obs_shape = tuple(env.observation_space.shape or ())
        action_dim = int(np.prod(env.action_space.shape or ()))
        actor: Callable[[Tensor], Tensor] | None = None
        if opts.mode == "policy":
            _, agent, state = configs.load_dreamer(Path(opts.run), opts.checkpoint, device)
            model, actor = agent.world_model, agent.actor.mode
        else:
            state = load_checkpoint(opts.checkpoint or Path(opts.run) / "checkpoints")
            model = WorldModel(cfg.model, obs_shape, action_dim).to(device)
            try:
                model.load_state_dict(world_model_weights(state))
            except RuntimeError as err:
                raise UserError(
                    f"the checkpoint's world model does not match the run's config: {err}"
                ) from err
        window = opts.window
        if opts.mode == "replay":
            episodes = read_episodes(Path(opts.run) / "episodes")
            batch = segments_from_episodes(
                episodes, length=window.length, count=opts.segments, seed=opts.seed
            )
            imagined = imagine_segments(model, batch, context=window.context, seed=opts.seed)
        else:
            assert actor is not None
            parts = [
                rollout_with_policy(
                    model,
                    actor,
                    env,
                    context=window.context,
                    horizon=window.horizon,
                    seed=seeds.eval_seed(cfg.seed) + opts.seed * 1000 + i,
                )
                for i in range(opts.segments)
            ]
            batch = SequenceBatch(*(np.concatenate(f) for f in zip(*(p[0] for p in parts), strict=True)))
            imagined = Imagined(*(np.concatenate(f) for f in zip(*(p[1] for p in parts), strict=True)))
    finally:
        env.close()
    vcfg = VideoConfig(
        context=opts.window.context,
        horizon=opts.window.horizon,
        segments=opts.segments,
        size=opts.size,
        fps=opts.fps,
        gif=opts.gif,
        fast_render=cfg.envs.fast_render,
    )
    out = opts.out or default_output(opts.run, opts.mode, int(state["step"]))
    result = write_imagination_video(
        cfg.env, batch, imagined, out, vcfg, action_repeat=cfg.envs.action_repeat, mode=opts.mode
    )
    if result.message:
        print(result.message)
    else:
        print(f"{result.frames} frames of {result.width}x{result.height} px")
    mse = result.mse.mean(0)
    k = opts.window.context
    print(
        f"observation mse: context mean {mse[:k].mean():.4g}"
        + (f", imagined mean {mse[k:].mean():.4g}, last step {mse[-1]:.4g}" if opts.window.horizon else "")
    )
    for path in result.paths:
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    run_main(main)
