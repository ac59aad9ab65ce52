r"""Unstructured covariance (SAS ``TYPE=UN``, mmrm ``us``).

:math:`\Sigma_{ab} = \sigma_{ab}` for :math:`a \ge b`: :math:`T(T+1)/2` parameters named
``UN(a,b)`` and ordered row-wise through the lower triangle, as SAS prints them.
:math:`\Sigma` is linear in :math:`\phi`.  The optimiser works on the log-Cholesky
factor, :math:`\Sigma = LL^\top` with :math:`L_{aa} = e^{\theta_{aa}}`, which keeps
every iterate positive definite.
"""

from __future__ import annotations

import numpy as np

from .base import VisitStructure


class Unstructured(VisitStructure):
    name = "us"
    sas_type = "UN"
    description = "unstructured"
    heterogeneous = True
    linear = True
    min_positions = 1

    def __init__(self, n: int, grouped: bool = False):
        super().__init__(n, grouped)
        self._rows, self._cols = np.tril_indices(self.n)
        units = np.zeros((self._rows.size, self.n, self.n))
        k = np.arange(self._rows.size)
        units[k, self._rows, self._cols] = 1.0
        units[k, self._cols, self._rows] = 1.0
        self._units = units
        self._vech_index = np.zeros((self.n, self.n), dtype=int)
        self._vech_index[self._rows, self._cols] = k

    def param_names(self) -> list[str]:
        return [f"UN({a + 1},{b + 1})" for a, b in zip(self._rows, self._cols)]

    def maps(self) -> list:
        raise NotImplementedError("us maps theta to phi through the Cholesky factor")

    def full(self, phi, order):
        sig = np.zeros((self.n, self.n))
        sig[self._rows, self._cols] = phi
        sig[self._cols, self._rows] = phi
        return sig, (self._units if order >= 1 else None), None

    def _factor(self, theta) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`L` and :math:`v_k = \partial L_{r_kc_k}/\partial\theta_k` (see :meth:`theta_to_phi`)."""
        theta = np.asarray(theta, dtype=float)
        diag = self._rows == self._cols
        lower = np.zeros((self.n, self.n))
        lower[self._rows, self._cols] = np.where(diag, np.exp(np.where(diag, theta, 0.0)), theta)
        return lower, np.where(diag, lower[self._rows, self._cols], 1.0)

    def phi_jacobian(self, theta):
        r"""vech of :math:`LL^\top` and its Jacobian,
        :math:`\partial\Sigma_{ab}/\partial\theta_k = v_k(\delta_{ar_k}L_{bc_k} + \delta_{br_k}L_{ac_k})`."""
        r, c = self._rows, self._cols
        lower, v = self._factor(theta)
        sig = lower @ lower.T
        ds = np.zeros((r.size, self.n, self.n))
        ds[np.arange(r.size), r, :] = v[:, None] * lower[:, c].T
        ds = ds + ds.transpose(0, 2, 1)
        return sig[r, c], ds[:, r, c].T

    def curvature(self, theta, g):
        r""":math:`\sum_m g_m\partial^2\phi_m/\partial\theta_k\partial\theta_l` without the
        (p, p, p) Hessians: with :math:`W` symmetric, :math:`W_{ab} = g_{(a,b)}` off the
        diagonal and :math:`2g_{(a,a)}` on it, :math:`\sum_m g_m\phi_m = \tfrac12\mathrm{tr}(WLL^\top)`,
        so the sum is :math:`v_kv_lW_{r_kr_l}[c_k = c_l]` plus, for a diagonal :math:`k = l`,
        :math:`(g^\top J)_k`.  O(p^2) memory, p = T(T+1)/2."""
        r, c = self._rows, self._cols
        g = np.asarray(g, dtype=float)
        lower, v = self._factor(theta)
        w = np.zeros((self.n, self.n))
        w[r, c] = g
        w = w + w.T
        out = np.outer(v, v) * w[np.ix_(r, r)] * (c[:, None] == c[None, :])
        d = np.flatnonzero(r == c)
        out[d, d] += (g @ self.phi_jacobian(theta)[1])[d]
        return out

    def theta_to_phi(self, theta):
        r"""vech of :math:`LL^\top` with Jacobian and Hessians (p, p, p; small T only:
        the optimiser uses :meth:`curvature`).

        With :math:`\theta_k` the entry :math:`(r_k, c_k)` of :math:`L` (log of it on the
        diagonal) and :math:`v_k = \partial L_{r_kc_k}/\partial\theta_k`:
        :math:`\partial^2\Sigma/\partial\theta_k\partial\theta_l` has
        :math:`v_kv_l[c_k = c_l]` at :math:`(r_k, r_l)` and :math:`(r_l, r_k)`, plus
        :math:`\partial\Sigma/\partial\theta_k` when :math:`k = l` is a diagonal entry.
        """
        r, c = self._rows, self._cols
        phi, jac = self.phi_jacobian(theta)
        v = self._factor(theta)[1]
        hess = np.zeros((r.size, r.size, r.size))
        k, l = np.nonzero(c[:, None] == c[None, :])
        a, b = np.maximum(r[k], r[l]), np.minimum(r[k], r[l])
        np.add.at(hess, (self._vech_index[a, b], k, l), v[k] * v[l] * np.where(a == b, 2.0, 1.0))
        d = np.flatnonzero(r == c)
        hess[:, d, d] += jac[:, d]
        return phi, jac, hess

    def phi_to_theta(self, phi):
        sig = self.full(np.asarray(phi, dtype=float), 0)[0]
        lower = np.linalg.cholesky(sig)
        theta = lower[self._rows, self._cols].copy()
        diag = self._rows == self._cols
        theta[diag] = np.log(theta[diag])
        return theta

    def start_from_cov(self, cov):
        return cov[self._rows, self._cols]
