"""Write a video of what a run's world model imagines, beside what really happens.

The model observes ``--context`` real steps, then imagines ``--horizon`` steps open-loop: under the
actions of a replayed episode segment (``--mode replay``, from the run's ``episodes/``), or under the
learned policy while the real env takes the same actions (``--mode policy``). Each frame shows the real
env (left), the model (right: its reconstruction while observing, its imagination after) and their
difference, with the step and the real and predicted rewards written under them. State models are
rendered by putting the decoded state back into the MuJoCo simulator; envs whose observations cannot be
mapped back get a plot instead. ``FILE.json`` (per-step errors) and ``FILE.png`` (contact sheet) are
written beside the video.

Examples::

    python -m scripts.imagine --run runs/Walker2d-v5/dreamer/0-20260101-120000 --out walker.mp4
    python -m scripts.imagine --run RUN --out v.mp4 --context 8 --horizon 48 --segments 4 --gif --size 96
    python -m scripts.imagine --run RUN --out v.mp4 --mode policy --checkpoint RUN/checkpoints/ckpt-50000.pt
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import tyro
from torch import Tensor

from agents.checkpoint import load_checkpoint
from agents.cli import run_main
from agents.config import RunConfig
from agents.run_dir import CONFIG_FILE, load_config
from agents.video import (
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

# Script configs that hold a world model (``model`` field), tried in turn to read a run's config.yaml.
_RUN_CONFIGS = (("scripts.dream", "DreamConfig"), ("scripts.fit_world_model", "FitConfig"))


@dataclass(frozen=True)
class ImagineConfig:
    """Options of ``scripts.imagine``."""

    run: Path
    """Run directory (holds config.yaml, checkpoints/ and episodes/)."""
    out: Path
    """Output video, FILE.mp4 (or FILE.gif); FILE.json and FILE.png are written beside it."""
    context: int = 8
    """Real steps the model observes before imagining (K)."""
    horizon: int = 32
    """Steps imagined open-loop after the context (H)."""
    checkpoint: Path | None = None
    """Checkpoint file; default: the newest in the run's checkpoints/."""
    segments: int = 1
    """Segments tiled in the video."""
    mode: Literal["replay", "policy"] = "replay"
    """replay: segments of stored episodes under their actions; policy: a fresh rollout, the model
    imagining with the learned actor and the real env taking the same actions."""
    gif: bool = False
    """Also write FILE.gif."""
    size: int = 64
    """Side of each panel in pixels (state models are rendered at this size)."""
    fps: int = 15
    """Frames per second."""
    seed: int = 0
    """Seed for choosing segments (replay) or resetting the env (policy)."""
    device: str = "cpu"
    """Torch device for the model."""


def load_run_config(run: Path) -> Any:
    """The run's saved config (a script config with ``env``, ``envs`` and ``model`` fields).

    Raises:
        UserError: not a run directory, or a run without a world model.
    """
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{run} is not a run directory (no {CONFIG_FILE})")
    errors = []
    for module, name in _RUN_CONFIGS:
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        try:
            cfg = load_config(cls, path)
        except UserError as err:
            errors.append(str(err))
            continue
        if isinstance(cfg, RunConfig) and hasattr(cfg, "model"):
            return cfg
    raise UserError(f"{path} is not the config of a world-model run ({'; '.join(errors) or 'no reader'})")


# Where checkpoints keep the world model's weights, tried in turn: a Dreamer / MPC agent's learner, an
# agent's own entry, a bare world-model fit.
_WEIGHT_PATHS = (
    ("agent", "learner", "model"),
    ("agent", "world_model"),
    ("learner", "model"),
    ("world_model",),
)


def world_model_weights(state: dict[str, Any]) -> dict[str, Any]:
    """The world model's ``state_dict`` inside a checkpoint.

    Raises:
        UserError: the checkpoint holds no world model.
    """
    for keys in _WEIGHT_PATHS:
        node: Any = state
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node:
            return node
    raise UserError(f"the checkpoint holds no world model (keys: {', '.join(sorted(state))})")


