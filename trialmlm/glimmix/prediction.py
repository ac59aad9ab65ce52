r"""Conditional modes of the random effects and their prediction variances (SAS GLIMMIX
"Solution for Random Effects" for ``METHOD=LAPLACE | QUAD``; lme4 ``ranef(condVar = TRUE)``).

Subject :math:`i`'s mode is :math:`\hat b_i = L\hat u_i` (:mod:`.modes`).  Given
:math:`x = (\beta, \theta)`, its conditional variance is the inverse curvature of the penalised
log-likelihood :math:`\log f(y_i\mid b) + \log\phi(b; 0, G)` at the mode,

.. math::  V_i = (Z_i^\top W_iZ_i + G^{-1})^{-1} = L\,H_i^{-1}L^\top,
           \qquad H_i = L^\top Z_i^\top W_iZ_iL + I

(``kind="lme4"``: lme4's ``condVar``; defined also for a singular :math:`G`).  SAS GLIMMIX
(``kind="sas"``, the default) adds the uncertainty of :math:`\hat x` by Booth & Hobert's (1998)
approximation to the conditional mean squared error of prediction ("Aspects Common to Adaptive
Quadrature and Laplace Approximation", the prediction variance matrix of :math:`(\hat\beta,
\hat\theta, \hat\gamma)`):

.. math::  P_i = V_i + J_i\,C\,J_i^\top, \qquad J_i = \partial\hat b_i/\partial x,

:math:`C` the covariance of the free :math:`\hat x` (the inverse observed information, or the
sandwich that replaces it).  :math:`J_i` is a central difference (step
:math:`10^{-5}\max(1, |x_j|)`) of all subjects' modes at once.
"""

from __future__ import annotations

import numpy as np

from .modes import Modes, find_modes
from .problem import Problem

STEP = 1e-5


def modes_at(problem: Problem, x: np.ndarray, start: np.ndarray | None = None) -> tuple[np.ndarray, Modes]:
    r""":math:`\hat b_i` (m, q) and the modes' state at :math:`x = (\beta, \theta)`."""
    p = problem.X.shape[1]
    L = problem.cholesky(x[p:])
    modes = find_modes(problem, problem.X @ x[:p] + problem.offset, L, start)
    return modes.u @ L.T, modes


def conditional_variance(problem: Problem, x: np.ndarray) -> np.ndarray:
    r"""(m, q, q): :math:`V_i = LH_i^{-1}L^\top` (module docstring)."""
    L = problem.cholesky(x[problem.X.shape[1]:])
    _, modes = modes_at(problem, x)
    return L @ np.linalg.inv(modes.curvature) @ L.T


def mode_jacobian(problem: Problem, x: np.ndarray, free: np.ndarray) -> np.ndarray:
    r"""(m, q, k): :math:`J_i = \partial\hat b_i/\partial x_j` for the free ``j`` (central differences)."""
    _, modes = modes_at(problem, x)
    columns = []
    for j in np.flatnonzero(free):
        e = np.zeros_like(x)
        e[j] = STEP * max(1.0, abs(x[j]))
        up, _ = modes_at(problem, x + e, modes.u)
        down, _ = modes_at(problem, x - e, modes.u)
        columns.append((up - down) / (2 * e[j]))
    return np.stack(columns, axis=-1)


def prediction_variance(problem: Problem, x: np.ndarray, free: np.ndarray,
                        covariance: np.ndarray) -> np.ndarray:
    r"""(m, q, q): :math:`P_i = V_i + J_iCJ_i^\top` with ``covariance`` :math:`C` of the free
    parameters (module docstring)."""
    J = mode_jacobian(problem, x, free)
    return conditional_variance(problem, x) + np.einsum("mak,kl,mbl->mab", J, covariance, J)
