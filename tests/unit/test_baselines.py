"""SB3 baseline adapter: RL-Zoo hyperparameter tables, overrides, the policy adapter, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.baselines import (
    MODEL_FILE,
    PROGRESS_FILE,
    REPLAY_FILE,
    VECNORM_FILE,
    Sb3Policy,
    budget_warnings,
    build_model,
    save_sb3_checkpoint,
)
from agents.config import RunConfig
from agents.zoo import Sb3Options, env_family, resolve_hyperparams, zoo_hyperparams
from envs.episode import StepObs
from envs.errors import UserError


def test_env_family_strips_version_only() -> None:
    assert env_family("Walker2d-v5") == "Walker2d"
    assert env_family("Pendulum-v1") == "Pendulum"
    assert env_family("InvertedDoublePendulum-v5") == "InvertedDoublePendulum"
    assert env_family("Pendulum") == "Pendulum"


def test_zoo_sac_entries() -> None:
    pendulum = zoo_hyperparams("sac", "Pendulum-v1")
    assert dict(pendulum.kwargs) == {"learning_rate": 1e-3}
    walker = zoo_hyperparams("sac", "Walker2d-v5")
    assert dict(walker.kwargs) == {"learning_starts": 10_000}
    assert zoo_hyperparams("sac", "Swimmer-v5").kwargs["gamma"] == 0.999  # rl-zoo3 2.9.2
    # No Zoo entry for InvertedPendulum: SB3's defaults (not the 10k-step locomotion warm-up).
    inverted = zoo_hyperparams("sac", "InvertedPendulum-v5")
    assert dict(inverted.kwargs) == {}
    assert "no RL-Zoo entry" in inverted.source


def test_zoo_td3_and_ppo_entries() -> None:
    td3 = zoo_hyperparams("td3", "Pendulum-v1")
    assert td3.noise_std == 0.1
    assert td3.kwargs["policy_kwargs"] == {"net_arch": [400, 300]}
    assert td3.kwargs["gamma"] == 0.98
    assert zoo_hyperparams("td3", "Hopper-v5").noise_std == 0.1
    ppo_pendulum = zoo_hyperparams("ppo", "Pendulum-v1")
    assert ppo_pendulum.n_envs == 4 and ppo_pendulum.kwargs["use_sde"] is True
    assert not ppo_pendulum.normalize
    cheetah = zoo_hyperparams("ppo", "HalfCheetah-v5")
    assert cheetah.normalize and cheetah.kwargs["n_epochs"] == 20
    assert cheetah.kwargs["policy_kwargs"]["net_arch"] == {"pi": [256, 256], "vf": [256, 256]}
    ant = zoo_hyperparams("ppo", "Ant-v5")
    assert ant.normalize and dict(ant.kwargs) == {}


def test_zoo_crossq_and_tqc_entries() -> None:
    walker = zoo_hyperparams("crossq", "Walker2d-v5")
    assert walker.kwargs["learning_starts"] == 5000 and walker.kwargs["policy_delay"] == 3
    assert walker.kwargs["policy_kwargs"] == {"net_arch": {"pi": [256, 256], "qf": [2048, 2048]}}
    assert walker.warmup_steps == 5000 and walker.noise_std is None
    assert zoo_hyperparams("crossq", "Pendulum-v1").kwargs["policy_delay"] == 2
    inverted = zoo_hyperparams("crossq", "InvertedPendulum-v5")
    assert dict(inverted.kwargs) == {} and inverted.source == "sb3-contrib defaults (no RL-Zoo entry)"
    assert inverted.warmup_steps == 100
    assert zoo_hyperparams("tqc", "Hopper-v5").kwargs["top_quantiles_to_drop_per_net"] == 5
    assert "top_quantiles_to_drop_per_net" not in zoo_hyperparams("tqc", "Walker2d-v5").kwargs
    assert zoo_hyperparams("ppo", "Pendulum-v1").rollout_steps == 4096
    assert zoo_hyperparams("ppo", "Ant-v5").rollout_steps == 2048


def test_critic_arch_overrides_only_the_critics() -> None:
    crossq = resolve_hyperparams("crossq", "Hopper-v5", Sb3Options(critic_arch=(1024, 1024)))
    assert crossq.kwargs["policy_kwargs"]["net_arch"] == {"pi": [256, 256], "qf": [1024, 1024]}
    assert "overridden: critic_arch" in crossq.source
    # no net_arch in the table: the algorithm's default actor stays
    sac = resolve_hyperparams("sac", "Hopper-v5", Sb3Options(critic_arch=(512, 512)))
    assert sac.kwargs["policy_kwargs"] == {"net_arch": {"pi": [256, 256], "qf": [512, 512]}}
    both = resolve_hyperparams("crossq", "Hopper-v5", Sb3Options(net_arch=(64,), critic_arch=(64,)))
    assert both.kwargs["policy_kwargs"]["net_arch"] == [64]
    with pytest.raises(UserError, match=r"--hp\.critic-arch does not apply to ppo"):
        resolve_hyperparams("ppo", "Hopper-v5", Sb3Options(critic_arch=(64,)))
    with pytest.raises(UserError, match=r"--hp\.critic-arch must be"):
        Sb3Options(critic_arch=(0,))


def test_budget_warnings_name_budgets_that_do_nothing() -> None:
    sac = zoo_hyperparams("sac", "Walker2d-v5")  # 10k-step warm-up
    (line,) = budget_warnings(sac, 5000, 0, 1)
    assert line.startswith("warning: --steps 5,000 ends within sac's random warm-up of 10,000 steps")
    assert "no update will run" in line and "--hp.learning-starts" in line
    assert budget_warnings(sac, 10_001, 0, 1) == []
    # with an action repeat of 2, 10,000 agent steps of warm-up are 20,000 simulator steps
    assert "warm-up of 20,000" in budget_warnings(sac, 20_000, 0, 2)[0]
    assert budget_warnings(sac, 20_002, 0, 2) == []
    ppo = zoo_hyperparams("ppo", "Pendulum-v1")  # rollouts of 1024 x 4 envs
    (short,) = budget_warnings(ppo, 400, 0, 1)
    assert "fewer than one PPO rollout of 4,096 steps (n_steps 1,024 x 4 envs)" in short
    assert short.startswith("warning: ") and "stops at 400 steps without an update" in short
    (tail,) = budget_warnings(ppo, 10_000, 0, 1)
    assert tail.startswith("note: ") and "the last 1,808 of the 10,000 steps" in tail
    assert budget_warnings(ppo, 8192, 0, 1) == []
    assert budget_warnings(ppo, 8192, 4096, 1) == []  # resumed after one rollout
    assert budget_warnings(sac, 5000, 5000, 1) == []  # nothing to go: not this function's concern


def test_unknown_env_and_algo() -> None:
    other = zoo_hyperparams("sac", "MountainCarContinuous-v0")
    assert dict(other.kwargs) == {} and "SB3 defaults" in other.source
    with pytest.raises(UserError, match="unknown algorithm"):
        zoo_hyperparams("ddpg", "Pendulum-v1")
    tqc = zoo_hyperparams("tqc", "MountainCarContinuous-v0")
    assert dict(tqc.kwargs) == {} and tqc.source == "sb3-contrib defaults (no RL-Zoo entry)"


def test_overrides_apply_and_are_recorded() -> None:
    hp = resolve_hyperparams(
        "sac", "Walker2d-v5", Sb3Options(learning_rate=5e-4, net_arch=(64, 64), n_envs=2)
    )
    assert hp.kwargs["learning_rate"] == 5e-4
    assert hp.kwargs["learning_starts"] == 10_000  # untouched Zoo value
    assert hp.kwargs["policy_kwargs"] == {"net_arch": [64, 64]}
    assert hp.n_envs == 2
    assert "overridden: learning_rate, net_arch, n_envs" in hp.source
    ppo = resolve_hyperparams("ppo", "HalfCheetah-v5", Sb3Options(net_arch=(32,), n_steps=128))
    assert ppo.kwargs["policy_kwargs"]["net_arch"] == {"pi": [32], "vf": [32]}
    assert ppo.kwargs["policy_kwargs"]["log_std_init"] == -2  # the rest of the Zoo's policy_kwargs stays
    assert ppo.kwargs["n_steps"] == 128
    # describe() is plain YAML (activation classes by name).
    text = yaml.safe_dump(ppo.describe())
    assert "torch.nn.modules.activation.ReLU" in text


def test_overrides_of_the_other_algorithm_family_are_refused() -> None:
    with pytest.raises(UserError, match=r"--hp\.buffer-size does not apply to ppo"):
        resolve_hyperparams("ppo", "Pendulum-v1", Sb3Options(buffer_size=10))
    with pytest.raises(UserError, match=r"--hp\.n-epochs does not apply to sac"):
        resolve_hyperparams("sac", "Pendulum-v1", Sb3Options(n_epochs=3))


def _tiny_sac(cfg: RunConfig) -> object:
    hp = resolve_hyperparams(
        "sac", "Pendulum-v1", Sb3Options(learning_starts=20, batch_size=8, buffer_size=200, net_arch=(16,))
    )
    model = build_model("Pendulum-v1", cfg, hp)
    model.learn(60)
    return model


def test_policy_adapter_acts_in_unit_box_deterministically() -> None:
    cfg = RunConfig(env="Pendulum", device="cpu")
    model = _tiny_sac(cfg)
    policy = Sb3Policy(model)
    obs = StepObs(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32), np.ones(5, dtype=bool))
    a1, state = policy.act(obs, None, deterministic=True)
    a2, _ = policy.act(obs, state, deterministic=True)
    assert state is None
    assert a1.shape == (5, 1) and a1.dtype == np.float32
    assert np.all(np.abs(a1) <= 1.0)
    np.testing.assert_array_equal(a1, a2)


def test_policy_adapter_normalises_observations() -> None:
    class Shift:
        def normalize_obs(self, x: np.ndarray) -> np.ndarray:
            return x * 0.0

    cfg = RunConfig(env="Pendulum", device="cpu")
    model = _tiny_sac(cfg)
    obs = StepObs(np.full((2, 3), 5.0, dtype=np.float32), np.ones(2, dtype=bool))
    normalised, _ = Sb3Policy(model, Shift()).act(obs, None, deterministic=True)
    zeros, _ = Sb3Policy(model).act(
        StepObs(np.zeros((2, 3), np.float32), obs.is_first), None, deterministic=True
    )
    np.testing.assert_allclose(normalised, zeros)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    cfg = RunConfig(env="Pendulum", device="cpu")
    model = _tiny_sac(cfg)
    save_sb3_checkpoint(tmp_path, model, meta={"step": 60, "elapsed": 1.5})
    assert (tmp_path / MODEL_FILE).is_file() and (tmp_path / REPLAY_FILE).is_file()
    assert (tmp_path / PROGRESS_FILE).is_file() and not (tmp_path / VECNORM_FILE).exists()
    assert not list(tmp_path.glob("*.tmp"))
    hp = resolve_hyperparams("sac", "Pendulum-v1", Sb3Options(buffer_size=200, net_arch=(16,)))
    loaded = build_model("Pendulum-v1", cfg, hp, checkpoint=tmp_path)
    assert loaded.num_timesteps == 60
    assert loaded.replay_buffer.size() == model.replay_buffer.size()  # type: ignore[attr-defined]
    obs = StepObs(np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32), np.ones(4, dtype=bool))
    np.testing.assert_array_equal(
        Sb3Policy(model).act(obs, None, deterministic=True)[0],
        Sb3Policy(loaded).act(obs, None, deterministic=True)[0],
    )


@pytest.mark.mujoco
def test_ppo_normaliser_is_checkpointed(tmp_path: Path) -> None:
    pytest.importorskip("mujoco")
    cfg = RunConfig(env="InvertedPendulum", device="cpu")
    hp = resolve_hyperparams(
        "ppo", "InvertedPendulum-v5", Sb3Options(n_steps=16, batch_size=16, net_arch=(8,))
    )
    model = build_model("InvertedPendulum-v5", cfg, hp)
    model.learn(32)
    save_sb3_checkpoint(tmp_path, model)
    assert (tmp_path / VECNORM_FILE).is_file()
    loaded = build_model("InvertedPendulum-v5", cfg, hp, checkpoint=tmp_path)
    np.testing.assert_allclose(
        loaded.get_vec_normalize_env().obs_rms.mean, model.get_vec_normalize_env().obs_rms.mean
    )


def test_same_seed_same_model() -> None:
    cfg = RunConfig(env="Pendulum", device="cpu", seed=7)
    a, b = _tiny_sac(cfg), _tiny_sac(cfg)
    obs = StepObs(np.random.default_rng(2).normal(size=(3, 3)).astype(np.float32), np.ones(3, dtype=bool))
    np.testing.assert_array_equal(
        Sb3Policy(a).act(obs, None, deterministic=True)[0], Sb3Policy(b).act(obs, None, deterministic=True)[0]
    )


@pytest.mark.parametrize("damaged", [MODEL_FILE, REPLAY_FILE])
def test_damaged_checkpoint_is_a_user_error(tmp_path: Path, damaged: str) -> None:
    cfg = RunConfig(env="Pendulum", device="cpu")
    save_sb3_checkpoint(tmp_path, _tiny_sac(cfg))
    (tmp_path / damaged).write_bytes(b"not a checkpoint")
    hp = resolve_hyperparams("sac", "Pendulum-v1", Sb3Options(net_arch=(16,)))
    with pytest.raises(UserError, match=f"cannot resume: .*{damaged} is unreadable"):
        build_model("Pendulum-v1", cfg, hp, checkpoint=tmp_path)


def test_a_missing_sb3_contrib_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from agents.baselines import _sb3_class

    monkeypatch.setitem(sys.modules, "sb3_contrib", None)  # import sb3_contrib raises ImportError
    with pytest.raises(UserError, match="--algo crossq needs sb3-contrib, which is not installed"):
        _sb3_class("crossq")
    assert _sb3_class("sac").__name__ == "SAC"
