r"""Covariance of the fixed-effect estimates.

``model``
    :math:`C = (X^\top V^{-1}X)^{-1}` (SAS default).
``empirical`` (CR0, SAS ``EMPIRICAL``), ``empirical-bias-reduced`` (CR2),
``empirical-jackknife`` (CR3)
    :math:`C\,[\sum_i \tilde X_i^\top A_i\tilde e_i\tilde e_i^\top A_i^\top\tilde X_i]\,C` in
    the space whitened by the fitted covariance, :math:`\tilde X_i = L_i^{-1}X_i`,
    :math:`\tilde e_i = L_i^{-1}(y_i - X_i\hat\beta)` (:math:`V_i = L_iL_i^\top`), with
    :math:`A_i = I`, :math:`(I - H_{ii})^{-1/2}` (Bell & McCaffrey 2002) or
    :math:`(I - H_{ii})^{-1}`, :math:`H_{ii} = \tilde X_i C\tilde X_i^\top`.
Kenward-Roger (SAS ``DDFM=KR``)
    :math:`\hat\Phi_A = C + 2C\{\sum_{hj}W_{hj}(Q_{hj} - P_hCP_j - \tfrac14R_{hj})\}C`
    (Kenward & Roger 1997) with :math:`P_h = X^\top\partial V^{-1}/\partial\phi_h X`,
    :math:`Q_{hj} = X^\top\partial_hV^{-1}\,V\,\partial_jV^{-1}X`,
    :math:`R_{hj} = X^\top V^{-1}\partial^2_{hj}V\,V^{-1}X`, :math:`W` the asymptotic
    covariance of :math:`\hat\phi`; all derivatives in SAS's parameterisation.  ``linear``
    (SAS ``KR(LINEAR)``) drops :math:`R`.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

VCOV_METHODS = ("model", "empirical", "empirical-bias-reduced", "empirical-jackknife")


def check_vcov(name: str) -> str:
    if name not in VCOV_METHODS:
        raise DataError(f"vcov must be one of {', '.join(VCOV_METHODS)}; got {name!r}")
    return name


def _inverse_sqrt(h: np.ndarray, power: float) -> np.ndarray:
    """(I - H)^power for a stack of symmetric H with eigenvalues below 1."""
    w, v = np.linalg.eigh(h)
    gap = 1.0 - w
    if np.any(gap <= 1e-12):
        raise DataError(
            "a subject's leverage is 1 (its data alone determine some fixed effects); "
            "the bias-reduced and jackknife sandwich estimators are not defined"
        )
    return (v * gap[..., None, :] ** power) @ v.transpose(0, 2, 1)


def empirical_covariance(fit, kind: str) -> np.ndarray:
    """Sandwich covariance of :math:`\\hat\\beta` (see module docstring)."""
    design = fit.design
    c = fit.beta_cov
    sw = np.sqrt(design.weights)
    x = design.X * sw[:, None]
    e = (design.y - design.X @ fit.beta) * sw
    meat = np.zeros_like(c)
    for blk in fit.pattern_blocks(0):
        b = blk.batch
        linv = blk.linv[b.pattern]  # (n, k, k)
        xt = linv @ x[b.rows]  # whitened X_i
        et = np.einsum("nkl,nl->nk", linv, e[b.rows])
        if kind != "empirical":
            lev = xt @ c @ xt.transpose(0, 2, 1)
            adj = _inverse_sqrt(lev, -0.5 if kind == "empirical-bias-reduced" else -1.0)
            et = np.einsum("nkl,nl->nk", adj, et)
        u = np.einsum("nkp,nk->np", xt, et)
        meat += u.T @ u
    return c @ meat @ c


def kenward_roger_covariance(fit, linear: bool) -> np.ndarray:
    """:math:`\\hat\\Phi_A` of Kenward & Roger (1997); ``linear`` drops the R term."""
    c = fit.beta_cov
    w = fit.phi_cov
    p = c.shape[0]
    b_mat = fit.jac_info  # B_h = -P_h
    total = np.zeros((p, p))
    q = p + 1
    offsets = fit.phi_offsets
    for blk in fit.pattern_blocks(1 if linear else 2):
        b = blk.batch
        lo, hi = offsets[b.group], offsets[b.group + 1]
        wg = w[lo:hi, lo:hi]
        u = blk.omega[None] @ blk.d1  # Omega S_j
        y = np.tensordot(wg, u, axes=([1], [0]))  # sum_j W_hj Omega S_j
        t = np.einsum("hmab,hmbc->mac", blk.d1, y)  # sum_hj W_hj S_h Omega S_j
        inner = blk.omega @ t @ blk.omega
        if not linear and blk.d2 is not None:
            r = np.tensordot(wg, blk.d2, axes=([0, 1], [0, 1]))  # sum_hj W_hj S_hj
            inner = inner - 0.25 * blk.omega @ r @ blk.omega
        flat = b.moments.reshape(inner.size, q * q)
        total += (inner.ravel() @ flat).reshape(q, q)[:p, :p]
    pcp = (b_mat @ c @ np.tensordot(w, b_mat, axes=([1], [0]))).sum(axis=0)  # sum W_hj P_h C P_j
    return c + 2.0 * c @ (total - pcp) @ c
