r"""Maximise the marginal log-likelihood over :math:`(\beta, \theta)` (:mod:`.problem`).

The objective is :math:`-\sum_i\ell_i` of :mod:`.quadrature`; the conditional modes of the
last evaluation start the next one.  BFGS (scipy) runs on central-difference gradients
(step :math:`10^{-5}\max(1, |x_j|)`), then Newton steps on the central-difference Hessian
(step :math:`3\cdot10^{-4}\max(1,|x_j|)`) polish the optimum until the gradient's largest
element is below a tenth of ``GRADIENT_TOLERANCE`` (converged: below it, with a positive
definite Hessian); that Hessian is the observed information whose inverse
gives the standard errors (lme4 likewise differentiates its deviance numerically).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .modes import Modes
from .problem import Problem
from .quadrature import subject_loglik

GRADIENT_TOLERANCE = 1e-5
NEWTON_STEPS = 10


@dataclass(frozen=True)
class Optimum:
    """``x`` :math:`(\\hat\\beta, \\hat\\theta)`, ``loglik``, ``information`` the observed
    information (Hessian of :math:`-\\ell`), ``gradient``, ``modes``, ``converged``,
    ``iterations`` (BFGS iterations + Newton steps) and ``message``."""

    x: np.ndarray
    loglik: float
    information: np.ndarray
    gradient: np.ndarray
    modes: Modes
    converged: bool
    iterations: int
    message: str


class Objective:
    """:math:`-\\ell(\\beta, \\theta)` with ``n_points`` nodes per dimension; ``free`` marks the
    parameters that vary (the others stay at ``x0``'s values)."""

    def __init__(self, problem: Problem, n_points: int):
        self.problem, self.n_points, self.modes = problem, n_points, None

    def __call__(self, x: np.ndarray) -> float:
        p = self.problem.X.shape[1]
        start = None if self.modes is None else self.modes.u
        L = self.problem.cholesky(x[p:])
        ll, self.modes = subject_loglik(self.problem, x[:p], L, self.n_points, start)
        return -float(np.sum(ll))

    def gradient(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        g = np.zeros_like(x)
        for j in np.flatnonzero(free):
            h = 1e-5 * max(1.0, abs(x[j]))
            e = np.zeros_like(x)
            e[j] = h
            g[j] = (self(x + e) - self(x - e)) / (2 * h)
        return g

    def hessian(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(free)
        steps = 3e-4 * np.maximum(1.0, np.abs(x))
        H = np.zeros((idx.size, idx.size))
        f0 = self(x)
        for a, j in enumerate(idx):
            for b, k in enumerate(idx[: a + 1]):
                ej, ek = np.zeros_like(x), np.zeros_like(x)
                ej[j], ek[k] = steps[j], steps[k]
                if j == k:
                    H[a, a] = (self(x + ej) - 2 * f0 + self(x - ej)) / steps[j] ** 2
                else:
                    H[a, b] = H[b, a] = (self(x + ej + ek) - self(x + ej - ek) - self(x - ej + ek)
                                         + self(x - ej - ek)) / (4 * steps[j] * steps[k])
        return H


def maximise(problem: Problem, n_points: int, x0: np.ndarray, free: np.ndarray | None = None,
             maxiter: int = 500) -> Optimum:
    """The maximum of the marginal log-likelihood from ``x0`` (module docstring)."""
    return minimise(Objective(problem, n_points), x0, free, maxiter)


def minimise(f: Objective, x0: np.ndarray, free: np.ndarray | None = None, maxiter: int = 500) -> Optimum:
    """The minimum of the objective ``f`` (:math:`-\\ell`, keeping the modes of its last
    evaluation in ``f.modes``) from ``x0``: BFGS, then Newton polish (module docstring)."""
    free = np.ones(x0.size, dtype=bool) if free is None else free

    def full(z):
        x = x0.copy()
        x[free] = z
        return x

    result = optimize.minimize(lambda z: f(full(z)), x0[free], method="BFGS",
                               jac=lambda z: f.gradient(full(z), free)[free],
                               options={"gtol": GRADIENT_TOLERANCE / 10, "maxiter": maxiter})
    x = full(result.x)
    iterations = int(result.nit)
    for _ in range(NEWTON_STEPS):
        g = f.gradient(x, free)[free]
        H = f.hessian(x, free)
        if np.max(np.abs(g)) < GRADIENT_TOLERANCE * 0.1:
            break
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        candidate = x.copy()
        candidate[free] -= step
        if not np.isfinite(f(candidate)) or f(candidate) > f(x) + 1e-12 * abs(f(x)):  # rounding of f
            break
        x, iterations = candidate, iterations + 1
    g = f.gradient(x, free)[free]
    H = f.hessian(x, free)
    loglik = -f(x)
    converged = bool(np.max(np.abs(g)) < GRADIENT_TOLERANCE and np.all(np.linalg.eigvalsh(H) > 0))
    message = "converged" if converged else (f"largest gradient element {np.max(np.abs(g)):.3g} "
                                             f"after {iterations} iterations ({result.message})")
    return Optimum(x, loglik, H, g, f.modes, converged, iterations, message)
