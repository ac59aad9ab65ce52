r"""Empirical ("sandwich") covariances of a GLMM's :math:`(\hat\beta, \hat\theta)`, as SAS PROC
GLIMMIX ``EMPIRICAL=CLASSICAL | MBN`` for ``METHOD=LAPLACE | QUAD``: one registry, :data:`VCOV`.

With :math:`g_i` subject :math:`i`'s gradient of its Laplace / quadrature log-likelihood
:math:`\ell_i` (:func:`.quadrature.subject_loglik`) in the free parameters :math:`(\beta, \theta)`
and :math:`H` the observed information (Hessian of :math:`-\sum_i\ell_i`) at the estimate,

* ``model``: :math:`H^{-1}` (GLIMMIX's default; lme4 ``vcov``);
* ``empirical`` (``EMPIRICAL=CLASSICAL``; GLMMadaptive ``vcov(fit, sandwich = TRUE)``):
  :math:`H^{-1}\big(\sum_i g_ig_i^\top\big)H^{-1}`;
* ``mbn`` (``EMPIRICAL=MBN``, Morel, Bokossa & Neerchal 2003, "likelihood-based" form of GLIMMIX's
  "Design-Adjusted MBN Estimator"): :math:`c\,H^{-1}MH^{-1} + \delta_m\phi\,H^{-1}` with
  :math:`M = \sum_i g_ig_i^\top` (:func:`trialmlm.genmod.variance.mbn_covariance`: :math:`c,
  \delta_m, \phi` with :math:`k = \mathrm{rank}(X)`, :math:`d = 2`, :math:`r = 1`); the
  additive term is :math:`\delta_m\phi H^{-1}` because GLIMMIX's :math:`B_i` is
  :math:`\delta_m\phi` times minus subject :math:`i`'s Hessian, which sum to :math:`H`.

:math:`g_i` are central differences (step :math:`10^{-5}\max(1, |x_j|)`) of all subjects'
:math:`\ell_i` at once, two evaluations per free parameter; the beta block of the sandwich does
not depend on how :math:`G` is parameterised (the change of parameters has a block-diagonal
Jacobian with the identity for :math:`\beta`), so it compares with GLMMadaptive's, which works
on the log-Cholesky factor of :math:`G` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..genmod.variance import mbn_covariance
from .problem import Problem
from .quadrature import subject_loglik

STEP = 1e-5


@dataclass(frozen=True)
class Covariance:
    """A covariance of the free :math:`(\\beta, \\theta)`: ``compute(information, gradients, problem)``,
    ``gradients`` a callable giving the :math:`g_i` (evaluated only by the sandwiches)."""

    name: str
    sas: str
    compute: Callable[[np.ndarray, Callable[[], np.ndarray], Problem], np.ndarray]


def subject_gradients(problem: Problem, x: np.ndarray, free: np.ndarray, n_points: int) -> np.ndarray:
    r"""(m, k): :math:`g_i = \partial\ell_i/\partial x_j` for the free elements ``j`` of
    :math:`x = (\beta, \theta)` (central differences; module docstring)."""
    p = problem.X.shape[1]

    def loglik(z):
        return subject_loglik(problem, z[:p], problem.cholesky(z[p:]), n_points)[0]

    columns = []
    for j in np.flatnonzero(free):
        e = np.zeros_like(x)
        e[j] = STEP * max(1.0, abs(x[j]))
        columns.append((loglik(x + e) - loglik(x - e)) / (2 * e[j]))
    return np.column_stack(columns)


def classical(information: np.ndarray, gradients: Callable[[], np.ndarray], problem: Problem) -> np.ndarray:
    r""":math:`H^{-1}(\sum_i g_ig_i^\top)H^{-1}`."""
    bread = np.linalg.inv(information)
    g = gradients()
    return bread @ (g.T @ g) @ bread


def mbn(information: np.ndarray, gradients: Callable[[], np.ndarray], problem: Problem) -> np.ndarray:
    """Morel-Bokossa-Neerchal (module docstring)."""
    g = gradients()
    return mbn_covariance(information, g.T @ g, problem.X.shape[0], problem.n_subjects,
                          int(np.linalg.matrix_rank(problem.X)))


VCOV: dict[str, Covariance] = {c.name: c for c in (
    Covariance("model", "(default)", lambda information, gradients, problem: np.linalg.inv(information)),
    Covariance("empirical", "EMPIRICAL=CLASSICAL", classical),
    Covariance("mbn", "EMPIRICAL=MBN", mbn),
)}


def get_covariance(name: str) -> Covariance:
    """The registry entry of ``name`` (DataError listing the names otherwise)."""
    if name not in VCOV:
        raise DataError(f"vcov must be one of {', '.join(VCOV)}; got {name!r}")
    return VCOV[name]
