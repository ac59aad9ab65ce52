r"""Inference from resampled estimates: jackknife, bootstrap (percentile, normal) and
bootstrapped-ML multiple imputation pooling, as R rbmi's ``pool`` (``R/pool.R``).

Each function takes the estimates of :math:`R` quantities and returns the tidy table
``estimate, se, df, t, p, lower, upper`` (one row per quantity, two-sided, level
:math:`1-\alpha`).

* **Jackknife** (:func:`jackknife_table`): full-data :math:`\hat\theta`, leave-one-out
  :math:`\hat\theta_{(i)}`, :math:`\widehat{se}^2 = \frac{n-1}{n}\sum_i(\hat\theta_{(i)} -
  \bar\theta_{(\cdot)})^2`, normal interval and p-value (``df`` infinite).
* **Bootstrap** (:func:`bootstrap_table`), full-data :math:`\hat\theta`, bootstrap
  :math:`\hat\theta^{*}_b`, :math:`b = 1..B`:

  - ``"percentile"``: interval :math:`[Q(\alpha/2), Q(1-\alpha/2)]` with :math:`Q` the
    type-6 quantile of the :math:`\hat\theta^{*}_b` (R ``quantile(type = 6)``: order statistic
    :math:`(B+1)p`, linearly interpolated); p-value :math:`2\min(q, 1-q)` (at most 1), with
    :math:`q` solving :math:`Q(q) = 0` (0 or 1 when every estimate has one sign; with
    estimates equal to 0, their ranks over :math:`B+1` as rbmi).  No standard error.
  - ``"normal"``: :math:`\widehat{se}` the standard deviation of the :math:`\hat\theta^{*}_b`
    (divisor :math:`B-1`), normal interval :math:`\hat\theta \pm z_{1-\alpha/2}\widehat{se}`.
* **Bootstrapped ML multiple imputation** (:func:`bmlmi_table`; von Hippel & Bartlett
  2021): estimates :math:`\hat\theta_{bd}` of :math:`D` imputations of each of :math:`B`
  bootstrap samples, a one-way random-effects ANOVA:

  .. math::
      \hat\theta = \bar\theta_{\cdot\cdot},\quad
      MSW = \frac{\sum_{bd}(\hat\theta_{bd}-\bar\theta_{b\cdot})^2}{B(D-1)},\quad
      MSB = \frac{D\sum_b(\bar\theta_{b\cdot}-\bar\theta_{\cdot\cdot})^2}{B-1},

      \widehat{var} = \Big(1+\frac1B\Big)\frac{MSB-MSW}{D} + \frac{MSW}{BD},\quad
      \nu = \max\!\Big(3,\ \widehat{var}^2 \Big/ \Big[\frac{((B+1)/(BD))^2 MSB^2}{B-1}
            + \frac{MSW^2}{BD^2(D-1)}\Big]\Big),

  interval :math:`\hat\theta \pm t_{\nu,1-\alpha/2}\widehat{se}`.  A negative
  :math:`\widehat{var}` (few bootstrap samples) gives a missing standard error, as rbmi.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError

BOOTSTRAP_POOLINGS = ("percentile", "normal")


def check_pooling(pooling) -> str:
    """``pooling`` of a bootstrap result: ``"percentile"`` (None) or ``"normal"``."""
    if pooling is None:
        return "percentile"
    if pooling not in BOOTSTRAP_POOLINGS:
        raise DataError(f"pooling must be one of {', '.join(map(repr, BOOTSTRAP_POOLINGS))}, got {pooling!r}")
    return pooling


def _table(point, se, df, lower, upper, p) -> pd.DataFrame:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = point / se
    return pd.DataFrame({"estimate": point, "se": se, "df": df, "t": t, "p": p, "lower": lower,
                         "upper": upper})


def _normal_table(point: np.ndarray, se: np.ndarray, alpha: float) -> pd.DataFrame:
    crit = stats.norm.ppf(1 - alpha / 2)
    p = 2 * stats.norm.sf(np.abs(point / se))
    return _table(point, se, np.inf, point - crit * se, point + crit * se, p)


def jackknife_table(point: np.ndarray, leave_one_out: np.ndarray, alpha: float) -> pd.DataFrame:
    """Full-data estimates (R,) and leave-one-out estimates (n, R): normal intervals, ``df`` infinite."""
    n = leave_one_out.shape[0]
    se = np.sqrt((n - 1) / n * ((leave_one_out - leave_one_out.mean(axis=0)) ** 2).sum(axis=0))
    return _normal_table(point, se, alpha)


def bootstrap_table(point: np.ndarray, samples: np.ndarray, alpha: float, pooling: str) -> pd.DataFrame:
    """Full-data estimates (R,) and bootstrap estimates (B, R), ``pooling`` percentile or normal."""
    if pooling == "normal":
        return _normal_table(point, samples.std(axis=0, ddof=1), alpha)
    lower, upper = np.quantile(samples, [alpha / 2, 1 - alpha / 2], axis=0, method="weibull")
    p = np.array([_percentile_p(column) for column in samples.T])
    return _table(point, np.nan, np.nan, lower, upper, p)


def _percentile_p(est: np.ndarray) -> float:
    """Two-sided percentile p-value: rbmi's ``pval_percentile`` with the root of the type-6
    quantile function found exactly (it is piecewise linear in the probability)."""
    b = est.size
    if (est == 0).all():
        return 1.0
    if est.min() > 0 or est.max() < 0:
        return 0.0
    if (est == 0).any():
        ranks = stats.rankdata(est, method="ordinal") / (b + 1)
        below, above = ranks[est == 0].min(), 1 - ranks[est == 0].max()
        return min(2 * min(below, above), 1.0)
    x = np.sort(est)
    j = np.searchsorted(x, 0.0)  # x[j - 1] < 0 < x[j]: order statistics j and j + 1 (1-based)
    q = (j + -x[j - 1] / (x[j] - x[j - 1])) / (b + 1)
    return min(2 * min(q, 1 - q), 1.0)


def bmlmi_table(estimates: np.ndarray, alpha: float) -> pd.DataFrame:
    """Estimates (B, D, R) of D imputations of each of B bootstrap samples, pooled as von
    Hippel & Bartlett (rbmi ``get_ests_bmlmi``)."""
    b, d = estimates.shape[:2]
    point = estimates.mean(axis=(0, 1))
    within = estimates.mean(axis=1)
    msw = ((estimates - within[:, None]) ** 2).sum(axis=(0, 1)) / (b * (d - 1))
    msb = d * ((within - point) ** 2).sum(axis=0) / (b - 1)
    var = (1 + 1 / b) * (msb - msw) / d + msw / (b * d)
    df = np.maximum(3.0, var**2 / (((b + 1) / (b * d)) ** 2 * msb**2 / (b - 1)
                                   + msw**2 / (b * d**2 * (d - 1))))
    se = np.sqrt(np.where(var > 0, var, np.nan))
    crit = stats.t.ppf(1 - alpha / 2, df)
    with np.errstate(invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(point / se), df)
    return _table(point, se, df, point - crit * se, point + crit * se, p)
