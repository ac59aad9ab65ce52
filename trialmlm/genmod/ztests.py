r"""Wald tests of linear functions :math:`L\beta` of a GEE, normal reference (SAS GENMOD).

A row :math:`l`: estimate :math:`l^\top\hat\beta`, standard error
:math:`\sqrt{l^\top\hat C l}`, statistic :math:`z = l^\top\hat\beta/\mathrm{se}` (SAS's "Z"),
two-sided :math:`p = 2\Phi(-|z|)`, limits :math:`l^\top\hat\beta \mp z_{1-\alpha/2}\,\mathrm{se}`.
Tables carry the columns of every trialmlm result (``estimate, se, df, t, p, lower,
upper``) with ``df`` infinite: ``t`` with infinite df *is* the z statistic.  A set of
rows of rank :math:`r`: :math:`W = (L\hat\beta)^\top(L\hat CL^\top)^{-1}L\hat\beta`,
chi-square with :math:`r` df (SAS ``TYPE3 WALD``, geepack ``anova``-free Wald tests).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..inference.wald import full_row_rank

COLUMNS = ["estimate", "se", "df", "t", "p", "lower", "upper"]


def z_table(beta: np.ndarray, cov: np.ndarray, L: np.ndarray, alpha: float) -> pd.DataFrame:
    """The columns of the module docstring for each row of ``L`` (NaN rows stay NaN)."""
    alpha = check_alpha(alpha)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    out = pd.DataFrame(np.nan, index=range(L.shape[0]), columns=COLUMNS)
    ok = np.all(np.isfinite(L), axis=1)
    rows = L[ok]
    est = rows @ beta
    se = np.sqrt(np.einsum("ri,ij,rj->r", rows, cov, rows))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    crit = stats.norm.ppf(1 - alpha / 2)
    out.loc[ok, "estimate"] = est
    out.loc[ok, "se"] = se
    out.loc[ok, "df"] = np.inf
    out.loc[ok, "t"] = z
    out.loc[ok, "p"] = 2 * stats.norm.sf(np.abs(z))
    out.loc[ok, "lower"] = est - crit * se
    out.loc[ok, "upper"] = est + crit * se
    return out


def wald_chi_square(beta: np.ndarray, cov: np.ndarray, L: np.ndarray) -> dict:
    """``df, chi_square, p`` of the joint hypothesis :math:`L\\beta = 0`."""
    L = full_row_rank(np.atleast_2d(np.asarray(L, dtype=float)))
    r = L.shape[0]
    if r == 0:
        return {"df": 0, "chi_square": np.nan, "p": np.nan}
    est = L @ beta
    w = float(est @ np.linalg.solve(L @ cov @ L.T, est))
    return {"df": r, "chi_square": w, "p": float(stats.chi2.sf(w, r))}
