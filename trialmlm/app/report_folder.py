"""Write a report folder all at once: into a hidden temporary folder beside it, renamed into
place when every file is written.

A run that fails or is killed therefore never leaves a half-written report, nor a new table
beside an old ``index.html``: the folder holds the previous complete report or the new
one.  A rerun replaces the whole previous report (no stale files of an earlier run stay).
The marker file lists the files of the report; a folder holding any other file is refused
(also with ``overwrite``, which only allows replacing a report of an earlier version whose
marker has no list), as is a folder that would replace an input file or the working
directory, all before any work (:func:`check_folder`; :func:`check_file` for one output file).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

from ..errors import DataError

MARKER = ".trialmlm-report"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_path(path: Path, what: str) -> None:
    """DataError if a folder on the way to ``path`` is a file (``mkdir`` would fail late)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{what} '{path}': '{parent}' is a file, not a folder")
            return


def _check_inputs(path: Path, inputs: dict, what: str) -> None:
    """DataError if writing ``path`` would replace an input or the working directory:
    ``path`` is an input, holds one (at any depth), lies inside an input folder, or is the
    working directory or one of its ancestors."""
    target = path.resolve()
    for role, value in inputs.items():
        if value is None:
            continue
        given = Path(value).resolve()
        if given == target or target in given.parents:
            raise DataError(f"{what} '{path}' would replace the {role} '{value}'; choose another --out "
                            "(a report folder is replaced as a whole)")
        if given.is_dir() and given in target.parents:
            raise DataError(f"{what} '{path}' lies inside the {role} folder '{value}'; choose another --out")
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise DataError(f"{what} '{path}' is the working directory or holds it; choose another --out "
                        "(a report folder is replaced as a whole)")


def _leftover(name: str) -> bool:
    """Whether ``name`` is a temporary folder of :func:`report_folder` (``.x.partial-123``)."""
    return name.startswith(".") and any(f".{kind}-" in name and name.rsplit("-", 1)[-1].isdigit()
                                        for kind in ("partial", "old"))


def foreign_files(folder: Path) -> list[str] | None:
    """The entries of ``folder`` that trialmlm did not write, in name order: every entry
    without a marker; with one, those its list of files does not name, other than
    temporary folders of an interrupted run and reports written into it (a folder with its
    own marker and no foreign files).  None for a marker of an earlier version (no list)."""
    marker = folder / MARKER
    names = sorted(p.name for p in folder.iterdir())
    if not marker.is_file():
        return names
    try:
        listed = json.loads(marker.read_text()).get("files")
    except (ValueError, AttributeError, OSError):
        return names
    if listed is None:
        return None
    own = {*listed, MARKER}
    return [n for n in names if n not in own and not _leftover(n)
            and not ((folder / n / MARKER).is_file() and foreign_files(folder / n) == [])]


def check_folder(final: Path, overwrite: bool = False, inputs: dict | None = None) -> None:
    """DataError (before any work) if the report folder ``final`` cannot be written:

    * it is a file, or a file is on its way (``afile/rep``);
    * it would replace an input (``inputs``: role -> path, e.g. ``{"data file":
      "study/adeff.csv"}``): it is the folder of an input, or an ancestor of one, or lies
      inside an input folder; or it is the working directory or an ancestor of it;
    * it holds files that trialmlm did not write (:func:`foreign_files`), with or without
      ``overwrite``: only a folder that trialmlm wrote is replaced;
    * it is a report of an earlier trialmlm version, whose marker does not list its files,
      and ``overwrite`` is not given.
    """
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise DataError(f"output folder '{final}' is a file")
    _check_path(final, "output folder")
    _check_inputs(final, inputs or {}, "output folder")
    if not final.is_dir() or not any(final.iterdir()):
        return
    foreign = foreign_files(final)
    if foreign is None:
        if not overwrite:
            raise DataError(f"output folder '{final}' is a report of an earlier trialmlm version that did "
                            "not list its files; pass --overwrite to replace it, or choose another --out")
    elif foreign:
        shown = ", ".join(foreign[:5]) + (f", ... ({len(foreign)} in all)" if len(foreign) > 5 else "")
        raise DataError(f"output folder '{final}' holds files that trialmlm did not write ({shown}); "
                        "trialmlm replaces only a folder it wrote, even with --overwrite: choose another "
                        "--out or move them away")


def check_file(path: Path, inputs: dict | None = None) -> None:
    """DataError (before any work) if the output file ``path`` cannot be written: it is a
    folder, a file is on its way, or it is an input (``inputs`` as for :func:`check_folder`)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"output file '{path}' is a folder")
    _check_path(path, "output file")
    for role, value in (inputs or {}).items():
        if value is not None and Path(value).resolve() == path.resolve():
            raise DataError(f"output file '{path}' is the {role}; choose another --out")


@contextlib.contextmanager
def report_folder(final, overwrite: bool = False, inputs: dict | None = None):
    """Yield a temporary folder to write the report into; on success it replaces ``final``
    (checked by :func:`check_folder` first) and holds the marker listing its files.

    Temporary folders of earlier runs that were killed (their process is gone) are removed.
    """
    final = Path(final)
    check_folder(final, overwrite, inputs)
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
        stamp = {"generator": "trialmlm", "written": datetime.now().isoformat(timespec="seconds"),
                 "files": sorted(p.name for p in tmp.iterdir())}
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