def main(args: list[str] | None = None) -> None:
    """Parse the options, load the run's model and write the video."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from envs import make_env, seeds
    from world_model import WorldModel

    opts = tyro.cli(ImagineConfig, args=args, description=__doc__)
    if opts.context < 1 or opts.horizon < 0 or opts.segments < 1 or opts.size < 8 or opts.fps < 1:
        raise UserError("need --context >= 1, --horizon >= 0, --segments >= 1, --size >= 8, --fps >= 1")
    if opts.out.suffix.lower() not in (".mp4", ".gif"):
        raise UserError(f"--out must end in .mp4 or .gif, got {opts.out}")
    cfg = load_run_config(opts.run)
    if getattr(cfg, "family", "rssm") != "rssm":
        raise UserError(f"{opts.run} fitted a {cfg.family} model; scripts.imagine shows RSSM world models")
    state = load_checkpoint(opts.checkpoint or Path(opts.run) / "checkpoints")
    device = torch.device(opts.device)
    env = make_env(cfg.env, cfg.envs, seed=seeds.eval_seed(cfg.seed))
    try:
        obs_shape = tuple(env.observation_space.shape or ())
        action_dim = int(np.prod(env.action_space.shape or ()))
        actor: Callable[[Tensor], Tensor] | None = None
        if opts.mode == "policy":
            model, actor = _load_agent(cfg, state, obs_shape, action_dim, device)
        else:
            model = WorldModel(cfg.model, obs_shape, action_dim).to(device)
            try:
                model.load_state_dict(world_model_weights(state))
            except RuntimeError as err:
                raise UserError(
                    f"the checkpoint's world model does not match the run's config: {err}"
                ) from err
        length = opts.context + opts.horizon
        if opts.mode == "replay":
            episodes = read_episodes(Path(opts.run) / "episodes")
            batch = segments_from_episodes(episodes, length=length, count=opts.segments, seed=opts.seed)
            imagined = imagine_segments(model, batch, context=opts.context, seed=opts.seed)
        else:
            assert actor is not None
            parts = [
                rollout_with_policy(
                    model,
                    actor,
                    env,
                    context=opts.context,
                    horizon=opts.horizon,
                    seed=seeds.eval_seed(cfg.seed) + opts.seed * 1000 + i,
                )
                for i in range(opts.segments)
            ]
            batch = SequenceBatch(*(np.concatenate(f) for f in zip(*(p[0] for p in parts), strict=True)))
            imagined = Imagined(*(np.concatenate(f) for f in zip(*(p[1] for p in parts), strict=True)))
    finally:
        env.close()
    vcfg = VideoConfig(
        context=opts.context,
        horizon=opts.horizon,
        segments=opts.segments,
        size=opts.size,
        fps=opts.fps,
        gif=opts.gif,
        fast_render=cfg.envs.fast_render,
    )
    result = write_imagination_video(
        cfg.env, batch, imagined, opts.out, vcfg, action_repeat=cfg.envs.action_repeat, mode=opts.mode
    )
    if result.message:
        print(result.message)
    else:
        print(f"{result.frames} frames of {result.width}x{result.height} px")
    mse = result.mse.mean(0)
    k = opts.context
    print(
        f"observation mse: context mean {mse[:k].mean():.4g}"
        + (f", imagined mean {mse[k:].mean():.4g}, last step {mse[-1]:.4g}" if opts.horizon else "")
    )
    for path in result.paths:
        print(f"wrote {path} ({path.stat().st_size} bytes)")


def _load_agent(
    cfg: Any, state: dict[str, Any], obs_shape: tuple[int, ...], action_dim: int, device: torch.device
) -> tuple[Any, Callable[[Tensor], Tensor]]:
    """The run's world model and deterministic actor ``feat (N, F) -> action (N, A)`` (Dreamer runs)."""
    from agents.dreamer import DreamerAgent

    names = {f.name for f in fields(cfg)}
    agent_state = state.get("agent")
    if "agent" not in names or not isinstance(agent_state, dict) or "actor" not in agent_state:
        raise UserError("--mode policy needs a Dreamer run (a checkpoint with an actor); use --mode replay")
    agent = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
    try:
        agent.load_state_dict(agent_state)
    except (RuntimeError, KeyError) as err:
        raise UserError(f"the checkpoint's agent does not match the run's config: {err}") from err
    agent.actor.eval()
    return agent.world_model, agent.actor.mode


if __name__ == "__main__":
    run_main(main)
