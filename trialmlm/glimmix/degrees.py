r"""Degrees of freedom of a GLMM's Wald t and F tests, as SAS PROC GLIMMIX's ``DDFM=``: one
registry, :data:`DF_RULES`.  Each rule gives a df per column of :math:`X`; a row :math:`l` of a
contrast gets the smallest df of the columns it involves and a joint F test the smallest row's
(:func:`trialmlm.inference.ddf.smallest_of_columns`, as for the MMRM), except LS means and their
differences, which get the df of the effect they are LS means of (:func:`effect_df`, SAS's rule).

* ``containment`` (``DDFM=CONTAIN``; the default, as GLIMMIX's with a G-side ``RANDOM`` statement
  whatever the ``METHOD=``): the random effects of the term ``(EXPR | SUBJECT)`` are its columns'
  effects crossed with the subject (``1``: ``SUBJECT``; ``WEEK``: ``WEEK*SUBJECT``).  A fixed
  effect is contained in a random effect when all its variables are among the random effect's
  (the intercept, which has none, is contained in every one); it gets the smallest rank
  contribution of a containing random effect to :math:`[X\,Z]`, in order:
  :math:`\mathrm{rank}[X\,Z_1..Z_j] - \mathrm{rank}[X\,Z_1..Z_{j-1}]`; else the residual
  :math:`n - \mathrm{rank}[X\,Z]`.  So with ``(1 | SUBJECT)`` the intercept gets
  :math:`N_s - 1` (the subjects less the intercept they span), a between-subject effect such as
  ``TRT`` is not contained (syntactically; SAS's ``SUBJECT=ID(TRT)`` is not expressible here)
  and gets :math:`n - \mathrm{rank}[X\,Z]`.
* ``between-within`` (``DDFM=BETWITHIN``, Schluchter & Elashoff 1990): an effect constant within
  every subject gets :math:`N_s - \mathrm{rank}(X_b)`, the others :math:`n - N_s -
  (\mathrm{rank}(X) - \mathrm{rank}(X_b))` (:func:`trialmlm.inference.ddf.between_within_columns`);
  GLIMMIX's further split of the within df by subject-by-effect interactions is not made (as
  for the MMRM).
* ``residual`` (``DDFM=RESIDUAL``): :math:`n - \mathrm{rank}(X)`.
* ``none`` (``DDFM=NONE``): infinite, i.e. z and chi-square tests (lme4, emmeans' asymptotic df).

:math:`\mathrm{rank}[X\,Z]` with :math:`Z` block diagonal over subjects is
:math:`\sum_i\mathrm{rank}(Z_i) + \mathrm{rank}((I - P_Z)X)`, from the per-subject
cross-products :math:`Z_i^\top Z_i` and :math:`Z_i^\top X_i` (no loop over subjects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..inference.ddf import DF, between_within_columns, smallest_of_columns, term_variables
from .problem import Problem

DEFAULT_DF = "containment"
RANK_TOL = 1e-10  # eigenvalues of the projected Gram matrix below this times the largest of X'X are 0


@dataclass(frozen=True)
class DfRule:
    """A df rule: ``columns(design, problem)`` gives the df of each column of :math:`X`."""

    name: str
    sas: str
    columns: Callable[[object, Problem], np.ndarray]


def rank_xz(problem: Problem, z_columns: np.ndarray) -> int:
    r""":math:`\mathrm{rank}[X\,Z]` with :math:`Z` the subject-blocked columns ``z_columns`` of
    the random-effects design (module docstring)."""
    X, Z = problem.X, problem.Z[:, z_columns]
    ztz = problem.per_subject(Z[:, :, None] * Z[:, None, :])
    ztx = problem.per_subject(Z[:, :, None] * X[:, None, :])
    rank_z = int(np.sum(np.linalg.matrix_rank(ztz, hermitian=True)))
    projected = X.T @ X - np.einsum("mkp,mkl,mlq->pq", ztx, np.linalg.pinv(ztz, hermitian=True), ztx)
    values = np.linalg.eigvalsh(projected)
    return rank_z + int(np.sum(values > RANK_TOL * np.linalg.eigvalsh(X.T @ X).max()))


def containment_columns(design, problem: Problem) -> np.ndarray:
    """Per column of :math:`X`, the containment df (module docstring)."""
    effects = [(term_variables(term), np.arange(problem.q)[cols])
               for term, cols in design.random_spec.term_slices.items()]
    ranks = [rank_xz(problem, np.concatenate([np.arange(0)] + [c for _, c in effects[:j]]))
             for j in range(len(effects) + 1)]
    contribution = np.diff(ranks)
    per_col = np.full(problem.X.shape[1], float(problem.X.shape[0] - ranks[-1]))
    for term, cols in design.encoding.term_columns().items():
        variables = term_variables(term)
        containing = [c for (random, _), c in zip(effects, contribution) if variables <= random]
        if containing:
            per_col[cols] = float(min(containing))
    return per_col


DF_RULES: dict[str, DfRule] = {r.name: r for r in (
    DfRule("containment", "DDFM=CONTAIN", containment_columns),
    DfRule("between-within", "DDFM=BETWITHIN", lambda design, problem: between_within_columns(design)),
    DfRule("residual", "DDFM=RESIDUAL", lambda design, problem: np.full(
        problem.X.shape[1], float(problem.X.shape[0] - np.linalg.matrix_rank(problem.X)))),
    DfRule("none", "DDFM=NONE", lambda design, problem: np.full(problem.X.shape[1], np.inf)),
)}


def effect_df(design, problem: Problem, variables: list[str], rule: str | None = None) -> float | None:
    """The df of the model term whose variables are exactly ``variables`` under ``rule`` (None:
    :data:`DEFAULT_DF`), or None when the model has no such term.  SAS gives an LS mean of
    ``A*B`` and the differences of such LS means the df of the effect ``A*B`` (e.g. DDFM=BW: the
    within-subject df for treatment-by-visit LS means, although they involve the intercept)."""
    per_col = _rule(rule).columns(design, problem)
    for term, cols in design.encoding.term_columns().items():
        if cols.size and term_variables(term) == frozenset(variables):
            return float(per_col[cols].min())
    return None


def _rule(rule: str | None) -> DfRule:
    name = DEFAULT_DF if rule is None else rule
    if name not in DF_RULES:
        raise DataError(f"df must be one of {', '.join(DF_RULES)}; got {rule!r}")
    return DF_RULES[name]


def degrees_of_freedom(design, problem: Problem, L: np.ndarray, rule: str | None = None) -> DF:
    """The df of each row of ``L`` and of the joint test of its rows under ``rule`` (None:
    :data:`DEFAULT_DF`); DataError naming the rules for an unknown one."""
    return smallest_of_columns(_rule(rule).columns(design, problem), np.atleast_2d(L))
