"""Read trial data files into the long format :func:`trialmlm.fit` expects.

One function, :func:`read`: the file format is chosen by the extension, then the CDISC
ADaM Basic Data Structure (BDS) conventions are applied — one parameter (PARAMCD), the
analysis records (ANL01FL = "Y") and the visit order of AVISITN.  The result is a plain
pandas DataFrame; every transformation is listed in the docstring of :func:`read`.

Reference: CDISC Analysis Data Model Implementation Guide (ADaMIG) v1.3, section 3.3
(BDS variables PARAMCD, PARAM, AVISIT, AVISITN, ANLzzFL).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

#: Extension -> format read by :func:`read`.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".xpt": "xport", ".sas7bdat": "sas7bdat"}
DEFAULT_FLAG = "ANL01FL"
_SHOWN = 20  # columns / values listed in an error message


def _listing(values) -> str:
    values = [str(v) for v in values]
    more = f", ... ({len(values)} in all)" if len(values) > _SHOWN else ""
    return ", ".join(values[:_SHOWN]) + more


def _decode(series: pd.Series, encoding: str | None) -> pd.Series:
    """bytes -> str (UTF-8, else Latin-1 unless ``encoding`` is given); blanks -> missing."""
    def one(v):
        if isinstance(v, bytes):
            if encoding is not None:
                v = v.decode(encoding)
            else:
                try:
                    v = v.decode("utf-8")
                except UnicodeDecodeError:
                    v = v.decode("latin-1")
        if isinstance(v, str):
            v = v.rstrip()
            return v if v else np.nan
        return v
    return series.map(one).astype(object)


def _read_file(path: Path, encoding: str | None) -> pd.DataFrame:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"cannot read '{path}': unknown extension '{path.suffix}' "
                        f"(known: {', '.join(FORMATS)})")
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist")
    if fmt == "csv":
        try:
            return pd.read_csv(path, encoding=encoding or "utf-8")
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"cannot read '{path}' as CSV: {exc}") from None
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DataError(f"reading '{path}' needs pyarrow: pip install 'trialmlm[parquet]' "
                            "(or pip install pyarrow)") from None
        data = pd.read_parquet(path, engine="pyarrow")
        for col in data.select_dtypes(include="object").columns:  # None -> NaN, as from a CSV file
            data[col] = data[col].where(data[col].notna(), np.nan)
        return data
    try:
        data = _read_xport(path) if fmt == "xport" else pd.read_sas(path, format=fmt)
    except DataError:
        raise
    except Exception as exc:  # pandas' parser errors name neither the file nor the format
        raise DataError(f"cannot read '{path}' as SAS {fmt}: {exc}") from None
    for col in data.select_dtypes(include="object").columns:
        try:
            data[col] = _decode(data[col], encoding)
        except UnicodeDecodeError as exc:
            raise DataError(f"column '{col}' of '{path}' is not {encoding} text: {exc}") from None
    return data


def _xport_record_count(path: Path, start: int, length: int) -> int | None:
    """Number of observations of a one-member SAS transport (v5) file.

    The format pads the last 80-byte card with blanks and stores no observation count, so
    the count is the largest n whose records fit, less trailing all-blank records that lie
    within that padding (as ReadStat does).  pandas instead subtracts every 8-byte blank
    word of the last card, which drops real last rows that end in blank-padded character
    values whenever a record is at most 80 bytes long.  None: leave pandas' count.
    """
    if length <= 0 or length > 80:  # pandas' floor division is right for long records
        return None
    total = path.stat().st_size - start
    n = total // length
    with path.open("rb") as fh:
        while n > 0 and total - (n - 1) * length < 80:
            fh.seek(start + (n - 1) * length)
            if fh.read(length).strip(b" "):
                break
            n -= 1
    return n


def _read_xport(path: Path) -> pd.DataFrame:
    with path.open("rb") as fh:
        if fh.read(80).startswith(b"HEADER RECORD*******LIBV8"):
            raise DataError(f"'{path}' is a SAS transport file of version 8/9 (PROC CPORT / %LOC2XPT "
                            "V9); only version 5 (the XPORT engine, the FDA submission format) is read")
    with pd.read_sas(path, format="xport", iterator=True) as reader:
        start, length = getattr(reader, "record_start", None), getattr(reader, "record_length", None)
        if start is not None and length is not None:
            n = _xport_record_count(path, start, length)
            if n is not None:
                reader.nobs = n
        return reader.read()


def _require(data: pd.DataFrame, columns: dict, path: Path) -> None:
    for role, col in columns.items():
        if col is not None and col not in data.columns:
            raise DataError(f"'{path}' has no column '{col}' ({role}); its columns are "
                            f"{_listing(data.columns)}")


def _select_param(data: pd.DataFrame, param: str | None, path: Path) -> pd.DataFrame:
    codes = [c for c in ("PARAMCD", "PARAM") if c in data.columns]
    if param is None:
        for col in codes:
            present = sorted(data[col].dropna().astype(str).unique())
            if len(present) > 1:
                raise DataError(f"'{path}' holds {len(present)} parameters ({col}: {_listing(present)}); "
                                "choose one with param=")
            if present:  # PARAMCD decides when it is there; PARAM only without it
                break
        return data
    if not codes:
        raise DataError(f"param={param!r} given but '{path}' has neither PARAMCD nor PARAM")
    keep = np.zeros(len(data), dtype=bool)
    for col in codes:
        keep |= (data[col].astype(str) == str(param)).to_numpy()
    if not keep.any():
        col = codes[0]
        present = sorted(data[col].dropna().astype(str).unique())
        raise DataError(f"param={param!r} selects no rows of '{path}'; {col} values are {_listing(present)}")
    return data.loc[keep]


def _select_flag(data: pd.DataFrame, flag: str | None, path: Path) -> pd.DataFrame:
    if flag is None:
        return data
    if flag not in data.columns:
        if flag == DEFAULT_FLAG:
            return data
        raise DataError(f"analysis_flag={flag!r}: '{path}' has no such column; its columns are "
                        f"{_listing(data.columns)}")
    keep = (data[flag].astype(str).str.strip().str.upper() == "Y").to_numpy()
    if not keep.any():
        raise DataError(f"no row of '{path}' has {flag} = 'Y' (after the parameter selection); "
                        "pass analysis_flag=None to keep every row")
    return data.loc[keep]


def _order_visits(data: pd.DataFrame, visit: str, order: str, path: Path) -> pd.Series:
    """``visit`` as an ordered Categorical whose categories follow ``order`` (AVISITN)."""
    labels = data[visit].astype(object)  # a Categorical read from parquet is re-ordered here
    pairs = pd.DataFrame({visit: labels, order: data[order]}).loc[labels.notna()]
    if not pd.api.types.is_numeric_dtype(pairs[order]):
        raise DataError(f"'{order}' (visit order) of '{path}' must be numeric, it has dtype "
                        f"{pairs[order].dtype}")
    numbers = pairs.dropna().groupby(visit, sort=False)[order].unique()
    several = numbers[numbers.map(len) > 1]
    if len(several):
        v = several.index[0]
        raise DataError(f"visit {v!r} of '{path}' has several {order} values "
                        f"({', '.join(f'{x:g}' for x in sorted(several.iloc[0]))}); "
                        f"ADaM requires one {order} per {visit}")
    unnumbered = [v for v in pairs[visit].unique() if v not in numbers.index]
    if unnumbered:
        raise DataError(f"visit {unnumbered[0]!r} of '{path}' has no {order} value")
    first = numbers.map(lambda x: float(x[0]))
    shared = first[first.duplicated(keep=False)]
    if len(shared):
        n = shared.iloc[0]
        names = ", ".join(repr(v) for v in shared.index[shared == n])
        raise DataError(f"visits {names} of '{path}' share {order} = {n:g}; ADaM requires one "
                        f"{order} per {visit}")
    categories = first.sort_values(kind="stable").index.tolist()
    return pd.Series(pd.Categorical(labels, categories=categories, ordered=True), index=data.index)


def read(path: str | os.PathLike, *, param: str | None = None, response: str | None = None,
         analysis_flag: str | None = DEFAULT_FLAG, subject: str | None = "USUBJID",
         visit: str | None = "AVISIT", visit_order: str | None = "AVISITN",
         encoding: str | None = None) -> pd.DataFrame:
    """Read a trial data file (ADaM BDS or any long format) for :func:`trialmlm.fit`.

    Parameters
    ----------
    path : file name; the extension chooses the reader: ``.csv`` (:func:`pandas.read_csv`),
        ``.parquet`` (:func:`pandas.read_parquet`, needs pyarrow: ``pip install
        'trialmlm[parquet]'``), ``.xpt`` (SAS transport, version 5) and ``.sas7bdat``
        (:func:`pandas.read_sas`; no extra dependency).
    param : keep only the rows of this parameter: rows whose ``PARAMCD`` or ``PARAM``
        equals it.  Without it, the data may hold only one PARAMCD (or PARAM).
    response : name of the analysis variable (e.g. ``"AVAL"``, ``"CHG"``); only checked to
        be present and numeric.
    analysis_flag : keep only the rows whose flag column equals ``"Y"`` (ADaM ANLzzFL;
        default ``"ANL01FL"``).  A file without an ``ANL01FL`` column is left alone; any
        other flag name must be a column.  ``None`` keeps every row.
    subject : subject identifier column (required unless ``None``; default ``USUBJID``).
    visit : analysis visit column (required unless ``None``; default ``AVISIT``).
    visit_order : numeric column giving the order of the visits (default ``AVISITN``);
        used when present (``None`` disables it).
    encoding : text encoding of CSV files (default UTF-8) and of SAS character columns
        (default: UTF-8, falling back to Latin-1 for values that are not UTF-8).

    Returns
    -------
    pandas.DataFrame
        The file's columns, unchanged except for these steps, in this order:

        1. SAS files: byte strings are decoded to ``str``, trailing blanks removed and
           blank values set to missing (SAS has no other missing character value).
           Missing text is NaN from every format (parquet's None becomes NaN).
        2. ``subject``, ``visit`` and ``response`` are checked to be columns.
        3. Rows of another parameter are dropped (``param``).
        4. Rows not flagged ``"Y"`` in ``analysis_flag`` are dropped.
        5. If ``visit_order`` is a column: ``visit`` becomes an ordered
           :class:`pandas.Categorical` whose categories are the visits left after
           steps 3-4 sorted by ``visit_order`` (so "Week 2" precedes "Week 10", and
           "Baseline" or "Follow-up" sit where AVISITN puts them).  :func:`trialmlm.fit`
           and :mod:`trialmlm.missing` use this category order for the visits.
        6. The index is reset to 0, 1, ...

        Everything else (TRT01P, TRT01A, AVAL, BASE, CHG, DCSREAS, ...) passes through.

    Raises
    ------
    DataError
        Naming the file and the column, parameter or visit: unknown extension, missing
        file, unreadable file (a CSV in another encoding, a version 8 transport file, SAS
        text not in ``encoding``), pyarrow not installed, missing required column (the columns present are
        listed), several parameters without ``param``, a ``param`` that selects nothing
        (the PARAMCD values are listed), no row flagged ``"Y"``, a visit with several
        or no ``visit_order`` values, two visits with the same ``visit_order`` value, a
        non-numeric ``response``.
    """
    path = Path(path)
    data = _read_file(path, encoding)
    _require(data, {"subject": subject, "visit": visit, "response": response}, path)
    if response is not None and not (pd.api.types.is_numeric_dtype(data[response])
                                     and not pd.api.types.is_bool_dtype(data[response])):
        raise DataError(f"response '{response}' of '{path}' must be numeric, it has dtype "
                        f"{data[response].dtype}")
    data = _select_param(data, param, path)
    data = _select_flag(data, analysis_flag, path)
    data = data.copy()
    if visit is not None and visit_order is not None and visit_order in data.columns:
        data[visit] = _order_visits(data, visit, visit_order, path)
    return data.reset_index(drop=True)
