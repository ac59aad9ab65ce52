r"""Maximise the likelihood over the covariance parameters.

The search runs on the unconstrained scale :math:`\theta` (:mod:`trialmlm.covariance`),
with the analytic gradient and Hessian chained from :math:`\phi`:
:math:`g_\theta = J^\top g_\phi`,
:math:`H_\theta = J^\top H_\phi J + \sum_m g_{\phi,m}\,\partial^2\phi_m/\partial\theta^2`.

Fallback chain:

1. Newton-Raphson with Levenberg ridging of an indefinite Hessian and Armijo step
   halving (SAS PROC MIXED's default is Newton-Raphson as well);
2. if that stalls, BFGS (scipy) on the analytic gradient, then Newton-Raphson again
   from BFGS's end point.

Convergence is declared when the Newton decrement :math:`g^\top H^{-1} g` of the
-2 log-likelihood falls below ``tolerance`` (default 1e-10), i.e. the objective is
within about 1e-10 of the optimum; SAS's default GCONV criterion is this decrement
relative to the objective, at 1e-8.

Held parameters (SAS ``PARMS ... / HOLD=``): the search runs over the free parameters
only, on their own scale :math:`\phi_f` (a held :math:`\phi_k` is no coordinate of
:math:`\theta` for the structures whose map is not elementwise, e.g. the Cholesky factor
of ``us``), with the gradient and Hessian of the free block, :math:`g_f` and
:math:`H_{ff}`; a step that leaves the parameter space (a variance at or below zero, a
correlation outside (-1, 1), :math:`\Sigma` not positive definite) is halved back.
With every parameter held, or ``iterate=False`` (SAS ``NOITER``), the likelihood is only
evaluated at the given values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize as spo

from .likelihood import Evaluation, Likelihood


@dataclass(frozen=True)
class OptimResult:
    theta: np.ndarray
    phi: np.ndarray
    evaluation: Evaluation
    converged: bool
    n_iter: int
    optimizer: str
    message: str


class Objective:
    """The likelihood as a function of :math:`\\theta`: the blocks of the likelihood's
    :class:`~trialmlm.engine.parameters.ParameterMap` mapped one by one (a G shared by the groups once)."""

    def __init__(self, lik: Likelihood):
        self.lik = lik

    def phi(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\phi(\theta)` and the Jacobian, block by block."""
        n = self.lik.n_params
        phi = np.zeros(n)
        jac = np.zeros((n, n))
        for b in self.lik.parameters.blocks:
            phi[b.at], jac[b.at, b.at] = b.transform.phi_jacobian(theta[b.at])
        return phi, jac

    def curvature(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        r""":math:`\sum_m g_{\phi,m}\,\partial^2\phi_m/\partial\theta^2`, block by block
        (never the (n, n, n) array of all second derivatives)."""
        n = self.lik.n_params
        out = np.zeros((n, n))
        for b in self.lik.parameters.blocks:
            out[b.at, b.at] = b.transform.curvature(theta[b.at], grad[b.at])
        return out

    def theta(self, phi: np.ndarray) -> np.ndarray:
        return np.concatenate([b.transform.phi_to_theta(phi[b.at]) for b in self.lik.parameters.blocks])

    def __call__(self, theta: np.ndarray, order: int):
        """(value, grad, hess) in theta; value = inf where Sigma is not positive definite."""
        with np.errstate(all="ignore"):
            phi, jac = self.phi(theta)
        if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(jac))):
            return np.inf, None, None
        with np.errstate(all="ignore"):  # overflow on the way to a singular Sigma: value inf, handled here
            ev = self.lik.evaluate(phi, order)
        if ev is None or not np.isfinite(ev.value):
            return np.inf, None, None
        if order == 0:
            return ev.value, None, None
        grad = jac.T @ ev.grad
        if order == 1:
            return ev.value, grad, None
        with np.errstate(all="ignore"):
            hess = jac.T @ ev.hess @ jac + self.curvature(theta, ev.grad)
        return ev.value, grad, 0.5 * (hess + hess.T)


