r"""Approximate-Bayesian multiple imputation from a fitted MMRM (R rbmi ``method_approxbayes``):
:func:`impute`, :func:`tipping_point`, :meth:`MultipleImputation.update_strategy`.

**Strategies.**  Each subject's missing visits follow a strategy from a visit on: a subject
with a row in the ICE table (:mod:`.ice`) follows the row's strategy from its ICE visit;
a subject without a row follows ``method`` from the visit after its last observation (as
if it had an ICE row there; ``method="mar"`` is rbmi's default).  Observed values at or
after a non-MAR ICE are left out of the imputation model's fit
(:func:`.ice.fit_without_excluded`) but stay in the completed data.

Each imputation :math:`m = 1..M` (i) draws the imputation model's parameters
:math:`(\beta^{(m)}, \Sigma^{(m)})` by refitting the MMRM to a stratified bootstrap sample
of subjects (:func:`.imputation.draw_parameters`), (ii) draws every missing visit of every
subject from the conditional normal distribution of its strategy (:mod:`.strategies`),
(iii) adds the delta shift (:mod:`.delta`), and (iv) analyses the completed data: the
fit's own MMRM (``analysis="mmrm"``) or an ANCOVA at each visit (``analysis="ancova"``, rbmi's
``ancova``, :mod:`.visit_ancova`), giving LS means and differences from the reference arm
at every visit with their variances and df.  The :math:`M` results are combined by
Rubin's rules with Barnard-Rubin df (:mod:`.rubin`).

**Random numbers.**  Imputation :math:`m` has its own seed, split into one stream for the
bootstrap and one for the draws; the draws use one standard normal per subject and visit
(:func:`.imputation.impute_visits`).  :meth:`MultipleImputation.update_strategy` re-uses the
stored parameter draws and the draw streams, so a subject whose strategy did not change
keeps its imputed values exactly, and a changed subject's values move only through its
conditional mean and covariance (common random numbers, as rbmi's
``impute(update_strategy = )`` re-uses the draws).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..checks import check_alpha, check_executor, check_seed, finite_numbers
from ..engine.estimate import estimate
from ..engine.model import build_model
from ..errors import DataError
from ..inference.grid import ReferenceGrid
from ..inference.lsmeans import COLUMNS, adjust_table, check_adjust, difference_rows
from ..inference.protocol import check_options
from ..inference.wald import t_table
from ..runner import run_tasks
from .delta import delta_matrix, delta_shift
from .function_analysis import FunctionAnalysis, check_comparisons, parameter_labels
from .ice import ICE_STRATEGIES, IcePlan, ice_plan, imputation_setup, update_plan
from .imputation import (
    ImputationData,
    covariance_matrices,
    draw_parameters,
    impute_visits,
    refit_model,
    subject_strata,
    warn_not_converged,
)
from .methods import ApproxBayes, check_count
from .pipeline import Analyses, Ancova, ImputationModel, Imputations, Mmrm, register
from .strategies import STRATEGIES
from .visit_ancova import VisitAncova, check_weights

DEFAULT_STRATEGIES = (*STRATEGIES, "delta")  # impute(method=): strategy of subjects without an ICE row
ANALYSES = ("mmrm", "ancova")
ANALYSIS_MODELS = {Mmrm: "mmrm", Ancova: "ancova"}  # the result's analysis_model; else "function"
LABELS = {name: label for label, name in ICE_STRATEGIES.items()}  # strategy name -> ICE table label
ROUND_STEPS = (1.0, 2.0, 2.5, 5.0)
MAX_STEPS = 15
TIPS, DOES_NOT_TIP, NOT_SIGNIFICANT = "tips", "does not tip", "not significant"
IMPUTATIONS = "imputations (bootstrap or analysis fits)"  # what did not converge


class Analysis:
    """The MMRM of ``fit`` applied to completed data sets: encoded once, refitted per data set.

    ``completed`` is one completed (n, K) data set; it fixes the encoding.
    """

    def __init__(self, fit, data: ImputationData, reference, completed: np.ndarray):
        s = fit.settings
        frame = data.frame.assign(**{s.response: completed.ravel()})
        self.model = build_model(fit.model.formula, frame, s.method)  # the parsed formula, not its text
        self.order = self.model.design.row_position
        self.ddf, self.vcov, self.start = s.ddf, s.vcov, fit.phi
        first = self.fit(completed)
        ls_labels, ls_rows = ReferenceGrid(first).rows([data.arm], [data.visit], "equal", None)
        diff_labels, diff_rows = difference_rows(first, data.arm, [data.visit], reference, "equal", None,
                                                 None)
        self.lsmeans_labels = ls_labels[[data.arm, data.visit]]
        self.compare_labels = diff_labels
        self.rows = np.vstack([ls_rows, diff_rows])
        self.covariates, self.weights = (), "equal"  # the covariates are the formula's

    def fit(self, completed: np.ndarray):
        """The MMRM fitted to one completed data set (the results object of a fit)."""
        model = self.model.with_response(completed.ravel()[self.order])
        return estimate(model, self.ddf, self.vcov, start=self.start, warn=False)

    def __call__(self, completed: np.ndarray) -> tuple[np.ndarray, bool]:
        """(3, rows) estimates, variances and df of every LS mean and difference; converged."""
        result = self.fit(completed)
        table = t_table(result, self.rows, self.ddf, self.vcov, 0.05)
        return np.vstack([table["estimate"], table["se"] ** 2, table["df"]]), result.converged


def _sigmas(fit) -> list[np.ndarray]:
    return covariance_matrices(fit.structures, fit.likelihood, fit.phi)


@dataclass(frozen=True)
class _Imputer:
    """What every imputation shares once the parameters are drawn."""

    data: ImputationData
    plan: IcePlan
    analysis: object  # Analysis or VisitAncova
    shifts: list
    keep_data: bool


@dataclass(frozen=True)
class _Context:
    fit: object
    model: object
    strata: list
    imputer: _Imputer


def _streams(seed: np.random.SeedSequence) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The bootstrap and the draw stream of one imputation's seed (stateless, unlike ``spawn``)."""
    return tuple(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, i)) for i in (0, 1))


