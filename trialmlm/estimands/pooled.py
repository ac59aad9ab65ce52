r"""The one result of every imputation method: :class:`PooledResult` (rbmi's ``pool`` object).

Every engine (:mod:`.approxbayes`, :mod:`.condmean`, :mod:`.bmlmi`) keeps the statistics of
its analyses over :math:`R` rows -- first the LS means of the arm by visit
(``lsmeans_labels``), then the differences from the reference by visit computed while
imputing (``compare_labels``; a user function's parameters are all ``compare_labels``) --
in the layout its method's :meth:`pool` reads (:mod:`.methods`), the rows always on the last
axis:

=====================  ===============================  =====================================
method                 ``estimates``                    ``point``
=====================  ===============================  =====================================
``ApproxBayes(M)``     (M, 3, R) estimate, variance, df  None
``CondMean(...)``      (S, R) per leave-one-out or       (R,) the full-data analysis
                       bootstrap sample
``BMLMI(B, D)``        (B, D, R)                         None
=====================  ===============================  =====================================

A method whose pooling reads the estimates alone (``needs_variances`` false) pools any
linear function of them, so every difference of two arms' LS means at a visit is
:math:`\hat m_{v,a} - \hat m_{v,b}` of each sample; Rubin's rules need each analysis' own
variance, so other requests analyse every kept completed data set again with the fit's MMRM
(approximate Bayes with ``Mmrm()``; the fits are kept once made).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..checks import check_alpha
from ..errors import DataError
from ..inference.lsmeans import COLUMNS, adjust_table, check_adjust
from ..inference.protocol import check_options
from .function_analysis import check_comparisons, parameter_labels
from .ice import IcePlan
from .imputation import ImputationData
from .pipeline import ENGINES


@dataclass(frozen=True)
class PooledResult:
    """The pooled analyses of the completed data sets of one imputation method.

    Implements :class:`trialmlm.inference.protocol.Comparisons` (``lsmeans``, ``compare`` with
    the keywords, defaults and columns of a fit; ``fmi`` too under Rubin's rules), each row
    pooled by ``method.pool`` (:mod:`.methods`); ``table()``/``pooled`` for a user-function
    analysis; ``update_strategy`` re-imputes from the kept parameters.

    Attributes
    ----------
    method : the imputation method value (:class:`.methods.ApproxBayes`, ``CondMean``, ``BMLMI``).
    arm, visit : the treatment and visit factors.  reference : the reference arm of the differences.
    estimates, point : the per-sample statistics and full-data estimates (module docstring).
    lsmeans_labels, compare_labels : the labels of the rows.
    data, plan : the wide layout of the trial and the resolved ICE plan (:class:`.ice.IcePlan`).
    analysis : the analysis of a completed data set (:mod:`.visit_ancova`, ...).
    analysis_model : "ancova", "mmrm" or "function".
    completed : (N, n, K) the completed responses kept (approximate Bayes: every imputation;
        conditional mean: the full-data one; BMLMI: None).
    default_strategy : the strategy of subjects without an ICE row (approximate Bayes).
    delta, delta_arms : the delta as given and the arms a numeric delta was applied to.
    seed : the entropy that reproduces the run (None for the jackknife).
    n_not_converged : refits or analyses that did not converge.
    parameters : what the method's engine keeps to impute again (its ``update``).
    seconds : wall-clock times of the steps.
    """

    method: object
    arm: str
    visit: str
    reference: object
    estimates: np.ndarray = field(repr=False)
    lsmeans_labels: pd.DataFrame = field(repr=False)
    compare_labels: pd.DataFrame = field(repr=False)
    data: ImputationData = field(repr=False)
    plan: IcePlan = field(repr=False)
    analysis: object = field(repr=False)
    analysis_model: str = "ancova"
    point: np.ndarray | None = field(default=None, repr=False)
    completed: np.ndarray | None = field(default=None, repr=False)
    default_strategy: str = "mar"
    delta: object = field(default=0.0, repr=False)
    delta_arms: tuple = ()
    seed: int | None = None
    n_not_converged: int = 0
    parameters: object = field(default=None, repr=False)
    seconds: dict = field(default_factory=dict, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_samples(self) -> int:
        """The number of samples: imputations M, leave-one-out or bootstrap samples S, or B."""
        return self.estimates.shape[0]

    @property
    def covariates(self) -> tuple:
        """The analysis' covariate terms (the ANCOVA's; () for the MMRM and a user function)."""
        return tuple(self.analysis.covariates)

    @property
    def weights(self) -> str | None:
        """The analysis' LS-mean weights."""
        return self.analysis.weights

    def ice_summary(self) -> pd.DataFrame:
        """Counts by arm and strategy (:meth:`trialmlm.estimands.ice.IcePlan.summary`)."""
        return self.plan.summary(self.data)

    def summary(self) -> pd.DataFrame:
        """One row: ``method, n_samples, analysis, default_strategy, arm, visit, reference, seed,
        n_not_converged``."""
        return pd.DataFrame([{"method": self.method.name, "n_samples": self.n_samples,
                              "analysis": self.analysis_model, "default_strategy": self.default_strategy,
                              "arm": self.arm, "visit": self.visit, "reference": self.reference,
                              "seed": self.seed, "n_not_converged": self.n_not_converged}])

    def update_strategy(self, update: pd.DataFrame, workers: int = 1, progress: bool | None = None,
                        executor=None) -> PooledResult:
        """The imputations again under the strategies of ``update`` (the subject column and
        ``strategy``; :func:`trialmlm.estimands.ice.update_plan`) from the kept parameters,
        without refitting (rbmi's ``impute(update_strategy = )``); ``workers``, ``progress``,
        ``executor`` as :func:`trialmlm.estimands.impute`."""
        run = dict(workers=workers, progress=progress, executor=executor)
        return replace(ENGINES[type(self.method)].update(self, update, run), _cache={})

    def completed_data(self, sample: int = 0) -> pd.DataFrame:
        """Completed data set ``sample`` (0-based): a row per subject and visit; ``imputed``
        marks filled values."""
        if self.completed is None:
            raise DataError(f"a {self.method.name} result keeps no completed data sets (the "
                            "imputations of each bootstrap sample are analysed and dropped)")
        n = len(self.completed)
        if not (isinstance(sample, (int, np.integer)) and 0 <= sample < n):
            kept = "one completed data set (sample = 0)" if n == 1 else f"{n} (sample = 0 to {n - 1})"
            raise DataError(f"completed data set {sample!r} does not exist; this result keeps {kept}")
        return self.data.completed_frame(self.completed[sample])

    def _pool(self, select: Callable[[np.ndarray], np.ndarray], alpha: float, pooling) -> pd.DataFrame:
        """``method.pool`` of the rows ``select`` makes of the estimates (last axis)."""
        point = None if self.point is None else select(self.point)
        return self.method.pool(point, select(self.estimates), check_alpha(alpha), pooling)

    def _rows(self, labels: pd.DataFrame, rows: slice, alpha: float, pooling) -> pd.DataFrame:
        return pd.concat([labels.reset_index(drop=True), self._pool(lambda e: e[..., rows], alpha, pooling)],
                         axis=1)

    def table(self, alpha: float = 0.05, pooling: str | None = None) -> pd.DataFrame:
        """The pooled parameters of a user-function analysis: ``parameter, estimate, se, df, t,
        p, lower, upper`` (``fmi`` under Rubin's rules)."""
        return self._rows(parameter_labels(self.analysis), slice(None), alpha, pooling)

    @property
    def pooled(self) -> pd.DataFrame:
        """:meth:`table` at the defaults."""
        return self.table()

    def _is_stored(self, spec, by, options: dict) -> bool:
        """Whether the request is the arm by visit, as the analyses gave it."""
        return not options and (spec, by) == (self.arm, self.visit)

    def _fits(self) -> list:
        """The fit's MMRM on each kept completed data set (computed once)."""
        if "fits" not in self._cache:
            self._cache["fits"] = [self.analysis.fit(y) for y in self.completed]
        return self._cache["fits"]

    def _reanalysed(self, name: str, args: tuple, options: dict, alpha: float, pooling,
                    **fixed) -> pd.DataFrame:
        """``fit_m.name(*args, **options, **fixed)`` on every completed data set, pooled row by
        row by Rubin's rules; DataError when the method keeps no analysable data sets."""
        if not self.method.needs_variances:
            asked = f"it has no option {', '.join(map(repr, options))}" if options else \
                f"not {args[0]!r} by {args[1]!r}"
            raise DataError(f"{name}() of a {self.method.name} result gives the LS means of '{self.arm}' "
                            f"by '{self.visit}' only (its analyses keep their estimates, not their fits); "
                            f"{asked}")
        options = {**check_options(name, options), **fixed}
        alpha = check_alpha(alpha)
        tables = [getattr(f, name)(*args, **options) for f in self._fits()]
        est, se, df = (np.stack([t[c].to_numpy() for t in tables]) for c in ("estimate", "se", "df"))
        labels = tables[0].drop(columns=[c for c in tables[0].columns if c in COLUMNS])
        pooled = self.method.pool(None, np.stack([est, se**2, df], axis=1), alpha, pooling)
        return pd.concat([labels, pooled], axis=1)

    def lsmeans(self, specs=None, by=None, alpha: float = 0.05, pooling: str | None = None,
                **options) -> pd.DataFrame:
        """Pooled LS means: the columns of ``fit.lsmeans`` (factor columns, ``estimate, se, df,
        lower, upper``; ``fmi`` under Rubin's rules).  The arm by visit (``specs=None`` or the
        arm with ``by=`` the visit) as the analyses gave them; any other request analyses the
        kept completed data sets again (approximate Bayes with ``Mmrm()`` only).  ``pooling``:
        the method's (bootstrap: "percentile", the default, or "normal"; others: None).
        ``specs=None`` is the arm (by the visit unless ``by`` is given)."""
        check_comparisons(self.analysis)
        if specs is None:
            specs, by = self.arm, self.visit if by is None else by
        if self._is_stored(specs, by, options):
            out = self._rows(self.lsmeans_labels, slice(0, len(self.lsmeans_labels)), alpha, pooling)
        else:
            out = self._reanalysed("lsmeans", (specs, by), options, alpha, pooling)
        return out.drop(columns=["t", "p"])

    def compare(self, spec=None, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, pooling: str | None = None, **options) -> pd.DataFrame:
        """Pooled differences of the levels of ``spec``: the keywords, defaults and columns of
        ``fit.compare`` (``fmi`` under Rubin's rules; ``pooling`` as :meth:`lsmeans`).  Without
        ``spec``: the arm by visit against ``reference`` (default: the result's).  ``adjust``
        "bonferroni" or "holm" applies to the pooled p-values and limits within each visit
        ("dunnett" and "tukey" need the joint distribution of the differences, which the
        pooling rules do not give)."""
        check_comparisons(self.analysis)
        check_adjust(adjust, pairwise)
        if adjust in ("dunnett", "tukey"):
            raise DataError(f"adjust={adjust!r} needs the joint distribution of the pooled differences, "
                            "which the pooling gives contrast by contrast only; use adjust='bonferroni' or "
                            "'holm'")
        if spec is None:
            spec, by = self.arm, self.visit if by is None else by
            reference = self.reference if reference is None and not pairwise else reference
        stored = self._is_stored(spec, by, options)
        if stored and not self.method.needs_variances:
            out = self._differences(reference, pairwise, alpha, pooling)
        elif stored and reference == self.reference and not pairwise:
            out = self._rows(self.compare_labels, slice(len(self.lsmeans_labels), None), alpha, pooling)
        else:
            out = self._reanalysed("compare", (spec, by, reference), options, alpha, pooling,
                                   pairwise=pairwise)
        if adjust is not None:
            if adjust == "bonferroni" and out["se"].isna().all():
                raise DataError("adjust='bonferroni' widens intervals by their standard error, which "
                                "percentile intervals do not have: use adjust='holm' or pooling='normal'")
            adjust_table(out, spec, alpha, adjust)
        return out

    def _differences(self, reference, pairwise: bool, alpha: float, pooling) -> pd.DataFrame:
        """Each arm minus ``reference`` (default: the first arm) or every pair, at each visit, as
        differences of the pooled rows' per-sample LS means."""
        arms, visits = list(self.data.arms), list(self.data.visits)
        if pairwise:
            pairs = [(i, j) for i in range(len(arms)) for j in range(i + 1, len(arms))]
        else:
            reference = arms[0] if reference is None else reference
            if reference not in arms:
                raise DataError(f"reference {reference!r} is not a level of '{self.arm}' "
                                f"({', '.join(map(str, arms))})")
            r = arms.index(reference)
            pairs = [(i, r) for i in range(len(arms)) if i != r]
        ls = self.lsmeans_labels
        position = {key: i for i, key in enumerate(zip(ls[self.visit], ls[self.arm]))}
        first, second = (np.array([position[v, arms[p[side]]] for v in visits for p in pairs])
                         for side in (0, 1))
        names = np.array(arms, dtype=object)
        labels = pd.DataFrame({
            self.visit: np.repeat(visits, len(pairs)),
            self.arm: np.tile(names[[i for i, _ in pairs]], len(visits)),
            "contrast": np.tile([f"{names[i]} - {names[j]}" for i, j in pairs], len(visits))})
        pooled = self._pool(lambda e: e[..., first] - e[..., second], alpha, pooling)
        return pd.concat([labels, pooled], axis=1)
