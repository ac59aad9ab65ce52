"""Read trial data files into the long format :func:`trialmlm.fit` expects.

One function, :func:`read`: the file format is chosen by the extension (SAS files through
pyreadstat, i.e. ReadStat), then the CDISC ADaM Basic Data Structure (BDS) conventions
are applied — one parameter (PARAMCD), the merge of the subject-level ADSL when given
(:func:`trialmlm.data.adsl.merge_adsl`), the record selection of
:func:`trialmlm.data.adam.select_records` (population, ``where``, ANL01FL, DTYPE, ABLFL), one
record per subject and visit, the visit order of AVISITN and the arm order of its
numeric companion (TRTPN).  The result is a pandas DataFrame whose ``attrs`` carry the
record counts and the SAS column labels; every step is listed in docs/data.md.

==============  ===================================================================
extension       reader
==============  ===================================================================
``.csv``        :func:`pandas.read_csv` (empty fields are missing)
``.parquet``    :func:`pandas.read_parquet`, needs pyarrow (``pip install 'trialmlm[parquet]'``)
``.xpt``        pyreadstat (ReadStat): SAS transport, version 5 (XPORT) or 8
``.sas7bdat``   pyreadstat (ReadStat): SAS data set
==============  ===================================================================

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
from .adsl import merge_adsl
from .classes import as_class, check_class_columns, grouping_name, warn_codes
from .sas_files import check_sas_file
from .vocabulary import given, option

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
            # low_memory=False: each column's type from all its rows (not chunk by chunk with a
            # DtypeWarning naming column numbers)
            return pd.read_csv(path, encoding=encoding or "utf-8", low_memory=False), {}
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
                                f"choose one with {option('param')}")
            if present:  # PARAMCD decides when it is there; PARAM only without it
                break
        return np.ones(len(data), dtype=bool)
    if not codes:
        raise DataError(f"{given('param', param)} given but '{source}' has neither PARAMCD nor PARAM")
    keep = np.zeros(len(data), dtype=bool)
    for col in codes:
        keep |= (data[col].astype(str) == str(param)).to_numpy()
    if not keep.any():
        col = codes[0]
        present = sorted(data[col].dropna().astype(str).unique())
        raise DataError(f"{given('param', param)} selects no rows of '{source}'; {col} values are "
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


def _load(path: str | os.PathLike | pd.DataFrame, encoding: str | None) -> tuple[pd.DataFrame, dict, str]:
    """The data, the SAS column labels and the name of the source (the file, or "data frame"
    for a copy of a DataFrame, its ``attrs`` dropped but for its labels)."""
    if isinstance(path, pd.DataFrame):
        data = path.copy()
        data.attrs = {}
        return data, dict(path.attrs.get("labels", {})), "data frame"
    path = Path(path)
    data, labels = _read_file(path, encoding)
    return data, labels, str(path)


def _check_columns(data: pd.DataFrame, source: str, roles: dict, response: str | None,
                   class_variables: list) -> None:
    """The role columns and ``class_variables`` are columns; ``response`` is numeric (not boolean)."""
    _require(data, roles, source)
    check_class_columns(data, class_variables, source)
    if response is not None and not (pd.api.types.is_numeric_dtype(data[response])
                                     and not pd.api.types.is_bool_dtype(data[response])):
        raise DataError(f"response '{response}' of '{source}' must be numeric, it has dtype "
                        f"{data[response].dtype}")


def _select(data: pd.DataFrame, source: str, param: str | None, *, subject: str | None, visit: str | None,
            adsl: tuple[pd.DataFrame, str] | None = None, **selection) -> tuple[pd.DataFrame, RecordCounts]:
    """Steps 2-9 of docs/data.md: the parameter, the ADSL merge (``adsl``: the data and its
    source), :func:`select_records` (``selection``: its keyword arguments), one record per
    subject and visit; the records counted at each step."""
    counts = RecordCounts(Path(source).name if source != "data frame" else source, len(data),
                          count_subjects(data, subject))
    keep = _select_param(data, param, source)
    if param is not None:
        data, counts = exclude_records(data, counts, keep, "param", f"another parameter (not {param})",
                                       subject)
    if adsl is not None:
        data, counts = merge_adsl(data, counts, adsl[0], subject=subject, source=source, adsl_source=adsl[1])
    data, counts = select_records(data, counts, subject=subject, visit=visit, **selection)
    if subject is not None and visit is not None:
        check_one_record_per_visit(data, subject, visit, source, selection.get("where"))
    return data, counts


def _encode(data: pd.DataFrame, source: str, class_variables: list, visit: str | None,
            visit_order: str | None, arm: str | None, arm_order: list | None,
            reference: str | None) -> pd.DataFrame:
    """Steps 10-13 of docs/data.md: class variables (with the numeric-codes warning of a CSV
    file), the visit order, the arm order; a new frame indexed 0, 1, ..."""
    data = as_class(data, class_variables, source)  # a new frame
    if source.lower().endswith(".csv"):  # a text file: codes are read as numbers
        warn_codes(data, [c for c in data.columns if grouping_name(c, companions=False)
                          and c not in class_variables],
                   "class_variables=['{column}'] (or C({column}) in a formula)", what="CSV column")
    if visit is not None and visit_order is not None and visit_order in data.columns:
        data[visit] = _order_visits(data, visit, visit_order, source)
    if arm is not None:
        levels = adam.arm_order(data, arm, arm_order, reference)
        data[arm] = pd.Categorical(data[arm], categories=levels)
    return data.reset_index(drop=True)


def read(path: str | os.PathLike | pd.DataFrame, *, param: str | None = None, response: str | None = None,
         population: str | None = None, where: str | None = None,
         analysis_flag: str | None = DEFAULT_FLAG, keep_dtype: tuple[str, ...] | list[str] = (),
         keep_baseline: bool = False, subject: str | None = "USUBJID", visit: str | None = "AVISIT",
         visit_order: str | None = "AVISITN", arm: str | None = None, arm_order: list | None = None,
         reference: str | None = None,
         class_variables: Sequence[str] = (), encoding: str | None = None,
         adsl: str | os.PathLike | pd.DataFrame | None = None) -> pd.DataFrame:
    """Read a trial data file (ADaM BDS or any long format) and select the analysis records.

    The steps, in their order, and every error are listed in docs/data.md.

    Parameters
    ----------
    path : file name (the extension chooses the reader, :data:`FORMATS`), or a DataFrame in
        memory (the same steps run on a copy).
    param : keep the records whose ``PARAMCD`` (or ``PARAM``) equals it; needed with several.
    response : analysis variable (e.g. ``"AVAL"``, ``"CHG"``), checked present and numeric.
    population : subject-level Y/N flag (``"EFFFL"``, ...): keep the subjects flagged ``"Y"``.
    where : a selection in the safe expression language of :mod:`trialmlm.data.where`.
    analysis_flag : keep the records flagged ``"Y"`` (ADaM ANLzzFL; the default ``"ANL01FL"``
        is skipped when not a column, another flag must be one; ``None`` keeps every record).
    keep_dtype : derived-record types (``DTYPE``) to keep, e.g. ``["LOCF"]`` (default: none).
    keep_baseline : keep the baseline records (``ABLFL = "Y"``, else the visit "Baseline").
    subject, visit : subject and analysis visit columns (required unless ``None``).
    visit_order : numeric column ordering the visits (``AVISITN``), used when present.
    arm : treatment column, a Categorical in the order of :func:`trialmlm.data.adam.arm_order`.
    arm_order : every level of ``arm`` in table order (default: by ``arm + "N"``, else sorted,
        with a DataWarning naming ``arm_order``).
    reference : the control arm, moved first in the arm order.
    class_variables : classification factors (SAS ``CLASS``, e.g. numeric site groups of a
        CSV file): Categoricals in value order (:func:`trialmlm.data.classes.as_class`).
    encoding : text encoding of CSV files (UTF-8) and of SAS character columns (detected).
    adsl : the subject-level data set (a file of any format above, or a DataFrame) merged
        into the records of ``param`` before the other steps, by STUDYID and ``subject``
        (:func:`trialmlm.data.adsl.merge_adsl`): its variables (EFFFL, EOSSTT, AGEGR1, TRT01P,
        ...) can then be the population, the arm, a covariate or part of ``where``; BDS
        values are kept where both files have a variable; records of subjects not in ADSL
        are excluded (step ``adsl``, counted).

    Returns
    -------
    pandas.DataFrame
        The selected records with the file's columns, unchanged but for: SAS numbers as
        stored, special missing values and blank text missing; ``visit`` ordered by
        ``visit_order``; ``arm`` and ``class_variables`` Categoricals; the index 0, 1, ....
        ``attrs["records"]``: the :class:`trialmlm.data.adam.RecordCounts` of every step
        (and of the ADSL merge); ``attrs["labels"]``: the column labels of a SAS file
        (the BDS label where both files label a variable).

    Raises
    ------
    DataError
        Naming the file and the column, parameter, flag or visit (docs/data.md, "Errors").

    Warns
    -----
    DataWarning
        A CSV column that looks like an ADaM grouping variable read as numeric codes and is
        not in ``class_variables`` (docs/data.md, "Numeric codes warning").
    """
    data, labels, source = _load(path, encoding)
    class_variables = list(class_variables)
    columns, subject_level = data, None
    if adsl is not None:
        adsl_data, adsl_labels, adsl_source = _load(adsl, encoding)
        subject_level, labels = (adsl_data, adsl_source), {**adsl_labels, **labels}
        columns = pd.concat([data.iloc[:0], adsl_data.drop(columns=data.columns, errors="ignore").iloc[:0]],
                            axis=1)  # the merged columns and types, for the checks below
    _check_columns(columns, source if adsl is None else f"{source} with ADSL {subject_level[1]}",
                   {"subject": subject, "visit": visit, "response": response, "arm": arm}, response,
                   class_variables)
    data, counts = _select(data, source, param, subject=subject, visit=visit, adsl=subject_level,
                           population=population, where=where, analysis_flag=analysis_flag,
                           keep_dtype=tuple(keep_dtype), keep_baseline=keep_baseline)
    data = _encode(data, source, class_variables, visit, visit_order, arm, arm_order, reference)
    data.attrs = {"records": counts, "labels": labels}
    return data
