r"""Observed response rates by arm and visit with Wilson score confidence intervals.

For :math:`x` responders of :math:`n` records, :math:`\hat p = x/n` and
:math:`z = z_{1-\alpha/2}`, the Wilson (1927) score interval is

.. math:: \frac{\hat p + z^2/(2n) \pm z\sqrt{\hat p(1-\hat p)/n + z^2/(4n^2)}}{1 + z^2/n},

the interval of R ``prop.test(x, n, correct = FALSE)`` and SAS PROC FREQ
``BINOMIAL(WILSON)``; it stays inside [0, 1] and is not degenerate at
:math:`x = 0` or :math:`x = n`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..engine.design import factor_levels


def wilson_interval(responders, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` Wilson score limits of ``responders`` out of ``n`` (arrays; NaN where n = 0)."""
    x = np.asarray(responders, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(1 - check_alpha(alpha) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def responder_rates(data: pd.DataFrame, arm: str, visit: str, response: str,
                    alpha: float = 0.05) -> pd.DataFrame:
    """Responders among the records with a known status, per visit and arm.

    ``response`` holds 1 (responder), 0 or missing (not counted).  Columns ``visit, arm,
    responders, n, percent, lower, upper`` (the limits as proportions, Wilson score, module
    docstring), visits and arms in their factor order, every combination listed (n = 0
    where an arm has no record at a visit).
    """
    known = data.loc[data[response].notna()]
    visits, arms = factor_levels(data[visit]), factor_levels(data[arm])
    index = pd.MultiIndex.from_product([visits, arms], names=["visit", "arm"])
    grouped = known.groupby([known[visit].astype(object), known[arm].astype(object)])[response]
    table = pd.DataFrame({"responders": grouped.sum(), "n": grouped.size()}).reindex(index, fill_value=0)
    table = table.reset_index().astype({"responders": int, "n": int})
    lower, upper = wilson_interval(table["responders"], table["n"], alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100 * table["responders"] / table["n"].where(table["n"] > 0)
    return table.assign(percent=percent, lower=lower, upper=upper)
