"""Write a report folder all at once: into a hidden temporary folder beside it, renamed into
place when every file is written.

A run that fails or is killed therefore never leaves a half-written report, nor a new table
beside an old ``index.html``: the folder holds the previous complete report or the new
one.  A rerun replaces the whole previous report (no stale files of an earlier run stay).
A folder that trialmlm did not write (no marker file) is refused unless ``overwrite``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

from .errors import DataError

MARKER = ".trialmlm-report"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_folder(final: Path, overwrite: bool = False) -> None:
    """DataError if ``final`` is a file, or a non-empty folder that is not a trialmlm report
    (no marker file) and ``overwrite`` is not given."""
    if final.exists() and not final.is_dir():
        raise DataError(f"output folder '{final}' is a file")
    if final.is_dir() and not (final / MARKER).exists() and any(final.iterdir()) and not overwrite:
        raise DataError(f"output folder '{final}' holds files that trialmlm did not write; choose another "
                        "--out or pass --overwrite to replace them")


@contextlib.contextmanager
def report_folder(final, overwrite: bool = False):
    """Yield a temporary folder to write the report into; on success it replaces ``final``.

    Temporary folders of earlier runs that were killed (their process is gone) are removed.
    """
    final = Path(final)
    check_folder(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{final.name}.partial-"
    for stale in final.parent.glob(prefix + "*"):
        pid = stale.name[len(prefix):]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f"{prefix}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        stamp = {"generator": "trialmlm", "written": datetime.now().isoformat(timespec="seconds")}
        (tmp / MARKER).write_text(json.dumps(stamp) + "\n")
        if final.exists():
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
