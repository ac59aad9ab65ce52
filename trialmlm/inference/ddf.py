r"""Denominator degrees of freedom: one function per method, one signature.

Every method takes the fit, a contrast matrix :math:`L` (r x p), whether the joint F test
of all rows is wanted, and the ``vcov`` (which matters for Satterthwaite only), and returns
a :class:`DF` with the degrees of freedom of each row (t tests) and, for the joint F test,
its denominator df and scale :math:`\lambda` (1 except for Kenward-Roger).  The registry
that names them, says which covariance each goes with and dispatches to them is
:mod:`.methods`.

``satterthwaite``  :math:`\nu = 2(l^\top Cl)^2 / (g^\top Wg)`,
    :math:`g_h = l^\top(\partial C/\partial\phi_h)l = l^\top CB_hCl`, :math:`W` the asymptotic
    covariance of :math:`\hat\phi` (SAS DDFM=SATTERTHWAITE).  With a sandwich ``vcov``:
    Bell & McCaffrey (2002), as R mmrm and clubSandwich: the sandwich variance
    :math:`\sum_c(q_c^\top e_c)^2` with :math:`e = (I - H)y`, :math:`H = XCX^\top V^{-1}`, is
    approximated by a scaled :math:`\chi^2` with
    :math:`\nu = (\mathrm{tr}\,G)^2/\lVert G\rVert_F^2`,
    :math:`G_{cd} = q_c^\top[(I-H)V(I-H)^\top]_{cd}q_d = \delta_{cd}q_c^\top V_cq_c
    - (X_c^\top q_c)^\top C(X_d^\top q_d)` (:func:`.vcov.empirical_df_terms`).  F tests: Fai &
    Cornelius (1996): eigen-decompose :math:`LCL^\top = UDU^\top` (:math:`C` the covariance
    used), one-row df :math:`\nu_m` for each :math:`u_m^\top L`,
    :math:`E = \sum_{\nu_m>2}\nu_m/(\nu_m-2)`, :math:`\nu = 2E/(E-r)`.
``kenward-roger``, ``kenward-roger-linear``  Kenward & Roger (1997) moments
    :math:`A_1, A_2` with :math:`P_h = -B_h`; for one row :math:`m = 2/(a^\top Wa)`,
    :math:`a_h = l^\top CP_hCl/l^\top Cl` (the Satterthwaite df of the unadjusted
    :math:`C`); the F statistic uses the adjusted :math:`\hat\Phi_A`.
``residual``  :math:`n - \mathrm{rank}(X)`.  For the linear model (rows independent with one
    variance) every method equals it: Satterthwaite and Kenward-Roger exactly at the REML
    estimate, containment and between-within by definition (no random effects; every
    column is between-subject when each subject has one row).
``containment``  SAS DDFM=CONTAIN: a random effect ``TERM*FACTOR`` contains a fixed effect
    when all the fixed effect's variables appear in it (an outer factor counts as one of
    its effects' variables); the df are the smallest rank contribution of a containing
    random effect to :math:`[X\,Z]`, computed in order (outer factors in formula order,
    then the subject's terms: :math:`\mathrm{rank}[X\,Z_1..Z_j] - \mathrm{rank}[X\,Z_1..Z_{j-1}]`),
    else :math:`n - \mathrm{rank}[X\,Z]` (:math:`n - \mathrm{rank}(X)` without random effects).
``between-within``  SAS DDFM=BETWITHIN: an effect (model term) whose columns are constant
    within every subject gets :math:`N_s - \mathrm{rank}(X_b)`, :math:`X_b` the columns of
    those effects (intercept included), the others :math:`n - N_s - (\mathrm{rank}(X) -
    \mathrm{rank}(X_b))`; under ``us`` without random effects every effect gets the between
    df (SAS); a contrast gets the smallest df of the columns it involves (R mmrm's rule).
    Kenward-Roger needs the model-based covariance; the other methods do not depend on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .cache import covariance, sandwich_df_terms


@dataclass(frozen=True)
class DF:
    """Row-wise df (t tests) and the joint F test's denominator df and scale."""

    rows: np.ndarray
    joint: float
    scale: float = 1.0