def _impute_and_analyse(imp: _Imputer, draw: tuple, seed: np.random.SeedSequence):
    beta, sigmas, draw_ok = draw
    completed = impute_visits(imp.data, imp.plan.strategies, beta, sigmas,
                              np.random.default_rng(_streams(seed)[1]), imp.plan.codes)
    results = [imp.analysis(completed + shift) for shift in imp.shifts]
    stats = np.stack([r[0] for r in results])  # (n_shifts, 3, rows)
    ok = draw_ok and all(r[1] for r in results)
    return (completed + imp.shifts[0]) if imp.keep_data else None, stats, ok


def _one_imputation(ctx: _Context, seed: np.random.SeedSequence):
    """Draw the parameters, impute, analyse: (completed or None, stats, ok, draw)."""
    draw = draw_parameters(ctx.fit, ctx.model, ctx.strata, np.random.default_rng(_streams(seed)[0]))
    return (*_impute_and_analyse(ctx.imputer, draw, seed), draw)


def _reimpute(imp: _Imputer, task: tuple):
    """Impute and analyse with a stored draw: (completed or None, stats, ok, draw)."""
    draw, seed = task
    return (*_impute_and_analyse(imp, draw, seed), draw)


@dataclass(frozen=True)
class MultipleImputation:
    """Result of :func:`impute`: the per-imputation analyses and their pooled summaries.

    Implements :class:`trialmlm.inference.protocol.Comparisons` (``lsmeans``, ``compare``
    with the keywords, defaults and columns of a fit, plus ``fmi``): each estimate is pooled
    over the completed data sets by Rubin's rules (:mod:`.rubin`).  The LS means of the arm
    by visit and the differences from ``reference`` by visit are computed while imputing;
    with ``analysis_model="mmrm"`` any other request analyses every completed data set again
    with the fit's MMRM (once: the analyses are kept); the per-visit ANCOVA gives those only.

    Attributes
    ----------
    method, reference, arm, visit : what was imputed and compared.
    n_imputations : M.  seed : the entropy that reproduces the run (``seed=`` of :func:`impute`).
    delta, delta_arms : the delta as given and the arms a numeric delta was applied to.
    estimates : (M, 3, R) per imputation: estimate, variance, df of the R LS means then differences.
    n_not_converged : imputations whose bootstrap or analysis fit did not converge.
    analysis_model, covariates, weights : the analysis model ("mmrm" or "ancova") and the
        ANCOVA's covariates and LS-mean weights.
    plan : the resolved strategies (:class:`trialmlm.estimands.ice.IcePlan`; subjects without an
        ICE row have the implied row of ``method`` at the visit after their last observation).
    draws : per imputation the parameter draw ``(beta, sigmas, converged)``; ``seeds``: its seed.
    shift : (n, K) the delta shift added to the completed data.
    imputation_reference : the reference of the reference-based strategies (None if not given).
    """

    method: str
    reference: object
    arm: str
    visit: str
    n_imputations: int
    seed: int
    delta: object
    delta_arms: tuple
    estimates: np.ndarray = field(repr=False)
    lsmeans_labels: pd.DataFrame = field(repr=False)
    compare_labels: pd.DataFrame = field(repr=False)
    imputed: np.ndarray = field(repr=False)
    data: ImputationData = field(repr=False)
    n_not_converged: int = 0
    analysis_model: str = "mmrm"
    covariates: tuple = ()
    weights: str | None = None
    plan: IcePlan | None = field(default=None, repr=False)
    draws: tuple = field(default=(), repr=False)
    seeds: tuple = field(default=(), repr=False)
    shift: np.ndarray | None = field(default=None, repr=False)
    imputation_reference: object = None
    analysis: Analysis | VisitAncova | None = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def ice_summary(self) -> pd.DataFrame:
        """Counts by arm and strategy (:meth:`trialmlm.estimands.ice.IcePlan.summary`); subjects
        without an ICE row count as ``with_ice`` when ``method`` gave them one after dropout."""
        return self.plan.summary(self.data)

    def update_strategy(self, update: pd.DataFrame, workers: int = 1, progress: bool | None = None,
                        executor: Executor | None = None) -> MultipleImputation:
        """The imputations again under new strategies, with the same parameter draws (rbmi's
        ``impute(update_strategy = )``): no bootstrap refit.

        ``update`` has the subject column and ``strategy`` for subjects with an ICE (a row of
        the ICE table, or the implied row of ``method`` after dropout);
        :func:`trialmlm.estimands.ice.update_plan` validates it (a MAR subject with observed values
        after its ICE cannot become non-MAR: the imputation model used them).  Each imputation
        re-uses its draw stream, so subjects whose strategy did not change keep their imputed
        values; the delta shift, analysis and reference stay.  ``workers``, ``progress``,
        ``executor`` as :func:`impute`.
        """
        plan = update_plan(self.plan, update, self.data, self.imputation_reference)
        imputer = _Imputer(self.data, plan, self.analysis, [self.shift], True)
        out = run_tasks(_reimpute, imputer, list(zip(self.draws, self.seeds)), workers, progress,
                        "imputations (updated strategies)", executor)
        failed = warn_not_converged([ok for _, _, ok, _ in out], IMPUTATIONS)
        return replace(self, plan=plan, estimates=np.stack([st[0] for _, st, _, _ in out]),
                       imputed=np.stack([y for y, _, _, _ in out]), n_not_converged=failed, _cache={})

    @property
    def imputation_method(self) -> ApproxBayes:
        """The imputation method (:class:`.methods.ApproxBayes`): Rubin's rules."""
        return ApproxBayes(self.n_imputations)

    def _pooled(self, labels: pd.DataFrame, rows: slice, alpha: float, pooling=None) -> pd.DataFrame:
        pooled = self.imputation_method.pool(None, self.estimates[:, :, rows], check_alpha(alpha), pooling)
        return pd.concat([labels.reset_index(drop=True), pooled], axis=1)

    def _fits(self) -> list:
        """The analysis model fitted to each completed data set (computed once; the MMRM only)."""
        if "fits" not in self._cache:
            self._cache["fits"] = [self.analysis.fit(y) for y in self.imputed]
        return self._cache["fits"]

    def _pool_each(self, method: str, alpha: float, args: tuple, options: dict, pooling=None) -> pd.DataFrame:
        """``fit_m.method(*args, **options)`` on every completed data set, pooled row by row."""
        alpha = check_alpha(alpha)
        tables = [getattr(f, method)(*args, **options) for f in self._fits()]
        est, se, df = (np.stack([t[c].to_numpy() for t in tables]) for c in ("estimate", "se", "df"))
        labels = tables[0].drop(columns=[c for c in tables[0].columns if c in COLUMNS])
        pooled = self.imputation_method.pool(None, np.stack([est, se**2, df], axis=1), alpha, pooling)
        return pd.concat([labels, pooled], axis=1)

    def lsmeans(self, specs=None, by=None, alpha: float = 0.05, pooling: str | None = None,
                **options) -> pd.DataFrame:
        """Pooled LS means: columns as ``fit.lsmeans`` (factor columns, ``estimate, se, df,
        lower, upper``) plus ``fmi``.  Without ``specs``: the arm by visit (``arm, visit``
        columns), as computed while imputing.  ``pooling``: None (Rubin's rules, the one way;
        the keyword of every imputation result)."""
        check_comparisons(self.analysis)
        if specs is None and by is None and not options:
            n = len(self.lsmeans_labels)
            return self._pooled(self.lsmeans_labels, slice(0, n), alpha, pooling).drop(columns=["t", "p"])
        if specs is None:
            raise DataError("lsmeans() with by= or options needs specs=, e.g. lsmeans('ARM', by='AVISIT')")
        options = check_options("lsmeans", options)
        return self._pool_each("lsmeans", alpha, (specs, by), options, pooling).drop(columns=["t", "p"])

    def compare(self, spec=None, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, pooling: str | None = None, **options) -> pd.DataFrame:
        """Pooled differences of the levels of ``spec``: the keywords, defaults and columns of
        ``fit.compare`` plus ``fmi`` (``pooling`` as :meth:`lsmeans`); ``adjust`` is applied to
        the pooled p-values and limits ("dunnett" needs the joint distribution of the
        differences, which Rubin's rules do not give: use "bonferroni" or "holm").  Without
        ``spec``: the arm's differences from ``reference`` (default: the imputation's
        reference) at each visit, as computed while imputing
        (``compare(arm, by=visit, reference=reference)``)."""
        check_comparisons(self.analysis)
        check_adjust(adjust, pairwise)
        if adjust == "dunnett":
            raise DataError("adjust='dunnett' needs the joint distribution of the pooled differences, which "
                            "Rubin's rules give contrast by contrast only; use adjust='bonferroni' or 'holm'")
        if spec is None:
            spec, by = self.arm, self.visit if by is None else by
            reference = self.reference if reference is None and not pairwise else reference
        stored = (spec == self.arm and by == self.visit and reference == self.reference and not pairwise
                  and not options)
        if stored:
            out = self._pooled(self.compare_labels, slice(len(self.lsmeans_labels), None), alpha, pooling)
        else:
            options = {**check_options("compare", options), "pairwise": pairwise}
            out = self._pool_each("compare", alpha, (spec, by, reference), options, pooling)
        if adjust is not None:
            adjust_table(out, spec, alpha, adjust)
        return out

    def table(self, alpha: float = 0.05, pooling: str | None = None) -> pd.DataFrame:
        """The pooled parameters of a user-function analysis by Rubin's rules: ``parameter,
        estimate, se, df, t, p, lower, upper, fmi``."""
        return self._pooled(parameter_labels(self.analysis), slice(None), alpha, pooling)

    @property
    def pooled(self) -> pd.DataFrame:
        """:meth:`table` at the defaults."""
        return self.table()

    def completed_data(self, m: int = 0) -> pd.DataFrame:
        """Imputed data set ``m`` (0-based): a row per subject and visit; ``imputed`` marks filled values."""
        if not 0 <= m < self.n_imputations:
            raise DataError(f"imputation {m} does not exist; there are {self.n_imputations} (0 to "
                            f"{self.n_imputations - 1})")
        return self.data.completed_frame(self.imputed[m])


