"""Does a Dreamer run's continue head recognise falls it has not trained on?

    python benchmarks/continue-head/probe.py RUN_DIR CHECKPOINT [VARIANT ...]

From one checkpoint of a ``scripts.dream`` run on a MuJoCo env that terminates (Walker2d, Hopper), the
world model observes every episode of the run (posterior features, one sample). Episodes that ended at or
before the checkpoint's step are the ones the model has trained on ("train"); those after it, which the
run collected later, it has never seen ("test"). Printed for both:

- the run's own continue head: share of real falls (terminal states) with P(continue) > 0.5 ("missed"),
  the mean P(continue) there, and the share of non-terminal states with P(continue) <= 0.5 ("false ends");
- the env's own termination rule on the real observations (a sanity check: 0 and 0) and on the world
  model's decoded observations (does the latent keep height and angle precisely enough at the boundary?);
- fresh continue heads of the model's shape trained offline on the train features with other losses
  (``VARIANTS``), scored after 2k, 5k and 20k steps of batch 512: which training generalises?
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.getcwd())

from agents.configs import load_dreamer
from agents.dreamer import DreamerAgent
from envs.episode import Episode, read_episode
from world_model.model import WorldModel
from world_model.networks import mlp
from world_model.rssm import RSSMState

VARIANTS: dict[str, dict[str, Any]] = {
    "terminal weight 10 (the preset)": {},
    "terminal weight 1": {"weight": 1.0},
    "terminal weight 100": {"weight": 100.0},
    "weight decay 0.1": {"weight_decay": 0.1},
    "feature noise 0.5": {"noise": 0.5},
    "linear head": {"layers": 0},
}
REPORT_AT = (2000, 5000, 20000)


def load_run(run: Path, checkpoint: str) -> tuple[Any, DreamerAgent, list[Episode], list[bool]]:
    """A run's config, its agent at ``checkpoint`` (CPU), all its episodes, and for each episode whether
    it was collected after the checkpoint (the model has never trained on it)."""
    cfg, agent, _ = load_dreamer(run, run / "checkpoints" / checkpoint)
    step = int(checkpoint.split("-")[1].split(".")[0])
    episodes = [read_episode(f) for f in sorted((run / "episodes").glob("*.npz"))]
    ends = np.cumsum([len(ep.obs) - 1 for ep in episodes])
    return cfg, agent, episodes, [bool(end > step) for end in ends]


def posterior(wm: WorldModel, ep: Episode) -> RSSMState:
    """The model's posterior states (T, ...) over one real episode."""
    post, _ = wm.observe(
        torch.as_tensor(ep.obs).float()[None],
        torch.as_tensor(ep.action).float()[None],
        torch.as_tensor(ep.is_first)[None],
    )
    return post.map(lambda x: x[0])


def features(run: Path, checkpoint: str) -> dict[str, np.ndarray]:
    cfg, agent, episodes, later = load_run(run, checkpoint)
    wm = agent.world_model
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("feat", "terminal", "test", "cont", "obs", "decoded")}
    with torch.no_grad():
        for ep, is_later in zip(episodes, later, strict=True):
            feat = wm.feat(posterior(wm, ep))
            terminal = np.zeros(len(ep.obs), bool)
            terminal[-1] = bool(ep.terminated[-1])
            out["feat"].append(feat.numpy())
            out["terminal"].append(terminal)
            out["test"].append(np.full(len(ep.obs), is_later))
            out["cont"].append(wm.cont(feat).numpy())
            out["obs"].append(ep.obs)
            out["decoded"].append(
                wm.decode(feat).numpy() if cfg.model.objective == "reconstruction" else ep.obs * np.nan
            )
    return {k: np.concatenate(v) for k, v in out.items()} | {"env": np.array(cfg.env)}


