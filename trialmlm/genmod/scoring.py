r"""Fisher scoring of the generalized estimating equations (pure numpy).

Model: :math:`g(\mu_{ij}) = x_{ij}^\top\beta + o_{ij}`, :math:`\mathrm{Var}(y_{ij}) =
\phi v(\mu_{ij})/w_{ij}`, working covariance :math:`V_i = \phi A_i^{1/2}R_i(\alpha)
A_i^{1/2}` with :math:`A_i = \mathrm{diag}(v(\mu_{ij})/w_{ij})`.  With the standardised
:math:`\tilde D_i = A_i^{-1/2}D_i` (:math:`D_i = \mathrm{diag}(d\mu/d\eta)X_i`) and
:math:`\tilde r_i = A_i^{-1/2}(y_i - \mu_i)`, and :math:`L_i` the Cholesky factor of
:math:`R_i`:

* :math:`H = \sum_i \tilde D_i^\top R_i^{-1}\tilde D_i` (:math:`\phi` cancels in the step),
* :math:`U_i = \tilde D_i^\top R_i^{-1}\tilde r_i`, the step :math:`\Delta = H^{-1}\sum_i U_i`,

computed per cluster pattern on the whitened :math:`L_i^{-1}\tilde D_i`,
:math:`L_i^{-1}\tilde r_i`.  Each iteration: :math:`\phi` and :math:`\alpha` from the
Pearson residuals at :math:`\beta` (:mod:`.working`), then one scoring step, halved while
a mean leaves the family's range (geepack).  Start: the independence GEE (the GLM),
iterated to convergence.  Convergence (SAS GENMOD ``CONVERGE=``): the largest change of a
coefficient, relative where :math:`|\beta_j| > 0.08`, and of a correlation parameter, at
most ``tol``; a singular :math:`H` (means saturated at the edge of their range) stops the
iterations unconverged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .clusters import Clusters
from .families import Family
from .links import Link
from .working import CrossProducts, Moments, Working

RELATIVE_ABOVE = 0.08  # SAS: changes of coefficients larger than this in size are relative


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

    def means(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`(\\mu, d\\mu/d\\eta)` at ``beta``."""
        eta = self.X @ beta + self.offset
        return self.link.inverse(eta), self.link.mu_eta(eta)

    def standardised(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r""":math:`(\tilde D, \tilde r, e)`: rows of :math:`A^{-1/2}D`, :math:`A^{-1/2}(y-\mu)`
        and the Pearson residuals :math:`e = (y - \mu)/\sqrt{v(\mu)}`."""
        mu, mu_eta = self.means(beta)
        root_v = np.sqrt(self.family.variance(mu))
        s = np.sqrt(self.w) / root_v
        e = (self.y - mu) / root_v
        return (s * mu_eta)[:, None] * self.X, s * (self.y - mu), e

    def cross_products(self, e: np.ndarray) -> CrossProducts:
        """:class:`~.working.CrossProducts` of the Pearson residuals ``e``."""
        r, a = self.moments.residuals(e, self.w)
        p = self.X.shape[1]
        ar = self.clusters.wide(a * r)
        aa = self.clusters.wide(a)
        return CrossProducts(ar.T @ ar, aa.T @ aa, self.moments.scale(r, a, p), self.moments.ddof(p))

    def correlation(self, alpha: np.ndarray) -> np.ndarray:
        """:math:`R(\\alpha)` over all visits; DataError if a pattern's block is not positive definite."""
        return self.working.matrix(alpha, self.clusters.n_positions)


@dataclass(frozen=True)
class Whitened:
    """Per pattern, ``subjects`` and the whitened :math:`L^{-1}\\tilde D` (n_g, m, p) and
    :math:`L^{-1}\\tilde r` (n_g, m)."""

    subjects: np.ndarray
    D: np.ndarray
    r: np.ndarray


def whiten(problem: Problem, beta: np.ndarray, R: np.ndarray) -> list[Whitened]:
    """The whitened blocks of every cluster pattern at ``beta`` with correlation ``R``."""
    Dt, rt, _ = problem.standardised(beta)
    out = []
    for pattern in problem.clusters.patterns:
        pos = pattern.positions
        block = R[np.ix_(pos, pos)]
        try:
            chol = np.linalg.cholesky(block)
        except np.linalg.LinAlgError:
            raise DataError(f"the {problem.working.label()} working correlation estimate is not positive "
                            f"definite over the visits {pos.tolist()} (level numbers from 0): "
                            f"{np.round(block, 4).tolist()}; choose a simpler working structure") from None
        if problem.working.name == "independence":
            out.append(Whitened(pattern.subjects, Dt[pattern.rows], rt[pattern.rows]))
            continue
        inv = np.linalg.inv(chol)
        out.append(Whitened(pattern.subjects, np.matmul(inv, Dt[pattern.rows]), rt[pattern.rows] @ inv.T))
    return out


def information(blocks: list[Whitened], p: int) -> np.ndarray:
    r""":math:`H = \sum_i \tilde D_i^\top R_i^{-1}\tilde D_i`."""
    H = np.zeros((p, p))
    for b in blocks:
        flat = b.D.reshape(-1, p)
        H += flat.T @ flat
    return H


def scores(blocks: list[Whitened], n_subjects: int, p: int) -> np.ndarray:
    r"""(n_subjects, p): :math:`U_i = \tilde D_i^\top R_i^{-1}\tilde r_i`."""
    U = np.zeros((n_subjects, p))
    for b in blocks:
        U[b.subjects] = np.einsum("nkp,nk->np", b.D, b.r)
    return U


@dataclass(frozen=True)
class Estimate:
    """The solution: ``beta``, ``alpha``, ``phi``, ``H`` and ``U`` at it, iterations,
    ``converged``, and the largest last change."""

    beta: np.ndarray
    alpha: np.ndarray
    phi: float
    H: np.ndarray
    U: np.ndarray
    iterations: int
    converged: bool
    change: float


def _change(new: np.ndarray, old: np.ndarray) -> float:
    diff = np.abs(new - old)
    big = np.abs(old) > RELATIVE_ABOVE
    diff[big] /= np.abs(old[big])
    return float(diff.max(initial=0.0))


def _step(problem: Problem, beta: np.ndarray, R: np.ndarray) -> np.ndarray:
    """One scoring step from ``beta``, halved while a mean is outside the family's range."""
    p = beta.size
    blocks = whiten(problem, beta, R)
    H = information(blocks, p)
    delta = np.linalg.solve(H, scores(blocks, problem.clusters.n_subjects, p).sum(axis=0))
    for _ in range(60):
        new = beta + delta
        mu, _ = problem.means(new)
        if np.all(problem.family.valid_mean(mu)):
            return new
        delta = delta / 2
    raise DataError(f"no step keeps every mean in the range of the {problem.family.name} family with the "
                    f"{problem.link.name} link; try another link or starting values")


def solve(problem: Problem, start: np.ndarray, tol: float, maxiter: int) -> Estimate:
    """Fisher scoring from ``start`` (module docstring)."""
    beta = np.asarray(start, dtype=float)
    alpha = None
    converged, change, iteration = False, np.inf, 0
    while iteration < maxiter:
        iteration += 1
        cp = problem.cross_products(problem.standardised(beta)[2])
        new_alpha = problem.working.estimate(cp, problem.moments, alpha)
        try:
            new = _step(problem, beta, problem.correlation(new_alpha))
        except np.linalg.LinAlgError:  # H singular: means at 0 or 1 (separation); not converged
            break
        change = _change(new, beta)
        if alpha is not None and new_alpha.size:
            change = max(change, float(np.max(np.abs(new_alpha - alpha))))
        beta, alpha = new, new_alpha
        if change <= tol:
            converged = True
            break
    alpha = problem.working.estimate(problem.cross_products(problem.standardised(beta)[2]), problem.moments,
                                     alpha)
    return evaluate(problem, beta, alpha, iteration, converged, change)


def evaluate(problem: Problem, beta: np.ndarray, alpha: np.ndarray, iterations: int = 0,
             converged: bool = True, change: float = 0.0) -> Estimate:
    """The :class:`Estimate` at given ``beta`` and ``alpha`` (no scoring): :math:`H`,
    :math:`U_i` and :math:`\\phi` (the moment estimate at ``beta``) there.  Evaluates a
    variance at another program's estimates (e.g. R geesmv's)."""
    beta = np.asarray(beta, dtype=float)
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    phi = problem.cross_products(problem.standardised(beta)[2]).phi
    blocks = whiten(problem, beta, problem.correlation(alpha))
    p = beta.size
    U = scores(blocks, problem.clusters.n_subjects, p)
    return Estimate(beta, alpha, phi, information(blocks, p), U, iterations, converged, change)


def glm_start(problem: Problem) -> np.ndarray:
    r"""Starting values of the scoring: least squares of :math:`g(\mu_0) - o` on :math:`X`
    with R ``glm``'s :math:`\mu_0`: :math:`(wy + 1/2)/(w + 1)` (binomial),
    :math:`y + 0.1` (Poisson)."""
    y, w = problem.y, problem.w
    mu0 = y + 0.1 if problem.family.counts else (w * y + 0.5) / (w + 1.0)
    if problem.link.name == "identity" or not np.all(np.isfinite(problem.link.link(mu0))):
        mu0 = np.full_like(y, np.average(y, weights=w))
    eta0 = problem.link.link(mu0) - problem.offset
    beta = np.linalg.lstsq(problem.X, eta0, rcond=None)[0]
    if not np.all(problem.family.valid_mean(problem.means(beta)[0])):
        beta = np.linalg.lstsq(problem.X, np.full_like(y, problem.link.link(np.average(y, weights=w)))
                               - problem.offset, rcond=None)[0]
    return beta
