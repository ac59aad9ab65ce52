r"""The shortcuts :func:`impute`, :func:`tipping_point`, :func:`condmean` and :func:`bmlmi`:
one call each over the pipeline (:mod:`.pipeline`), with the same numbers on the same seed.

Each takes the fit, its method's own arguments, and the keywords every shortcut shares
(:data:`SHARED_PARAMETERS`): the column roles and ICE plan of the
:class:`.pipeline.ImputationModel`, the analysis and delta of ``analyse`` and how to run.
"""

from __future__ import annotations

import warnings

from ..checks import check_executor
from ..errors import DataError
from .methods import BMLMI, ApproxBayes, CondMean
from .pipeline import Ancova, ImputationModel, Mmrm
from .pooled import PooledResult
from .tipping import TippingPoint

MODEL_KEYWORDS = ("ice", "arm", "reference", "strategies")  # of ImputationModel
RUN_KEYWORDS = ("workers", "progress", "executor", "_samples")  # of ImputationModel.draws
ANALYSIS_KEYWORDS = ("analysis", "covariates", "weights", "delta", "delta_arms", "seed")
ANALYSES = {"mmrm": Mmrm, "ancova": Ancova}

SHARED_PARAMETERS = """
    **options : the keywords of every shortcut:

        ice : intercurrent events, one row per affected subject: the fit's subject and visit
            columns (first visit affected) and ``strategy`` (MAR, JR, CR, CIR, LMCF;
            :mod:`trialmlm.estimands.ice`).  Observed values at or after a non-MAR ICE are left
            out of the imputation model's fit (it is refitted without them) but kept in the analysis.
        arm : treatment factor (default: the one factor of the mean model besides the visit).
        reference : control level of the arm; needed by the reference-based strategies; also
            the reference of the reported differences (default: the arm's first level).
        strategies : user-defined strategies by label for ``ice`` (name -> ``f(own, ref,
            index_mar) -> (mu, sigma)``, :mod:`trialmlm.estimands.strategies`).
        analysis : the analysis of each completed data set: "mmrm" or :class:`Mmrm` (the fit's own
            MMRM), "ancova" or :class:`Ancova` (rbmi's ``ancova``: an ANCOVA at each visit,
            :mod:`trialmlm.estimands.visit_ancova`) or a function ``fun(completed) -> DataFrame``
            of ``parameter, estimate`` (``se, df`` for Rubin's rules; :mod:`.function_analysis`).
        covariates : the ANCOVA's covariate terms (default: the other variables of the fit's
            mean model, e.g. ``["BASE"]``); ``analysis="ancova"`` only.
        weights : the ANCOVA's LS-mean weights, "counterfactual" (default, rbmi's), "equal",
            "proportional" (emmeans/SAS OM; rbmi's "proportional_em"); ``analysis="ancova"`` only.
        delta : a number or mapping visit -> number, added to the imputed values at or after the
            ICE (subjects without an ICE row under approximate Bayes: after their last observed
            visit) of the subjects in ``delta_arms`` (default: every arm but the reference); or a
            delta table (the fit's subject and visit columns and ``delta``,
            :func:`trialmlm.estimands.delta_template`) added as it stands (rbmi's ``analyse(delta = )``).
        seed : makes the run reproducible (the result's ``seed`` reproduces a run made without one).
        workers : processes over the imputations or refits; results do not depend on it.
        progress : progress bar (None: on interactive terminals only).
        executor : run on this :class:`concurrent.futures.Executor` (e.g. a Dask
            ``Client.get_executor()``) instead of ``workers`` local processes (:mod:`trialmlm.runner`).
        _samples : (testing; condmean and bmlmi) the bootstrap samples as arrays of subject
            positions in sorted subject order, instead of drawing them.
"""


def shares_parameters(function):
    """Put :data:`SHARED_PARAMETERS` where ``function``'s docstring says ``{options}``."""
    function.__doc__ = function.__doc__.replace("{options}", SHARED_PARAMETERS.strip("\n"))
    return function


