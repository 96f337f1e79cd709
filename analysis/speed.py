"""Speed of the system's parts, measured in one process on real envs and real models.

For each ``scripts.dream`` preset and env: milliseconds per world-model update and per actor-critic update
(median over a few updates after a warm-up, on batches sampled from a replay of real episodes), env steps
per second of collection with the agent acting, and the training speed these imply at the preset's train
ratio. For each planner at its default settings: milliseconds per planned action with the ``cpu`` preset's
model, with and without the actor prior. Collection against the raw simulator: env steps per second of one
env stepped with random actions and no policy, beside collection with random actions and with the agent
acting, for 1, 4 and 16 envs. Op counts (machine-independent): the torch ops of one update, one imagination
step and one action. Peak memory of each preset's agent in a fresh process. ``python -m scripts.benchmark
--suite speed`` runs it and writes ``speed.json`` and ``speed.md``.

Whole runs (subprocesses of ``scripts.dream``): training env steps per second of runs started together,
e.g. two at once against one alone with given thread settings (:func:`measure_runs`), and the GPU suite's
update variants (:func:`measure_update_variants`: eager / bfloat16 autocast / compiled, peak GPU memory).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from agents.dreamer import DreamerAgent
from agents.mpc import MPCAgent, MPCConfig
from analysis.events import read_scalars, run_event_files
from envs.collector import Collector, RandomPolicy
from envs.episode import SequenceBatch, StepObs
from envs.replay import EpisodeReplay, to_torch
from planners import PlannerConfig, make_planner
from world_model import WorldModel

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, list[Any]]:
    """Median wall milliseconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls, and the results."""
    for _ in range(warmup):
        fn()
    times, results = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        results.append(fn())
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times), results


def measure_preset(
    preset: str,
    cfg: Any,
    env: str,
    *,
    device: torch.device,
    updates: int = 5,
    collect_steps: int = 300,
    seed: int = 0,
) -> dict[str, Any]:
    """Update and collection speed of one ``scripts.dream`` preset on one env.

    Args:
        preset: the preset's name (recorded only).
        cfg: the preset's ``DreamConfig``.
        env: env name.
        device: torch device of the updates.
        updates: timed updates (after one warm-up update).
        collect_steps: env steps of timed collection with the agent acting.
        seed: seed of envs, networks and replay.

    Returns:
        One row: ``wm_update_ms``, ``ac_update_ms``, ``update_ms`` (medians), ``updates_per_env_step``
        (train ratio / (B * T)), ``collect_steps_per_s`` (agent acting, no updates) and
        ``train_steps_per_s`` (the env steps per second a run spends collecting and updating at this
        train ratio, without evaluation), with the shapes and sizes measured.
    """
    from envs import make_vector_env

    torch.manual_seed(seed)
    venv = make_vector_env(env, cfg.envs, seed=seed)
    try:
        obs_shape = tuple(venv.single_observation_space.shape or ())
        action_dim = int(np.prod(venv.single_action_space.shape or ()))
        agent = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
        tc = cfg.train
        replay = EpisodeReplay(None, max(10_000, 4 * tc.batch_size * tc.seq_len), seed=seed)
        collector = Collector(venv, action_repeat=cfg.envs.action_repeat)
        random_policy = RandomPolicy(action_dim, seed=seed)
        while replay.steps < max(tc.seq_len * 4, 1000):
            for ep in collector.collect(random_policy, 200):
                replay.add(ep)

        before = collector.env_steps
        t0 = time.perf_counter()
        collector.collect(agent, collect_steps)
        collect_s = time.perf_counter() - t0
        collected = collector.env_steps - before
        collect_sps = collected / collect_s

        def one_update() -> dict[str, float]:
            batch = to_torch(replay.sample(tc.batch_size, tc.seq_len), device)
            return agent.update(batch)

        update_ms, metrics = _median_ms(one_update, updates, warmup=1)
        per_step = tc.train_ratio / (tc.batch_size * tc.seq_len)
        step_s = 1.0 / collect_sps + per_step * update_ms / 1000.0
        params = sum(p.numel() for p in agent.world_model.parameters())
        params += sum(p.numel() for m in (agent.actor, agent.critic) for p in m.parameters())
        return {
            "preset": preset,
            "env": env,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "obs_shape": list(obs_shape),
            "action_dim": action_dim,
            "params": params,
            "batch": [tc.batch_size, tc.seq_len],
            "imagination": [cfg.agent.imag_starts or tc.batch_size * tc.seq_len, cfg.agent.horizon],
            "wm_update_ms": statistics.median(m["time/wm_update_ms"] for m in metrics),
            "ac_update_ms": statistics.median(m["time/ac_update_ms"] for m in metrics),
            "update_ms": update_ms,
            "updates_per_env_step": per_step,
            "collect_steps_per_s": collect_sps,
            "train_steps_per_s": 1.0 / step_s,
        }
    finally:
        venv.close()


def measure_planners(
    cfg: Any,
    env: str,
    *,
    device: torch.device,
    planners: Sequence[str] = ("cem", "mppi", "shooting"),
    plan: PlannerConfig | None = None,
    actions: int = 30,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Milliseconds per planned action (one env) for each planner, with and without the actor prior.

    The model is the preset's (untrained: the cost does not depend on the weights); the objective includes
    the critic's value at the horizon, as ``scripts.mpc`` uses by default.
    """
    from envs import make_vector_env
    from envs.episode import StepObs

    plan = plan or PlannerConfig()
    torch.manual_seed(seed)
    venv = make_vector_env(env, cfg.envs, seed=seed, num_envs=1)
    try:
        obs_shape = tuple(venv.single_observation_space.shape or ())
        action_dim = int(np.prod(venv.single_action_space.shape or ()))
        obs, _ = venv.reset(seed=seed)
    finally:
        venv.close()
    dreamer = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
    assert isinstance(dreamer.world_model, WorldModel)
    rows = []
    for name in planners:
        for prior in (False, True):
            agent = MPCAgent(
                dreamer.world_model,
                make_planner(name, plan, action_dim, device=device, seed=seed),  # type: ignore[arg-type]
                MPCConfig(),
                critic=dreamer.value,
                actor=dreamer.actor.sample if prior else None,
                learner=dreamer,
                seed=seed,
            )
            state: list[Any] = [None]

            def act(agent: MPCAgent = agent, state: list[Any] = state) -> None:
                first = np.array([state[0] is None])
                _, state[0] = agent.act(StepObs(obs=obs, is_first=first), state[0], deterministic=False)

            ms, _ = _median_ms(act, actions, warmup=3)
            rows.append(
                {
                    "planner": name,
                    "prior": prior,
                    "env": env,
                    "device": str(device),
                    "threads": torch.get_num_threads(),
                    **{k: v for k, v in dataclasses.asdict(plan).items() if k in _PLAN_KEYS},
                    "ms_per_action": ms,
                }
            )
    return rows


