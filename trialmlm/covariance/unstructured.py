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

    def __init__(self, n: int):
        super().__init__(n)
        self._rows, self._cols = np.tril_indices(self.n)
        units = np.zeros((self._rows.size, self.n, self.n))
        k = np.arange(self._rows.size)
        units[k, self._rows, self._cols] = 1.0
        units[k, self._cols, self._rows] = 1.0
        self._units = units

    def param_names(self) -> list[str]:
        return [f"UN({a + 1},{b + 1})" for a, b in zip(self._rows, self._cols)]

    def maps(self) -> list:
        raise NotImplementedError("us maps theta to phi through the Cholesky factor")

    def full(self, phi, order):
        sig = np.zeros((self.n, self.n))
        sig[self._rows, self._cols] = phi
        sig[self._cols, self._rows] = phi
        return sig, (self._units if order >= 1 else None), None

    def _cholesky(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diag = self._rows == self._cols
        lower = np.zeros((self.n, self.n))
        lower[self._rows, self._cols] = np.where(diag, np.exp(theta), theta)
        dl = np.zeros((theta.size, self.n, self.n))
        dl[np.arange(theta.size), self._rows, self._cols] = np.where(diag, lower[self._rows, self._cols], 1.0)
        return lower, dl

    def theta_to_phi(self, theta):
        r"""vech of :math:`LL^\top` with Jacobian and Hessians.

        :math:`\partial\Sigma/\partial\theta_k = D_k L^\top + L D_k^\top` and
        :math:`\partial^2\Sigma/\partial\theta_k\partial\theta_l = D_k D_l^\top + D_l D_k^\top
        + \delta_{kl}[\text{diagonal } k](D_k L^\top + L D_k^\top)`, with
        :math:`D_k = \partial L/\partial\theta_k`.
        """
        lower, dl = self._cholesky(np.asarray(theta, dtype=float))
        sig = lower @ lower.T
        ds = np.einsum("kac,bc->kab", dl, lower)
        ds = ds + ds.transpose(0, 2, 1)
        d2 = np.einsum("kac,lbc->klab", dl, dl)
        d2 = d2 + d2.transpose(0, 1, 3, 2)
        diag = np.flatnonzero(self._rows == self._cols)
        d2[diag, diag] += ds[diag]
        r, c = self._rows, self._cols
        return sig[r, c], ds[:, r, c].T, d2[:, :, r, c].transpose(2, 0, 1)

    def phi_to_theta(self, phi):
        sig = self.full(np.asarray(phi, dtype=float), 0)[0]
        lower = np.linalg.cholesky(sig)
        theta = lower[self._rows, self._cols].copy()
        diag = self._rows == self._cols
        theta[diag] = np.log(theta[diag])
        return theta

    def start_from_cov(self, cov):
        return cov[self._rows, self._cols]
