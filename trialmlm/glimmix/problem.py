r"""The GLMM as numbers: rows sorted by subject, and the parameter map.

Notation (Bates et al. 2015, lme4; Pinheiro & Chao 2006): subject :math:`i` has rows
:math:`X_i, Z_i` (:math:`q` random effects), :math:`b_i = L u_i` with :math:`u_i \sim N(0, I_q)`
and :math:`G = LL^\top`.  The parameter vector is :math:`(\beta, \theta)`, :math:`\theta` the
log-Cholesky factor of :math:`G`: the :math:`q(q+1)/2` lower-triangular elements of :math:`L`
row by row, the diagonal ones as logarithms (so :math:`G` is positive definite for every
:math:`\theta`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

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
    """``X`` (n, p), ``Z`` (n, q), ``offset`` (n,), ``subject`` codes 0..m-1 (rows sorted by
    them) and the rows' conditional distribution."""

    X: np.ndarray
    Z: np.ndarray
    offset: np.ndarray
    subject: np.ndarray
    n_subjects: int
    conditional: Conditional

    @property
    def q(self) -> int:
        """Random effects per subject."""
        return self.Z.shape[1]

    @property
    def n_theta(self) -> int:
        """Parameters of :math:`G`: :math:`q(q+1)/2`."""
        return self.q * (self.q + 1) // 2

    @cached_property
    def starts(self) -> np.ndarray:
        """Index of each subject's first row (for ``np.add.reduceat``)."""
        return np.searchsorted(self.subject, np.arange(self.n_subjects))

    def cholesky(self, theta: np.ndarray) -> np.ndarray:
        r""":math:`L` (q, q) of the log-Cholesky :math:`\theta` (:func:`cholesky_factor`)."""
        return cholesky_factor(theta)

    def theta_of(self, G: np.ndarray) -> np.ndarray:
        r""":math:`\theta` of a positive definite :math:`G`."""
        L = np.linalg.cholesky(G)
        rows, cols = np.tril_indices(self.q)
        return np.where(rows == cols, np.log(L[rows, cols]), L[rows, cols])

    def per_subject(self, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (rows along the first axis) within each subject."""
        return np.add.reduceat(values, self.starts, axis=0)
