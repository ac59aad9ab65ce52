r"""Observed mean trajectories by dropout cohort (completers against dropouts).

A subject's cohort is set by its last visit with an observed response, :math:`L_i`:

* ``"Completers"``: observed at the last visit (whatever intermittent gaps before it);
* ``"Dropout after <visit>"``: the last observed visit is ``<visit>`` (an earlier one), e.g.
  ``"Dropout after W4"`` for a subject seen last at W4 -- the dropout visit of
  :mod:`trialmlm.missing.patterns` is the next one;
* subjects never observed belong to no cohort and are left out.

Per arm (if given), cohort and visit, over the subjects of the cohort with an observed
response at that visit: ``n``, ``mean`` :math:`\bar y`, ``sd`` :math:`s` (divisor
:math:`n - 1`), ``se`` :math:`= s / \sqrt n` and the t-based limits
:math:`\bar y \pm t_{1-\alpha/2,\, n-1}\, \mathrm{se}` (NaN when :math:`n = 1`).  A visit
with no observed response in a cohort (after its dropout, or a gap shared by all its
subjects) has no row.  If cohorts with similar responses before dropout go on to differ
from the completers only because they left, the trajectories should overlap where both are
observed; a cohort that is systematically worse before dropping out points away from MCAR.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..engine.design import factor_levels
from .patterns import last_observed
from .wide import response_matrix

COMPLETERS = "Completers"


def cohort_labels(visits: list) -> list[str]:
    """Cohort labels in display order: dropouts by last observed visit, then completers."""
    return [f"Dropout after {v}" for v in visits[:-1]] + [COMPLETERS]


def completers_vs_dropouts(df: pd.DataFrame, subject: str, visit: str, response: str,
                           arm: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    r"""Observed mean response per (arm,) dropout cohort and visit.

    Parameters
    ----------
    df : long data, one row per subject and visit (a missing row counts as missing).
    subject, visit, response : column names; visits are ordered as in model fitting.
    arm : optional treatment column.
    alpha : the limits are a :math:`1 - \alpha` t interval for the mean.

    Returns
    -------
    DataFrame
        Columns ``<arm>`` (if given, named as the arm column), ``cohort`` (ordered
        Categorical: ``"Dropout after <visit>"`` in visit order, then ``"Completers"``),
        ``<visit>`` (named as the visit column), ``n``, ``mean``, ``sd``, ``se``, ``lower``,
        ``upper``; sorted by arm, cohort and visit.  See the module docstring.
    """
    alpha = check_alpha(alpha)
    wide, visits, arms = response_matrix(df, subject, visit, response, arm)
    Y = wide.to_numpy()
    obs = ~np.isnan(Y)
    last = last_observed(obs)
    labels = cohort_labels(visits)
    i, j = np.nonzero(obs)
    keys = [] if arm is None else [arm]
    cohort = pd.Categorical(np.asarray(labels, dtype=object)[last[i]], categories=labels, ordered=True)
    long = pd.DataFrame({"cohort": cohort,
                         "_pos": j, "y": Y[i, j]})
    if arm is not None:  # categorical for the sort (trialmlm's level order), plain values out
        long.insert(0, arm, pd.Categorical(arms.to_numpy()[i], categories=factor_levels(arms)))
    out = (long.groupby(keys + ["cohort", "_pos"], observed=True, sort=True)["y"]
           .agg(n="size", mean="mean", sd="std").reset_index())
    out["cohort"] = out["cohort"].cat.remove_unused_categories()
    out["se"] = out["sd"] / np.sqrt(out["n"])
    q = stats.t.ppf(1 - alpha / 2, np.maximum(out["n"] - 1, 1))
    half = np.where(out["n"] > 1, q * out["se"], np.nan)
    out["lower"], out["upper"] = out["mean"] - half, out["mean"] + half
    if arm is not None:
        out[arm] = out[arm].astype(object)
    out.insert(len(keys) + 1, visit, np.asarray(visits, dtype=object)[out["_pos"]])
    return out.drop(columns="_pos")
