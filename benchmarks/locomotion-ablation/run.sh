#!/usr/bin/env bash
# Walker2d ablations of the locomotion levers (issue: locomotion learns and keeps what it learned).
# Each variant is `scripts.dream --env Walker2d` from the `cpu` preset of commit d441fca with the flags
# below; 2 seeds, 20k env steps, evaluation (5 episodes) at 1k, 2.5k, 5k and every 2.5k.
# Usage: bash benchmarks/locomotion-ablation/run.sh [JOBS]   (re-running resumes unfinished runs)
set -u
cd "$(dirname "$0")/../.."
. benchmarks/dream-variants.sh
OUT=benchmarks/locomotion-ablation/runs
JOBS=${1:-2}
STEPS=${STEPS:-20000}
COMMON="--env Walker2d --steps $STEPS --eval-every 2500 --eval-episodes 5 --threads 1 --train.video-every 0 --train.no-progress"
OLD="--agent.actor-grad dynamics --agent.actor-dist tanh_normal --agent.actor-out-scale 1 --agent.slow-target --agent.slow-reg 0 --agent.replay-value 0"
CHEAP="--agent.critic-bins 63 --model.heads.bins 63 --agent.imag-starts 128"
T10="--model.loss.terminal-weight 10"
declare -A V
V[old]="$OLD"
V[reinforce]=""
V[reinforce-term10]="$T10"
V[cheap]="$T10 $CHEAP"
V[cheap-r512]="$T10 $CHEAP --train.train-ratio 512"
V[cheap-r512-term1]="$CHEAP --train.train-ratio 512"
V[cheap-r512-ar2]="$T10 $CHEAP --train.train-ratio 512 --envs.action-repeat 2"
V[cheap-r512-dyn]="$T10 $CHEAP --train.train-ratio 512 --agent.actor-grad dynamics"
V[cheap-r512-norepval]="$T10 $CHEAP --train.train-ratio 512 --agent.replay-value 0"
V[r512-starts-all]="$T10 --agent.critic-bins 63 --model.heads.bins 63 --agent.imag-starts 0 --train.train-ratio 512"
ORDER=${ORDER:-"old cheap-r512 cheap-r512-ar2 cheap cheap-r512-norepval cheap-r512-dyn cheap-r512-term1 reinforce-term10"}
mkdir -p "$OUT"
for name in $ORDER; do
  for seed in 0 1; do
    dream_command "$OUT/$name/$seed" "$seed" "$STEPS" $COMMON ${V[$name]}
  done
done | MUJOCO_GL=egl xargs -P "$JOBS" -I{} bash -c '{}'