@dataclass(frozen=True)
class TippingPoint:
    r"""Result of :func:`tipping_point`.

    Attributes
    ----------
    table : one row per delta (and contrast): ``delta, contrast, estimate, se, df, t, p, lower, upper, fmi``;
        ``delta`` is the shift applied to the contrast's arm (negative when that arm was
        shifted downwards).
    tipping_deltas : contrast -> first delta of the grid (in the order given) at which
        :math:`p \ge \alpha`, or None if the difference stays significant over the grid.
    primary_p : contrast -> p-value of the fit's own difference at ``visit`` (the primary
        MMRM under MAR, ``fit.compare``).
    alpha, visit, method, n_imputations, arm, reference : the settings.
    """

    table: pd.DataFrame
    tipping_deltas: dict
    alpha: float
    visit: object
    method: str
    n_imputations: int
    primary_p: dict
    arm: str
    reference: object

    @property
    def tipping_delta(self) -> float | None:
        """The tipping delta of the single contrast (DataError with several: see ``tipping_deltas``)."""
        if len(self.tipping_deltas) != 1:
            raise DataError(f"there are {len(self.tipping_deltas)} contrasts; see tipping_deltas")
        return next(iter(self.tipping_deltas.values()))

    def status(self, contrast) -> str:
        r"""``"not significant"``: nothing to tip, the primary MMRM's :math:`p \ge \alpha` or
        already the imputations at :math:`\delta = 0` give :math:`p \ge \alpha`; ``"tips"``:
        a later delta of the grid does; ``"does not tip"``: significant over the whole grid."""
        if contrast not in self.tipping_deltas:
            raise DataError(f"contrast {contrast!r} is not in the tipping point "
                            f"({', '.join(map(str, self.tipping_deltas))})")
        delta = self.tipping_deltas[contrast]
        if self.primary_p[contrast] >= self.alpha or delta == 0:
            return NOT_SIGNIFICANT
        return TIPS if delta is not None else DOES_NOT_TIP

    def summary(self) -> pd.DataFrame:
        """One row per contrast: the row of ``table`` that answers "where does it tip?".

        ``"tips"``: the row at the tipping delta, "tips at delta = 3"; ``"does not tip"``: the
        last delta of the grid, "does not tip within the range (deltas 0 to 12)"; ``"not
        significant"``: no numbers, "not significant under MAR; no tipping point" when the
        primary MMRM is not significant, else the row at delta 0, "not significant at delta =
        0; no tipping point".  Columns: those of ``table``, then ``primary_p`` and ``tipping``.
        """
        rows = []
        for contrast, part in self.table.groupby("contrast", sort=False):
            status, delta = self.status(contrast), self.tipping_deltas[contrast]
            deltas = part["delta"].to_numpy()
            if status == DOES_NOT_TIP:
                row = part.iloc[[-1]]
                text = f"does not tip within the range (deltas {deltas[0]:g} to {deltas[-1]:g})"
            elif self.primary_p[contrast] >= self.alpha:
                row = part.iloc[[0]].assign(**{c: np.nan for c in part.columns if c != "contrast"})
                text = "not significant under MAR; no tipping point"
            else:
                row = part.loc[part["delta"] == delta].iloc[[0]]
                text = (f"tips at delta = {delta:g}" if status == TIPS
                        else "not significant at delta = 0; no tipping point")
            rows.append(row.assign(primary_p=self.primary_p[contrast], tipping=text))
        return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True)
