r"""``trialmlm.glmm(formula, data, ...)``: generalized linear mixed models by maximum likelihood
(SAS PROC GLIMMIX ``METHOD=LAPLACE | QUAD``; R ``lme4::glmer``, GLMMadaptive).

The formula is parsed and encoded as the MMRM's (:func:`trialmlm.engine.formula.parse_formula`,
:func:`trialmlm.engine.design.build_design`: SAS reference coding, the same checks); its
random-effect term ``(EXPR | SUBJECT)`` gives :math:`Z` and an unstructured :math:`G`.  The
response is checked by the GEE's family registry (:mod:`trialmlm.genmod.families`).  The
fit maximises the marginal log-likelihood (:mod:`.quadrature`, :mod:`.optimize`): Laplace
first, then, for ``method="quad"``, adaptive Gauss-Hermite quadrature from the Laplace optimum.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..engine.design import build_design, model_columns
from ..engine.formula import parse_formula
from ..errors import (
    BoundaryWarning,
    ConvergenceWarning,
    DataError,
    DataWarning,
    FormulaError,
    SeparationWarning,
)
from ..genmod.families import binary_values, get_family
from .checks import separated_terms, short_subjects, too_few_subjects
from .conditional import Conditional
from .multilevel import LaplaceProblem, design_terms
from .multilevel_fit import fit_several_terms
from .optimize import Optimum, maximise
from .problem import Problem
from .results import GLMMResults, GLMMSettings, fit_notes, held_inverse

BOUNDARY_SD = 1e-4  # a diagonal element of L below this is a variance at its boundary 0
BOUNDARY_K = 1e-6  # a negative binomial dispersion below this is at its boundary 0 (Poisson)
STABLE = 1e-6  # change of the log-likelihood at which increasing n_points stops
AUTO_POINTS = tuple(range(5, 32, 2))


def glmm(formula: str, data: pd.DataFrame, family: str = "binomial", link: str | None = None,
         method: str = "quad", n_points: int | None = None, offset: str | None = None,
         trials: str | None = None) -> GLMMResults:
    r"""Fit a GLMM with one random-effect term per subject by maximum likelihood.

    Parameters
    ----------
    formula : ``"CRIT1FL ~ TRT * AVISIT + (1 + WEEK | USUBJID)"``: the mean model and one
        term ``(EXPR | SUBJECT)`` (unstructured G, SAS ``RANDOM EXPR / SUBJECT= TYPE=UN``),
        or several terms, nested ``(1 | SITE) + (1 + WEEK | USUBJID)`` or crossed
        ``(1 | SUBJ) + (1 | ITEM)``, one G per term, fitted by the Laplace approximation
        (:mod:`.multilevel`; ``method="laplace"``).
    data : one row per subject and visit; never modified; rows with a missing value in a
        model column (or offset, trials) are not used.
    family, link : "binomial" (0/1, Y/N, or events with ``trials=``) with "logit" (default),
        "probit" or "cloglog", "poisson" with "log", or "negbin" (alias "nb") with "log": the
        negative binomial with :math:`\mathrm{Var}(y\mid b) = \mu + k\mu^2`, its dispersion
        :math:`k` estimated with the other parameters (SAS ``DIST=NEGBIN``, "Scale"; one
        random-effect term) (:mod:`.conditional`).
    method : "laplace" (SAS ``METHOD=LAPLACE``, lme4 ``nAGQ = 1``) or "quad" (adaptive
        Gauss-Hermite, SAS ``METHOD=QUAD``, lme4 ``nAGQ = n_points`` for one random effect).
    n_points : quadrature points per random effect (product rule: ``n_points ** q`` per
        subject); None: 5, 7, 9, ... until the log-likelihood changes by less than 1e-6.
    offset : column added to the linear predictor (log exposure).
    trials : column of trials for an events/trials binomial response.

    Raises
    ------
    DataError           fewer subjects than random effects per subject (:mod:`.checks`).

    Warns
    -----
    SeparationWarning   a binary response separated by the fixed effects: the diverging terms.
    DataWarning         subjects with fewer rows than random effects.
    BoundaryWarning     a variance at 0: reported as 0 and held there; a negative binomial k below
                        1e-6: held at 0 (the Poisson GLMM).
    ConvergenceWarning  the optimiser stopped short (``converged=False``), or the quadrature did
                        not stabilise.
    """
    parsed = parse_formula(formula)
    terms = parsed.random_terms
    if parsed.covariance is not None or not terms or any(t.diagonal for t in terms):
        raise FormulaError(f"a GLMM formula has the mean model and one random-effect term (1 + TIME | "
                           f"SUBJECT) per grouping factor, unstructured, for now; got '{formula}'")
    fam = get_family(family)
    link_name = fam.link(link).name
    method = str(method).lower()
    if method not in ("laplace", "quad"):
        raise DataError(f"method must be 'laplace' or 'quad'; got {method!r}")
    several = len(parsed.random_terms) > 1
    if several and fam.estimates_k:
        raise FormulaError(f"the negative binomial GLMM takes one random-effect term (its dispersion k is "
                           f"estimated by the one-term engine); got '{formula}'")
    if several and method == "quad":
        raise FormulaError(f"adaptive quadrature needs one random-effect term; use method='laplace' for "
                           f"'{formula}'")
    if n_points is not None and (int(n_points) != n_points or n_points < 1):
        raise DataError(f"n_points must be a positive integer; got {n_points!r}")
    frame = _frame(data, parsed, fam.name, offset, trials)
    design = build_design(frame, parsed, None, False)
    rows = design.row_position

    def values(column):
        return None if column is None else frame[column].to_numpy(dtype=float)[rows]

    y, w = fam.check(design.y, values(trials), parsed.response, design.row_index)
    names = tuple(np.asarray(design.encoding.columns)[design.encoding.kept])
    offsets = np.zeros_like(y) if offset is None else values(offset)
    conditional = Conditional.of(fam, link_name, y, w)
    if several:
        notes = _separation(design.X, y, names, fam.name)
        problem = LaplaceProblem(design.X, offsets, design_terms(design, parsed), conditional)
        settings = GLMMSettings(fam.name, link_name, method, 1, offset, trials)
        return fit_several_terms(parsed, settings, design, problem, notes)
    notes = _check(design, names, y, fam.name)
    problem = Problem(design.X, design.Z, offsets, design.subject, design.n_subjects, conditional,
                      fam.estimates_k)
    x0 = np.concatenate([np.zeros(design.n_fixed), np.zeros(problem.n_theta)])
    optimum, free = _fit(problem, 1, x0)
    used = 1
    if method == "quad" and n_points is not None:
        used = int(n_points)
        optimum, free = _fit(problem, used, optimum.x, optimum)
    elif method == "quad":
        optimum, free, used = _auto(problem, optimum)
    settings = GLMMSettings(fam.name, link_name, method, used, offset, trials)
    return _results(parsed, settings, design, problem, optimum, free, names, notes)


def _check(design, names: tuple[str, ...], y: np.ndarray, family: str) -> list[str]:
    """DataError for fewer subjects than random effects; the warnings (:mod:`.checks`) of
    subjects with fewer rows than random effects and of separation, returned as notes."""
    message = too_few_subjects(design.n_subjects, tuple(design.random_names))
    if message is not None:
        raise DataError(message)
    notes = []
    short = short_subjects(np.bincount(design.subject, minlength=design.n_subjects), design.subject_labels,
                           len(design.random_names))
    if short is not None:
        notes.append(short)
        warnings.warn(short, DataWarning, stacklevel=4)
    return notes + _separation(design.X, y, names, family)


def _separation(X: np.ndarray, y: np.ndarray, names: tuple[str, ...], family: str) -> list[str]:
    """The SeparationWarning (:func:`.checks.separated_terms`) of a binomial response, as a note."""
    diverging = separated_terms(X, y, names) if family == "binomial" else []
    if not diverging:
        return []
    note = ("complete or quasi-complete separation: the estimate of "
            f"{', '.join(map(repr, diverging))} diverges (its value and standard error only show where the "
            "iterations stopped)")
    warnings.warn(note, SeparationWarning, stacklevel=4)
    return [note]


def _frame(data, parsed, family: str, offset: str | None, trials: str | None) -> pd.DataFrame:
    """The model's columns and offset/trials, rows where those are known; 0/1 binary response."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    extra = [c for c in (offset, trials) if c is not None]
    for c in extra:
        if c not in data.columns:
            raise FormulaError(f"column '{c}' ({'offset' if c == offset else 'trials'}) is not in the data")
        if not pd.api.types.is_numeric_dtype(data[c]):
            raise DataError(f"column '{c}' ({'offset' if c == offset else 'trials'}) must be numeric")
    used = list(dict.fromkeys(model_columns(data, parsed, None)[2] + extra))
    frame = data.loc[data[extra].notna().all(axis=1), used] if extra else data.loc[:, used]
    if family == "binomial" and trials is None:
        frame = frame.assign(**{parsed.response: binary_values(frame[parsed.response], parsed.response)})
    return frame


