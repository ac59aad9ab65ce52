r"""Conditional modes of all subjects' random effects at once (batched Newton-Raphson).

For fixed :math:`(\beta, L)`, subject :math:`i`'s standardised random effects maximise

.. math::  h_i(u) = \sum_{j} \log f(y_{ij} \mid \eta_{ij}) - \tfrac12 u^\top u,
           \qquad \eta_{ij} = x_{ij}^\top\beta + z_{ij}^\top L u + o_{ij},

a concave function (every link of :mod:`.conditional` has a concave log density).  Newton's step is
:math:`H_i^{-1}\nabla h_i` with :math:`\nabla h_i = L^\top Z_i^\top s - u` and
:math:`H_i = L^\top Z_i^\top W Z_i L + I` (:math:`s, W` the score and weight of
:meth:`.conditional.Conditional.derivatives`: the observed curvature, so that the iteration
reaches the exact mode for non-canonical links too), for all subjects as one stacked solve; a
subject whose :math:`h_i` falls has its step halved.  This is lme4's penalised iteratively
reweighted least squares, subject by subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConvergenceError
from . import batched
from .problem import Problem

TOLERANCE = 1e-10  # largest Newton step (in u) at convergence
LAST_STEP = 1e-7  # a full Newton step this short is the last: the error left is of the order of its square
MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Modes:
    """``u`` (m, q) the modes, ``h`` (m,) :math:`h_i(\\hat u_i)`, ``curvature`` (m, q, q)
    :math:`H_i` at the modes, ``eta`` (n,) the rows' linear predictor there, and ``slope``
    (m, q, P) :math:`d\\hat u_i/d\\psi` when the gradient (:mod:`.gradient`) has computed it."""

    u: np.ndarray
    h: np.ndarray
    curvature: np.ndarray
    eta: np.ndarray | None = None
    slope: np.ndarray | None = None


def random_part(problem: Problem, L: np.ndarray, u: np.ndarray) -> np.ndarray:
    r""":math:`z_{ij}^\top L u_i` per row; ``u`` (m, q) or (m, K, q) -> (n,) or (n, K)."""
    b = np.take(u @ L.T, problem.subject, axis=0)
    return np.einsum("nq,nq->n" if b.ndim == 2 else "nq,nkq->nk", problem.Z, b)


def objective(problem: Problem, fixed: np.ndarray, L: np.ndarray, u: np.ndarray) -> np.ndarray:
    r""":math:`h_i(u_i)` (m,) or, for ``u`` (m, K, q), at K points per subject (m, K)."""
    return penalised(problem, fixed.reshape((-1,) + (1,) * (u.ndim - 2)) + random_part(problem, L, u), u)


def penalised(problem: Problem, eta: np.ndarray, u: np.ndarray) -> np.ndarray:
    r""":math:`h_i` from the rows' linear predictor ``eta`` (n,) or (n, K) at ``u`` (m, q) or (m, K, q)."""
    return problem.per_subject(problem.conditional.log_density(eta)) - 0.5 * np.einsum("...q,...q->...", u, u)


def curvature(problem: Problem, outer: np.ndarray, weight: np.ndarray) -> np.ndarray:
    r""":math:`H_i = L^\top Z_i^\top WZ_iL + I` (m, q, q) from the rows' observed ``weight`` and
    ``outer`` (n, q, q), :math:`L^\top z_jz_j^\top L` per row."""
    return problem.per_subject(weight[:, None, None] * outer) + np.eye(problem.q)


def find_modes(problem: Problem, fixed: np.ndarray, L: np.ndarray, start: np.ndarray | None = None) -> Modes:
    """The modes (module docstring) from ``start`` (zeros when None); ``fixed`` is
    :math:`X\\beta + o` per row.  The iteration stops at the point reached by a full (not
    halved) Newton step shorter than ``LAST_STEP`` (Newton's quadratic convergence leaves an
    error of the order of that step's square; :math:`h_i, H_i` are already computed there), or
    by a halved one shorter than ``TOLERANCE``.
    ConvergenceError when a subject's iterations do not settle."""
    q, m = problem.q, problem.n_subjects
    u = np.zeros((m, q)) if start is None else start.copy()
    ZL = problem.Z @ L
    outer = np.einsum("na,nb->nab", ZL, ZL)
    eta = fixed + random_part(problem, L, u)
    h = penalised(problem, eta, u)
    last, limit = np.inf, LAST_STEP  # the last step and the length that ends the iteration
    for _ in range(MAX_ITERATIONS):
        score, weight = problem.conditional.derivatives(eta)
        H = curvature(problem, outer, weight)
        if last < limit:
            return Modes(u, h, H, eta)
        step = batched.solve(H, problem.per_subject(score[:, None] * ZL) - u)
        limit = LAST_STEP
        for _ in range(30):
            new_u = u + step
            new_eta = fixed + random_part(problem, L, new_u)
            new_h = penalised(problem, new_eta, new_u)
            worse = new_h < h - 1e-12 * np.abs(h)
            if not worse.any():
                break
            step[worse] *= 0.5
            limit = TOLERANCE
        u, eta, h, last = new_u, new_eta, new_h, np.max(np.abs(new_u - u))
    raise ConvergenceError(f"the conditional modes did not settle in {MAX_ITERATIONS} Newton steps "
                           f"(largest step {np.max(np.abs(step)):.3g})")
