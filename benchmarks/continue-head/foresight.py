"""Does a Dreamer run's imagination foresee falls it has not trained on?

    python benchmarks/continue-head/foresight.py RUN_DIR CHECKPOINT

``probe.py`` scores the continue head on the posterior state of a real fall. What the actor learns from is
imagination: prior rollouts from earlier states. Here, for each fall in an episode collected after the
checkpoint (never trained on), the model starts from the posterior K steps before the terminal state and
imagines K steps with the real actions that led to the fall (then 5 more with the run's actor). Eight
latent samples per start. Printed per K:

- ``head``: the probability that the imagined episode has ended by the fall step, 1 - prod P(continue)
  over the imagined steps (what weights the imagined returns), and by 5 steps after it;
- ``rule``: the share of samples in which the env's own healthy rule, applied to the decoded imagined
  observations, flags a step by the fall (and by 5 steps after it);
- the same on control windows: K steps ending at least 20 steps before the end of the same episodes
  (nothing should end there: these are false ends);
- the decoded height and angle error at the fall step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.getcwd())
sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe import healthy, load_run, posterior

KS = (1, 3, 5, 10, 15)
SAMPLES = 8
AFTER = 5
CONTROL_GAP = 20


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    run, checkpoint = Path(sys.argv[1]), sys.argv[2]
    cfg, agent, episodes, is_later = load_run(run, checkpoint)
    later = [ep for ep, new in zip(episodes, is_later, strict=True) if new]
    wm = agent.world_model
    falls = [ep for ep in later if bool(ep.terminated[-1])]
    print(f"{run} at {checkpoint}: {len(later)} later episodes, {len(falls)} end in a fall\n")
    print(
        "| K | falls | head: ended by fall | head: by fall+5 | rule: by fall | rule: by fall+5 |"
        " control: head ended | control: rule | height err at fall | angle err at fall |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with torch.no_grad():
        posts = [posterior(wm, ep) for ep in later]
        for k in KS:
            rows: dict[str, list[float]] = {n: [] for n in ("h", "h5", "r", "r5", "ch", "cr", "ez", "ea")}
            for ep, post in zip(later, posts, strict=True):
                n = len(ep.obs)
                windows = []
                if bool(ep.terminated[-1]) and n - 1 - k >= 1:
                    windows.append((n - 1 - k, True))
                if n - 1 - CONTROL_GAP - k >= 1:
                    windows.append((int(rng.integers(1, n - CONTROL_GAP - k)), False))
                for s, is_fall in windows:
                    e = s + k
                    start = post.map(lambda x, s=s: x[s : s + 1].expand(SAMPLES, -1).contiguous())
                    actions = torch.as_tensor(ep.action[s + 1 : e + 1]).float()[None].expand(SAMPLES, -1, -1)
                    imag = wm.imagine(start, actions.contiguous(), k)
                    feat = imag.feat[:, 1:]  # (S, K, F): steps s+1 .. e
                    cont = wm.cont(feat)
                    decoded = wm.decode(feat).numpy()
                    bad = 1.0 - healthy(cfg.env, decoded.reshape(-1, decoded.shape[-1])).reshape(SAMPLES, k)
                    ended = 1.0 - cont.prod(1)
                    flagged = bad.max(1)
                    if not is_fall:
                        rows["ch"].append(float(ended.mean()))
                        rows["cr"].append(float(flagged.mean()))
                        continue
                    rows["h"].append(float(ended.mean()))
                    rows["r"].append(float(flagged.mean()))
                    rows["ez"].append(float(np.abs(decoded[:, -1, 0] - ep.obs[e, 0]).mean()))
                    rows["ea"].append(float(np.abs(decoded[:, -1, 1] - ep.obs[e, 1]).mean()))
                    last = imag.state.map(lambda x: x[:, -1])
                    more = wm.imagine(last, lambda f: agent.actor(f).mode(), AFTER)
                    feat5 = more.feat[:, 1:]
                    ended5 = 1.0 - cont.prod(1) * wm.cont(feat5).prod(1)
                    dec5 = wm.decode(feat5).numpy()
                    bad5 = 1.0 - healthy(cfg.env, dec5.reshape(-1, dec5.shape[-1])).reshape(SAMPLES, AFTER)
                    rows["h5"].append(float(ended5.mean()))
                    rows["r5"].append(float(np.maximum(flagged, bad5.max(1)).mean()))
            m = {key: (np.mean(v) if v else float("nan")) for key, v in rows.items()}
            print(
                f"| {k} | {len(rows['h'])} | {m['h']:.2f} | {m['h5']:.2f} | {m['r']:.2f} | {m['r5']:.2f} |"
                f" {m['ch']:.3f} | {m['cr']:.3f} | {m['ez']:.3f} | {m['ea']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
