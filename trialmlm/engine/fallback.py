"""Covariance-structure fallback as statistical analysis plans write it.

"Unstructured; if it fails to converge, heterogeneous Toeplitz, then heterogeneous
AR(1), then compound symmetry" is ``fit(formula, data, covariance=["us", "toeph",
"ar1h", "cs"])``: the structure of the formula's covariance term is replaced by each
name in turn and the first *usable* fit is returned.  A fit is usable when

* the optimiser converged (:attr:`MMRMResults.converged`), which includes that the
  residual covariance matrix is not numerically singular
  (:func:`trialmlm.engine.estimate.singular_residual`: no variance at zero, no correlation
  at :math:`\\pm 1`, no unbounded likelihood), and
* the Hessian of the -2 (RE)ML log-likelihood in the covariance parameters is positive
  definite at the estimate, i.e. their covariance matrix ``2 H^{-1}`` exists (the
  parameters are identifiable).

A structure that cannot be fitted to the data at all (a :class:`DataError` or
:class:`FormulaError`, e.g. ``us`` with fewer subjects than visits) counts as a failure
with that error's text.  The fit returned is the very fit of that structure alone; its
``covariance_attempts`` record every structure tried, why it failed, and which was used.
If every structure fails, :class:`ConvergenceError` names each with its reason.

Selection by an information criterion (a pre-specified rule such as "the structure with the
smallest AICC among us, toeph, ar1h and cs") is :func:`fit_best`: every candidate is fitted
and the usable fit with the smallest SAS criterion (:data:`CRITERIA`, the very values of the
fit's "Fit Statistics") is returned.  Under REML the candidates share the mean model, so
their restricted likelihoods are comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..covariance import get_structure
from ..errors import ConvergenceError, DataError, FormulaError, SelectionTieError
from .estimate import singular_residual
from .formula import ModelFormula
from .results import CovarianceAttempt, MMRMResults

FitOne = Callable[[ModelFormula], MMRMResults]  # the fit of a parsed formula, problems recorded

#: The information criteria of :func:`fit_best`, the :class:`MMRMResults` properties of SAS's
#: "Fit Statistics" (smaller is better), with their formula in words (d: parameters counted).
CRITERIA = {"aic": "-2 log L + 2d",
            "aicc": "-2 log L + 2d n*/(n* - d - 1), n* = observations minus fixed effects (REML) or "
                    "observations (ML)",
            "bic": "-2 log L + d log(subjects read)"}
#: Two criterion values closer than this are a tie (the loglik tolerance of the reference tests).
TIE_TOLERANCE = 1e-6


def failure(fit: MMRMResults) -> str:
    """Why ``fit`` is not usable (see the module docstring); empty if it is."""
    reasons = []
    singular = singular_residual(fit)
    if singular:
        reasons.append(singular)
    elif not fit.converged:
        reasons.append(f"did not converge after {fit.n_iter} iterations ({fit.optimizer})")
    if not np.all(np.isfinite(fit.phi_cov)):
        reasons.append("Hessian not positive definite (covariance parameters not identifiable)")
    return "; ".join(reasons)


def attempt(fit: MMRMResults, used: bool) -> CovarianceAttempt:
    """The :class:`CovarianceAttempt` of ``fit``."""
    return CovarianceAttempt(fit.settings.structure, fit.converged, bool(np.all(np.isfinite(fit.phi_cov))),
                             failure(fit), used)


def _names(covariance: str | Sequence[str]) -> tuple[str, ...]:
    names = (covariance,) if isinstance(covariance, str) else tuple(covariance)
    if not names:
        raise FormulaError("covariance= lists no structure; give one or more names, e.g. ['us', 'toeph']")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FormulaError(f"covariance= lists '{repeated[0]}' more than once: {', '.join(names)}")
    for name in names:
        get_structure(name)
    return names


def fit_first_usable(formula: ModelFormula, covariance: str | Sequence[str] | None,
                     fit_one: FitOne) -> MMRMResults:
    """The first usable fit of ``formula`` with the structures of ``covariance`` in turn.

    The structures are tried as values (:meth:`ModelFormula.with_structure`): nothing is
    parsed again.  ``covariance=None`` fits the formula as written, a single name replaces
    its structure: both as a plain fit, returned even if not usable.  With several names,
    the first usable fit is returned; see the module docstring.  ``fit_one`` records
    problems without warning; :func:`trialmlm.fit` issues the plain fit's.

    Raises
    ------
    ConvergenceError
        Every structure of a list of several failed; ``attempts`` holds the reasons.
    DataError, FormulaError
        Raised by every structure alike (a problem of the data or formula, not of the
        structure), or by the only structure asked for.
    """
    if covariance is None:
        return fit_one(formula)
    names = _names(covariance)
    if len(names) == 1:
        return fit_one(formula.with_structure(names[0]))
    attempts, errors = [], []
    for name in names:
        fit, tried = _try(formula, name, fit_one, errors)
        if fit is not None and not tried.reason:
            return replace(fit, covariance_attempts=(*attempts, replace(tried, used=True)))
        attempts.append(tried)
    _raise_none_usable(formula, names, attempts, errors)


def _try(formula: ModelFormula, name: str, fit_one: FitOne,
         errors: list) -> tuple[MMRMResults | None, CovarianceAttempt]:
    """The fit of ``formula`` with structure ``name`` and its :class:`CovarianceAttempt`; a
    :class:`DataError` / :class:`FormulaError` of that structure is appended to ``errors``
    and gives no fit."""
    candidate = formula.with_structure(name)  # a formula without a covariance term raises here
    try:
        fit = fit_one(candidate)
    except (DataError, FormulaError) as err:
        errors.append(err)
        return None, CovarianceAttempt(name, False, False, str(err))
    return fit, attempt(fit, used=False)


def _raise_none_usable(formula: ModelFormula, names: tuple[str, ...], attempts: list, errors: list):
    """The error when no structure gave a usable fit: the one DataError / FormulaError every
    structure raised alike, else :class:`ConvergenceError` naming each with its reason."""
    if len(errors) == len(names) and len({str(e) for e in errors}) == 1:
        raise errors[0]
    raise ConvergenceError(f"no covariance structure gave a usable fit of '{formula.text}':\n"
                           + "\n".join(f"  {a.structure}: {a.reason}" for a in attempts), attempts)


def check_criterion(criterion: str) -> str:
    """``criterion`` in lower case; DataError unless it is one of :data:`CRITERIA`."""
    name = str(criterion).lower()
    if name not in CRITERIA:
        raise DataError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    return name


def fit_best(formula: ModelFormula, candidates: Sequence[str], criterion: str,
             fit_one: FitOne) -> MMRMResults:
    r"""The usable fit of ``formula`` with the smallest ``criterion`` among the structures
    ``candidates`` (a pre-specified covariance selection rule).

    Every candidate is fitted.  The criteria are SAS's "Fit Statistics" of each fit
    (:attr:`MMRMResults.aic`, ``aicc``, ``bic``), with :math:`d` the covariance parameters
    estimated (REML; plus the fixed effects under ML), :math:`n^* = n - p` (REML) or
    :math:`n` (ML) and :math:`s` the subjects read:

    .. math::  \mathrm{AIC} = -2\ell + 2d,\quad
               \mathrm{AICC} = -2\ell + \frac{2dn^*}{n^* - d - 1},\quad
               \mathrm{BIC} = -2\ell + d\log s.

    A candidate that is not usable (see the module docstring) is listed but never chosen.
    The fit returned is the very fit of the chosen structure alone; its
    ``covariance_attempts`` hold every candidate in the order given with ``criterion``,
    its ``value``, ``minus2_loglik`` and ``n_parameters`` (:math:`d`) for the usable ones.

    Raises
    ------
    DataError
        ``criterion`` is not one of :data:`CRITERIA`.
    FormulaError
        ``candidates`` lists fewer than two structures, one twice, or an unknown one.
    ConvergenceError
        No candidate gave a usable fit (``attempts`` gives each reason).
    SelectionTieError
        Two or more usable candidates have the smallest criterion within
        :data:`TIE_TOLERANCE` (e.g. ``us`` and ``toeph`` with two visits, the same model);
        ``attempts`` holds every candidate.
    """
    criterion = check_criterion(criterion)
    names = _names(candidates)
    if len(names) < 2:
        raise FormulaError(f"covariance selection by {criterion.upper()} needs two or more candidate "
                           f"structures, got {', '.join(names)}")
    fits, attempts, errors = {}, [], []
    for name in names:
        fit, tried = _try(formula, name, fit_one, errors)
        value = float(getattr(fit, criterion)) if fit is not None and not tried.reason else np.nan
        if np.isfinite(value):
            fits[name] = fit
            tried = replace(tried, criterion=criterion, value=value, minus2_loglik=float(-2 * fit.loglik),
                            n_parameters=fit.n_ic_parameters)
        elif fit is not None and not tried.reason:  # AICC with n* - d - 1 <= 0
            tried = replace(tried, reason=f"{criterion.upper()} is not defined for this fit (too few "
                                          "observations for its parameters)")
        attempts.append(tried)
    if not fits:
        _raise_none_usable(formula, names, attempts, errors)
    best = min(a.value for a in attempts if a.structure in fits)
    tied = [a.structure for a in attempts if a.structure in fits and a.value - best <= TIE_TOLERANCE]
    if len(tied) > 1:
        raise SelectionTieError(f"covariance selection by {criterion.upper()} is a tie: "
                                f"{' and '.join(tied)} have {criterion.upper()} {best:.6f} (within "
                                f"{TIE_TOLERANCE:g}); they fit the data alike: keep one of them in the "
                                "candidates, in the order the analysis plan prefers", attempts)
    (chosen,) = tied
    return replace(fits[chosen], covariance_attempts=tuple(replace(a, used=a.structure == chosen)
                                                           for a in attempts))
