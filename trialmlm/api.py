"""The friendly entry points of trialmlm."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from .engine.design import FixedEncoding
from .engine.fallback import fit_first_usable
from .engine.formula import parse_formula
from .engine.model import Model, build_model
from .engine.partitioned import check_methods, is_partitioned, reduce_partitions
from .engine.refit import fit_model
from .engine.results import MMRMResults
from .errors import DataError
from .inference.methods import Scope


def fit(formula: str, data: pd.DataFrame | str | os.PathLike, method: str = "REML",
        weights: str | None = None, ddf: str | None = None, vcov: str = "model",
        covariance: str | Sequence[str] | None = None,
        start: Mapping[str, float] | Sequence[float] | None = None,
        fixed: Mapping[str, float] | Sequence[float] | str | None = None,
        noiter: bool = False, encoding: FixedEncoding | None = None) -> MMRMResults:
    """Fit a mixed model for repeated measures (MMRM), or the linear model, by REML or ML.

    Parameters
    ----------
    formula : str
        ``"RESPONSE ~ mean model + STRUCT(VISIT | SUBJECT)"``, e.g.
        ``"FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"``.  Without a
        covariance or random-effect term, ``"CHG ~ TRTP + SITEGR1 + BASE"``, the linear
        model :math:`y = X\\beta + \\varepsilon`, :math:`\\varepsilon \\sim N(0, \\sigma^2 I)`
        (ANCOVA; one row per subject, rows independent, no subject column): REML gives OLS,
        :math:`\\hat\\sigma^2 = RSS/(n - \\mathrm{rank} X)`, residual df (see
        ``docs/mmrm.md``).  The mean model is
        Wilkinson syntax; random effects ``(1 + TIME | USUBJID)``, one term per grouping
        factor (``(1 | SITE) + (1 | USUBJID)``: subjects within sites, see
        ``docs/trajectory.md``); ``STRUCT`` is one of :data:`trialmlm.STRUCTURES`;
        ``STRUCT(VISIT | GROUP / SUBJECT)`` fits a separate matrix per ``GROUP`` level
        (SAS ``GROUP=``); ``sp_exp(TIME | SUBJECT)`` takes numeric coordinates.
    data : pandas.DataFrame, Dask DataFrame or path of a Parquet dataset
        One row per subject and visit (per subject for the linear model); never modified.
        Rows with a missing response or covariate are dropped; every other observed visit is
        used (valid under MAR).  A Dask DataFrame (or a Parquet dataset, read with Dask) is
        reduced partition by partition to per-pattern sums, each partition holding whole
        subjects, and gives the same fit (:mod:`trialmlm.engine.partitioned`, ``docs/scale.md``):
        MMRMs with a visit-indexed covariance term and a mean model of factors and
        covariates; the sandwiches by a second pass over the partitions, no Bell & McCaffrey
        df, no per-row results (residuals).
    method : "REML" (default) or "ML".
    weights : str, optional
        Column of positive weights with SAS ``WEIGHT`` semantics: the residual
        covariance of a subject is :math:`W^{-1/2}\\Sigma W^{-1/2}`.
    ddf : default degrees-of-freedom method of the inference methods: "satterthwaite",
        "kenward-roger", "kenward-roger-linear", "between-within", "residual", "containment";
        None means "satterthwaite", or with a sandwich ``vcov`` "between-within"
        ("containment" with outer grouping factors), SAS's default with EMPIRICAL;
        "residual" for the linear model (where every method gives
        :math:`n - \\mathrm{rank} X`).  "satterthwaite" with a sandwich gives Bell &
        McCaffrey's df (R mmrm, clubSandwich); Kenward-Roger with a sandwich is a DataError.
    vcov : default covariance of beta: "model", "empirical" (CR0, SAS EMPIRICAL),
        "empirical-bias-reduced" (CR2), "empirical-jackknife" (CR3); for the linear model
        every row is a cluster (HC0, HC2, HC3).  ``fit.vcov`` is this covariance (Kenward-Roger's
        adjusted one with ``ddf="kenward-roger"``); ``fit.vcov_model`` the model-based one.
    covariance : str or list of str, optional
        Structures that replace the one of the formula's covariance term, tried in order
        as an analysis plan's fallback: ``["us", "toeph", "ar1h", "cs"]`` returns the fit
        of the first structure that converges with a positive-definite Hessian and a
        non-singular residual covariance (:mod:`trialmlm.engine.fallback`).  None fits the
        formula as written.
    start : dict or list, optional
        Starting values of the covariance parameters (SAS ``PARMS``): a dict by the names
        of :attr:`MMRMResults.covariance_parameter_names` (``{"UN(1,1)": 40.5, "AR(1)":
        0.4}``; the others start from the moment-based values) or a list of every value in
        that order.  At a unique optimum the estimate does not depend on it.
    fixed : dict, list or "all", optional
        Parameters held at the given values while the others are estimated (SAS
        ``HOLD=``); ``"all"`` holds every parameter at its ``start`` value.  Held
        parameters are constrained: no standard error, zero rows and columns of
        ``covariance_parameters_vcov``, no contribution to Satterthwaite or Kenward-Roger
        df, not counted in AIC/AICC/BIC.
    noiter : bool
        Evaluate the fit at the values of ``start`` (and ``fixed``), which must then give
        every parameter, without iterations (SAS ``NOITER`` with ``NOPROFILE``): -2 log L,
        :math:`\\hat\\beta`, standard errors and LS means at those values, the covariance
        of the parameters :math:`2H^{-1}` there.  See ``docs/mmrm.md``.
    encoding : FixedEncoding, optional
        The mean model's encoding of an earlier fit of the same formula
        (``fit.design.encoding``), e.g. on another simulated trial of one design: re-used
        when ``data`` has the same factor levels, which saves encoding the data anew; the
        fit is the same as without it.

    Returns
    -------
    MMRMResults
        ``covariance_attempts`` records each structure tried and why it failed.  A fit of
        a single structure is returned even if it did not converge, with a
        :class:`ConvergenceWarning` and ``converged=False``.

    Raises
    ------
    FormulaError, DataError
        With the offending column, level, subject, visit or covariance parameter named;
        ``start``/``fixed``/``noiter`` with a ``covariance`` list of several structures
        (whose parameters differ) is a DataError.
    ConvergenceError
        Every structure of a ``covariance`` list of several failed; the message and its
        ``attempts`` give each structure's reason.
    """
    Scope().resolve(ddf, vcov)  # the names and their combination, before the data are read
    parms = {"start": start, "fixed": fixed, "noiter": noiter}
    several = covariance is not None and not isinstance(covariance, str) and len(covariance) > 1
    if several and (start is not None or fixed is not None or noiter):
        raise DataError("start=, fixed= and noiter= name the parameters of one covariance structure; "
                        f"they cannot go with the fallback list covariance={list(covariance)}: fit the "
                        "structure alone (covariance='us' or in the formula)")
    parsed = parse_formula(formula)  # the one parse of the formula and its covariance term
    if is_partitioned(data):
        reduced = reduce_partitions(data, parsed, weights, encoding)
        result = fit_first_usable(parsed, covariance, lambda f: _fit_one(reduced.model(f, method), ddf, vcov,
                                                                       parms))
    else:
        result = fit_first_usable(parsed, covariance, lambda f: _fit_one(
            build_model(f, data, method, weights, encoding), ddf, vcov, parms))
    if not several:  # a structure of a fallback list that failed is no problem of the fit returned
        result.warn_problems(stacklevel=2)
    return result


def _fit_one(model: Model, ddf: str | None, vcov: str, parms: dict) -> MMRMResults:
    """One fit of ``model``, its problems recorded (not warned)."""
    ddf, vcov = Scope.of(model.design, model.likelihood, model.spec.linear).resolve(ddf, vcov)
    if model.spec.from_sums:
        check_methods(ddf, vcov)
    return fit_model(model, ddf, vcov, **parms)
