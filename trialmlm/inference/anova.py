r"""Type III hypotheses of the model terms (SAS ``HTYPE=3``).

For a term with factors :math:`F_T` (and covariates :math:`C_T`), the hypothesis is that
all interaction contrasts among the levels of :math:`F_T` of the cell means (equal weights
over the other factors; for covariate terms the derivative of the mean in those
covariates) are zero, with covariates at 0 — as SAS's type III L matrices, which do not
centre covariates (so a factor that interacts with a covariate is tested at covariate 0).
Contrasts: each level minus the last, crossed by
Kronecker product.  In models that contain every lower-order term of their interactions
this is SAS's type III hypothesis, independent of the coding of factors.  Terms whose
variables cannot be crossed this way (e.g. ``I(TIME**2)``) are tested through their own
coefficients.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..errors import DataWarning
from .grid import ReferenceGrid, forced_factors
from .wald import full_row_rank

_PLAIN = re.compile(r"^(?:C\(\s*)?`?([^`()]+?)`?\s*(?:\))?$")  # x, C(x), `x y` or C(`x y`)


def _variable(expr: str, variables) -> str | None:
    """The column of a term factor that is a plain variable or ``C(variable)``, else None."""
    match = _PLAIN.match(expr)
    return match.group(1) if match and match.group(1) in variables else None


def _difference_contrasts(n: int) -> np.ndarray:
    return np.hstack([np.eye(n - 1), -np.ones((n - 1, 1))])


def term_hypotheses(fit) -> dict[str, np.ndarray]:
    """Term name (``A:B`` style) -> full-row-rank L (kept columns) of its type III test."""
    covariates = [v for v in fit.design.encoding.variables if v not in fit.design.encoding.levels]
    grid = ReferenceGrid(fit, at={v: 0.0 for v in covariates if v not in forced_factors(fit.design.encoding)})
    out = {}
    for term, cols in fit.design.encoding.term_columns().items():
        name = str(term)
        if name == "1" or cols.size == 0:
            continue
        names = [_variable(str(f.expr), fit.design.encoding.variables) for f in term.factors]
        if not all(names):
            L = np.zeros((cols.size, fit.n_fixed))
            L[np.arange(cols.size), cols] = 1.0
            out[name] = full_row_rank(L)
            continue
        factors = [n for n in names if n in grid.factors]
        covariates = [n for n in names if n not in grid.factors]
        L = grid.full_rows(factors, slope=covariates or None)[1]
        k = np.ones((1, 1))
        for f in factors:
            k = np.kron(k, _difference_contrasts(len(grid.factors[f])))
        out[name] = full_row_rank(grid.estimable_part(k @ L))
        if not out[name].size:
            warnings.warn(f"the type III hypothesis of '{name}' has no estimable part (an empty cell, or a "
                          "covariate collinear with it); it is not tested", DataWarning, stacklevel=3)
    return out
