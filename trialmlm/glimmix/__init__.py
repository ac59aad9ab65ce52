"""Generalized linear mixed models for binary and count endpoints over visits (SAS PROC GLIMMIX
``METHOD=LAPLACE | QUAD``; R ``lme4::glmer``): ``trialmlm.glmm(formula, data, family=, method=,
n_points=)`` (:func:`.fitting.glmm`).  See the GLMM section of ``docs/endpoints.md``.

Population-averaged means and effects: :mod:`.margins` (``marginal_means``, ``marginal_effects``,
``conditional_vs_marginal``).

The subpackage is named after SAS PROC GLIMMIX so that ``trialmlm.glmm`` stays the function
(a subpackage of that name would replace it once one of its modules is imported).
"""

from __future__ import annotations

from .fitting import glmm
from .margins import conditional_vs_marginal, marginal_effects, marginal_means
from .results import GLMMResults

__all__ = ["GLMMResults", "conditional_vs_marginal", "glmm", "marginal_effects", "marginal_means"]
