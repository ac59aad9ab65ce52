"""Generalized estimating equations for binary and count endpoints over visits.

``trialmlm.gee(formula, data, family=, link=, working=, subject=, visit=, ...)`` fits the
model (this subpackage is callable: it calls :func:`.fitting.fit`); the registries
:data:`FAMILIES`, :data:`LINKS`, :data:`WORKING` and :data:`VARIANCES` list the choices.
See ``docs/endpoints.md``.
"""

from __future__ import annotations

import sys
import types

from .families import FAMILIES
from .fitting import fit
from .links import LINKS
from .results import GEEResults
from .variance import VARIANCES
from .working import MOMENTS, WORKING

__all__ = ["fit", "GEEResults", "FAMILIES", "LINKS", "WORKING", "MOMENTS", "VARIANCES"]


class _CallableModule(types.ModuleType):
    """``trialmlm.gee(...)`` is ``trialmlm.gee.fit(...)``."""

    def __call__(self, *args, **kwargs) -> GEEResults:
        return fit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
