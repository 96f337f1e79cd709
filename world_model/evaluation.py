"""Evaluation of a world model on its own: open-loop prediction against held-out real sequences.

Observe a context of K real steps, then roll the prior open-loop with the real actions for H steps,
and compare per horizon step with what really happened: observations (normalised MSE, via the
decoder or the probe; SSIM for pixels), rewards (MSE) and episode continuation (accuracy). The
trivial references are the predictor that repeats the last context observation and the one that
predicts the mean reward.

For state observations of a simulated env, a ``physics`` function (``envs.physics.physics_for``) maps
real and predicted observations to their energy and centre-of-mass momentum: the errors against the
real trajectory and the energy drift of the imagined one are reported per horizon step. Models on the
state itself (ensemble, Hamiltonian) are scored by the same :func:`score_openloop`
(:mod:`world_model.state_fit`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from envs.episode import Episode, SequenceBatch, cut_windows
from envs.errors import UserError
from world_model.model import WorldModel


@dataclass(frozen=True)
class OpenLoopWindow:
    """An open-loop window: the model observes ``context`` real steps, then predicts ``horizon`` steps
    on its own under the window's actions (the real ones, or a policy's). One idea under one name for
    the world model's evaluation (``scripts.fit_world_model``'s ``--context`` / ``--horizon``), the
    videos of imagined rollouts (``scripts.imagine``'s) and the training loop's two windows
    (:class:`agents.trainer.TrainerConfig`'s ``wm_eval_window`` and ``video_window``).

    No defaults: each holder says its own (a fit's evaluation 5 + 15, a video 8 + 32).
    """

    context: int
    """Real steps the model observes before it predicts on its own (K; posterior states)."""
    horizon: int
    """Steps it then predicts open-loop under the window's actions, without observations (H; prior
    states). A window spans context + horizon steps of one episode."""

    def __post_init__(self) -> None:
        for name, low in (("context", 1), ("horizon", 0)):
            if getattr(self, name) < low:
                raise UserError(f"--{name} must be at least {low}, got {getattr(self, name)}")

    @property
    def length(self) -> int:
        """Records a window spans: context + horizon."""
        return self.context + self.horizon


def eval_windows(
    episodes: Sequence[Episode], length: int, *, stride: int | None = None, max_windows: int | None = None
) -> SequenceBatch[np.ndarray]:
    """Cut windows of ``length`` records out of whole episodes (none crosses an episode boundary).

    Args:
        episodes: held-out episodes.
        length: records per window (context + horizon).
        stride: step between window starts in an episode (default ``length``: disjoint windows).
        max_windows: keep at most this many, spread evenly over all windows found.

    Returns:
        A batch (N, length, ...); ``is_first`` is True only where a window starts an episode.

    Raises:
        ValueError: if no episode has ``length`` records.
    """
    stride = stride or length
    keys = [(i, s) for i, ep in enumerate(episodes) for s in range(0, len(ep) - length + 1, stride)]
    if not keys:
        longest = max((len(ep) for ep in episodes), default=0)
        raise ValueError(f"no episode has {length} records (longest: {longest})")
    if max_windows is not None and len(keys) > max_windows:
        pick = np.linspace(0, len(keys) - 1, max_windows).round().astype(int)
        keys = [keys[j] for j in pick]
    return cut_windows(episodes, length, keys)


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Structural similarity of images in [0, 1] with an 11x11 Gaussian window (sigma 1.5).

    Args:
        x, y: (N, H, W, C) images.

    Returns:
        (N,) mean SSIM per image (1 for identical images).
    """
    c = x.shape[-1]
    a, b = x.movedim(-1, -3).to(torch.float32), y.movedim(-1, -3).to(torch.float32)
    coords = torch.arange(11, dtype=torch.float32, device=x.device) - 5.0
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(c, 1, 11, 11).contiguous()

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, kernel, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def prediction_horizon(nmse: Sequence[float], threshold: float) -> int:
    """T_h: the largest h whose normalised MSE of steps 1..h all stay under ``threshold`` (0 if none)."""
    for h, value in enumerate(nmse):
        if not value < threshold:
            return h
    return len(nmse)


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over the batch axis 0 of (B, H) values where ``mask``; (H,) (nan where no valid row)."""
    m = mask.to(x.dtype)
    return (x * m).sum(0) / m.sum(0)


PhysicsFn = Callable[[np.ndarray], Any]
"""Observations (..., D) -> an object with ``energy`` (...) and ``momentum`` (..., 3) arrays
(:func:`envs.physics.physics_for`); passed in, so this package never imports MuJoCo."""


def _np_masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over all axes but the last of values (..., H) where ``mask`` (..., H): (H,) (nan if none)."""
    m = mask.astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * m).sum(axes) / m.sum(axes)


def physical_errors(
    physics: PhysicsFn,
    true: np.ndarray,
    pred: np.ndarray,
    true_start: np.ndarray,
    pred_start: np.ndarray,
    valid: np.ndarray,
) -> dict[str, Any]:
    """Energy and momentum of predicted trajectories against the real ones, and the energy drift.

    Args:
        physics: observations (..., D) -> energy (...), momentum (..., 3).
        true: (B, H, D) real observations of steps 1..H.
        pred: (P, B, H, D) P predicted trajectories.
        true_start: (B, D) the real observation imagination starts from (step 0).
        pred_start: (P, B, D) the model's own state at step 0 (its reconstruction, or the observation).
        valid: (B, H) bool, steps inside the episode.

    Returns:
        Lists over horizon steps 1..H: ``openloop_energy_error`` (mean |E_pred - E_real|, J),
        ``openloop_momentum_error`` (mean ||p_pred - p_real||, kg m/s), ``openloop_energy_drift``
        (mean |E_pred(t) - E_pred(0)|), ``openloop_energy_drift_real`` (the same for the real
        trajectory); their means over the horizon ``energy_error``, ``momentum_error``, ``energy_drift``
        ((1/H) sum_t |E_t - E_0|, WORLD-MODELS.md section 5), ``energy_drift_real``; the scales of the
        real data, ``energy_scale`` (std of E) and ``momentum_scale`` (root mean square of ||p - mean p||).
    """
    real, imag = physics(true), physics(pred)
    real0, imag0 = physics(true_start), physics(pred_start)
    e_err = np.abs(imag.energy - real.energy[None])  # (P, B, H)
    m_err = np.linalg.norm(imag.momentum - real.momentum[None], axis=-1)
    drift = np.abs(imag.energy - imag0.energy[..., None])
    drift_real = np.abs(real.energy - real0.energy[:, None])  # (B, H)
    mask = np.broadcast_to(valid, e_err.shape)
    out: dict[str, Any] = {
        "openloop_energy_error": _np_masked_mean(e_err, mask).tolist(),
        "openloop_momentum_error": _np_masked_mean(m_err, mask).tolist(),
        "openloop_energy_drift": _np_masked_mean(drift, mask).tolist(),
        "openloop_energy_drift_real": _np_masked_mean(drift_real, valid).tolist(),
    }
    for key in ("energy_error", "momentum_error", "energy_drift", "energy_drift_real"):
        out[key] = float(np.nanmean(out[f"openloop_{key}"]))
    e_real, p_real = real.energy[valid], real.momentum[valid]
    out["energy_scale"] = float(e_real.std())
    out["momentum_scale"] = float(np.sqrt(((p_real - p_real.mean(0)) ** 2).sum(-1).mean()))
    return out


def score_openloop(
    batch: SequenceBatch[Tensor],
    *,
    context: int,
    horizon: int,
    pred_obs: Tensor,
    pred_reward: Tensor,
    pred_cont: Tensor,
    pred_start: Tensor | None = None,
    threshold: float = 0.1,
    physics: PhysicsFn | None = None,
) -> dict[str, Any]:
    """Score P predicted trajectories of every window against what really happened.

    Shared by every model family: errors are computed per trajectory and averaged over the P
    trajectories (for a sampling model, the expected error of one sampled trajectory).

    Args:
        batch: (B, T, ...) real windows, T >= context + horizon; steps after an ``is_first`` inside the
            horizon are left out.
        context, horizon: K and H; predictions are of steps K .. K + H - 1 (horizon steps 1..H).
        pred_obs: (P, B, H, *obs_shape) predicted observations (float; pixels 0..255).
        pred_reward: (P, B, H) predicted rewards; pred_cont: (P, B, H) predicted P(continue).
        pred_start: (P, B, *obs_shape) the model's state at step K - 1 (for the energy drift); default
            the real observation there.
        threshold: normalised MSE under which a prediction counts as accurate.
        physics: state observations -> energy and momentum; adds :func:`physical_errors`' keys.

    Returns:
        The keys of :func:`openloop_eval` except ``posterior_nmse`` (plus the physical ones).
    """
    K, H = context, horizon
    valid = batch.is_first[:, K : K + H].cumsum(1) == 0  # (B, H)
    true = batch.obs[:, K : K + H].to(torch.float32)
    last = batch.obs[:, K - 1 : K].to(torch.float32).expand_as(true)
    pixels = true.dim() == 5
    flat_true = true[valid]  # (M, *obs_shape)
    if pixels:
        var = flat_true.var().clamp(min=1e-6)
    else:
        var = flat_true.var(0)
        var = var.clamp(min=max(1e-3 * float(var.mean()), 1e-8))
    obs_axes = tuple(range(2, true.dim()))

    def nmse(p: Tensor) -> Tensor:
        return ((p - true) ** 2 / var).mean(obs_axes)  # (B, H)

    P = pred_obs.shape[0]
    pred_nmse = torch.stack([nmse(pred_obs[i].to(torch.float32)) for i in range(P)]).mean(0)
    result: dict[str, Any] = {
        "openloop_nmse": _masked_mean(pred_nmse, valid).tolist(),
        "openloop_nmse_repeat_last": _masked_mean(nmse(last), valid).tolist(),
    }
    if P > 1:
        result["openloop_nmse_particle_mean"] = _masked_mean(nmse(pred_obs.float().mean(0)), valid).tolist()
    reward = batch.reward[:, K : K + H].to(torch.float32)
    r_err = ((pred_reward.to(torch.float32) - reward) ** 2).mean(0)  # (B, H)
    r_mean = reward[valid].mean()
    result["openloop_reward_mse"] = _masked_mean(r_err, valid).tolist()
    result["reward_mse"] = float(r_err[valid].mean())
    result["reward_mse_1step"] = result["openloop_reward_mse"][0]
    result["reward_mse_mean_predictor"] = float(((reward - r_mean) ** 2)[valid].mean())
    cont_true = ~batch.terminated[:, K : K + H]
    correct = ((pred_cont > 0.5) == cont_true).to(torch.float32).mean(0)
    result["openloop_cont_accuracy"] = _masked_mean(correct, valid).tolist()
    result["cont_accuracy"] = float(correct[valid].mean())
    if pixels:
        B = true.shape[0]
        flat = true.flatten(0, 1) / 255.0
        s_pred = torch.stack(
            [ssim(pred_obs[i].flatten(0, 1) / 255.0, flat).reshape(B, H) for i in range(P)]
        ).mean(0)
        s_last = ssim(last.flatten(0, 1) / 255.0, flat).reshape(B, H)
        result["openloop_ssim"] = _masked_mean(s_pred, valid).tolist()
        result["openloop_ssim_repeat_last"] = _masked_mean(s_last, valid).tolist()
    if physics is not None and not pixels:
        start_true = batch.obs[:, K - 1].to(torch.float32)
        start = start_true.expand(P, *start_true.shape) if pred_start is None else pred_start
        result.update(
            physical_errors(
                physics,
                true.cpu().numpy(),
                pred_obs.float().cpu().numpy(),
                start_true.cpu().numpy(),
                start.float().cpu().numpy(),
                valid.cpu().numpy(),
            )
        )
    result["nmse_1step"] = result["openloop_nmse"][0]
    result["prediction_horizon"] = prediction_horizon(result["openloop_nmse"], threshold)
    result.update(threshold=threshold, context=K, horizon=H, sequences=int(true.shape[0]))
    return result


@torch.no_grad()
def openloop_eval(
    model: WorldModel,
    batch: SequenceBatch[Tensor],
    *,
    context: int,
    horizon: int,
    threshold: float = 0.1,
    physics: PhysicsFn | None = None,
) -> dict[str, Any]:
    """Open-loop evaluation on real sequences.

    Args:
        model: the world model (its decoder, or probe for the latent objective, maps features to obs).
        batch: (B, T, ...) real sequences with T >= context + horizon, on the model's device; steps after
            an ``is_first`` inside the horizon are left out.
        context: K real steps observed first.
        horizon: H steps predicted open-loop with the real actions.
        threshold: normalised MSE under which a prediction counts as accurate (for ``prediction_horizon``).
        physics: for state observations of a simulated env, observations -> energy and momentum
            (:func:`envs.physics.physics_for`): adds the physical-consistency keys of
            :func:`physical_errors` (the drift measured from the model's reconstruction of step K - 1).

    Returns:
        Lists over horizon steps 1..H: ``openloop_nmse``, ``openloop_nmse_repeat_last``,
        ``openloop_reward_mse``, ``openloop_cont_accuracy`` (and ``openloop_ssim``,
        ``openloop_ssim_repeat_last`` for pixels); scalars ``posterior_nmse`` (reconstruction of the
        context from posterior states), ``nmse_1step``, ``reward_mse`` (over the horizon),
        ``reward_mse_1step``, ``reward_mse_mean_predictor``, ``cont_accuracy``, ``prediction_horizon``,
        ``threshold``, ``context``, ``horizon``, ``sequences``.
    """
    K, H = context, horizon
    if context < 1 or horizon < 1 or batch.obs.shape[1] < K + H:
        raise ValueError(
            f"need context >= 1, horizon >= 1 and T >= context + horizon, got T={batch.obs.shape[1]}"
        )
    was_training = model.training
    model.eval()
    post, _ = model.observe(batch.obs[:, :K], batch.action[:, :K], batch.is_first[:, :K])
    start = post.map(lambda x: x[:, -1])
    imag = model.imagine(start, batch.action[:, K : K + H].to(start.deter.dtype), H)
    feat = imag.feat[:, 1:]  # (B, H, F): predicted states K .. K+H-1
    pred = model.decode(feat)
    # Reconstruction of the context from posterior states: the representation's error alone.
    ctx_true = batch.obs[:, :K].to(torch.float32)
    ctx_pred = model.decode(model.feat(post))
    valid = batch.is_first[:, K : K + H].cumsum(1) == 0
    flat_true = batch.obs[:, K : K + H].to(torch.float32)[valid]
    if ctx_true.dim() == 5:
        var = flat_true.var().clamp(min=1e-6)
    else:
        var = flat_true.var(0)
        var = var.clamp(min=max(1e-3 * float(var.mean()), 1e-8))
    ctx_err = ((ctx_pred - ctx_true) ** 2 / var).mean(tuple(range(2, ctx_true.dim())))
    result: dict[str, Any] = {"posterior_nmse": float(ctx_err.mean())}
    result.update(
        score_openloop(
            batch,
            context=K,
            horizon=H,
            pred_obs=pred.unsqueeze(0),
            pred_reward=model.reward(feat).unsqueeze(0),
            pred_cont=model.cont(feat).unsqueeze(0),
            pred_start=ctx_pred[:, -1].unsqueeze(0),
            threshold=threshold,
            physics=physics,
        )
    )
    model.train(was_training)
    return result


OPENLOOP_PREFIX = "wm/openloop/"
"""Where the open-loop scores go in TensorBoard, for ``scripts.dream`` (during training) and
``scripts.fit_world_model`` (at each evaluation) alike."""


def openloop_scalars(result: dict[str, Any], prefix: str = OPENLOOP_PREFIX) -> dict[str, float]:
    """The headline numbers of :func:`openloop_eval` as flat scalars for TensorBoard, one name per metric
    whatever the script and the horizon: ``wm/openloop/nmse_1`` (first predicted step), ``nmse_last``
    (step H), ``nmse_mean``, ``posterior_nmse``, ``repeat_last_nmse_1`` / ``_last``,
    ``prediction_horizon``, ``reward_mse``, ``reward_mse_mean_predictor``, ``cont_accuracy``, the
    physical errors where measured, ``ssim_1`` / ``ssim_last`` for pixels. A score that is NaN (no window
    reached that far) is left out; an infinite one is kept (a diverging model)."""
    nmse = result["openloop_nmse"]
    out = {
        "nmse_1": nmse[0],
        "nmse_last": nmse[-1],
        "nmse_mean": float(np.nanmean(nmse)),
        "posterior_nmse": result["posterior_nmse"],
        "repeat_last_nmse_1": result["openloop_nmse_repeat_last"][0],
        "repeat_last_nmse_last": result["openloop_nmse_repeat_last"][-1],
        "prediction_horizon": float(result["prediction_horizon"]),
        "reward_mse": result["reward_mse"],
        "reward_mse_mean_predictor": result["reward_mse_mean_predictor"],
        "cont_accuracy": result["cont_accuracy"],
    }
    for key in ("energy_error", "momentum_error", "energy_drift", "energy_drift_real"):
        if key in result:
            out[key] = result[key]
    if "openloop_ssim" in result:
        out["ssim_1"] = result["openloop_ssim"][0]
        out["ssim_last"] = result["openloop_ssim"][-1]
    return {f"{prefix}{k}": float(v) for k, v in out.items() if not math.isnan(float(v))}
