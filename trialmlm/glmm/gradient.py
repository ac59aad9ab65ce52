r"""The analytic gradient of the Laplace / adaptive Gauss-Hermite log-likelihood in
:math:`\psi = (\beta, \theta)`, per subject and for all subjects at once.

Notation of :mod:`.modes` and :mod:`.quadrature`: :math:`A_i = Z_iL` (rows :math:`a_{ij}`),
:math:`\eta_{ij}(u) = x_{ij}^\top\beta + a_{ij}^\top u + o_{ij}`, :math:`s, w, w'` the score,
the observed weight and its :math:`\eta`-derivative (:class:`.conditional.Conditional`),
:math:`H_i = A_i^\top W A_i + I = C_iC_i^\top` at the mode :math:`\hat u_i`,
:math:`S_i = C_i^{-\top}` and the nodes :math:`v_{ik} = \hat u_i + \sqrt2 S_i x_k`.  Then

.. math::  \ell_i = \mathrm{const} - \tfrac12\log|H_i| + \log\sum_k\tilde\omega_k e^{h_i(v_{ik})},

.. math::  \frac{d\ell_i}{d\psi} = -\tfrac12\mathrm{tr}\Big(H_i^{-1}\frac{dH_i}{d\psi}\Big)
           + \sum_k\pi_{ik}\Big(\frac{\partial h_i}{\partial\psi}(v_{ik})
           + \nabla_u h_i(v_{ik})^\top\frac{dv_{ik}}{d\psi}\Big)

with :math:`\pi_{ik}` the normalised terms of the sum.  The mode moves with :math:`\psi`
(implicit function theorem on :math:`\nabla_u h_i(\hat u_i) = 0`):
:math:`d\hat u_i/d\psi = H_i^{-1}\,\partial^2 h_i/\partial u\,\partial\psi`, and with it the
curvature, :math:`dH_i/d\psi = \partial H_i/\partial\psi + A_i^\top\mathrm{diag}(w'\,d\hat\eta/d\psi)A_i`
(the third :math:`\eta`-derivative of :math:`\log f`), and the scale of the nodes,
:math:`dS = -S\,dC^\top S` with :math:`dC = C\,\Phi(C^{-1}dH\,C^{-\top})` (:math:`\Phi`: lower
triangle, half the diagonal), so :math:`dv_{ik} = d\hat u_i + \sqrt2\,dS_i\,x_k`.  Laplace is
the one node :math:`x = 0`, where :math:`\nabla_u h_i = 0`.  Everything is batched over
subjects (arrays of subjects x nodes x parameters); no loop over subjects.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .modes import Modes, find_modes, random_part
from .problem import Problem
from .quadrature import adaptive_grid, log_integral


def cholesky_derivatives(q: int, theta: np.ndarray) -> np.ndarray:
    r""":math:`\partial L/\partial\theta_t` (T, q, q): :math:`L_{rr}` at a diagonal element
    (log scale), 1 off the diagonal."""
    rows, cols = np.tril_indices(q)
    dL = np.zeros((rows.size, q, q))
    dL[np.arange(rows.size), rows, cols] = np.where(rows == cols, np.exp(theta), 1.0)
    return dL


def subject_gradients(problem: Problem, beta: np.ndarray, theta: np.ndarray, n_points: int,
                      start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, Modes]:
    r"""``(loglik, gradient, modes)``: :math:`\ell_i` (m,), :math:`d\ell_i/d\psi` (m, p + T)
    (module docstring) and the modes they are centred on."""
    cond, per_subject, sub = problem.conditional, problem.per_subject, problem.subject
    q, p = problem.q, beta.size
    L = problem.cholesky(theta)
    dL = cholesky_derivatives(q, theta)
    fixed = problem.X @ beta + problem.offset
    modes = find_modes(problem, fixed, L, start)
    A = problem.Z @ L                                             # (n, q)
    dA = np.einsum("na,tar->ntr", problem.Z, dL)                  # (n, T, q)
    u_row = modes.u[sub]                                          # (n, q)
    s, w = cond.derivatives(fixed + random_part(problem, L, modes.u))
    w_slope = cond.weight_slope(fixed + random_part(problem, L, modes.u))
    # d(grad_u h)/d psi at the mode, partial in psi: (m, q, P)
    cross_beta = -per_subject(A[:, :, None] * (w[:, None] * problem.X)[:, None, :])
    dA_u = np.einsum("ntr,nr->nt", dA, u_row)                     # (n, T)
    cross_theta = per_subject(np.swapaxes(dA, 1, 2) * s[:, None, None]
                              - A[:, :, None] * (w[:, None] * dA_u)[:, None, :])
    H = modes.curvature
    du = np.linalg.solve(H, np.concatenate([cross_beta, cross_theta], axis=2))   # (m, q, P)
    d_eta = np.concatenate([problem.X, dA_u], axis=1) + np.einsum("nr,nrP->nP", A, du[sub])
    dH = per_subject(np.einsum("nr,ns,nP->nrsP", A, A, w_slope[:, None] * d_eta))
    dAW = np.einsum("ntr,ns->nrst", dA, w[:, None] * A)
    dH[..., p:] += per_subject(dAW + np.swapaxes(dAW, 1, 2))
    log_det_part = -0.5 * np.einsum("mrs,msrP->mP", np.linalg.inv(H), dH)
    C, nodes, v, log_w = adaptive_grid(modes, n_points)
    S = np.swapaxes(np.linalg.inv(C), 1, 2)                       # C^{-T}
    # dC = C Phi(C^{-1} dH C^{-T}) and dS = -S dC^T S, parameters along axis 1
    inner = np.moveaxis(np.einsum("mba,mbcP,mcd->madP", S, dH, S), 3, 1)   # C^{-1} dH C^{-T}
    dC = np.einsum("mab,mPbc->mPac", C, np.tril(inner) - 0.5 * inner * np.eye(q))
    dS = -np.einsum("mab,mPcb,mcd->mPad", S, dC, S)
    dv = du[:, None, :, :] + np.sqrt(2.0) * np.einsum("mPab,kb->mkaP", dS, nodes)   # (m, K, q, P)
    eta = fixed[:, None] + np.einsum("nr,nkr->nk", A, v[sub])     # (n, K)
    score = cond.derivatives(eta)[0]                              # (n, K)
    h = per_subject(cond.log_density(eta)) - 0.5 * np.sum(v * v, axis=-1)          # (m, K)
    partial = np.concatenate([per_subject(score[:, :, None] * problem.X[:, None, :]),
                              per_subject(score[:, :, None] * np.einsum("ntr,nkr->nkt", dA, v[sub]))],
                             axis=2)                              # (m, K, P)
    grad_u = per_subject(score[:, :, None] * A[:, None, :]) - v   # (m, K, q)
    total = partial + np.einsum("mkr,mkrP->mkP", grad_u, dv)
    weights = special.softmax(log_w + h, axis=1)
    return log_integral(C, log_w + h), log_det_part + np.einsum("mk,mkP->mP", weights, total), modes
