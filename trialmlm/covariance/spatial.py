r"""Spatial exponential covariance (SAS ``TYPE=SP(POW)(c)`` / ``SP(EXP)(c)``; mmrm ``sp_exp``).

:math:`\Sigma_{ab} = \sigma^2\rho^{d_{ab}}` where :math:`d_{ab}` is the Euclidean distance
between the coordinates of observations *a* and *b* of a subject (e.g. their times).
Parameters ``SP(POW)`` (:math:`\rho \in (0, 1)`) and ``Residual`` (:math:`\sigma^2`).
SAS's ``SP(EXP)`` range is :math:`-1/\log\rho`.
"""

from __future__ import annotations

import numpy as np

from .base import VARIANCE, CovarianceStructure, homogeneous
from .transforms import Bounded


def power_correlation(rho: float, dist: np.ndarray):
    r""":math:`\rho^d`, :math:`d\rho^{d-1}` and :math:`d(d-1)\rho^{d-2}`."""
    corr = np.power(rho, dist)
    d1 = np.where(dist > 0, dist * np.power(rho, dist - 1.0), 0.0)
    d2 = np.where(dist > 0, dist * (dist - 1.0) * np.power(rho, dist - 2.0), 0.0)
    return corr, d1, d2


class SpatialExponential(CovarianceStructure):
    name = "sp_exp"
    sas_type = "SP(POW)"
    description = "spatial exponential (power of distance)"
    spatial = True

    def param_names(self):
        return ["SP(POW)", "Residual"]

    def maps(self):
        return [Bounded(0.0, 1.0), VARIANCE]

    def blocks(self, phi, geometry, order):
        corr, d1, d2 = power_correlation(float(phi[0]), geometry)
        return homogeneous(float(phi[1]), corr, d1[None], d2[None, None], order)

    def matrix_at(self, phi, coords: np.ndarray) -> np.ndarray:
        """Covariance between observations at ``coords`` (n_points, n_coordinates)."""
        dist = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))
        return self.blocks(phi, dist[None], 0)[0][0]

    def start(self, parts):
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
            return np.array([0.5, var])
        corr = float(np.clip(off_sum / off_n / var, 0.05, 0.9))
        mean_dist = max(dist_sum / off_n, 1e-8)
        return np.array([float(np.clip(corr ** (1.0 / mean_dist), 0.01, 0.99)), var])