def _fit(problem: Problem, n_points: int, x0: np.ndarray, warm: Optimum | None = None
         ) -> tuple[Optimum, np.ndarray]:
    """Maximise from ``x0`` (and ``warm``'s information, :func:`.optimize.maximise`); a diagonal
    element of L that falls below ``BOUNDARY_SD`` is set to 0 (its row of L too), a negative
    binomial k below ``BOUNDARY_K`` is set to 0 (the Poisson GLMM), and the others are maximised
    again."""
    free = np.isfinite(x0)
    optimum = maximise(problem, n_points, x0, free, None if warm is None else warm.information)
    p = problem.X.shape[1]
    L = problem.cholesky(optimum.x[p:])
    low = np.flatnonzero(np.diag(L) < BOUNDARY_SD)
    poisson = problem.estimates_scale and optimum.x[-1] < np.log(BOUNDARY_K)
    if low.size == 0 and not poisson:
        return optimum, free
    rows, cols = np.tril_indices(problem.q)
    x = optimum.x.copy()
    at_bound = np.isin(rows, low)
    x[p:p + rows.size][at_bound] = np.where(rows[at_bound] == cols[at_bound], -np.inf, 0.0)
    scale_held = np.full(problem.n_theta - rows.size, poisson)
    x[p + rows.size:][scale_held] = -np.inf
    free = np.concatenate([np.ones(p, dtype=bool), ~at_bound, ~scale_held])
    return maximise(problem, n_points, x, free), free


