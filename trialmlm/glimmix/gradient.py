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
with it by the same rules (in the log-determinant: :math:`-\tfrac12\sum_j\partial_\phi w_j\,
z_j^\top P_iz_j`).

The parts at the mode are sums over a subject's rows of the score :math:`s`, the weight
:math:`w` and the leverage term :math:`c_j = w'_j\,z_j^\top P_iz_j` (:math:`P_i = LH_i^{-1}L^\top`)
times :math:`x_j, z_j` and :math:`z_j(x_j^\top, z_j^\top)`: with :math:`M_i = Z_i^\top WZ_i`
(so :math:`H_i = L^\top M_iL + I`) and :math:`L_t = \partial L/\partial\theta_t`,

.. math::  \frac{\partial^2 h_i}{\partial u\,\partial\beta^\top} = -L^\top Z_i^\top WX_i, \qquad
           \frac{\partial^2 h_i}{\partial u\,\partial\theta_t} = L_t^\top Z_i^\top s
           - L^\top M_iL_t\hat u_i,

.. math::  -\tfrac12\mathrm{tr}\Big(H_i^{-1}\frac{dH_i}{d\psi}\Big) = -\tfrac12\sum_j c_j
           \frac{d\hat\eta_j}{d\psi} - [\psi = \theta_t]\,\mathrm{tr}(H_i^{-1}L^\top M_iL_t),

.. math::  \frac{d\hat\eta_j}{d\beta} = x_j + z_j^\top L\frac{d\hat u_i}{d\beta}, \qquad
           \frac{d\hat\eta_j}{d\theta_t} = z_j^\top L_t\hat u_i + z_j^\top L\frac{d\hat u_i}{d\theta_t},

and, at the mode (Laplace), :math:`\partial h_i/\partial\beta = X_i^\top s`,
:math:`\partial h_i/\partial\theta_t = s^\top Z_iL_t\hat u_i`: arrays of rows x (p + q) and
subjects x q x parameters only.  Quadrature needs :math:`dH_i/d\psi` itself for the scale of
the nodes; it is summed over rows there.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import special

from . import batched
from .modes import Modes, find_modes, penalised
from .problem import Problem, cholesky_derivatives
from .quadrature import adaptive_grid, laplace, log_integral


def subject_gradients(problem: Problem, beta: np.ndarray, theta: np.ndarray, n_points: int,
                      start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, Modes]:
    r"""``(loglik, gradient, modes)``: :math:`\ell_i` (m,), :math:`d\ell_i/d\psi` (m, p + T)
    (module docstring) and the modes they are centred on, with :math:`d\hat u_i/d\psi` as
    their ``slope``."""
    scaled, per_subject, sub = problem.estimates_scale, problem.per_subject, problem.subject
    problem = problem.at(theta)
    cond = problem.conditional
    p, m, T = beta.size, problem.n_subjects, problem.n_covariance
    L, dL = problem.cholesky(theta), cholesky_derivatives(theta[:T])  # dL (T, q, q)
    q = L.shape[0]
    fixed = problem.X @ beta + problem.offset
    modes = find_modes(problem, fixed, L, start)
    s, w = cond.derivatives(modes.eta)
    score_sums = per_subject(s[:, None] * problem.columns)            # (m, p + q): X'_i s, Z'_i s
    weighted = per_subject(w[:, None, None] * problem.cross_products)  # (m, q, p + q): Z'_i W X_i, M_i
    LtM = L.T @ weighted[:, :, p:]
    D = np.ascontiguousarray(dL.transpose(2, 1, 0))                   # D[b, a, t] = (L_t)_ab
    dL_u = (modes.u @ D.reshape(q, q * T)).reshape(m, q, T)           # L_t u_i
    E = np.ascontiguousarray(dL.transpose(1, 2, 0))                   # E[b, a, t] = (L_t)_ba
    dLt_s = (score_sums[:, p:] @ E.reshape(q, q * T)).reshape(m, q, T)  # L_t' Z_i's
    crosses = [-(L.T @ weighted[:, :, :p]), dLt_s - LtM @ dL_u]
    if scaled:
        d_log_f, d_score, d_weight = cond.dispersion_derivatives(modes.eta)
        crosses.append((per_subject(d_score[:, None] * problem.Z) @ L)[:, :, None])
    H_inv = batched.inverse(modes.curvature)
    du = H_inv @ np.concatenate(crosses, axis=2)                      # (m, q, P)
    ZL = problem.Z @ L
    leverage = np.einsum("nab,nab->n", np.einsum("na,nb->nab", ZL, ZL), np.take(H_inv, sub, axis=0))
    c_sums = per_subject((cond.weight_slope(modes.eta) * leverage)[:, None] * problem.columns)
    c_eta = np.einsum("ma,mak->mk", c_sums[:, p:] @ L, du)
    c_eta[:, :p] += c_sums[:, :p]
    c_eta[:, p:p + T] += np.einsum("ma,mat->mt", c_sums[:, p:], dL_u)
    log_det_part = -0.5 * c_eta
    log_det_part[:, p:p + T] -= (H_inv @ LtM).reshape(m, q * q) @ D.reshape(q * q, T)   # tr(H^-1 L'M L_t)
    partials = [score_sums[:, :p], np.einsum("ma,mat->mt", score_sums[:, p:], dL_u)]
    if scaled:
        log_det_part[:, -1] -= 0.5 * per_subject(d_weight * leverage)
        partials.append(per_subject(d_log_f)[:, None])
    modes = replace(modes, slope=du)
    if n_points == 1:  # the one node is the mode, where grad_u h = 0
        return laplace(modes), log_det_part + np.concatenate(partials, axis=1), modes
    dH = curvature_derivative(problem, L, dL, LtM, modes, d_weight if scaled else None)
    ll, node_part = node_terms(problem, fixed, L, dL, modes, n_points, dH, scaled)
    return ll, log_det_part + node_part, modes


