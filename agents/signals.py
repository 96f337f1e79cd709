"""Ctrl-C and SIGTERM as a request to stop at the next safe point, for every training loop alike."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class StopRequest:
    """Set by :func:`stop_signals` when SIGINT or SIGTERM arrives; loops check it between steps."""

    requested: bool = False


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Turn SIGINT / SIGTERM into a stop request (a second SIGINT interrupts at once).

    The loop that checks the request finishes its step, checkpoints and stops, so a run stopped by a
    user or a scheduler loses nothing. Outside the main thread (where handlers cannot be installed) the
    request is never set and signals behave as usual.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.requested = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, once, like Ctrl-C (for loops that end their work on it: a batch of
    runs whose current run checkpoints on its own SIGTERM). ``timeout`` sends a second signal to the
    process group; only the first interrupts. Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if not fired.is_set():
            fired.set()
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
