r"""The cumulative logit model of an ordinal response over visits (SAS GENMOD
``DIST=MULTINOMIAL LINK=CLOGIT`` with ``REPEATED SUBJECT= / TYPE=IND``), pure numpy.

Response levels :math:`1 < \dots < K` (SAS's "Ordered Value"); SAS's parameterisation

.. math:: P(Y_{ij} \le k) = F(\alpha_k + x_{ij}^\top\beta),\quad k = 1, \dots, K-1,
          \qquad F = \mathrm{expit},

with :math:`K-1` increasing intercepts ("Intercept1", ...) and :math:`x` without the
intercept column.  R's ``MASS::polr`` and ``ordinal::clm`` write
:math:`\mathrm{logit}\,P(Y \le k) = \zeta_k - x^\top\eta`: :math:`\alpha = \zeta`,
:math:`\beta = -\eta`.  A positive :math:`\beta_j` moves mass to the *lower* levels; its
:math:`\exp` is the (proportional) odds ratio of :math:`Y \le k`, the same for every :math:`k`.

SAS allows only the independence working correlation for the multinomial GEE, whose
estimating equations are the score equations of the pooled multinomial likelihood; with
:math:`\theta = (\alpha, \beta)`, :math:`P_{c} = F(\alpha_c + \eta) - F(\alpha_{c-1} + \eta)`
(:math:`\alpha_0 = -\infty`, :math:`\alpha_K = \infty`) and
:math:`g_c = \partial P_c/\partial\theta`:

* row score :math:`u_{ij} = g_{y_{ij}}/P_{y_{ij}}`, subject score :math:`U_i = \sum_j u_{ij}`;
* information :math:`H = \sum_{ij}\sum_c g_c g_c^\top/P_c` (:math:`= \sum_i D_i^\top V_i^{-1} D_i`
  of the GEE with the multinomial covariance :math:`V_i` of the indicator vector);
* robust covariance :math:`H^{-1}(\sum_i U_iU_i^\top)H^{-1}`; model-based :math:`H^{-1}`.

Fisher scoring :math:`\theta \leftarrow \theta + H^{-1}\sum_i U_i` from
:math:`\alpha_k = \mathrm{logit}` of the cumulative proportions and :math:`\beta = 0`, the
step halved while the intercepts are not increasing or the log-likelihood decreases;
converged when no parameter changes by more than ``tol``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .links import Link


@dataclass(frozen=True)
class OrdinalProblem:
    """Rows of an ordinal GEE: slopes ``X`` (n, q), level codes ``y`` (0..K-1), ``subject``
    codes (0..n_subjects-1), the number of levels ``K`` and the cumulative ``link``."""

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    n_subjects: int
    K: int
    link: Link

    @property
    def n_params(self) -> int:
        return self.K - 1 + self.X.shape[1]

    def probabilities(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P, G)``: level probabilities (n, K) and their derivatives :math:`g_c` (n, K, K-1+q)."""
        K, n = self.K, self.y.size
        eta = self.X @ theta[K - 1:]
        lin = theta[None, :K - 1] + eta[:, None]
        F, f = self.link.inverse(lin), self.link.mu_eta(lin)
        P = np.diff(np.hstack([np.zeros((n, 1)), F, np.ones((n, 1))]), axis=1)
        fpad = np.hstack([np.zeros((n, 1)), f, np.zeros((n, 1))])
        G = np.zeros((n, K, self.n_params))
        idx = np.arange(K - 1)
        G[:, idx, idx] = f
        G[:, idx + 1, idx] -= f
        G[:, :, K - 1:] = np.diff(fpad, axis=1)[:, :, None] * self.X[:, None, :]
        return P, G

    def loglik(self, theta: np.ndarray) -> float:
        P = self.probabilities(theta)[0][np.arange(self.y.size), self.y]
        return float(np.sum(np.log(P))) if np.all(P > 0) else -np.inf


@dataclass(frozen=True)
class OrdinalEstimate:
    """``theta`` = (intercepts, slopes), information ``H`` and subject scores ``U`` at it,
    ``loglik``, iterations, ``converged`` and the largest last change."""

    theta: np.ndarray
    H: np.ndarray
    U: np.ndarray
    loglik: float
    iterations: int
    converged: bool
    change: float


def information_and_scores(problem: OrdinalProblem, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:math:`H` and the subject scores :math:`U` (n_subjects, K-1+q) at ``theta``."""
    P, G = problem.probabilities(theta)
    Gs = G / np.sqrt(P)[:, :, None]
    H = np.einsum("nci,ncj->ij", Gs, Gs)
    rows = np.arange(problem.y.size)
    u = G[rows, problem.y] / P[rows, problem.y][:, None]
    U = np.zeros((problem.n_subjects, problem.n_params))
    np.add.at(U, problem.subject, u)
    return H, U


def start(problem: OrdinalProblem) -> np.ndarray:
    """Intercepts from the cumulative proportions, slopes 0."""
    cum = np.cumsum(np.bincount(problem.y, minlength=problem.K))[:-1] / problem.y.size
    return np.concatenate([problem.link.link(cum), np.zeros(problem.X.shape[1])])


def solve_ordinal(problem: OrdinalProblem, tol: float, maxiter: int) -> OrdinalEstimate:
    """Fisher scoring (module docstring)."""
    theta = start(problem)
    ll = problem.loglik(theta)
    converged, change, iteration = False, np.inf, 0
    while iteration < maxiter:
        iteration += 1
        H, U = information_and_scores(problem, theta)
        try:
            delta = np.linalg.solve(H, U.sum(axis=0))
        except np.linalg.LinAlgError:
            raise DataError("the cumulative logit information matrix is singular: a term is not estimable "
                            "or a response level is predicted perfectly (separation)") from None
        for _ in range(60):
            new = theta + delta
            new_ll = problem.loglik(new) if np.all(np.diff(new[:problem.K - 1]) > 0) else -np.inf
            if new_ll >= ll - 1e-10 * abs(ll):
                break
            delta = delta / 2
        change = float(np.max(np.abs(new - theta)))
        theta, ll = new, new_ll
        if change <= tol:
            converged = True
            break
    H, U = information_and_scores(problem, theta)
    return OrdinalEstimate(theta, H, U, ll, iteration, converged, change)
