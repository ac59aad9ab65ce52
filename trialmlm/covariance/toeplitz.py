r"""Toeplitz (banded by lag; SAS ``TYPE=TOEP`` and ``TYPE=TOEPH``).

``toep``:  :math:`\Sigma_{ab} = \sigma_{|a-b|}` — parameters ``TOEP(2)..TOEP(T)``
(covariances at lags 1..T-1) and ``Residual`` (:math:`\sigma_0`); linear.  Internally
:math:`\sigma_j = \sigma_0\rho_j` with :math:`|\rho_j| < 1`.
``toeph``: :math:`\Sigma_{ab} = \sigma_a\sigma_b\rho_{|a-b|}` — ``Var(1)..Var(T)`` and
``TOEPH(1)..TOEPH(T-1)``.
"""

from __future__ import annotations

import numpy as np

from .base import CORRELATION, VARIANCE, VisitStructure, heterogeneous, mean_correlation


class _ToeplitzBase(VisitStructure):
    def _lag_indicators(self):
        idx = np.arange(self.n)
        lag = np.abs(idx[:, None] - idx[None, :])
        return np.stack([(lag == j).astype(float) for j in range(self.n)])

    def _rho_start(self, cov):
        return np.array([np.clip(mean_correlation(cov, j), -0.5, 0.8) for j in range(1, self.n)])


class Toeplitz(_ToeplitzBase):
    name = "toep"
    sas_type = "TOEP"
    description = "Toeplitz"
    linear = True

    def param_names(self):
        return [f"TOEP({j + 1})" for j in range(1, self.n)] + ["Residual"]

    def maps(self):
        return [CORRELATION] * (self.n - 1) + [VARIANCE]

    def natural_to_phi(self, psi):
        rho, v = psi[:-1], psi[-1]
        r = rho.size
        jac = np.zeros((r + 1, r + 1))
        jac[np.arange(r), np.arange(r)] = v
        jac[:r, r] = rho
        jac[r, r] = 1.0
        hess = np.zeros((r + 1, r + 1, r + 1))
        hess[np.arange(r), np.arange(r), r] = 1.0
        hess[np.arange(r), r, np.arange(r)] = 1.0
        return np.append(v * rho, v), jac, hess

    def phi_to_natural(self, phi):
        return np.append(phi[:-1] / phi[-1], phi[-1])

    def full(self, phi, order):
        ind = self._lag_indicators()
        sig = np.tensordot(np.append(phi[-1], phi[:-1]), ind, axes=1)
        d1 = np.concatenate([ind[1:], ind[:1]]) if order >= 1 else None
        return sig, d1, None

    def start_from_cov(self, cov):
        v = float(np.mean(np.diag(cov)))
        return np.append(v * self._rho_start(cov), v)


class HeterogeneousToeplitz(_ToeplitzBase):
    name = "toeph"
    sas_type = "TOEPH"
    description = "heterogeneous Toeplitz"
    heterogeneous = True

    def param_names(self):
        return [f"Var({a + 1})" for a in range(self.n)] + [f"TOEPH({j})" for j in range(1, self.n)]

    def maps(self):
        return [VARIANCE] * self.n + [CORRELATION] * (self.n - 1)

    def full(self, phi, order):
        ind = self._lag_indicators()
        corr = ind[0] + np.tensordot(phi[self.n:], ind[1:], axes=1)
        return heterogeneous(phi[: self.n], corr, ind[1:], None, order)

    def start_from_cov(self, cov):
        return np.concatenate([np.diag(cov), self._rho_start(cov)])
