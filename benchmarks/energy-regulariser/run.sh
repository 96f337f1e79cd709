#!/usr/bin/env bash
# Does the energy-consistency regulariser change Dreamer's return? Walker2d, `cpu` preset, 3 seeds,
# equal steps, without (`base`) and with (`energy1`: --model.loss.energy 1) the regulariser.
# Evaluation (10 episodes, deterministic) at 1k, 2.5k, 5k and every 10k: the preset's schedule.
# Usage: bash benchmarks/energy-regulariser/run.sh [JOBS]   (re-running resumes unfinished runs)
#        STEPS=20000 SEEDS="0 1 2" VARIANTS="base energy1" OUT=... bash benchmarks/energy-regulariser/run.sh
set -u
cd "$(dirname "$0")/../.."
. benchmarks/dream-variants.sh
OUT=${OUT:-benchmarks/energy-regulariser/runs}
JOBS=${1:-1}
STEPS=${STEPS:-10000}
SEEDS=${SEEDS:-"0 1 2"}
VARIANTS=${VARIANTS:-"base energy1"}
COMMON="--env Walker2d --steps $STEPS --threads 1 --train.video-every 0 --train.no-progress"
declare -A V
V[base]=""
V[energy1]="--model.loss.energy 1"
V[energy10]="--model.loss.energy 10"
run_variants
