"""The friendly entry points of trialmlm."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from .engine.design import FixedEncoding
from .engine.fallback import fit_best, fit_first_usable
from .engine.formula import parse_formula
from .engine.model import Model, build_model
from .engine.partitioned import check_methods, is_partitioned, reduce_partitions
from .engine.refit import fit_model
from .engine.results import MMRMResults
from .engine.threads import blas_threads
from .errors import DataError
from .inference.methods import Scope


def fit(formula: str, data: pd.DataFrame | str | os.PathLike, method: str = "REML",
        weights: str | None = None, ddf: str | None = None, vcov: str = "model",
        covariance: str | Sequence[str] | None = None,
        start: Mapping[str, float] | Sequence[float] | None = None,
        fixed: Mapping[str, float] | Sequence[float] | str | None = None,
        noiter: bool = False, encoding: FixedEncoding | None = None) -> MMRMResults:
    """Fit a mixed model for repeated measures (MMRM), or the linear model, by REML or ML.

    The model, the formula and the estimation: docs/mmrm.md; ``ddf`` and ``vcov``: docs/inference.md.

    Parameters
    ----------
    formula : ``"RESPONSE ~ mean model + STRUCT(VISIT | SUBJECT)"`` (``STRUCT`` one of
        :data:`trialmlm.STRUCTURES`; ``STRUCT(VISIT | GROUP / SUBJECT)``: SAS ``GROUP=``), random
        effects ``(1 + TIME | USUBJID)`` (docs/trajectory.md), or neither: the linear model
        :math:`y = X\\beta + \\varepsilon`, :math:`\\varepsilon \\sim N(0, \\sigma^2I)` (ANCOVA).
        A mean-model term ``clda(ARM, VISIT)`` fits the constrained longitudinal data analysis
        (cLDA: AVAL at baseline and after, one baseline mean for all arms;
        :mod:`trialmlm.engine.clda`, docs/mmrm.md).
    data : DataFrame (one row per subject and visit, never modified; rows with a missing
        response or covariate dropped), or a Dask DataFrame / Parquet dataset path, reduced
        to per-pattern sums partition by partition (:mod:`trialmlm.engine.partitioned`).
    method : "REML" (default) or "ML".
    weights : column of positive weights (SAS ``WEIGHT``: a subject's residual covariance
        :math:`W^{-1/2}\\Sigma W^{-1/2}`).
    ddf : default df method of the inference methods ("satterthwaite", "kenward-roger",
        "kenward-roger-linear", "between-within", "residual", "containment"); None: as SAS
        (satterthwaite; between-within with a sandwich; residual for the linear model).
    vcov : default covariance of beta: "model", "empirical" (CR0), "empirical-bias-reduced"
        (CR2), "empirical-jackknife" (CR3); HC0/HC2/HC3 for the linear model.
    covariance : structures replacing the formula's, tried in order (:mod:`trialmlm.engine.fallback`): the
        first that converges with a positive-definite Hessian and non-singular residual covariance.
    start : starting covariance parameters (SAS ``PARMS``): a dict by name or a list of every value.
    fixed : parameters held at the given values (SAS ``HOLD=``; ``"all"``: every one at its
        ``start`` value): no standard error, no df contribution, not counted in AIC/BIC.
    noiter : evaluate the fit at ``start`` (every parameter) without iterations (SAS
        ``NOITER`` with ``NOPROFILE``; docs/mmrm.md).
    encoding : the mean model's encoding of an earlier fit of the formula
        (``fit.design.encoding``), re-used when ``data`` has the same factor levels.

    Returns
    -------
    MMRMResults
        ``covariance_attempts`` records each structure tried and why it failed; a single
        structure's fit is returned even if it did not converge (``ConvergenceWarning``).

    Raises
    ------
    FormulaError, DataError
        Naming the column, level, subject, visit or parameter (also ``start``/``fixed``/``noiter``
        with several ``covariance`` structures).
    ConvergenceError
        Every structure of a ``covariance`` list failed (``attempts`` gives each reason).
    """
    Scope().resolve(ddf, vcov)  # the names and their combination, before the data are read
    parms = {"start": start, "fixed": fixed, "noiter": noiter}
    several = _fallback_list(covariance, parms)
    parsed = parse_formula(formula)  # the one parse of the formula and its covariance term
    with blas_threads():  # the moments and the likelihood's small matrices: one BLAS thread
        fitter = _fitter(parsed, data, method, weights, encoding,
                         lambda model: _fit_one(model, ddf, vcov, parms))
        result = fit_first_usable(parsed, covariance, fitter)
    if not several:  # a structure of a fallback list that failed is no problem of the fit returned
        result.warn_problems(stacklevel=2)
    return result


def select_covariance(formula: str, data: pd.DataFrame | str | os.PathLike, criterion: str = "aicc",
                      candidates: Sequence[str] = ("us", "toeph", "ar1h", "cs"), method: str = "REML",
                      weights: str | None = None, ddf: str | None = None, vcov: str = "model",
                      encoding: FixedEncoding | None = None) -> MMRMResults:
    """Fit the formula with each candidate covariance structure and return the usable fit with
    the smallest information criterion (a pre-specified selection rule of an analysis plan).

    The structure of the formula's covariance term is replaced by each candidate in turn, as
    with ``fit(..., covariance=[...])`` (:mod:`trialmlm.engine.fallback`), but every candidate
    is fitted and the criterion decides, not the order.

    Parameters
    ----------
    formula, data, method, weights, ddf, vcov, encoding : as :func:`fit`.
    criterion : "aic", "aicc" (default) or "bic": SAS's "Fit Statistics" of each fit
        (``fit.aic``, ``fit.aicc``, ``fit.bic``; docs/mmrm.md), smaller is better.
    candidates : two or more structures of :data:`trialmlm.STRUCTURES`.

    Returns
    -------
    MMRMResults
        The very fit of the chosen structure alone; ``covariance_attempts_table()`` lists every
        candidate with its -2 log-likelihood, parameters counted, criterion value, convergence
        and which was used.

    Raises
    ------
    ConvergenceError
        No candidate gave a usable fit.
    trialmlm.errors.SelectionTieError
        Two usable candidates share the smallest value.
    DataError, FormulaError
        An unknown criterion or structure, fewer than two candidates, or a problem of the data.
    """
    Scope().resolve(ddf, vcov)
    parms = {"start": None, "fixed": None, "noiter": False}
    parsed = parse_formula(formula)
    return fit_best(parsed, candidates, criterion, _fitter(parsed, data, method, weights, encoding,
                                                           lambda model: _fit_one(model, ddf, vcov, parms)))


def _fallback_list(covariance: str | Sequence[str] | None, parms: dict) -> bool:
    """Whether ``covariance`` lists several structures; DataError if ``parms`` (start, fixed,
    noiter) name parameters then, as they belong to one structure."""
    several = covariance is not None and not isinstance(covariance, str) and len(covariance) > 1
    if several and (parms["start"] is not None or parms["fixed"] is not None or parms["noiter"]):
        raise DataError("start=, fixed= and noiter= name the parameters of one covariance structure; "
                        f"they cannot go with the fallback list covariance={list(covariance)}: fit the "
                        "structure alone (covariance='us' or in the formula)")
    return several


def _fitter(parsed, data, method: str, weights: str | None, encoding: FixedEncoding | None,
            fit_one: Callable[[Model], MMRMResults]) -> Callable:
    """formula -> fit: ``fit_one`` of the model of a (covariance-substituted) formula on the
    rows of ``data`` or, for partitioned data, on its partition sums reduced once here."""
    if is_partitioned(data):
        reduced = reduce_partitions(data, parsed, weights, encoding)
        return lambda f: fit_one(reduced.model(f, method))
    return lambda f: fit_one(build_model(f, data, method, weights, encoding))


def _fit_one(model: Model, ddf: str | None, vcov: str, parms: dict) -> MMRMResults:
    """One fit of ``model``, its problems recorded (not warned)."""
    ddf, vcov = Scope.of(model.design, model.likelihood, model.spec.linear).resolve(ddf, vcov)
    if model.spec.from_sums:
        check_methods(ddf, vcov)
    return fit_model(model, ddf, vcov, **parms)
