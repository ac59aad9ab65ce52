r"""Fisher scoring of the generalized estimating equations (pure numpy).

Model: :math:`g(\mu_{ij}) = x_{ij}^\top\beta + o_{ij}`, :math:`\mathrm{Var}(y_{ij}) =
\phi v(\mu_{ij})/w_{ij}`, working covariance :math:`V_i = \phi A_i^{1/2}R_i(\alpha)
A_i^{1/2}` with :math:`A_i = \mathrm{diag}(v(\mu_{ij})/w_{ij})`.  With the standardised
:math:`\tilde D_i = A_i^{-1/2}D_i` (:math:`D_i = \mathrm{diag}(d\mu/d\eta)X_i`) and
:math:`\tilde r_i = A_i^{-1/2}(y_i - \mu_i)`:

* :math:`H = \sum_i \tilde D_i^\top R_i^{-1}\tilde D_i` (:math:`\phi` cancels in the step),
* :math:`U_i = \tilde D_i^\top R_i^{-1}\tilde r_i`, the step :math:`\Delta = H^{-1}\sum_i U_i`
  with :math:`\sum_i U_i = \tilde D^\top(R^{-1}\tilde r)`; :math:`\tilde D = \mathrm{diag}(f)X`
  is never formed (:meth:`~.precision.Precision.quadratic`, the design's weighted
  :math:`X^\top WX` from its table of factor-level combinations),

over all rows at once with the block-diagonal :math:`R^{-1}` of the working structure
(:class:`~.precision.Precision`; closed forms for independence, exchangeable and AR(1)), no
loop over subjects.  Each iteration: :math:`\phi` and :math:`\alpha` from the Pearson
residuals at :math:`\beta` (:mod:`.working`), then one scoring step, halved while a mean
leaves the family's range (geepack).  Start: the independence GEE (the GLM), iterated to
convergence.  Convergence (SAS GENMOD ``CONVERGE=``): the largest change of a coefficient,
relative where :math:`|\beta_j| > 0.08`, and of a correlation parameter, at most ``tol``; a
singular :math:`H` (means saturated at the edge of their range) stops the iterations
unconverged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Protocol

import numpy as np

from ..engine.threads import blas_threads
from ..errors import DataError
from .clusters import Clusters
from .families import Family
from .links import Link
from .precision import Precision
from .working import CrossProducts, Moments, Working

RELATIVE_ABOVE = 0.08  # SAS: changes of coefficients larger than this in size are relative


class DesignProducts(Protocol):
    """The products with X of the scoring (:class:`trialmlm.engine.design.Design` forms them
    from its table of factor-level combinations by bincounts over the rows)."""

    def linear_predictor(self, beta: np.ndarray) -> np.ndarray:
        """:math:`X\\beta`."""

    def crossprod(self, v: np.ndarray) -> np.ndarray:
        """:math:`X^\\top v`."""

    def weighted_gram(self, w: np.ndarray) -> np.ndarray:
        """:math:`X^\\top\\mathrm{diag}(w)X`."""


@dataclass(frozen=True)
class Reparameterised:
    """The products of :math:`XN` from those of :math:`X` (``design``): the model
    :math:`\\beta = N\\gamma` (a hypothesis' restricted fit)."""

    design: DesignProducts
    N: np.ndarray

    def linear_predictor(self, gamma: np.ndarray) -> np.ndarray:
        return self.design.linear_predictor(self.N @ gamma)

    def crossprod(self, v: np.ndarray) -> np.ndarray:
        return self.N.T @ self.design.crossprod(v)

    def weighted_gram(self, w: np.ndarray) -> np.ndarray:
        return self.N.T @ self.design.weighted_gram(w) @ self.N


@dataclass(frozen=True)
class Problem:
    """The data and choices of one GEE (pure numpy): rows sorted by subject and visit."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray
    clusters: Clusters
    family: Family
    link: Link
    working: Working
    moments: Moments
    design: DesignProducts

    def linear_predictor(self, beta: np.ndarray) -> np.ndarray:
        """:math:`\\eta = X\\beta + o`."""
        return self.design.linear_predictor(beta) + self.offset

    def restricted(self, N: np.ndarray) -> Problem:
        """The problem in :math:`\\gamma` with :math:`\\beta = N\\gamma` (design :math:`XN`)."""
        return replace(self, X=self.X @ N, design=Reparameterised(self.design, N))

    def means(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`(\\mu, d\\mu/d\\eta)` at ``beta``."""
        eta = self.linear_predictor(beta)
        return self.link.inverse(eta), self.link.mu_eta(eta)

    def standardised(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""At the linear predictor ``eta``: :math:`f` with :math:`\tilde D = \mathrm{diag}(f)X`
        (:math:`f = \sqrt{w/v(\mu)}\,d\mu/d\eta`), :math:`\tilde r = A^{-1/2}(y-\mu)` and
        the Pearson residuals :math:`e = (y - \mu)/\sqrt{v(\mu)}`."""
        mu = self.link.inverse(eta)
        root_v = np.sqrt(self.family.variance(mu))
        s = np.sqrt(self.w) / root_v
        return s * self.link.mu_eta(eta), s * (self.y - mu), (self.y - mu) / root_v

    def cross_products(self, e: np.ndarray) -> CrossProducts:
        """:class:`~.working.CrossProducts` of the Pearson residuals ``e``."""
        r, a = self.moments.residuals(e, self.w)
        p = self.X.shape[1]
        ar = self.clusters.wide(a * r)
        aa = self.clusters.wide(a)
        return CrossProducts(ar.T @ ar, aa.T @ aa, self.moments.scale(r, a, p), self.moments.ddof(p))

    def correlation(self, alpha: np.ndarray) -> np.ndarray:
        """:math:`R(\\alpha)` over all visits."""
        return self.working.matrix(alpha, self.clusters.n_positions)

    def precision(self, alpha: np.ndarray) -> Precision:
        """:math:`R^{-1}` over the rows; DataError if a block is not positive definite."""
        return self.working.precision(alpha, self.clusters)


@dataclass(frozen=True)
class Estimate:
    """The solution of ``problem``: ``beta``, ``alpha``, ``phi``, iterations, ``converged``,
    and the largest last change; ``H`` and ``U`` (n_subjects, p) at the solution are
    computed on first use (a start that only passes its ``beta`` on never needs them)."""

    problem: Problem = field(repr=False)
    beta: np.ndarray
    alpha: np.ndarray
    phi: float
    iterations: int
    converged: bool
    change: float

    @cached_property
    def score_terms(self) -> tuple[np.ndarray, np.ndarray]:
        r"""``(H, U)``: :math:`\sum_i \tilde D_i^\top R_i^{-1}\tilde D_i` and the rows
        :math:`U_i = \tilde D_i^\top R_i^{-1}\tilde r_i`."""
        problem = self.problem
        f, rt, _ = problem.standardised(problem.linear_predictor(self.beta))
        precision = problem.precision(self.alpha)
        return (precision.quadratic(problem.X, f, problem.design.weighted_gram),
                problem.clusters.segment_sum(problem.X, f * precision.apply(rt)))

    @property
    def H(self) -> np.ndarray:
        return self.score_terms[0]

    @property
    def U(self) -> np.ndarray:
        return self.score_terms[1]


def _change(new: np.ndarray, old: np.ndarray) -> float:
    diff = np.abs(new - old)
    big = np.abs(old) > RELATIVE_ABOVE
    diff[big] /= np.abs(old[big])
    return float(diff.max(initial=0.0))


def _step(problem: Problem, beta: np.ndarray, f: np.ndarray, rt: np.ndarray,
          precision: Precision) -> tuple[np.ndarray, np.ndarray]:
    r"""One scoring step from ``beta`` (:math:`\tilde D = \mathrm{diag}(f)X` and :math:`\tilde r`
    there) and the linear predictor at the new coefficients; the step is halved while a mean
    is outside the family's range."""
    H = precision.quadratic(problem.X, f, problem.design.weighted_gram)
    delta = np.linalg.solve(H, problem.design.crossprod(f * precision.apply(rt)))
    for _ in range(60):
        new = beta + delta
        eta = problem.linear_predictor(new)
        if np.all(problem.family.valid_mean(problem.link.inverse(eta))):
            return new, eta
        delta = delta / 2
    raise DataError(f"no step keeps every mean in the range of the {problem.family.name} family with the "
                    f"{problem.link.name} link; try another link or starting values")


def solve(problem: Problem, start: np.ndarray, tol: float, maxiter: int) -> Estimate:
    """Fisher scoring from ``start`` (module docstring).  The products are passes over the
    rows, bound by memory rather than arithmetic: BLAS runs on one thread (more gain little
    and spin when the cores are shared; :mod:`trialmlm.engine.threads`)."""
    with blas_threads():
        return _scoring(problem, np.asarray(start, dtype=float), tol, maxiter)


def _scoring(problem: Problem, beta: np.ndarray, tol: float, maxiter: int) -> Estimate:
    eta = problem.linear_predictor(beta)
    alpha = None
    converged, change, iteration = False, np.inf, 0
    while iteration < maxiter:
        iteration += 1
        f, rt, e = problem.standardised(eta)
        new_alpha = problem.working.estimate(problem.cross_products(e), problem.moments, alpha)
        try:
            new, new_eta = _step(problem, beta, f, rt, problem.precision(new_alpha))
        except np.linalg.LinAlgError:  # H singular: means at 0 or 1 (separation); not converged
            break
        change = _change(new, beta)
        if alpha is not None and new_alpha.size:
            change = max(change, float(np.max(np.abs(new_alpha - alpha))))
        beta, eta, alpha = new, new_eta, new_alpha
        if change <= tol:
            converged = True
            break
    cp = problem.cross_products(problem.standardised(eta)[2])
    alpha = problem.working.estimate(cp, problem.moments, alpha)
    problem.precision(alpha)  # DataError now if the final estimate is not positive definite
    return Estimate(problem, beta, alpha, cp.phi, iteration, converged, change)


def evaluate(problem: Problem, beta: np.ndarray, alpha: np.ndarray, iterations: int = 0,
             converged: bool = True, change: float = 0.0) -> Estimate:
    """The :class:`Estimate` at given ``beta`` and ``alpha`` (no scoring): :math:`H`,
    :math:`U_i` and :math:`\\phi` (the moment estimate at ``beta``) there.  Evaluates a
    variance at another program's estimates (e.g. R geesmv's)."""
    beta = np.asarray(beta, dtype=float)
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    phi = problem.cross_products(problem.standardised(problem.linear_predictor(beta))[2]).phi
    problem.precision(alpha)  # DataError now if the estimate is not positive definite
    return Estimate(problem, beta, alpha, phi, iterations, converged, change)


@dataclass(frozen=True)
class Whitened:
    """Per cluster pattern, ``subjects`` and the whitened :math:`L^{-1}\\tilde D_i`
    (n_g, m, p) and :math:`L^{-1}\\tilde r_i` (n_g, m), :math:`L` the Cholesky factor of
    the pattern's block of :math:`R`."""

    subjects: np.ndarray
    D: np.ndarray
    r: np.ndarray


def whiten(problem: Problem, beta: np.ndarray, R: np.ndarray) -> list[Whitened]:
    """The whitened blocks of every cluster pattern at ``beta`` with correlation ``R``: the
    per-subject matrices of the small-sample sandwiches (:mod:`.variance`), batched by
    pattern (the scoring itself needs none of them)."""
    f, rt, _ = problem.standardised(problem.linear_predictor(beta))
    out = []
    for observed, subjects in problem.clusters.by_pattern():
        pos = np.flatnonzero(observed)
        block = R[np.ix_(pos, pos)]
        try:
            inv = np.linalg.inv(np.linalg.cholesky(block))
        except np.linalg.LinAlgError:
            raise problem.working.not_positive_definite(pos, block) from None
        rows = problem.clusters.starts[subjects][:, None] + np.arange(pos.size)
        out.append(Whitened(subjects, np.matmul(inv, f[rows][..., None] * problem.X[rows]), rt[rows] @ inv.T))
    return out


def glm_start(problem: Problem) -> np.ndarray:
    r"""Starting values of the scoring: least squares of :math:`g(\mu_0) - o` on :math:`X`
    (normal equations :math:`X^\top X\beta = X^\top(g(\mu_0) - o)`; the design's kept
    columns are linearly independent) with R ``glm``'s :math:`\mu_0`:
    :math:`(wy + 1/2)/(w + 1)` (binomial), :math:`y + 0.1` (Poisson)."""
    y, w = problem.y, problem.w
    mu0 = y + 0.1 if problem.family.counts else (w * y + 0.5) / (w + 1.0)
    if problem.link.name == "identity" or not np.all(np.isfinite(problem.link.link(mu0))):
        mu0 = np.full_like(y, np.average(y, weights=w))
    gram = problem.design.weighted_gram(np.ones_like(y))

    def least_squares(target: np.ndarray) -> np.ndarray:
        return np.linalg.lstsq(gram, problem.design.crossprod(target), rcond=None)[0]

    beta = least_squares(problem.link.link(mu0) - problem.offset)
    if not np.all(problem.family.valid_mean(problem.means(beta)[0])):
        beta = least_squares(np.full_like(y, problem.link.link(np.average(y, weights=w))) - problem.offset)
    return beta
