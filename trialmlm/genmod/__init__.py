"""Generalized linear models for binary and count endpoints over visits (SAS PROC GENMOD):
generalized estimating equations and covariate-adjusted marginal treatment effects.

``trialmlm.gee(formula, data, family=, link=, working=, subject=, visit=, ...)``
(:func:`.fitting.gee`) fits the model; ``trialmlm.marginal_effects(fit, treatment, ...)``
(:func:`.margins.marginal_effects`) standardises its predictions over the trial's covariates.
The registries :data:`FAMILIES`, :data:`LINKS`, :data:`WORKING` and :data:`VARIANCES` list the
choices.  See ``docs/endpoints.md`` and ``docs/marginal_effects.md``.
"""

from __future__ import annotations

from .families import FAMILIES
from .fitting import gee
from .links import LINKS
from .margins import marginal_effects
from .results import GEEResults
from .variance import VARIANCES
from .working import MOMENTS, WORKING

__all__ = ["FAMILIES", "GEEResults", "LINKS", "MOMENTS", "VARIANCES", "WORKING", "gee", "marginal_effects"]
