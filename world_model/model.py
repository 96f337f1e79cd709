"""The world model: encoder, RSSM, reward / continue heads and the representation objective."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from envs.episode import SequenceBatch
from world_model.config import WorldModelConfig
from world_model.contrastive import ContrastivePrediction
from world_model.distributions import free_bits
from world_model.energy import EnergyRegulariser
from world_model.heads import ContinueHead, RewardHead
from world_model.objectives import LatentPrediction, ObsCodec, build_decoder, reconstruction_loss
from world_model.rssm import RSSM, RSSMState


class Imagination(NamedTuple):
    """An imagined rollout of N trajectories over H steps.

    Attributes:
        state: states with leading dims (N, H + 1); index 0 is the start state.
        feat: (N, H + 1, F) features of those states.
        action: (N, H, A); ``action[:, t]`` is taken in state t and leads to state t + 1.
    """

    state: RSSMState
    feat: Tensor
    action: Tensor


class DreamWorld(nn.Module):
    """What an agent that acts and imagines in a learned world needs of it (the Dreamer agent): the RSSM
    world model (:class:`WorldModel`) or a model of the state observation seen as one
    (:class:`world_model.state_imagination.StateSpaceWorldModel`). Each uses its own state type.
    """

    feat_dim: int

    def feat(self, state: Any) -> Tensor:
        """(..., F) features of states with any leading dims."""
        raise NotImplementedError

    def obs_step(self, state: Any, action: Tensor, obs: Tensor, is_first: Tensor) -> Any:
        """The state (B, ...) after ``action`` (B, A) led to ``obs``; reset where ``is_first`` (B,)."""
        raise NotImplementedError

    def observe(self, obs: Tensor, action: Tensor, is_first: Tensor, state: Any = None) -> tuple[Any, Any]:
        """(posterior, prior) states of real sequences (B, T, ...)."""
        raise NotImplementedError

    def imagine(
        self, start: Any, policy_or_actions: Callable[[Tensor], Tensor] | Tensor, horizon: int
    ) -> Any:
        """A rollout from ``start`` (N, ...) with ``feat`` (N, H + 1, F) and ``action`` (N, H, A)."""
        raise NotImplementedError

    def outcomes(self, imag: Any) -> tuple[Tensor, Tensor]:
        """(expected rewards, continue probabilities) (N, H) of arriving in a rollout's states 1..H."""
        raise NotImplementedError

    def observed_cont(self, post: Any, action: Tensor) -> Tensor:
        """(B, T) the probability that the episode continues past each observed state."""
        raise NotImplementedError

    def compile_steps(self, **options: Any) -> None:
        """``torch.compile`` the steps of the model's loops."""
        raise NotImplementedError