class _Setup:
    """The checked arguments of :func:`impute` and :func:`tipping_point`."""

    visit: str
    arm: str
    reference: object  # of the differences (default: the first arm)
    imputation_fit: object
    data: ImputationData
    plan: IcePlan
    shifted: tuple
    entropy: int
    seeds: list


def _plan(ice, data: ImputationData, strategy, reference, strategies) -> IcePlan:
    """The ICE table plus, for each subject without a row and with missing visits after its
    last observation, a row of ``strategy`` at the visit after it."""
    given = ice_plan(ice, data, reference, strategies)
    implied = pd.isna(given.ice_visit) & (data.n_mar < len(data.visits))
    if strategy.needs_observation and (implied & (data.n_mar == 0)).any():
        raise DataError(f"method {strategy.name!r} carries a subject's last mean forward, but subject "
                        f"{data.subjects[implied & (data.n_mar == 0)][0]!r} has no observed visit")
    if not implied.any():
        return given
    rows = pd.DataFrame({data.subject: data.subjects[implied],
                         data.visit: np.asarray(data.visits, dtype=object)[data.n_mar[implied]],
                         "strategy": LABELS[strategy.name]})
    table = rows if ice is None else pd.concat([ice[[data.subject, data.visit, "strategy"]], rows],
                                              ignore_index=True)
    return ice_plan(table, data, reference, strategies)


