"""Start a run that stops with its launcher: ``python -m multirun.child PARENT_PID -- PROGRAM ARGS...``.

Linux only does anything: the process asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), then becomes ``PROGRAM`` (``execv`` keeps the request, the pid and the open file
descriptors). A run whose launcher is killed (the benchmark killed with SIGKILL, a Ray worker killed
where Ray does not end a dead worker's children itself) then checkpoints and stops instead of training
on unattended beside its retry. (Ray's default is to kill those children, often before they have
checkpointed; the retry then resumes from the last periodic checkpoint.) If the parent is already gone
when the request is made, it exits at once with status 75 (EX_TEMPFAIL).

Run as a small program rather than a ``preexec_fn``: code between fork and exec is unsafe in a threaded
launcher (Ray workers and Tune trials have many threads).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal sent to this process when its parent thread exits."""


def main(argv: list[str] | None = None) -> None:
    """Parse ``PARENT_PID -- PROGRAM ARGS...``, arm the parent-death signal, exec the program."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m multirun.child PARENT_PID -- PROGRAM [ARGS...]", file=sys.stderr)
        raise SystemExit(2)
    parent, program = int(args[0]), args[2:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the launcher died before the request was in place
            raise SystemExit(75)
    os.execv(program[0], program)


if __name__ == "__main__":
    main()
