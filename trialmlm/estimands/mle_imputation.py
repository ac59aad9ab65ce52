r"""Maximum-likelihood imputation engine shared by :func:`condmean` and :func:`bmlmi`
(R rbmi's ``method_condmean`` and ``method_bmlmi``).

1. **Setting** (:func:`setup`).  The fitted MMRM, refitted without the values observed at
   or after a non-MAR intercurrent event (:mod:`.ice`), gives the full-data
   :math:`(\hat\beta, \hat\Sigma)`; the ICE plan, the delta shifts and the per-visit ANCOVA
   (:mod:`.visit_ancova`) are fixed once.
2. **Samples.**  A sample is an array of subject positions (repeats allowed): the full data,
   all but one subject (jackknife) or a bootstrap sample drawn with replacement within each
   arm (rbmi's default strata are the arms; :func:`bootstrap_rows`).  Duplicated subjects count
   as distinct subjects in the refit and in the analysis, as rbmi.
3. **Refit** (:func:`refit`): the imputation MMRM on the sample's subjects, started from the
   full-data estimate, giving :class:`Parameters`.
4. **Analysis** (:func:`analyse`): the sample's subjects imputed from its parameters, by
   conditional mean (``rng=None``) or a random draw, under the plan's strategies; the delta
   shift added; the per-visit ANCOVA's counterfactual LS means over the sample's subjects.

The parameters of every sample are kept with the results, so a change of strategies
(:func:`trialmlm.estimands.ice.update_plan`) re-runs step 4 only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from ..engine.model import Model
from ..engine.refit import refit_model as model_on
from ..engine.refit import subset_model
from ..errors import DataError
from .delta import delta_shift
from .function_analysis import FunctionAnalysis
from .ice import IcePlan, ice_plan, imputation_setup
from .imputation import (
    ImputationData,
    bootstrap_sample,
    covariance_matrices,
    full_rank,
    imputation_blocks,
    impute_visits,
    rank_error,
    refit_model,
    refit_parameters,
)
from .mmrm_analysis import MmrmAnalysis
from .pipeline import Ancova, Mmrm
from .pooled import PooledResult
from .visit_ancova import VisitAncova


@dataclass(frozen=True)
class Parameters:
    """Imputation-model parameters fitted to one sample of subjects.

    Attributes
    ----------
    rows : positions of the sample's subjects in ``data.subjects`` (repeats allowed).
    beta : the mean-model coefficients.
    sigmas : the visits-by-visits covariance matrix of each covariance group.
    converged : whether the refit converged.
    """

    rows: np.ndarray
    beta: np.ndarray
    sigmas: list
    converged: bool = True


@dataclass(frozen=True)
class Setting:
    """What every sample shares: the imputation model, the full-data parameters, the data,
    the ICE plan, the delta shift and the per-visit ANCOVA.

    ``codes`` maps each subject to its subject code in the imputation model's design (-1: no
    observed value in the model).
    """

    arm: str
    visit: str
    reference: object
    covariates: tuple
    model: Model
    structures: tuple
    phi: np.ndarray
    codes: np.ndarray
    full: Parameters
    data: ImputationData
    plan: IcePlan
    analysis: VisitAncova | MmrmAnalysis | FunctionAnalysis
    shift: np.ndarray  # (n, K) delta adjustment added to the completed data

    def with_plan(self, plan: IcePlan) -> Setting:
        """The setting imputing under ``plan`` (same model and parameters)."""
        return replace(self, plan=plan, data=replace(self.data, n_mar=plan.n_mar))

    @cached_property
    def blocks(self) -> list:
        """The subjects with missing visits in blocks (:func:`.imputation.imputation_blocks`)."""
        return imputation_blocks(self.data, self.plan.codes)

    def completed(self, params: Parameters) -> np.ndarray:
        """(n, K) responses of every subject completed by conditional means from ``params``,
        plus the delta shift."""
        plan = self.plan
        completed = impute_visits(self.data, plan.strategies, params.beta, params.sigmas, None, plan.codes,
                                  self.blocks)
        return completed + self.shift

    def strata(self) -> list[np.ndarray]:
        """Positions of the subjects of each arm (the bootstrap strata, as rbmi's default)."""
        return [np.flatnonzero(self.data.arm_codes == a) for a in range(len(self.data.arms))
                if (self.data.arm_codes == a).any()]


def setup(fit, ice: pd.DataFrame | None, reference, arm: str | None, analysis,
          delta: pd.DataFrame | None, strategies: Mapping[str, Callable] | None = None,
          check: Callable[[ImputationData], None] | None = None) -> Setting:
    """The :class:`Setting` of ``fit`` with the ICE table, the analysis value (``Ancova``: its
    covariates and weights, or ``Mmrm``), delta table and user-defined strategies (arguments
    of :func:`trialmlm.estimands.condmean`); ``check(data)`` runs on the imputation data
    before anything is refitted (e.g. the jackknife's subjects per arm, :mod:`.feasibility`)."""
    visit, arm, data, plan, imputation_fit = imputation_setup(
        fit, arm, reference, lambda data: ice_plan(ice, data, reference, strategies), check)
    model = refit_model(imputation_fit)
    sigmas = covariance_matrices(imputation_fit.structures, imputation_fit.likelihood, imputation_fit.phi)
    full = Parameters(np.arange(len(data.subjects)), imputation_fit.beta, sigmas)
    shift = delta_shift(delta, data)
    completed = impute_visits(data, plan.strategies, full.beta, sigmas, None, plan.codes) + shift
    if isinstance(analysis, Mmrm):
        visits = MmrmAnalysis(fit, data)
    elif isinstance(analysis, Ancova):
        covariates = analysis.covariates
        if covariates is None:  # the other variables of the fit's mean model
            covariates = [v for v in fit.design.encoding.variables if v not in (arm, visit)]
        visits = VisitAncova(data, list(covariates), completed, analysis.weights or "counterfactual")
    else:
        visits = FunctionAnalysis(analysis, data, completed)
    codes = pd.Index(model.design.subject_labels).get_indexer(data.subjects)
    return Setting(arm, visit, reference, visits.covariates, model, imputation_fit.structures,
                   imputation_fit.phi, codes, full, data, plan, visits, shift)


def sample_rows(setting: Setting, sample) -> np.ndarray:
    """The subject positions of ``sample``: given positions (an integer array), or a bootstrap
    sample drawn from the seed ``sample`` (a :class:`numpy.random.SeedSequence`)."""
    if isinstance(sample, np.random.SeedSequence):
        return bootstrap_rows(setting, np.random.default_rng(sample))
    rows = np.asarray(sample)
    n = len(setting.data.subjects)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or rows.size == 0 or rows.min() < 0 \
            or rows.max() >= n:
        raise DataError(f"a given sample must be a non-empty array of subject positions 0..{n - 1}")
    if not full_rank(_matrix(setting, rows)):
        left_out = np.setdiff1d(np.arange(n), rows)
        jackknife = left_out.size == 1 and rows.size == n - 1
        raise rank_error(f"without subject {setting.data.subjects[left_out[0]]!r} (jackknife)" if jackknife
                         else "of a given sample")
    return rows


def bootstrap_rows(setting: Setting, rng: np.random.Generator) -> np.ndarray:
    """A bootstrap sample of subject positions, drawn with replacement within each arm; a
    sample whose design loses rank (an arm or visit without observations) is redrawn."""
    return bootstrap_sample(setting.strata(), rng,
                            lambda rows: rows if full_rank(_matrix(setting, rows)) else None)


def _matrix(setting: Setting, rows: np.ndarray) -> np.ndarray:
    """The imputation model's X of the sample ``rows`` (the rows of the full design's X)."""
    design = setting.model.design
    return design.X[design.subject_rows(_model_subjects(setting, rows))[0]]


def _model_subjects(setting: Setting, rows: np.ndarray) -> np.ndarray:
    """Design subject codes of the subjects ``rows`` that have observed values in the model."""
    used = setting.codes[rows]
    return used[used >= 0]


def refit(setting: Setting, rows: np.ndarray) -> Parameters:
    """The imputation MMRM refitted to the subjects ``rows`` (started from the full-data
    estimate); the full-data parameters when ``rows`` are the full data's model subjects."""
    used = _model_subjects(setting, rows)
    if np.array_equal(used, np.arange(setting.model.design.subject_labels.size)):
        return replace(setting.full, rows=rows)
    model = setting.model
    n = model.design.subject_labels.size
    if np.all(np.diff(used) > 0) and 2 * used.size > n:  # most subjects, in order (the jackknife)
        sample = subset_model(model, used)  # the full data's pattern sums downdated
    else:
        sample = model_on(model, model.design.resample(used))
    return Parameters(rows, *refit_parameters(sample, setting.structures, setting.phi))


def analyse(setting: Setting, params: Parameters, rng: np.random.Generator | None = None,
            n_imputations: int = 1) -> np.ndarray:
    """(R,) estimates of the sample ``params.rows`` imputed by conditional mean (``rng=None``),
    else (D, R) for ``n_imputations`` random imputations from ``rng`` (each repeat of a subject
    drawn independently, as rbmi); R: the (K, A) LS means of the arm by visit, visit-major
    (:meth:`.imputation.ImputationData.arm_by_visit`), or a user function's parameters."""
    data, plan, rows = setting.data, setting.plan, params.rows
    if rng is None:
        return setting.analysis.lsmeans(setting.completed(params), rows).ravel()
    sample, codes, shift = _take(data, rows), plan.codes[rows], setting.shift[rows]
    analysis, every = setting.analysis.take(rows), np.ones(rows.size, dtype=bool)
    return np.stack([analysis.lsmeans(impute_visits(sample, plan.strategies, params.beta, params.sigmas, rng,
                                                    codes) + shift, every).ravel()
                     for _ in range(n_imputations)])


def pooled_result(setting: Setting, method, estimates: np.ndarray, settings: dict) -> PooledResult:
    """The :class:`.pooled.PooledResult` of the per-sample ``estimates`` (rows of
    :func:`analyse`) of a maximum-likelihood ``method`` (``settings``: the other fields)."""
    data, analysis = setting.data, setting.analysis
    if isinstance(analysis, FunctionAnalysis):
        labels = analysis.lsmeans_labels, analysis.compare_labels
    else:  # the differences are those of the LS means of each sample
        labels = data.arm_by_visit(), pd.DataFrame()
    reference = data.arms[0] if setting.reference is None else setting.reference
    return PooledResult(method, setting.arm, setting.visit, reference, estimates, *labels, data, setting.plan,
                        analysis, **settings)


def _take(data: ImputationData, rows: np.ndarray) -> ImputationData:
    """The subjects ``rows`` of ``data`` (repeats allowed), for imputation."""
    k = len(data.visits)
    flat = (rows[:, None] * k + np.arange(k)).ravel()
    return replace(data, subjects=data.subjects[rows], frame=data.frame.iloc[flat], y=data.y[rows],
                   observed=data.observed[rows], n_mar=data.n_mar[rows], arm_codes=data.arm_codes[rows],
                   own_group=data.own_group[rows], ref_group=data.ref_group[rows], X_own=data.X_own[flat],
                   X_ref=data.X_ref[flat],
                   own_estimable=None if data.own_estimable is None else data.own_estimable[rows],
                   ref_estimable=None if data.ref_estimable is None else data.ref_estimable[rows])