def _row_satterthwaite(fit, rows: np.ndarray) -> np.ndarray:
    c, w, b = fit.beta_cov, fit.phi_cov, fit.jac_info
    lc = rows @ c
    var = np.einsum("ri,ri->r", lc, rows)
    g = np.einsum("ri,hij,rj->rh", lc, b, lc)
    denom = np.einsum("rh,hk,rk->r", g, w, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2.0 * var**2 / denom, np.inf)


def _row_satterthwaite_sandwich(fit, rows: np.ndarray, vcov: str) -> np.ndarray:
    """Bell & McCaffrey (2002) df of each row for the sandwich ``vcov`` (module docstring):
    :math:`G = \\mathrm{diag}(l^\\top A_cl) - UCU^\\top`, :math:`U` the rows :math:`(B_cl)^\\top`."""
    a, b = sandwich_df_terms(fit, vcov)
    c = fit.beta_cov
    d = np.einsum("ri,nij,rj->rn", rows, a, rows)
    u = np.einsum("nij,rj->rni", b, rows)
    h = np.einsum("rni,ij,rnj->rn", u, c, u)  # diagonal of UCU'
    ucu = np.einsum("rni,rnj->rij", u, u) @ c  # U'UC: ||UCU'||_F^2 = tr((U'UC)^2)
    trace = d.sum(axis=1) - h.sum(axis=1)
    frobenius = np.sum(d * d - 2.0 * d * h, axis=1) + np.einsum("rij,rji->r", ucu, ucu)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(frobenius > 0, trace**2 / frobenius, np.inf)


def _row_df(fit, rows: np.ndarray, vcov: str) -> np.ndarray:
    return _row_satterthwaite(fit, rows) if vcov == "model" else _row_satterthwaite_sandwich(fit, rows, vcov)


def _fai_cornelius(fit, L: np.ndarray, vcov: str) -> float:
    c = covariance(fit, vcov)
    vals, vecs = np.linalg.eigh(L @ c @ L.T)
    nu = _row_df(fit, vecs.T @ L, vcov)
    if np.all(np.isinf(nu)):  # every covariance parameter held (known): no estimation error
        return float("inf")
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
    if a2 == 0.0:  # every covariance parameter held (W = 0): the Wald F is exact, chi2_r / r
        return float("inf"), 1.0
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


def between_within_columns(d, all_between: bool = False) -> np.ndarray:
    """Per fixed-effect column of the design ``d`` (:class:`trialmlm.engine.design.Design`), the
    between-within df (module docstring); ``all_between``: every column gets the between df
    (SAS's rule for ``us`` without random effects)."""
    constant = d.within_subject_constant()
    between = np.zeros(d.n_fixed, dtype=bool)
    for cols in d.encoding.term_columns().values():
        between[cols] = constant[cols].all()
    rank_between = d.column_rank(between) if between.any() else 0
    df_between = float(d.n_subjects - rank_between)
    if all_between:
        return np.full(d.n_fixed, df_between)
    return np.where(between, df_between, float(d.n_obs - d.n_subjects - (d.n_fixed - rank_between)))


def term_variables(term) -> frozenset:
    """The variables of a formulaic model term (``C(x)`` counts as ``x``; the intercept has none)."""
    names = set()
    for factor in term.factors:
        expr = str(factor.expr)
        inner = re.fullmatch(r"C\(\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*[,)].*", expr)
        names.add(inner.group(1) if inner else expr)
    return frozenset(names - {"1"})


def _rank_xz(fit, z_columns: np.ndarray, outer: np.ndarray) -> int:
    """rank([X Z_o Z]) for the dense outer-factor columns ``outer`` and the subject-blocked Z
    restricted to ``z_columns`` of the subject's terms: sum of the subjects' rank(Z_i) plus
    the rank of [X Z_o] after projecting out each Z_i."""
    d = fit.design
    xo = np.hstack([d.X, outer])
    resid = np.empty_like(xo)
    rank_z = 0
    for batch in fit.likelihood.batches:
        rows = batch.rows
        z = d.Z[rows][:, :, z_columns] if z_columns.size else np.zeros(rows.shape + (0,))
        rank_z += int(np.linalg.matrix_rank(z).sum()) if z.shape[2] else 0
        x = xo[rows]
        fitted = z @ (np.linalg.pinv(z) @ x) if z.shape[2] else 0.0
        resid[rows] = x - fitted
    scale = np.linalg.norm(d.X, 2)  # absolute tolerance: resid may be zero up to rounding
    return rank_z + int(np.linalg.matrix_rank(resid, tol=1e-9 * scale))


