r"""Covariance of the fixed-effect estimates.

``model``
    :math:`C = (X^\top V^{-1}X)^{-1}` (SAS default).
``empirical`` (CR0, SAS ``EMPIRICAL``), ``empirical-bias-reduced`` (CR2),
``empirical-jackknife`` (CR3)
    :math:`C\,[\sum_c u_cu_c^\top]\,C` over independent clusters *c* with, for
    :math:`V_c = L_cL_c^\top`, :math:`\tilde X_c = L_c^{-1}X_c`,
    :math:`\tilde e_c = L_c^{-1}(y_c - X_c\hat\beta)`:
    CR0 :math:`u_c = \tilde X_c^\top\tilde e_c = X_c^\top V_c^{-1}e_c`;
    CR3 :math:`u_c = \tilde X_c^\top(I - \tilde X_cC\tilde X_c^\top)^{-1}\tilde e_c`;
    CR2 (Bell & McCaffrey 2002 with the working covariance as target, as R clubSandwich;
    Pustejovsky & Tipton 2018) :math:`u_c = X_c^\top V_c^{-1}A_ce_c`,
    :math:`A_c = D_c^\top[D_c(V_c - X_cCX_c^\top)D_c^\top]^{-1/2}D_c`, :math:`D_c = L_c^\top`
    (any :math:`D_c` with :math:`D_c^\top D_c = V_c` gives the same :math:`A_c`).
    :math:`V_c` is on the unweighted scale.  The clusters are the subjects or, with
    outer grouping factors, the independent blocks of :math:`V` (the sites when subjects
    are nested in sites: SAS EMPIRICAL with the largest SUBJECT= effect, clubSandwich
    ``cluster = SITE``); there :math:`V_c` is dense (:math:`O(\sum_c n_c^3)`).  Crossed
    factors leave a single block: no sandwich (``DataError``).
Kenward-Roger (SAS ``DDFM=KR``)
    :math:`\hat\Phi_A = C + 2C\{\sum_{hj}W_{hj}(Q_{hj} - P_hCP_j - \tfrac14R_{hj})\}C`
    (Kenward & Roger 1997) with :math:`P_h = X^\top\partial V^{-1}/\partial\phi_h X`,
    :math:`Q_{hj} = X^\top\partial_hV^{-1}\,V\,\partial_jV^{-1}X`,
    :math:`R_{hj} = X^\top V^{-1}\partial^2_{hj}V\,V^{-1}X`, :math:`W` the asymptotic
    covariance of :math:`\hat\phi`; all derivatives in SAS's parameterisation.  ``linear``
    (SAS ``KR(LINEAR)``) drops :math:`R`.  The likelihood supplies
    :math:`\sum_{hj}W_{hj}(Q_{hj} - \tfrac14R_{hj})` (``kenward_roger_terms``: per pattern
    for one grouping factor, by Woodbury's identity over the whole :math:`V` with outer
    factors), and :math:`P_h = -B_h` is the fit's ``jac_info``.

The names, labels and SAS/mmrm equivalents of these covariances are registered in
:mod:`.methods`; :mod:`.cache` computes each once per fit.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def _sym_power(m: np.ndarray, power: float) -> np.ndarray:
    """m^power for a stack of symmetric positive definite matrices."""
    w, v = np.linalg.eigh(m)
    if np.any(w <= 1e-12 * np.abs(w).max(axis=-1, keepdims=True)):
        raise DataError(
            "a cluster's leverage is 1 (its data alone determine some fixed effects); "
            "the bias-reduced and jackknife sandwich estimators are not defined"
        )
    return (v * w[..., None, :] ** power) @ v.transpose(0, 2, 1)


def cluster_operators(kind: str, c: np.ndarray, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """:math:`S_c` (m, p, k) with :math:`u_c = S_ce_c` for a stack of clusters: ``x`` (m, k, p),
    ``v`` (m, k, k) on the unweighted scale; padding rows have x = 0 and the identity in ``v``
    (their columns of :math:`S_c` are 0)."""
    chol = np.linalg.cholesky(v)
    xt = np.linalg.solve(chol, x)  # whitened X_c
    if kind == "empirical-bias-reduced":
        d = chol.transpose(0, 2, 1)  # D'D = V
        dx = d @ x
        m = d @ v @ d.transpose(0, 2, 1) - dx @ c @ dx.transpose(0, 2, 1)
        return xt.transpose(0, 2, 1) @ _sym_power(m, -0.5) @ d
    whiten = np.linalg.inv(chol)
    if kind == "empirical-jackknife":
        eye = np.eye(x.shape[1])
        whiten = _sym_power(eye - xt @ c @ xt.transpose(0, 2, 1), -1.0) @ whiten
    return xt.transpose(0, 2, 1) @ whiten


def _cluster_stacks(fit, kind: str):
    """``(x, e, v, S)`` per stack of clusters (see :func:`cluster_operators`); the rows of X
    are encoded stack by stack, so X is never formed whole (:meth:`Design.rows_at`)."""
    design = fit.design
    for rows, v in fit.likelihood.cluster_covariances(fit.phi):
        used = rows >= 0
        x_used = design.rows_at(rows[used])
        x = np.zeros(rows.shape + (x_used.shape[1],))
        x[used] = x_used
        e = np.zeros(rows.shape)
        e[used] = design.y[rows[used]] - x_used @ fit.beta
        yield x, e, v, cluster_operators(kind, fit.beta_cov, x, v)


def empirical_covariance(fit, kind: str) -> np.ndarray:
    """Sandwich covariance of :math:`\\hat\\beta` (see module docstring)."""
    c = fit.beta_cov
    if fit.spec.from_sums:  # a fit from partitions: a second pass over them
        return c @ fit.design.statistics.sandwich_meat(fit, kind) @ c
    meat = np.zeros_like(c)
    for _, e, _, s in _cluster_stacks(fit, kind):
        u = np.einsum("npk,nk->np", s, e)
        meat += u.T @ u
    return c @ meat @ c


def empirical_df_terms(fit, kind: str) -> tuple[np.ndarray, np.ndarray]:
    r"""Per cluster, :math:`A_c = P_cV_cP_c^\top` and :math:`B_c = X_c^\top P_c^\top` (p x p)
    with :math:`P_c = CS_c`: the Satterthwaite df of a sandwich for a contrast :math:`l`
    (Bell & McCaffrey 2002) use :math:`q_c = P_c^\top l`, the weights of
    :math:`l^\top C u_c = q_c^\top e_c`, through :math:`q_c^\top V_cq_c = l^\top A_cl` and
    :math:`X_c^\top q_c = B_cl` (see :mod:`.ddf`)."""
    c = fit.beta_cov
    a, b = [], []
    for x, _, v, s in _cluster_stacks(fit, kind):
        p = c @ s  # (m, p, k)
        a.append(p @ v @ p.transpose(0, 2, 1))
        b.append(x.transpose(0, 2, 1) @ p.transpose(0, 2, 1))
    return np.concatenate(a), np.concatenate(b)


def kenward_roger_covariance(fit, linear: bool) -> np.ndarray:
    """:math:`\\hat\\Phi_A` of Kenward & Roger (1997); ``linear`` drops the R term."""
    c, w = fit.beta_cov, fit.phi_cov
    b_mat = fit.jac_info  # B_h = -P_h
    total = fit.likelihood.kenward_roger_terms(fit.phi, w, linear)
    pcp = (b_mat @ c @ np.tensordot(w, b_mat, axes=([1], [0]))).sum(axis=0)  # sum W_hj P_h C P_j
    return c + 2.0 * c @ (total - pcp) @ c
