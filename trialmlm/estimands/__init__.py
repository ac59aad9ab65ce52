"""Estimands with intercurrent events: ICE tables, strategies, reference-based imputation and
its sensitivity analyses, in R rbmi's four verbs (:mod:`.pipeline`):
``ImputationModel(fit, ice).draws(method).impute(references).analyse(analysis, delta).pool()``.

The methods (:data:`METHODS`: :class:`ApproxBayes`, :class:`CondMean`, :class:`BMLMI`) and
the analyses (:class:`Ancova`, :class:`Mmrm`, a user function) are values; every method's
``pool()`` gives the one result :class:`PooledResult`.  :func:`impute`, :func:`condmean`,
:func:`bmlmi` and :func:`tipping_point` are shortcuts over the pipeline with the same numbers.
Missing-data diagnostics are :mod:`trialmlm.missing`.
"""

from . import bmlmi as _bmlmi_engine  # noqa: F401  (registers the engine of BMLMI)
from . import condmean as _condmean_engine  # noqa: F401  (registers the engine of CondMean)
from .approxbayes import DEFAULT_STRATEGIES
from .delta import delta_template
from .ice_table import ice_table
from .pipeline import BMLMI, METHODS, Ancova, ApproxBayes, CondMean, ImputationModel, Mmrm
from .pooled import PooledResult
from .shortcuts import bmlmi, condmean, impute, tipping_point
from .tipping import TippingPoint, delta_steps

__all__ = ["BMLMI", "DEFAULT_STRATEGIES", "METHODS", "Ancova", "ApproxBayes", "CondMean", "ImputationModel",
           "Mmrm", "PooledResult", "TippingPoint", "bmlmi", "condmean", "delta_steps", "delta_template",
           "ice_table", "impute", "tipping_point"]
