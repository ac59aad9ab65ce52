r"""The marginal log-likelihood by adaptive Gauss-Hermite quadrature (Laplace: one point).

Subject :math:`i` contributes
:math:`\ell_i = \log\int (2\pi)^{-q/2}\exp h_i(u)\,du` (:mod:`.modes`).  Around the mode
:math:`\hat u_i`, with :math:`H_i = C_iC_i^\top` the curvature there and the product rule of
:math:`K = n^q` Gauss-Hermite nodes :math:`x_k` and weights :math:`\omega_k` (weight function
:math:`e^{-x^\top x}`), the nodes are :math:`u_{ik} = \hat u_i + \sqrt2\,C_i^{-\top}x_k` and

.. math::  \ell_i \approx \tfrac q2\log 2 - \log|C_i| - \tfrac q2\log 2\pi
           + \log\sum_k \omega_k e^{x_k^\top x_k}\exp h_i(u_{ik})

(Liu & Pierce 1994; Pinheiro & Bates 1995; SAS GLIMMIX ``METHOD=QUAD``, R GLMMadaptive).
With :math:`n = 1` (:math:`x = 0, \omega = \sqrt\pi`) this is the Laplace approximation
:math:`h_i(\hat u_i) - \tfrac12\log|H_i|` (SAS ``METHOD=LAPLACE``, lme4 ``nAGQ = 1``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

from . import batched
from .modes import Modes, find_modes, objective
from .problem import Problem


@lru_cache(maxsize=32)
def product_rule(n_points: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes (K, q) and :math:`\log\omega_k + x_k^\top x_k` (K,) of the q-fold product of
    the n-point Gauss-Hermite rule."""
    x, w = np.polynomial.hermite.hermgauss(n_points)
    grids = np.meshgrid(*([x] * q), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    log_w = sum(np.log(g.ravel()) for g in np.meshgrid(*([w] * q), indexing="ij"))
    return nodes, log_w + np.sum(nodes * nodes, axis=1)


def adaptive_grid(modes: Modes, n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""``(C, nodes, v, log_w)``: :math:`C_i` (m, q, q), the standard nodes :math:`x_k` (K, q),
    the subjects' nodes :math:`u_{ik} = \hat u_i + \sqrt2\,C_i^{-\top}x_k` (m, K, q) and
    :math:`\log\omega_k + x_k^\top x_k` (K,) (module docstring)."""
    C = np.linalg.cholesky(modes.curvature)
    nodes, log_w = product_rule(n_points, C.shape[1])
    scale = np.swapaxes(np.linalg.inv(C), 1, 2)  # C^{-T}
    return C, nodes, modes.u[:, None, :] + np.sqrt(2.0) * np.einsum("mab,kb->mka", scale, nodes), log_w


def log_integral(C: np.ndarray, log_terms: np.ndarray) -> np.ndarray:
    r""":math:`\ell_i` (m,) from :math:`C_i` and the terms :math:`\log\omega_k + x_k^\top x_k +
    h_i(u_{ik})` (m, K) (module docstring)."""
    q = C.shape[1]
    log_det = np.sum(np.log(np.diagonal(C, axis1=1, axis2=2)), axis=1)
    constant = 0.5 * q * np.log(2.0) - 0.5 * q * np.log(2.0 * np.pi)
    return constant - log_det + special.logsumexp(log_terms, axis=1)


def laplace(modes: Modes) -> np.ndarray:
    r""":math:`\ell_i = h_i(\hat u_i) - \tfrac12\log|H_i|` (m,), the one-point rule (module docstring)."""
    return modes.h - 0.5 * batched.log_det(modes.curvature)


def subject_loglik(problem: Problem, beta: np.ndarray, L: np.ndarray, n_points: int,
                   start: np.ndarray | None = None) -> tuple[np.ndarray, Modes]:
    r""":math:`\ell_i` per subject (module docstring) and the modes they are centred on."""
    fixed = problem.X @ beta + problem.offset
    modes = find_modes(problem, fixed, L, start)
    if n_points == 1:
        return laplace(modes), modes
    C, _, u, log_w = adaptive_grid(modes, n_points)
    return log_integral(C, log_w + objective(problem, fixed, L, u)), modes
