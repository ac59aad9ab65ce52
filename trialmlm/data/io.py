"""Read trial data files into the long format :func:`trialmlm.fit` expects.

One function, :func:`read`: the file format is chosen by the extension (SAS files through
pyreadstat, i.e. ReadStat), then the CDISC ADaM Basic Data Structure (BDS) conventions
are applied — one parameter (PARAMCD), the record selection of
:func:`trialmlm.data.adam.select_records` (population, ``where``, ANL01FL, DTYPE, ABLFL), one
record per subject and visit, the visit order of AVISITN and the arm order of its
numeric companion (TRTPN).  The result is a pandas DataFrame whose ``attrs`` carry the
record counts and the SAS column labels; every step is listed in :func:`read`.

Reference: CDISC Analysis Data Model Implementation Guide (ADaMIG) v1.3, section 3.3
(BDS variables PARAMCD, PARAM, AVISIT, AVISITN, ANLzzFL, DTYPE, ABLFL).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from . import adam
from .adam import RecordCounts, check_one_record_per_visit, count_subjects, exclude_records, select_records
from .classes import as_class, check_class_columns, grouping_name, warn_codes
from .sas_files import check_sas_file

#: Extension -> format read by :func:`read`.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".xpt": "xport", ".sas7bdat": "sas7bdat"}
DEFAULT_FLAG = "ANL01FL"
_SHOWN = 20  # columns / values listed in an error message


def _listing(values) -> str:
    values = [str(v) for v in values]
    more = f", ... ({len(values)} in all)" if len(values) > _SHOWN else ""
    return ", ".join(values[:_SHOWN]) + more


def _blank_to_missing(series: pd.Series) -> pd.Series:
    """Trailing blanks removed; blank text is missing (SAS has no other missing text)."""
    def one(v):
        if isinstance(v, str):
            v = v.rstrip()
            return v if v else np.nan
        return v
    return series.map(one).astype(object)


def _read_sas(path: Path, fmt: str, encoding: str | None) -> tuple[pd.DataFrame, dict]:
    """A SAS transport (v5 or v8) or sas7bdat file through pyreadstat: numbers as stored
    (zeros stay zero), SAS special missing values (``.A``-``.Z``, ``._``) as NaN, dates
    and datetimes as ``datetime64``; returns the data and the column labels.  A file shorter
    than its layout says is a DataError first (:mod:`trialmlm.data.sas_files`)."""
    import pyreadstat

    check_sas_file(path, fmt)  # ReadStat reads a file cut short without a word
    reader = pyreadstat.read_xport if fmt == "xport" else pyreadstat.read_sas7bdat
    try:
        data, meta = reader(str(path), encoding=encoding, dates_as_pandas_datetime=True)
    except Exception as exc:  # ReadStat's messages name neither the file nor the format
        hint = f" (text encoding {encoding!r})" if encoding else ""
        raise DataError(f"cannot read '{path}' as SAS {fmt}{hint}: {exc} (the file has "
                        f"{path.stat().st_size:,} bytes)") from None
    for col in data.select_dtypes(include="object").columns:
        data[col] = _blank_to_missing(data[col])
    labels = {k: v for k, v in (meta.column_names_to_labels or {}).items() if v}
    return data, labels


def _read_file(path: Path, encoding: str | None) -> tuple[pd.DataFrame, dict]:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"cannot read '{path}': unknown extension '{path.suffix}' "
                        f"(known: {', '.join(FORMATS)})")
    if path.is_dir():
        raise DataError(f"data file '{path}' is a directory, not a file")
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist")
    if fmt == "csv":
        try:
            return pd.read_csv(path, encoding=encoding or "utf-8"), {}
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"cannot read '{path}' as CSV: {exc}") from None
    if fmt == "parquet":
        try:
            import pyarrow
        except ImportError:
            raise DataError(f"reading '{path}' needs pyarrow: pip install 'trialmlm[parquet]' "
                            "(or pip install pyarrow)") from None
        try:
            data = pd.read_parquet(path, engine="pyarrow")
        except (pyarrow.ArrowException, OSError) as exc:
            raise DataError(f"cannot read '{path}' as Parquet: {exc}") from None
        for col in data.select_dtypes(include="object").columns:  # None -> NaN, as from a CSV file
            missing = data[col].isna()
            # an all-missing column (Arrow's null type): missing numbers, as a CSV file gives it
            data[col] = np.nan if missing.all() else data[col].where(~missing, np.nan)
        return data, {}
    return _read_sas(path, fmt, encoding)


def read_table(path: str | os.PathLike, encoding: str | None = None) -> pd.DataFrame:
    """A data file as it is (step 1 of :func:`read`: the reader of its extension, SAS
    numbers and missing values, blank text missing), without any record selection;
    column labels of a SAS file in ``attrs["labels"]``.  For auxiliary tables such as an
    ICE file."""
    data, labels = _read_file(Path(path), encoding)
    data.attrs = {"labels": labels}
    return data


def _require(data: pd.DataFrame, columns: dict, source: str) -> None:
    for role, col in columns.items():
        if col is not None and col not in data.columns:
            raise DataError(f"'{source}' has no column '{col}' ({role}); its columns are "
                            f"{_listing(data.columns)}")


def _select_param(data: pd.DataFrame, param: str | None, source: str) -> np.ndarray:
    codes = [c for c in ("PARAMCD", "PARAM") if c in data.columns]
    if param is None:
        for col in codes:
            present = sorted(data[col].dropna().astype(str).unique())
            if len(present) > 1:
                raise DataError(f"'{source}' holds {len(present)} parameters ({col}: {_listing(present)}); "
                                "choose one with param=")
            if present:  # PARAMCD decides when it is there; PARAM only without it
                break
        return np.ones(len(data), dtype=bool)
    if not codes:
        raise DataError(f"param={param!r} given but '{source}' has neither PARAMCD nor PARAM")
    keep = np.zeros(len(data), dtype=bool)
    for col in codes:
        keep |= (data[col].astype(str) == str(param)).to_numpy()
    if not keep.any():
        col = codes[0]
        present = sorted(data[col].dropna().astype(str).unique())
        raise DataError(f"param={param!r} selects no rows of '{source}'; {col} values are "
                        f"{_listing(present)}")
    return keep


def _order_visits(data: pd.DataFrame, visit: str, order: str, source: str) -> pd.Series:
    """``visit`` as an ordered Categorical whose categories follow ``order`` (AVISITN)."""
    labels = data[visit].astype(object)  # a Categorical read from parquet is re-ordered here
    pairs = pd.DataFrame({visit: labels, order: data[order]}).loc[labels.notna()]
    if not pd.api.types.is_numeric_dtype(pairs[order]):
        raise DataError(f"'{order}' (visit order) of '{source}' must be numeric, it has dtype "
                        f"{pairs[order].dtype}")
    numbers = pairs.dropna().groupby(visit, sort=False)[order].unique()
    several = numbers[numbers.map(len) > 1]
    if len(several):
        v = several.index[0]
        raise DataError(f"visit {v!r} of '{source}' has several {order} values "
                        f"({', '.join(f'{x:g}' for x in sorted(several.iloc[0]))}); "
                        f"ADaM requires one {order} per {visit}")
    unnumbered = [v for v in pairs[visit].unique() if v not in numbers.index]
    if unnumbered:
        raise DataError(f"visit {unnumbered[0]!r} of '{source}' has no {order} value")
    first = numbers.map(lambda x: float(x[0]))
    shared = first[first.duplicated(keep=False)]
    if len(shared):
        n = shared.iloc[0]
        names = ", ".join(repr(v) for v in shared.index[shared == n])
        raise DataError(f"visits {names} of '{source}' share {order} = {n:g}; ADaM requires one "
                        f"{order} per {visit}")
    categories = first.sort_values(kind="stable").index.tolist()
    return pd.Series(pd.Categorical(labels, categories=categories, ordered=True), index=data.index)


def read(path: str | os.PathLike | pd.DataFrame, *, param: str | None = None, response: str | None = None,
         population: str | None = None, where: str | None = None,
         analysis_flag: str | None = DEFAULT_FLAG, keep_dtype: tuple[str, ...] | list[str] = (),
         keep_baseline: bool = False, subject: str | None = "USUBJID", visit: str | None = "AVISIT",
         visit_order: str | None = "AVISITN", arm: str | None = None, arm_order: list | None = None,
         class_variables: Sequence[str] = (), encoding: str | None = None) -> pd.DataFrame:
    """Read a trial data file (ADaM BDS or any long format) and select the analysis records.

    Parameters
    ----------
    path : file name, or a DataFrame already in memory (the same steps are applied to a
        copy).  The extension chooses the reader: ``.csv`` (:func:`pandas.read_csv`),
        ``.parquet`` (:func:`pandas.read_parquet`, needs pyarrow: ``pip install
        'trialmlm[parquet]'``), ``.xpt`` (SAS transport, version 5 or 8) and
        ``.sas7bdat``, both through pyreadstat.
    param : keep only the records of this parameter: rows whose ``PARAMCD`` or ``PARAM``
        equals it.  Without it, the data may hold only one PARAMCD (or PARAM).
    response : name of the analysis variable (e.g. ``"AVAL"``, ``"CHG"``); checked to be
        present and numeric.
    population : a subject-level Y/N flag (``"EFFFL"``, ``"ITTFL"``, ``"FASFL"``,
        ``"SAFFL"``, ``"PPROTFL"``, ``"COMP24FL"``, ...): keep the subjects flagged ``"Y"``.
    where : a selection in the safe expression language of :mod:`trialmlm.data.where`, e.g.
        ``"AVISITN <= 24 and SITEGR1 != '900'"``.
    analysis_flag : keep only the records whose flag equals ``"Y"`` (ADaM ANLzzFL;
        default ``"ANL01FL"``).  A file without an ``ANL01FL`` column is left alone; any
        other flag name must be a column.  ``None`` keeps every record.
    keep_dtype : derived-record types to keep (e.g. ``["LOCF"]`` for an LOCF analysis);
        by default every record with a non-blank ``DTYPE`` is dropped.
    keep_baseline : keep the baseline records (``ABLFL = "Y"``; without ABLFL, a visit
        named "Baseline"); by default they are dropped, as baseline is a covariate and
        not a post-baseline response.
    subject : subject identifier column (required unless ``None``; default ``USUBJID``).
    visit : analysis visit column (required unless ``None``; default ``AVISIT``).
    visit_order : numeric column giving the order of the visits (default ``AVISITN``);
        used when present (``None`` disables it).
    arm : treatment column (e.g. ``"TRT01P"``, ``"TRTP"``); when given it becomes a
        Categorical in the order of :func:`trialmlm.data.adam.arm_order`: ``arm_order`` if
        given, else the numeric companion ``arm + "N"`` (TRTPN), else sorted labels.
    arm_order : every level of ``arm``, in the order of tables and figures.
    class_variables : columns that are classification factors (SAS ``CLASS``), e.g.
        ``["SITEGR1"]`` when the site groups are numeric codes 701, 703, ... (as a CSV file
        gives them): they become Categoricals, numeric codes in numeric order (701 < 703 <
        710), so that a formula fits them as factors (:func:`trialmlm.data.classes.as_class`).
    encoding : text encoding of CSV files (default UTF-8) and of SAS character columns
        (default: as ReadStat detects it).

    Returns
    -------
    pandas.DataFrame
        The file's columns, unchanged except for these steps, in this order:

        1. SAS files: numbers as stored (0 is 0: pandas' own XPORT reader returns
           5.4e-79), special missing values ``.A``-``.Z`` and ``._`` as NaN, dates as
           ``datetime64``; text with trailing blanks removed and blank values missing
           (SAS has no other missing text).  Missing text is NaN from every format.
        2. ``subject``, ``visit`` and ``response`` are checked to be columns.
        3. Records of another parameter are dropped (``param``); then
           :func:`trialmlm.data.adam.select_records`: ``population``, ``where``,
           ``analysis_flag``, derived records (DTYPE), baseline records.
        4. Two records of one subject at one visit are an error.
        5. If ``visit_order`` is a column: ``visit`` becomes an ordered
           :class:`pandas.Categorical` whose categories are the visits left, sorted
           by ``visit_order`` (so "Week 2" precedes "Week 10").  :func:`trialmlm.fit`
           and :mod:`trialmlm.missing` use this category order for the visits.
        6. ``arm`` (if given) becomes a Categorical in table order; each of
           ``class_variables`` a Categorical in the order of its values.
        7. The index is reset to 0, 1, ...

        Derived records kept by ``keep_dtype`` stay marked by their ``DTYPE``:
        :func:`trialmlm.data.adam.observed_records` gives the observed-case records of the
        same selection.

        ``attrs["records"]``: a :class:`trialmlm.data.adam.RecordCounts` (records and
        subjects read, excluded at each step, left); ``attrs["labels"]``: column
        labels of a SAS file (``{"TRTP": "Planned Treatment", ...}``), used as table
        headers.

    Raises
    ------
    DataError
        Naming the file and the column, parameter, flag or visit: unknown extension,
        missing file, unreadable file, pyarrow not installed, missing required column
        (the columns present are listed), several parameters without ``param``, a
        ``param`` that selects nothing, a population flag that is not a column, varies
        within a subject or selects nobody, a ``where`` that cannot be parsed or names
        an unknown column, nothing flagged ``"Y"``, a ``keep_dtype`` that no record
        has, nothing left, two records at one visit, a visit with several or no
        ``visit_order`` values, two visits with the same ``visit_order`` value, a
        non-numeric ``response``, an ``arm_order`` that misses or invents a level, a
        ``class_variables`` name that is not a column.

    Warns
    -----
    DataWarning
        A CSV file's column that looks like an ADaM grouping variable read as numbers
        (SITEGR*, REGION*, STRAT*, names ending GR1/GR2/GR3; numeric, at most
        :data:`trialmlm.data.classes.MAX_CODES` distinct values, all integers) and is not in
        ``class_variables``: one line naming ``class_variables=``.
    """
    if isinstance(path, pd.DataFrame):
        source, labels = "data frame", dict(path.attrs.get("labels", {}))
        data = path.copy()
        data.attrs = {}
    else:
        path = Path(path)
        source = str(path)
        data, labels = _read_file(path, encoding)
    _require(data, {"subject": subject, "visit": visit, "response": response, "arm": arm}, source)
    class_variables = list(class_variables)
    check_class_columns(data, class_variables, source)
    if response is not None and not (pd.api.types.is_numeric_dtype(data[response])
                                     and not pd.api.types.is_bool_dtype(data[response])):
        raise DataError(f"response '{response}' of '{source}' must be numeric, it has dtype "
                        f"{data[response].dtype}")
    counts = RecordCounts(Path(source).name if source != "data frame" else source, len(data),
                          count_subjects(data, subject))
    keep = _select_param(data, param, source)
    if param is not None:
        data, counts = exclude_records(data, counts, keep, "param", f"another parameter (not {param})",
                                       subject)
    data, counts = select_records(data, counts, subject=subject, visit=visit, population=population,
                                  where=where, analysis_flag=analysis_flag, keep_dtype=tuple(keep_dtype),
                                  keep_baseline=keep_baseline)
    if subject is not None and visit is not None:
        check_one_record_per_visit(data, subject, visit, source)
    data = as_class(data, class_variables, source)  # a new frame
    if source.lower().endswith(".csv"):  # a text file: codes are read as numbers
        warn_codes(data, [c for c in data.columns if grouping_name(c, companions=False)
                          and c not in class_variables],
                   "class_variables=['{column}'] (or C({column}) in a formula)", what="CSV column")
    if visit is not None and visit_order is not None and visit_order in data.columns:
        data[visit] = _order_visits(data, visit, visit_order, source)
    if arm is not None:
        levels = adam.arm_order(data, arm, arm_order)
        data[arm] = pd.Categorical(data[arm], categories=levels)
    data = data.reset_index(drop=True)
    data.attrs = {"records": counts, "labels": labels}
    return data
