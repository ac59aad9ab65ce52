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

import numpy as np

from .conditional import Conditional


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

    @property
    def starts(self) -> np.ndarray:
        """Index of each subject's first row (for ``np.add.reduceat``)."""
        return np.searchsorted(self.subject, np.arange(self.n_subjects))

    def cholesky(self, theta: np.ndarray) -> np.ndarray:
        r""":math:`L` (q, q) of the log-Cholesky :math:`\theta` (module docstring)."""
        return cholesky_factor(theta)

    def theta_of(self, G: np.ndarray) -> np.ndarray:
        r""":math:`\theta` of a positive definite :math:`G`."""
        L = np.linalg.cholesky(G)
        rows, cols = np.tril_indices(self.q)
        return np.where(rows == cols, np.log(L[rows, cols]), L[rows, cols])

    def per_subject(self, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (rows along the first axis) within each subject."""
        return np.add.reduceat(values, self.starts, axis=0)


def cholesky_factor(theta: np.ndarray) -> np.ndarray:
    r""":math:`L` (q, q) of the log-Cholesky :math:`\theta` of length :math:`q(q+1)/2` (module
    docstring; ``-inf`` gives a zero diagonal element)."""
    theta = np.asarray(theta, dtype=float)
    q = int(round((np.sqrt(8 * theta.size + 1) - 1) / 2))
    rows, cols = np.tril_indices(q)
    L = np.zeros((q, q))
    L[rows, cols] = np.where(rows == cols, np.exp(theta), theta)
    return L
