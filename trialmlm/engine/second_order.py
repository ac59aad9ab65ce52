r"""Sparse forms of a batch's moments and derivatives, and the batch's order-2 terms in
:meth:`trialmlm.engine.likelihood.Likelihood.evaluate`.

For the patterns :math:`P` of a batch (m patterns of k visits), with :math:`\Omega_P =
\Sigma_P^{-1}`, the derivatives :math:`S_{lP} = \partial_l\Sigma_P`, :math:`W_P = 2(C_P +
G_P) - m_P\Sigma_P`, :math:`B_P = \Omega_PW_P\Omega_P` and the moments :math:`M_P` (k, k,
q, q), the Hessian and the information's derivatives need

.. math::
    h_{kl} = \sum_P \langle S_{kP},\, \Omega_PS_{lP}B_P\rangle,
    \qquad
    t_l = \sum_P\sum_{ab}(\Omega_PS_{lP}\Omega_P)_{ab}\,M_P[a, b]
    \quad (q\times q),

with :math:`\langle\cdot,\cdot\rangle` the sum of the entrywise product.  Both are sums over
the derivatives' non-zero entries: :math:`\operatorname{vec}(\Omega S B) = (\Omega\otimes
B)\operatorname{vec}(S)` for symmetric :math:`\Omega, B`.  For ``us``,
:math:`\partial\Sigma/\partial\sigma_{ab}` has one or two non-zero entries and most of the
:math:`T(T+1)/2` parameters miss a pattern, so the products with :math:`\Omega_P\otimes
B_P` and :math:`\Omega_P\otimes\Omega_P` pick entries (:func:`sparse_derivatives`) instead
of forming :math:`r` dense :math:`\Omega_PS_{lP}\Omega_P`; structures whose derivatives are
mostly non-zero (AR(1): both parameters move every entry) keep the dense products.

The moments of a factor-by-visit design are mostly zeros (a row of X has the intercept, its
arm, its visit and their interaction: about 5 % of :math:`M_P`'s entries are non-zero for
``ARMCD * AVISIT``), and every evaluation reads them two or three times
(:math:`\sum_P\Omega_P\cdot M_P`, :math:`C_P + G_P`, :math:`t`): :func:`flat_moments` keeps
them as a sparse matrix where that pays.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

SPARSE_DENSITY = 0.25  # largest share of non-zero entries for which a sparse matrix pays


def flat_moments(moments: np.ndarray) -> np.ndarray | sparse.csr_matrix:
    r"""The moments (m, k, k, q, q) as an (m k^2, q^2) matrix, rows the pattern's visit pairs
    :math:`(P, a, b)`: sparse when at most :data:`SPARSE_DENSITY` of the entries are non-zero."""
    flat = moments.reshape(-1, moments.shape[3] * moments.shape[4])
    mask = flat != 0
    at = np.flatnonzero(mask)  # row-major order: CSR order
    if at.size > SPARSE_DENSITY * flat.size:
        return flat
    starts = np.r_[0, np.cumsum(np.count_nonzero(mask, axis=1))]
    return sparse.csr_matrix((flat.ravel()[at], at % flat.shape[1], starts), shape=flat.shape)


def sparse_derivatives(d1: np.ndarray) -> tuple[sparse.csr_matrix, sparse.csr_matrix] | None:
    r"""The derivatives (r, m, k, k) as two sparse matrices with columns :math:`(P, a, b)`:
    rows :math:`l` (r, m k^2) and rows :math:`(l, P)` (r m, m k^2); None when more than half
    the entries of :math:`\partial_l\Sigma_P` are non-zero on average over parameters and
    patterns."""
    r, m, k = d1.shape[:3]
    flat = d1.reshape(r, m * k * k)
    rows, cols = np.nonzero(flat)  # sorted by row, then column: CSR order for both matrices
    if rows.size > 0.5 * flat.size:
        return None
    values, by_pattern = flat[rows, cols], rows * m + cols // (k * k)
    return (csr_of_sorted(values, rows, cols, (r, m * k * k)),
            csr_of_sorted(values, by_pattern, cols, (r * m, m * k * k)))


def csr_of_sorted(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple) -> sparse.csr_matrix:
    """The sparse matrix of entries ``values`` at ``(rows, cols)`` given in row-major order
    (no sorting, no duplicates)."""
    return sparse.csr_matrix((values, cols, np.searchsorted(rows, np.arange(shape[0] + 1))), shape=shape)


def second_order_terms(d1: np.ndarray, omega: np.ndarray, w: np.ndarray,
                       moments: np.ndarray | sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`h` (r, r) and :math:`t` (r, q^2) of the module docstring for one batch.

    Parameters
    ----------
    d1 : (r, m, k, k) :math:`\partial_l\Sigma_P`.
    omega : (m, k, k) :math:`\Omega_P`.
    w : (m, k, k) :math:`W_P = 2(C_P + G_P) - m_P\Sigma_P`.
    moments : (m k^2, q^2) :math:`M_P` (:func:`flat_moments`).
    """
    r, m, k = d1.shape[:3]
    split = sparse_derivatives(d1)
    if split is None:
        a_l = omega[None] @ d1 @ omega[None]  # Omega S_l Omega
        y_l = (a_l @ (w @ omega)[None]).reshape(r, -1)  # Omega S_l B
        a_l = a_l.reshape(r, -1)
        h = d1.reshape(r, -1) @ y_l.T  # <S_k, Omega S_l B>
    else:
        by_param, by_pattern = split
        right = np.stack([omega @ w @ omega, omega], axis=2)  # (m, v, 2, j): B, then Omega
        # rows (P, u, v), columns (c, i, j): Omega[u, i] B[v, j] (c = 0), Omega[u, i] Omega[v, j] (c = 1)
        kron = omega[:, :, None, None, :, None] * right[:, None, :, :, None, :]
        kron = kron.reshape(m * k * k, 2 * k * k)
        picked = (by_pattern @ kron).reshape(r, m, 2, k * k)  # rows (l, P): Omega S B, Omega S Omega
        y_l, a_l = picked[:, :, 0].reshape(r, -1), picked[:, :, 1].reshape(r, -1)
        h = by_param @ y_l.T  # <S_k, Omega S_l B>
    t = (moments.T @ a_l.T).T  # this order is BLAS-friendly
    return h, np.asarray(t)
