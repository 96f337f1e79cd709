"""A run's TensorBoard event files, read back as scalars: the one reader for reports, speed measurements
and the probes in ``benchmarks/``.

A run writes ``events.out.tfevents.*`` into its directory (:class:`agents.logger.Logger`; SB3's logger for
the baselines); a resumed run adds a file per session, whose names sort by creation time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

EVENT_PATTERN = "events.out.tfevents.*"
"""The names of TensorBoard event files."""


def run_event_files(run_dir: Path, *, recursive: bool = False) -> list[Path]:
    """The TensorBoard event files of a run, sorted by name (creation time, then host); ``recursive``
    also finds those in its subfolders."""
    run_dir = Path(run_dir)
    return sorted(run_dir.rglob(EVENT_PATTERN) if recursive else run_dir.glob(EVENT_PATTERN))


def read_scalars(
    files: Iterable[Path], keep: Callable[[str], bool] | None = None
) -> dict[str, list[tuple[int, float]]]:
    """Tag -> [(step, value), ...] of the scalars in TensorBoard event ``files``, in file order, then in
    the order written (so a resumed run's later file comes last when ``files`` are sorted by name).

    Reads both encodings of a scalar (``simple_value`` and a one-element tensor); ``keep`` filters the
    tags. A truncated event file (a killed run) gives what was read before the cut."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    out: dict[str, list[tuple[int, float]]] = {}
    for file in files:
        try:
            for event in EventFileLoader(str(file)).Load():
                for v in event.summary.value:
                    if keep is not None and not keep(v.tag):
                        continue
                    if v.HasField("simple_value"):
                        out.setdefault(v.tag, []).append((int(event.step), float(v.simple_value)))
                    elif v.HasField("tensor") and v.tensor.float_val:
                        out.setdefault(v.tag, []).append((int(event.step), float(v.tensor.float_val[0])))
        except Exception:  # a truncated event file (killed run): keep what was read
            continue
    return out
