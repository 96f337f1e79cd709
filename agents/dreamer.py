"""Dreamer agent: a policy learned inside the world model's imagination (actor-critic on latent states).

Per update: the world model learns from a replayed batch; from its posterior states (all, or a random
subset of ``imag_starts``) the actor's actions are imagined ``horizon`` steps forward through the frozen
learned dynamics; the critic regresses two-hot symlog targets onto lambda-returns computed with a slow
target critic; the actor maximises the normalised lambda-returns by backpropagating through the
dynamics, plus an entropy bonus.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from agents.returns import ReturnNormalizer, discount_weights, lambda_return
from envs.episode import SequenceBatch, StepObs
from envs.errors import UserError
from world_model import WorldModel, WorldModelConfig
from world_model.distributions import TwoHotDist, symlog_bins
from world_model.learner import WorldModelLearner
from world_model.networks import ema_update, mlp


@dataclass(frozen=True)
class ActorCriticConfig:
    """Actor-critic learned in imagination."""

    horizon: int = 15
    """Imagination horizon (steps of the learned dynamics per start state)."""
    imag_starts: int = 0
    """Posterior states imagination starts from, drawn at random from the B*T of the batch (0: all)."""
    gamma: float = 0.997
    """Discount per agent step."""
    lam: float = 0.95
    """Lambda of the TD(lambda) returns."""
    hidden: int = 256
    """Hidden width of the actor and critic MLPs."""
    layers: int = 2
    """Hidden layers of the actor and critic MLPs."""
    actor_lr: float = 8e-5
    """Actor learning rate (Adam)."""
    critic_lr: float = 8e-5
    """Critic learning rate (Adam)."""
    adam_eps: float = 1e-5
    """Adam epsilon for actor and critic."""
    grad_clip: float = 100.0
    """Global gradient-norm clip for actor and critic."""
    entropy: float = 3e-4
    """Entropy bonus weight (advantages are normalised, so one value serves all reward scales)."""
    min_std: float = 0.1
    """Smallest standard deviation of the actor's pre-tanh Gaussian."""
    max_std: float = 1.0
    """Largest standard deviation of the actor's pre-tanh Gaussian."""
    critic_bins: int = 255
    """Number of two-hot bins of the critic (evenly spaced in symlog space)."""
    slow_critic_decay: float = 0.98
    """EMA decay of the slow target critic per update (it provides the bootstrap values)."""
    return_norm_decay: float = 0.99
    """EMA decay of the 5th-95th percentile return range used to normalise advantages."""

    def __post_init__(self) -> None:
        checks = {
            "horizon >= 1": self.horizon >= 1,
            "imag_starts >= 0": self.imag_starts >= 0,
            "0 < gamma <= 1": 0 < self.gamma <= 1,
            "0 <= lam <= 1": 0 <= self.lam <= 1,
            "hidden >= 1 and layers >= 0": self.hidden >= 1 and self.layers >= 0,
            "0 < min_std <= max_std": 0 < self.min_std <= self.max_std,
            "critic_bins >= 2": self.critic_bins >= 2,
            "0 <= slow_critic_decay < 1": 0 <= self.slow_critic_decay < 1,
            "0 <= return_norm_decay < 1": 0 <= self.return_norm_decay < 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise UserError(f"actor-critic config needs {', '.join(bad)}")


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy over actions in [-1, 1]: ``a = tanh(u), u ~ N(mu(f), std(f))``."""

    def __init__(self, feat_dim: int, action_dim: int, cfg: ActorCriticConfig):
        """Build the actor MLP ``feat (.., F) -> (mu, std) (.., A)``."""
        super().__init__()
        self.net = mlp(feat_dim, 2 * action_dim, units=cfg.hidden, layers=cfg.layers)
        self.min_std, self.max_std = cfg.min_std, cfg.max_std

    def dist(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation (.., A) of the pre-tanh Gaussian."""
        mu, raw = self.net(feat).chunk(2, dim=-1)
        std = self.min_std + (self.max_std - self.min_std) * torch.sigmoid(raw + 2.0)
        return mu, std

    def sample(self, feat: Tensor) -> Tensor:
        """Reparameterised action sample (.., A) in (-1, 1)."""
        mu, std = self.dist(feat)
        return torch.tanh(mu + std * torch.randn_like(mu))

    def mode(self, feat: Tensor) -> Tensor:
        """Deterministic action (.., A): ``tanh(mu)``."""
        return torch.tanh(self.dist(feat)[0])

    def sample_with_entropy(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """A reparameterised sample (.., A) and a one-sample entropy estimate (..) ``-log pi(a)``."""
        mu, std = self.dist(feat)
        eps = torch.randn_like(mu)
        u = mu + std * eps
        # log N(u; mu, std) - log|d tanh(u)/du|, with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
        log_prob = -0.5 * eps.square() - std.log() - 0.5 * math.log(2 * math.pi)
        log_det = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        return torch.tanh(u), -(log_prob - log_det).sum(-1)


class Critic(nn.Module):
    """Value of latent states as a two-hot distribution over symlog-spaced bins."""

    bins: Tensor

    def __init__(self, feat_dim: int, cfg: ActorCriticConfig):
        """Build the critic MLP ``feat (.., F) -> logits (.., bins)``, last layer zero-initialised."""
        super().__init__()
        self.net = mlp(feat_dim, cfg.critic_bins, units=cfg.hidden, layers=cfg.layers, zero_out=True)
        self.register_buffer("bins", symlog_bins(cfg.critic_bins))

    def forward(self, feat: Tensor) -> TwoHotDist:
        """Value distribution of states ``feat`` (.., F)."""
        return TwoHotDist(self.net(feat), self.bins)


class DreamerState(NamedTuple):
    """Recurrent acting state of N envs: the model's latent and the previous action (N, A)."""

    latent: Any
    action: Tensor


@contextlib.contextmanager
def _frozen(*modules: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into the parameters of ``modules`` (gradients still flow through them)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _map_state(state: Any, fn: Any) -> Any:
    """Apply ``fn`` to every tensor of a latent state (a tensor, NamedTuple, dict or dataclass of tensors)."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_map_state(x, fn) for x in state))
    if isinstance(state, dict):
        return {k: _map_state(v, fn) for k, v in state.items()}
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return dataclasses.replace(
            state,
            **{f.name: _map_state(getattr(state, f.name), fn) for f in dataclasses.fields(state)},
        )
    raise TypeError(f"cannot map over a latent state of type {type(state)}")


class DreamerAgent:
    """World model + imagination-trained actor-critic; implements :class:`envs.Policy`.

    Acting never trains; only :meth:`update` changes parameters.
    """

    def __init__(
        self,
        world_model: WorldModel,
        learner: WorldModelLearner,
        cfg: ActorCriticConfig,
        action_dim: int,
        *,
        device: torch.device,
        amp: bool = False,
    ):
        """Wrap a world model (already on ``device``) and its learner, and build the actor-critic.

        Args:
            world_model: the model acted and imagined with.
            learner: its optimiser wrapper (``update(batch) -> (metrics, post)``).
            cfg: actor-critic settings.
            action_dim: A.
            device: device of every module and of the batches passed to :meth:`update`.
            amp: run forward passes under bfloat16 autocast (CUDA only).
        """
        self.cfg, self.action_dim, self.device = cfg, action_dim, device
        self.world_model, self.learner = world_model, learner
        feat_dim = world_model.feat_dim
        self.actor = Actor(feat_dim, action_dim, cfg).to(device)
        self.critic = Critic(feat_dim, cfg).to(device)
        self.target_critic = Critic(feat_dim, cfg).to(device)
        self.target_critic.load_state_dict(self.critic.state_dict())
        self.target_critic.requires_grad_(False)
        self.normalizer = ReturnNormalizer(decay=cfg.return_norm_decay).to(device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr, eps=cfg.adam_eps)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, eps=cfg.adam_eps)
        self.amp = amp and device.type == "cuda"
        self.updates = 0

    @classmethod
    def build(
        cls,
        wm_cfg: WorldModelConfig,
        cfg: ActorCriticConfig,
        obs_shape: tuple[int, ...],
        action_dim: int,
        *,
        device: torch.device,
        amp: bool = False,
    ) -> DreamerAgent:
        """Build the world model, its learner and the actor-critic on ``device``."""
        model = WorldModel(wm_cfg, obs_shape, action_dim).to(device)
        return cls(model, WorldModelLearner(model, wm_cfg), cfg, action_dim, device=device, amp=amp)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: StepObs, state: Any, *, deterministic: bool) -> tuple[np.ndarray, Any]:
        """Actions (N, A) float32 in [-1, 1] for N envs; resets the latent where ``obs.is_first``."""
        o = torch.as_tensor(obs.obs, device=self.device)
        if o.is_floating_point():
            o = o.float()
        n = o.shape[0]
        first = torch.as_tensor(obs.is_first, device=self.device, dtype=torch.bool)
        if not isinstance(state, DreamerState):  # None, or the state of another policy (prefill)
            state = DreamerState(
                self.world_model.initial(n), torch.zeros(n, self.action_dim, device=self.device)
            )
            first = torch.ones_like(first)
        prev = state.action * (~first).unsqueeze(-1).float()
        with self._autocast():
            latent = self.world_model.obs_step(state.latent, prev, o, first)
            feat = self.world_model.feat(latent)
            action = self.actor.mode(feat) if deterministic else self.actor.sample(feat)
        action = action.float()
        return action.cpu().numpy().astype(np.float32), DreamerState(latent, action)

    def value(self, feat: Tensor) -> Tensor:
        """(..) the critic's expected value of states with features ``feat`` (.., F)."""
        return self.critic(feat).mean()

    # ---------------------------------------------------------------- learning
    def update(self, batch: SequenceBatch[Tensor]) -> dict[str, float]:
        """One world-model update, then one actor and one critic update from imagination.

        Args:
            batch: (B, T, ...) sequences on ``self.device``.

        Returns:
            Metrics under ``wm/``, ``actor/``, ``critic/`` (floats; one host sync at the end).
        """
        t_start = time.perf_counter()
        with self._autocast():
            wm_metrics, post = self.learner.update(batch)  # returns floats: the device has synced
        t_wm = time.perf_counter()
        cfg = self.cfg
        start = _map_state(post, lambda x: x.reshape(-1, *x.shape[2:]))  # (B*T, ...)
        start_cont = 1.0 - batch.terminated.reshape(-1).float()
        n = start_cont.shape[0]
        if 0 < cfg.imag_starts < n:
            idx = torch.randperm(n, device=start_cont.device)[: cfg.imag_starts]
            start = _map_state(start, lambda x: x[idx])
            start_cont = start_cont[idx]
        with self._autocast(), _frozen(self.world_model):
            out = self.imagine_losses(start, start_cont)
        self.actor_opt.zero_grad(set_to_none=True)
        out["actor_loss"].backward()
        actor_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
        self.actor_opt.step()
        self.critic_opt.zero_grad(set_to_none=True)
        out["critic_loss"].backward()
        critic_norm = nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
        self.critic_opt.step()
        ema_update(self.target_critic, self.critic, cfg.slow_critic_decay)
        self.updates += 1

        stats = (
            torch.stack(
                [
                    out["actor_loss"].detach(),
                    actor_norm,
                    out["entropy"].mean(),
                    out["scale"],
                    out["return"].mean(),
                    out["critic_loss"].detach(),
                    critic_norm,
                    out["value"].mean(),
                    out["reward"].mean(),
                    out["cont"].mean(),
                ]
            )
            .float()
            .tolist()
        )
        keys = (
            "actor/loss",
            "actor/grad_norm",
            "actor/entropy",
            "actor/return_scale",
            "actor/return_mean",
            "critic/loss",
            "critic/grad_norm",
            "critic/value_mean",
            "actor/imag_reward_mean",
            "actor/imag_cont_mean",
        )
        metrics = dict(wm_metrics)
        metrics.update(zip(keys, stats, strict=True))
        t_end = time.perf_counter()  # after .tolist(): the actor-critic work has finished
        metrics["time/wm_update_ms"] = 1000.0 * (t_wm - t_start)
        metrics["time/ac_update_ms"] = 1000.0 * (t_end - t_wm)
        return metrics

    def imagine_losses(self, start: Any, start_cont: Tensor) -> dict[str, Tensor]:
        """Imagine from ``start`` with the actor and compute the actor and critic losses.

        Call with the world model's parameters frozen (gradients flow through it into the actor only).

        Args:
            start: (N, ...) latent start states (detached posteriors).
            start_cont: (N,) 1 where the start state is not terminal (0 gives its trajectory no weight).

        Returns:
            ``actor_loss``, ``critic_loss`` (scalars with graphs into actor / critic) and detached
            ``return`` (N, H), ``weight`` (N, H), ``value`` (N, H+1), ``reward``, ``cont`` (N, H),
            ``entropy`` (N, H), ``scale`` ().
        """
        cfg = self.cfg
        entropies: list[Tensor] = []

        def policy(f: Tensor) -> Tensor:
            action, ent = self.actor.sample_with_entropy(f)
            entropies.append(ent)  # the entropy of the action taken, without a second actor pass
            return action

        imag = self.world_model.imagine(start, policy, cfg.horizon)
        feat = imag.feat  # (N, H+1, F), gradients to the actor through the dynamics
        entropy = torch.stack(entropies, 1)  # (N, H)
        reward = self.world_model.reward(feat[:, 1:]).float()  # (N, H)
        cont = self.world_model.cont(feat[:, 1:]).float()  # (N, H)
        value = self.target_critic(feat).mean().float()  # (N, H+1)
        ret = lambda_return(reward, value, cont, gamma=cfg.gamma, lam=cfg.lam)  # (N, H)
        weight = (start_cont.unsqueeze(1) * discount_weights(cont, gamma=cfg.gamma)).detach()
        self.normalizer.update(ret)
        scale = self.normalizer.scale()
        actor_loss = -(weight * (ret / scale + cfg.entropy * entropy)).mean()
        dist = self.critic(feat[:, :-1].detach())
        critic_loss = -(weight * dist.log_prob(ret.detach())).mean()
        return {
            "actor_loss": actor_loss,
            "critic_loss": critic_loss,
            "return": ret.detach(),
            "weight": weight,
            "value": value.detach(),
            "reward": reward.detach(),
            "cont": cont.detach(),
            "entropy": entropy.detach(),
            "scale": scale,
        }

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: models, optimisers, normaliser, counters.

        The world model's weights travel inside the learner's state (``learner.model``).
        """
        return {
            "learner": self.learner.state_dict(),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "target_critic": self.target_critic.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.learner.load_state_dict(state["learner"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.normalizer.load_state_dict(state["normalizer"])
        self.updates = int(state["updates"])


__all__ = ["Actor", "ActorCriticConfig", "Critic", "DreamerAgent", "DreamerState"]
