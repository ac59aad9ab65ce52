"""Kaplan-Meier time to dropout per arm, with a log-rank test (lifelines).

The dropout time of a subject is the time of its dropout visit (the first visit after
its last observed response; see :mod:`trialmlm.missing.patterns`), so that the survival
at a visit is the proportion of subjects still in the study there.  Subjects observed at
the last visit are censored at its time.  ``time`` names a numeric column holding each
visit's time (e.g. AVISITN or the scheduled week); without it visits are numbered 1, 2, ...
Confidence intervals are lifelines' exponential Greenwood (log(-log)) intervals; the
median's interval is read off them (Brookmeyer & Crowley).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times

from ..checks import check_alpha
from ..engine.design import factor_levels
from ..errors import DataError
from .patterns import dropout_index, long_data, observation_matrix


@dataclass(frozen=True)
class DropoutSurvival:
    """``survival`` (per arm and visit), ``median`` (per arm) and ``logrank`` (or None)."""

    survival: pd.DataFrame
    median: pd.DataFrame
    logrank: pd.DataFrame | None
    times: pd.DataFrame  # per subject: arm, time, dropped (event indicator)


def _visit_times(df, visit, time, visits) -> np.ndarray:
    if time is None:
        return np.arange(1, len(visits) + 1, dtype=float)
    if time not in df.columns:
        raise DataError(f"column '{time}' (time) is not in the data")
    per_visit = df.dropna(subset=[visit, time]).groupby(visit, observed=True)[time].agg(["min", "max"])
    bad = per_visit.index[per_visit["min"] != per_visit["max"]]
    if len(bad):
        raise DataError(f"visit {bad[0]!r} has more than one value of '{time}'; give one time per visit")
    missing = [v for v in visits if v not in per_visit.index]
    if missing:
        raise DataError(f"visit {missing[0]!r} has no value of '{time}'")
    return per_visit.loc[visits, "min"].to_numpy(dtype=float)


def time_to_dropout(data, subject: str | None = None, visit: str | None = None, response: str | None = None,
                    arm: str | None = None, time: str | None = None, alpha: float = 0.05) -> DropoutSurvival:
    """Kaplan-Meier estimate of time to dropout per arm and a log-rank test between arms.

    ``data``: a long DataFrame (columns default to the ADaM ``USUBJID``, ``AVISIT``,
    ``CHG``) or a fit, as in :func:`trialmlm.missing.patterns`.
    """
    alpha = check_alpha(alpha)
    df, subject, visit, response = long_data(data, subject, visit, response)
    observed, visits, arms = observation_matrix(df, subject, visit, response, arm)
    vt = _visit_times(df, visit, time, visits)
    drop = dropout_index(observed.to_numpy())
    t = np.where(drop >= 0, vt[np.maximum(drop, 0)], vt[-1])
    event = drop >= 0
    group = arms.to_numpy(dtype=object) if arm is not None else np.full(len(t), "all", dtype=object)
    per_subject = pd.DataFrame({"arm": group, "time": t, "dropped": event}, index=observed.index)
    surv_rows, med_rows = [], []
    for g in (factor_levels(arms) if arm is not None else ["all"]):
        sel = group == g
        kmf = KaplanMeierFitter(alpha=alpha).fit(t[sel], event[sel], label=str(g))
        ci = kmf.confidence_interval_survival_function_
        for v, tv in zip(visits, vt):
            surv_rows.append({"arm": g, "visit": v, "time": tv,
                              "n_at_risk": int((t[sel] >= tv).sum()),
                              "survival": float(kmf.survival_function_at_times(tv).iloc[0]),
                              "lower": float(ci.loc[ci.index <= tv].iloc[-1, 0]),
                              "upper": float(ci.loc[ci.index <= tv].iloc[-1, 1])})
        med_ci = median_survival_times(ci)
        med_rows.append({"arm": g, "median": float(kmf.median_survival_time_),
                         "lower": float(med_ci.iloc[0, 0]), "upper": float(med_ci.iloc[0, 1])})
    logrank = None
    if arm is not None and len(set(group)) > 1:
        res = multivariate_logrank_test(t, group, event)
        logrank = pd.DataFrame([{"statistic": float(res.test_statistic), "df": int(res.degrees_of_freedom),
                                 "p": float(res.p_value)}])
    rename = {"arm": arm} if arm is not None else {}
    survival = pd.DataFrame(surv_rows).rename(columns={**rename, "visit": visit})
    median = pd.DataFrame(med_rows).rename(columns=rename)
    if arm is None:
        survival, median = survival.drop(columns="arm"), median.drop(columns="arm")
    return DropoutSurvival(survival, median, logrank, per_subject.rename(columns=rename))