def curvature_derivative(problem: Problem, L: np.ndarray, dL: np.ndarray, LtM: np.ndarray,
                         modes: Modes, d_weight: np.ndarray | None) -> np.ndarray:
    r""":math:`dH_i/d\psi` (m, P, q, q) from ``LtM`` :math:`L^\top M_i`: :math:`L^\top(dM_i/d\psi)L`
    with :math:`dM_i/d\psi = \sum_j w'_j\,(d\hat\eta_j/d\psi)\,z_jz_j^\top` (the weights move
    with the mode), plus :math:`L_t^\top M_iL + L^\top M_iL_t` for :math:`\theta_t` and, given the
    rows' ``d_weight`` :math:`\partial_\phi w`, :math:`L^\top Z_i^\top\mathrm{diag}(\partial_\phi w)Z_iL`
    for :math:`\phi = \log k` (module docstring)."""
    cond, p, T = problem.conditional, problem.X.shape[1], dL.shape[0]
    moved = L @ modes.slope                                       # d(L u_i)/d psi, (m, q, P)
    moved[:, :, p:p + T] += np.einsum("tab,mb->mat", dL, modes.u)
    d_eta = np.einsum("na,nak->nk", problem.Z, np.take(moved, problem.subject, axis=0))
    d_eta[:, :p] += problem.X
    ZZ = problem.cross_products[:, :, p:]
    dH = L.T @ problem.per_subject((cond.weight_slope(modes.eta)[:, None] * d_eta)[:, :, None, None]
                                   * ZZ[:, None]) @ L
    LtML_t = np.einsum("mab,tbc->mtac", LtM, dL)
    dH[:, p:p + T] += LtML_t + np.swapaxes(LtML_t, 2, 3)
    if d_weight is not None:
        dH[:, -1] += L.T @ problem.per_subject(d_weight[:, None, None] * ZZ) @ L
    return dH


def node_terms(problem: Problem, fixed: np.ndarray, L: np.ndarray, dL: np.ndarray, modes: Modes,
               n_points: int, dH: np.ndarray, scaled: bool) -> tuple[np.ndarray, np.ndarray]:
    r"""``(loglik, part)``: :math:`\ell_i` and :math:`\sum_k\pi_{ik}(\partial h_i/\partial\psi(v_{ik})
    + \nabla_u h_i(v_{ik})^\top dv_{ik}/d\psi)` (m, P) of the adaptive rule (module docstring);
    ``scaled``: :math:`\psi` ends with :math:`\log k`."""
    cond, per_subject, sub = problem.conditional, problem.per_subject, problem.subject
    A = problem.Z @ L                                             # (n, q)
    dA = np.swapaxes(problem.Z @ dL, 0, 1)                        # (n, T, q)
    C, nodes, v, log_w = adaptive_grid(modes, n_points)
    v_row = np.take(v, sub, axis=0)                               # (n, K, q)
    eta = fixed[:, None] + np.sum(A[:, None, :] * v_row, axis=2)  # (n, K)
    score = cond.derivatives(eta)[0]                              # (n, K)
    h = penalised(problem, eta, v)                                # (m, K)
    partials = [per_subject(score[:, :, None] * problem.X[:, None, :]),
                per_subject(score[:, :, None] * (v_row @ np.swapaxes(dA, 1, 2)))]
    if scaled:
        partials.append(per_subject(cond.dispersion_derivatives(eta)[0])[:, :, None])
    partial = np.concatenate(partials, axis=2)                    # (m, K, P)
    partial = partial + node_movement(problem, A, score, C, v, nodes, modes.slope, dH)
    weights = special.softmax(log_w + h, axis=1)
    return log_integral(C, log_w + h), np.einsum("mk,mkP->mP", weights, partial)


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
