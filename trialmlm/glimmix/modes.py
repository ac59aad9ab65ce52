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
from .problem import Problem

TOLERANCE = 1e-10  # largest Newton step (in u) at convergence
MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Modes:
    """``u`` (m, q) the modes, ``h`` (m,) :math:`h_i(\\hat u_i)` and ``curvature`` (m, q, q)
    :math:`H_i` at the modes."""

    u: np.ndarray
    h: np.ndarray
    curvature: np.ndarray


def random_part(problem: Problem, L: np.ndarray, u: np.ndarray) -> np.ndarray:
    r""":math:`z_{ij}^\top L u_i` per row; ``u`` (m, q) or (m, K, q) -> (n,) or (n, K)."""
    b = u @ L.T
    if b.ndim == 2:
        return np.einsum("nq,nq->n", problem.Z, b[problem.subject])
    return np.einsum("nq,nkq->nk", problem.Z, b[problem.subject])


def objective(problem: Problem, fixed: np.ndarray, L: np.ndarray, u: np.ndarray) -> np.ndarray:
    r""":math:`h_i(u_i)` (m,) or, for ``u`` (m, K, q), at K points per subject (m, K)."""
    log_f = problem.conditional.log_density(fixed.reshape((-1,) + (1,) * (u.ndim - 2))
                                            + random_part(problem, L, u))
    return problem.per_subject(log_f) - 0.5 * np.sum(u * u, axis=-1)


def find_modes(problem: Problem, fixed: np.ndarray, L: np.ndarray, start: np.ndarray | None = None) -> Modes:
    """The modes (module docstring) from ``start`` (zeros when None); ``fixed`` is
    :math:`X\\beta + o` per row.  ConvergenceError when a subject's iterations do not settle."""
    q, m = problem.q, problem.n_subjects
    u = np.zeros((m, q)) if start is None else start.copy()
    h = objective(problem, fixed, L, u)
    ZL = problem.Z @ L
    eye = np.eye(q)
    for _ in range(MAX_ITERATIONS):
        score, weight = problem.conditional.derivatives(fixed + random_part(problem, L, u))
        gradient = problem.per_subject(ZL * score[:, None]) - u
        curvature = problem.per_subject(weight[:, None, None] * ZL[:, :, None] * ZL[:, None, :]) + eye
        step = np.linalg.solve(curvature, gradient[..., None])[..., 0]
        new_h = objective(problem, fixed, L, u + step)
        for _ in range(30):
            worse = new_h < h - 1e-12 * np.abs(h)
            if not worse.any():
                break
            step[worse] *= 0.5
            new_h[worse] = objective(problem, fixed, L, u + step)[worse]
        u, h = u + step, new_h
        if np.max(np.abs(step)) < TOLERANCE:
            break
    else:
        raise ConvergenceError(f"the conditional modes did not settle in {MAX_ITERATIONS} Newton steps "
                               f"(largest step {np.max(np.abs(step)):.3g})")
    _, weight = problem.conditional.derivatives(fixed + random_part(problem, L, u))
    curvature = problem.per_subject(weight[:, None, None] * ZL[:, :, None] * ZL[:, None, :]) + eye
    return Modes(u, h, curvature)
