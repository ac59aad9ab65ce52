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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..covariance import get_structure
from ..errors import ConvergenceError, DataError, FormulaError
from .estimate import singular_residual
from .formula import ModelFormula
from .results import CovarianceAttempt, MMRMResults

FitOne = Callable[[ModelFormula], MMRMResults]  # the fit of a parsed formula, problems recorded


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
    for name, candidate in [(name, formula.with_structure(name)) for name in names]:
        try:
            fit = fit_one(candidate)
        except (DataError, FormulaError) as err:
            errors.append(err)
            attempts.append(CovarianceAttempt(name, False, False, str(err)))
            continue
        if not failure(fit):
            return replace(fit, covariance_attempts=(*attempts, attempt(fit, used=True)))
        attempts.append(attempt(fit, used=False))
    if len(errors) == len(names) and len({str(e) for e in errors}) == 1:
        raise errors[0]
    raise ConvergenceError(f"no covariance structure gave a usable fit of '{formula.text}':\n"
                           + "\n".join(f"  {a.structure}: {a.reason}" for a in attempts), attempts)
