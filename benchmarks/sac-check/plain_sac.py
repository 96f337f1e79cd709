"""Plain stable-baselines3 SAC, no toolkit code: the reference that scripts.baseline's SAC is checked against.

Same settings as the runner: RL Zoo's sac.yml MuJoCo entry (learning_starts 10,000), SB3's defaults otherwise;
the training env reset with seed 1000 x seed (the runner's envs.seeds.train_seed); one torch thread.
Writes OUT/monitor.csv (return r, length l, time t of every training episode, in order), OUT/evaluations.npz
(SB3's EvalCallback: 10 deterministic episodes every 10k steps) and OUT/model.zip.
"""

import argparse
import os

import gymnasium as gym
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import EvalCallback
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
model.learn(args.steps, callback=evaluation)
model.save(f"{args.out}/model.zip")
