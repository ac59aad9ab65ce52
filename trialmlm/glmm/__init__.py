"""Generalized linear mixed models for binary and count endpoints over visits (SAS PROC GLIMMIX
``METHOD=LAPLACE | QUAD``; R ``lme4::glmer``): ``trialmlm.glmm(formula, data, family=, method=,
n_points=)`` (:func:`.fitting.glmm`).  See the GLMM section of ``docs/endpoints.md``.

Population-averaged means and effects: :mod:`.margins` (``marginal_means``, ``marginal_effects``,
``conditional_vs_marginal``).

``trialmlm.glmm`` names both the function and this subpackage: the first import of one of its
modules (``from trialmlm.glmm.margins import ...``) sets the attribute ``trialmlm.glmm`` to the
subpackage, so the subpackage is callable as the function (:class:`_FittingPackage`).
"""

from __future__ import annotations

import sys
import types

from .fitting import glmm
from .margins import conditional_vs_marginal, marginal_effects, marginal_means
from .results import GLMMResults

__all__ = ["GLMMResults", "conditional_vs_marginal", "glmm", "marginal_effects", "marginal_means"]


class _FittingPackage(types.ModuleType):
    """This subpackage, callable as :func:`.fitting.glmm`."""

    def __call__(self, *args, **kwargs) -> GLMMResults:
        return glmm(*args, **kwargs)


sys.modules[__name__].__class__ = _FittingPackage
