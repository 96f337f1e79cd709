"""Ctrl-C, SIGTERM and SIGHUP as a request to stop at the next safe point, for every training loop alike.

SIGHUP is what a run gets when its terminal closes (an ssh session that drops, a closed window): it is
handled like SIGTERM, so the run checkpoints and stops instead of dying mid-step. A process started with
SIGHUP ignored (``nohup``) keeps ignoring it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any


@dataclass
class StopRequest:
    """Set by :func:`stop_signals` when SIGINT, SIGTERM or SIGHUP arrives; loops check it between steps.

    Attributes:
        requested: A stop was asked for.
        signal_name: The signal that asked first (``SIGINT``, ...), or ``None``.
    """

    requested: bool = False
    signal_name: str | None = None


def stop_signal_numbers() -> list[int]:
    """The signals a run treats as a request to stop: SIGINT, SIGTERM and (where it exists) SIGHUP, unless
    the process was started with SIGHUP ignored (``nohup``)."""
    numbers: list[int] = [signal.SIGINT, signal.SIGTERM]
    hup = getattr(signal, "SIGHUP", None)
    if hup is not None and signal.getsignal(hup) is not signal.SIG_IGN:
        numbers.append(hup)
    return numbers


def say(line: str) -> None:
    """Write ``line`` to stderr at once, safely from inside a signal handler.

    A handler runs between two bytecodes of the main thread, possibly in the middle of a ``print`` to the
    same stream (Python's buffered streams refuse such re-entrant writes); one ``os.write`` of the bytes
    to the file descriptor does not touch those buffers. A terminal that is gone (SIGHUP) is ignored.
    """
    with suppress(OSError):
        os.write(2, ("\n" + line + "\n").encode())


@contextmanager
def stop_signals(
    announce: Callable[[], str] | None = None, interrupt: Callable[[], bool] | None = None
) -> Iterator[StopRequest]:
    """Turn SIGINT / SIGTERM / SIGHUP into a stop request (a second SIGINT interrupts at once).

    The loop that checks the request finishes its step, checkpoints and stops, so a run stopped by a
    user or a scheduler loses nothing. Outside the main thread (where handlers cannot be installed) the
    request is never set and signals behave as usual.

    Args:
        announce: Called when the first request arrives; the line it returns is written to stderr at once
            (see :func:`say`), so that a stop is answered at once, whatever the loop is doing.
        interrupt: Called when the first request arrives; True raises KeyboardInterrupt at once (the loop
            is in work it can drop, e.g. an evaluation that would keep the stop waiting for a minute).
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not request.requested:
            request.requested = True
            request.signal_name = signal.Signals(signum).name
            if announce is not None:
                say(announce())
            if interrupt is not None and interrupt():
                raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in stop_signal_numbers()}
    try:
        yield request
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (and SIGHUP, as in :func:`stop_signals`) raises KeyboardInterrupt, once, like Ctrl-C (for
    loops that end their work on it: a batch of runs whose current run checkpoints on its own SIGTERM).
    ``timeout`` sends a second signal to the process group; only the first interrupts. Outside the main
    thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if not fired.is_set():
            fired.set()
            raise KeyboardInterrupt

    numbers = [s for s in stop_signal_numbers() if s != signal.SIGINT]
    previous = {s: signal.signal(s, handler) for s in numbers}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