@functools.lru_cache
def _healthy_ranges(env_id: str) -> tuple[tuple[float, float], ...]:
    import gymnasium as gym

    from envs import resolve_env_id

    env = gym.make(resolve_env_id(env_id)).unwrapped
    ranges = (env._healthy_z_range, env._healthy_angle_range, getattr(env, "_healthy_state_range", None))
    env.close()
    return ranges


def healthy(env_id: str, obs: np.ndarray) -> np.ndarray:
    """The env's own rule (its healthy ranges) on observations whose first entries are height and angle."""
    (z_lo, z_hi), (a_lo, a_hi), state_range = _healthy_ranges(env_id)
    ok = (obs[:, 0] > z_lo) & (obs[:, 0] < z_hi) & (obs[:, 1] > a_lo) & (obs[:, 1] < a_hi)
    if state_range is not None:  # Hopper: every other entry of the state too
        s_lo, s_hi = state_range
        ok &= np.all((obs[:, 1:] > s_lo) & (obs[:, 1:] < s_hi), axis=1)
    return ok.astype(np.float64)


def rates(p_cont: np.ndarray, terminal: np.ndarray) -> str:
    missed = np.mean(p_cont[terminal] > 0.5)
    false_ends = np.mean(p_cont[~terminal] <= 0.5)
    at_falls = np.mean(p_cont[terminal])
    return f"missed {missed:.2f}, P(continue) at falls {at_falls:.2f}, false ends {false_ends:.4f}"


def line(name: str, p_cont: np.ndarray, d: dict[str, np.ndarray]) -> str:
    tr, te, y = ~d["test"], d["test"], d["terminal"]
    return f"| {name} | {rates(p_cont[tr], y[tr])} | {rates(p_cont[te], y[te])} |"


def train_head(
    d: dict[str, np.ndarray],
    weight: float = 10.0,
    layers: int = 1,
    weight_decay: float = 0.0,
    noise: float = 0.0,
    lr: float = 3e-4,
    batch: int = 512,
    seed: int = 0,
) -> dict[int, np.ndarray]:
    torch.manual_seed(seed)
    x_all = torch.as_tensor(d["feat"])
    tr = ~torch.as_tensor(d["test"])
    x, y = x_all[tr], torch.as_tensor(d["terminal"][~d["test"]]).float()
    net = mlp(x.shape[1], 1, units=128, layers=layers)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, eps=1e-8)
    out = {}
    for i in range(1, max(REPORT_AT) + 1):
        idx = torch.randint(0, x.shape[0], (batch,))
        xb, yb = x[idx], y[idx]
        if noise:
            xb = xb + noise * torch.randn_like(xb)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            net(xb).squeeze(-1), 1 - yb, reduction="none"
        )
        loss = (bce * (1 + (weight - 1) * yb)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i in REPORT_AT:
            with torch.no_grad():
                out[i] = torch.sigmoid(net(x_all).squeeze(-1)).numpy()
    return out


def main() -> None:
    torch.set_num_threads(1)
    run, checkpoint = Path(sys.argv[1]), sys.argv[2]
    names = sys.argv[3:] or list(VARIANTS)
    d = features(run, checkpoint)
    env = str(d["env"])
    tr, te, y = ~d["test"], d["test"], d["terminal"]
    print(
        f"{run} at {checkpoint}: {env}, features {d['feat'].shape[1]}; trained-on states {tr.sum()}"
        f" ({y[tr].sum()} falls), later states {te.sum()} ({y[te].sum()} falls)\n"
    )
    print("| continue estimate | falls the model trained on | later falls (never trained on) |")
    print("| --- | --- | --- |")
    print(line("the run's continue head", d["cont"], d))
    print(line("env's rule on real observations", healthy(env, d["obs"]), d))
    print(line("env's rule on decoded observations", healthy(env, d["decoded"]), d))
    for name in names:
        for step, p in train_head(d, **VARIANTS[name]).items():
            print(line(f"offline head: {name}, {step} steps", p, d), flush=True)


if __name__ == "__main__":
    main()
