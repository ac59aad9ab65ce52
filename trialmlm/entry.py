"""The ``trialmlm`` console script: Ctrl-C at any moment ends with one line and exit code 130.

:func:`trialmlm.app.cli.main` handles Ctrl-C during the work (KeyboardInterrupt, so that
temporary folders are removed on the way out).  This module covers the seconds before it,
while the numerical libraries are imported (``import trialmlm`` loads none of them): then
nothing has been written, and Ctrl-C ends the process at once with the same line.  A
KeyboardInterrupt raised inside an import could instead be swallowed by a library's bare
``except:`` or leave CPython's "unhandled KeyboardInterrupt" flag set, which ends the
process by SIGINT instead of exit code 130.  The command line itself imports numpy at most
(``trialmlm --help`` is quick); the libraries a command needs (pandas, scipy, matplotlib) are
imported after the arguments are parsed, again inside :func:`starting`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

INTERRUPTED = "trialmlm: interrupted; nothing was written"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C


def _exit_now(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _interrupted_while_starting(signum, frame) -> None:
    print(INTERRUPTED, file=sys.stderr)
    _exit_now(EXIT_INTERRUPTED)


@contextlib.contextmanager
def starting():
    """While the block runs (modules being imported, nothing written yet), Ctrl-C prints one
    line and ends the process at once with exit code 130; the previous SIGINT handler is put
    back after it.  Outside the main thread (where no handler can be set) the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _interrupted_while_starting)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    """Import the command line and run it; after Ctrl-C one line on stderr and exit code 130
    (the process then ends at once, for the reason of the module docstring)."""
    try:
        with starting():
            from .app.cli import main as run
    except KeyboardInterrupt:  # Ctrl-C during the imports, delivered as the guard's handler is removed
        _interrupted_while_starting(signal.SIGINT, None)
    code = run(argv)
    if code == EXIT_INTERRUPTED:
        _exit_now(code)
    return code
