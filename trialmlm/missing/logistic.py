r"""Maximum-likelihood logistic regression by Newton-Raphson (= IRLS for the canonical logit
link), with a check that the estimates exist.

Pure numpy/scipy: arrays in, arrays out; the pandas layer is
:func:`trialmlm.missing.dropout_model.dropout_model`.

For outcomes :math:`y_i \in \{0, 1\}` and design rows :math:`x_i`,

.. math::
    \ell(\beta) = \sum_i y_i \eta_i - \log(1 + e^{\eta_i}), \qquad \eta_i = x_i'\beta,

score :math:`X'(y - \pi)`, information :math:`X' W X` with :math:`W = \mathrm{diag}\,
\pi_i (1 - \pi_i)`.  The covariance of :math:`\hat\beta` is :math:`(X'WX)^{-1}` at the
estimate, as in R ``summary.glm`` (dispersion 1) and SAS PROC LOGISTIC.

The estimates do not exist (some coefficient is infinite) exactly when the data are
completely or quasi-completely separated (Albert & Anderson 1984): there is a direction
:math:`b \neq 0` with :math:`(2y_i - 1)\, x_i'b \ge 0` for every row.  This is decided
before fitting by the linear program of Konis (2007),

.. math::
    \max_b \sum_i (2y_i - 1)\, x_i'b \quad \text{subject to} \quad (2y_i - 1)\, x_i'b \ge 0,
    \ -1 \le b_j \le 1,

on columns scaled to a maximum absolute value of 1; a positive optimum means separation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.special import expit, log_expit

from ..errors import DataError


@dataclass(frozen=True)
class LogisticFit:
    """``beta``, ``cov`` (inverse information), ``loglik``, ``iterations``."""

    beta: np.ndarray
    cov: np.ndarray
    loglik: float
    iterations: int


def loglik(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    """Bernoulli log-likelihood of the logistic model (numerically stable)."""
    eta = X @ beta
    return float(np.sum(y * log_expit(eta) + (1 - y) * log_expit(-eta)))


def aliased_column(X: np.ndarray) -> int | None:
    """Index of the first column that is a linear combination of the earlier ones, or None."""
    rank = 0
    for j in range(X.shape[1]):
        r = np.linalg.matrix_rank(X[:, : j + 1])
        if r == rank:
            return j
        rank = r
    return None


def separation_direction(X: np.ndarray, y: np.ndarray, tol: float = 1e-6) -> np.ndarray | None:
    """A direction ``b`` (unit max-norm, in the original column scale) along which the data
    are (quasi-)completely separated, or None when the MLE exists (Konis 2007)."""
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    A = (2 * y - 1)[:, None] * (X / scale)
    res = linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(len(y)), bounds=[(-1, 1)] * X.shape[1],
                  method="highs")
    if res.status != 0 or -res.fun <= tol:
        return None
    b = res.x / scale
    margin = A @ res.x
    if margin.min() < -1e-6:  # not a genuine separating direction
        return None
    return b / np.abs(b).max()


def fit_logistic(X: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = 1e-10) -> LogisticFit:
    """Newton-Raphson from :math:`\\beta = 0` with step halving; converged when the Newton
    decrement :math:`s'(X'WX)^{-1}s` is below ``tol`` (the log-likelihood is then within
    about ``tol / 2`` of its maximum).  ``X`` must have full column rank and the data must
    not be separated (see :func:`separation_direction`)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta = np.zeros(X.shape[1])
    ll = loglik(X, y, beta)
    for it in range(1, max_iter + 1):
        pi = expit(X @ beta)
        info = X.T @ (X * (pi * (1 - pi))[:, None])
        score = X.T @ (y - pi)
        step = np.linalg.solve(info, score)
        decrement = float(score @ step)
        t = 1.0
        while True:
            new = beta + t * step
            ll_new = loglik(X, y, new)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-10:
                break
            t /= 2
        beta, ll = new, ll_new
        if decrement < tol:
            pi = expit(X @ beta)
            info = X.T @ (X * (pi * (1 - pi))[:, None])
            return LogisticFit(beta, np.linalg.inv(info), ll, it)
    raise DataError(f"logistic regression did not converge in {max_iter} Newton iterations")
