#!/usr/bin/env bash
# Does oversampling falls make the continue head see new ones? Walker2d, `cpu` preset, with (`ends25`:
# --train.end-fraction 0.25, 4 of 16 sequences per batch end at a stored fall) and without (`base`).
# The runs' diag/unseen_terminal_missed (falls scored before any update trains on them) answers it.
# Usage: bash benchmarks/continue-head/run.sh [JOBS]   (re-running resumes unfinished runs)
#        STEPS=20000 SEEDS="0 1" VARIANTS="base ends25" OUT=... bash benchmarks/continue-head/run.sh
set -u
cd "$(dirname "$0")/../.."
. benchmarks/dream-variants.sh
OUT=${OUT:-benchmarks/continue-head/runs}
JOBS=${1:-1}
STEPS=${STEPS:-10000}
SEEDS=${SEEDS:-"0"}
VARIANTS=${VARIANTS:-"base ends25"}
COMMON="--env Walker2d --steps $STEPS --eval-every 2500 --threads 1 --train.video-every 0 --train.no-progress"
declare -A V
V[base]=""
V[ends25]="--train.end-fraction 0.25"
run_variants
