#!/usr/bin/env bash
# Records the new-user walkthrough (a fresh clone, the README's commands, bad inputs) in a tmux pane and
# writes what the terminal showed to transcript.md. Run from the repository root:
#   bash benchmarks/walkthrough/record.sh [CLONE_DIR]        (default /tmp/walkthrough)
# It clones this checkout's HEAD, so commit first. Takes 30-60 minutes on 2 cores.
set -u
SRC=$(pwd)
DIR=${1:-/tmp/walkthrough}
OUT=$SRC/benchmarks/walkthrough/transcript.md
S=walk$$
rm -rf "$DIR"
tmux kill-session -t "$S" 2>/dev/null
tmux new-session -d -s "$S" -x 120 -y 40
tmux set-option -t "$S" history-limit 100000

n=0
send() { tmux send-keys -t "$S" "$1" Enter; }
# run CMD and wait until it ends; the pane's new lines go to the transcript
step() {
  local title=$1 cmd=$2 timeout=${3:-3600}
  n=$((n + 1))
  tmux clear-history -t "$S"; send "clear"; sleep 0.5; tmux clear-history -t "$S"
  local t0=$(date +%s)
  send "$cmd; echo \"[exit status \$?]\"; echo __STEP${n}_DONE__"
  while ! tmux capture-pane -p -t "$S" -S - | grep -q "^__STEP${n}_DONE__"; do
    sleep 2; if [ $(( $(date +%s) - t0 )) -gt "$timeout" ]; then tmux send-keys -t "$S" C-c; sleep 20; fi
  done
  record "$title" "$cmd" $(( $(date +%s) - t0 ))
}
# run CMD for SECS seconds, show the screen, then Ctrl-C it and wait for it to stop
interrupt_after() {
  local title=$1 cmd=$2 secs=$3
  n=$((n + 1))
  tmux clear-history -t "$S"; send "clear"; sleep 0.5; tmux clear-history -t "$S"
  local t0=$(date +%s)
  send "$cmd"
  sleep "$secs"
  { echo; echo "_What the terminal showed after $secs s, before Ctrl-C:_"; echo; echo '```'
    tmux capture-pane -p -t "$S" | sed -e 's/[[:space:]]*$//' | grep -v '^$' | grep -v __STEP; echo '```'; } > /tmp/$S.mid
  tmux send-keys -t "$S" C-c
  # Ctrl-C ends the whole command line in an interactive shell: wait for the prompt, then ask for the status
  while [ "$(tmux capture-pane -p -t "$S" | sed -e 's/[[:space:]]*$//' | grep -v '^$' | tail -n 1)" != '$' ]; do
    sleep 2
  done
  send "echo \"[exit status \$?]\"; echo __STEP${n}_DONE__"
  while ! tmux capture-pane -p -t "$S" -S - | grep -q "^__STEP${n}_DONE__"; do sleep 2; done
  record "$title" "$cmd   # then Ctrl-C after $secs s" $(( $(date +%s) - t0 )) /tmp/$S.mid
}
record() {
  local title=$1 cmd=$2 secs=$3 mid=${4:-}
  {
    echo; echo "## $n. $title"; echo; echo "Wall time: ${secs} s."
    [ -n "$mid" ] && cat "$mid"
    echo; echo '```'; echo "\$ $cmd"
    tmux capture-pane -p -J -t "$S" -S - | sed -e 's/[[:space:]]*$//' | grep -v __STEP | grep -v '^\$ clear$' \
      | awk 'NF || prev_nf {print} {prev_nf = NF}' | tail -n 80
    echo '```'
  } >> "$OUT"
}

{
  echo "# A new user's first hour, recorded"
  echo
  echo "Recorded by \`bash benchmarks/walkthrough/record.sh\` on $(date -u +%Y-%m-%d) ($(git -C "$SRC" rev-parse --short HEAD)),"
  echo "$(nproc) CPU cores, no GPU, in a tmux pane 120 columns wide; each block is what the pane showed"
  echo "(long outputs cut to their last 80 lines). Other jobs shared the machine, so wall times are those of a"
  echo "loaded machine."
} > "$OUT"

