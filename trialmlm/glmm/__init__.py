"""Generalized linear mixed models for binary and count endpoints over visits (SAS PROC GLIMMIX
``METHOD=LAPLACE | QUAD``; R ``lme4::glmer``): ``trialmlm.glmm(formula, data, family=, method=,
n_points=)`` (:func:`.fitting.glmm`).  See the GLMM section of ``docs/endpoints.md``.
"""

from __future__ import annotations

from .fitting import glmm
from .results import GLMMResults

__all__ = ["GLMMResults", "glmm"]
