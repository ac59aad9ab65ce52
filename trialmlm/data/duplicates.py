"""Why a subject has several records at one visit, and a ``where`` that keeps one of them.

After the record selection an MMRM needs one record per subject and visit.  When a file
has more (ADVS: three blood-pressure readings per visit told apart by ``ATPTN``/``ATPT``;
a derived record kept by ``keep_dtype`` beside the observed one: ``DTYPE``), the message
names the columns whose values differ between the duplicates and suggests a selection.

A column *distinguishes* the duplicates when, in every group of records sharing a subject
and a visit, its values differ from record to record (a missing value counts as one) and,
with several groups, its values recur across them (fewer distinct values than duplicate
records: a time-point code, not a measurement).  Results, dates, times and sequence
numbers (``AVAL*``, ``BASE``, ``BASEC``, ``BASECATy``, ``CHG*``, ``PCHG*``, ``R2*``, ``*SEQ``,
``*DT``, ``*DTM``, ``*TM``, ``*DY``) never do (``BASETYPE`` may).  The ADaM variables made to
tell records apart (:data:`ADAM_FIRST`: ATPTN, ATPT, DTYPE, ...) come first, then the others
(e.g. SDTM's VSTPTNUM) by their number of distinct values, numeric codes before text, then
in file order.

The suggestion is ``COLUMN == value`` with the most frequent value of the first column for
which it leaves one record per subject and visit (ties: the smallest value); when the
column is mostly blank (``DTYPE`` of observed records), ``COLUMN not in (values)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .flags import missing_values
from .where import parse_where

_NOT_A_SELECTION = re.compile(r"^(AVAL\w*|BASE|BASEC|BASECAT\d*|CHG\w*|PCHG\w*|R2\w*)$|(SEQ|DT|DTM|TM|DY)$")
SHOWN = 3  # distinguishing columns named in a message
#: ADaMIG v1.3 variables that tell records of one subject and visit apart, in this order.
ADAM_FIRST = ("ATPTN", "ATPT", "DTYPE", "BASETYPE", "PARAMCD", "PARAM", "APERIOD", "APHASE")


@dataclass(frozen=True)
class Duplicates:
    """The first duplicated subject and visit, what tells the records apart, and a fix.

    Attributes
    ----------
    subject, visit : the first subject with several records at one visit, and that visit.
    records : its number of records there.
    columns : the distinguishing columns, best first (empty: none found).
    values : the values of ``columns[0]`` in those records, as written in a ``where``
        (``815``, ``'LOCF'``; ``blank`` for a missing value).
    where : a selection leaving one record per subject and visit (None: none found).
    kept, total : records the selection keeps, of the records given.
    """

    subject: object
    visit: object
    records: int
    columns: tuple[str, ...]
    values: tuple[str, ...]
    where: str | None
    kept: int
    total: int


def duplicated_visit(rows: pd.DataFrame, subject: str, visit: str) -> tuple | None:
    """``(subject, visit, number of records)`` of the first subject with several records at
    one visit (rows with a subject and a visit), or None."""
    dup = rows.duplicated([subject, visit], keep=False)
    if not dup.any():
        return None
    first = rows.loc[dup].iloc[0]
    n = int((dup & (rows[subject] == first[subject]) & (rows[visit] == first[visit])).sum())
    return first[subject], first[visit], n


def _blank_as_missing(series: pd.Series) -> pd.Series:
    """``series`` as objects, blank text and missing values both NaN."""
    return series.astype(object).where(~missing_values(series), np.nan)


def _candidates(rows: pd.DataFrame, dup: np.ndarray, subject: str, visit: str) -> list[str]:
    groups = rows.loc[dup]
    group = groups.groupby([subject, visit], sort=False, observed=True).ngroup().to_numpy()
    n_groups = group.max() + 1
    sizes = np.bincount(group)
    found = []
    for position, col in enumerate(rows.columns):
        series = groups[col]
        if (col in (subject, visit) or _NOT_A_SELECTION.search(str(col))
                or pd.api.types.is_datetime64_any_dtype(series)):
            continue
        codes = pd.factorize(_blank_as_missing(series), use_na_sentinel=False)[0]
        per_group = pd.Series(codes).groupby(group).nunique()
        distinct = len(set(codes))
        if (per_group == sizes).all() and (n_groups == 1 or distinct < len(groups)):
            numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
            rank = ADAM_FIRST.index(col) if col in ADAM_FIRST else len(ADAM_FIRST)
            found.append((rank, distinct, not numeric, position, col))
    return [col for *_, col in sorted(found)]


def _literal(value) -> str | None:
    """``value`` as a literal of the where language (None: it cannot be written as one)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return f"{int(value)}" if float(value).is_integer() else repr(float(value))
    text = str(value)
    if "'" not in text:
        return f"'{text}'"
    return f'"{text}"' if '"' not in text else None


def _selection(column: pd.Series) -> str | None:
    """``COLUMN == value`` for the most frequent value of ``column`` (ties: the smallest);
    when missing or blank is more frequent than any value, ``COLUMN not in (values)``
    (at most :data:`SHOWN` values); None when a value cannot be written as a literal."""
    missing = missing_values(column)
    counts = column[~missing].astype(object).value_counts()
    if counts.empty:
        return None
    if missing.sum() > counts.max():
        literals = [_literal(v) for v in sorted(counts.index, key=str)]
        if None in literals or len(literals) > SHOWN:
            return None
        return f"{column.name} not in ({', '.join(literals)})"
    top = sorted(counts.index[counts == counts.max()], key=lambda v: (str(type(v)), v))[0]
    literal = _literal(top)
    return None if literal is None else f"{column.name} == {literal}"


def explain_duplicates(rows: pd.DataFrame, subject: str, visit: str,
                       where: str | None = None) -> Duplicates | None:
    """What distinguishes the records sharing a subject and a visit in ``rows`` (None: no
    such records); ``where``, the selection already applied, is combined with the
    suggestion (``(where) and COLUMN == value``)."""
    found = duplicated_visit(rows, subject, visit)
    if found is None:
        return None
    label, at_visit, n = found
    dup = rows.duplicated([subject, visit], keep=False).to_numpy()
    at = (rows[subject] == label).to_numpy() & (rows[visit] == at_visit).to_numpy()
    columns = _candidates(rows, dup, subject, visit)
    suggestion, kept = None, 0
    for col in columns:
        expression = _selection(rows[col])
        if expression is None:
            continue
        mask = parse_where(expression).mask(rows)
        if mask.any() and not rows.loc[mask].duplicated([subject, visit]).any():
            suggestion = expression if where is None else f"({where}) and {expression}"
            kept = int(mask.sum())
            break
    shown = _blank_as_missing(rows.loc[at, columns[0]]) if columns else pd.Series([], dtype=object)
    values = tuple("blank" if pd.isna(v) else (_literal(v) or str(v)) for v in pd.unique(shown))
    return Duplicates(label, at_visit, n, tuple(columns[:SHOWN]), values,
                      suggestion, kept, len(rows))
