r"""A user function as the analysis of completed data sets (rbmi's ``analyse(fun = )``).

``fun(completed) -> DataFrame``: ``completed`` has one row per analysed subject and visit
(the fit's mean-model variables, the completed response, ``imputed`` marking filled values;
a subject drawn twice into a bootstrap sample appears under two labels, the positions
``0..m-1``); the result has one row per ``parameter`` with its ``estimate`` and, for
Rubin's rules (``ApproxBayes``), its ``se`` and ``df``.  Each parameter is pooled by the
method's rule, like rbmi's ``pool`` of an ``analyse(fun = )`` result: Rubin's rules with
Barnard-Rubin df over :math:`(\hat\theta_m, \widehat{se}_m^2, \nu_m)`, or the jackknife,
bootstrap or von Hippel-Bartlett rules over the :math:`\hat\theta` alone.

The parameters are those of ``fun`` on the conditional-mean completed data (the first call);
every later data set must give the same parameters with finite values, else a DataError
names the parameter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import DataError
from .imputation import ImputationData

RUBIN_COLUMNS = ("se", "df")  # beside parameter and estimate, for Rubin's rules


class FunctionAnalysis:
    """``fun`` applied to completed data sets of the subjects ``rows`` of ``data`` (default:
    every subject once); ``completed`` (n, K) fixes the parameters.  The interface of
    :class:`.visit_ancova.VisitAncova`: :meth:`lsmeans` (estimates, maximum-likelihood
    engines), :meth:`__call__` (estimates, variances and df, approximate Bayes), :meth:`take`.

    Attributes
    ----------
    labels : ``parameter`` of each pooled row.
    """

    covariates = ()
    weights = None

    def __init__(self, fun: Callable[[pd.DataFrame], pd.DataFrame], data: ImputationData,
                 completed: np.ndarray | None = None, rubin: bool = False, rows: np.ndarray | None = None,
                 parameters: list | None = None):
        if not callable(fun):
            raise DataError(f"analysis must be Ancova(...), Mmrm() or a function of the completed data; "
                            f"got {fun!r}")
        self.fun, self.data, self.rubin = fun, data, rubin
        self.rows = np.arange(len(data.subjects)) if rows is None else np.asarray(rows)
        self.parameters = parameters
        if parameters is None:
            self.parameters = list(self._table(completed)["parameter"])
        self.labels = pd.DataFrame({"parameter": self.parameters})
        self.lsmeans_labels, self.compare_labels = self.labels.iloc[:0], self.labels

    def take(self, rows: np.ndarray) -> FunctionAnalysis:
        """The analysis of the subjects ``rows`` of this one (repeats allowed)."""
        return FunctionAnalysis(self.fun, self.data, None, self.rubin, self.rows[rows], self.parameters)

    def _frame(self, completed: np.ndarray, chosen: np.ndarray) -> pd.DataFrame:
        """The long completed data of the analysed positions ``chosen`` (repeats relabelled)."""
        data, k = self.data, len(self.data.visits)
        subjects = self.rows[chosen]
        flat = (subjects[:, None] * k + np.arange(k)).ravel()
        frame = data.frame.iloc[flat].assign(**{data.response: completed[chosen].ravel(),
                                                "imputed": ~data.observed[subjects].ravel()})
        if np.unique(subjects).size < subjects.size:
            frame[data.subject] = np.repeat(np.arange(subjects.size), k)
        return frame.reset_index(drop=True)

    def _table(self, completed: np.ndarray, chosen: np.ndarray | None = None) -> pd.DataFrame:
        """``fun``'s checked output on ``completed[chosen]`` (default: every row)."""
        chosen = np.arange(len(completed)) if chosen is None else np.arange(len(completed))[chosen]
        out = self.fun(self._frame(completed, chosen))
        if not isinstance(out, pd.DataFrame):
            raise DataError(f"the analysis function must return a DataFrame, got {type(out).__name__}")
        needed = ["parameter", "estimate", *(RUBIN_COLUMNS if self.rubin else ())]
        absent = [c for c in needed if c not in out.columns]
        if absent:
            rule = "; Rubin's rules (ApproxBayes) pool estimate, se and df" if self.rubin else ""
            names = ", ".join(map(repr, absent))
            raise DataError(f"the analysis function's result lacks column(s) {names}{rule}")
        values = out[needed[1:]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            raise DataError(f"the analysis function gave a non-finite value for parameter "
                            f"{out['parameter'].iloc[int(np.argmax(bad))]!r}")
        if self.parameters is not None and list(out["parameter"]) != self.parameters:
            raise DataError(f"the analysis function gave parameters {list(out['parameter'])} on one "
                            f"completed data set and {self.parameters} on the first; they must be the same")
        return out

    def lsmeans(self, completed: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """(R,) estimates of the parameters from the completed responses ``completed[keep]``."""
        return self._table(completed, keep)["estimate"].to_numpy(dtype=float)

    def __call__(self, completed: np.ndarray) -> tuple[np.ndarray, bool]:
        """(3, R) estimate, variance (``se`` squared) and df of each parameter; True."""
        table = self._table(completed)
        return np.vstack([table["estimate"], table["se"].astype(float) ** 2, table["df"]]).astype(float), True

    def fit(self, completed: np.ndarray):
        """Other requests than the function's parameters: DataError."""
        raise DataError("a user-function analysis gives its own parameters only: use pooled or table(), "
                        "not lsmeans() or compare()")


def parameter_labels(analysis) -> pd.DataFrame:
    """``parameter`` of each row of a user-function ``analysis`` (DataError for the others,
    whose results are asked with ``lsmeans()`` and ``compare()``)."""
    if not isinstance(analysis, FunctionAnalysis):
        raise DataError("table() pools the parameters of a user-function analysis (analyse(fun)); this "
                        "result's analysis gives LS means: use lsmeans() or compare()")
    return analysis.labels


def check_comparisons(analysis) -> None:
    """DataError when ``analysis`` is a user function: it has no LS means to compare."""
    if isinstance(analysis, FunctionAnalysis):
        analysis.fit(None)
