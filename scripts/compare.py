"""Compare runs: eval-return curves, a table at fixed step budgets, and the same numbers as JSON.

Example::

    python -m scripts.compare runs/Pendulum-v1 'runs/*/sac/*' --out report/

Groups runs by env and algorithm (read from each run's config.yaml; ``--group-by folder`` groups them by
the name of the folder that holds each run instead, to compare variants of one algorithm, as in
``runs/<variant>/seed<k>``) and writes into ``--out``:
``report.md`` (tables at 10k/20k/50k/100k/300k/500k/1M steps where reached, final return, area under
the curve, and the return each algorithm reaches within the wall time one dreamer run of the env takes
for its budget, with the machine each run recorded; per seed, the return at each budget, the best
evaluation, last / best, and the no-collapse rule: mean of the last 3 evaluations >= 0.8 x the best mean
of 3 consecutive ones; speed figures, notes on short or unevaluated runs), ``report.json`` (the same,
with every run's evaluations) and one ``<env>.png`` per env (median over seeds with an IQR or min-max
band, against env steps and against wall-clock time).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from agents.cli import parse_options, run_main
from analysis.report import WALL_REFERENCE, build_report, find_run_dirs, load_runs, write_report
from envs.errors import UserError


@dataclass(frozen=True)
class CompareConfig:
    """Command-line options of ``scripts.compare``."""

    runs: tyro.conf.Positional[tuple[str, ...]]
    """Run directories, folders that hold runs (searched recursively, symlinked folders followed and named
    by the link), or glob patterns."""
    out: Path = Path("report")
    """Output folder for report.md, report.json and the plots."""
    band: Literal["iqr", "minmax"] = "iqr"
    """Spread shown around the median over seeds: interquartile range or min-max."""
    speed: bool = True
    """Include the runs' speed figures (TensorBoard time/ scalars, speed.json, bench.json)."""
    group_by: Literal["algo", "folder"] = "algo"
    """Group runs (per env) by algorithm (from config.yaml), or by the name of the folder that holds each
    run directory (variants of one algorithm side by side: runs/<variant>/seed0 ...)."""
    wall_reference: str = WALL_REFERENCE
    """The group (algorithm, or folder with --group-by folder) whose finished runs set the same-hours
    column: each group's return within the median wall time of one of its runs ('' for no such column)."""


def compare(cfg: CompareConfig) -> list[Path]:
    """Load the runs named in ``cfg``, write the report, and return the written paths.

    Raises:
        UserError: nothing matches, no run could be loaded, or --wall-reference names no group.
    """
    if not cfg.runs:
        raise UserError("name at least one run directory or glob pattern")
    runs, skipped = load_runs(find_run_dirs(cfg.runs))
    if not runs:
        raise UserError("no readable run: " + "; ".join(skipped))
    if cfg.group_by == "folder":
        runs = [dataclasses.replace(r, algo=r.path.parent.name or r.algo) for r in runs]
    groups = sorted({r.algo for r in runs})
    if cfg.wall_reference not in ("", WALL_REFERENCE, *groups):
        raise UserError(
            f"--wall-reference {cfg.wall_reference}: no run is grouped so; the groups are {', '.join(groups)}"
        )
    report = build_report(
        runs,
        band=cfg.band,
        skipped=skipped,
        speed=cfg.speed,
        base=cfg.out,
        wall_reference=cfg.wall_reference or None,
    )
    return write_report(report, cfg.out)


def main(args: list[str] | None = None) -> None:
    """Entry point: parse the command line, write the report, print what was written; a mistake ends
    with a one-line ``error: ...`` and exit status 2."""

    def run() -> None:
        cfg = parse_options(CompareConfig, args=args, description=__doc__ or "")
        for path in compare(cfg):
            print(path)

    run_main(run)


if __name__ == "__main__":
    main()
