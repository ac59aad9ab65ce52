"""Residual covariance structures and their registry.

``STRUCTURES`` maps each name usable in a formula term ``NAME(VISIT | SUBJECT)`` to
its class; validation, documentation and the CLI read this one table.
"""

from __future__ import annotations

from ..errors import FormulaError
from .antedependence import Antedependence, HeterogeneousAntedependence
from .autoregressive import AR1, HeterogeneousAR1
from .base import CovarianceStructure, VisitStructure
from .compound_symmetry import CompoundSymmetry, HeterogeneousCompoundSymmetry
from .diagonal import HeterogeneousDiagonal, VarianceComponents
from .spatial import SPATIAL
from .toeplitz import HeterogeneousToeplitz, Toeplitz
from .unstructured import Unstructured

STRUCTURES: dict[str, type[CovarianceStructure]] = {
    cls.name: cls
    for cls in (
        Unstructured,
        VarianceComponents,
        HeterogeneousDiagonal,
        CompoundSymmetry,
        HeterogeneousCompoundSymmetry,
        AR1,
        HeterogeneousAR1,
        Toeplitz,
        HeterogeneousToeplitz,
        Antedependence,
        HeterogeneousAntedependence,
        *SPATIAL,
    )
}


def get_structure(name: str) -> type[CovarianceStructure]:
    """The structure class registered under ``name``; FormulaError naming the valid ones."""
    try:
        return STRUCTURES[name]
    except KeyError:
        raise FormulaError(
            f"unknown covariance structure '{name}'; choose one of: {', '.join(STRUCTURES)}"
        ) from None


__all__ = ["STRUCTURES", "CovarianceStructure", "VisitStructure", "get_structure"]
