r"""Covariances of :math:`\hat\beta` of a GEE: one registry, :data:`VARIANCES`.

With :math:`H = \sum_i \tilde D_i^\top R_i^{-1}\tilde D_i` and the subjects' score
contributions :math:`U_i = \tilde D_i^\top R_i^{-1}\tilde r_i` at the solution
(:mod:`.scoring`; :math:`\phi` cancels from both):

* ``robust`` (empirical sandwich; SAS GENMOD's default "Empirical Standard Error
  Estimates", geepack ``std.err = "san.se"``): :math:`H^{-1}(\sum_i U_iU_i^\top)H^{-1}`;
* ``model`` (model-based; SAS ``MODELSE``, geepack ``vbeta.naiv``):
  :math:`\phi H^{-1}`, i.e. :math:`(\sum_i D_i^\top V_i^{-1}D_i)^{-1}`.

A small-sample correction (Mancl-DeRouen, Kauermann-Carroll, Fay-Graubard,
Morel-Bokossa-Neerchal) is one more :class:`VarianceMethod` whose ``compute`` reads the
same :class:`~.scoring.Estimate` (and the problem, for the per-subject leverages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .scoring import Estimate, Problem


@dataclass(frozen=True)
class VarianceMethod:
    """A covariance of :math:`\\hat\\beta`: ``sas`` / ``geepack`` the option giving it."""

    name: str
    label: str
    sas: str
    geepack: str
    compute: Callable[[Problem, Estimate], np.ndarray]


def robust(problem: Problem, est: Estimate) -> np.ndarray:
    """The empirical sandwich (module docstring)."""
    bread = np.linalg.inv(est.H)
    return bread @ (est.U.T @ est.U) @ bread


def model_based(problem: Problem, est: Estimate) -> np.ndarray:
    """:math:`\\phi H^{-1}` (module docstring)."""
    return est.phi * np.linalg.inv(est.H)


VARIANCES: dict[str, VarianceMethod] = {v.name: v for v in (
    VarianceMethod("robust", "empirical (sandwich)", "", "san.se", robust),
    VarianceMethod("model", "model-based", "MODELSE", "vbeta.naiv", model_based),
)}


def get_variance(name: str) -> VarianceMethod:
    """The registry entry of ``name`` (DataError listing the names otherwise)."""
    if name not in VARIANCES:
        raise DataError(f"vcov must be one of {', '.join(VARIANCES)}; got {name!r}")
    return VARIANCES[name]
