r"""Compound symmetry (SAS ``TYPE=CS`` and ``TYPE=CSH``).

``cs``:  :math:`\Sigma = \sigma^2 I + \sigma_1 J` — parameters ``CS`` (:math:`\sigma_1`,
the common covariance, may be negative) and ``Residual`` (:math:`\sigma^2`); linear.
With ``GROUP=`` SAS prints them as ``Variance`` (:math:`\sigma^2`) then ``CS``.
Internally :math:`v = \sigma^2 + \sigma_1 > 0` and
:math:`\rho = \sigma_1 / v \in (-1/(T-1), 1)`, which keeps :math:`\Sigma` positive definite.

``csh``: :math:`\Sigma_{ab} = \sigma_a\sigma_b[\rho + (1-\rho)\delta_{ab}]` — parameters
``Var(1)..Var(T)`` and ``CSH`` (:math:`\rho`).
"""

from __future__ import annotations

import numpy as np

from .base import VARIANCE, VisitStructure, heterogeneous, mean_correlation, variance_first
from .transforms import Bounded


class _CompoundSymmetryBase(VisitStructure):
    def _rho_map(self) -> Bounded:
        return Bounded(-1.0 / max(self.n - 1, 1), 1.0)

    def _rho_start(self, cov) -> float:
        lo = -1.0 / max(self.n - 1, 1)
        return float(np.clip(mean_correlation(cov), 0.8 * lo, 0.9))


class CompoundSymmetry(_CompoundSymmetryBase):
    name = "cs"
    sas_type = "CS"
    description = "compound symmetry"
    linear = True

    def _order(self, pair):
        """(CS, Residual) in SAS's print order: reversed under GROUP=."""
        return variance_first(self.grouped, pair)

    def param_names(self):
        return ["Variance", "CS"] if self.grouped else ["CS", "Residual"]

    def maps(self):
        return [self._rho_map(), VARIANCE]

    def natural_to_phi(self, psi):
        rho, v = psi
        jac = np.array([[v, rho], [-v, 1.0 - rho]])
        hess = np.array([[[0.0, 1.0], [1.0, 0.0]], [[0.0, -1.0], [-1.0, 0.0]]])
        return self._order(np.array([v * rho, v * (1.0 - rho)])), self._order(jac), self._order(hess)

    def phi_to_natural(self, phi):
        cs, res = self._order(np.asarray(phi))
        return np.array([cs / (cs + res), cs + res])

    def full(self, phi, order):
        cs, res = self._order(np.asarray(phi))
        eye, ones = np.eye(self.n), np.ones((self.n, self.n))
        return res * eye + cs * ones, (self._order(np.stack([ones, eye])) if order >= 1 else None), None

    def start_from_cov(self, cov):
        v = float(np.mean(np.diag(cov)))
        rho = self._rho_start(cov)
        return self._order(np.array([v * rho, v * (1 - rho)]))


class HeterogeneousCompoundSymmetry(_CompoundSymmetryBase):
    name = "csh"
    sas_type = "CSH"
    description = "heterogeneous compound symmetry"
    heterogeneous = True

    def param_names(self):
        return [f"Var({a + 1})" for a in range(self.n)] + ["CSH"]

    def maps(self):
        return [VARIANCE] * self.n + [self._rho_map()]

    def full(self, phi, order):
        rho = phi[-1]
        eye, ones = np.eye(self.n), np.ones((self.n, self.n))
        corr = rho * ones + (1 - rho) * eye
        return heterogeneous(phi[:-1], corr, (ones - eye)[None], None, order)

    def start_from_cov(self, cov):
        return np.append(np.diag(cov), self._rho_start(cov))