def _outer_effects(fit) -> list[tuple[frozenset, np.ndarray]]:
    """(variables, dense columns) of each term of each outer factor, in formula order."""
    out = []
    n = fit.design.y.size
    for level in fit.design.outer:
        for term, cols in level.spec.term_slices.items():
            z = level.Z[:, cols]
            dense = np.zeros((n, level.labels.size, z.shape[1]))
            dense[np.arange(n), level.codes] = z
            out.append((term_variables(term) | {level.factor}, dense.reshape(n, -1)))
    return out


def _containment_columns(fit) -> np.ndarray:
    """Per fixed-effect column, the containment df (see module docstring)."""
    d = fit.design
    outer = _outer_effects(fit)
    mats = [np.zeros((d.y.size, 0))] + [m for _, m in outer]
    everything = np.arange(len(d.random_names))
    z_terms = [(term_variables(t), everything[s]) for t, s in d.random_spec.term_slices.items()] \
        if d.Z is not None else []
    ranks = [_rank_xz(fit, everything[:0], np.hstack(mats[:j + 1])) for j in range(len(mats))]
    all_outer = np.hstack(mats)
    ranks += [_rank_xz(fit, np.concatenate([c for _, c in z_terms[:j + 1]]), all_outer)
              for j in range(len(z_terms))]
    effects = [v for v, _ in outer] + [v for v, _ in z_terms]
    contribution = np.diff(ranks)
    per_col = np.full(fit.n_fixed, float(d.y.size - ranks[-1]))
    for term, cols in d.encoding.term_columns().items():
        variables = term_variables(term)
        containing = [c for zv, c in zip(effects, contribution) if variables <= zv]
        if containing:
            per_col[cols] = float(min(containing))
    return per_col


def residual_df(fit, L: np.ndarray, joint: bool, vcov: str) -> DF:
    r"""SAS DDFM=RESIDUAL: :math:`n - \mathrm{rank}(X)` for every row and the joint test."""
    df = float(fit.n_obs - fit.n_fixed)
    return DF(np.full(L.shape[0], df), df)


def smallest_of_columns(per_col: np.ndarray, L: np.ndarray) -> DF:
    """A row of ``L`` gets the smallest df of the columns it involves (R mmrm's rule); the joint
    test the smallest row's."""
    involved = np.abs(L) > 1e-12
    rows = np.array([per_col[m].min() if m.any() else per_col.min() for m in involved])
    return DF(rows, float(rows.min()))


def between_within_df(fit, L: np.ndarray, joint: bool, vcov: str) -> DF:
    """SAS DDFM=BETWITHIN (module docstring)."""
    all_between = fit.settings.structure == "us" and not fit.spec.random_effects
    return smallest_of_columns(between_within_columns(fit.design, all_between), L)


def containment_df(fit, L: np.ndarray, joint: bool, vcov: str) -> DF:
    """SAS DDFM=CONTAIN (module docstring); the residual df without random effects."""
    if not fit.spec.random_effects:
        return residual_df(fit, L, joint, vcov)
    return smallest_of_columns(_containment_columns(fit), L)


def satterthwaite_df(fit, L: np.ndarray, joint: bool, vcov: str) -> DF:
    """SAS DDFM=SATTERTHWAITE, or Bell & McCaffrey's df with a sandwich ``vcov``; F tests by
    Fai & Cornelius (module docstring)."""
    rows = _row_df(fit, L, vcov)
    if not joint:
        return DF(rows, np.nan)
    return DF(rows, rows[0] if L.shape[0] == 1 else _fai_cornelius(fit, L, vcov))


def kenward_roger_df(fit, L: np.ndarray, joint: bool, vcov: str) -> DF:
    """SAS DDFM=KR and KR(LINEAR) (their df are the same; module docstring); REML only."""
    if fit.method != "REML":
        raise DataError("Kenward-Roger degrees of freedom are defined for REML fits only")
    rows = _row_df(fit, L, vcov)
    if not joint:
        return DF(rows, np.nan)
    m, lam = _kenward_roger_joint(fit, L)
    return DF(rows, m, lam)
