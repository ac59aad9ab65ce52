"""The result protocol of the per-visit ANCOVA after maximum-likelihood imputation
(:func:`trialmlm.estimands.condmean`, :func:`trialmlm.estimands.bmlmi`): LS means of each arm at
each visit and their differences, with the keywords and columns of
:class:`trialmlm.inference.protocol.Comparisons`.

Each result holds the LS means of its analyses as arrays ending in (K visits, A arms); the
tables are built here once, and each result kind answers only how its estimates are pooled
(:meth:`VisitResults._pool`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..checks import check_alpha
from ..errors import DataError
from ..inference.lsmeans import adjust_table, check_adjust
from .function_analysis import check_comparisons, parameter_labels
from .ice import IcePlan, update_plan
from .imputation import ImputationData
from .mle_imputation import Setting


@dataclass(frozen=True)
class VisitResults:
    """Base of the results of :func:`condmean` and :func:`bmlmi`; ``setting`` holds the imputation
    model, its full-data parameters, the ICE plan and the ANCOVA (:class:`.mle_imputation.Setting`)."""

    setting: Setting = field(repr=False)

    @property
    def arm(self) -> str:
        """The treatment factor."""
        return self.setting.arm

    @property
    def visit(self) -> str:
        """The visit factor."""
        return self.setting.visit

    @property
    def reference(self):
        """The control arm of the reference-based strategies (None without)."""
        return self.setting.reference

    @property
    def covariates(self) -> tuple:
        """The ANCOVA's covariate terms."""
        return self.setting.covariates

    @property
    def data(self) -> ImputationData:
        """The wide layout of the trial."""
        return self.setting.data

    @property
    def plan(self) -> IcePlan:
        """The resolved ICE table."""
        return self.setting.plan

    def ice_summary(self) -> pd.DataFrame:
        """Counts by arm and strategy (:meth:`trialmlm.estimands.ice.IcePlan.summary`)."""
        return self.plan.summary(self.data)

    def _pool(self, transform: Callable[[np.ndarray], np.ndarray], alpha: float, pooling) -> pd.DataFrame:
        """``estimate, se, df, t, p, lower, upper`` of the quantities ``transform`` maps the LS
        means (..., K, A) to (..., R)."""
        raise NotImplementedError

    def _updated_setting(self, update: pd.DataFrame) -> Setting:
        """The setting under the strategies of ``update`` (:func:`trialmlm.estimands.ice.update_plan`)."""
        return self.setting.with_plan(update_plan(self.plan, update, self.data, self.reference))

    def table(self, alpha: float = 0.05, pooling: str | None = None) -> pd.DataFrame:
        """The pooled parameters of a user-function analysis: ``parameter, estimate, se, df, t,
        p, lower, upper`` (``pooling`` as :meth:`lsmeans`)."""
        labels = parameter_labels(self.setting.analysis)
        return pd.concat([labels, self._pool(lambda e: e, check_alpha(alpha), pooling)], axis=1)

    @property
    def pooled(self) -> pd.DataFrame:
        """:meth:`table` at the defaults."""
        return self.table()

    def _check(self, spec, by, options: dict, method: str) -> None:
        check_comparisons(self.setting.analysis)
        if spec is not None and spec != self.arm:
            raise DataError(f"the per-visit ANCOVA estimates LS means of the arm '{self.arm}' only, "
                            f"not {spec!r}")
        if by is not None and by != self.visit:
            raise DataError(f"the per-visit ANCOVA gives results by '{self.visit}' only, not by {by!r}")
        if options:
            raise DataError(f"{method}() of an imputation result has no option "
                            f"{', '.join(map(repr, options))}; the per-visit ANCOVA's LS means are "
                            "counterfactual")

    def lsmeans(self, specs=None, by=None, alpha: float = 0.05, pooling: str | None = None,
                **options) -> pd.DataFrame:
        """LS means of each arm at each visit: ``arm, visit, estimate, se, df, lower, upper``.

        ``pooling``: ``"percentile"`` (default) or ``"normal"`` for bootstrap inference; the
        jackknife and BMLMI have one way of pooling (``pooling=None``).
        """
        self._check(specs, by, options, "lsmeans")
        k, a = len(self.data.visits), len(self.data.arms)
        labels = pd.DataFrame({self.arm: np.tile(self.data.arms, k),
                               self.visit: np.repeat(self.data.visits, a)})
        table = self._pool(lambda e: e.reshape(*e.shape[:-2], k * a), check_alpha(alpha), pooling)
        return pd.concat([labels, table.drop(columns=["t", "p"])], axis=1)

    def compare(self, spec=None, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, pooling: str | None = None, **options) -> pd.DataFrame:
        """Differences of the arms' LS means at each visit: ``visit, arm, contrast, estimate, se,
        df, t, p, lower, upper``; each arm minus ``reference`` (default: the imputation's
        reference, else the first arm) or every pair; ``adjust`` "bonferroni" or "holm"
        within each visit (percentile intervals: "holm" only); ``pooling`` as :meth:`lsmeans`.
        """
        self._check(spec, by, options, "compare")
        check_adjust(adjust, pairwise)
        if adjust in ("dunnett", "tukey"):
            raise DataError(f"adjust={adjust!r} needs the joint t distribution of the differences, which "
                            "resampling does not give: use adjust='bonferroni' or 'holm'")
        arms = self.data.arms
        if pairwise:
            pairs = [(i, j) for i in range(len(arms)) for j in range(i + 1, len(arms))]
        else:
            reference = (self.reference if self.reference is not None else arms[0]) if reference is None \
                else reference
            if reference not in arms:
                raise DataError(f"reference {reference!r} is not a level of '{self.arm}' "
                                f"({', '.join(map(str, arms))})")
            r = arms.index(reference)
            pairs = [(i, r) for i in range(len(arms)) if i != r]
        first, second = (np.array(p) for p in zip(*pairs))
        k = len(self.data.visits)
        names = np.array(arms, dtype=object)
        labels = pd.DataFrame({
            self.visit: np.repeat(self.data.visits, len(pairs)), self.arm: np.tile(names[first], k),
            "contrast": np.tile([f"{names[i]} - {names[j]}" for i, j in pairs], k)})
        table = self._pool(lambda e: (e[..., first] - e[..., second]).reshape(*e.shape[:-2], k * len(pairs)),
                           check_alpha(alpha), pooling)
        out = pd.concat([labels, table], axis=1)
        if adjust is not None:
            if adjust == "bonferroni" and out["se"].isna().all():
                raise DataError("adjust='bonferroni' widens intervals by their standard error, which "
                                "percentile intervals do not have: use adjust='holm' or pooling='normal'")
            adjust_table(out, self.arm, alpha, adjust)
        return out