def _setup(fit, method, n_imputations, reference, arm, delta_arms, seed, ice, strategies) -> _Setup:
    seed = check_seed(seed)
    if method not in DEFAULT_STRATEGIES:
        raise DataError(f"method must be one of {', '.join(DEFAULT_STRATEGIES)}; got {method!r}")
    strategy = STRATEGIES["mar" if method == "delta" else method]
    if strategy.needs_reference and reference is None:
        raise DataError(f"method {method!r} needs reference= (the control arm's level)")
    visit, arm, data, plan, imputation_fit = imputation_setup(
        fit, arm, reference, lambda data: _plan(ice, data, strategy, reference, strategies))
    compared_to = data.arms[0] if reference is None else reference
    shifted = tuple(a for a in data.arms if a != compared_to) if delta_arms is None else tuple(delta_arms)
    entropy = np.random.SeedSequence(seed).entropy
    seeds = np.random.SeedSequence(entropy).spawn(n_imputations)
    return _Setup(visit, arm, compared_to, imputation_fit, data, plan, shifted, entropy, seeds)


def _analysis_value(analysis: str, covariates, weights) -> Ancova | Mmrm:
    """The analysis value of ``analysis=`` "mmrm" or "ancova" with its options (DataError for
    unknown or misplaced options)."""
    if analysis not in ANALYSES:
        raise DataError(f"analysis must be one of {', '.join(map(repr, ANALYSES))}; got {analysis!r}")
    if analysis == "ancova":
        return Ancova(covariates, weights)
    if covariates is not None or weights is not None:
        raise DataError("covariates= and weights= are options of analysis='ancova'; analysis='mmrm' "
                        "analyses the completed data with the fit's own MMRM (LS means: equal weights)")
    return Mmrm()


def _analysis(fit, setup: _Setup, analysis):
    """The analysis model of the completed data sets, encoded on the first (conditional-mean) one."""
    data, imputation_fit = setup.data, setup.imputation_fit
    first = impute_visits(data, setup.plan.strategies, imputation_fit.beta, _sigmas(imputation_fit), None,
                          setup.plan.codes)
    if isinstance(analysis, Mmrm):
        return Analysis(fit, data, setup.reference, first)
    if not isinstance(analysis, Ancova):
        return FunctionAnalysis(analysis, data, first, rubin=True)
    covariates = analysis.covariates
    if covariates is None:
        covariates = [v for v in fit.design.encoding.variables if v not in (setup.arm, setup.visit)]
    elif isinstance(covariates, str):
        covariates = [covariates]
    return VisitAncova(data, list(covariates), first, check_weights(analysis.weights or "counterfactual"),
                       setup.reference)


def _run(setup: _Setup, analysis, shifts, workers, progress, keep_data, desc, executor) -> list:
    """(completed or None, stats, ok, draw) of every imputation."""
    imputer = _Imputer(setup.data, setup.plan, analysis, shifts, keep_data)
    ctx = _Context(setup.imputation_fit, refit_model(setup.imputation_fit),
                   subject_strata(setup.imputation_fit, setup.arm), imputer)
    return run_tasks(_one_imputation, ctx, setup.seeds, workers, progress, desc, executor)


def _shift(setup: _Setup, delta, delta_arms) -> np.ndarray:
    """(n, K) shift of ``delta``: a delta table as it stands, a number or mapping after each ICE."""
    if isinstance(delta, pd.DataFrame):
        if delta_arms is not None:
            raise DataError("delta_arms= applies to a numeric delta; a delta table names its subjects and "
                            "visits (build it with delta_template)")
        return delta_shift(delta, setup.data)
    return delta_matrix(setup.data, setup.plan, delta, setup.shifted)


def _result(setup: _Setup, model, out: list, given: dict) -> MultipleImputation:
    """The :class:`MultipleImputation` of the imputations ``out`` (``given``: the call's settings)."""
    return MultipleImputation(
        reference=setup.reference, arm=setup.arm, visit=setup.visit, seed=setup.entropy,
        delta_arms=setup.shifted, estimates=np.stack([st[0] for _, st, _, _ in out]),
        lsmeans_labels=model.lsmeans_labels, compare_labels=model.compare_labels,
        imputed=np.stack([y for y, _, _, _ in out]), data=setup.data,
        covariates=model.covariates, weights=model.weights, plan=setup.plan,
        draws=tuple(d for _, _, _, d in out), seeds=tuple(setup.seeds), analysis=model, **given)


