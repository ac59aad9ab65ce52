"""trialmlm: mixed models for repeated measures in clinical trials, matching SAS PROC MIXED.

>>> import trialmlm
>>> df = trialmlm.read("sample_data/depression_trial.csv", param="HAMD17")
>>> fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", data=df)
"""

from .api import fit
from .covariance import STRUCTURES
from .errors import (
           BoundaryWarning,
           ConvergenceError,
           ConvergenceWarning,
           DataError,
           DataWarning,
           FormulaError,
           TrialMLMError,
)
from .io import read
from .results import MMRMResults

__version__ = "0.1.0"

__all__ = ["fit", "read", "STRUCTURES", "MMRMResults", "BoundaryWarning", "ConvergenceError",
           "ConvergenceWarning", "DataError", "DataWarning", "FormulaError", "TrialMLMError", "__version__"]
