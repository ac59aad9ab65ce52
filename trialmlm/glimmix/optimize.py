r"""Maximise the marginal log-likelihood over :math:`(\beta, \theta)` (:mod:`.problem`).

The objective is :math:`-\sum_i\ell_i` of :mod:`.quadrature` with its analytic gradient
(:mod:`.gradient`); the conditional modes of the last evaluation start the next one.  BFGS
(scipy) runs on the analytic gradient, then Newton steps on the Hessian polish the optimum
until the gradient's largest element is below a tenth of ``GRADIENT_TOLERANCE`` (converged:
below it, with a positive definite Hessian).  The Hessian is the central difference of the
analytic gradient (step :math:`h_j = 10^{-4}\max(1, |x_j|)`, column
:math:`(g(x + h_je_j) - g(x - h_je_j))/2h_j`, symmetrised): the observed information whose
inverse gives the standard errors, as SAS GLIMMIX ("finite differences of the analytic
gradient"; GLIMMIX takes forward differences, central ones are second-order accurate); when
the last Newton step moved no parameter by more than ``REUSE_STEP`` the Hessian it was taken
with is kept (it changes by that order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .gradient import subject_gradients
from .modes import Modes
from .problem import Problem

GRADIENT_TOLERANCE = 1e-5
NEWTON_STEPS = 10
REUSE_STEP = 1e-6  # a last Newton step this short keeps the Hessian it was taken with


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
    r""":math:`-\ell(\beta, \theta)` and its gradient with ``n_points`` nodes per dimension
    (one random-effect term; :class:`.multilevel_fit.LaplaceObjective` for several).  The modes
    at a new :math:`x` start from the last evaluation's, moved to first order:
    :math:`\hat u_i + (d\hat u_i/d\psi)(x - x_{\mathrm{last}})`."""

    def __init__(self, problem: Problem, n_points: int):
        self.problem, self.n_points, self.modes, self.x = problem, n_points, None, None

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        p = self.problem.X.shape[1]
        start = None
        if self.modes is not None:
            moved = np.nan_to_num(x - self.x, nan=0.0)  # a parameter held at -inf does not move
            start = self.modes.u + self.modes.slope @ moved
        ll, gradient, self.modes = subject_gradients(self.problem, x[:p], x[p:], self.n_points, start)
        self.x = x.copy()
        return -float(np.sum(ll)), -np.sum(gradient, axis=0)

    def __call__(self, x: np.ndarray) -> float:
        return self.value_and_gradient(x)[0]

    def hessian(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Central differences of the analytic gradient over the ``free`` parameters (module docstring)."""
        idx = np.flatnonzero(free)
        H = np.zeros((idx.size, idx.size))
        for a, j in enumerate(idx):
            step = np.zeros_like(x)
            step[j] = 1e-4 * max(1.0, abs(x[j]))
            H[:, a] = (self.value_and_gradient(x + step)[1][idx]
                       - self.value_and_gradient(x - step)[1][idx]) / (2 * step[j])
        return 0.5 * (H + H.T)


def maximise(problem: Problem, n_points: int, x0: np.ndarray, free: np.ndarray | None = None,
             information: np.ndarray | None = None, maxiter: int = 500) -> Optimum:
    """The maximum of the marginal log-likelihood from ``x0`` (module docstring)."""
    return minimise(Objective(problem, n_points), x0, free, information, maxiter)


def minimise(f: Objective, x0: np.ndarray, free: np.ndarray | None = None,
             information: np.ndarray | None = None, maxiter: int = 500) -> Optimum:
    """The minimum of the objective ``f`` (:math:`-\\ell` with ``value_and_gradient`` and
    ``hessian``, keeping the modes of its last evaluation in ``f.modes``) from ``x0``: BFGS,
    then Newton polish (module docstring); a positive definite ``information`` of the free
    parameters (a previous optimum's, e.g. the Laplace fit's before quadrature) starts BFGS's
    inverse-Hessian approximation as its inverse."""
    free = np.ones(x0.size, dtype=bool) if free is None else free
    options = {"gtol": GRADIENT_TOLERANCE / 10, "maxiter": maxiter}
    if information is not None and information.shape == (free.sum(),) * 2 and np.all(
            np.linalg.eigvalsh(information) > 0):
        inverse = np.linalg.inv(information)
        options["hess_inv0"] = 0.5 * (inverse + inverse.T)

    def full(z):
        x = x0.copy()
        x[free] = z
        return x

    def value_and_gradient(z):
        value, gradient = f.value_and_gradient(full(z))
        return value, gradient[free]

    result = optimize.minimize(value_and_gradient, x0[free], method="BFGS", jac=True, options=options)
    x, value, g = full(result.x), float(result.fun), np.asarray(result.jac)
    iterations = int(result.nit)
    H, H_at, evaluated_at = None, x, None
    for _ in range(NEWTON_STEPS):
        if np.max(np.abs(g)) < GRADIENT_TOLERANCE * 0.1:
            break
        H, H_at = f.hessian(x, free), x
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        candidate = x.copy()
        candidate[free] -= step
        new_value, new_g = value_and_gradient(candidate[free])
        evaluated_at = candidate
        if not np.isfinite(new_value) or new_value > value + 1e-12 * abs(value):  # rounding of f
            break
        x, value, g, iterations = candidate, new_value, new_g, iterations + 1
    if H is None or np.max(np.abs(x[free] - H_at[free]), initial=0.0) > REUSE_STEP:
        H, evaluated_at = f.hessian(x, free), None
    if evaluated_at is not x:  # the modes kept in f are those of the last evaluation
        value, g = value_and_gradient(x[free])
    loglik = -value
    converged = bool(np.max(np.abs(g)) < GRADIENT_TOLERANCE and np.all(np.linalg.eigvalsh(H) > 0))
    message = "converged" if converged else (f"largest gradient element {np.max(np.abs(g)):.3g} "
                                             f"after {iterations} iterations ({result.message})")
    return Optimum(x, loglik, H, g, f.modes, converged, iterations, message)
