r"""LS-means reference grids (SAS LSMEANS, R emmeans).

The grid crosses every level of every factor of the mean model; covariates sit at
their mean over the rows used in the fit (or at values given in ``at``).  An LS mean
of a combination of the ``specs`` and ``by`` factors averages the grid's rows
:math:`x^\top\hat\beta` over the other factors with the weights of :data:`WEIGHTS`
(frequencies count the rows used in the fit; docs/inference.md):

* ``"equal"``: every combination of the other factors alike (SAS default, emmeans ``"equal"``);
* ``"proportional"``: the observed frequency of each combination of the other factors
  (SAS ``OM``/``OBSMARGINS``, emmeans ``"proportional"``);
* ``"outer"``: the product of each other factor's observed marginal frequency, as if the
  factors were independent (emmeans ``"outer"``);
* ``"cells"``: the observed frequency of the whole cell, the LS mean's own levels
  included, so that each LS mean has its own weights (emmeans ``"cells"``).

With
``slope = "TIME"`` every grid row is replaced by its derivative in that covariate,
:math:`\partial x^\top\beta/\partial t`, computed exactly for polynomials up to degree 2
by a central difference of half-width 1.

A row :math:`l` is estimable iff :math:`l^\top N = 0` for the null space :math:`N` of the
full design (aliased columns included); non-estimable rows are NaN.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

from ..errors import DataError

ESTIMABLE_TOL = 1e-6
#: The weightings of the grid's rows over the factors an LS mean averages over (module docstring),
#: each with the words a table footnote says of it.
WEIGHTS = {
    "equal": "equally (SAS default, emmeans \"equal\")",
    "proportional": "by the observed frequencies of their combinations (SAS OM, emmeans \"proportional\")",
    "outer": "by the product of each factor's observed marginal frequencies (emmeans \"outer\")",
    "cells": "by the observed frequencies of each LS mean's own cells (emmeans \"cells\")",
}


def forced_factors(encoding) -> list[str]:
    """Numeric variables that the formula turns into factors with ``C(x)``."""
    found = re.findall(r"C\(\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*[,)]", encoding.formula)
    return [v for v in dict.fromkeys(found) if v not in encoding.levels]


def _as_list(x) -> list[str]:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


def _covariate_value(var: str, value) -> float:
    """The value ``at[var]`` of a covariate: one finite number."""
    try:
        out = float(value) if np.isscalar(value) and not isinstance(value, (bool, str)) else np.nan
    except (TypeError, ValueError):
        out = np.nan
    if not np.isfinite(out):
        raise DataError(f"at={{{var!r}: {value!r}}}: covariate '{var}' needs one finite number")
    return out


class ReferenceGrid:
    """The crossed grid of a fit's factors, with covariates fixed."""

    def __init__(self, fit, at: dict | None = None):
        enc = fit.design.encoding
        self.fit = fit
        self.factors = dict(enc.levels)
        for var in forced_factors(enc):
            self.factors[var] = sorted(fit.design.fixed_frame[var].unique().tolist())
        at = dict(at or {})
        unknown = [k for k in at if k not in enc.variables]
        if unknown:
            raise DataError(f"at= names {', '.join(map(repr, unknown))}, not variables of the mean model "
                            f"({', '.join(enc.variables)})")
        for var, value in at.items():
            if var in self.factors:
                values = value if isinstance(value, (list, tuple)) else [value]
                bad = [v for v in values if v not in self.factors[var]]
                if bad:
                    raise DataError(f"at={{{var!r}: {bad[0]!r}}} is not a level of '{var}'")
                self.factors[var] = list(values)
        self.covariates = {v: _covariate_value(v, at[v]) if v in at else fit.design.covariate_mean(v)
                           for v in enc.variables if v not in self.factors}
        names = list(self.factors)
        combos = list(itertools.product(*[self.factors[n] for n in names])) or [()]
        self.frame = pd.DataFrame(combos, columns=names)
        for v, value in self.covariates.items():
            self.frame[v] = value

    def _matrix(self, frame: pd.DataFrame, slope) -> np.ndarray:
        """Grid rows, or their (mixed) derivative in the covariate(s) ``slope``."""
        slopes = _as_list(slope)
        if not slopes:
            return self.fit.design.encoding.full_matrix(frame)
        var, rest = slopes[0], slopes[1:]
        if var not in self.covariates:
            raise DataError(f"slope={var!r} must be a numeric covariate of the mean model "
                            f"({', '.join(self.covariates) or 'none'})")
        up, down = frame.copy(), frame.copy()
        up[var] = up[var] + 1.0
        down[var] = down[var] - 1.0
        return (self._matrix(up, rest) - self._matrix(down, rest)) / 2.0

    def rows(self, specs, by=None, weights: str = "equal", slope: str | None = None):
        """Labels (DataFrame) and L matrix (kept columns; NaN if not estimable) of LS means."""
        labels, L_full = self.full_rows(specs, by, weights, slope)
        return labels, self.estimable(L_full)

    def full_rows(self, specs, by=None, weights: str = "equal", slope: str | None = None):
        """Labels and L over every column of the full design (aliased ones included) of LS means."""
        keys = _as_list(specs) + [b for b in _as_list(by) if b not in _as_list(specs)]
        for k in keys:
            if k not in self.factors:
                raise DataError(f"'{k}' is not a factor of the mean model "
                                f"(factors: {', '.join(self.factors) or 'none'})")
        x = self._matrix(self.frame, slope)
        others = [n for n in self.factors if n not in keys]
        w = self.weights(weights, keys, others)
        labels, rows = [], []
        order = [b for b in _as_list(by) if b not in _as_list(specs)] + _as_list(specs)
        groups = self.frame.groupby(order, sort=False) if order else [((), self.frame)]
        for key, part in groups:
            ww = w[part.index]
            if ww.sum() == 0:
                raise DataError(f"no observed data for the combination {key} with {weights} weights")
            rows.append(ww @ x[part.index] / ww.sum())
            labels.append(key if isinstance(key, tuple) else (key,))
        labels = pd.DataFrame(labels, columns=order)
        rank = [labels[k].map({lv: i for i, lv in enumerate(self.factors[k])}) for k in order]
        sort = np.lexsort(rank[::-1]) if rank else np.arange(len(labels))
        L_full = np.array(rows)[sort]
        labels = labels.iloc[sort].reset_index(drop=True)
        return labels[keys], L_full

    def weights(self, weights: str, keys: list[str], others: list[str]) -> np.ndarray:
        r"""The weight of each grid row when LS means of ``keys`` average over ``others``:
        1 (``"equal"``); :math:`n_{o}`, the rows used with the row's levels :math:`o` of
        ``others`` (``"proportional"``); :math:`\prod_f n_{o_f}`, the product of each other
        factor's marginal count (``"outer"``); :math:`n_{ko}`, the rows with the row's levels of
        ``keys`` and ``others`` (``"cells"``).  DataError naming the choices otherwise."""
        if weights not in WEIGHTS:
            raise DataError(f"weights must be one of {', '.join(map(repr, WEIGHTS))}, got {weights!r}")
        if weights == "equal" or not others:
            return np.ones(len(self.frame))
        if weights == "outer":
            return np.prod([self._counts([f]) for f in others], axis=0)
        return self._counts(others if weights == "proportional" else keys + others)

    def _counts(self, factors: list[str]) -> np.ndarray:
        """Rows used in the fit with each grid row's levels of ``factors`` (0 where none)."""
        observed = self.fit.design.level_counts(factors)
        idx = pd.MultiIndex.from_frame(self.frame[factors]) if len(factors) > 1 else self.frame[factors[0]]
        return observed.reindex(idx).fillna(0.0).to_numpy(dtype=float)

    def estimable_part(self, L_full: np.ndarray) -> np.ndarray:
        r"""Kept-column rows spanning the estimable part of the hypothesis :math:`L\beta = 0`:
        the combinations :math:`b^\top L` with :math:`b^\top LN = 0` (:math:`N` the null space
        of the full design), as R ``estimability::estble.subspace`` (emmeans ``joint_tests``)."""
        design = self.fit.design
        if design.null_space.size and L_full.size:
            ln = L_full @ design.null_space
            u, s, _ = np.linalg.svd(ln, full_matrices=True)
            scale = max(float(np.abs(L_full).max()), 1.0)
            rank = int(np.sum(s > ESTIMABLE_TOL * scale))
            L_full = u[:, rank:].T @ L_full
        return L_full[:, design.encoding.kept]

    def estimable(self, L_full: np.ndarray) -> np.ndarray:
        """Kept-column rows; rows with :math:`|l^\\top N| > 10^{-6}\\,|l|` become NaN."""
        design = self.fit.design
        L = L_full[:, design.encoding.kept].copy()
        if design.null_space.size:
            gap = np.abs(L_full @ design.null_space).max(axis=1)
            scale = np.maximum(np.abs(L_full).max(axis=1), 1.0)
            L[gap > ESTIMABLE_TOL * scale] = np.nan
        return L
