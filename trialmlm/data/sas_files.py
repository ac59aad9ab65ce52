"""Check the length of a SAS file against its own layout before ReadStat reads it.

ReadStat reads a transport file cut short mid-record as far as it goes and returns the
records it found, without an error: half a study read as a whole one.  The layouts give the
expected length:

* SAS transport (XPORT) v5 and v8: 80-byte records, so the file's length is a multiple of
  80; in a v5 file of one member, the observations end with blank padding shorter than one
  observation, so anything else after the last whole observation is a cut observation.
  Reference: SAS Institute, "The Record Layout of a Data Set in SAS Transport (XPORT)
  Format" (TS-140), and the v8 extension.
* sas7bdat: a header of ``header_length`` bytes and ``page_count`` pages of ``page_size``
  bytes (header offsets 196/200/204, moved by 4 bytes in 64-bit files).  Reference:
  Shotwell, "SAS7BDAT Database Binary Format" (2013).
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from ..errors import DataError

RECORD = 80  # bytes of an XPORT record
_OBS = (b"HEADER RECORD*******OBS     HEADER RECORD", b"HEADER RECORD*******OBSV8   HEADER RECORD")
_NAMESTR = b"HEADER RECORD*******NAMESTR HEADER RECORD"  # v5 (v8's NAMSTV8 counts differently)
_MEMBER = b"HEADER RECORD*******MEMB"
#: The first 32 bytes of every sas7bdat file.
MAGIC = bytes(12) + bytes.fromhex("c2ea8160b31411cfbd92080009c7318c181f1011")


def _truncated(path: Path, size: int, why: str) -> DataError:
    return DataError(f"SAS file '{path}' is truncated or corrupt: {size:,} bytes, {why}; copy or "
                     "export it again")


def _find_one(data, patterns: tuple[bytes, ...]) -> int:
    """Offset of the only occurrence of any of ``patterns`` (-1 for none or several)."""
    hits = [(p, i) for p in patterns if (i := data.find(p)) >= 0]
    if len(hits) != 1 or data.find(hits[0][0], hits[0][1] + 1) >= 0:
        return -1
    return hits[0][1]


def _xport_tail(data, size: int) -> int | None:
    """Bytes after the last whole observation that are not blank padding (None when the
    layout is not that of one v5 member with every header where expected)."""
    obs, names = _find_one(data, _OBS), _find_one(data, (_NAMESTR,))
    member = data.rfind(_MEMBER, 0, names) if names >= 0 else -1
    if obs < 0 or member < 0:
        return None
    try:
        n_vars = int(data[names + 54:names + 58])
        namestr = int(data[member + 74:member + 78])
    except ValueError:
        return None
    first = names + RECORD
    width = sum(struct.unpack(">h", data[first + k * namestr + 4:first + k * namestr + 6])[0]
                for k in range(n_vars))
    start = obs + RECORD
    if width <= 0 or start > size:
        return None
    tail = data[start + (size - start) // width * width:size]
    return len(tail) if tail.strip(b" ") else 0


def check_xport(path: Path) -> None:
    """DataError if the transport file at ``path`` is not whole (module docstring)."""
    size = path.stat().st_size
    if size % RECORD:
        raise _truncated(path, size, f"not a whole number of {RECORD}-byte transport records "
                                     f"({size // RECORD:,} records and {size % RECORD} bytes)")
    if size == 0:
        raise _truncated(path, size, "an empty file")
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        cut = _xport_tail(data, size)
    if cut:
        raise _truncated(path, size, f"its last observation is cut short ({cut} bytes of it are there)")


def check_sas7bdat(path: Path) -> None:
    """DataError if the sas7bdat file at ``path`` (its first 32 bytes :data:`MAGIC`) is
    shorter than its header says."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(216)
    if head[:32] != MAGIC:
        return  # not a sas7bdat file at all: ReadStat says so
    if len(head) < 216:
        raise _truncated(path, size, "shorter than a sas7bdat header")
    shift = 4 if head[35:36] == b"3" else 0  # 64-bit layout
    order = "<" if head[37:38] == b"\x01" else ">"
    header, page = struct.unpack(order + "ii", head[196 + shift:204 + shift])
    pages = struct.unpack(order + ("q" if shift else "i"), head[204 + shift:208 + 2 * shift])[0]
    expected = header + pages * page
    if header > 0 and page > 0 and pages >= 0 and size < expected:
        raise _truncated(path, size, f"its header describes {expected:,} ({header:,}-byte header and "
                                     f"{pages:,} page{'s' if pages != 1 else ''} of {page:,} bytes)")


def check_sas_file(path: Path, fmt: str) -> None:
    """The check of ``fmt`` ("xport" or "sas7bdat") for the file at ``path``."""
    (check_xport if fmt == "xport" else check_sas7bdat)(path)