def impute(fit, method: str = "mar", n_imputations: int = 100, reference=None, arm: str | None = None,
           delta=0.0, delta_arms=None, seed: int | None = None, workers: int = 1,
           progress: bool | None = None, executor: Executor | None = None, ice: pd.DataFrame | None = None,
           analysis: str = "mmrm", covariates: Sequence[str] | None = None,
           weights: str | None = None,
           strategies: Mapping[str, Callable] | None = None) -> MultipleImputation:
    r"""Approximate-Bayesian multiple imputation from the fitted MMRM, pooled by Rubin's rules.

    Parameters
    ----------
    fit : MMRMResults of an MMRM with visits as classes, e.g.
        ``CHG ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID)`` (also ``GROUP=`` by arm): the
        imputation model.
    method : strategy of the subjects without a row in ``ice``, from the visit after their last
        observation: "mar" (rbmi's default), "delta" (MAR plus ``delta``), "jump_to_reference",
        "copy_reference", "copy_increments_in_reference", "last_mean_carried_forward"
        (Carpenter et al. 2013).  Intermittent gaps before it are MAR.
    n_imputations : M (at least 2).
    reference : control level of the arm; needed by the reference-based strategies; also the
        reference of the reported differences (default: the arm's first level).
    arm : treatment factor (default: the one factor of the mean model besides the visit).
    delta : a number or mapping visit -> number, added to the imputed values at or after the
        ICE (for subjects without an ICE row: after their last observed visit) of the subjects
        in ``delta_arms`` (default: every arm but the reference); or a delta table (the fit's
        subject and visit columns and ``delta``, see :func:`trialmlm.estimands.delta_template`)
        added as it stands (rbmi's ``analyse(delta = )``).
    seed : makes the run reproducible (the result's ``seed`` reproduces a run made without one).
    workers : processes over imputations; results do not depend on it.
    progress : progress bar (None: on interactive terminals only).
    executor : run the imputations on this :class:`concurrent.futures.Executor` (e.g. a Dask
        ``Client.get_executor()``) instead of ``workers`` local processes; results do not
        depend on it (:mod:`trialmlm.runner`).
    ice : intercurrent events, one row per affected subject: the fit's subject and visit
        columns (first visit affected) and ``strategy`` (MAR, JR, CR, CIR, LMCF;
        :mod:`trialmlm.estimands.ice`).  Observed values at or after a non-MAR ICE are left out
        of the imputation model's fit (it is refitted without them) but kept in the analysis.
    analysis : "mmrm" (the fit's own MMRM on each completed data set) or "ancova" (rbmi's
        ``ancova``: an ANCOVA at each visit, :mod:`trialmlm.estimands.visit_ancova`).
    covariates : the ANCOVA's covariate terms (default: the other variables of the fit's mean
        model, e.g. ``["BASE"]``); analysis="ancova" only.
    weights : the ANCOVA's LS-mean weights, "counterfactual" (default, rbmi's), "equal",
        "proportional" (emmeans/SAS OM; rbmi's "proportional_em"); analysis="ancova" only.
    strategies : user-defined strategies by label for ``ice`` (name -> ``f(own, ref,
        index_mar) -> (mu, sigma)``, :mod:`trialmlm.estimands.strategies`), as :func:`condmean`.

    Notes
    -----
    Every subject with a row in the fitted data (also those without any observed response)
    is imputed and analysed.  The bootstrap resamples, within each arm, the subjects with at
    least one observed value in the imputation model's fit (rbmi resamples all subjects;
    those without values add nothing to its fit).
    """
    check_executor(executor)  # before the setup's refit, not at the imputations
    value = _analysis_value(analysis, covariates, weights)
    model = ImputationModel(fit, ice=ice, arm=arm, reference=reference, strategies=strategies,
                            default_strategy=method)
    draws = model.draws(ApproxBayes(check_count("n_imputations", n_imputations)), seed, workers, progress,
                        executor)
    return draws.impute().analyse(value, delta=delta, delta_arms=delta_arms).pool()


def run(analyses: Analyses) -> MultipleImputation:
    """The pipeline's engine of :class:`.methods.ApproxBayes`: the setup's refit, then per
    imputation a bootstrap refit, the draws and the analysis."""
    draws, analysis = analyses.imputations.draws, analyses.analysis
    model, n, options = draws.model, draws.method.n_samples, draws.run
    check_executor(options["executor"])
    method, delta, delta_arms = model.default_strategy, analyses.delta, analyses.delta_arms
    delta = 0.0 if delta is None else delta
    setup = _setup(model.fit, method, n, model.reference, model.arm, delta_arms, draws.seed, model.ice,
                   model.strategies)
    shift = _shift(setup, delta, delta_arms)
    if method == "delta" and not shift.any():
        raise DataError("method 'delta' needs a non-zero delta= applied to at least one dropout")
    imputation = _analysis(model.fit, setup, analysis)
    out = _run(setup, imputation, [shift], options["workers"], options["progress"], True,
               f"{method} imputations", options["executor"])
    settings = dict(method=method, n_imputations=n, delta=delta, shift=shift,
                    analysis_model=ANALYSIS_MODELS.get(type(analysis), "function"),
                    imputation_reference=model.reference)
    failed = warn_not_converged([ok for _, _, ok, _ in out], IMPUTATIONS)
    return _result(setup, imputation, out, dict(settings, n_not_converged=failed))


