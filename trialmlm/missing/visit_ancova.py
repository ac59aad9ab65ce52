r"""ANCOVA at each visit of a completed data set (R rbmi's ``ancova`` analysis model).

At visit :math:`v` the completed responses of the analysed subjects are regressed on the
arm and the covariates by ordinary least squares,
:math:`y_v = X_v\beta_v + \varepsilon`, with :math:`X_v` the encoding of
``RESPONSE ~ ARM + covariates`` of the subjects' rows at that visit.  The LS mean of arm
:math:`a` uses rbmi's ``"counterfactual"`` weights: the mean over the analysed subjects of
their design rows with the arm set to :math:`a`,

.. math::
    \hat m_{v,a} = \Big(\frac1n\sum_i x_{v,i}(a)\Big)^\top\hat\beta_v ,

so the difference of two arms' LS means is the arm coefficient of the model (rbmi's
``trt``) whenever the covariates do not interact with the arm.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from ..design import formula_variables
from ..errors import DataError
from ..model import build_model
from .imputation import ImputationData


class VisitAncova:
    """The per-visit ANCOVA of ``data``'s completed responses, encoded once.

    ``completed`` is one completed (n, K) data set; it only fixes the encoding (factor levels
    and kept columns), which every later data set re-uses.
    """

    def __init__(self, data: ImputationData, covariates: Sequence[str], completed: np.ndarray):
        self.formula = " + ".join([f"{data.response} ~ {data.arm}", *covariates])
        k = len(data.visits)
        first = data.frame.iloc[::k].assign(**{data.response: completed[:, 0]})
        used = formula_variables(" + ".join(covariates)) if covariates else []
        missing = [c for c in used if c not in first.columns]
        if missing:
            raise DataError(f"ANCOVA covariate(s) {', '.join(map(repr, missing))} are not variables of the "
                            "imputation model's mean model; add them to the fitted formula")
        encoding = build_model(self.formula, first).design.encoding
        frames = [data.frame.iloc[v::k] for v in range(k)]
        self.X = np.stack([encoding.matrix(f) for f in frames])  # (K, n, p)
        self.X_arm = np.stack([[encoding.matrix(f.assign(**{data.arm: a})) for a in data.arms]
                               for f in frames])  # (K, A, n, p)

    def take(self, rows: np.ndarray) -> VisitAncova:
        """The ANCOVA of the subjects ``rows`` (repeats allowed: a bootstrap sample), whose
        completed data have one row per entry of ``rows``."""
        out = copy.copy(self)
        out.X, out.X_arm = self.X[:, rows], self.X_arm[:, :, rows]
        return out

    def lsmeans(self, completed: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """(K, A) counterfactual LS means of each arm at each visit from the subjects ``keep``."""
        out = np.empty(self.X_arm.shape[:2])
        for v, (X, X_arm) in enumerate(zip(self.X, self.X_arm)):
            beta = np.linalg.lstsq(X[keep], completed[keep, v], rcond=None)[0]
            out[v] = X_arm[:, keep].mean(axis=1) @ beta
        return out

