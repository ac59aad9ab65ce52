r"""First-order antedependence (SAS ``TYPE=ANTE(1)``; mmrm ``ad`` / ``adh``).

:math:`R_{ab} = \prod_{c=\min(a,b)}^{\max(a,b)-1}\rho_c`.

``ad``:  :math:`\Sigma = \sigma^2 R` — parameters ``Rho(1)..Rho(T-1)``, ``Residual``
(homogeneous variant, as in R mmrm; SAS has only the heterogeneous one).
``adh``: :math:`\Sigma_{ab} = \sigma_a\sigma_b R_{ab}` — SAS ``ANTE(1)``: ``Var(1)..Var(T)``,
``Rho(1)..Rho(T-1)``.
"""

from __future__ import annotations

import numpy as np

from .base import CORRELATION, VARIANCE, VisitStructure, heterogeneous, homogeneous


def antedependence_correlation(rho: np.ndarray, n: int, order: int):
    """R and its derivatives in the adjacent-visit correlations ``rho`` (length n-1)."""
    idx = np.arange(n)
    lo, hi = np.minimum.outer(idx, idx), np.maximum.outer(idx, idx)
    inside = np.stack([(lo <= c) & (c < hi) for c in range(n - 1)])  # (n-1, n, n)
    factors = np.where(inside, rho[:, None, None], 1.0)
    corr = np.prod(factors, axis=0) if n > 1 else np.ones((1, 1))
    if order == 0:
        return corr, None, None
    r = n - 1
    d1 = np.zeros((r, n, n))
    d2 = np.zeros((r, r, n, n))
    for j in range(r):
        rest = np.prod(np.delete(factors, j, axis=0), axis=0)
        d1[j] = np.where(inside[j], rest, 0.0)
        for k in range(j + 1, r):
            rest2 = np.prod(np.delete(factors, [j, k], axis=0), axis=0)
            d2[j, k] = d2[k, j] = np.where(inside[j] & inside[k], rest2, 0.0)
    return corr, d1, d2


class _AnteBase(VisitStructure):
    def _rho_start(self, cov):
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
        return np.clip(np.diagonal(corr, 1), -0.9, 0.9)


class Antedependence(_AnteBase):
    name = "ad"
    sas_type = "ANTE(1), homogeneous"
    description = "first-order antedependence (homogeneous variance)"

    def param_names(self):
        return [f"Rho({j})" for j in range(1, self.n)] + ["Residual"]

    def maps(self):
        return [CORRELATION] * (self.n - 1) + [VARIANCE]

    def full(self, phi, order):
        corr, d1, d2 = antedependence_correlation(phi[:-1], self.n, order)
        return homogeneous(phi[-1], corr, d1, d2, order)

    def start_from_cov(self, cov):
        return np.append(self._rho_start(cov), np.mean(np.diag(cov)))


class HeterogeneousAntedependence(_AnteBase):
    name = "adh"
    sas_type = "ANTE(1)"
    description = "first-order antedependence"
    heterogeneous = True

    def param_names(self):
        return [f"Var({a + 1})" for a in range(self.n)] + [f"Rho({j})" for j in range(1, self.n)]

    def maps(self):
        return [VARIANCE] * self.n + [CORRELATION] * (self.n - 1)

    def full(self, phi, order):
        corr, d1, d2 = antedependence_correlation(phi[self.n:], self.n, order)
        return heterogeneous(phi[: self.n], corr, d1, d2, order)

    def start_from_cov(self, cov):
        return np.concatenate([np.diag(cov), self._rho_start(cov)])

