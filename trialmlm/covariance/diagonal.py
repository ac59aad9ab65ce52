r"""Diagonal covariances: independence (SAS ``TYPE=VC``) and ``TYPE=UN(1)``.

``vc``:  :math:`\Sigma = \sigma^2 I` — one parameter, ``Residual``: the null model of SAS's
"Null Model Likelihood Ratio Test".
``un1``: :math:`\Sigma = \mathrm{diag}(\sigma^2_1..\sigma^2_T)` — parameters ``UN(1,1)``,
``UN(2,2)``, … (the diagonal of ``TYPE=UN`` without the covariances, as SAS names them).
Both are linear in :math:`\phi`; variances are optimised on the log scale.
"""

from __future__ import annotations

import numpy as np

from .base import VARIANCE, VisitStructure


class VarianceComponents(VisitStructure):
    name = "vc"
    sas_type = "VC"
    description = "independence (variance components)"
    linear = True
    min_positions = 1

    def param_names(self):
        return ["Residual"]

    def maps(self):
        return [VARIANCE]

    def full(self, phi, order):
        eye = np.eye(self.n)
        return phi[0] * eye, (eye[None] if order >= 1 else None), None

    def start_from_cov(self, cov):
        return np.array([np.mean(np.diag(cov))])


class HeterogeneousDiagonal(VisitStructure):
    name = "un1"
    sas_type = "UN(1)"
    description = "heterogeneous diagonal"
    heterogeneous = True
    linear = True
    min_positions = 1

    def param_names(self):
        return [f"UN({a + 1},{a + 1})" for a in range(self.n)]

    def maps(self):
        return [VARIANCE] * self.n

    def full(self, phi, order):
        r""":math:`\partial\Sigma/\partial\sigma^2_a = e_ae_a^\top`."""
        units = None
        if order >= 1:
            units = np.zeros((self.n, self.n, self.n))
            units[np.arange(self.n), np.arange(self.n), np.arange(self.n)] = 1.0
        return np.diag(phi), units, None

    def start_from_cov(self, cov):
        return np.diag(cov).copy()
