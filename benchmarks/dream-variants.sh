# Shared by the variant benchmarks (locomotion-ablation/run.sh, energy-regulariser/run.sh); source it.
# dream_command DIR SEED STEPS ARGS...: the command line that starts (or, where DIR already holds a run,
# resumes) `scripts.dream` with ARGS into DIR, logging to DIR.log; prints nothing when DIR's eval.csv
# already reaches STEPS. The caller pipes the lines of all its runs into `xargs -P JOBS`.
dream_command() {
  local dir=$1 seed=$2 steps=$3
  shift 3
  if [ -f "$dir/config.yaml" ]; then
    local last
    last=$(tail -n 1 "$dir/eval.csv" 2>/dev/null | cut -d, -f1)
    [ "$last" = "$steps" ] && return 0
    echo "OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python -m scripts.dream --resume --run-dir $dir --steps $steps >> $dir.log 2>&1"
  else
    mkdir -p "$(dirname "$dir")"
    echo "OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python -m scripts.dream $* --seed $seed --run-dir $dir > $dir.log 2>&1"
  fi
}

# run_variants: every (seed, variant) of $SEEDS x $VARIANTS into $OUT/<variant>/<seed>, seed-major (both
# variants of a seed finish before the next seed starts, so a partial pass stays balanced), $JOBS at
# once. Reads the caller's OUT, STEPS, SEEDS, VARIANTS, JOBS, COMMON and the associative array V
# (variant -> extra arguments).
run_variants() {
  mkdir -p "$OUT"
  local seed name
  for seed in $SEEDS; do
    for name in $VARIANTS; do
      dream_command "$OUT/$name/$seed" "$seed" "$STEPS" $COMMON ${V[$name]}
    done
  done | MUJOCO_GL=egl xargs -P "$JOBS" -I{} bash -c '{}'
}
