r"""``trialmlm.gee(formula, data, ...)``: the GEE entry point (SAS PROC GENMOD with a
``REPEATED SUBJECT= / TYPE= WITHINSUBJECT=`` statement; R geepack ``geeglm``).

The mean model is parsed and encoded exactly as the MMRM's
(:func:`trialmlm.engine.formula.parse_formula`, :func:`trialmlm.engine.design.build_design`:
factors in SAS's reference coding, the same checks of columns, missing values and
duplicated visits), so LS-means grids and type 3 hypotheses are the MMRM's.  The
estimating equations are solved by :mod:`.scoring`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from ..engine.design import build_design, model_columns
from ..engine.formula import CovarianceTerm, ModelFormula, parse_formula
from ..errors import ConvergenceWarning, DataError, FormulaError, SeparationWarning
from .clusters import Clusters
from .degrees import get_df_method
from .families import binary_values, get_family, ordinal_codes
from .links import get_link
from .negbin import maximum_likelihood_k
from .ordinal import OrdinalProblem, solve_ordinal
from .ordinal_results import OrdinalResults
from .results import GEEResults, GEESettings
from .scoring import Problem, glm_start, solve
from .variance import get_variance
from .working import WORKING, get_moments, get_working

SATURATED = 1e-8  # a fitted probability within this of 0 or 1 signals separation


def gee(formula: str, data: pd.DataFrame, family: str = "binomial", link: str | None = None,
        working: str = "independence", subject: str | None = None, visit: str | None = None,
        offset: str | None = None, trials: str | None = None, vcov: str = "robust",
        df: str = "none", moments: str = "sas", tol: float = 1e-8, maxiter: int = 100,
        levels: Sequence | None = None) -> GEEResults | OrdinalResults:
    """Fit a marginal model by generalized estimating equations (Liang & Zeger 1986).

    Parameters
    ----------
    formula : ``"RESPONSE ~ mean model"``, e.g. ``"CRIT1FL ~ BASE + TRT01P * AVISIT"``
        (Wilkinson syntax; no covariance or random-effect term: the working correlation is
        ``working=``).
    data : one row per subject and visit; never modified.  Rows with a missing response,
        covariate, offset or trials are not used.
    family : "binomial" (0/1, Y/N, or events with ``trials=``), "poisson" (counts) or
        "negbin" / "nb" (counts; SAS ``DIST=NB``: the dispersion k of mu + k mu^2 is the
        maximum-likelihood estimate of the independence model, then held fixed, :mod:`.negbin`).
    link : "logit", "probit", "cloglog", "log", "identity" (binomial; default logit), "log",
        "identity" (Poisson; default log), "log" (negative binomial).
    working : "independence", "exchangeable", "ar1", "unstructured" or "mdep(m)"
        (:mod:`.working`).
    subject : the cluster column (SAS ``SUBJECT=``, geepack ``id``).
    visit : the visit column indexing the working correlation (SAS ``WITHINSUBJECT=``,
        geepack ``waves``); None: the order of a subject's rows.
    offset : column added to the linear predictor (e.g. log exposure; SAS ``OFFSET=``).
    trials : column of trials for an events/trials binomial response (SAS ``events/trials``).
    vcov : "robust" (empirical sandwich, default), "model", or a small-sample corrected
        sandwich "md", "kc", "fg", "mbn" (:mod:`.variance`).
    df : "none" (default; z and chi-square tests as SAS GENMOD), "clusters" (t and F with
        K - p df) or "fg" (Fay-Graubard's df) (:mod:`.degrees`).
    moments : "sas" (default) or "geepack": the divisors of the scale and correlation
        moment estimators (:class:`.working.Moments`).
    tol, maxiter : convergence criterion of the scoring (:mod:`.scoring`) and iteration limit.
    levels : the response levels in order, lowest first (family "multinomial"; not needed
        for numbers or an ordered Categorical).

    Returns
    -------
    GEEResults, or OrdinalResults for family "multinomial" (:mod:`.ordinal`: cumulative logit,
    SAS ``DIST=MULTINOMIAL LINK=CLOGIT``, independence working correlation only).

    Warns
    -----
    ConvergenceWarning  the scoring stopped at ``maxiter`` (``fit.converged`` is False).
    SeparationWarning   fitted probabilities of 0 or 1: the terms whose estimates diverge.
    """
    parsed = _mean_model(formula)
    if str(family).lower() == "multinomial":
        return _ordinal(parsed, data, link, working, subject, visit, offset, trials, vcov, df, moments, tol,
                        maxiter, levels)
    if levels is not None:
        raise DataError("levels= orders an ordinal response (family='multinomial')")
    fam = get_family(family)
    settings = GEESettings(fam.name, fam.link(link).name, get_working(working).label(),
                           get_moments(moments).name, get_variance(vcov).name, get_df_method(df).name,
                           _column(data, subject, "subject"), visit, offset, trials, float(tol), int(maxiter))
    result = _fit(parsed, data, settings)
    _warn(result)  # here, so that stacklevel=3 names the caller of gee()
    return result


def _mean_model(formula: str) -> ModelFormula:
    """The parsed formula; FormulaError for a covariance or random-effect term."""
    parsed = parse_formula(formula)
    if not parsed.linear:
        raise FormulaError(f"a GEE formula has only the mean model ('{parsed.response} ~ {parsed.fixed}'); "
                           "give the working correlation as working= and the clusters as subject=")
    return parsed


def _fit(parsed: ModelFormula, data: pd.DataFrame, settings: GEESettings) -> GEEResults:
    """The binomial, Poisson or negative binomial GEE of ``settings``: the design, k for the
    negative binomial (:mod:`.negbin`), the independence start, then the working correlation
    (warnings are issued by the caller)."""
    tol, maxiter = settings.tol, settings.maxiter
    model = _with_clusters(parsed, settings)
    frame = _analysis_frame(data, model, settings)
    design = build_design(frame, model, None, False)
    problem = _problem(design, frame, model.response, settings)
    if problem.family.estimates_k:
        problem = replace(problem, family=problem.family.with_k(maximum_likelihood_k(problem, tol, maxiter)))
    start = solve(replace(problem, working=WORKING["independence"]), glm_start(problem), tol, maxiter)
    estimate = start if problem.working.name == "independence" else solve(problem, start.beta, tol, maxiter)
    return GEEResults(model, settings, design, problem, estimate)


def _ordinal(parsed, data, link, working, subject, visit, offset, trials, vcov, df, moments, tol, maxiter,
             levels) -> OrdinalResults:
    """The cumulative logit GEE (:mod:`.ordinal`) through the same checks and design."""
    if (link or "clogit") != "clogit":
        raise DataError(f"family 'multinomial' takes the cumulative logit link 'clogit'; got {link!r}")
    if get_working(working).name != "independence":
        raise DataError(f"SAS GENMOD allows only TYPE=IND for a multinomial response (DIST=MULTINOMIAL) in "
                        f"the REPEATED statement; got working={working!r}: use working='independence'")
    if offset is not None or trials is not None:
        raise DataError("offset= and trials= are not used by the ordinal (multinomial) GEE")
    if get_df_method(df).name != "none":
        raise DataError(f"df={df!r}: the ordinal (multinomial) GEE has z and chi-square tests only "
                        "(df='none')")
    settings = GEESettings("multinomial", "clogit", "independence", get_moments(moments).name,
                           get_variance(vcov).name, "none", _column(data, subject, "subject"), visit, None,
                           None, float(tol), int(maxiter))
    model = _with_clusters(parsed, settings)
    frame = _analysis_frame(data, model, settings)
    codes, ordered = ordinal_codes(frame[model.response], model.response, levels)
    design = build_design(frame.assign(**{model.response: codes}), model, None, False)
    columns = list(design.encoding.columns)
    if not columns or columns[0] != "Intercept":
        raise FormulaError("the cumulative logit model has one intercept per response level but the last; "
                           "keep the intercept in the formula")
    y = design.y.astype(int)
    used = np.unique(y)
    problem = OrdinalProblem(design.X[:, 1:], np.searchsorted(used, y), design.subject, design.n_subjects,
                             used.size, get_link("clogit"))
    estimate = solve_ordinal(problem, tol, maxiter)
    result = OrdinalResults(model, settings, design, tuple(ordered[i] for i in used), problem, estimate)
    if not estimate.converged:
        warnings.warn(f"the cumulative logit scoring did not converge in {estimate.iterations} iterations "
                      f"(last change {estimate.change:.3g} > tol {tol:g}); the estimates are not usable",
                      ConvergenceWarning, stacklevel=3)
    return result


def _column(data, name: str | None, role: str) -> str:
    if name is None:
        raise DataError(f"a GEE needs the {role} column ({role}=), the clusters of correlated rows")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if name not in data.columns:
        raise FormulaError(f"column '{name}' ({role}) is not in the data")
    return name


def _with_clusters(parsed: ModelFormula, s: GEESettings) -> ModelFormula:
    """The formula with the clusters as a value: visits as positions of a visit-indexed
    term, or the subject alone (positions = row order)."""
    if s.visit is None:
        return replace(parsed, innermost=s.subject)
    return replace(parsed, covariance=CovarianceTerm("us", (s.visit,), s.subject))


def _analysis_frame(data: pd.DataFrame, model: ModelFormula, s: GEESettings) -> pd.DataFrame:
    """The model's columns (and offset, trials) of the rows where offset and trials are
    known, the binary response as 0/1."""
    used = model_columns(data, model, None)[2]
    extra = [c for c in (s.offset, s.trials) if c is not None]
    for c in extra:
        _column(data, c, "offset" if c == s.offset else "trials")
        if not pd.api.types.is_numeric_dtype(data[c]):
            raise DataError(f"column '{c}' ({'offset' if c == s.offset else 'trials'}) must be numeric")
    frame = data.loc[data[extra].notna().all(axis=1), list(dict.fromkeys(used + extra))] if extra \
        else data.loc[:, used]
    if s.family == "binomial" and s.trials is None:
        frame = frame.assign(**{model.response: binary_values(frame[model.response], model.response)})
    return frame


def _problem(design, frame: pd.DataFrame, response: str, s: GEESettings) -> Problem:
    fam = get_family(s.family)
    rows = design.row_position

    def values(column):
        return None if column is None else frame[column].to_numpy(dtype=float)[rows]

    y, w = fam.check(design.y, values(s.trials), response, design.row_index)
    offset = values(s.offset)
    clusters = Clusters.of(design.subject, design.position, design.n_subjects, len(design.position_labels))
    return Problem(design.X, y, w, np.zeros_like(y) if offset is None else offset, clusters, fam,
                   fam.link(s.link), get_working(s.working), get_moments(s.moments), design)


def _warn(fit: GEEResults) -> None:
    est = fit.estimate
    if not est.converged:
        warnings.warn(f"the GEE scoring did not converge in {est.iterations} iterations (last change "
                      f"{est.change:.3g} > tol {fit.settings.tol:g}); the estimates are not usable",
                      ConvergenceWarning, stacklevel=3)
    if fit.problem.family.name != "binomial":
        return
    mu = fit.problem.means(est.beta)[0]
    saturated = (mu < SATURATED) | (mu > 1 - SATURATED)
    if saturated.any():
        size = np.abs(est.beta)
        terms = [n for n, b in zip(fit.names, size) if b > 8] or [fit.names[int(np.argmax(size))]]
        warnings.warn(f"{int(saturated.sum())} fitted probabilities are 0 or 1: complete or quasi-complete "
                      f"separation; the estimate of {', '.join(map(repr, terms))} diverges "
                      f"({', '.join(f'{b:.3g}' for n, b in zip(fit.names, est.beta) if n in terms)}) and is "
                      "not usable, nor its standard error", SeparationWarning, stacklevel=3)
