"""The ``trialmlm`` console script: Ctrl-C at any moment ends with one line and exit code 130.

:func:`trialmlm.cli.main` handles Ctrl-C during the work; this module covers the seconds
before it, while the numerical libraries are imported (``import trialmlm`` loads none of
them), which would otherwise end in a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import sys

INTERRUPTED = "trialmlm: interrupted; nothing was written"


def main(argv: list[str] | None = None) -> int:
    """Import the command line and run it; 130 with one line on stderr after Ctrl-C."""
    try:
        from .cli import main as run

        return run(argv)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
