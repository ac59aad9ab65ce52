r"""Spatial covariance structures (SAS ``TYPE=SP(EXP)(c)``, ``SP(POW)(c)``, ``SP(GAU)(c)``,
``SP(SPH)(c)``).

:math:`\Sigma_{ab} = \sigma^2 f(d_{ab}; p)` where :math:`d_{ab}` is the Euclidean distance
between the coordinates of observations *a* and *b* of a subject (e.g. their times) and
:math:`p` is the one correlation parameter, in SAS's parameterisation and naming
(SAS/STAT User's Guide, PROC MIXED, "Covariance Structure Examples"):

* ``sp_exp``, SAS SP(EXP): :math:`f = \exp(-d/\theta)`, range :math:`\theta > 0`;
* ``sp_pow``, SAS SP(POW): :math:`f = \rho^{d}`, :math:`\rho \in (0, 1)`;
* ``sp_gau``, SAS SP(GAU): :math:`f = \exp(-d^2/\theta^2)`, :math:`\theta > 0`;
* ``sp_sph``, SAS SP(SPH): :math:`f = 1 - \tfrac32 d/\theta + \tfrac12 (d/\theta)^3` for
  :math:`d \le \theta`, 0 beyond, :math:`\theta > 0`.

Parameters ``(p, Residual)``, :math:`p` named as SAS prints it (``SP(EXP)`` ...).
``sp_exp`` and ``sp_pow`` are the same model (:math:`\rho = e^{-1/\theta}`), but
Kenward-Roger's second-derivative term depends on the parameterisation, so each follows
SAS's.  The optimiser works on :math:`\log\theta` (logistic :math:`\rho`) and
:math:`\log\sigma^2`.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from .base import VARIANCE, CovarianceStructure, homogeneous
from .transforms import Bounded, Positive

Correlation = tuple[np.ndarray, np.ndarray, np.ndarray]


class SpatialStructure(CovarianceStructure):
    r""":math:`\sigma^2 f(d; p)`: one correlation parameter ``p`` and ``Residual``."""

    spatial = True
    parameter_map = Positive()

    def param_names(self):
        return [self.sas_type, "Residual"]

    def maps(self):
        return [self.parameter_map, VARIANCE]

    @abstractmethod
    def correlation(self, p: float, dist: np.ndarray) -> Correlation:
        r""":math:`f(d; p)`, :math:`\partial f/\partial p` and :math:`\partial^2 f/\partial p^2`."""

    @abstractmethod
    def parameter_for(self, corr: float, dist: float) -> float:
        """The ``p`` with ``f(dist; p) = corr`` (starting values), ``0 < corr < 1``."""

    def blocks(self, phi, geometry, order):
        corr, d1, d2 = self.correlation(float(phi[0]), geometry)
        return homogeneous(float(phi[1]), corr, d1[None], d2[None, None], order)

    def matrix_at(self, phi, coords: np.ndarray) -> np.ndarray:
        """Covariance between observations at ``coords`` (n_points, n_coordinates)."""
        dist = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))
        return self.blocks(phi, dist[None], 0)[0][0]

    def start(self, parts):
        """Residual variance from the diagonal; ``p`` matching the mean off-diagonal
        correlation (clipped to [0.05, 0.9]) at the mean distance between observations."""
        diag_sum = diag_n = off_sum = off_n = dist_sum = 0.0
        for dist, c, m in parts:
            k = dist.shape[1]
            off = ~np.eye(k, dtype=bool)
            diag_sum += np.trace(c, axis1=1, axis2=2).sum()
            diag_n += m.sum() * k
            off_sum += c[:, off].sum()
            off_n += m.sum() * (k * k - k)
            dist_sum += (dist[:, off].sum(axis=1) * m).sum()
        var = diag_sum / diag_n
        if off_n == 0:
            return np.array([self.parameter_for(0.5, 1.0), var])
        corr = float(np.clip(off_sum / off_n / var, 0.05, 0.9))
        mean_dist = max(dist_sum / off_n, 1e-8)
        return np.array([self.parameter_for(corr, mean_dist), var])


class SpatialExponential(SpatialStructure):
    r"""SAS SP(EXP): :math:`\exp(-d/\theta)`, derivatives :math:`f d/\theta^2` and
    :math:`f (d^2/\theta^4 - 2d/\theta^3)`."""

    name = "sp_exp"
    sas_type = "SP(EXP)"
    description = "spatial exponential"

    def correlation(self, p, dist):
        f = np.exp(-dist / p)
        return f, f * dist / p**2, f * (dist**2 / p**4 - 2.0 * dist / p**3)

    def parameter_for(self, corr, dist):
        return float(-dist / np.log(corr))


class SpatialPower(SpatialStructure):
    r"""SAS SP(POW): :math:`\rho^d`, derivatives :math:`d\rho^{d-1}` and :math:`d(d-1)\rho^{d-2}`."""

    name = "sp_pow"
    sas_type = "SP(POW)"
    description = "spatial power"
    parameter_map = Bounded(0.0, 1.0)

    def correlation(self, p, dist):
        f = np.power(p, dist)
        d1 = np.where(dist > 0, dist * np.power(p, dist - 1.0), 0.0)
        d2 = np.where(dist > 0, dist * (dist - 1.0) * np.power(p, dist - 2.0), 0.0)
        return f, d1, d2

    def parameter_for(self, corr, dist):
        return float(np.clip(corr ** (1.0 / dist), 0.01, 0.99))


class SpatialGaussian(SpatialStructure):
    r"""SAS SP(GAU): :math:`\exp(-d^2/\theta^2)`, derivatives :math:`2f d^2/\theta^3` and
    :math:`f (4d^4/\theta^6 - 6d^2/\theta^4)`."""

    name = "sp_gau"
    sas_type = "SP(GAU)"
    description = "spatial Gaussian"

    def correlation(self, p, dist):
        q = dist**2 / p**2
        f = np.exp(-q)
        return f, 2.0 * f * q / p, f * (4.0 * q**2 - 6.0 * q) / p**2

    def parameter_for(self, corr, dist):
        return float(dist / np.sqrt(-np.log(corr)))


class SpatialSpherical(SpatialStructure):
    r"""SAS SP(SPH): with :math:`x = d/\theta`, :math:`1 - \tfrac32 x + \tfrac12 x^3` for
    :math:`x \le 1` (else 0); derivatives :math:`\tfrac32 x(1 - x^2)/\theta` and
    :math:`3x(2x^2 - 1)/\theta^2`."""

    name = "sp_sph"
    sas_type = "SP(SPH)"
    description = "spatial spherical"

    def correlation(self, p, dist):
        x = dist / p
        inside = x <= 1.0
        f = np.where(inside, 1.0 - 1.5 * x + 0.5 * x**3, 0.0)
        d1 = np.where(inside, 1.5 * x * (1.0 - x**2) / p, 0.0)
        d2 = np.where(inside, 3.0 * x * (2.0 * x**2 - 1.0) / p**2, 0.0)
        return f, d1, d2

    def parameter_for(self, corr, dist):
        roots = np.roots([0.5, 0.0, -1.5, 1.0 - corr])  # f is decreasing on [0, 1]
        x = next(r.real for r in roots if abs(r.imag) < 1e-12 and 0.0 < r.real < 1.0)
        return float(dist / x)


SPATIAL = (SpatialExponential, SpatialPower, SpatialGaussian, SpatialSpherical)
