r"""Denominator degrees of freedom: one registry, one signature.

Every method takes the fit and a contrast matrix :math:`L` (r x p) and returns a
:class:`DF` with the degrees of freedom of each row (t tests) and, for the joint F test
of all rows, its denominator df and scale :math:`\lambda` (1 except for Kenward-Roger).

``satterthwaite``  :math:`\nu = 2(l^\top Cl)^2 / (g^\top Wg)`,
    :math:`g_h = l^\top(\partial C/\partial\phi_h)l = l^\top CB_hCl`, :math:`W` the asymptotic
    covariance of :math:`\hat\phi` (SAS DDFM=SATTERTHWAITE).  F tests: Fai & Cornelius
    (1996): eigen-decompose :math:`LCL^\top = UDU^\top`, one-row df :math:`\nu_m` for
    each :math:`u_m^\top L`, :math:`E = \sum_{\nu_m>2}\nu_m/(\nu_m-2)`,
    :math:`\nu = 2E/(E-r)`.
``kenward-roger``, ``kenward-roger-linear``  Kenward & Roger (1997) moments
    :math:`A_1, A_2` with :math:`P_h = -B_h`; for one row :math:`m = 2/(a^\top Wa)`,
    :math:`a_h = l^\top CP_hCl/l^\top Cl` (the Satterthwaite df of the unadjusted
    :math:`C`); the F statistic uses the adjusted :math:`\hat\Phi_A`.
``residual``, ``containment``  :math:`n - \mathrm{rank}(X)` (containment equals the
    residual df in models without random effects, as in SAS).
``between-within``  columns constant within every subject get
    :math:`N_s - (\text{intercept}) - p_\text{between}`, the others
    :math:`n - N_s - p_\text{within}`; under ``us`` every effect gets the between df (SAS);
    a contrast gets the smallest df of the columns it involves (R mmrm's rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError

DDF_METHODS = ("satterthwaite", "kenward-roger", "kenward-roger-linear", "between-within",
               "residual", "containment")


@dataclass(frozen=True)
class DF:
    """Row-wise df (t tests) and the joint F test's denominator df and scale."""

    rows: np.ndarray
    joint: float
    scale: float = 1.0


def check_ddf(name: str) -> str:
    if name not in DDF_METHODS:
        raise DataError(f"ddf must be one of {', '.join(DDF_METHODS)}; got {name!r}")
    return name


def _row_satterthwaite(fit, rows: np.ndarray) -> np.ndarray:
    c, w, b = fit.beta_cov, fit.phi_cov, fit.jac_info
    lc = rows @ c
    var = np.einsum("ri,ri->r", lc, rows)
    g = np.einsum("ri,hij,rj->rh", lc, b, lc)
    denom = np.einsum("rh,hk,rk->r", g, w, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2.0 * var**2 / denom, np.inf)


def _fai_cornelius(fit, L: np.ndarray) -> float:
    vals, vecs = np.linalg.eigh(L @ fit.beta_cov @ L.T)
    nu = _row_satterthwaite(fit, vecs.T @ L)
    big = nu > 2
    e = float(np.sum(nu[big] / (nu[big] - 2)))
    r = L.shape[0]
    return 2 * e / (e - r) if e > r else float("nan")


def _kenward_roger_joint(fit, L: np.ndarray) -> tuple[float, float]:
    """Denominator df m and scale lambda of the KR F test (moments A1, A2)."""
    c, w, b = fit.beta_cov, fit.phi_cov, fit.jac_info
    r = L.shape[0]
    chol = np.linalg.cholesky(L @ c @ L.T)
    z = np.linalg.solve(chol, L @ c)
    f = z @ b @ z.T  # F_h = Z P_h Z' up to sign (squared below)
    t = np.trace(f, axis1=1, axis2=2)
    a1 = float(t @ w @ t)
    fl = f.reshape(f.shape[0], -1)
    a2 = float(np.sum((w @ fl) * fl))
    if r == 1:
        return 2.0 / a2, 1.0
    bb = (a1 + 6 * a2) / (2 * r)
    g = ((r + 1) * a1 - (r + 4) * a2) / ((r + 2) * a2)
    den = 3 * r + 2 * (1 - g)
    c1, c2, c3 = g / den, (r - g) / den, (r + 2 - g) / den
    e_star = 1.0 / (1 - a2 / r)
    v_star = (2.0 / r) * (1 + c1 * bb) / ((1 - c2 * bb) ** 2 * (1 - c3 * bb))
    rho = v_star / (2 * e_star**2)
    m = 4 + (r + 2) / (r * rho - 1)
    return m, m / (e_star * (m - 2))


def _between_within_columns(fit) -> tuple[np.ndarray, float, float]:
    d = fit.design
    x = d.X
    starts = np.searchsorted(d.subject, np.arange(d.subject_labels.size))
    first = x[starts][d.subject]
    between = np.all(np.isclose(x, first), axis=0)
    intercept = np.all(x == 1.0, axis=0)
    n_s = d.subject_labels.size
    p_between = int(np.sum(between & ~intercept))
    p_within = int(np.sum(~between & ~intercept))
    df_between = n_s - int(intercept.any()) - p_between
    df_within = d.y.size - n_s - p_within
    if fit.settings.structure == "us":
        return np.full(x.shape[1], float(df_between)), df_between, df_between
    per_col = np.where(between & ~intercept, df_between, df_within).astype(float)
    return per_col, df_between, df_within


def degrees_of_freedom(fit, L: np.ndarray, method: str) -> DF:
    """Degrees of freedom of each row of ``L`` and of the joint test (see module docstring)."""
    L = np.atleast_2d(L)
    if method in ("residual", "containment"):
        df = float(fit.n_obs - fit.n_fixed)
        return DF(np.full(L.shape[0], df), df)
    if method == "between-within":
        per_col, _, _ = _between_within_columns(fit)
        involved = np.abs(L) > 1e-12
        rows = np.array([per_col[m].min() if m.any() else per_col.min() for m in involved])
        return DF(rows, float(rows.min()))
    if fit.method != "REML" and method.startswith("kenward"):
        raise DataError("Kenward-Roger degrees of freedom are defined for REML fits only")
    rows = _row_satterthwaite(fit, L)
    if method == "satterthwaite":
        return DF(rows, rows[0] if L.shape[0] == 1 else _fai_cornelius(fit, L))
    m, lam = _kenward_roger_joint(fit, L)
    return DF(rows, m, lam)
