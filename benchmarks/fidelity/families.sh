#!/usr/bin/env bash
# The remaining world-model families (issue 32) on the fidelity benchmark's data and metrics: the RSSM with
# the contrastive (InfoNCE) objective, the energy-based model (Langevin), the diffusion model (DDIM) on
# Walker2d, Hopper and HalfCheetah, beside the reconstruction RSSM and the PETS ensemble rerun on the same
# code; and the momentum-conserving pairwise model against a same-size MLP (and the other state families)
# on ParticleSprings. One process at a time, one thread.
# Usage: bash benchmarks/fidelity/families.sh [NAME ...]   (no names: all; finished ones are skipped)
# Run directories go to $RUNS (default /tmp/families-runs); each world_model_eval.json is copied to
# benchmarks/fidelity/json-families/NAME.json. Tables: python benchmarks/fidelity/table.py --families
set -u
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-/tmp/families-runs}
OUT=${OUT:-benchmarks/fidelity/json-families}
mkdir -p "$RUNS" "$OUT"
# 2,000 updates over the 10k steps (as run.sh): updates = steps x train ratio / (replayed steps per update):
# / (16 x 64) for the RSSM, / (5 x 256 transitions) for the ensemble, / 256 transitions for the others.
RSSM=(--train-ratio 204.8)
ENS=(--family ensemble --train-ratio 256)
# The sampling families evaluate once, at the end (sampling 512 windows x 5 particles is their costliest
# part; a state model's evaluation draws from its own generator, so the schedule does not change training).
ONCE=(--eval-every 10000 --eval-early)
EBM=(--family ebm --train-ratio 51.2)
DIFF=(--family diffusion --train-ratio 51.2)
GRAPH=(--family graph --train-ratio 51.2)
COMMON=(--steps 10000 --context 5 --horizon 15 --threads 1 --no-progress --seed 0)
LOCO_EVAL=(--eval-episodes 300)      # random Walker2d / Hopper episodes are short: many, for enough windows
CHEETAH_EVAL=(--eval-episodes 3)     # 1000-step episodes
# ParticleSprings: 200-step episodes (50 in 10k steps), 100-step open-loop rollouts from the 5th step.
PART=(--env ParticleSprings --steps 10000 --context 5 --horizon 100 --eval-episodes 10 --threads 1
      --no-progress --seed 0)

run() {
  local name=$1
  shift
  if [ "${#WANT[@]}" -gt 0 ] && [[ ! " ${WANT[*]} " =~ " $name " ]]; then return; fi
  if [ -f "$OUT/$name.json" ]; then return; fi
  rm -rf "${RUNS:?}/$name"
  echo "$(date +%T) $name: python -m scripts.fit_world_model $*"
  if OMP_NUM_THREADS=1 MUJOCO_GL=egl nice -n 10 .venv/bin/python -m scripts.fit_world_model "$@" \
      --run-dir "$RUNS/$name" > "$RUNS/$name.log" 2>&1; then
    cp "$RUNS/$name/world_model_eval.json" "$OUT/$name.json"
  else
    echo "  failed: see $RUNS/$name.log"
  fi
}

WANT=("$@")
# Priority order (the machine was shared with 5-7 training runs): the new families first, the reruns of the
# existing ones on the same code last.
run_env() {  # NAME-SUFFIX ENV ARGS...: one locomotion run with that env's evaluation set
  local suffix=$1 env=$2
  shift 2
  local key eval
  key=$(echo "$env" | tr '[:upper:]' '[:lower:]')
  if [ "$env" = HalfCheetah ]; then eval=("${CHEETAH_EVAL[@]}"); else eval=("${LOCO_EVAL[@]}"); fi
  run "$key-$suffix" --env "$env" "${COMMON[@]}" "${eval[@]}" "$@"
}
# The momentum model: pairwise antisymmetric impulses (4.8k dynamics parameters) against an MLP of the same
# size (units 54: 4.8k), the same reward head in both.
run particles-graph     "${GRAPH[@]}" "${PART[@]}"
run particles-mlp       "${GRAPH[@]}" --graph.dynamics mlp --graph.units 54 "${PART[@]}"
for env in Hopper Walker2d HalfCheetah; do
  run_env ebm "$env" "${EBM[@]}" "${ONCE[@]}"
  run_env diffusion "$env" "${DIFF[@]}" "${ONCE[@]}"
done
for env in Hopper Walker2d HalfCheetah; do
  run_env rssm-contrastive "$env" "${RSSM[@]}" --objective contrastive
done
# The other state families on the particle system, for reference.
run particles-diffusion "${DIFF[@]}" "${PART[@]}" "${ONCE[@]}"
run particles-ebm       "${EBM[@]}" "${PART[@]}" "${ONCE[@]}"
run particles-ensemble  "${ENS[@]}" "${PART[@]}"
# The existing families rerun on today's code (json/ was measured by an earlier schedule, see README.md).
for env in Hopper Walker2d HalfCheetah; do
  run_env ensemble "$env" "${ENS[@]}"
done
for env in Hopper Walker2d HalfCheetah; do
  run_env rssm-recon "$env" "${RSSM[@]}" --objective reconstruction
done
echo "$(date +%T) done"
# The energy-based model's sampler against plain descent of its energy (no Langevin noise): what sampling costs.
run walker2d-ebm-nosample --env Walker2d "${COMMON[@]}" "${LOCO_EVAL[@]}" "${EBM[@]}" "${ONCE[@]}" --ebm.no-sample
echo "$(date +%T) done (extra rows)"
