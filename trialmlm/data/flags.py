"""Y/N flag columns (ADaM population, analysis-record, baseline and ICE flags): :func:`flag_is_yes`.

One reading for every flag trialmlm uses, whatever the file wrote:

==========================================  ===========
value (text: any case, blanks stripped)      meaning
==========================================  ===========
``"Y"``, ``"Yes"``, ``True``, ``1``, ``"1"``   flagged
``"N"``, ``"No"``, ``False``, ``0``, ``"0"``   not flagged
blank text, missing (NaN, None, NA)         not flagged
==========================================  ===========

Any other value (``"X"``, ``2``, ``"maybe"``) is refused with a :class:`~trialmlm.errors.DataError`
that names the column and lists the values found with their counts: a flag is never
read partly, so a file that mixes ``"Y"`` and ``"Yes"`` selects both, and one holding
``"Yes "`` and ``"Maybe"`` is an error, not a silent selection of some subjects.

Reference: CDISC ADaM Implementation Guide v1.3, section 3.1.4 (flag variables: "Y"/"N"
or "Y"/null).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..errors import DataError

#: Text of a flag (upper case, stripped) -> its meaning.
FLAG_TEXT = {"Y": True, "YES": True, "TRUE": True, "1": True,
             "N": False, "NO": False, "FALSE": False, "0": False, "": False}
#: The accepted values in words (messages and docs).
ACCEPTED = "Y/N, Yes/No, True/False or 1/0 (any case; blank or missing = not flagged)"
#: Distinct values listed in a message (the most frequent first).
SHOWN = 10


def _meaning(value) -> bool | None:
    """True / False for an accepted flag value, None for any other."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, bytes):  # character columns of a SAS file read without an encoding
        value = value.decode("latin-1")
    if isinstance(value, str):
        return FLAG_TEXT.get(value.strip().upper())
    if value is None or value is pd.NA or value is pd.NaT:
        return False
    if isinstance(value, numbers.Real):
        if np.isnan(value):
            return False
        return {1: True, 0: False}.get(value)
    return None


def _shown(value) -> str:
    """A value as a message shows it: text quoted, 2.0 as 2, NaN as "missing"."""
    if not isinstance(value, str) and pd.isna(value):
        return "missing"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _found(column: pd.Series) -> str:
    """``"'Y' (120), 'Yes' (40), missing (5)"``: the column's values with their record counts."""
    counts = column.astype(object).value_counts(dropna=False)
    shown = [f"{_shown(v)} ({n})" for v, n in counts.iloc[:SHOWN].items()]
    more = len(counts) - SHOWN
    return ", ".join(shown) + (f" and {more} other value{'s' if more > 1 else ''}" if more > 0 else "")


def missing_values(column: pd.Series) -> np.ndarray:
    """Boolean array: the values that are missing, or text that is blank (ADaM leaves a value
    that is not known blank)."""
    blank = column.astype(object).map(lambda v: isinstance(v, str) and not v.strip())
    return column.isna().to_numpy() | blank.to_numpy(bool)


def flag_is_yes(column: pd.Series, what: str) -> np.ndarray:
    """Boolean array: the records a Y/N flag column marks as flagged.

    Parameters
    ----------
    column : the flag column (text, boolean, numeric or categorical).
    what : the flag in the user's words, for the message, e.g. ``"population=EFFFL"`` or
        ``"ICE flag ONTRTFL"``.

    Raises
    ------
    DataError
        A value that is none of :data:`ACCEPTED`, naming ``what`` and listing every value
        found with its count.  ``column`` is not modified.
    """
    values = column.astype(object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    meaning = [_meaning(v) for v in uniques]
    bad = [v for v, m in zip(uniques, meaning) if m is None]
    if bad:
        kind = "a value that is" if len(bad) == 1 else "values that are"
        listed = ", ".join(map(_shown, bad[:SHOWN]))
        raise DataError(f"{what} holds {kind} not a Y/N flag: {listed}; a flag is {ACCEPTED}. "
                        f"Values found (records): {_found(column)}")
    yes = np.asarray(meaning + [False], dtype=bool)  # code -1 (missing) reads the last entry
    return yes[codes]
