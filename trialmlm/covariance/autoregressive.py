r"""First-order autoregressive (SAS ``TYPE=AR(1)`` and ``TYPE=ARH(1)``).

``ar1``:  :math:`\Sigma_{ab} = \sigma^2\rho^{|a-b|}` — parameters ``AR(1)``, ``Residual``
(with ``GROUP=`` SAS prints ``Variance`` then ``AR(1)``).
``ar1h``: :math:`\Sigma_{ab} = \sigma_a\sigma_b\rho^{|a-b|}` — ``Var(1)..Var(T)``, ``ARH(1)``.
:math:`|a-b|` counts visits (their level order), not time.
"""

from __future__ import annotations

import numpy as np

from .base import (
    CORRELATION,
    VARIANCE,
    VisitStructure,
    heterogeneous,
    homogeneous,
    mean_correlation,
    variance_first,
)


def ar1_correlation(rho: float, lag: np.ndarray):
    r""":math:`R = \rho^{L}` with its first and second derivative in :math:`\rho` (lags ``L``)."""
    rho = float(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.power(rho, lag)
        d1 = np.where(lag >= 1, lag * np.power(rho, np.maximum(lag - 1, 0)), 0.0)
        d2 = np.where(lag >= 2, lag * (lag - 1) * np.power(rho, np.maximum(lag - 2, 0)), 0.0)
    return corr, d1, d2


class _AR1Base(VisitStructure):
    def _lags(self):
        idx = np.arange(self.n)
        return np.abs(idx[:, None] - idx[None, :]).astype(float)

    def _rho_start(self, cov):
        return float(np.clip(mean_correlation(cov, 1), -0.9, 0.9)) if self.n > 1 else 0.0


class AR1(_AR1Base):
    name = "ar1"
    sas_type = "AR(1)"
    description = "first-order autoregressive"

    def param_names(self):
        return ["Variance", "AR(1)"] if self.grouped else ["AR(1)", "Residual"]

    def maps(self):
        return variance_first(self.grouped, [CORRELATION, VARIANCE])

    def full(self, phi, order):
        rho, var = variance_first(self.grouped, np.asarray(phi))
        corr, d1, d2 = ar1_correlation(rho, self._lags())
        sig, s1, s2 = homogeneous(var, corr, d1[None], d2[None, None], order)
        if self.grouped:  # derivatives in the parameters' order
            s1 = None if s1 is None else s1[::-1]
            s2 = None if s2 is None else s2[::-1, ::-1]
        return sig, s1, s2

    def start_from_cov(self, cov):
        return variance_first(self.grouped, np.array([self._rho_start(cov), np.mean(np.diag(cov))]))


class HeterogeneousAR1(_AR1Base):
    name = "ar1h"
    sas_type = "ARH(1)"
    description = "heterogeneous first-order autoregressive"
    heterogeneous = True

    def param_names(self):
        return [f"Var({a + 1})" for a in range(self.n)] + ["ARH(1)"]

    def maps(self):
        return [VARIANCE] * self.n + [CORRELATION]

    def full(self, phi, order):
        corr, d1, d2 = ar1_correlation(phi[-1], self._lags())
        return heterogeneous(phi[:-1], corr, d1[None], d2[None, None], order)

    def start_from_cov(self, cov):
        return np.append(np.diag(cov), self._rho_start(cov))
