"""Classification variables (SAS ``CLASS``): columns whose numbers are codes, not amounts.

A CSV file has no column types: an ADaM site group ``SITEGR1`` coded ``701, 703, ...``
(character in the SAS file) is read as numbers, and a formula would fit it as a continuous
covariate (1 numerator df) instead of a factor (levels - 1 df).  SAS needs a ``CLASS``
statement for exactly this; here it is ``class_variables=`` of :func:`trialmlm.read`
(``--class`` of ``trialmlm analyze``, TOML ``class``), or ``C(SITEGR1)`` in a formula.

:func:`as_class` makes the named columns factors with their levels in numeric order when
the codes are numbers (701 < 703 < 710; ``"10"`` after ``"9"``), else in sorted order.

:func:`warn_codes` warns (:class:`~trialmlm.errors.DataWarning`, one line) about a column
that looks like a classification variable read as numbers: its name is a known ADaM
grouping variable (:func:`grouping_name`) and it is numeric with at most
:data:`MAX_CODES` distinct values, all integers.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning

#: At most this many distinct integer values make a numeric column "codes" (SITEGR1 of a
#: trial has rarely more than 20 site groups; an age or a score has more distinct values).
MAX_CODES = 20
#: ADaM grouping variables that are character in the SAS file (codes read as numbers from a
#: CSV file): pooled sites SITEGR1, ..., any *GR1/*GR2/*GR3 (AGEGR1), REGION1, STRAT1, ...
CHARACTER_GROUPS = re.compile(r"(SITEGR\w*|REGION\w*|STRAT\w*|\w+GR[1-9])", re.IGNORECASE)
#: Numeric companions (numeric by ADaM design): of an arm (TRTPN, TRT01PN, TRTAN, ARMN,
#: ACTARMN) or of a grouping variable (AGEGR1N).
NUMERIC_COMPANIONS = re.compile(r"(TRT(\d\d)?[PA]N|(ACT)?ARMN|\w+GR[1-9]N)", re.IGNORECASE)
_MESSAGE = " holds numeric codes"  # every warning of this module has it (see quiet_codes)


def grouping_name(name: str, companions: bool = True) -> bool:
    """Whether ``name`` is a known ADaM grouping variable: SITEGR*, REGION*, STRAT*, a name
    ending GR1/GR2/GR3 and, with ``companions``, an arm's or a group's numeric companion
    (TRTPN, TRT01PN, TRTAN, ARMN, AGEGR1N)."""
    name = str(name)
    return bool(CHARACTER_GROUPS.fullmatch(name) or (companions and NUMERIC_COMPANIONS.fullmatch(name)))


def integer_codes(column: pd.Series) -> list | None:
    """The sorted distinct values of a numeric column whose values are all integers, at most
    :data:`MAX_CODES` of them; None for any other column."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    values = pd.unique(column.dropna())
    if len(values) == 0 or len(values) > MAX_CODES or not np.all(np.mod(values, 1) == 0):
        return None
    return sorted(int(v) for v in values)


def _shown(codes: list) -> str:
    return ", ".join(map(str, codes[:3])) + (", ..." if len(codes) > 3 else "")


def warn_codes(data: pd.DataFrame, columns: Iterable[str], declare: str, what: str = "column") -> None:
    """One :class:`DataWarning` per column of ``columns`` that holds integer codes
    (:func:`integer_codes`): it would be a continuous covariate; ``declare`` says how to make
    it a factor, with ``{column}`` for the column's name (e.g. ``"--class {column}"``)."""
    for column in columns:
        codes = integer_codes(data[column])
        if codes is not None:
            warnings.warn(DataWarning(
                f"{what} {column}{_MESSAGE} ({len(codes)} values: {_shown(codes)}): a model formula takes it "
                f"as a continuous covariate (1 df); if it is a classification factor, declare it: "
                f"{declare.format(column=column)}"), stacklevel=3)


@contextlib.contextmanager
def quiet_codes():
    """Silence :func:`warn_codes` (for a caller that warns in its own words)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f".*{_MESSAGE}", category=DataWarning)
        yield


def check_class_columns(data: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """DataError naming the first of ``columns`` that is not a column of ``data``, with the
    columns there are."""
    for column in columns:
        if column not in data.columns:
            found = ", ".join(map(str, data.columns))
            raise DataError(f"class variable '{column}' is not a column of '{source}'; its columns are "
                            f"{found}")


def _levels(column: pd.Series) -> list:
    """Sorted levels: numbers in numeric order (integers as ``int``), anything else as text."""
    values = pd.unique(column.dropna())
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return sorted(values.tolist(), key=str)
    if np.all(np.mod(values, 1) == 0):
        return sorted(int(v) for v in values)
    return sorted(values.tolist())


def as_class(data: pd.DataFrame, columns: Sequence[str], source: str = "data frame") -> pd.DataFrame:
    """``data`` with each of ``columns`` a :class:`pandas.Categorical` (a classification factor).

    Numbers keep their numeric order (integer codes become integer levels: ``701``, not
    ``701.0``); text is sorted; a Categorical keeps its categories.  Returns a new frame;
    ``data`` is not modified.

    Raises
    ------
    DataError
        A column that is not in ``data`` (the columns are listed).
    """
    check_class_columns(data, columns, source)
    out = data.copy()
    for column in columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            continue
        levels = _levels(out[column])
        values = out[column]
        if levels and isinstance(levels[0], int):
            values = values.map(lambda v: v if pd.isna(v) else int(v))
        out[column] = pd.Categorical(values, categories=levels)
    return out


__all__ = ["MAX_CODES", "as_class", "check_class_columns", "grouping_name", "integer_codes", "quiet_codes",
           "warn_codes"]