MAX_DELTA_SDS = 1e4  # |delta| / SD of the response beyond which rounding eats the pooled SE


def _check_deltas(deltas, observed: np.ndarray, visit) -> np.ndarray:
    r"""``deltas`` as finite numbers within ``MAX_DELTA_SDS`` SDs of the observed response at
    ``visit``: the between-imputation variance of estimates of size :math:`\delta` loses
    about :math:`\epsilon(\delta/sd)^2` of its value to rounding (2e-8 at the limit)."""
    steps = finite_numbers("deltas", deltas)
    if not steps.size:
        raise DataError("deltas must hold at least one shift")
    sd = float(np.std(observed, ddof=1)) if observed.size > 1 else np.nan
    limit = MAX_DELTA_SDS * sd
    if np.isfinite(limit) and limit > 0 and np.abs(steps).max() > limit:
        raise DataError(f"deltas must lie within +-{limit:.6g} ({MAX_DELTA_SDS:g} SDs of the response at "
                        f"{visit!r}, SD {sd:.4g}): beyond that the pooled SE is lost to rounding; got "
                        f"{np.abs(steps).max():g}")
    return steps


def delta_steps(sd: float, span: float = 2.0) -> np.ndarray:
    r"""The default tipping-point grid :math:`0, h, 2h, \dots, nh` in round steps covering ``span`` SDs.

    The step :math:`h` is the smallest of :math:`\{1, 2, 2.5, 5\} \times 10^k` for which
    :math:`n = \lceil \mathrm{span} \cdot sd / h \rceil \le 15`, so that the grid reaches at
    least :math:`\mathrm{span} \cdot sd` in 8 to 15 steps; e.g. :math:`sd = 6.2` gives
    :math:`h = 1`, :math:`0, 1, \dots, 13`; :math:`sd = 0.83` gives :math:`h = 0.2`,
    :math:`0, 0.2, \dots, 1.8`.
    """
    sd = float(sd)
    if not np.isfinite(sd) or sd <= 0:
        raise DataError(f"the default deltas need a positive SD of the response; got {sd!r}")
    target = span * sd
    exponent = int(np.floor(np.log10(target / MAX_STEPS)))  # a step of 10^(exponent + 1) always fits
    candidates = [m * 10.0 ** e for e in (exponent, exponent + 1) for m in ROUND_STEPS]
    n_steps = [int(np.ceil(target / h - 1e-9)) for h in candidates]
    h, n = next((h, n) for h, n in zip(candidates, n_steps) if n <= MAX_STEPS)
    return np.round(np.arange(n + 1) * h, max(0, 1 - exponent))


def _grid(data: ImputationData, visit, deltas) -> np.ndarray:
    """The checked ``deltas``, or :func:`delta_steps` of the SD of the observed response at ``visit``."""
    observed = data.y[:, data.visits.index(visit)]
    observed = observed[np.isfinite(observed)]
    if deltas is not None:
        return _check_deltas(deltas, observed, visit)
    if observed.size < 2:
        raise DataError(f"visit {visit!r} has {observed.size} observed response(s), too few for the SD "
                        "that scales the default deltas; pass deltas=")
    return delta_steps(np.std(observed, ddof=1))


def _directions(primary: pd.DataFrame, arm: str, shifted: tuple, default: bool) -> dict:
    """Sign of the shift per shifted arm: towards the null (opposite to the primary
    difference from the reference) for the default grid, else +1 (deltas as given)."""
    estimate = dict(zip(primary[arm], primary["estimate"]))
    return {a: -1.0 if default and estimate.get(a, 0.0) > 0 else 1.0 for a in shifted}


def _pool_deltas(stats: np.ndarray, model, steps, direction: dict, names: tuple, method,
                 alpha: float) -> pd.DataFrame:
    """``delta, contrast`` and the pooled differences from the reference at the visit, per delta."""
    arm, vname, visit = names
    n_ls, labels = len(model.lsmeans_labels), model.compare_labels
    at_visit = np.flatnonzero(labels[vname].to_numpy() == visit)
    sign = np.array([direction.get(a, 1.0) for a in labels[arm].to_numpy()[at_visit]])
    tables = []
    for i, d in enumerate(steps):
        pooled = method.pool(None, stats[:, i][:, :, n_ls + at_visit], alpha)
        head = pd.DataFrame({"delta": sign * d + 0.0, "contrast": labels["contrast"].to_numpy()[at_visit]})
        tables.append(pd.concat([head, pooled], axis=1))
    return pd.concat(tables, ignore_index=True)