def analysis_value(analysis, covariates=None, weights=None):
    """The analysis value of ``analysis=``: "mmrm" or "ancova" (with the ANCOVA's ``covariates``
    and ``weights``), or a value (:class:`Ancova`, :class:`Mmrm`, a function) as it stands."""
    if isinstance(analysis, str):
        if analysis not in ANALYSES:
            raise DataError(f"analysis must be one of {', '.join(map(repr, ANALYSES))}; got {analysis!r}")
        if analysis == "ancova":
            return Ancova(covariates, weights)
    elif covariates is None and weights is None:
        return analysis
    if covariates is not None or weights is not None:
        raise DataError("covariates= and weights= are options of analysis='ancova'; analysis='mmrm' "
                        "analyses the completed data with the fit's own MMRM (LS means: equal weights)")
    return Mmrm()


def _imputations(name: str, fit, method, options: dict, analysis: str, default_strategy: str = "mar"):
    """The pipeline up to ``impute()`` from the shared keywords: (imputations, analysis value,
    delta, delta_arms)."""
    unknown = [k for k in options if k not in (*MODEL_KEYWORDS, *RUN_KEYWORDS, *ANALYSIS_KEYWORDS)]
    if unknown:
        raise DataError(f"{name}() has no keyword {unknown[0]!r}")
    check_executor(options.get("executor"))  # before the setup's refit, not at the imputations
    value = analysis_value(options.get("analysis", analysis), options.get("covariates"),
                           options.get("weights"))
    model = ImputationModel(fit, default_strategy=default_strategy,
                            **{k: options[k] for k in MODEL_KEYWORDS if k in options})
    draws = model.draws(method, options.get("seed"), **{k: options[k] for k in RUN_KEYWORDS if k in options})
    return draws.impute(), value, options.get("delta", 0.0), options.get("delta_arms")


def _n_samples(n_samples: int, options: dict) -> int:
    """``n_samples``, or the older keyword ``n_imputations`` (DeprecationWarning)."""
    if "n_imputations" not in options:
        return n_samples
    warnings.warn("n_imputations= is now n_samples= (rbmi's name, the same for every method)",
                  DeprecationWarning, stacklevel=3)
    return options.pop("n_imputations")


@shares_parameters
def impute(fit, method: str = "mar", n_samples: int = 100, **options) -> PooledResult:
    r"""Approximate-Bayesian multiple imputation from the fitted MMRM, pooled by Rubin's rules
    (``ImputationModel(fit, ...).draws(ApproxBayes(n_samples)).impute().analyse(...).pool()``).

    Parameters
    ----------
    fit : MMRMResults of an MMRM with visits as classes, e.g.
        ``CHG ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID)`` (also ``GROUP=`` by arm): the
        imputation model.
    method : strategy of the subjects without a row in ``ice``, from the visit after their last
        observation: "mar" (rbmi's default), "delta" (MAR plus ``delta``), "jump_to_reference",
        "copy_reference", "copy_increments_in_reference", "last_mean_carried_forward"
        (Carpenter et al. 2013).  Intermittent gaps before it are MAR.
    n_samples : the number of imputations M (at least 2).
    {options}

    The analysis defaults to "mmrm".  Every subject with a row in the fitted data (also those
    without any observed response) is imputed and analysed.  The bootstrap resamples, within
    each arm, the subjects with at least one observed value in the imputation model's fit
    (rbmi resamples all subjects; those without values add nothing to its fit).
    """
    options = dict(options)
    method_value = ApproxBayes(_n_samples(n_samples, options))
    imputations, analysis, delta, delta_arms = _imputations("impute", fit, method_value, options, "mmrm",
                                                            method)
    return imputations.analyse(analysis, delta=delta, delta_arms=delta_arms).pool()


