r"""All subjects' small symmetric positive definite matrices at once: the curvatures
:math:`H_i` (m, q, q) of :mod:`.modes` (:math:`q` random effects per subject, usually 1 or 2).

For :math:`q \le 2` the inverse, the solve and the log-determinant are written in closed form
(for :math:`H = \begin{pmatrix} a & b \\ b & c\end{pmatrix}`:
:math:`|H| = ac - b^2`, :math:`H^{-1} = |H|^{-1}\begin{pmatrix} c & -b \\ -b & a\end{pmatrix}`),
a few array operations instead of LAPACK's per-matrix calls; larger :math:`q` goes to
``numpy.linalg``.  Every :math:`H_i = A_i^\top W_iA_i + I` here has eigenvalues of at least 1,
so the closed forms lose no accuracy.
"""

from __future__ import annotations

import numpy as np


def inverse(H: np.ndarray) -> np.ndarray:
    r""":math:`H_i^{-1}` (m, q, q)."""
    q = H.shape[-1]
    if q == 1:
        return 1.0 / H
    if q == 2:
        det = H[:, 0, 0] * H[:, 1, 1] - H[:, 1, 0] * H[:, 1, 0]
        out = np.empty_like(H)
        out[:, 0, 0], out[:, 1, 1] = H[:, 1, 1] / det, H[:, 0, 0] / det
        out[:, 0, 1] = out[:, 1, 0] = -H[:, 1, 0] / det
        return out
    return np.linalg.inv(H)


def solve(H: np.ndarray, b: np.ndarray) -> np.ndarray:
    r""":math:`H_i^{-1}b_i` for ``b`` (m, q) -> (m, q) or (m, q, k) -> (m, q, k)."""
    q = H.shape[-1]
    if q == 1:
        return b / (H[:, 0] if b.ndim == 2 else H)
    if q == 2:
        shape = (-1,) + (1,) * (b.ndim - 2)
        a, c, off = (H[:, 0, 0].reshape(shape), H[:, 1, 1].reshape(shape), H[:, 1, 0].reshape(shape))
        det = a * c - off * off
        return np.stack([(c * b[:, 0] - off * b[:, 1]) / det, (a * b[:, 1] - off * b[:, 0]) / det], axis=1)
    return np.linalg.solve(H, b if b.ndim == 3 else b[..., None]).reshape(b.shape)


def log_det(H: np.ndarray) -> np.ndarray:
    r""":math:`\log|H_i|` (m,)."""
    q = H.shape[-1]
    if q == 1:
        return np.log(H[:, 0, 0])
    if q == 2:
        return np.log(H[:, 0, 0] * H[:, 1, 1] - H[:, 1, 0] ** 2)
    return np.linalg.slogdet(H)[1]
