r"""Covariance of the fixed-effect estimates.

``model``
    :math:`C = (X^\top V^{-1}X)^{-1}` (SAS default).
``empirical`` (CR0, SAS ``EMPIRICAL``), ``empirical-bias-reduced`` (CR2),
``empirical-jackknife`` (CR3)
    :math:`C\,[\sum_i u_iu_i^\top]\,C` with, for :math:`V_i = L_iL_i^\top`,
    :math:`\tilde X_i = L_i^{-1}X_i`, :math:`\tilde e_i = L_i^{-1}(y_i - X_i\hat\beta)`:
    CR0 :math:`u_i = \tilde X_i^\top\tilde e_i = X_i^\top V_i^{-1}e_i`;
    CR3 :math:`u_i = \tilde X_i^\top(I - \tilde X_iC\tilde X_i^\top)^{-1}\tilde e_i`;
    CR2 (Bell & McCaffrey 2002 with the working covariance as target, as R clubSandwich;
    Pustejovsky & Tipton 2018) :math:`u_i = X_i^\top V_i^{-1}A_ie_i`,
    :math:`A_i = D_i^\top[D_i(V_i - X_iCX_i^\top)D_i^\top]^{-1/2}D_i`, :math:`D_i^\top D_i = V_i`.
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


def _sym_power(m: np.ndarray, power: float) -> np.ndarray:
    """m^power for a stack of symmetric positive definite matrices."""
    w, v = np.linalg.eigh(m)
    if np.any(w <= 1e-12 * np.abs(w).max(axis=-1, keepdims=True)):
        raise DataError(
            "a subject's leverage is 1 (its data alone determine some fixed effects); "
            "the bias-reduced and jackknife sandwich estimators are not defined"
        )
    return (v * w[..., None, :] ** power) @ v.transpose(0, 2, 1)


def empirical_covariance(fit, kind: str) -> np.ndarray:
    """Sandwich covariance of :math:`\\hat\\beta` (see module docstring)."""
    design = fit.design
    c = fit.beta_cov
    sw = np.sqrt(design.weights)
    x = design.X * sw[:, None]  # weights folded in: V_i becomes Sigma_P
    e = (design.y - design.X @ fit.beta) * sw
    meat = np.zeros_like(c)
    for blk in fit.pattern_blocks(0):
        b = blk.batch
        linv = np.linalg.inv(blk.chol)[b.pattern]  # L^-1, (n, k, k)
        xt = linv @ x[b.rows]  # whitened X_i
        if kind == "empirical-bias-reduced":
            # unweighted scale: V_i = W^-1/2 Sigma W^-1/2 = (W^-1/2 L)(W^-1/2 L)', D_i = (W^-1/2 L)'
            isw = 1.0 / sw[b.rows]
            d = (blk.chol[b.pattern] * isw[:, :, None]).transpose(0, 2, 1)
            dx = d @ design.X[b.rows]
            v = blk.sigma[b.pattern] * isw[:, :, None] * isw[:, None, :]
            m = d @ v @ d.transpose(0, 2, 1) - dx @ c @ dx.transpose(0, 2, 1)
            raw = (design.y - design.X @ fit.beta)[b.rows]
            et = np.einsum("nkl,nl->nk", _sym_power(m, -0.5), np.einsum("nkl,nl->nk", d, raw))
        else:
            et = np.einsum("nkl,nl->nk", linv, e[b.rows])
            if kind == "empirical-jackknife":
                eye = np.eye(et.shape[1])
                et = np.einsum("nkl,nl->nk", _sym_power(eye - xt @ c @ xt.transpose(0, 2, 1), -1.0), et)
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
