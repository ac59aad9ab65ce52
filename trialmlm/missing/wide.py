"""Wide (subjects x visits) responses and subject-level columns, with the input checks
shared by the dropout model, Little's test and the dropout-cohort trajectories.

Builds on :func:`trialmlm.missing.patterns.observation_matrix` (column checks, duplicated
subject-visit rows, one arm per subject, visit order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .patterns import observation_matrix, require_columns


def response_matrix(df: pd.DataFrame, subject: str, visit: str, response: str,
                    arm: str | None = None) -> tuple[pd.DataFrame, list, pd.Series | None]:
    """Subjects x visits float matrix of responses (NaN when missing or without a row),
    the visit order and each subject's arm."""
    observed, visits, arms = observation_matrix(df, subject, visit, response, arm)
    values = df[response]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        bad = values.dropna()
        example = f" (e.g. {bad.iloc[0]!r})" if len(bad) else ""
        raise DataError(f"response column '{response}' is not numeric{example}")
    if arms is not None and arms.isna().any():
        raise DataError(f"subject {arms.index[arms.isna()][0]!r} has no value of '{arm}' (arm)")
    rows = df.dropna(subset=[subject, visit])
    wide = (rows.pivot(index=subject, columns=visit, values=response)
            .reindex(index=observed.index, columns=visits).astype(float))
    if not np.isfinite(wide.to_numpy()[observed.to_numpy()]).all():
        raise DataError(f"response column '{response}' holds infinite values")
    return wide, visits, arms


def subject_values(df: pd.DataFrame, subject: str, column: str, role: str,
                   index: pd.Index) -> pd.Series:
    """One value of ``column`` per subject (in ``index`` order); a subject with two
    different non-missing values is an error."""
    require_columns(df, {role: column})
    rows = df.dropna(subset=[subject])
    per = rows.groupby(subject)[column].nunique()
    if (per > 1).any():
        raise DataError(f"subject {per.index[per > 1][0]!r} has more than one value of '{column}' "
                        f"({role} must be constant within a subject)")
    return rows.groupby(subject)[column].first().reindex(index)
