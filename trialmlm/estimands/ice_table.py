r"""The ICE table from the analysis data: :func:`ice_table`.

Each subject's intercurrent event (ICE) is placed at the **first visit it affects**, found
in one of three ways (in visit order, Categorical order else natural sort, as in model
fitting; :math:`v_1 < \dots < v_K`):

``flag=`` (a record-level ADaM flag, ``"Y"`` on the records at or after the event, e.g. a
    post-discontinuation flag; read by :func:`trialmlm.data.flags.flag_is_yes`, so "Yes"/"No",
    True/False and 1/0 mean the same and any other value is an error): the visit after the
    subject's last record that is not flagged, when the subject has a flagged record (the
    first visit, when every record is).
``event_date=`` (a subject-level date, e.g. TRTEDT or a discontinuation date) with the
    record date ``date`` (ADaM ADT): the visit after the subject's last record dated on or
    before the event (whether or not later records exist); none if that is the last
    visit, the first visit if every record is dated after the event.
neither (dropout as the event, as R rbmi's quickstart): the visit after the subject's last
    observed response, for subjects not observed at the last visit.

The rules use the analysis records (after the record selection: a flag on dropped LOCF
records is not seen).  Visits without a record after the last unaffected record count as
affected: the event happened before them as far as the data can tell.  Subjects
without an event get no row (they are MAR throughout).  The result has the subject and
visit columns and ``strategy`` (every row ``strategy``), ready for
:func:`trialmlm.estimands.condmean` and the other estimand functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.flags import flag_is_yes
from ..errors import DataError
from ..missing.patterns import last_observed, long_data, observation_matrix, require_columns
from .ice import ICE_STRATEGIES, STRATEGY_COLUMN


def ice_table(data, subject: str | None = None, visit: str | None = None, response: str | None = None,
              strategy: str = "MAR", flag: str | None = None, event_date: str | None = None,
              date: str = "ADT") -> pd.DataFrame:
    """One row per subject with an intercurrent event: subject, first affected visit, ``strategy``.

    Parameters
    ----------
    data : a DataFrame (ADaM BDS: one record per subject and visit) or a fit (its rows).
    subject, visit, response : columns (default USUBJID, AVISIT, CHG; a fit's own).
    strategy : the strategy of every row (MAR, JR, CR, CIR, LMCF).
    flag : a record-level Y/N flag, ``"Y"`` on records at or after the event (also "Yes",
        True, 1; :func:`trialmlm.data.flags.flag_is_yes`).
    event_date : a subject-level date column of the event, compared with the record date
        ``date``.

    The rules are in :mod:`trialmlm.estimands.ice_table`; ``flag`` and ``event_date`` are
    exclusive.  ``data`` is not modified.
    """
    df, subject, visit, response = long_data(data, subject, visit, response)
    if strategy not in ICE_STRATEGIES:
        raise DataError(f"strategy {strategy!r} is unknown; the strategies are {', '.join(ICE_STRATEGIES)}")
    if flag is not None and event_date is not None:
        raise DataError("give the ICE as a record flag (flag=) or as a date (event_date=), not both")
    observed, visits, _ = observation_matrix(df, subject, visit, response)
    k = len(visits)
    if flag is not None:
        first = _from_flag(df, subject, visit, visits, flag, observed.index)
    elif event_date is not None:
        first = _from_dates(df, subject, visit, visits, event_date, date, observed.index)
    else:
        last = last_observed(observed.to_numpy())
        first = pd.Series(np.where(last < k - 1, last + 1, -1), index=observed.index)
    first = first[first >= 0]
    return pd.DataFrame({subject: first.index.to_numpy(dtype=object),
                         visit: np.asarray(visits, dtype=object)[first.to_numpy(dtype=int)],
                         STRATEGY_COLUMN: strategy})


def _positions(df: pd.DataFrame, visit: str, visits: list) -> np.ndarray:
    return pd.Index(visits).get_indexer(df[visit].to_numpy(dtype=object))


def _after_last_clear(df: pd.DataFrame, subject: str, visit: str, visits: list, clear: np.ndarray,
                      eligible, subjects: pd.Index) -> pd.Series:
    """Per subject of ``subjects``: for an ``eligible`` one, the visit index after its last
    ``clear`` (unaffected) record (0 without one; -1 if that is past the last visit); -1 for
    the others."""
    rows = df.loc[clear]
    last_clear = pd.Series(_positions(rows, visit, visits), index=rows.index).groupby(
        rows[subject].to_numpy(dtype=object)).max()
    first = (last_clear.reindex(pd.Index(eligible)).fillna(-1) + 1).astype(int)
    first = first.where(first < len(visits), -1)
    return first.reindex(subjects, fill_value=-1)


def _from_flag(df: pd.DataFrame, subject: str, visit: str, visits: list, flag: str,
               subjects: pd.Index) -> pd.Series:
    require_columns(df, {"ICE flag": flag})
    at_visit = df[subject].notna().to_numpy() & (_positions(df, visit, visits) >= 0)
    affected = flag_is_yes(df[flag], f"ICE flag {flag} (flag=)") & at_visit
    return _after_last_clear(df, subject, visit, visits, ~affected & at_visit,
                             pd.unique(df.loc[affected, subject]), subjects)


def _from_dates(df: pd.DataFrame, subject: str, visit: str, visits: list, event_date: str, date: str,
                subjects: pd.Index) -> pd.Series:
    require_columns(df, {"ICE date": event_date, "record date": date})
    event, when = (_as_dates(df[c], c) for c in (event_date, date))
    rows = df[[subject, event_date]].assign(_event=event).dropna(subset=[subject, "_event"])
    varying = rows.groupby(subject)["_event"].nunique()
    if (varying > 1).any():
        raise DataError(f"subject {varying.index[varying > 1][0]!r} has more than one value of "
                        f"'{event_date}' (the ICE date must be one per subject)")
    per_subject = rows.groupby(subject)["_event"].first()
    record_event = df[subject].map(per_subject)
    dated = record_event.notna() & when.notna()
    undated = df[visit].notna() & record_event.notna() & when.isna()
    if undated.any():
        raise DataError(f"'{date}' is missing on row {df.index[undated].tolist()[0]!r} (subject "
                        f"{df.loc[undated, subject].iloc[0]!r}), so it cannot be placed before or after the "
                        f"ICE date '{event_date}'")
    clear = (dated & (when <= record_event)).to_numpy()
    return _after_last_clear(df, subject, visit, visits, clear, per_subject.index, subjects)


def _as_dates(column: pd.Series, name: str) -> pd.Series:
    """Dates of a datetime column, or of SAS date numbers (days since 1960-01-01)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return pd.to_datetime(column, unit="D", origin="1960-01-01")
    converted = pd.to_datetime(column, errors="coerce", format="ISO8601")
    bad = converted.isna() & column.notna()
    if bad.any():
        raise DataError(f"'{name}' is not a date column: {column[bad].iloc[0]!r} (row "
                        f"{column.index[bad].tolist()[0]!r}) is not a date (use ISO 8601, yyyy-mm-dd)")
    return converted

