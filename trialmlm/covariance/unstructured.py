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

    def theta_to_phi(self, theta):
        r"""vech of :math:`LL^\top` with Jacobian and Hessians.

        With :math:`\theta_k` the entry :math:`(r_k, c_k)` of :math:`L` (log of it on the
        diagonal) and :math:`v_k = \partial L_{r_kc_k}/\partial\theta_k`:
        :math:`\partial\Sigma_{ab}/\partial\theta_k = v_k(\delta_{ar_k}L_{bc_k} + \delta_{br_k}L_{ac_k})`;
        :math:`\partial^2\Sigma/\partial\theta_k\partial\theta_l` has
        :math:`v_kv_l[c_k = c_l]` at :math:`(r_k, r_l)` and :math:`(r_l, r_k)`, plus
        :math:`\partial\Sigma/\partial\theta_k` when :math:`k = l` is a diagonal entry.
        """
        theta = np.asarray(theta, dtype=float)
        r, c = self._rows, self._cols
        diag = r == c
        lower = np.zeros((self.n, self.n))
        lower[r, c] = np.where(diag, np.exp(theta), theta)
        v = np.where(diag, lower[r, c], 1.0)
        sig = lower @ lower.T
        ds = np.zeros((theta.size, self.n, self.n))
        ds[np.arange(theta.size), r, :] = v[:, None] * lower[:, c].T
        ds = ds + ds.transpose(0, 2, 1)
        jac = ds[:, r, c].T
        hess = np.zeros((theta.size, theta.size, theta.size))
        k, l = np.nonzero(c[:, None] == c[None, :])
        a, b = np.maximum(r[k], r[l]), np.minimum(r[k], r[l])
        np.add.at(hess, (self._vech_index[a, b], k, l), v[k] * v[l] * np.where(a == b, 2.0, 1.0))
        d = np.flatnonzero(diag)
        hess[:, d, d] += jac[:, d]
        return sig[r, c], jac, hess

    def phi_to_theta(self, phi):
        sig = self.full(np.asarray(phi, dtype=float), 0)[0]
        lower = np.linalg.cholesky(sig)
        theta = lower[self._rows, self._cols].copy()
        diag = self._rows == self._cols
        theta[diag] = np.log(theta[diag])
        return theta

    def start_from_cov(self, cov):
        return cov[self._rows, self._cols]
