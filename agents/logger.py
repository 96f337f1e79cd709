"""TensorBoard logging into the run directory (``tensorboard --logdir runs`` shows every run)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType


class Logger:
    """Writes scalars and text as TensorBoard events into ``run_dir``.

    Args:
        run_dir: The run directory (events go directly into it).
        purge_step: On resume, the checkpoint's step: events logged at later steps by the interrupted
            process are hidden, so curves do not double back.
        flush_secs: Seconds between flushes to disk.
    """

    def __init__(self, run_dir: Path, *, purge_step: int | None = None, flush_secs: int = 10) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step, flush_secs=flush_secs)

    def scalars(self, metrics: dict[str, float], step: int) -> None:
        """Log each ``name: value`` (names namespaced, e.g. ``train/return``) at ``step`` env steps.

        Non-finite values are logged too (TensorBoard shows them), so a diverging loss is visible.
        """
        for name, value in metrics.items():
            self.writer.add_scalar(name, float(value), step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        """Log a text blob (e.g. the config as YAML; rendered as markdown)."""
        self.writer.add_text(tag, text, step)

    def flush(self) -> None:
        """Write pending events to disk."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()

    def __enter__(self) -> Logger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
