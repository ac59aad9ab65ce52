r"""A binary response (responder = 1, non-responder = 0, missing = NaN) from an ADaM column.

:func:`responder_status` derives it in one of three ways:

==========================  ===============================================================
how                         responder status of a record
==========================  ===============================================================
a Y/N flag (``CRIT1FL``)    1 for "Y" (also "Yes", True, 1), 0 for "N" (also "No", False,
                            0), missing when blank; any other value is an error listing the
                            values found (:func:`trialmlm.data.flags.flag_is_yes`)
``values=`` (``AVALC``)     1 when the value is one of ``values``, 0 for any other value,
                            missing when blank
``expression=``             1 where the :mod:`~trialmlm.data.where` expression holds (e.g.
(``"CHG <= -4"``)           ``"PCHG <= -50"``), 0 where it does not, missing where a column
                            it reads is missing (a missing CHG is not a non-response)
==========================  ===============================================================

A blank flag is a missing response, as in ADaM's Y/N convention for ``CRITyFL``; for a
flag in the Y/blank convention (blank = criterion not met), derive the status from the
analysis value instead (``expression=``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from .flags import flag_is_yes, missing_values
from .where import parse_where


def parse_responder(expression: str):
    """The parsed responder ``expression`` (:func:`trialmlm.data.where.parse_where`); its
    messages, and those of its :meth:`~trialmlm.data.where.Where.mask`, name the option
    ``responder`` as the caller typed it (``--responder`` on the command line)."""
    return parse_where(expression, "responder")


def responder_status(data: pd.DataFrame, column: str | None = None, values: Sequence | None = None,
                     expression: str | None = None) -> pd.Series:
    """The responder status of every record of ``data``: 1.0, 0.0 or NaN (module docstring).

    Parameters
    ----------
    data : the records.
    column : the Y/N flag (alone) or the column whose ``values`` are responses.
    values : the values of ``column`` that mean response (compared as text, stripped).
    expression : a where-expression that defines response; exclusive with ``column``.

    Raises
    ------
    DataError
        A column that is not in the data; a flag with values other than Y/N; an
        expression that cannot be parsed or compares a column of the wrong type; no
        record with a known status; a status that is always 1 or always 0 (nothing to
        compare).
    """
    if (expression is None) == (column is None):
        raise DataError("give the responder as a column (a Y/N flag, or with responder_values) or as an "
                        "expression (responder), not both or neither")
    if expression is not None:
        where = parse_responder(expression)
        yes = where.mask(data)
        missing = np.logical_or.reduce([missing_values(data[c]) for c in where.columns])
        what = f"responder {expression!r}"
    else:
        if column not in data.columns:
            raise DataError(f"response column '{column}' is not in the data")
        missing = missing_values(data[column])
        if values is None:
            yes = flag_is_yes(data[column], f"binary response {column}")
            what = f"response {column}"
        else:
            wanted = {str(v).strip() for v in values}
            yes = data[column].astype(object).map(lambda v: str(v).strip() in wanted).to_numpy(bool)
            what = f"response {column} in ({', '.join(sorted(wanted))})"
    status = pd.Series(np.where(missing, np.nan, yes.astype(float)), index=data.index, name=column)
    known = status.dropna()
    if known.empty:
        raise DataError(f"{what}: no record has a known responder status (every value is missing)")
    if known.nunique() == 1:
        raise DataError(f"{what}: every record with a known status is a "
                        f"{'responder' if known.iloc[0] == 1 else 'non-responder'}; a binary analysis "
                        "needs both")
    return status
