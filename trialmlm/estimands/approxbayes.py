r"""Approximate-Bayesian multiple imputation from a fitted MMRM (R rbmi ``method_approxbayes``):
:func:`run` (the engine of :class:`.methods.ApproxBayes`), :func:`update` (its
``update_strategy``); the tipping point is :mod:`.tipping`, the shortcut :func:`trialmlm.estimands.impute`.

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
(:func:`.imputation.impute_visits`).  :func:`update` (``result.update_strategy``) re-uses the
stored parameter draws and the draw streams, so a subject whose strategy did not change
keeps its imputed values exactly, and a changed subject's values move only through its
conditional mean and covariance (common random numbers, as rbmi's
``impute(update_strategy = )`` re-uses the draws).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..checks import check_executor, check_seed
from ..engine.estimate import estimate
from ..engine.model import build_model
from ..errors import DataError
from ..inference.grid import ReferenceGrid
from ..inference.lsmeans import difference_rows
from ..inference.wald import t_table
from ..runner import run_tasks
from .delta import delta_matrix, delta_shift
from .function_analysis import FunctionAnalysis
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
from .methods import ApproxBayes
from .pipeline import Analyses, Ancova, Mmrm, analysis_model, register
from .pooled import PooledResult
from .strategies import STRATEGIES
from .visit_ancova import VisitAncova, check_weights

DEFAULT_STRATEGIES = (*STRATEGIES, "delta")  # impute(method=): strategy of subjects without an ICE row
LABELS = {name: label for label, name in ICE_STRATEGIES.items()}  # strategy name -> ICE table label
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
    analysis: object  # Analysis, VisitAncova or FunctionAnalysis
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
class ParameterDraws:
    """What :func:`update` re-uses: per imputation the parameter draw ``(beta, sigmas,
    converged)`` and its seed, the (n, K) delta shift and the reference of the strategies."""

    draws: tuple
    seeds: tuple
    shift: np.ndarray
    imputation_reference: object


@dataclass(frozen=True)
class Setup:
    """The checked arguments of an approximate-Bayes run (:func:`prepare`; used by :func:`run`
    and :func:`.tipping.tipping`)."""

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


def prepare(fit, method, n_samples, reference, arm, delta_arms, seed, ice, strategies) -> Setup:
    """:class:`Setup`: the strategy ``method`` of subjects without an ICE row checked, the
    imputation model refitted without post-ICE values, the arms a numeric delta shifts and
    the seed of each of the ``n_samples`` imputations."""
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
    seeds = np.random.SeedSequence(entropy).spawn(n_samples)
    return Setup(visit, arm, compared_to, imputation_fit, data, plan, shifted, entropy, seeds)

def analysis_of(fit, setup: Setup, analysis):
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


def run_imputations(setup: Setup, analysis, shifts, workers, progress, keep_data, desc, executor) -> list:
    """(completed or None, stats, ok, draw) of every imputation."""
    imputer = _Imputer(setup.data, setup.plan, analysis, shifts, keep_data)
    ctx = _Context(setup.imputation_fit, refit_model(setup.imputation_fit),
                   subject_strata(setup.imputation_fit, setup.arm), imputer)
    return run_tasks(_one_imputation, ctx, setup.seeds, workers, progress, desc, executor)


def _shift(setup: Setup, delta, delta_arms) -> np.ndarray:
    """(n, K) shift of ``delta``: a delta table as it stands, a number or mapping after each ICE."""
    if isinstance(delta, pd.DataFrame):
        if delta_arms is not None:
            raise DataError("delta_arms= applies to a numeric delta; a delta table names its subjects and "
                            "visits (build it with delta_template)")
        return delta_shift(delta, setup.data)
    return delta_matrix(setup.data, setup.plan, delta, setup.shifted)


def pooled_result(setup: Setup, analysis, estimates: np.ndarray, settings: dict) -> PooledResult:
    """The :class:`.pooled.PooledResult` of the (M, 3, R) ``estimates`` of the imputations
    (``settings``: the other fields)."""
    return PooledResult(reference=setup.reference, arm=setup.arm, visit=setup.visit, seed=setup.entropy,
                        delta_arms=setup.shifted, estimates=estimates, lsmeans_labels=analysis.lsmeans_labels,
                        compare_labels=analysis.compare_labels, data=setup.data, plan=setup.plan,
                        analysis=analysis, **settings)


def run(analyses: Analyses) -> PooledResult:
    """The pipeline's engine of :class:`.methods.ApproxBayes`: the setup's refit, then per
    imputation a bootstrap refit, the draws and the analysis."""
    draws, analysis = analyses.imputations.draws, analyses.analysis
    model, n, options = draws.model, draws.method.n_samples, draws.run
    check_executor(options["executor"])
    method, delta, delta_arms = model.default_strategy, analyses.delta, analyses.delta_arms
    delta = 0.0 if delta is None else delta
    setup = prepare(model.fit, method, n, model.reference, model.arm, delta_arms, draws.seed, model.ice,
                    model.strategies)
    shift = _shift(setup, delta, delta_arms)
    if method == "delta" and not shift.any():
        raise DataError("method 'delta' needs a non-zero delta= applied to at least one dropout")
    imputation = analysis_of(model.fit, setup, analysis)
    out = run_imputations(setup, imputation, [shift], options["workers"], options["progress"], True,
                          f"{method} imputations", options["executor"])
    failed = warn_not_converged([ok for _, _, ok, _ in out], IMPUTATIONS)
    kept = ParameterDraws(tuple(d for _, _, _, d in out), tuple(setup.seeds), shift, model.reference)
    return pooled_result(setup, imputation, np.stack([st[0] for _, st, _, _ in out]), dict(
        method=draws.method, default_strategy=method, delta=delta, analysis_model=analysis_model(analysis),
        completed=np.stack([y for y, _, _, _ in out]), parameters=kept, n_not_converged=failed))


def update(result: PooledResult, update: pd.DataFrame, run: dict) -> PooledResult:
    """``result`` imputed again under the strategies of ``update`` with the same parameter
    draws (no bootstrap refit): each imputation re-uses its draw stream, so subjects whose
    strategy did not change keep their imputed values; the delta shift, analysis and
    reference stay.  A MAR subject with observed values after its ICE cannot become non-MAR
    (the imputation model used them; :func:`trialmlm.estimands.ice.update_plan`)."""
    kept = result.parameters
    plan = update_plan(result.plan, update, result.data, kept.imputation_reference)
    imputer = _Imputer(result.data, plan, result.analysis, [kept.shift], True)
    out = run_tasks(_reimpute, imputer, list(zip(kept.draws, kept.seeds)), run["workers"], run["progress"],
                    "imputations (updated strategies)", run["executor"])
    failed = warn_not_converged([ok for _, _, ok, _ in out], IMPUTATIONS)
    return replace(result, plan=plan, estimates=np.stack([st[0] for _, st, _, _ in out]),
                   completed=np.stack([y for y, _, _, _ in out]), n_not_converged=failed)


register(ApproxBayes, run, update)

__all__ = ["ParameterDraws", "Setup", "analysis_of", "pooled_result", "prepare",
           "run", "run_imputations", "update"]