def _auto(problem: Problem, laplace: Optimum) -> tuple[Optimum, np.ndarray, int]:
    """Quadrature with 5, 7, ... points until the log-likelihood changes by less than ``STABLE``,
    each fit started at the previous optimum and its information (warm start)."""
    previous, warm, change = None, laplace, np.inf
    for n in AUTO_POINTS:
        optimum, free = _fit(problem, n, warm.x, warm)
        if previous is not None:
            change = abs(optimum.loglik - previous.loglik)
            if change < STABLE:
                return optimum, free, n
        previous = warm = optimum
    warnings.warn(f"the quadrature did not stabilise: the log-likelihood still changed by {change:.3g} "
                  f"from {AUTO_POINTS[-2]} to {AUTO_POINTS[-1]} points per random effect", ConvergenceWarning,
                  stacklevel=3)
    return optimum, free, AUTO_POINTS[-1]


def _results(parsed, settings: GLMMSettings, design, problem: Problem, optimum: Optimum,
             free: np.ndarray, names: tuple[str, ...], notes: list[str]) -> GLMMResults:
    p = problem.X.shape[1]
    L = problem.cholesky(optimum.x[p:])
    G = L @ L.T
    at_zero = list(np.asarray(design.random_names)[np.diag(L) == 0])
    notes = tuple(notes) + fit_notes(optimum.converged, optimum.message, at_zero, 3)
    inverse = held_inverse(optimum.information, free)
    modes = pd.DataFrame(optimum.modes.u @ L.T, index=pd.Index(design.subject_labels, name=parsed.subject),
                         columns=list(design.random_names))
    end = p + problem.n_covariance
    scale = (np.exp(optimum.x[end]), np.exp(optimum.x[end]) * np.sqrt(inverse[end, end])
             ) if problem.estimates_scale else (None, None)
    if scale[0] == 0:
        notes += ("the negative binomial dispersion k is at its boundary 0 (no overdispersion beyond the "
                  "random effects): the model is the Poisson GLMM; fit family='poisson'",)
        warnings.warn(notes[-1], BoundaryWarning, stacklevel=3)
    return GLMMResults(parsed, settings, names, tuple(design.random_names), optimum.x[:p], inverse[:p, :p],
                       optimum.x[p:end], inverse[:end, :end], G,
                       optimum.loglik, int(free.sum()), design.n_obs, design.n_subjects, modes,
                       optimum.converged, optimum.iterations, optimum.message, notes,
                       design=design, problem=problem.at(optimum.x[p:]), scale=scale[0], scale_se=scale[1])
