"""A sweep's results table: per configuration (the swept fields' values), its seeds, final and AUC return.

Each trial is one run directory (its eval.csv is the source of truth). Per configuration, over its seeds:

- *final*: the last evaluation of each run that trained its whole budget (median over seeds);
- *AUC*: per run that trained its whole budget, the mean eval return over the sweep's common window
  (from the latest first evaluation among those runs to the budget; ``analysis.report.mean_return_over``);
  a run stopped early (by ASHA, say) has neither and is listed in the notes with its last return;
- rows ranked by median AUC, then median final return (configurations without either last).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.report import (
    Run,
    Stats,
    format_cell,
    format_steps,
    md_head,
    md_row,
    mean_return_over,
    show_path,
    summarize,
)


@dataclass(frozen=True)
class Trial:
    """One trial: a configuration's seed, its run (None if it never wrote one) and its error if it failed."""

    params: tuple[tuple[str, Any], ...]
    seed: int
    run: Run | None
    error: str = ""


@dataclass(frozen=True)
class ConfigRow:
    """One configuration over its seeds."""

    params: tuple[tuple[str, Any], ...]
    trials: tuple[Trial, ...]
    final: Stats
    final_step: Stats
    auc: Stats
    notes: tuple[str, ...]
    """Seeds stopped early or failed, in words."""


def auc_window(trials: Sequence[Trial], steps: int) -> tuple[float, float] | None:
    """The common AUC window: from the latest first evaluation of the runs that finished, to ``steps``."""
    finished = [t.run for t in trials if t.run is not None and t.run.finished and len(t.run.step)]
    if not finished:
        return None
    lo = max(float(r.step[0]) for r in finished)
    return (lo, float(steps)) if lo <= steps else None


def summarize_sweep(
    trials: Sequence[Trial], steps: int
) -> tuple[list[ConfigRow], tuple[float, float] | None]:
    """Group trials by configuration, summarise each over seeds, rank; returns the rows and the AUC window."""
    window = auc_window(trials, steps)
    groups: dict[tuple[tuple[str, Any], ...], list[Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.params, []).append(trial)
    rows = []
    for params, group in groups.items():
        group.sort(key=lambda t: t.seed)
        finished = []
        aucs = []
        notes = []
        for t in group:
            run = t.run
            if t.error:
                notes.append(f"seed {t.seed} failed: {t.error}")
            elif run is None or not len(run.step):
                notes.append(f"seed {t.seed}: no evaluation")
            elif not run.finished:
                notes.append(
                    f"seed {t.seed} stopped early at {run.last_step:,} steps (return {run.returns[-1]:.1f})"
                )
            else:
                finished.append(run)
                auc = mean_return_over(run, *window) if window is not None else None
                if auc is not None:
                    aucs.append(auc)
        rows.append(
            ConfigRow(
                params=params,
                trials=tuple(group),
                final=summarize([float(r.returns[-1]) for r in finished]),
                final_step=summarize([float(r.last_step) for r in finished]),
                auc=summarize(aucs),
                notes=tuple(notes),
            )
        )

    def rank(row: ConfigRow) -> tuple[float, float]:
        def key(v: float) -> float:
            return -v if math.isfinite(v) else math.inf

        return (key(row.auc.median), key(row.final.median))

    rows.sort(key=rank)
    return rows, window


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def sweep_markdown(rows: Sequence[ConfigRow], window: tuple[float, float] | None) -> str:
    """The ranked table (one row per configuration) and the notes on stopped or failed seeds."""
    names = [name for name, _ in rows[0].params] if rows else []
    span = f"{format_steps(window[0])}-{format_steps(window[1])}" if window else "none"
    header = ["rank", *(f"`{n}`" for n in names), "seeds", "final", f"AUC ({span})", "stopped early / failed"]
    lines = [
        "Cells: median [interquartile range] over seeds (n = seeds counted) of the mean deterministic eval",
        "return, over the runs that trained their whole budget. *final*: each run's last evaluation;",
        "*AUC*: mean eval return over the common window. Runs stopped early are in the notes.",
        "",
        *md_head(header),
    ]
    for i, row in enumerate(rows, 1):
        final = format_cell(row.final)
        if row.final.n:
            final += f" @{format_steps(row.final_step.median)}"
        seeds = ",".join(str(t.seed) for t in row.trials)
        cells = [
            str(i),
            *(_value(v) for _, v in row.params),
            f"{len(row.trials)} ({seeds})",
            final,
            format_cell(row.auc),
            str(len(row.notes)) if row.notes else "-",
        ]
        lines.append(md_row(cells))
    notes = [
        f"- {', '.join(f'{n}={_value(v)}' for n, v in row.params)}: {note}"
        for row in rows
        for note in row.notes
    ]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def sweep_json(
    rows: Sequence[ConfigRow], window: tuple[float, float] | None, base: Path | None
) -> dict[str, Any]:
    """The table's numbers, with every trial's run path (relative to ``base`` when inside it)."""
    return {
        "auc_range": list(window) if window else None,
        "configs": [
            {
                "rank": i,
                "params": dict(row.params),
                "final": row.final.to_json(),
                "final_step": row.final_step.to_json(),
                "auc": row.auc.to_json(),
                "notes": list(row.notes),
                "trials": [
                    {
                        "seed": t.seed,
                        "path": show_path(t.run.path, base) if t.run is not None else None,
                        "last_step": t.run.last_step if t.run is not None else 0,
                        "finished": bool(t.run is not None and t.run.finished),
                        "error": t.error,
                    }
                    for t in row.trials
                ],
            }
            for i, row in enumerate(rows, 1)
        ],
    }
