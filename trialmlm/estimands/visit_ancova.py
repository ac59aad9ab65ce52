r"""ANCOVA at each visit of a completed data set (R rbmi's ``ancova`` analysis model).

At visit :math:`v` the completed responses of the :math:`n` analysed subjects are regressed
on the arm and the covariates by ordinary least squares,
:math:`y_v = X_v\beta_v + \varepsilon`, with :math:`X_v` the encoding of
``RESPONSE ~ ARM + covariates`` of the subjects' rows at that visit:
:math:`\hat\beta_v = (X_v^\top X_v)^{-}X_v^\top y_v`,
:math:`\hat\sigma^2_v = \lVert y_v - X_v\hat\beta_v\rVert^2/(n - p)` with :math:`p` the rank
of :math:`X_v`.  The LS mean of arm :math:`a` is :math:`\hat m_{v,a} = l_{v,a}^\top\hat\beta_v`
with variance :math:`\hat\sigma^2_v\, l_{v,a}^\top(X_v^\top X_v)^{-}l_{v,a}` and :math:`n - p`
degrees of freedom (R ``lm``'s ``df.residual``); a difference of two arms uses
:math:`l_{v,a} - l_{v,b}`.  The row :math:`l_{v,a}` depends on ``weights`` (rbmi's
``lsmeans(.weights = )``):

``"counterfactual"`` (rbmi's default)
    the mean of the subjects' design rows with the arm set to :math:`a`,
    :math:`l_{v,a} = \frac1n\sum_i x_{v,i}(a)` (g-computation; emmeans ``counterfactual``).
``"equal"``
    the mean of the design rows of every combination of the levels of the factor
    covariates, with each numeric covariate at its mean over the subjects (so a product of
    two numeric covariates enters as the product of their means; emmeans ``weights =
    "equal"``).
``"proportional"`` (also spelled ``"proportional_em"``, rbmi's name)
    as ``"equal"``, but each combination weighted by its frequency among the analysed
    subjects (emmeans ``weights = "proportional"``, SAS ``OM``; the meaning of
    ``weights="proportional"`` in ``fit.lsmeans``).  Note: rbmi's ``"proportional"`` is an
    alias of ``"counterfactual"``.

Without an arm-by-covariate interaction the difference of two arms' LS means is the same
under every weighting and equals the arm coefficient (rbmi's ``trt``).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..engine.design import build_design, formula_variables
from ..engine.formula import parse_formula
from ..errors import DataError
from .imputation import ImputationData

WEIGHTS = ("counterfactual", "equal", "proportional", "proportional_em")


def check_weights(weights: str) -> str:
    """``weights`` if it is one of :data:`WEIGHTS` (DataError otherwise)."""
    if weights not in WEIGHTS:
        raise DataError(f"weights must be one of {', '.join(map(repr, WEIGHTS))}; got {weights!r}")
    return weights


class VisitAncova:
    """The per-visit ANCOVA of ``data``'s completed responses, encoded once.

    ``completed`` is one completed (n, K) data set; it only fixes the encoding (factor levels
    and kept columns), which every later data set re-uses.  ``reference``: the arm the
    differences of :meth:`__call__` are taken from (default: the first arm).

    Attributes
    ----------
    lsmeans_labels : ``arm, visit`` of the LS means of :meth:`__call__` (visit by visit).
    compare_labels : ``visit, arm, contrast`` of its differences from ``reference``.
    """

    def __init__(self, data: ImputationData, covariates: Sequence[str], completed: np.ndarray,
                 weights: str = "counterfactual", reference=None):
        self.weights, self.covariates = check_weights(weights), tuple(covariates)
        self.formula = " + ".join([f"{data.response} ~ {data.arm}", *covariates])
        k = len(data.visits)
        first = data.frame.iloc[::k].assign(**{data.response: completed[:, 0]})
        used = formula_variables(" + ".join(covariates)) if covariates else []
        missing = [c for c in used if c not in first.columns]
        if missing:
            raise DataError(f"ANCOVA covariate(s) {', '.join(map(repr, missing))} are not variables of the "
                            "imputation model's mean model; add them to the fitted formula")
        if data.visit in used:
            raise DataError(f"the visit '{data.visit}' cannot be an ANCOVA covariate: the ANCOVA is fitted "
                            "at each visit separately")
        # the design only (no estimability check in observations): too few subjects is named below
        encoding = build_design(first, parse_formula(self.formula), None, False).encoding
        self.encoding, self.arm, self.arms = encoding, data.arm, list(data.arms)
        self.factors = [c for c in used if c in encoding.levels and c != data.arm]
        self.numeric = [c for c in used if c not in encoding.levels]
        self.frames = [data.frame.iloc[v::k].reset_index(drop=True) for v in range(k)]
        self.X = np.stack([encoding.matrix(f) for f in self.frames])  # (K, n, p)
        if self.X.shape[1] <= self.X.shape[2]:
            n, p = self.X.shape[1:]
            raise DataError(f"too few subjects for the per-visit ANCOVA {self.formula}: its {p} coefficients "
                            f"need at least {p + 1} subjects (one more than the coefficients, for a residual "
                            f"variance), the data have {n}; use fewer covariates")
        self.X_arm = np.stack([[encoding.matrix(f.assign(**{data.arm: a})) for a in data.arms]
                               for f in self.frames])  # (K, A, n, p)
        everyone = np.ones(self.X.shape[1], dtype=bool)
        self.full_rows = [self.rows(v, everyone) for v in range(k)]  # the covariates' rows, not the response
        reference = self.arms[0] if reference is None else reference
        r = self.arms.index(reference)
        self.others = [i for i in range(len(self.arms)) if i != r]
        self.reference_index = r
        names = np.asarray(self.arms, dtype=object)
        self.lsmeans_labels = pd.DataFrame({data.arm: np.tile(names, k),
                                            data.visit: np.repeat(np.asarray(data.visits, dtype=object),
                                                                  len(names))})
        self.compare_labels = pd.DataFrame({
            data.visit: np.repeat(np.asarray(data.visits, dtype=object), len(self.others)),
            data.arm: np.tile(names[self.others], k),
            "contrast": np.tile([f"{names[i]} - {reference}" for i in self.others], k)})

    def rows(self, v: int, keep: np.ndarray) -> np.ndarray:
        """(A, p) LS-mean rows :math:`l_{v,a}` of visit ``v`` from the subjects ``keep``."""
        if self.weights == "counterfactual":
            return self.X_arm[v][:, keep].mean(axis=1)
        frame = self.frames[v].loc[keep]
        levels = [list(self.encoding.levels[c]) for c in self.factors]
        grid = pd.DataFrame(list(itertools.product(*levels)), columns=self.factors)
        if self.weights == "equal" or not self.factors:
            w = np.full(len(grid), 1.0 / len(grid))
        else:
            counts = frame.groupby(self.factors, observed=True).size()
            index = pd.MultiIndex.from_frame(grid) if len(self.factors) > 1 \
                else pd.Index(grid[self.factors[0]])
            w = counts.reindex(index).fillna(0.0).to_numpy(dtype=float) / len(frame)
        grid = grid.assign(**{c: float(frame[c].astype(float).mean()) for c in self.numeric})
        for c in self.factors:
            grid[c] = pd.Categorical(grid[c], categories=self.encoding.levels[c])
        return np.stack([w @ self.encoding.matrix(grid.assign(**{self.arm: a})) for a in self.arms])

    def fit(self, completed: np.ndarray):
        """Other requests than the arm's LS means and differences by visit: DataError."""
        raise DataError("the per-visit ANCOVA (analysis='ancova') gives the arm's LS means and differences "
                        "from the reference by visit only: call lsmeans() or compare() without arguments, or "
                        "impute with analysis='mmrm'")

    def take(self, rows: np.ndarray) -> VisitAncova:
        """The ANCOVA of the subjects ``rows`` (repeats allowed: a bootstrap sample), whose
        completed data have one row per entry of ``rows``."""
        out = copy.copy(self)
        out.X, out.X_arm = self.X[:, rows], self.X_arm[:, :, rows]
        out.frames = [f.iloc[rows].reset_index(drop=True) for f in self.frames]
        everyone = np.ones(len(rows), dtype=bool)
        out.full_rows = [out.rows(v, everyone) for v in range(len(out.frames))]
        return out

    def lsmeans(self, completed: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """(K, A) LS means of each arm at each visit from the subjects ``keep``."""
        out = np.empty(self.X_arm.shape[:2])
        for v, X in enumerate(self.X):
            beta = np.linalg.lstsq(X[keep], completed[keep, v], rcond=None)[0]
            out[v] = self.rows(v, keep) @ beta
        return out

    def __call__(self, completed: np.ndarray) -> tuple[np.ndarray, bool]:
        """(3, R) estimate, variance and df of every LS mean (``lsmeans_labels``) then every
        difference from the reference (``compare_labels``), from all subjects; True (OLS
        always converges)."""
        means, diffs = [], []
        for v, (X, L) in enumerate(zip(self.X, self.full_rows)):
            beta, _, rank, _ = np.linalg.lstsq(X, completed[:, v], rcond=None)
            df = X.shape[0] - rank
            sigma2 = float(np.sum((completed[:, v] - X @ beta) ** 2)) / df
            cov = sigma2 * np.linalg.pinv(X.T @ X)
            D = L[self.others] - L[self.reference_index]
            for rows, out in ((L, means), (D, diffs)):
                out.append(np.vstack([rows @ beta, np.einsum("ij,jk,ik->i", rows, cov, rows),
                                      np.full(len(rows), float(df))]))
        return np.hstack([*means, *diffs]), True
