r"""The GLMM as numbers: rows sorted by subject, and the parameter map.

Notation (Bates et al. 2015, lme4; Pinheiro & Chao 2006): subject :math:`i` has rows
:math:`X_i, Z_i` (:math:`q` random effects), :math:`b_i = L u_i` with :math:`u_i \sim N(0, I_q)`
and :math:`G = LL^\top`.  The parameter vector is :math:`(\beta, \theta)`, :math:`\theta` the
log-Cholesky factor of :math:`G`: the :math:`q(q+1)/2` lower-triangular elements of :math:`L`
row by row, the diagonal ones as logarithms (so :math:`G` is positive definite for every
:math:`\theta`).  A negative binomial problem that estimates its dispersion (``estimates_scale``)
appends :math:`\phi = \log k` to :math:`\theta` (SAS GLIMMIX lists the "Scale" :math:`k` among the
covariance parameters); :meth:`Problem.at` fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from scipy import sparse

from .conditional import Conditional


def cholesky_factor(theta: np.ndarray) -> np.ndarray:
    r""":math:`L` (q, q) of the log-Cholesky :math:`\theta` of length :math:`q(q+1)/2` (module docstring)."""
    q = int(round((np.sqrt(8 * theta.size + 1) - 1) / 2))
    rows, cols = np.tril_indices(q)
    L = np.zeros((q, q))
    L[rows, cols] = np.where(rows == cols, np.exp(theta), theta)
    return L


def cholesky_derivatives(theta: np.ndarray) -> np.ndarray:
    r""":math:`\partial L/\partial\theta_t` (T, q, q): :math:`L_{rr}` at a diagonal element
    (log scale), 1 off the diagonal."""
    L = cholesky_factor(theta)
    rows, cols = np.tril_indices(L.shape[0])
    dL = np.zeros((rows.size,) + L.shape)
    dL[np.arange(rows.size), rows, cols] = np.where(rows == cols, L[rows, cols], 1.0)
    return dL


def covariance_jacobian(theta: np.ndarray) -> np.ndarray:
    r""":math:`\partial G_{rc}/\partial\theta_k` (rows: the lower triangle of :math:`G = LL^\top`
    row by row, as ``theta``; columns: :math:`\theta`), from :math:`dG = dL\,L^\top + L\,dL^\top`
    with :math:`\partial L_{rr}/\partial\theta = L_{rr}` (log scale) and 1 off the diagonal."""
    L, dL = cholesky_factor(theta), cholesky_derivatives(theta)
    rows, cols = np.tril_indices(L.shape[0])
    dG = dL @ L.T + L @ np.swapaxes(dL, 1, 2)
    return dG[:, rows, cols].T


@dataclass(frozen=True)
class Problem:
    r"""``X`` (n, p), ``Z`` (n, q), ``offset`` (n,), ``subject`` codes 0..m-1 (rows sorted by
    them), the rows' conditional distribution and whether :math:`\log k` ends :math:`\theta`
    (``estimates_scale``, module docstring)."""

    X: np.ndarray
    Z: np.ndarray
    offset: np.ndarray
    subject: np.ndarray
    n_subjects: int
    conditional: Conditional
    estimates_scale: bool = False

    @property
    def q(self) -> int:
        """Random effects per subject."""
        return self.Z.shape[1]

    @property
    def n_covariance(self) -> int:
        """Parameters of :math:`G`: :math:`q(q+1)/2`."""
        return self.q * (self.q + 1) // 2

    @property
    def n_theta(self) -> int:
        r"""Length of :math:`\theta`: :math:`q(q+1)/2`, plus 1 for :math:`\log k` (``estimates_scale``)."""
        return self.n_covariance + int(self.estimates_scale)

    def at(self, theta: np.ndarray) -> Problem:
        r"""This problem with the dispersion :math:`k = e^{\theta_{-1}}` fixed (``estimates_scale``
        False); itself when it has no dispersion parameter."""
        if not self.estimates_scale:
            return self
        return replace(self, conditional=self.conditional.with_log_k(theta[-1]), estimates_scale=False)

    @cached_property
    def indicator(self) -> sparse.csr_array:
        """(m, n) sparse: 1 where row ``j`` belongs to subject ``i`` (the sums of :meth:`per_subject`)."""
        n = self.subject.size
        return sparse.csr_array((np.ones(n), (self.subject, np.arange(n))), shape=(self.n_subjects, n))

    @cached_property
    def columns(self) -> np.ndarray:
        """(n, p + q): :math:`X` and :math:`Z` side by side."""
        return np.concatenate([self.X, self.Z], axis=1)

    @cached_property
    def cross_products(self) -> np.ndarray:
        r"""(n, q, p + q): :math:`z_j(x_j^\top, z_j^\top)` per row, whose weighted sums within a
        subject are :math:`Z_i^\top WX_i` and :math:`Z_i^\top WZ_i`."""
        return self.Z[:, :, None] * self.columns[:, None, :]

    def cholesky(self, theta: np.ndarray) -> np.ndarray:
        r""":math:`L` (q, q) of the log-Cholesky part of :math:`\theta` (:func:`cholesky_factor`)."""
        return cholesky_factor(theta[:self.n_covariance])

    def theta_of(self, G: np.ndarray) -> np.ndarray:
        r""":math:`\theta` of a positive definite :math:`G`."""
        L = np.linalg.cholesky(G)
        rows, cols = np.tril_indices(self.q)
        return np.where(rows == cols, np.log(L[rows, cols]), L[rows, cols])

    def per_subject(self, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (rows along the first axis) within each subject: one sparse product
        with :attr:`indicator` for all trailing dimensions."""
        flat = values.reshape(values.shape[0], -1)
        return (self.indicator @ flat).reshape((self.n_subjects,) + values.shape[1:])
