"""Atomic file writes: a crash mid-write leaves the previous file (or none), never a torn one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    The temporary file is named ``.<name>.<random>.tmp`` in the same directory (so the rename stays on
    one file system and is atomic); on any error it is removed and the error re-raised. A process killed
    outright leaves it behind, and readers ignore such names.

    Args:
        path: Final file.
        mode: ``"wb"`` (bytes) or ``"w"`` (text).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