class WorldModel(DreamWorld):
    """Action-conditioned latent dynamics with reward and continue heads.

    Args:
        cfg: the whole world-model config.
        obs_shape: (D,) for float state vectors or (H, W, 3) for uint8 pixels.
        action_dim: action size A (continuous actions in [-1, 1]).

    Conventions follow :mod:`envs.episode`: ``action[t]`` led to step t, ``reward[t]`` is received on
    arriving in step t and ``terminated[t]`` says step t is terminal; the state is reset where ``is_first``.
    """

    def __init__(self, cfg: WorldModelConfig, obs_shape: tuple[int, ...], action_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.obs_shape = tuple(obs_shape)
        self.action_dim = action_dim
        self.encoder = ObsCodec(cfg.encoder, self.obs_shape)
        self.rssm = RSSM(cfg.rssm, action_dim, self.encoder.embed_dim)
        self.feat_dim = self.rssm.deter_dim + self.rssm.stoch_dim
        self.reward_head = RewardHead(cfg.heads, self.feat_dim)
        self.cont_head = ContinueHead(cfg.heads, self.feat_dim)
        # The decoder reconstructs (objective "reconstruction") or, fed stopped features, probes ("latent",
        # "contrastive").
        self.decoder = build_decoder(cfg.encoder, self.feat_dim, self.obs_shape)
        self.latent: LatentPrediction | None = None
        self.contrastive: ContrastivePrediction | None = None
        if cfg.objective == "latent":
            self.latent = LatentPrediction(cfg.latent, self.encoder, self.rssm.deter_dim, cfg.rssm.hidden)
        elif cfg.objective == "contrastive":
            self.contrastive = ContrastivePrediction(
                cfg.contrastive, self.encoder.embed_dim, self.rssm.deter_dim, cfg.rssm.hidden
            )
        self._scales = {
            "dyn": cfg.loss.dyn,
            "rep": cfg.loss.rep,
            "reward": cfg.loss.reward,
            "cont": cfg.loss.cont,
        }
        if cfg.objective == "reconstruction":
            self._scales["dec"] = cfg.loss.dec
        elif cfg.objective == "latent":
            self._scales.update(latent=cfg.loss.latent, var=cfg.latent.var_weight, probe=cfg.loss.probe)
        else:
            self._scales.update(contrastive=cfg.loss.contrastive, probe=cfg.loss.probe)
        # The energy-consistency regulariser exists only when switched on (checkpoints stay compatible).
        self.energy: EnergyRegulariser | None = None
        if cfg.loss.energy > 0:
            self.energy = EnergyRegulariser(cfg.energy, self.feat_dim, action_dim)
            self._scales.update(
                energy_head=cfg.loss.energy_head, energy_transfer=cfg.loss.energy_head, energy=cfg.loss.energy
            )

    # ----- states and features -------------------------------------------------------------
    def initial(self, batch_size: int) -> RSSMState:
        """All-zero state for ``batch_size`` rows."""
        return self.rssm.initial(batch_size)

    def feat(self, state: RSSMState) -> Tensor:
        """Features [h, z] (..., F) of states with any leading dims."""
        return torch.cat([state.deter, state.stoch], -1)

    def encode(self, obs: Tensor) -> Tensor:
        """Embeddings (..., E) of raw observations (..., *obs_shape) (float vectors or uint8 pixels)."""
        return self.encoder(self.encoder.to_net(obs))

    # ----- observe / imagine ---------------------------------------------------------------
    def observe(
        self, obs: Tensor, action: Tensor, is_first: Tensor, state: RSSMState | None = None
    ) -> tuple[RSSMState, RSSMState]:
        """Posterior and prior states over real sequences.

        Args:
            obs: (B, T, *obs_shape) observations.
            action: (B, T, A); ``action[:, t]`` led to step t.
            is_first: (B, T) bool; state and action are zeroed there.
            state: (B, ...) state before step 0, or ``None`` for zeros.

        Returns:
            (post, prior), each with leading dims (B, T).
        """
        self._check(obs, action, is_first)
        post = self.rssm.observe(self.encode(obs), action, is_first, state)
        return post, self.rssm.prior(post.deter)

    def obs_step(self, state: RSSMState | None, action: Tensor, obs: Tensor, is_first: Tensor) -> RSSMState:
        """One posterior step for acting.

        Args:
            state: (B, ...) previous state, or ``None`` for zeros.
            action: (B, A) the action that led to ``obs``.
            obs: (B, *obs_shape) the new observation.
            is_first: (B,) bool; resets those rows first.

        Returns:
            (B, ...) posterior state.
        """
        return self.rssm.obs_step(state, action, self.encode(obs), is_first)

    def imagine(
        self, start: RSSMState, policy_or_actions: Callable[[Tensor], Tensor] | Tensor, horizon: int
    ) -> Imagination:
        """Roll the prior from ``start`` under a policy or fixed action sequences.

        Args:
            start: (N, ...) start states (flatten (B, T) posteriors with ``state.flatten()``).
            policy_or_actions: policy mapping features (N, F) -> actions (N, A) (gradients flow through
                the dynamics), or a tensor of actions (N, H, A).
            horizon: H.

        Returns:
            :class:`Imagination` with states / features (N, H + 1, ...) and actions (N, H, A).
        """
        states, actions = self.rssm.imagine(start, policy_or_actions, horizon)
        return Imagination(states, self.feat(states), actions)

    # ----- heads -------------------------------------------------------------------------
    def reward(self, feat: Tensor) -> Tensor:
        """(...) expected reward of arriving in the state with features (..., F)."""
        return self.reward_head(feat)

    def cont(self, feat: Tensor) -> Tensor:
        """(...) probability that the episode continues past the state with features (..., F)."""
        return self.cont_head(feat)

    def outcomes(self, imag: Imagination) -> tuple[Tensor, Tensor]:
        """(expected rewards (N, H), continue probabilities (N, H)) of arriving in an imagined rollout's
        states 1..H: the heads on their features."""
        nxt = imag.feat[:, 1:].contiguous()  # a Linear on a strided 3-d slice is slow on CPU
        return self.reward(nxt), self.cont(nxt)

    def observed_cont(self, post: RSSMState, action: Tensor) -> Tensor:
        """(B, T) the probability that the episode continues past each observed (posterior) state."""
        return self.cont(self.feat(post))

    def compile_steps(self, **options: Any) -> None:
        """``torch.compile`` the step function of the RSSM's observe and imagine loops."""
        self.rssm.compile_steps(**options)

    def decode(self, feat: Tensor) -> Tensor:
        """Predicted observations (..., *obs_shape) as float (pixels 0..255) via the decoder or probe."""
        out = self.decoder(feat)
        return self.encoder.from_net(out)

    # ----- training ----------------------------------------------------------------------
    def loss(
        self, batch: SequenceBatch[Tensor], energy: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float], RSSMState]:
        """World-model loss on a batch of real sequences.

        Args:
            batch: (B, T, ...) tensors on the model's device.
            energy: (B, T) simulator energy of the real states; needed when ``loss.energy`` > 0.

        Returns:
            (scalar loss, metrics under ``wm/``, posterior states (B, T, ...) still attached to the graph).
        """
        self._check(batch.obs, batch.action, batch.is_first)
        is_first = batch.is_first
        if self.cfg.rssm.fresh_start:  # step 0 as an episode start (the zero state is there already)
            is_first = is_first.clone()
            is_first[:, 0] = True
        if self.training:
            self.encoder.update_stats(batch.obs)
        net_obs = self.encoder.to_net(batch.obs)
        embed = self.encoder(net_obs)
        post = self.rssm.observe(embed, batch.action, is_first, None)
        prior = self.rssm.prior(post.deter)
        feat = self.feat(post)
        dyn, rep = self.rssm.kl(post, prior)
        not_first = (~is_first).to(feat.dtype)
        losses: dict[str, Tensor] = {
            "dyn": free_bits(dyn, self.cfg.loss.free_nats).mean(),
            "rep": free_bits(rep, self.cfg.loss.free_nats).mean(),
            "reward": (self.reward_head.loss(feat, batch.reward.to(feat.dtype)) * not_first).sum()
            / not_first.sum().clamp(min=1.0),
            "cont": self.cont_loss(feat, batch.terminated),
        }
        obs_dims = len(self.obs_shape)
        stats: dict[str, Tensor] = {"dyn_kl": dyn.mean(), "rep_kl": rep.mean()}
        if self.latent is not None:
            lat = self.latent(post.deter, net_obs, embed, not_first)
            losses.update(latent=lat["latent"], var=lat["var"])
            stats["embed_spread"] = lat["spread"]
        elif self.contrastive is not None:
            con = self._contrastive(post, embed, batch.action, is_first)
            losses["contrastive"] = con["loss"]
            stats.update(embed_spread=con["spread"], contrastive_acc=con["accuracy"])
        if self.cfg.objective == "reconstruction":
            losses["dec"] = reconstruction_loss(self.decoder(feat), net_obs, obs_dims).mean()
        else:
            losses["probe"] = reconstruction_loss(self.decoder(feat.detach()), net_obs, obs_dims).mean()
        if self.energy is not None:
            if energy is None or energy.shape != batch.is_first.shape:
                got = None if energy is None else tuple(energy.shape)
                raise ValueError(
                    f"loss.energy > 0 needs energy labels (B, T) = {tuple(batch.is_first.shape)}, got {got}"
                )
            heads = self.energy.head_losses(feat, batch.action, energy, is_first, update_stats=self.training)
            losses.update(energy_head=heads["energy_head"], energy_transfer=heads["energy_transfer"])
            losses["energy"] = self._energy_consistency(post, batch)
            stats["energy_transfer_r2"] = heads["energy_transfer_r2"]
        total = sum((self._scales[k] * v for k, v in losses.items()), torch.zeros((), device=feat.device))
        stats["post_entropy"] = self.rssm.entropy(post).mean()
        names = ["loss", *(f"{k}_loss" for k in losses), *stats]
        values = torch.stack([t.detach().float() for t in (total, *losses.values(), *stats.values())])
        metrics = {f"wm/{n}": float(v) for n, v in zip(names, values.tolist(), strict=True)}
        return total, metrics, post

    def _contrastive(
        self, post: RSSMState, embed: Tensor, action: Tensor, is_first: Tensor
    ) -> dict[str, Tensor]:
        """The contrastive objective's terms averaged over offsets k = 1..``contrastive.offsets``: for k = 1
        the posterior pass's h_t picks x_t's embedding; for k > 1 the prior is rolled k steps from the
        posterior at t - k (starts every ``contrastive.stride`` steps) under the sequence's own actions."""
        assert self.contrastive is not None
        terms = [self.contrastive(post.deter, embed, (~is_first).to(embed.dtype))]
        K, stride = self.contrastive.cfg.offsets, self.contrastive.cfg.stride
        B, T = is_first.shape
        starts = list(range(0, T - K, stride))
        if K > 1 and starts:
            imag, steps, _ = self._imagine_windows(post, action, starts, K, detach=False)
            deter = imag.state.deter.reshape(B, len(starts), K + 1, -1)
            crossed = is_first[:, steps].cumsum(-1) > 0  # (B, S, K): an episode start on the way
            for k in range(2, K + 1):
                target = embed[:, steps[:, k - 1]]  # (B, S, E): step s + k
                mask = (~crossed[..., k - 1]).to(embed.dtype)
                terms.append(self.contrastive(deter[:, :, k], target, mask))
        return {key: torch.stack([t[key] for t in terms]).mean() for key in terms[0]}

    def _energy_consistency(self, post: RSSMState, batch: SequenceBatch[Tensor]) -> Tensor:
        """The regulariser's penalty on prior rollouts from (detached) posterior states under the
        sequences' own actions (see :mod:`world_model.energy`)."""
        assert self.energy is not None
        horizon, stride = self.energy.cfg.horizon, self.energy.cfg.stride
        T = batch.is_first.shape[1]
        starts = list(range(0, T - horizon, stride))
        if not starts:
            return torch.zeros((), device=post.deter.device)
        imag, steps, actions = self._imagine_windows(post, batch.action, starts, horizon, detach=True)
        valid = ~batch.is_first[:, steps].any(-1).reshape(-1)
        return self.energy.consistency(imag.feat, actions, valid)

    def _imagine_windows(
        self, post: RSSMState, action: Tensor, starts: list[int], horizon: int, *, detach: bool
    ) -> tuple[Imagination, Tensor, Tensor]:
        """Prior rollouts of ``horizon`` steps from the posterior states at steps ``starts`` (S of them)
        under the sequences' own actions.

        Args:
            post: posterior states (B, T, ...).
            action: (B, T, A); ``action[:, t]`` led to step t.
            starts: the start steps s, each with s + ``horizon`` < T.
            horizon: H.
            detach: cut the start states from the graph.

        Returns:
            (:class:`Imagination` of B S rollouts (row b S + j from batch row b, start j), the steps
            s + 1 .. s + H (S, H) they predict, their actions (B S, H, A)).
        """
        B = action.shape[0]
        idx = torch.tensor(starts, device=post.deter.device)
        start = post.map(lambda x: x[:, idx]).flatten()  # (B * S, ...)
        if detach:
            start = start.detach()
        steps = idx[:, None] + 1 + torch.arange(horizon, device=idx.device)[None]  # (S, H)
        actions = action[:, steps].reshape(B * len(starts), horizon, -1)
        return self.imagine(start, actions.to(start.deter.dtype), horizon), steps, actions

    def cont_loss(self, feat: Tensor, terminated: Tensor) -> Tensor:
        """Mean BCE of the continue head, terminal records weighted by ``loss.terminal_weight``."""
        term = terminated.to(feat.dtype)
        bce = self.cont_head.loss(feat, 1.0 - term)
        w = self.cfg.loss.terminal_weight
        if w == 1.0:
            return bce.mean()
        return (bce * (1.0 + (w - 1.0) * term)).mean()

    def update_target(self, decay: float) -> None:
        """EMA step of the latent objective's target encoder (no-op for the other objectives)."""
        if self.latent is not None:
            self.latent.update_target(self.encoder, decay)

    def _check(self, obs: Tensor, action: Tensor, is_first: Tensor) -> None:
        n = len(self.obs_shape)
        if tuple(obs.shape[-n:]) != self.obs_shape or obs.dim() != n + 2:
            raise ValueError(f"obs {tuple(obs.shape)} is not (B, T, *{self.obs_shape})")
        if action.shape != (*obs.shape[:2], self.action_dim):
            raise ValueError(f"action {tuple(action.shape)} is not (B, T, {self.action_dim})")
        if is_first.shape != obs.shape[:2] or is_first.dtype != torch.bool:
            raise ValueError(f"is_first {tuple(is_first.shape)} {is_first.dtype} is not (B, T) bool")
