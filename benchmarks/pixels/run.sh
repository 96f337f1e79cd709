#!/usr/bin/env bash
# A policy learned from pixels (issue 33): the `pixels` preset of scripts.dream (64x64 RGB frames, each
# action held 2 simulator steps) on InvertedPendulum-v5, 3 seeds to 20k simulator steps, and on Walker2d-v5,
# one seed (STEPS_WALKER, default 30k); then scripts.imagine on every trained run: a contact sheet, the
# per-step error and SSIM (JSON) and the MP4 of 8 observed and 40 imagined steps. One thread per run.
# The runs of benchmarks/pixels/README.md were started one by one with the same command (two at a time).
# Usage: bash benchmarks/pixels/run.sh [RUNS] [JOBS]   (finished runs are skipped; JOBS runs at once, default 2)
set -u
cd "$(dirname "$0")/../.."
RUNS=${1:-/tmp/pixels}
JOBS=${2:-2}
PYTHON=${PYTHON:-.venv/bin/python}  # another checkout's venv: PYTHON=/path/to/.venv/bin/python
STEPS_WALKER=${STEPS_WALKER:-30000}
mkdir -p "$RUNS"
one() {  # env steps seed
  local dir="$RUNS/$1/seed$3"
  if [ -f "$dir/eval.csv" ] && grep -q "^$2," "$dir/eval.csv"; then return 0; fi
  echo "$(date +%T) $1 seed $3"
  local resume=()
  if [ -f "$dir/config.yaml" ]; then resume=(--resume); fi
  OMP_NUM_THREADS=1 MUJOCO_GL=egl "$PYTHON" -m scripts.dream --preset pixels --env "$1" --steps "$2" \
    --seed "$3" --threads 1 --train.no-progress --run-dir "$dir" "${resume[@]}" > "$RUNS/$1-seed$3.log" 2>&1 \
    || echo "  failed: see $RUNS/$1-seed$3.log"
}
export -f one
export RUNS PYTHON
printf '%s\n' "Walker2d $STEPS_WALKER 0" "InvertedPendulum 20000 0" "InvertedPendulum 20000 1" \
  "InvertedPendulum 20000 2" | xargs -P "$JOBS" -L 1 bash -c 'one "$@"' _
for dir in "$RUNS"/*/seed*; do
  [ -d "$dir/checkpoints" ] || continue
  env=$(basename "$(dirname "$dir")")
  name="$RUNS/imagine/$env-$(basename "$dir")"
  # the contact sheet and MP4 of one segment (8 steps of the 48 on the sheet), then the per-step error and
  # SSIM over 8 segments (name-8seg.json; its video and sheet are not kept)
  OMP_NUM_THREADS=1 MUJOCO_GL=egl "$PYTHON" -m scripts.imagine --run "$dir" --context 8 --horizon 40 \
    --segments 1 --size 128 --out "$name.mp4" || echo "  imagine failed: $dir"
  OMP_NUM_THREADS=1 MUJOCO_GL=egl "$PYTHON" -m scripts.imagine --run "$dir" --context 8 --horizon 40 \
    --segments 8 --size 64 --out "$name-8seg.mp4" && rm -f "$name-8seg.mp4" "$name-8seg.png"
done
echo "$(date +%T) done"
