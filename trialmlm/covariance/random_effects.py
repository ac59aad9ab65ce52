r"""Random effects combined with a residual structure (SAS RANDOM + REPEATED).

For subject *i* with random-effects design :math:`Z_i` (rows of ``EXPR`` in
``(EXPR | SUBJECT)``):

.. math::  \Sigma_i = Z_i G Z_i^\top + R_i

:math:`G` is unstructured — SAS ``RANDOM ... / TYPE=UN`` with parameters ``UN(1,1)``,
``UN(2,1)``, ``UN(2,2)`` … over the random terms — or, for ``(EXPR || SUBJECT)``,
diagonal (SAS ``TYPE=VC``, parameters named after the terms, e.g. ``Intercept``,
``TIME``).  :math:`R_i` is the residual structure: :math:`\sigma^2 I` (``Residual``) by
default, or any structure of :data:`trialmlm.STRUCTURES`.  :math:`\phi` = G's parameters
followed by R's; :math:`\Sigma` is linear in G's, so second derivatives come from R only.
The geometry of a pattern is the pair (R's geometry, :math:`Z_P` of shape (m, k, r)).
"""

from __future__ import annotations

import numpy as np

from .base import CovarianceStructure
from .diagonal import VarianceComponents
from .transforms import ThetaMap
from .unstructured import Unstructured


class Independent(VarianceComponents):
    r""":math:`R = \sigma^2 I` (SAS's default residual, parameter ``Residual``) of a model
    without a covariance term: positions are the order of a subject's rows, not visits."""

    name = "independent"
    description = "independent residuals"

    def start(self, parts):
        total = sum(float(np.trace(c, axis1=1, axis2=2).sum()) for _, c, _ in parts)
        count = sum(float(m.sum()) * g.shape[1] for g, _, m in parts)
        return np.array([total / count])