@shares_parameters
def tipping_point(fit, deltas=None, arms=None, visit=None, method: str = "mar", n_samples: int = 100,
                  alpha: float = 0.05, **options) -> TippingPoint:
    r"""Delta-adjusted multiple imputation over a grid of shifts; where does significance tip?

    For each :math:`\delta` in ``deltas`` the imputed values at or after each subject's ICE
    (``ice``; for subjects without an ICE row: after their last observation) in ``arms``
    (default: every arm but the reference; one arm, several, or the reference too) are
    shifted by :math:`\delta` -- rbmi's ``delta_template(missing_only = TRUE)`` with the same
    :math:`\delta` at every visit and ``dlag`` :math:`(1, 0, \dots, 0)`, i.e. a constant shift
    of the missing values from the ICE on -- and the difference from the reference at
    ``visit`` (default: the last visit) is pooled over the same ``n_samples`` imputations
    (common random numbers across deltas, as in rbmi).  rbmi's tipping-point example (advanced
    vignette) shifts every missing value of an arm (``is_missing * delta``): the same unless
    a subject has intermittent gaps before its ICE, which are MAR here and not shifted.
    ``reference`` (the control arm) is required.  A positive :math:`\delta` raises the
    shifted arm's imputed values, so it raises its difference from the reference.  Order
    ``deltas`` from the primary assumption (0) towards the unfavourable direction (positive
    when higher is worse); the tipping delta is the first at which :math:`p \ge \alpha`.

    ``deltas=None``: :func:`trialmlm.estimands.delta_steps` of the SD of the observed response
    at ``visit``, applied to each shifted arm in the direction that moves its difference
    towards the null: upwards when the primary (MAR) difference from the reference is
    negative, downwards (negative deltas in ``table``) when it is positive.  ``method`` and
    ``n_samples`` as :func:`impute`; the analysis defaults to "mmrm" (``delta`` and
    ``delta_arms`` are the grid's, not options).

    Parameters
    ----------
    {options}
    """
    options = dict(options)
    method_value = ApproxBayes(_n_samples(n_samples, options))
    if "delta" in options or "delta_arms" in options:
        raise DataError("tipping_point() shifts by deltas= in arms=; it has no delta= or delta_arms=")
    imputations, analysis, _, _ = _imputations("tipping_point", fit, method_value, options, "mmrm", method)
    return imputations.tipping_point(analysis, deltas, arms, visit, alpha)


@shares_parameters
def condmean(fit, type: str = "jackknife", n_samples: int | None = None, **options) -> PooledResult:
    r"""Conditional mean imputation from the fitted MMRM with jackknife or bootstrap inference
    (rbmi ``method_condmean``; :mod:`trialmlm.estimands.condmean`).

    Parameters
    ----------
    fit : MMRMResults of an MMRM with visits as classes, e.g.
        ``CHANGE ~ BASVAL * VISIT + THERAPY * VISIT + us(VISIT | PATIENT)`` (the imputation
        model; R rbmi fits it by REML with ``us`` by default, as :func:`trialmlm.fit`).
    type : ``"jackknife"`` (:math:`n` leave-one-out refits; deterministic, no ``seed``) or
        ``"bootstrap"`` (``n_samples`` bootstrap refits), rbmi's ``method_condmean(type = )``.
    n_samples : number of bootstrap samples :math:`B \ge 2` (``type="bootstrap"`` only).
    {options}

    The analysis defaults to "ancova"; subjects without an ICE row are MAR.
    """
    given = options.get("_samples")
    if type == "jackknife" and (options.get("seed") is not None or given is not None):
        raise DataError("n_samples and seed are for type='bootstrap'; the jackknife leaves out each subject "
                        "once")
    check_executor(options.get("executor"))  # before any fitting
    method_value = CondMean(type, len(given) if given is not None else n_samples)
    imputations, analysis, delta, delta_arms = _imputations("condmean", fit, method_value, options, "ancova")
    return imputations.analyse(analysis, delta=delta, delta_arms=delta_arms).pool()


@shares_parameters
def bmlmi(fit, B: int = 20, D: int = 2, **options) -> PooledResult:
    r"""Bootstrapped maximum-likelihood multiple imputation from the fitted MMRM, von Hippel &
    Bartlett pooling (rbmi ``method_bmlmi``; :mod:`trialmlm.estimands.bmlmi`).

    Parameters
    ----------
    fit : as :func:`condmean`.
    B : bootstrap samples (:math:`\ge 2`; rbmi's default 20); the result's ``n_samples``.
    D : random imputations of each bootstrap sample (:math:`\ge 2`; rbmi's default 2).
    {options}

    The analysis defaults to "ancova"; subjects without an ICE row are MAR.
    """
    given = options.get("_samples")
    method_value = BMLMI(len(given) if given is not None else B, D)
    imputations, analysis, delta, delta_arms = _imputations("bmlmi", fit, method_value, options, "ancova")
    return imputations.analyse(analysis, delta=delta, delta_arms=delta_arms).pool()


__all__ = ["SHARED_PARAMETERS", "analysis_value", "bmlmi", "condmean", "impute", "tipping_point"]
