r"""Fit a GLMM with several random-effect terms by the Laplace approximation (:mod:`.multilevel`).

Starting values as lme4 ``glmer``: :math:`\beta` of the GLM without random effects
(:meth:`.multilevel.LaplaceProblem.glm_beta`) and :math:`L_f = I`; then the Laplace
log-likelihood over :math:`(\beta, \theta)` together (:func:`.optimize.minimise`: BFGS on
the analytic gradient, Newton polish; the central differences of that gradient give the
observed information).  A diagonal element of some :math:`L_f` below ``BOUNDARY_SD`` is held at 0
(its row of :math:`L_f` too) and the rest maximised again, as for one term.
"""

from __future__ import annotations

import numpy as np

from ..engine.design import Design
from ..engine.formula import ModelFormula
from .multilevel import LaplaceProblem, modes_frame
from .optimize import Objective, Optimum, minimise
from .results import GLMMResults, GLMMSettings, fit_notes, held_inverse

BOUNDARY_SD = 1e-4  # as for one term (fitting.py): a diagonal element of L_f below it is a variance at 0


class LaplaceObjective(Objective):
    """:math:`-\\ell(\\beta, \\theta)`, the Laplace approximation with several terms; the joint
    mode of the last evaluation starts the next one.  The gradient is analytic
    (:meth:`.multilevel.LaplaceProblem.gradient`), the Hessian its central differences
    (:meth:`.optimize.Objective.hessian`)."""

    def __init__(self, problem: LaplaceProblem):
        self.problem, self.modes = problem, None

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        p = self.problem.X.shape[1]
        self.modes = self.problem.mode(x[:p], x[p:], None if self.modes is None else self.modes.u)
        return -self.modes.loglik, -self.problem.gradient(x[:p], x[p:], self.modes)


def starting_values(problem: LaplaceProblem) -> np.ndarray:
    r""":math:`(\beta, \theta)` to start from (module docstring)."""
    return np.concatenate([problem.glm_beta(), np.zeros(problem.n_theta)])


def maximise_laplace(problem: LaplaceProblem) -> tuple[Optimum, np.ndarray]:
    """The maximum and the mask of the parameters that vary (False: held at a boundary)."""
    x0 = starting_values(problem)
    optimum = minimise(LaplaceObjective(problem), x0)
    p = problem.X.shape[1]
    held = np.zeros(problem.n_theta, dtype=bool)
    x = optimum.x.copy()
    for term, a, low in zip(problem.terms, problem.theta_offsets, problem.choleskys(optimum.x[p:])):
        rows, cols = np.tril_indices(term.q)
        at_bound = np.isin(rows, np.flatnonzero(np.diag(low) < BOUNDARY_SD))
        held[a:a + rows.size] = at_bound
        x[p + a:p + a + rows.size][at_bound] = np.where(rows == cols, -np.inf, 0.0)[at_bound]
    if not held.any():
        return optimum, np.ones(x.size, dtype=bool)
    free = np.concatenate([np.ones(p, dtype=bool), ~held])
    return minimise(LaplaceObjective(problem), x, free), free


def fit_several_terms(formula: ModelFormula, settings: GLMMSettings, design: Design,
                      problem: LaplaceProblem, notes: list[str]) -> GLMMResults:
    """Maximise and report (:class:`.results.GLMMResults`): G block diagonal over the terms,
    random effects named ``FACTOR:EFFECT``, ``modes`` by :func:`.multilevel.modes_frame`;
    ``notes`` of the data checks come first."""
    optimum, free = maximise_laplace(problem)
    p = problem.X.shape[1]
    choleskys = problem.choleskys(optimum.x[p:])
    G = np.zeros((problem.columns.shape[1],) * 2)
    names = []
    for term, low, a in zip(problem.terms, choleskys, np.cumsum([0] + [t.q for t in problem.terms])):
        G[a:a + term.q, a:a + term.q] = low @ low.T
        names += [f"{term.factor}:{name}" for name in term.names]
    at_zero = list(np.asarray(names)[np.concatenate([np.diag(low) for low in choleskys]) == 0])
    notes = tuple(notes) + fit_notes(optimum.converged, optimum.message, at_zero, 3)
    inverse = held_inverse(optimum.information, free)
    fixed_names = tuple(np.asarray(design.encoding.columns)[design.encoding.kept])
    blocks = tuple((t.factor, t.q) for t in problem.terms)
    return GLMMResults(formula, settings, fixed_names, tuple(names), optimum.x[:p], inverse[:p, :p],
                       optimum.x[p:], inverse, G, optimum.loglik, int(free.sum()), design.n_obs,
                       design.n_subjects, modes_frame(problem, optimum.x[p:], optimum.modes.u),
                       optimum.converged, optimum.iterations, optimum.message, notes, blocks, design)


