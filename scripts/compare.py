"""Compare runs: eval-return curves, a table at fixed step budgets, and the same numbers as JSON.

Example::

    python -m scripts.compare runs/Pendulum-v1 'runs/*/sac/*' --out report/

Groups runs by env and algorithm (read from each run's config.yaml; ``--group-by folder`` groups them by
the name of the folder that holds each run instead, to compare variants of one algorithm, as in
``runs/<variant>/seed<k>``) and writes into ``--out``:
``report.md`` (tables at 10k/20k/50k/100k/300k/500k/1M steps where reached, final return, area under
the curve; per seed, the return at each budget, the best evaluation and last / best; speed figures,
notes on short or unevaluated runs), ``report.json`` (the same, with every run's evaluations) and one
``<env>.png`` per env (median over seeds with an IQR or min-max band, against env steps and against
wall-clock time).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from agents.cli import parse_options, run_main
from analysis.report import build_report, find_run_dirs, load_runs, write_report
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


def compare(cfg: CompareConfig) -> list[Path]:
    """Load the runs named in ``cfg``, write the report, and return the written paths.

    Raises:
        UserError: nothing matches, or no run could be loaded.
    """
    if not cfg.runs:
        raise UserError("name at least one run directory or glob pattern")
    runs, skipped = load_runs(find_run_dirs(cfg.runs))
    if not runs:
        raise UserError("no readable run: " + "; ".join(skipped))
    if cfg.group_by == "folder":
        runs = [dataclasses.replace(r, algo=r.path.parent.name or r.algo) for r in runs]
    report = build_report(runs, band=cfg.band, skipped=skipped, speed=cfg.speed, base=cfg.out)
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
