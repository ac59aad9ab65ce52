r"""Conditional mean imputation with jackknife inference (Wolbers et al. 2022; R rbmi
``method_condmean(type = "jackknife")``): :func:`condmean`.

1. **Imputation model.**  The fitted MMRM, refitted without the values observed at or
   after a non-MAR intercurrent event (:mod:`.ice`), gives :math:`(\hat\beta, \hat\Sigma)`.
2. **Conditional mean.**  Each subject's missing visits are replaced by their conditional
   expectation given all of the subject's observed values under its strategy's joint
   :math:`(\tilde\mu, \tilde\Sigma)` (:mod:`.strategies`),
   :math:`\tilde\mu_m + \tilde\Sigma_{mo}\tilde\Sigma_{oo}^{-1}(y_o - \tilde\mu_o)`.
3. **Analysis.**  The completed data are analysed by an ANCOVA at each visit
   (:mod:`.visit_ancova`): counterfactual LS means of each arm and their differences.
4. **Jackknife.**  Steps 1-3 are repeated with each subject :math:`i = 1..n` left out
   (the refit starts from the full-data estimate), giving :math:`\hat\theta_{(i)}`; the
   estimate is the full-data :math:`\hat\theta`, its standard error

   .. math::
       \widehat{se} = \sqrt{\frac{n-1}{n}\sum_i(\hat\theta_{(i)} - \bar\theta_{(\cdot)})^2},

   the interval :math:`\hat\theta \pm z_{1-\alpha/2}\,\widehat{se}` and the p-value from
   :math:`z = \hat\theta/\widehat{se}` (df reported as infinite), as rbmi's ``pool``.

**Delta adjustment** (rbmi's ``analyse(delta = )``): a shift :math:`\Delta_{iv}` per subject
and visit (:func:`trialmlm.missing.delta_template`) is added to the completed responses before
the analysis, in the full-data run and in every leave-one-out run.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..errors import ConvergenceWarning, DataError
from ..inference.lsmeans import adjust_table, check_adjust
from ..optimize import maximise
from ..runner import run_tasks
from .delta import delta_shift
from .ice import IcePlan, fit_without_excluded, ice_plan
from .imputation import (
    ImputationData,
    check_full_rank,
    check_imputable,
    covariance_matrices,
    impute_visits,
    infer_arm,
    prepare,
    refit_model,
)
from .visit_ancova import VisitAncova


def jackknife_table(point: np.ndarray, leave_one_out: np.ndarray, alpha: float) -> pd.DataFrame:
    """``estimate, se, df, t, p, lower, upper`` from the full-data estimates (R,) and the
    leave-one-out estimates (n, R); normal intervals, ``df`` infinite."""
    n = leave_one_out.shape[0]
    se = np.sqrt((n - 1) / n * ((leave_one_out - leave_one_out.mean(axis=0)) ** 2).sum(axis=0))
    z = point / se
    crit = stats.norm.ppf(1 - alpha / 2)
    return pd.DataFrame({"estimate": point, "se": se, "df": np.inf, "t": z, "p": 2 * stats.norm.sf(np.abs(z)),
                         "lower": point - crit * se, "upper": point + crit * se})


@dataclass(frozen=True)
class ConditionalMean:
    """Result of :func:`condmean`: full-data and leave-one-out analyses.

    Implements the keywords and columns of :class:`trialmlm.inference.protocol.Comparisons`
    for the arm by visit: ``lsmeans(arm, by=visit)`` and ``compare(arm, by=visit, ...)``
    (jackknife SE, normal interval, ``df`` infinite); there are no ``options`` (the ANCOVA's
    LS means are counterfactual).

    Attributes
    ----------
    arm, visit, reference : the treatment factor, the visit factor and the control arm.
    covariates : the ANCOVA's covariate terms.
    estimates : (K, A) full-data LS means of each arm at each visit.
    jackknife : (n, K, A) the same with each subject left out.
    completed : (n, K) the full-data completed responses.
    plan : the resolved ICE table (:class:`trialmlm.missing.ice.IcePlan`).
    n_not_converged : leave-one-out refits that did not converge.
    seconds : wall-clock time of the full-data step and of the jackknife.
    """

    arm: str
    visit: str
    reference: object
    covariates: tuple
    estimates: np.ndarray = field(repr=False)
    jackknife: np.ndarray = field(repr=False)
    completed: np.ndarray = field(repr=False)
    data: ImputationData = field(repr=False)
    plan: IcePlan = field(repr=False)
    n_not_converged: int = 0
    seconds: dict = field(default_factory=dict)

    def ice_summary(self) -> pd.DataFrame:
        """Counts by arm and strategy (:meth:`trialmlm.missing.ice.IcePlan.summary`)."""
        return self.plan.summary(self.data)

    def _check(self, spec, by) -> None:
        if spec is not None and spec != self.arm:
            raise DataError(f"the per-visit ANCOVA estimates LS means of the arm '{self.arm}' only, "
                            f"not {spec!r}")
        if by is not None and by != self.visit:
            raise DataError(f"the per-visit ANCOVA gives results by '{self.visit}' only, not by {by!r}")

    def lsmeans(self, specs=None, by=None, alpha: float = 0.05, **options) -> pd.DataFrame:
        """LS means of each arm at each visit: ``arm, visit, estimate, se, df, lower, upper``."""
        self._check(specs, by)
        _no_options("lsmeans", options)
        k, a = self.estimates.shape
        labels = pd.DataFrame({self.arm: np.tile(self.data.arms, k),
                               self.visit: np.repeat(self.data.visits, a)})
        table = jackknife_table(self.estimates.ravel(), self.jackknife.reshape(len(self.jackknife), -1),
                                check_alpha(alpha))
        return pd.concat([labels, table.drop(columns=["t", "p"])], axis=1)

    def compare(self, spec=None, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, **options) -> pd.DataFrame:
        """Differences of the arms' LS means at each visit: ``visit, arm, contrast, estimate, se,
        df, t, p, lower, upper``; each arm minus ``reference`` (default: the imputation's
        reference, else the first arm) or every pair; ``adjust`` "bonferroni" or "holm"
        within each visit."""
        self._check(spec, by)
        _no_options("compare", options)
        check_adjust(adjust, pairwise)
        if adjust in ("dunnett", "tukey"):
            raise DataError(f"adjust={adjust!r} needs the joint t distribution of the differences; the "
                            "jackknife gives normal intervals: use adjust='bonferroni' or 'holm'")
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
        point = (self.estimates[:, first] - self.estimates[:, second]).ravel()
        jack = (self.jackknife[:, :, first] - self.jackknife[:, :, second]).reshape(len(self.jackknife), -1)
        k = len(self.data.visits)
        names = np.array(arms, dtype=object)
        labels = pd.DataFrame({
            self.visit: np.repeat(self.data.visits, len(pairs)), self.arm: np.tile(names[first], k),
            "contrast": np.tile([f"{names[i]} - {names[j]}" for i, j in pairs], k)})
        out = pd.concat([labels, jackknife_table(point, jack, check_alpha(alpha))], axis=1)
        if adjust is not None:
            adjust_table(out, self.arm, alpha, adjust)
        return out

    def completed_data(self) -> pd.DataFrame:
        """The full-data completed data set: a row per subject and visit; ``imputed`` marks filled values."""
        out = self.data.frame.copy()
        out[self.data.response] = self.completed.ravel()
        out["imputed"] = ~self.data.observed.ravel()
        return out


def _no_options(method: str, options: dict) -> None:
    if options:
        raise DataError(f"{method}() of a conditional mean result has no option "
                        f"{', '.join(map(repr, options))}; the per-visit ANCOVA's LS means are "
                        "counterfactual")


@dataclass(frozen=True)
class _Context:
    model: object
    structures: tuple
    phi: np.ndarray
    codes: np.ndarray  # design subject code of each imputed subject (-1: no observed value in the model)
    beta: np.ndarray
    sigmas: list
    data: ImputationData
    plan: IcePlan
    analysis: VisitAncova
    shift: np.ndarray  # (n, K) delta adjustment added to the completed data


def _leave_one_out(ctx: _Context, i: int) -> tuple[np.ndarray, bool]:
    """(K, A) LS means with subject ``i`` left out of the imputation model and the analysis."""
    code = ctx.codes[i]
    beta, sigmas, ok = ctx.beta, ctx.sigmas, True
    if code >= 0:
        design = ctx.model.design
        others = np.delete(np.arange(design.subject_labels.size), code)
        resampled = design.resample(others)
        check_full_rank(resampled, f"without subject {ctx.data.subjects[i]!r} (jackknife)")
        lik = ctx.model.with_design(resampled).likelihood
        opt = maximise(lik, ctx.phi)
        beta, sigmas, ok = opt.evaluation.beta, covariance_matrices(ctx.structures, lik, opt.phi), \
            opt.converged
    completed = impute_visits(ctx.data, ctx.plan.strategies, beta, sigmas, None, ctx.plan.codes) + ctx.shift
    keep = np.ones(len(completed), dtype=bool)
    keep[i] = False
    return ctx.analysis.lsmeans(completed, keep), ok


def condmean(fit, ice: pd.DataFrame | None = None, reference=None, arm: str | None = None,
             covariates: Sequence[str] | None = None, delta: pd.DataFrame | None = None, workers: int = 1,
             progress: bool | None = None, executor=None, weights: str = "counterfactual",
             strategies: Mapping[str, Callable] | None = None) -> ConditionalMean:
    r"""Conditional mean imputation from the fitted MMRM, ANCOVA at each visit, jackknife inference.

    Parameters
    ----------
    fit : MMRMResults of an MMRM with visits as classes, e.g.
        ``CHANGE ~ BASVAL * VISIT + THERAPY * VISIT + us(VISIT | PATIENT)`` (the imputation
        model; R rbmi fits it by REML with ``us`` by default, as :func:`trialmlm.fit`).
    ice : intercurrent events, one row per affected subject: the fit's subject and visit
        columns (first visit affected) and ``strategy`` (MAR, JR, CR, CIR, LMCF; see
        :mod:`trialmlm.missing.ice`) or a name of ``strategies``.  Subjects without a row (all,
        with ``ice=None``) are MAR.
    reference : control level of the arm; needed by JR, CR and CIR, and the default
        reference of :meth:`ConditionalMean.compare`.
    arm : treatment factor (default: the one factor of the mean model besides the visit).
    covariates : the ANCOVA's covariate terms (default: the other variables of the fit's mean
        model, e.g. ``["BASVAL"]``); each must be a variable of the fitted mean model.
    weights : the ANCOVA's LS-mean weights: "counterfactual" (rbmi's default), "equal" or
        "proportional" (:mod:`trialmlm.missing.visit_ancova`).
    delta : delta adjustment: the fit's subject and visit columns and ``delta``, added to the
        completed response of that subject and visit (observed or imputed, as rbmi) in every
        analysis; subjects and visits without a row get 0.  Build it with
        :func:`trialmlm.missing.delta_template`.
    workers : processes over the :math:`n` leave-one-out refits; results do not depend on it.
    executor : any :class:`concurrent.futures.Executor` (e.g. a Dask client's) to run the
        refits on instead of the local pool (:func:`trialmlm.runner.run_tasks`).
    progress : progress bar (None: on interactive terminals only).
    strategies : user-defined strategies for the ICE table, name -> function
        ``f(own, ref, index_mar) -> (mu, sigma)`` (rbmi's ``getStrategies``; see
        :class:`trialmlm.missing.strategies.UserStrategy`).
    """
    start = time.perf_counter()
    visit = check_imputable(fit)
    arm = infer_arm(fit, visit, arm, reference)
    data = prepare(fit, visit, arm, reference)
    plan = ice_plan(ice, data, reference, strategies)
    imputation_fit, data = fit_without_excluded(fit, data, plan, arm, reference)
    model = refit_model(imputation_fit)
    sigmas = covariance_matrices(imputation_fit.structures, imputation_fit.likelihood, imputation_fit.phi)
    shift = delta_shift(delta, data)
    completed = impute_visits(data, plan.strategies, imputation_fit.beta, sigmas, None, plan.codes) + shift
    if covariates is None:
        covariates = [v for v in fit.design.encoding.variables if v not in (arm, visit)]
    analysis = VisitAncova(data, list(covariates), completed, weights)
    estimates = analysis.lsmeans(completed, np.ones(len(completed), dtype=bool))
    codes = pd.Index(model.design.subject_labels).get_indexer(data.subjects)
    ctx = _Context(model, imputation_fit.structures, imputation_fit.phi, codes, imputation_fit.beta, sigmas,
                   data, plan, analysis, shift)
    middle = time.perf_counter()
    out = run_tasks(_leave_one_out, ctx, list(range(len(data.subjects))), workers, progress,
                    "jackknife refits", executor)
    failed = sum(not ok for _, ok in out)
    if failed:
        warnings.warn(f"{failed} of {len(out)} leave-one-out refits did not converge; their estimates are "
                      "used as they are", ConvergenceWarning, stacklevel=2)
    return ConditionalMean(arm=arm, visit=visit, reference=reference, covariates=tuple(covariates),
                           estimates=estimates, jackknife=np.stack([e for e, _ in out]), completed=completed,
                           data=data, plan=plan, n_not_converged=failed,
                           seconds={"full_data": middle - start, "jackknife": time.perf_counter() - middle})
