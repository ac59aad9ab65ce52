"""Estimands with intercurrent events: ICE tables, strategies, reference-based imputation and
its sensitivity analyses, in R rbmi's four verbs (:mod:`.pipeline`):
``ImputationModel(fit, ice).draws(method).impute(references).analyse(analysis, delta).pool()``.

The methods (:data:`METHODS`: :class:`ApproxBayes`, :class:`CondMean`, :class:`BMLMI`) and
the analyses (:class:`Ancova`, :class:`Mmrm`, a user function) are values; :func:`impute`,
:func:`condmean`, :func:`bmlmi` and :func:`tipping_point` are shortcuts over the pipeline
with the same numbers.  Missing-data diagnostics are :mod:`trialmlm.missing`.
"""

from .approxbayes import (
           DEFAULT_STRATEGIES,
           MultipleImputation,
           TippingPoint,
           delta_steps,
           impute,
           tipping_point,
)
from .bmlmi import BootstrappedMLMI, bmlmi
from .condmean import ConditionalMean, condmean
from .delta import delta_template
from .ice_table import ice_table
from .pipeline import BMLMI, METHODS, Ancova, ApproxBayes, CondMean, ImputationModel, Mmrm

__all__ = ["BMLMI", "DEFAULT_STRATEGIES", "METHODS", "Ancova", "ApproxBayes", "BootstrappedMLMI", "CondMean",
           "ConditionalMean", "ImputationModel", "Mmrm", "MultipleImputation", "TippingPoint", "bmlmi",
           "condmean", "delta_steps", "delta_template", "ice_table", "impute", "tipping_point"]
