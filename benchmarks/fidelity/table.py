"""Markdown tables of the fidelity benchmark from benchmarks/fidelity/json/*.json (written by run.sh).

Usage: python benchmarks/fidelity/table.py > tables.md
       FIDELITY_JSON=json-merged python benchmarks/fidelity/table.py   # another folder of results
       python benchmarks/fidelity/table.py --families   # every family: json-families/ and cost.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(name: str, folder: str | None = None) -> dict | None:
    path = HERE / (folder or os.environ.get("FIDELITY_JSON", "json")) / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def f(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}g}"


def at(values: list[float | None], step: int) -> float | None:
    return values[step - 1] if len(values) >= step else None


LABELS = {
    "rssm-recon": "RSSM (reconstruction)",
    "rssm-latent": "RSSM (latent / JEPA)",
    "ensemble": "PETS ensemble (5, TS-inf)",
    "ensemble-nosample": "PETS ensemble (5, TS-inf, member means: no draws)",
}


def locomotion() -> list[str]:
    out = [
        "| env | model | params | 1-step nMSE | 5-step | 15-step | repeat-last 1 / 15 "
        "| reward MSE (mean pred.) | T_h | energy err (J) | momentum err (kg m/s) "
        "| energy drift: imagined / real (J) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for env in ("walker2d", "hopper", "halfcheetah"):
        for key, label in LABELS.items():
            r = load(f"{env}-{key}")
            if r is None:
                continue
            nm, rl = r["openloop_nmse"], r["openloop_nmse_repeat_last"]
            scales = f"E std {f(r.get('energy_scale'))}, p std {f(r.get('momentum_scale'))}"
            out.append(
                f"| {r['env']} ({scales}) | {label} "
                f"| {r['parameters'] / 1e3:.0f}k | {f(nm[0])} | {f(at(nm, 5))} | {f(at(nm, 15))} "
                f"| {f(rl[0])} / {f(at(rl, 15))} "
                f"| {f(r['reward_mse'])} ({f(r['reward_mse_mean_predictor'])}) "
                f"| {r['prediction_horizon']} | {f(r.get('energy_error'))} | {f(r.get('momentum_error'))} "
                f"| {f(r.get('energy_drift'))} / {f(r.get('energy_drift_real'))} |"
            )
    return out


def policy() -> list[str]:
    out = [
        "| training data | model | held-out set | 1-step nMSE | 5-step | 15-step | reward MSE | T_h "
        "| energy err (J) | momentum err | energy drift imagined / real |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data, prefix in (("10k random", "walker2d-"), ("10k random + policy", "walker2d-policy-")):
        for key in ("rssm-recon", "ensemble"):
            r = load(prefix + key)
            if r is None:
                continue
            extra = r["train_episodes_extra"]
            steps = r["train_steps"]
            for held, res in (("random", r), ("policy", r.get("extra_eval"))):
                if res is None:
                    continue
                nm = res["openloop_nmse"]
                out.append(
                    f"| {data} ({steps} steps, {extra} policy episodes) | {LABELS[key]} | {held} "
                    f"({res['sequences']} windows) | {f(nm[0])} | {f(at(nm, 5))} | {f(at(nm, 15))} "
                    f"| {f(res['reward_mse'])} | {res['prediction_horizon']} | {f(res.get('energy_error'))} "
                    f"| {f(res.get('momentum_error'))} | {f(res.get('energy_drift'))} / "
                    f"{f(res.get('energy_drift_real'))} |"
                )
    return out


def energy() -> list[str]:
    out = [
        "| loss.energy | held-out set | 1-step nMSE | 5-step | 15-step | reward MSE | T_h | energy err (J) "
        "| energy drift imagined / real (J) | drift at step 15 | transfer R^2 (train) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scale, name in (("0 (off)", "walker2d-rssm-recon"), ("1", "walker2d-rssm-recon-energy1"),
                        ("10", "walker2d-rssm-recon-energy10")):  # fmt: skip
        r = load(name)
        if r is None:
            continue
        r2 = r["train_metrics"].get("wm/energy_transfer_r2")
        for held, res in (("random", r), ("policy", r.get("extra_eval"))):
            if res is None:
                continue
            nm = res["openloop_nmse"]
            out.append(
                f"| {scale} | {held} | {f(nm[0])} | {f(at(nm, 5))} | {f(at(nm, 15))} "
                f"| {f(res['reward_mse'])} | {res['prediction_horizon']} | {f(res.get('energy_error'))} "
                f"| {f(res.get('energy_drift'))} / "
                f"{f(res.get('energy_drift_real'))} | {f(at(res.get('openloop_energy_drift', []), 15))} "
                f"| {f(r2, 2)} |"
            )
    return out


def pendulum() -> list[str]:
    out = [
        "| model | params | 1-step nMSE | 50-step | 200-step | T_h | energy drift mean over 200 steps (J) "
        "| drift at step 200 | max drift | real drift |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = {
        "pendulum-hamiltonian": "Hamiltonian (learned T(p) + V(q), leapfrog)",
        "pendulum-hamiltonian-sub4": "Hamiltonian, 4 leapfrog substeps per step",
        "pendulum-mlp": "MLP dynamics (same features, units 90)",
        "pendulum-ensemble": "PETS ensemble (5 x 4 x 200)",
        "pendulum-rssm-recon": "RSSM (reconstruction, small)",
        "pendulum-rssm-recon-energy1": "RSSM (reconstruction, small) + energy regulariser (loss.energy 1)",
    }
    for name, label in labels.items():
        r = load(name)
        if r is None:
            continue
        nm, drift = r["openloop_nmse"], r["openloop_energy_drift"]
        out.append(
            f"| {label} | {r['parameters'] / 1e3:.1f}k | {f(nm[0])} | {f(at(nm, 50))} | {f(at(nm, 200))} "
            f"| {r['prediction_horizon']} | {f(r['energy_drift'])} | {f(at(drift, 200))} | {f(max(drift))} "
            f"| {f(r['energy_drift_real'])} |"
        )
    return out


FAMILY_LABELS = {
    "rssm-recon": "RSSM (reconstruction)",
    "rssm-contrastive": "RSSM (contrastive / InfoNCE)",
    "ensemble": "PETS ensemble (5, TS-inf)",
    "ebm": "energy-based (DSM, Langevin)",
    "diffusion": "diffusion (eps, DDIM 5 steps)",
}
FAMILIES_JSON = "json-families"


def families() -> list[str]:
    out = [
        "| env | model | params | ms / update (fit) | 1-step nMSE | 5-step | 15-step | repeat-last 1 / 15 "
        "| reward MSE (mean pred.) | continue acc. | T_h | energy err (J) | momentum err (kg m/s) "
        "| energy drift: imagined / real (J) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for env in ("walker2d", "hopper", "halfcheetah"):
        for key, label in FAMILY_LABELS.items():
            r = load(f"{env}-{key}", FAMILIES_JSON)
            if r is None:
                continue
            nm, rl = r["openloop_nmse"], r["openloop_nmse_repeat_last"]
            scales = f"E std {f(r.get('energy_scale'))}, p std {f(r.get('momentum_scale'))}"
            out.append(
                f"| {r['env']} ({scales}) | {label} | {r['parameters'] / 1e3:.0f}k "
                f"| {r['ms_per_update']:.0f} | {f(nm[0])} | {f(at(nm, 5))} | {f(at(nm, 15))} "
                f"| {f(rl[0])} / {f(at(rl, 15))} "
                f"| {f(r['reward_mse'])} ({f(r['reward_mse_mean_predictor'])}) | {f(r['cont_accuracy'])} "
                f"| {r['prediction_horizon']} | {f(r.get('energy_error'))} | {f(r.get('momentum_error'))} "
                f"| {f(r.get('energy_drift'))} / {f(r.get('energy_drift_real'))} |"
            )
    return out


def particles() -> list[str]:
    out = [
        "| model | params | ms / update (fit) | 1-step nMSE | 10-step | 50-step | 100-step | T_h "
        "| momentum err mean / at step 100 (kg m/s) | energy err mean / at step 100 (J) "
        "| reward MSE (mean pred.) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = {
        "particles-graph": "pairwise antisymmetric impulses (graph, 64 units)",
        "particles-mlp": "MLP dynamics, same size (54 units)",
        "particles-ensemble": "PETS ensemble (5 x 4 x 200)",
        "particles-ebm": "energy-based (DSM, Langevin)",
        "particles-diffusion": "diffusion (eps, DDIM 5 steps)",
        "particles-rssm-recon": "RSSM (reconstruction, small)",
    }
    for name, label in labels.items():
        r = load(name, FAMILIES_JSON)
        if r is None:
            continue
        nm, mom, en = r["openloop_nmse"], r["openloop_momentum_error"], r["openloop_energy_error"]
        out.append(
            f"| {label} | {r['parameters'] / 1e3:.1f}k | {r['ms_per_update']:.1f} | {f(nm[0])} "
            f"| {f(at(nm, 10))} | {f(at(nm, 50))} | {f(at(nm, 100))} | {r['prediction_horizon']} "
            f"| {f(r['momentum_error'])} / {f(at(mom, 100))} | {f(r['energy_error'])} / {f(at(en, 100))} "
            f"| {f(r['reward_mse'])} ({f(r['reward_mse_mean_predictor'])}) |"
        )
    return out


def cost() -> list[str]:
    path = HERE / "cost.json"
    if not path.is_file():
        return ["(no cost.json: python benchmarks/fidelity/cost.py)"]
    data = json.loads(path.read_text())
    out = [
        "| family | params | ms / update | ms / predicted step of 512 states |",
        "| --- | --- | --- | --- |",
    ]
    for name, r in data["families"].items():
        out.append(
            f"| {name} | {r['parameters'] / 1e3:.0f}k | {r['ms_per_update']:.1f} "
            f"| {r['ms_per_step_512']:.1f} |"
        )
    out.append("")
    out.append(f"Load average (1 min) at the end: {data['meta']['load_average_1min_at_end']}; 1 thread.")
    return out


def main() -> None:
    if "--families" in sys.argv[1:]:
        for title, rows in (
            ("Every family on locomotion (random-policy held-out episodes)", families()),
            ("ParticleSprings (context 5, horizon 100)", particles()),
            ("Cost, measured side by side (benchmarks/fidelity/cost.py)", cost()),
        ):
            sys.stdout.write(f"### {title}\n\n" + "\n".join(rows) + "\n\n")
        return
    for title, rows in (
        ("Locomotion (random-policy held-out episodes)", locomotion()),
        ("Walker2d: random + policy data", policy()),
        ("Walker2d: energy-consistency regulariser", energy()),
        ("Frictionless pendulum (context 5, horizon 200)", pendulum()),
    ):
        sys.stdout.write(f"### {title}\n\n" + "\n".join(rows) + "\n\n")


if __name__ == "__main__":
    main()
