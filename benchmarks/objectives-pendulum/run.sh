#!/usr/bin/env bash
# The RSSM's training objectives inside scripts.dream (issue 32, item 4): the contrastive (InfoNCE) and the
# latent (JEPA) objectives on Pendulum, 3 seeds to 10k steps, on the `cpu` suite's protocol (5 deterministic
# evaluation episodes every 1k steps), one thread per run; the reconstruction objective (the default) is the
# `dreamer (today)` row of RESULTS.md's pendulum table (benchmarks/cpu-looks2, same protocol to 20k).
# The diffusion family (`--family diffusion`: the actor-critic imagines through a diffusion model of the state
# observation instead of the RSSM) on the same protocol: arm `diffusion`.
# Usage: bash benchmarks/objectives-pendulum/run.sh [RUNS] [ARMS] [SEEDS]   (finished runs are skipped)
#   ARMS default "contrastive latent diffusion", SEEDS default "0 1 2"
set -u
cd "$(dirname "$0")/../.."
RUNS=${1:-/tmp/objectives-pendulum}
mkdir -p "$RUNS"
ARMS=${2:-contrastive latent diffusion}
SEEDS=${3:-0 1 2}
for objective in $ARMS; do
  if [ "$objective" = diffusion ]; then arm=(--family diffusion); else arm=(--model.objective "$objective"); fi
  for seed in $SEEDS; do
    dir="$RUNS/$objective/seed$seed"
    if [ -f "$dir/eval.csv" ] && grep -q '^10000,' "$dir/eval.csv"; then continue; fi
    echo "$(date +%T) $objective seed $seed"
    OMP_NUM_THREADS=1 MUJOCO_GL=egl .venv/bin/python -m scripts.dream --env Pendulum --steps 10000 --seed "$seed" \
      --eval-every 1000 --eval-episodes 5 "${arm[@]}" --threads 1 --train.no-progress \
      --run-dir "$dir" > "$RUNS/$objective-seed$seed.log" 2>&1 || echo "  failed: see $RUNS/$objective-seed$seed.log"
  done
done
echo "$(date +%T) done"
