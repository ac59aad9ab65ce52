"""Named errors and warnings raised by trialmlm.

Every error names the column, level, subject or parameter it is about, so that a
user can fix the input without reading a traceback.
"""

from __future__ import annotations


class TrialMLMError(Exception):
    """Base class of all trialmlm errors."""


class DataError(TrialMLMError, ValueError):
    """The data cannot be analysed as asked (missing column, duplicated visit, ...)."""


class FormulaError(TrialMLMError, ValueError):
    """The model formula cannot be parsed or names something unknown."""


class ConvergenceError(TrialMLMError, RuntimeError):
    """No covariance structure of a fallback list gave a usable fit.

    ``attempts`` holds one :class:`trialmlm.engine.results.CovarianceAttempt` per structure
    tried, in order, each with the reason it failed.
    """

    def __init__(self, message: str, attempts: tuple = ()):
        super().__init__(message)
        self.attempts = tuple(attempts)


class SelectionTieError(TrialMLMError, RuntimeError):
    """A covariance selection by an information criterion found two or more usable candidate
    structures with the smallest value (:func:`trialmlm.select_covariance`).

    ``attempts`` holds one :class:`trialmlm.engine.results.CovarianceAttempt` per candidate,
    with its criterion value.
    """

    def __init__(self, message: str, attempts: tuple = ()):
        super().__init__(message)
        self.attempts = tuple(attempts)


class TrialMLMWarning(UserWarning):
    """Base class of all trialmlm warnings."""


class ConvergenceWarning(TrialMLMWarning):
    """The fit is not usable as an estimate: the optimiser stopped before the convergence
    criterion was met, the Hessian is not positive definite, or the residual covariance
    matrix is numerically singular (a variance at zero, a correlation at +-1)."""


class BoundaryWarning(TrialMLMWarning):
    """A variance component was estimated at 0, the boundary of the parameter space (SAS's
    note "Estimated G matrix is not positive definite"); the fit is usable and reports it
    as 0, without a standard error (:mod:`trialmlm.engine.boundary`)."""


class DataWarning(TrialMLMWarning):
    """Something in the data was left out or adjusted (e.g. an unobserved visit level)."""


class SeparationWarning(TrialMLMWarning):
    """Complete or quasi-complete separation of a binary response: fitted probabilities of 0
    or 1, so the estimate of the named term diverges (its finite value and standard error
    only reflect where the iterations stopped)."""