def _newton_direction(grad: np.ndarray, hess: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve (H + lambda I) d = -g with the smallest ridge lambda that makes it PD."""
    scale = max(float(np.max(np.abs(np.diag(hess)))), 1e-8)
    ridge = 0.0
    for _ in range(60):
        try:
            chol = np.linalg.cholesky(hess + ridge * np.eye(len(grad)))
            step = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
            return step, float(-grad @ step)
        except np.linalg.LinAlgError:
            ridge = max(2 * ridge, 1e-8 * scale)
    return -grad / scale, float(grad @ grad / scale)


#: Newton decrement below which the full step is taken when the objective changes by no more
#: than its rounding (``NOISE`` relative): there the predicted decrease, decrement / 2, is of
#: the order of the rounding of a -2 log-likelihood summed over hundreds of subjects, so the
#: Armijo test cannot see it, while the step still halves the distance to the optimum many
#: times over (quadratic convergence).
NEAR, NOISE = 1e-6, 1e-12


def newton_raphson(obj: Objective, theta: np.ndarray, tolerance: float, max_iter: int):
    """Damped Newton-Raphson (Armijo backtracking; see :data:`NEAR`); returns (theta,
    converged, iterations, message)."""
    value, grad, hess = obj(theta, 2)
    if not np.isfinite(value):
        return theta, False, 0, "objective not finite at the starting values"
    for it in range(1, max_iter + 1):
        step, decrement = _newton_direction(grad, hess)
        if decrement < tolerance:
            # one last full Newton step: quadratic convergence takes the parameters from
            # ~sqrt(tolerance) to rounding error for the price of one evaluation
            final = theta + step
            final_value = obj(final, 0)[0]
            if np.isfinite(final_value) and final_value <= value + 1e-9 * max(1.0, abs(value)):
                theta = final
            return theta, True, it, "Newton decrement below tolerance"
        t, slope = 1.0, float(grad @ step)
        for attempt in range(40):
            new = theta + t * step
            # the full step is usually accepted: evaluate it with derivatives straight away
            trial = obj(new, 2 if attempt == 0 else 0)
            if np.isfinite(trial[0]) and (trial[0] <= value + 1e-4 * t * slope or (
                    attempt == 0 and decrement < NEAR and trial[0] <= value + NOISE * max(1.0, abs(value)))):
                break  # sufficient decrease; or, in the quadratic region, a change at rounding level
            t *= 0.5
        else:
            return theta, False, it, "line search failed to decrease the objective"
        theta = new
        value, grad, hess = trial if trial[1] is not None else obj(theta, 2)
    step, decrement = _newton_direction(grad, hess)
    return theta, bool(decrement < tolerance), max_iter, "iteration limit reached"


class HeldObjective:
    """The likelihood as a function of the free parameters :math:`\\phi_f`, the others held
    at ``phi[held]``; same interface as :class:`Objective`."""

    def __init__(self, lik: Likelihood, phi: np.ndarray, held: np.ndarray):
        self.lik, self.phi, self.free = lik, np.asarray(phi, dtype=float), np.flatnonzero(~held)
        self.mapped = Objective(lik)

    def full(self, free: np.ndarray) -> np.ndarray:
        phi = self.phi.copy()
        phi[self.free] = free
        return phi

    def __call__(self, free: np.ndarray, order: int):
        phi = self.full(free)
        if outside(self.mapped, phi).size:
            return np.inf, None, None
        with np.errstate(all="ignore"):
            ev = self.lik.evaluate(phi, order)
        if ev is None or not np.isfinite(ev.value):
            return np.inf, None, None
        grad = None if order == 0 else ev.grad[self.free]
        hess = None if order < 2 else ev.hess[np.ix_(self.free, self.free)]
        return ev.value, grad, hess


def outside(obj: Objective, phi: np.ndarray) -> np.ndarray:
    """Positions of :math:`\\phi` outside the parameter space: those that do not come back
    from the round trip :math:`\\phi\\to\\theta\\to\\phi` (a variance at or below zero, a
    correlation outside its interval; every parameter of a ``us`` block that is not positive
    definite)."""
    bad = []
    for b in obj.lik.parameters.blocks:
        part = phi[b.at]
        try:
            with np.errstate(all="ignore"):
                back = b.transform.theta_to_phi(b.transform.phi_to_theta(part))[0]
        except (np.linalg.LinAlgError, ValueError):
            back = np.full(part.shape, np.nan)
        wrong = ~(np.abs(back - part) <= 1e-8 * np.maximum(1.0, np.abs(part)))
        bad.append(np.arange(b.at.start, b.at.stop)[wrong])
    return np.concatenate(bad) if bad else np.array([], dtype=int)


def _value_and_gradient(obj, theta: np.ndarray) -> tuple[float, np.ndarray]:
    value, grad, _ = obj(theta, 1)
    return value, (grad if grad is not None else np.zeros_like(theta))


def _search(obj, theta0: np.ndarray, tolerance: float, max_iter: int):
    """The fallback chain from ``theta0``: (theta, converged, iterations, optimizer, message)."""
    theta, converged, n_iter, message = newton_raphson(obj, theta0, tolerance, max_iter)
    optimizer = "newton-raphson"
    if not converged:
        res = spo.minimize(lambda t: _value_and_gradient(obj, t), theta, jac=True, method="BFGS",
                           options={"maxiter": 2000, "gtol": 1e-8})
        start = res.x if np.isfinite(res.fun) and res.fun <= obj(theta, 0)[0] else theta
        theta, converged, more, message = newton_raphson(obj, start, tolerance, max_iter)
        n_iter += int(res.nit) + more
        optimizer = "newton-raphson, bfgs, newton-raphson"
    return theta, converged, n_iter, optimizer, message


def maximise(lik: Likelihood, phi_start: np.ndarray, tolerance: float = 1e-10,
             max_iter: int = 100, held: np.ndarray | None = None, iterate: bool = True) -> OptimResult:
    """Run the fallback chain from ``phi_start``; see the module docstring.

    ``held`` (boolean over :math:`\\phi`) keeps those parameters at ``phi_start``;
    ``iterate=False`` (SAS NOITER) or every parameter held evaluates at ``phi_start`` only.
    """
    obj = Objective(lik)
    held = np.zeros(lik.n_params, dtype=bool) if held is None else np.asarray(held, dtype=bool)
    if not iterate or held.all():
        phi = np.asarray(phi_start, dtype=float)
        theta, converged, n_iter, message = obj.theta(phi), True, 0, "no iterations (parameters given)"
        optimizer = "none (NOITER)" if not iterate else "none (every parameter held)"
    elif held.any():
        free_obj = HeldObjective(lik, phi_start, held)
        free, converged, n_iter, optimizer, message = _search(free_obj, free_obj.phi[free_obj.free],
                                                              tolerance, max_iter)
        phi = free_obj.full(free)
        theta = obj.theta(phi)
    else:
        theta, converged, n_iter, optimizer, message = _search(obj, obj.theta(phi_start), tolerance, max_iter)
        phi = obj.phi(theta)[0]
    with np.errstate(all="ignore"):  # a non-converged end point may be (near) singular; reported by estimate
        evaluation = lik.evaluate(phi, 2)
    return OptimResult(theta, phi, evaluation, converged, n_iter, optimizer, message)
