"""Plain stable-baselines3 SAC, no toolkit code: the reference that scripts.baseline's SAC is checked against.

Same settings as the runner: RL Zoo's sac.yml MuJoCo entry (learning_starts 10,000), SB3's defaults otherwise;
the training env reset with seed 1000 x seed (the runner's envs.seeds.train_seed); one torch thread.
Writes OUT/monitor.csv (return r, length l, time t of every training episode, in order), OUT/evaluations.npz
(SB3's EvalCallback: 10 deterministic episodes every 10k steps), OUT/protocol-eval.csv (the same 10k points
on the runner's evaluation seeds: episode i reset with 10**9 + 1000 x seed + i, as envs.seeds.eval_seed)
and OUT/model.zip.
"""

import argparse
import os

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.monitor import Monitor

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--env", default="Hopper-v5")
parser.add_argument("--steps", type=int, default=100_000)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="plain-sac")
args = parser.parse_args()

torch.set_num_threads(1)
os.makedirs(args.out, exist_ok=True)
env = Monitor(gym.make(args.env), f"{args.out}/monitor.csv")
model = SAC("MlpPolicy", env, learning_starts=10_000, seed=args.seed, device="cpu")
model.get_env().seed(1000 * args.seed)
eval_env = Monitor(gym.make(args.env))
evaluation = EvalCallback(eval_env, eval_freq=10_000, n_eval_episodes=10, log_path=args.out)


class ProtocolEval(BaseCallback):
    """Every 10k steps: 10 deterministic episodes, episode i reset with seed 10**9 + 1000 * seed + i."""

    def _on_step(self) -> bool:
        if self.num_timesteps % 10_000:
            return True
        env, returns = gym.make(args.env), []
        for i in range(10):
            obs, _ = env.reset(seed=10**9 + 1000 * args.seed + i)
            total, done = 0.0, False
            while not done:
                action, _ = self.model.predict(obs.astype(np.float32), deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total, done = total + float(reward), terminated or truncated
            returns.append(total)
        with open(f"{args.out}/protocol-eval.csv", "a") as f:
            f.write(f"{self.num_timesteps},{np.mean(returns)},{np.std(returns)}\n")
        return True


model.learn(args.steps, callback=CallbackList([evaluation, ProtocolEval()]))
model.save(f"{args.out}/model.zip")