def _tipping_deltas(table: pd.DataFrame, alpha: float) -> dict:
    """Contrast -> the first delta at which p >= alpha (None if none)."""
    tipping = {}
    for contrast, rows in table.groupby("contrast", sort=False):
        lost = rows.loc[rows["p"] >= alpha, "delta"]
        tipping[contrast] = float(lost.iloc[0]) if len(lost) else None
    return tipping


def tipping_point(fit, deltas=None, arms=None, visit=None, method: str = "mar", n_imputations: int = 100,
                  reference=None, arm: str | None = None, alpha: float = 0.05, seed: int | None = None,
                  workers: int = 1, progress: bool | None = None, executor: Executor | None = None,
                  ice: pd.DataFrame | None = None, analysis: str = "mmrm",
                  covariates: Sequence[str] | None = None, weights: str | None = None,
                  strategies: Mapping[str, Callable] | None = None) -> TippingPoint:
    r"""Delta-adjusted multiple imputation over a grid of shifts; where does significance tip?

    For each :math:`\delta` in ``deltas`` the imputed values at or after each subject's ICE
    (``ice``; for subjects without an ICE row: after their last observation) in ``arms``
    (default: every arm but the reference; one arm, several, or the reference too) are
    shifted by :math:`\delta` -- rbmi's ``delta_template(missing_only = TRUE)`` with the same
    :math:`\delta` at every visit and ``dlag`` :math:`(1, 0, \dots, 0)`, i.e. a constant shift
    of the missing values from the ICE on -- and the difference from the reference at
    ``visit`` (default: the last visit) is pooled over the same ``n_imputations`` imputations
    (common random numbers across deltas, as in rbmi).  rbmi's tipping-point example (advanced
    vignette) shifts every missing value of an arm (``is_missing * delta``): the same unless
    a subject has intermittent gaps before its ICE, which are MAR here and not shifted.
    ``reference`` (the control arm) is required.  A positive :math:`\delta` raises the
    shifted arm's imputed values, so it raises its difference from the reference.  Order
    ``deltas`` from the primary assumption (0) towards the unfavourable direction (positive
    when higher is worse); the tipping delta is the first at which :math:`p \ge \alpha`.

    ``deltas=None``: :func:`delta_steps` of the SD of the observed response at ``visit``,
    applied to each shifted arm in the direction that moves its difference towards the null:
    upwards when the primary (MAR) difference from the reference is negative, downwards
    (negative deltas in ``table``) when it is positive.  ``analysis``, ``covariates``,
    ``weights`` choose the analysis model of the completed data; ``strategies`` and the other
    arguments as :func:`impute`.
    """
    value = _analysis_value(analysis, covariates, weights)
    model = ImputationModel(fit, ice=ice, arm=arm, reference=reference, strategies=strategies,
                            default_strategy=method)
    draws = model.draws(ApproxBayes(check_count("n_imputations", n_imputations)), seed, workers, progress,
                        executor)
    return draws.impute().tipping_point(value, deltas, arms, visit, alpha)


def tipping(imputations: Imputations, analysis: Ancova | Mmrm, deltas, arms, visit,
            alpha: float) -> TippingPoint:
    """The pipeline's tipping point of :class:`.methods.ApproxBayes` (:func:`tipping_point`)."""
    draws = imputations.draws
    model, n, options, fit = draws.model, draws.method.n_samples, draws.run, draws.model.fit
    alpha = check_alpha(alpha)
    check_executor(options["executor"])
    if model.reference is None:
        raise DataError("tipping_point needs reference= (the control arm): the deltas shift the other arms "
                        "and the differences are taken from it")
    setup = _setup(fit, model.default_strategy, n, model.reference, model.arm, arms, draws.seed, model.ice,
                   model.strategies)
    data, vname, arm = setup.data, setup.visit, setup.arm
    visit = data.visits[-1] if visit is None else visit
    if visit not in data.visits:
        raise DataError(f"visit {visit!r} is not a visit of '{vname}' ({', '.join(map(str, data.visits))})")
    steps = _grid(data, visit, deltas)
    primary = fit.compare(arm, by=vname, reference=model.reference, alpha=alpha)
    primary = primary.loc[primary[vname] == visit]
    direction = _directions(primary, arm, setup.shifted, deltas is None)
    shifts = [sum((delta_matrix(data, setup.plan, sign * d, [a]) for a, sign in direction.items()),
                  np.zeros_like(data.y)) for d in steps]
    imputation = _analysis(fit, setup, analysis)
    out = _run(setup, imputation, shifts, options["workers"], options["progress"], False,
               "tipping-point imputations", options["executor"])
    warn_not_converged([ok for _, _, ok, _ in out], IMPUTATIONS)
    stats = np.stack([st for _, st, _, _ in out])  # (M, n_deltas, 3, rows)
    table = _pool_deltas(stats, imputation, steps, direction, (arm, vname, visit), draws.method, alpha)
    return TippingPoint(table, _tipping_deltas(table, alpha), alpha, visit, model.default_strategy, n,
                        dict(zip(primary["contrast"], primary["p"])), arm, model.reference)


register(ApproxBayes, run, tipping)
