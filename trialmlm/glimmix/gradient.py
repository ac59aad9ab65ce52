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

The negative binomial's :math:`\phi = \log k` (last element of :math:`\theta` when the problem
estimates it, :mod:`.problem`) enters only through :math:`\log f`: its partials are
:math:`\partial h_i/\partial\phi = \sum_j\partial_\phi\log f_{ij}`,
:math:`\partial^2 h_i/\partial u\,\partial\phi = A_i^\top\partial_\phi s` and
:math:`\partial H_i/\partial\phi = A_i^\top\mathrm{diag}(\partial_\phi w)A_i`
(:meth:`.conditional.Conditional.dispersion_derivatives`); the mode, curvature and nodes move
with it by the same rules.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .modes import Modes, find_modes, random_part
from .problem import Problem, cholesky_derivatives
from .quadrature import adaptive_grid, log_integral


def subject_gradients(problem: Problem, beta: np.ndarray, theta: np.ndarray, n_points: int,
                      start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, Modes]:
    r"""``(loglik, gradient, modes)``: :math:`\ell_i` (m,), :math:`d\ell_i/d\psi` (m, p + T)
    (module docstring) and the modes they are centred on."""
    scaled, per_subject, sub = problem.estimates_scale, problem.per_subject, problem.subject
    problem = problem.at(theta)
    cond = problem.conditional
    p, T = beta.size, problem.n_covariance
    L = problem.cholesky(theta)
    fixed = problem.X @ beta + problem.offset
    modes = find_modes(problem, fixed, L, start)
    A = problem.Z @ L                                             # (n, q)
    dA = np.swapaxes(problem.Z @ cholesky_derivatives(theta[:T]), 0, 1)   # (n, T, q)
    u_row = modes.u[sub]                                          # (n, q)
    eta_hat = fixed + random_part(problem, L, modes.u)
    s, w = cond.derivatives(eta_hat)
    # d(grad_u h)/d psi at the mode, partial in psi: (m, q, P)
    cross_beta = -per_subject(A[:, :, None] * (w[:, None] * problem.X)[:, None, :])
    dA_u = np.sum(dA * u_row[:, None, :], axis=2)                 # (n, T)
    cross_theta = per_subject(np.swapaxes(dA, 1, 2) * s[:, None, None]
                              - A[:, :, None] * (w[:, None] * dA_u)[:, None, :])
    crosses, direct = [cross_beta, cross_theta], [problem.X, dA_u]
    if scaled:
        _, d_score, d_weight = cond.dispersion_derivatives(eta_hat)
        crosses.append(per_subject(A * d_score[:, None])[:, :, None])
        direct.append(np.zeros((eta_hat.size, 1)))
    H = modes.curvature
    du = np.linalg.solve(H, np.concatenate(crosses, axis=2))     # (m, q, P)
    d_eta = np.concatenate(direct, axis=1) + np.sum(A[:, :, None] * du[sub], axis=1)
    # dH/d psi (m, P, q, q): the weights move with eta_hat (and k), A with theta
    AA = A[:, None, :, None] * A[:, None, None, :]
    dH = per_subject((cond.weight_slope(eta_hat)[:, None] * d_eta)[:, :, None, None] * AA)
    dAW = dA[:, :, :, None] * (w[:, None] * A)[:, None, None, :]
    dH[:, p:p + T] += per_subject(dAW + np.swapaxes(dAW, 2, 3))
    if scaled:
        dH[:, p + T:] += per_subject(d_weight[:, None, None, None] * AA)
    log_det_part = -0.5 * np.sum(np.linalg.inv(H)[:, None] * dH, axis=(2, 3))
    C, nodes, v, log_w = adaptive_grid(modes, n_points)
    v_row = v[sub]                                                # (n, K, q)
    eta = fixed[:, None] + np.sum(A[:, None, :] * v_row, axis=2)  # (n, K)
    score = cond.derivatives(eta)[0]                              # (n, K)
    h = per_subject(cond.log_density(eta)) - 0.5 * np.sum(v * v, axis=-1)          # (m, K)
    partials = [per_subject(score[:, :, None] * problem.X[:, None, :]),
                per_subject(score[:, :, None] * (v_row @ np.swapaxes(dA, 1, 2)))]
    if scaled:
        partials.append(per_subject(cond.dispersion_derivatives(eta)[0])[:, :, None])
    partial = np.concatenate(partials, axis=2)                    # (m, K, P)
    if n_points > 1:  # Laplace: the one node is the mode, where grad_u h = 0
        partial = partial + node_movement(problem, A, score, C, v, nodes, du, dH)
    weights = special.softmax(log_w + h, axis=1)
    return log_integral(C, log_w + h), log_det_part + np.einsum("mk,mkP->mP", weights, partial), modes


def node_movement(problem: Problem, A: np.ndarray, score: np.ndarray, C: np.ndarray, v: np.ndarray,
                  nodes: np.ndarray, du: np.ndarray, dH: np.ndarray) -> np.ndarray:
    r""":math:`\nabla_u h_i(v_{ik})^\top dv_{ik}/d\psi` (m, K, P): the nodes move with the mode
    and with the scale :math:`S_i = C_i^{-\top}` (module docstring)."""
    q = C.shape[1]
    S = np.swapaxes(np.linalg.inv(C), 1, 2)[:, None]              # C^{-T}, (m, 1, q, q)
    # dC = C Phi(C^{-1} dH C^{-T}) and dS = -S dC^T S
    inner = np.swapaxes(S, 2, 3) @ dH @ S
    dC = C[:, None] @ (np.tril(inner) - 0.5 * inner * np.eye(q))
    dS = -(S @ np.swapaxes(dC, 2, 3) @ S)                         # (m, P, q, q)
    dv = du[:, None, :, :] + np.sqrt(2.0) * np.einsum("mPab,kb->mkaP", dS, nodes)   # (m, K, q, P)
    grad_u = problem.per_subject(score[:, :, None] * A[:, None, :]) - v            # (m, K, q)
    return np.sum(grad_u[..., None] * dv, axis=2)
