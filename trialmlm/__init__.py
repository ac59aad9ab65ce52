"""trialmlm: mixed models for repeated measures in clinical trials, matching SAS PROC MIXED.

>>> import trialmlm
>>> fit = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)", data=df)
"""

from .api import fit
from .covariance import STRUCTURES
from .errors import ConvergenceWarning, DataError, DataWarning, FormulaError, TrialMLMError
from .results import MMRMResults

__version__ = "0.1.0"

__all__ = ["fit", "STRUCTURES", "MMRMResults", "ConvergenceWarning", "DataError", "DataWarning",
           "FormulaError", "TrialMLMError", "__version__"]
