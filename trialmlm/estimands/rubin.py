r"""Rubin's rules with the Barnard-Rubin degrees of freedom.

For :math:`M` completed-data estimates :math:`\hat Q_m` with variances :math:`U_m` and
complete-data degrees of freedom :math:`\nu_{com}` (Rubin 1987; Barnard & Rubin 1999;
as in R mice ``pool`` and rbmi ``pool``):

.. math::
    \bar Q = \frac1M\sum_m \hat Q_m,\quad \bar U = \frac1M\sum_m U_m,\quad
    B = \frac{1}{M-1}\sum_m(\hat Q_m - \bar Q)^2,\quad T = \bar U + (1 + M^{-1})B,

    \lambda = \frac{(1+M^{-1})B}{T},\quad \nu_{old} = \frac{M-1}{\lambda^2},\quad
    \nu_{obs} = \frac{\nu_{com}+1}{\nu_{com}+3}\,\nu_{com}(1-\lambda),\quad
    \nu = \frac{\nu_{old}\,\nu_{obs}}{\nu_{old}+\nu_{obs}} .

The interval is :math:`\bar Q \pm t_{\nu,1-\alpha/2}\sqrt T`.  :math:`\nu_{com}` is the
mean over imputations of the analysis model's df for that estimate (Satterthwaite by
default).  With :math:`B = 0` the limit :math:`\nu = \nu_{obs}` is used (R mice instead
floors :math:`\lambda` at :math:`10^{-4}`); with :math:`\nu_{com} = \infty`, :math:`\nu = \nu_{old}`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha


def pool(estimates: np.ndarray, variances: np.ndarray, df_complete: np.ndarray,
         alpha: float = 0.05) -> pd.DataFrame:
    """Pool (M, R) arrays column by column: ``estimate, se, df, t, p, lower, upper, fmi``.

    ``fmi`` is the fraction of missing information :math:`(\\lambda(\\nu + 1) + 2)/(\\nu + 3)` (mice).
    """
    alpha = check_alpha(alpha)
    q = np.atleast_2d(estimates)
    m = q.shape[0]
    qbar = q.mean(axis=0)
    ubar = np.atleast_2d(variances).mean(axis=0)
    nu_com = np.atleast_2d(df_complete).mean(axis=0)
    b = q.var(axis=0, ddof=1) if m > 1 else np.zeros_like(qbar)
    total = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(total > 0, (1 + 1 / m) * b / total, 0.0)
        nu_old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        nu_obs = np.where(np.isinf(nu_com), np.inf, (nu_com + 1) / (nu_com + 3) * nu_com * (1 - lam))
        nu = np.where(np.isinf(nu_old), nu_obs, np.where(np.isinf(nu_obs), nu_old,
                                                          nu_old * nu_obs / (nu_old + nu_obs)))
        se = np.sqrt(total)
        t = qbar / se
    crit = stats.t.ppf(1 - alpha / 2, nu)
    return pd.DataFrame({
        "estimate": qbar, "se": se, "df": nu, "t": t, "p": 2 * stats.t.sf(np.abs(t), nu),
        "lower": qbar - crit * se, "upper": qbar + crit * se, "fmi": (lam * (nu + 1) + 2) / (nu + 3),
    })
