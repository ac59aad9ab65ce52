r"""Wald tests of linear functions :math:`L\beta` of a GEE: normal / chi-square reference
(SAS GENMOD's default) or t / F with finite df (:mod:`.degrees`).

A row :math:`l` with df :math:`\nu`: estimate :math:`l^\top\hat\beta`, standard error
:math:`\sqrt{l^\top\hat C l}`, statistic :math:`t = l^\top\hat\beta/\mathrm{se}`, two-sided
:math:`p = 2P(T_\nu > |t|)` and limits :math:`l^\top\hat\beta \mp t_{\nu,1-\alpha/2}\,
\mathrm{se}`; with :math:`\nu = \infty` that is SAS's "Z" with the normal :math:`p` and
:math:`z_{1-\alpha/2}`.  Tables carry the columns of every trialmlm result (``estimate, se,
df, t, p, lower, upper``).  A set of rows of rank :math:`r`: :math:`W =
(L\hat\beta)^\top(L\hat CL^\top)^{-1}L\hat\beta`, chi-square with :math:`r` df (SAS
``TYPE3 WALD``) and, with a finite denominator df :math:`\nu`, :math:`F = W/r` on
:math:`(r, \nu)` df, whose :math:`p` is then the test's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..inference.lsmeans import adjust_table, check_adjust, difference_rows, warn_non_estimable
from ..inference.wald import full_row_rank

COLUMNS = ["estimate", "se", "df", "t", "p", "lower", "upper"]


def t_table(beta: np.ndarray, cov: np.ndarray, L: np.ndarray, alpha: float,
            df: np.ndarray | float = np.inf) -> pd.DataFrame:
    """The columns of the module docstring for each row of ``L`` with df ``df`` (scalar or
    one per row; infinite = normal); NaN rows stay NaN."""
    alpha = check_alpha(alpha)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    out = pd.DataFrame(np.nan, index=range(L.shape[0]), columns=COLUMNS)
    ok = np.all(np.isfinite(L), axis=1)
    rows = L[ok]
    nu = np.broadcast_to(np.asarray(df, dtype=float), (L.shape[0],))[ok]
    est = rows @ beta
    se = np.sqrt(np.einsum("ri,ij,rj->r", rows, cov, rows))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    crit = np.where(np.isinf(nu), stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, nu))
    p = np.where(np.isinf(nu), 2 * stats.norm.sf(np.abs(t)), 2 * stats.t.sf(np.abs(t), nu))
    out.loc[ok, "estimate"] = est
    out.loc[ok, "se"] = se
    out.loc[ok, "df"] = nu
    out.loc[ok, "t"] = t
    out.loc[ok, "p"] = p
    out.loc[ok, "lower"] = est - crit * se
    out.loc[ok, "upper"] = est + crit * se
    return out


def wald_test(beta: np.ndarray, cov: np.ndarray, L: np.ndarray, den_df: float = np.inf) -> dict:
    """``df, chi_square, den_df, F, p`` of the joint hypothesis :math:`L\\beta = 0`
    (``p`` of the chi-square when ``den_df`` is infinite, of the F otherwise)."""
    L = full_row_rank(np.atleast_2d(np.asarray(L, dtype=float)))
    r = L.shape[0]
    if r == 0:
        return {"df": 0, "chi_square": np.nan, "den_df": den_df, "F": np.nan, "p": np.nan}
    est = L @ beta
    w = float(est @ np.linalg.solve(L @ cov @ L.T, est))
    p = stats.chi2.sf(w, r) if np.isinf(den_df) else stats.f.sf(w / r, r, den_df)
    return {"df": r, "chi_square": w, "den_df": den_df, "F": w / r, "p": float(p)}


def link_differences(fit, link, table: Callable[[np.ndarray], pd.DataFrame], spec, by, reference,
                     pairwise: bool, adjust: str | None, alpha: float, opts: dict) -> pd.DataFrame:
    """``compare()`` of a fit on a link scale (GEE, GLMM): the differences of the LS means of
    ``spec`` (:func:`trialmlm.inference.lsmeans.difference_rows`), their Wald table ``table(D)``,
    the adjustment ``adjust`` of their p-values and limits, and :meth:`~.links.Link.ratio_scale` columns
    (:math:`\\exp` of the difference and its limits under the logit and log links).  ``opts``:
    ``vcov`` (``fit.cov(vcov)`` for Dunnett), ``weights``, ``at``."""
    check_adjust(adjust, pairwise)
    info, D = difference_rows(fit, spec, by, reference, opts.get("weights", "equal"), opts.get("at"), None,
                              pairwise)
    warn_non_estimable(info, D, "difference(s)")
    out = pd.concat([info, table(D)], axis=1)
    if adjust is not None:
        cov = fit.cov(opts.get("vcov"))
        adjust_table(out, spec, alpha, adjust, D @ cov @ D.T if adjust == "dunnett" else None)
    return link.ratio_scale(out)
