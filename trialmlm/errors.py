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


class TrialMLMWarning(UserWarning):
    """Base class of all trialmlm warnings."""


class ConvergenceWarning(TrialMLMWarning):
    """The optimiser stopped before the convergence criterion was met."""


class DataWarning(TrialMLMWarning):
    """Something in the data was left out or adjusted (e.g. an unobserved visit level)."""