class RandomCovariance(ThetaMap):
    r""":math:`G` (r x r), the covariance of the random effects of one grouping factor.

    Unstructured (``(EXPR | FACTOR)``, SAS ``TYPE=UN``): :math:`r(r+1)/2` parameters
    ``UN(a,b)`` (one term: named after it, e.g. ``Intercept``), optimised on the
    log-Cholesky scale of :class:`Unstructured`.  Diagonal
    (``(EXPR || FACTOR)``, SAS ``TYPE=VC``): :math:`r` variances named after the terms,
    optimised on the log scale.  :math:`G` is linear in its parameters.
    """

    def __init__(self, terms: tuple[str, ...], diagonal: bool):
        self.terms = tuple(terms)
        self.n = len(self.terms)
        self.diagonal = diagonal
        self.un = None if diagonal else Unstructured(self.n)
        self.n_params = self.n if diagonal else self.n * (self.n + 1) // 2

    def param_names(self) -> list[str]:
        """SAS's names; one random term (``(1 | SCHOOL)``) is named after it (``Intercept``)
        as SAS prints ``RANDOM INTERCEPT / SUBJECT=SCHOOL``, where VC and UN coincide."""
        return list(self.terms) if self.diagonal or self.n == 1 else self.un.param_names()

    def variance_mask(self) -> np.ndarray:
        return np.ones(self.n, dtype=bool) if self.diagonal else self.un.variance_mask()

    def matrix(self, phi: np.ndarray) -> np.ndarray:
        return np.diag(phi) if self.diagonal else self.un.matrix(phi)

    def units(self) -> np.ndarray:
        r""":math:`\partial G/\partial\phi_g` (n_params, r, r), constant."""
        if self.diagonal:
            units = np.zeros((self.n, self.n, self.n))
            units[np.arange(self.n), np.arange(self.n), np.arange(self.n)] = 1.0
            return units
        return self.un.full(np.zeros(self.n_params), 1)[1]

    def theta_to_phi(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        if not self.diagonal:
            return self.un.theta_to_phi(theta)
        k = self.n
        d1 = np.exp(theta)
        hess = np.zeros((k, k, k))
        hess[np.arange(k), np.arange(k), np.arange(k)] = d1
        return d1, np.diag(d1), hess

    def phi_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return super().phi_jacobian(theta) if self.diagonal else self.un.phi_jacobian(theta)

    def curvature(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        return super().curvature(theta, g) if self.diagonal else self.un.curvature(theta, g)

    def phi_to_theta(self, phi: np.ndarray) -> np.ndarray:
        phi = np.asarray(phi, dtype=float)
        return np.log(phi) if self.diagonal else self.un.phi_to_theta(phi)

    def positive_definite(self, g: np.ndarray, scale: float) -> np.ndarray:
        """Parameters of ``g`` with its eigenvalues (variances if diagonal) floored at
        1e-3 of ``scale`` (starting values)."""
        if self.diagonal:
            return np.maximum(np.diag(g), 1e-3 * scale)
        w, v = np.linalg.eigh(g)
        w = np.maximum(w, 1e-3 * max(w.max(), scale * 1e-3))
        return ((v * w) @ v.T)[np.tril_indices(self.n)]


class RandomEffects(CovarianceStructure):
    """:math:`Z G Z^\\top + R` for ``r`` random terms and a residual structure.

    ``g``: a :class:`RandomCovariance` to share with the structures of the other groups
    (one G, a residual structure per group; see :mod:`trialmlm.engine.parameters`); by default
    a new one.
    """

    name = "random"
    sas_type = "RANDOM"
    description = "random effects"
    min_positions = 1

    def __init__(self, residual: CovarianceStructure, terms: tuple[str, ...], diagonal: bool,
                 g: RandomCovariance | None = None):
        super().__init__(len(terms), residual.grouped)
        self.residual = residual
        self.terms = tuple(terms)
        self.diagonal = diagonal
        self.g = RandomCovariance(self.terms, diagonal) if g is None else g
        self.n_g = self.g.n_params
        self.linear = residual.linear
        self.spatial = residual.spatial

    def param_names(self):
        return self.g.param_names() + self.residual.param_names()

    def maps(self):
        raise NotImplementedError("RandomEffects composes the maps of G and R in theta_to_phi")

    def variance_mask(self) -> np.ndarray:
        return np.concatenate([self.g.variance_mask(), self.residual.variance_mask()])

    def g_matrix(self, phi: np.ndarray) -> np.ndarray:
        """:math:`G` (r x r) from the first parameters."""
        return self.g.matrix(phi[: self.n_g])

    def _g_derivatives(self) -> np.ndarray:
        return self.g.units()

    def _z_derivatives(self, z: np.ndarray) -> np.ndarray:
        r""":math:`Z\,\partial G/\partial\phi_g\,Z^\top` (n_g, m, k, k); independent of
        :math:`\phi`, so computed once per pattern batch and kept."""
        return self._cached(("zg", id(z)), z, lambda: np.einsum("mka,gab,mlb->gmkl", z,
                                                                 self._g_derivatives(), z, optimize=True))

    def _cached(self, key, owner: np.ndarray, make):
        """Per-batch arrays that depend only on the batch's Z (``owner``), kept with it."""
        cache = self.__dict__.setdefault("_zcache", {})
        hit = cache.get(key)
        if hit is None or hit[0] is not owner:
            hit = cache[key] = (owner, make())
        return hit[1]

    def theta_to_phi(self, theta):
        theta = np.asarray(theta, dtype=float)
        n, k = theta.size, self.n_g
        phi_g, jac_g, hess_g = self.g.theta_to_phi(theta[:k])
        phi_r, jac_r, hess_r = self.residual.theta_to_phi(theta[k:])
        jac = np.zeros((n, n))
        hess = np.zeros((n, n, n))
        jac[:k, :k], jac[k:, k:] = jac_g, jac_r
        hess[:k, :k, :k], hess[k:, k:, k:] = hess_g, hess_r
        return np.concatenate([phi_g, phi_r]), jac, hess

    def phi_jacobian(self, theta):
        theta = np.asarray(theta, dtype=float)
        k = self.n_g
        phi_g, jac_g = self.g.phi_jacobian(theta[:k])
        phi_r, jac_r = self.residual.phi_jacobian(theta[k:])
        jac = np.zeros((theta.size, theta.size))
        jac[:k, :k], jac[k:, k:] = jac_g, jac_r
        return np.concatenate([phi_g, phi_r]), jac

    def curvature(self, theta, g):
        theta, k = np.asarray(theta, dtype=float), self.n_g
        out = np.zeros((theta.size, theta.size))
        out[:k, :k] = self.g.curvature(theta[:k], g[:k])
        out[k:, k:] = self.residual.curvature(theta[k:], g[k:])
        return out

    def phi_to_theta(self, phi):
        phi = np.asarray(phi, dtype=float)
        k = self.n_g
        return np.concatenate([self.g.phi_to_theta(phi[:k]), self.residual.phi_to_theta(phi[k:])])

    def blocks(self, phi, geometry, order):
        geo_r, z = geometry
        k = self.n_g
        sig_r, d1_r, d2_r = self.residual.blocks(phi[k:], geo_r, order)
        sig = z @ self.g_matrix(phi) @ z.transpose(0, 2, 1) + sig_r
        if order == 0:
            return sig, None, None
        if self.residual.linear:  # dSigma/dphi does not depend on phi: build it once per batch
            d1 = self._cached(("d1", id(z)), z, lambda: np.concatenate([self._z_derivatives(z), d1_r]))
        else:
            d1 = np.concatenate([self._z_derivatives(z), d1_r], axis=0)
        if order == 1 or d2_r is None:
            return sig, d1, None
        n = self.n_params
        d2 = np.zeros((n, n) + sig.shape)
        d2[k:, k:] = d2_r
        return sig, d1, d2

    def start(self, parts):
        r"""Moment start: least squares of the OLS-residual cross-products on the model, each
        subject one observation,
        :math:`\min \sum_P m_P\lVert C_P/m_P - (Z_PGZ_P^\top + \sigma^2I)\rVert_F^2` (equal,
        up to a constant, to :math:`\sum_s \lVert r_sr_s^\top - Z_sGZ_s^\top - \sigma^2I\rVert_F^2`,
        so the same for any grouping of the subjects into patterns, e.g. after the rows of a
        subject are reordered), linear in (G, :math:`\sigma^2`); G is then made positive
        definite.  R starts from its own moments (with :math:`\sigma^2` for independent
        residuals)."""
        units = self._g_derivatives()
        rows, target = [], []
        for geo, c, m in parts:
            z = geo[1]
            k = c.shape[1]
            w = np.sqrt(m)[:, None, None, None]
            feats = np.einsum("mka,gab,mlb->mklg", z, units, z) * w
            eye = np.broadcast_to(np.eye(k)[None, :, :, None] * w, c.shape + (1,))
            rows.append(np.concatenate([feats, eye], axis=3).reshape(-1, self.n_g + 1))
            target.append((c / w[..., 0]).reshape(-1))
        coef = np.linalg.lstsq(np.vstack(rows), np.concatenate(target), rcond=None)[0]
        return self.start_of_coefficients(coef, self.residual.start([(geo[0], c, m) for geo, c, m in parts]))

    def start_of_coefficients(self, coef: np.ndarray, phi_r: np.ndarray) -> np.ndarray:
        r"""Starting values from the least-squares coefficients (G's parameters, then
        :math:`\sigma^2`) of :meth:`start`: G made positive definite, R's own start
        ``phi_r`` (:math:`\sigma^2` instead for independent residuals when positive)."""
        sigma2 = coef[-1]
        g = coef[:-1]
        var_scale = abs(sigma2) if sigma2 > 0 else 1.0
        phi_g = self.g.positive_definite(self.g.matrix(g), var_scale)
        if isinstance(self.residual, Independent) and sigma2 > 0:
            phi_r = np.array([sigma2])
        return np.concatenate([phi_g, phi_r])