send "export PS1='\$ ' && cd /tmp"
step "A fresh clone" "git clone -q $SRC $DIR && cd $DIR && ls"
step "make test: set-up, lint, type check, tests" "make test > make-test.log 2>&1; s=\$?; tail -n 25 make-test.log; (exit \$s)"
interrupt_after "make train: the first minutes, then Ctrl-C" "make train ARGS='--run-dir runs/walker'" 300
step "Where the run stands" "ls runs/walker runs/walker/checkpoints && cat runs/walker/eval.csv | cut -d, -f1-4"
interrupt_after "Resume through make, then Ctrl-C again" "make train ARGS='--resume --run-dir runs/walker'" 120
step "A SAC baseline on the same protocol" ".venv/bin/python -m scripts.baseline --algo sac --env Walker2d --steps 3000 --eval-every 1000 --run-dir runs/sac"
step "Compare them" ".venv/bin/python -m scripts.compare runs/walker runs/sac --out report && head -n 30 report/report.md"
step "What the model imagines" "MUJOCO_GL=egl .venv/bin/python -m scripts.imagine --run runs/walker --out imagine/walker.mp4 && ls -la imagine"
step "Fit a world model alone on 3,000 random steps" "time .venv/bin/python -m scripts.fit_world_model --env Walker2d --steps 3000 --run-dir runs/fit"
step "Bad input: a negative budget" ".venv/bin/python -m scripts.dream --env Walker2d --steps -5 --run-dir runs/neg; s=\$?; ls runs; (exit \$s)"
step "Bad input: a typo'd flag" ".venv/bin/python -m scripts.dream --env Walker2d --stesp 100"
step "Bad input: a planner option of latent MPC given to scripts.dream" ".venv/bin/python -m scripts.dream --env Pendulum --act planner"
step "Bad input: a bad choice" ".venv/bin/python -m scripts.baseline --env Walker2d --algo sacc"
step "Bad input: an unknown env" ".venv/bin/python -m scripts.dream --env Walkr2d"
step "Bad input: a run directory that exists" ".venv/bin/python -m scripts.dream --env Walker2d --run-dir runs/walker"
step "Bad input: resuming a run that does not exist" ".venv/bin/python -m scripts.dream --resume --run-dir runs/nothing"
step "Bad input: a corrupt checkpoint" "cp -r runs/walker runs/broken && for f in runs/broken/checkpoints/*.pt; do head -c 1000 \$f > \$f.tmp && mv \$f.tmp \$f; done && .venv/bin/python -m scripts.dream --resume --run-dir runs/broken"
step "Bad input: pixels for a state-only model family" ".venv/bin/python -m scripts.fit_world_model --env Walker2d --envs.obs pixels --family ensemble --run-dir runs/pix"
step "Bad input: resuming with a budget below the run's step" ".venv/bin/python -m scripts.dream --resume --run-dir runs/walker --steps 10; s=\$?; grep '^steps' runs/walker/config.yaml; (exit \$s)"
step "Bad input: a learning rate that is not a number" ".venv/bin/python -m scripts.dream --env Pendulum --model.optim.lr nan --run-dir runs/nan"
step "A run that diverges" ".venv/bin/python -m scripts.dream --env Pendulum --preset debug --steps 1500 --model.optim.lr 1e6 --agent.actor-lr 1e6 --agent.critic-lr 1e6 --run-dir runs/diverge 2>&1 | tail -n 6; (exit \${PIPESTATUS[0]})"
step "Bad input: a device that is not there" ".venv/bin/python -m scripts.dream --env Walker2d --device cuda --run-dir runs/gpu"
tmux kill-session -t "$S"
echo "transcript: $OUT"
