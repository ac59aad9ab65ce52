r"""Generalized score tests of :math:`L\beta = 0` in a GEE (Rotnitzky & Jewell 1990,
Biometrika 77:485-497; Boos 1992, Am. Stat. 46:327-333): SAS PROC GENMOD/GEE's default
"Score Statistics For Type 3 GEE Analysis".

The restricted model :math:`\beta = N\gamma`, :math:`N` an orthonormal basis of the null space of
:math:`L`, is fitted by the same GEE (its own :math:`\alpha` and :math:`\phi`, moment
divisors with its :math:`p - r` coefficients); at its solution :math:`\tilde\beta = N\tilde
\gamma`, :math:`\tilde\alpha` the full model's estimating function :math:`\tilde S = \sum_i
\tilde U_i`, bread :math:`\tilde M` and empirical covariance :math:`\tilde\Sigma = \tilde
M^{-1}(\sum_i\tilde U_i\tilde U_i^\top)\tilde M^{-1}` (:mod:`.variance`) give

.. math::  T = \tilde S^\top\tilde M^{-1}L^\top(L\tilde\Sigma L^\top)^{-1}L\tilde M^{-1}\tilde S,

chi-square with :math:`r = \mathrm{rank}(L)` df (SAS GEE documentation, "Type 3 Analysis";
:math:`\phi` cancels, as :math:`\tilde M^{-1}\tilde S` is free of it).  The meat is not
centred (:math:`\sum_i\tilde U_i = \tilde S \ne 0`), as in the documented formula.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.linalg import null_space

from ..inference.wald import full_row_rank
from .scoring import Problem, evaluate, solve
from .variance import robust


def restricted_fit(problem: Problem, L: np.ndarray, start: np.ndarray, tol: float, maxiter: int):
    """The GEE under :math:`L\\beta = 0`: ``(beta_tilde, alpha_tilde, converged)``."""
    N = null_space(L)
    sub = problem.restricted(N)
    est = solve(sub, np.linalg.lstsq(N, start, rcond=None)[0], tol, maxiter)
    return N @ est.beta, est.alpha, est.converged


def score_test(problem: Problem, L: np.ndarray, start: np.ndarray, tol: float, maxiter: int) -> dict:
    """``df, chi_square, p, converged`` of the generalized score test of ``L beta = 0``
    (module docstring); ``start`` the full model's estimate."""
    L = full_row_rank(np.atleast_2d(np.asarray(L, dtype=float)))
    r = L.shape[0]
    if r == 0:
        return {"df": 0, "chi_square": np.nan, "p": np.nan, "converged": True}
    beta, alpha, converged = restricted_fit(problem, L, start, tol, maxiter)
    est = evaluate(problem, beta, alpha)
    g = L @ np.linalg.solve(est.H, est.U.sum(axis=0))
    t = float(g @ np.linalg.solve(L @ robust(problem, est) @ L.T, g))
    return {"df": r, "chi_square": t, "p": float(stats.chi2.sf(t, r)), "converged": converged}
