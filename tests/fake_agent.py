"""A stand-in agent script for tests of the runners (scripts.benchmark, multirun): no learning, seconds."""

FAKE_AGENT = '''
"""A stand-in agent script: writes config.yaml, eval.csv and a checkpoint like the real ones."""
import argparse, os, sys, time
from pathlib import Path

p = argparse.ArgumentParser()
for name in ("--env", "--steps", "--seed", "--run-dir", "--eval-every", "--eval-episodes", "--device"):
    p.add_argument(name)
p.add_argument("--resume", action="store_true")
a = p.parse_args()
run = Path(a.run_dir)
if a.resume:
    text = (run / "config.yaml").read_text()
    cfg = dict(line.split(": ", 1) for line in text.splitlines())
    lines = (run / "eval.csv").read_text().splitlines()
    start = int(float(lines[-1].split(",")[0])) + int(cfg["eval_every"])
else:
    run.mkdir(parents=True)
    cfg = {"env": a.env, "seed": a.seed, "steps": a.steps, "algo": "fake", "eval_every": a.eval_every}
    (run / "config.yaml").write_text("".join(f"{k}: {v}\\n" for k, v in cfg.items()))
    header = "step,wall_time,episodes,return_mean,return_std,return_min,return_max,length_mean"
    (run / "eval.csv").write_text(header + "\\n")
    start = 0
print("threads", os.environ.get("OMP_NUM_THREADS"), "seed", cfg["seed"])
crash = os.environ.get("FAKE_CRASH_SEED") == cfg["seed"] and not a.resume
# FAKE_KILL="0:self,1:parent": on its first session seed 0 kills itself, seed 1 its launcher, with SIGKILL
kill = dict(k.split(":") for k in os.environ.get("FAKE_KILL", "").split(",") if k).get(cfg["seed"])
(run / "checkpoints").mkdir(exist_ok=True)
for step in range(start, int(a.steps) + 1, int(cfg["eval_every"])):
    if crash and step >= 200:
        sys.exit(1)
    if kill and not a.resume and step >= 200:
        os.kill(os.getpid() if kill == "self" else os.getppid(), 9)
    time.sleep(float(os.environ.get("FAKE_STEP_S", "0")))
    with open(run / "eval.csv", "a") as f:
        f.write(f"{step},{step / 100},1,{-1000 + step + int(cfg['seed'])},0,0,0,200\\n")
    (run / "checkpoints" / f"ckpt-{step}.pt").write_text("x")
'''