_PLAN_KEYS = ("horizon", "population", "elites", "iterations")


# ----------------------------------------------------------------------------------------------------
# Collection against the raw simulator


def measure_collection(
    cfg: Any,
    env: str,
    *,
    device: torch.device,
    num_envs: Sequence[int] = (1, 4, 16),
    steps: int = 2000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Env steps per second of the raw env and of collection, random and with the agent acting.

    ``raw``: one env from :func:`envs.make_env` (the wrappers a run steps) with random actions drawn
    beforehand, no policy, no vector env, no recording. ``random`` / ``agent``: the :class:`Collector`
    over a sync vector env of N envs with :class:`RandomPolicy` / the preset's (untrained) Dreamer agent
    acting (sampled actions, as in training). Each row carries ``ratio_to_raw``.

    Args:
        cfg: a ``DreamConfig`` (its env options and model).
        env: env name.
        device: the agent's device.
        num_envs: vector env sizes to measure.
        steps: env steps per measurement (after a short warm-up).
        seed: env and network seed.
    """
    from envs import make_env, make_vector_env

    torch.manual_seed(seed)
    single = make_env(env, cfg.envs, seed=seed)
    try:
        action_dim = int(np.prod(single.action_space.shape or ()))
        obs_shape = tuple(single.observation_space.shape or ())
        actions = np.random.default_rng(seed).uniform(-1, 1, (steps + 100, action_dim)).astype(np.float32)
        single.reset(seed=seed)

        def raw(n: int) -> None:
            for a in actions[:n]:
                _, _, terminated, truncated, _ = single.step(a)
                if terminated or truncated:
                    single.reset()

        raw(100)
        t0 = time.perf_counter()
        raw(steps)
        raw_sps = steps / (time.perf_counter() - t0)
    finally:
        single.close()
    rows = [{"env": env, "kind": "raw", "num_envs": 1, "steps_per_s": raw_sps, "ratio_to_raw": 1.0}]
    agent = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
    for n in num_envs:
        envs = dataclasses.replace(cfg.envs, num_envs=n, vector="sync")
        venv = make_vector_env(env, envs, seed=seed, num_envs=n)
        try:
            for kind, policy in (("random", RandomPolicy(action_dim, seed=seed)), ("agent", agent)):
                collector = Collector(venv, action_repeat=cfg.envs.action_repeat)
                collector.collect(policy, 50 * n)  # warm-up (and the first reset)
                before = collector.env_steps
                t0 = time.perf_counter()
                collector.collect(policy, steps)
                sps = (collector.env_steps - before) / (time.perf_counter() - t0)
                rows.append(
                    {
                        "env": env,
                        "kind": kind,
                        "num_envs": n,
                        "steps_per_s": sps,
                        "ratio_to_raw": sps / raw_sps,
                    }
                )
        finally:
            venv.close()
    return rows


# ----------------------------------------------------------------------------------------------------
# Op counts (machine-independent)


class OpCount(NamedTuple):
    """What the profiler saw of one call (:func:`count_ops`)."""

    ops: int  # outermost aten ops: each one a trip through the dispatcher from Python or autograd
    kernels: int  # innermost aten ops (those that run no other op)
    flops: float  # floating-point operations of the ops the profiler has formulas for


def count_ops(fn: Callable[[], Any]) -> OpCount:
    """Torch ops, kernels and floating-point operations of one call of ``fn`` on the CPU, from one
    profiler pass. The FLOP count covers the ops the profiler has formulas for: matrix products and
    convolutions, which hold nearly all of a model's arithmetic (element-wise ops are a rounding error)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    top = leaf = 0
    flops = 0.0
    for e in prof.events():
        if not e.name.startswith("aten::"):
            continue
        flops += e.flops or 0
        parent = e.cpu_parent
        if parent is None or not parent.name.startswith("aten::"):
            top += 1
        if not any(c.name.startswith("aten::") for c in e.cpu_children):
            leaf += 1
    return OpCount(top, leaf, flops)


def matmul_peak_gflops(size: tuple[int, int, int] = (2048, 512, 512), repeats: int = 20) -> float:
    """GFLOP/s of a large float32 matrix product at the current thread count (median of ``repeats``): the
    practical arithmetic peak the updates are compared with."""
    m, k, n = size
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    ms, _ = _median_ms(lambda: torch.mm(a, b), repeats, warmup=3)
    return 2.0 * m * k * n / (ms / 1000.0) / 1e9


def preset_obs_shape(cfg: Any, obs_dim: int = 17) -> tuple[int, ...]:
    """The observation shape of a preset's random batches: ``(size, size, 3)`` frames for a pixel preset,
    else ``(obs_dim,)`` state vectors (Walker2d-sized by default)."""
    if cfg.envs.obs == "pixels":
        return (cfg.envs.size, cfg.envs.size, 3)
    return (obs_dim,)


def random_batch(
    batch_size: int, seq_len: int, obs: int | tuple[int, ...], action_dim: int, device: torch.device
) -> Any:
    """A (B, T) batch of random observations and actions (every sequence starts an episode): float state
    vectors of size ``obs`` (an int or ``(D,)``), or uint8 frames for an ``(H, W, C)`` shape."""
    g = torch.Generator().manual_seed(0)
    shape = (obs,) if isinstance(obs, int) else tuple(obs)
    if len(shape) == 3:
        frames = torch.randint(0, 256, (batch_size, seq_len, *shape), generator=g, dtype=torch.uint8)
    else:
        frames = torch.randn(batch_size, seq_len, *shape, generator=g)
    is_first = torch.zeros(batch_size, seq_len, dtype=torch.bool)
    is_first[:, 0] = True
    batch = SequenceBatch(
        obs=frames,
        action=torch.rand(batch_size, seq_len, action_dim, generator=g) * 2 - 1,
        reward=torch.randn(batch_size, seq_len, generator=g),
        terminated=torch.zeros(batch_size, seq_len, dtype=torch.bool),
        truncated=torch.zeros(batch_size, seq_len, dtype=torch.bool),
        is_first=is_first,
    )
    return SequenceBatch(*(t.to(device) for t in batch))


def measure_op_counts(preset: str, cfg: Any, *, obs_dim: int = 17, action_dim: int = 6) -> dict[str, Any]:
    """Torch ops (and kernels) of one update, one imagination step and one action of a preset, on the CPU,
    and the floating-point operations of each update (:func:`count_ops`).

    Counts do not depend on the machine or its load: they are the measure of the per-op overhead of the
    latency-bound parts (the world model's sequential loop, acting) and of the arithmetic of the
    compute-bound ones. Walker2d-sized by default; a pixel preset's observations are its frames.
    """
    torch.manual_seed(0)
    device = torch.device("cpu")
    obs_shape = preset_obs_shape(cfg, obs_dim)
    agent = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
    tc = cfg.train
    batch = random_batch(tc.batch_size, tc.seq_len, obs_shape, action_dim, device)
    agent.update(batch)  # first-call work (optimiser state) is not counted
    wm = count_ops(lambda: agent.learner.update(batch))
    full = count_ops(lambda: agent.update(batch))
    start = agent.learner.update(batch)[1].flatten()  # detached posteriors
    n = cfg.agent.imag_starts or start.deter.shape[0]
    start = start.map(lambda x: x[:n])
    horizon = cfg.agent.horizon

    def imagine(h: int) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad():
                return agent.world_model.imagine(start, lambda f: agent.actor(f).rsample()[0], h)

        return run

    one, many = count_ops(imagine(1)), count_ops(imagine(horizon))
    dtype = np.uint8 if len(obs_shape) == 3 else np.float32
    obs = StepObs(obs=np.zeros((1, *obs_shape), dtype), is_first=np.zeros(1, bool))
    _, state = agent.act(StepObs(obs.obs, np.ones(1, bool)), None, deterministic=False)
    act = count_ops(lambda: agent.act(obs, state, deterministic=False))
    per_step = [(m - o) / max(horizon - 1, 1) for m, o in ((many.ops, one.ops), (many.kernels, one.kernels))]
    return {
        "preset": preset,
        "batch": [tc.batch_size, tc.seq_len],
        "imagination": [n, horizon],
        "wm_update_ops": wm.ops,
        "wm_update_kernels": wm.kernels,
        "ac_update_ops": full.ops - wm.ops,
        "ac_update_kernels": full.kernels - wm.kernels,
        "wm_update_gflop": wm.flops / 1e9,
        "ac_update_gflop": (full.flops - wm.flops) / 1e9,
        "imagine_step_ops": per_step[0],
        "imagine_step_kernels": per_step[1],
        "act_ops": act.ops,
        "act_kernels": act.kernels,
    }


# ----------------------------------------------------------------------------------------------------
# Update variants (the GPU suite): eager / autocast / compiled


VARIANTS: dict[str, tuple[bool, bool]] = {
    "eager": (False, False),
    "amp": (False, True),
    "compile": (True, False),
    "compile+amp": (True, True),
}
"""Update variants by name: (torch.compile, bfloat16 autocast)."""


def measure_update_variants(
    preset: str,
    cfg: Any,
    *,
    device: torch.device,
    variants: Sequence[str] = tuple(VARIANTS),
    updates: int = 10,
    warmup: int = 3,
    obs_dim: int = 17,
    action_dim: int = 6,
    compile_options: Mapping[str, Any] | None = None,
    deadline: float | None = None,
) -> list[dict[str, Any]]:
    """Milliseconds per update (world model + actor-critic) of a preset in each variant, and peak memory.

    Batches are random Walker2d-shaped (17-dim observations or a pixel preset's frames, 6-dim actions). A
    variant that fails is recorded with its ``error`` and the next one runs; variants not started by
    ``deadline`` (``time.monotonic()``) are recorded as skipped.

    Args:
        preset: the preset's name (recorded only).
        cfg: its ``DreamConfig``.
        device: where the updates run (autocast only takes effect on CUDA).
        variants: names from :data:`VARIANTS`.
        updates: timed updates (median).
        warmup: untimed updates first (compilation happens there; its seconds are recorded).
        obs_dim: observation size (state presets; a pixel preset's observations are its frames).
        action_dim: action size.
        compile_options: ``torch.compile`` options (default: the agent's).
        deadline: monotonic time after which no variant starts.
    """
    tc = cfg.train
    obs_shape = preset_obs_shape(cfg, obs_dim)
    rows = []
    for name in variants:
        compiled, amp = VARIANTS[name]
        row: dict[str, Any] = {
            "preset": preset,
            "variant": name,
            "device": str(device),
            "batch": [tc.batch_size, tc.seq_len],
            "imagination": [cfg.agent.imag_starts or tc.batch_size * tc.seq_len, cfg.agent.horizon],
        }
        rows.append(row)
        if deadline is not None and time.monotonic() > deadline:
            row["error"] = "skipped: time budget"
            continue
        try:
            torch.manual_seed(0)
            agent = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device, amp=amp)
            row["amp"], row["compiled"] = agent.amp, compiled
            row["params"] = sum(
                p.numel() for m in (agent.world_model, agent.actor, agent.critic) for p in m.parameters()
            )
            if compiled:
                agent.compile(**dict(compile_options or {}))
            batch = random_batch(tc.batch_size, tc.seq_len, obs_shape, action_dim, device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            for _ in range(warmup):
                agent.update(batch)
            row["warmup_s"] = time.perf_counter() - t0
            ms, metrics = _median_ms(partial(agent.update, batch), updates, warmup=0)
            row["update_ms"] = ms
            row["wm_update_ms"] = statistics.median(m["time/wm_update_ms"] for m in metrics)
            row["ac_update_ms"] = statistics.median(m["time/ac_update_ms"] for m in metrics)
            if device.type == "cuda":
                row["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        except Exception as exc:  # one failing variant must not hide the others' numbers
            row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


# ----------------------------------------------------------------------------------------------------
# Peak memory per preset (a fresh process each)


def _high_water_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` of ``/proc/self/status`` on Linux (reset by
    ``exec``, unlike ``ru_maxrss``, which a child started by ``fork`` + ``exec`` inherits from its parent),
    else ``ru_maxrss``."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    scale = 1024.0 if sys.platform != "darwin" else 2**20  # KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def peak_memory_child(preset: str, updates: int, obs_dim: int, action_dim: int) -> None:
    """The child of :func:`measure_peak_memory`: build ``preset``'s agent, make ``updates`` updates on a
    random batch of the preset's shape, print one JSON line: its peak resident memory
    (:func:`_high_water_rss_mb`), the same after the imports, the parameter count."""
    import json

    from agents.configs import DREAM_PRESETS

    cfg = DREAM_PRESETS[preset]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    imports_mb = _high_water_rss_mb()
    device = torch.device("cpu")
    obs_shape = preset_obs_shape(cfg, obs_dim)
    agent = DreamerAgent.build(cfg.model, cfg.agent, obs_shape, action_dim, device=device)
    batch = random_batch(cfg.train.batch_size, cfg.train.seq_len, obs_shape, action_dim, device)
    for _ in range(updates):
        agent.update(batch)
    params = sum(p.numel() for m in (agent.world_model, agent.actor, agent.critic) for p in m.parameters())
    peak_mb = _high_water_rss_mb()
    out = {"params": params, "peak_rss_mb": peak_mb, "imports_rss_mb": imports_mb}
    out["model_rss_mb"] = peak_mb - imports_mb
    print(json.dumps(out), flush=True)


def measure_peak_memory(
    preset: str, *, updates: int = 2, obs_dim: int = 17, action_dim: int = 6, timeout: float = 900.0
) -> dict[str, Any]:
    """Peak resident memory of a fresh CPU process that builds ``preset``'s agent (world model, actor,
    critic, optimisers) and makes ``updates`` updates on a random Walker2d-shaped batch of the preset's
    size: what the model side of a run needs at its peak (the kernel's high-water mark of that process),
    beside the same process's resident memory after its imports (Python, torch, the project). A run adds
    its envs and its replay (:data:`REPLAY_BYTES_NOTE`).

    Returns:
        ``preset``, ``params``, ``updates``, ``peak_rss_mb``, ``imports_rss_mb`` and ``model_rss_mb``
        (their difference), or ``error``.
    """
    import json

    code = (
        "import sys; from analysis.speed import peak_memory_child; "
        "peak_memory_child(sys.argv[1], *map(int, sys.argv[2:]))"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-c", code, preset, str(updates), str(obs_dim), str(action_dim)]
    row: dict[str, Any] = {"preset": preset, "updates": updates}
    proc = subprocess.Popen(
        argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return row | {"error": f"no result within {timeout:.0f} s"}
    if proc.returncode != 0:
        return row | {"error": " ".join(err.split())[-300:] or f"exit status {proc.returncode}"}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return row | json.loads(lines[-1])


REPLAY_BYTES_NOTE = (
    "a run adds its envs and its replay, which keeps every step in memory up to `--train.replay-capacity`"
    " (a 64x64 RGB frame alone is 12 KB per step)"
)


# ----------------------------------------------------------------------------------------------------
# Whole runs, several at once


@dataclass(frozen=True)
class RunSpec:
    """One ``scripts.dream`` subprocess of :func:`measure_runs`.

    Attributes:
        name: label (and folder name under the work directory).
        args: command-line arguments of ``scripts.dream`` besides those :func:`measure_runs` sets.
        steps: env steps of the run.
        prefill: random-action steps before training (not measured).
        log_every: env steps per logged speed sample (the training speed is their median).
    """

    name: str
    args: tuple[str, ...]
    steps: int = 3000
    prefill: int = 1000
    log_every: int = 250


def run_command(spec: RunSpec, run_dir: Path, seed: int = 0) -> list[str]:
    """The ``scripts.dream`` command of ``spec``: no evaluation before the end (one episode), no
    checkpoints, videos or open-loop evaluations on the way, speed logged every ``log_every`` steps."""
    return [
        sys.executable,
        "-m",
        "scripts.dream",
        *spec.args,
        "--steps",
        str(spec.steps),
        "--seed",
        str(seed),
        "--run-dir",
        str(run_dir),
        "--train.prefill",
        str(spec.prefill),
        "--train.log-every",
        str(spec.log_every),
        "--train.checkpoint-every",
        str(spec.steps),
        "--train.wm-eval-every",
        "0",
        "--train.video-every",
        "0",
        "--train.no-progress",
        "--eval-every",
        str(spec.steps),
        "--eval-early",
        "--eval-episodes",
        "1",
    ]


def _logged(run_dir: Path, tag: str, *, from_step: int = 0) -> list[float]:
    """The values a run logged to TensorBoard under ``tag`` at env steps >= ``from_step``, in order
    (:func:`analysis.events.read_scalars`)."""
    points = read_scalars(run_event_files(run_dir), lambda name: name == tag).get(tag, [])
    return [value for step, value in points if step >= from_step]


def training_steps_per_s(run_dir: Path, spec: RunSpec) -> float | None:
    """Median of the env steps/s a run logged over intervals entirely after its prefill (None: none)."""
    values = _logged(run_dir, "time/env_steps_per_s", from_step=spec.prefill + spec.log_every)
    return float(statistics.median(values)) if values else None


def measure_runs(
    specs: Sequence[RunSpec],
    workdir: Path,
    *,
    timeout: float = 600.0,
    environ: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Start one ``scripts.dream`` per spec at the same time; each one's training env steps per second.

    The runs get this process's environment without ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` (so that
    ``--threads 0`` shows the automatic choice), the repository on ``PYTHONPATH`` and ``MUJOCO_GL=egl``
    unless set. A run still going at ``timeout`` is stopped with SIGTERM (it checkpoints and logs what it
    has). Rows: ``name``, ``train_steps_per_s`` (see :func:`training_steps_per_s`), ``threads`` (the
    start-up line), ``returncode``, ``wall_s``, ``log``.
    """
    env = dict(os.environ if environ is None else environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MUJOCO_GL", "egl")
    workdir.mkdir(parents=True, exist_ok=True)
    started = []
    for i, spec in enumerate(specs):
        run_dir = workdir / spec.name
        if run_dir.exists():  # a run of an earlier measurement: scripts.dream refuses existing run dirs
            shutil.rmtree(run_dir)
        log = workdir / f"{spec.name}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                run_command(spec, run_dir, seed=i), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT
            )
        started.append((spec, run_dir, log, proc, time.monotonic()))
    rows = []
    end = time.monotonic() + timeout
    for spec, run_dir, log, proc, t0 in started:
        try:
            proc.wait(timeout=max(1.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        threads = next((ln for ln in log.read_text().splitlines() if ln.startswith("threads: ")), "")
        rows.append(
            {
                "name": spec.name,
                "args": list(spec.args),
                "steps": spec.steps,
                "together": len(specs),
                "threads": threads.removeprefix("threads: "),
                "train_steps_per_s": training_steps_per_s(run_dir, spec),
                "gpu_peak_mb": max(_logged(run_dir, "time/gpu_peak_mb"), default=None),
                "returncode": proc.returncode,
                "wall_s": time.monotonic() - t0,
                "log": str(log),
            }
        )
    return rows


def concurrency_specs(
    preset: str, env: str, thread_settings: Sequence[int], *, steps: int, device: str = "cpu"
) -> list[list[RunSpec]]:
    """Groups of runs for "two at once against one alone": per ``--threads`` setting (0: automatic),
    one run alone, then two together."""
    groups = []
    for n in thread_settings:
        label = "auto" if n == 0 else f"{n}t"

        def spec(name: str, n: int = n) -> RunSpec:
            args = ("--preset", preset, "--env", env, "--threads", str(n), "--device", device)
            return RunSpec(
                name, args, steps=steps, prefill=min(1000, steps // 4), log_every=max(50, steps // 20)
            )

        groups.append([spec(f"alone-{label}")])
        groups.append([spec(f"pair-{label}-a"), spec(f"pair-{label}-b")])
    return groups


def speed_markdown(result: dict[str, Any]) -> str:
    """The ``speed.md`` tables of a :func:`scripts.benchmark` speed result."""
    lines = [
        "## Updates and collection per `scripts.dream` preset",
        "",
        "| preset | env | threads | params | batch | imag. starts x H | WM update ms | AC update ms |"
        " update ms | updates / env step | collect steps/s | train steps/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["presets"]:
        b, im = r["batch"], r["imagination"]
        lines.append(
            f"| {r['preset']} | {r['env']} | {r['threads']} | {r['params'] / 1e6:.2f}M | {b[0]}x{b[1]} |"
            f" {im[0]}x{im[1]} | {r['wm_update_ms']:.0f} | {r['ac_update_ms']:.0f} | {r['update_ms']:.0f} |"
            f" {r['updates_per_env_step']:.2f} | {r['collect_steps_per_s']:.0f} |"
            f" {r['train_steps_per_s']:.1f} |"
        )
    lines += [
        "",
        "`train steps/s` = 1 / (1 / collect steps/s + updates per env step x update time): a run's speed"
        " without its evaluations.",
        "",
        "## Planning (`scripts.mpc`), default planner settings, one env",
        "",
        "| planner | prior | env | threads | horizon | population | iterations | ms per action |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["planners"]:
        prior = "yes" if r["prior"] else "no"
        lines.append(
            f"| {r['planner']} | {prior} | {r['env']} | {r['threads']} | {r['horizon']} |"
            f" {r['population']} | {r['iterations']} | {r['ms_per_action']:.1f} |"
        )
    lines += collection_markdown(result.get("collection", []))
    lines += op_count_markdown(result.get("op_counts", []))
    lines += arithmetic_markdown(result)
    lines += memory_markdown(result.get("memory", []))
    lines += runs_markdown(result.get("runs", []), "Runs at once (`scripts.dream`, training env steps/s)")
    return "\n".join(lines) + "\n"


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def collection_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Lines of the table of :func:`measure_collection` rows (none without rows)."""
    if not rows:
        return []
    lines = [
        "",
        "## Collection against the raw simulator",
        "",
        "`raw`: one env, random actions, no policy; `random` / `agent`: the collector over a sync vector env"
        " with random actions / the (untrained) Dreamer agent acting.",
        "",
        "| env | kind | envs | env steps/s | of raw |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['env']} | {r['kind']} | {r['num_envs']} | {r['steps_per_s']:.0f} |"
            f" {r['ratio_to_raw']:.0%} |"
        )
    return lines


def arithmetic_markdown(result: dict[str, Any]) -> list[str]:
    """Lines of the table that sets each preset's update time (Walker2d, 1 thread) against its arithmetic
    and the machine's float32 matrix-product peak: the floor on the update time for the same maths."""
    peak = result.get("matmul_gflops_1thread")
    flops = {r["preset"]: r for r in result.get("op_counts", []) if "wm_update_gflop" in r}
    rows = [
        r
        for r in result.get("presets", [])
        if r["env"] == "Walker2d" and r["threads"] == 1 and r["preset"] in flops
    ]
    if not peak or not rows:
        return []
    lines = [
        "",
        "## Arithmetic against the machine's peak (Walker2d, 1 thread)",
        "",
        f"GFLOP per update from the profiler's counts; the peak is a 2048x512x512 float32 matrix product"
        f" on this machine, 1 thread: {peak:.0f} GFLOP/s. *floor*: the update's arithmetic at that peak, the"
        " shortest an update of the same maths can take here in float32; *headroom*: update / floor.",
        "",
        "| preset | WM GFLOP | AC GFLOP | WM ms (GFLOP/s) | AC ms (GFLOP/s) | update ms | floor ms"
        " | headroom |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        f = flops[r["preset"]]
        wm, ac = f["wm_update_gflop"], f["ac_update_gflop"]
        wm_ms, ac_ms = r["wm_update_ms"], r["ac_update_ms"]
        floor = (wm + ac) / peak * 1000.0
        lines.append(
            f"| {r['preset']} | {wm:.3g} | {ac:.3g} | {wm_ms:.0f} ({wm / wm_ms * 1000:.0f}) |"
            f" {ac_ms:.0f} ({ac / ac_ms * 1000:.0f}) | {r['update_ms']:.0f} | {floor:.2g} |"
            f" {r['update_ms'] / floor:.1f}x |"
        )
    return lines


def memory_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Lines of the table of :func:`measure_peak_memory` rows (none without rows)."""
    if not rows:
        return []
    lines = [
        "",
        "## Peak memory per preset (CPU)",
        "",
        "A fresh process builds the preset's agent and makes a few updates on a random Walker2d-shaped batch;"
        f" peak resident memory, the same after the imports, and the difference; {REPLAY_BYTES_NOTE}.",
        "",
        "| preset | params | updates | peak RSS MB | after imports MB | model and updates MB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['preset']} | - | {r['updates']} | {r['error']} | | |")
            continue
        lines.append(
            f"| {r['preset']} | {r['params'] / 1e6:.2f}M | {r['updates']} | {r['peak_rss_mb']:.0f} |"
            f" {r['imports_rss_mb']:.0f} | {r['model_rss_mb']:.0f} |"
        )
    return lines


def op_count_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Lines of the table of :func:`measure_op_counts` rows (none without rows)."""
    if not rows:
        return []
    lines = [
        "",
        "## Op counts (machine-independent; Walker2d sizes)",
        "",
        "Torch ops dispatched (kernels run in brackets), from the profiler on the CPU.",
        "",
        "| preset | batch | imag. starts x H | WM update | AC update | imagination step | act (1 env) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        b, im = r["batch"], r["imagination"]
        lines.append(
            f"| {r['preset']} | {b[0]}x{b[1]} | {im[0]}x{im[1]} |"
            f" {r['wm_update_ops']} ({r['wm_update_kernels']}) |"
            f" {r['ac_update_ops']} ({r['ac_update_kernels']}) |"
            f" {r['imagine_step_ops']:.0f} ({r['imagine_step_kernels']:.0f}) |"
            f" {r['act_ops']} ({r['act_kernels']}) |"
        )
    return lines


def runs_markdown(rows: Sequence[dict[str, Any]], title: str) -> list[str]:
    """Lines of the table of :func:`measure_runs` rows (none without rows)."""
    if not rows:
        return []
    lines = [
        "",
        f"## {title}",
        "",
        "| run | runs at once | threads | steps | train steps/s | peak GPU MB | exit | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['together']} | {r['threads'] or '-'} | {r['steps']} |"
            f" {_num(r['train_steps_per_s'], '.1f')} | {_num(r.get('gpu_peak_mb'), '.0f')} |"
            f" {r['returncode']} | {r['wall_s']:.0f} |"
        )
    return lines


def gpu_markdown(result: dict[str, Any]) -> str:
    """The ``gpu.md`` tables of a :func:`scripts.benchmark` GPU result."""
    lines = [
        "## Updates per preset and variant",
        "",
        "Random Walker2d-shaped batches; medians over the timed updates after the warm-up (which compiles).",
        "",
        "| preset | variant | device | params | batch | imag. starts x H | update ms | WM ms | AC ms |"
        " warm-up s | peak GPU MB | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["updates"]:
        b, im = r["batch"], r["imagination"]
        params = f"{r['params'] / 1e6:.2f}M" if "params" in r else "-"
        note = r.get("error", "")
        if not note and r["variant"].endswith("amp") and not r.get("amp"):
            note = "autocast is CUDA-only: ran in float32"
        lines.append(
            f"| {r['preset']} | {r['variant']} | {r['device']} | {params} | {b[0]}x{b[1]} | {im[0]}x{im[1]} |"
            f" {_num(r.get('update_ms'), '.1f')} | {_num(r.get('wm_update_ms'), '.1f')} |"
            f" {_num(r.get('ac_update_ms'), '.1f')} | {_num(r.get('warmup_s'), '.0f')} |"
            f" {_num(r.get('peak_gpu_mb'), '.0f')} | {note} |"
        )
    lines += runs_markdown(result.get("runs", []), "Short real runs (`scripts.dream`, training env steps/s)")
    return "\n".join(lines) + "\n"


__all__ = [
    "OpCount",
    "RunSpec",
    "concurrency_specs",
    "count_ops",
    "gpu_markdown",
    "matmul_peak_gflops",
    "measure_collection",
    "measure_op_counts",
    "measure_planners",
    "measure_preset",
    "measure_runs",
    "measure_update_variants",
    "speed_markdown",
]
