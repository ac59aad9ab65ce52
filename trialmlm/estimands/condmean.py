r"""Conditional mean imputation with jackknife or bootstrap inference (Wolbers et al. 2022;
R rbmi ``method_condmean(type = "jackknife" | "bootstrap")``): :func:`condmean`.

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
5. **Bootstrap** (instead of 4).  Steps 1-3 are repeated on :math:`B` bootstrap samples of
   the subjects, drawn with replacement within each arm (rbmi's default strata; a sample
   whose design loses a column is redrawn), a subject drawn twice counting as two subjects
   in the refit and the analysis.  The estimate is the full-data :math:`\hat\theta`; the
   interval and p-value are the bootstrap percentile ones or normal ones with the bootstrap
   standard deviation (:mod:`.pooling`), chosen when the tables are asked for
   (``pooling=``, as rbmi's ``pool(type = )``).

The parameters of every refit are kept, so :meth:`ConditionalMean.update_strategy` re-imputes
and re-analyses under other strategies without refitting (rbmi's
``impute(update_strategy = )``).

**Delta adjustment** (rbmi's ``analyse(delta = )``): a shift :math:`\Delta_{iv}` per subject
and visit (:func:`trialmlm.estimands.delta_template`) is added to the completed responses before
the analysis, in the full-data run and in every leave-one-out or bootstrap run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..checks import check_executor, check_seed
from ..errors import DataError
from ..runner import run_tasks
from .feasibility import check_jackknife_data
from .imputation import warn_not_converged
from .methods import CondMean
from .mle_imputation import Parameters, Setting, analyse, refit, sample_rows, setup
from .pipeline import Analyses, Ancova, ImputationModel, delta_table, register
from .visit_results import VisitResults


@dataclass(frozen=True)
class ConditionalMean(VisitResults):
    """Result of :func:`condmean`: full-data and leave-one-out or bootstrap analyses.

    ``lsmeans(arm, by=visit)`` and ``compare(arm, by=visit, ...)`` as
    :class:`.visit_results.VisitResults`: jackknife SE and normal interval (``df`` infinite), or
    bootstrap ``pooling="percentile"`` (default; no SE) or ``"normal"`` (bootstrap SD).

    Attributes
    ----------
    type : ``"jackknife"`` or ``"bootstrap"``.
    estimates : (K, A) full-data LS means of each arm at each visit.
    replicates : (S, K, A) the same for each leave-one-out (S = n) or bootstrap (S = B) sample.
    completed : (n, K) the full-data completed responses.
    samples : the refit of each sample (:class:`.mle_imputation.Parameters`: subject positions,
        :math:`\\beta`, covariance matrices), re-used by :meth:`update_strategy`.
    seed : the entropy that reproduces the bootstrap samples (None for the jackknife).
    n_not_converged : refits that did not converge.
    seconds : wall-clock time of the full-data step and of the resampling.
    """

    type: str
    estimates: np.ndarray = field(repr=False)
    replicates: np.ndarray = field(repr=False)
    completed: np.ndarray = field(repr=False)
    samples: tuple = field(repr=False)
    seed: int | None = None
    n_not_converged: int = 0
    seconds: dict = field(default_factory=dict)

    @property
    def imputation_method(self) -> CondMean:
        """The imputation method (:class:`.methods.CondMean`): its pooling rule."""
        return CondMean(self.type, None if self.type == "jackknife" else max(2, len(self.replicates)))

    def _pool(self, transform, alpha, pooling) -> pd.DataFrame:
        point, replicates = transform(self.estimates), transform(self.replicates)
        return self.imputation_method.pool(point, replicates, alpha, pooling)

    def update_strategy(self, update: pd.DataFrame) -> ConditionalMean:
        """The analyses re-imputed under the strategies of ``update`` (columns: the subject and
        ``strategy``) from the kept parameters, without refitting (rbmi's
        ``impute(update_strategy = )``; rules of :func:`trialmlm.estimands.ice.update_plan`)."""
        setting = self._updated_setting(update)
        estimates, completed = _full_data(setting)
        replicates = np.stack([analyse(setting, p) for p in self.samples])
        return ConditionalMean(setting, self.type, estimates, replicates, completed, self.samples, self.seed,
                               self.n_not_converged)

    def completed_data(self, m: int = 0) -> pd.DataFrame:
        """The full-data completed data set (the only one, ``m = 0``, the keyword of
        :meth:`trialmlm.estimands.MultipleImputation.completed_data`): a row per subject and
        visit; ``imputed`` marks filled values."""
        if m != 0:
            raise DataError(f"conditional mean imputation has one completed data set (m = 0); got m = {m!r}")
        return self.data.completed_frame(self.completed)


def _full_data(setting: Setting) -> tuple[np.ndarray, np.ndarray]:
    """(K, A) full-data LS means and the (n, K) completed responses."""
    completed = setting.completed(setting.full)
    return setting.analysis.lsmeans(completed, setting.full.rows), completed


def _one_sample(setting: Setting, sample) -> tuple[Parameters, np.ndarray]:
    """Refit to one sample (subject positions or a bootstrap seed) and its (K, A) LS means."""
    params = refit(setting, sample_rows(setting, sample))
    return params, analyse(setting, params)


def _check_method(type: str, n_samples, seed, given) -> int | None:
    """The number of samples of a valid ``type`` (:class:`.methods.CondMean`)."""
    if type == "jackknife" and (seed is not None or given is not None):
        raise DataError("n_samples and seed are for type='bootstrap'; the jackknife leaves out each subject "
                        "once")
    return CondMean(type, len(given) if given is not None else n_samples).n_samples


def _tasks(type: str, n: int, n_samples, seed, given) -> tuple[list, int | None]:
    """The samples to refit (leave-one-out positions, given positions or bootstrap seeds) and
    the bootstrap's entropy (None without)."""
    if type == "jackknife":
        return [np.delete(np.arange(n), i) for i in range(n)], None
    if given is not None:
        return list(given), None
    entropy = np.random.SeedSequence(check_seed(seed)).entropy
    return np.random.SeedSequence(entropy).spawn(n_samples), entropy


def condmean(fit, ice: pd.DataFrame | None = None, reference=None, arm: str | None = None,
             covariates: Sequence[str] | None = None, delta: pd.DataFrame | None = None,
             type: str = "jackknife", n_samples: int | None = None, seed: int | None = None, workers: int = 1,
             progress: bool | None = None, executor=None, weights: str = "counterfactual",
             strategies: Mapping[str, Callable] | None = None,
             _samples: Sequence[np.ndarray] | None = None) -> ConditionalMean:
    r"""Conditional mean imputation from the fitted MMRM, ANCOVA at each visit, jackknife or
    bootstrap inference.

    Parameters
    ----------
    fit : MMRMResults of an MMRM with visits as classes, e.g.
        ``CHANGE ~ BASVAL * VISIT + THERAPY * VISIT + us(VISIT | PATIENT)`` (the imputation
        model; R rbmi fits it by REML with ``us`` by default, as :func:`trialmlm.fit`).
    ice : intercurrent events, one row per affected subject: the fit's subject and visit
        columns (first visit affected) and ``strategy`` (MAR, JR, CR, CIR, LMCF; see
        :mod:`trialmlm.estimands.ice`).  Subjects without a row (all, with ``ice=None``) are MAR.
    reference : control level of the arm; needed by JR, CR and CIR, and the default
        reference of :meth:`ConditionalMean.compare`.
    arm : treatment factor (default: the one factor of the mean model besides the visit).
    covariates : the ANCOVA's covariate terms (default: the other variables of the fit's mean
        model, e.g. ``["BASVAL"]``); each must be a variable of the fitted mean model.
    delta : delta adjustment: the fit's subject and visit columns and ``delta``, added to the
        completed response of that subject and visit (observed or imputed, as rbmi) in every
        analysis; subjects and visits without a row get 0.  Build it with
        :func:`trialmlm.estimands.delta_template`.
    type : ``"jackknife"`` (:math:`n` leave-one-out refits; deterministic) or ``"bootstrap"``
        (``n_samples`` bootstrap refits), rbmi's ``method_condmean(type = )``.
    n_samples : number of bootstrap samples :math:`B \ge 2` (``type="bootstrap"`` only).
    seed : makes the bootstrap reproducible (the result's ``seed`` reproduces a run made
        without one); ``type="bootstrap"`` only.
    workers : processes over the refits; results do not depend on it.
    executor : any :class:`concurrent.futures.Executor` (e.g. a Dask client's) to run the
        refits on instead of the local pool (:func:`trialmlm.runner.run_tasks`).
    progress : progress bar (None: on interactive terminals only).
    weights : the ANCOVA's LS-mean weights: "counterfactual" (rbmi's default), "equal" or
        "proportional" (:mod:`trialmlm.estimands.visit_ancova`).
    strategies : user-defined strategies for the ICE table, name -> function
        ``f(own, ref, index_mar) -> (mu, sigma)`` (rbmi's ``getStrategies``; see
        :class:`trialmlm.estimands.strategies.UserStrategy`).
    _samples : (testing) the bootstrap samples as arrays of subject positions in sorted
        subject order, instead of drawing them.
    """
    check_executor(executor)  # before the full-data fit, not at the refits
    n_samples = _check_method(type, n_samples, seed, _samples)  # before any fitting
    model = ImputationModel(fit, ice=ice, arm=arm, reference=reference, strategies=strategies)
    draws = model.draws(CondMean(type, n_samples), seed, workers, progress, executor, _samples)
    return draws.impute().analyse(Ancova(covariates, weights), delta=delta).pool()


def run(analyses: Analyses) -> ConditionalMean:
    """The pipeline's engine of :class:`.methods.CondMean`: the full-data analysis, the
    jackknife or bootstrap refits and their analyses."""
    start = time.perf_counter()
    draws, analysis = analyses.imputations.draws, analyses.analysis
    model, type, run_options = draws.model, draws.method.type, draws.run
    check_executor(run_options["executor"])
    setting = setup(model.fit, model.ice, model.reference, model.arm, analysis, delta_table(analyses),
                    model.strategies,
                    check=check_jackknife_data if type == "jackknife" else None)
    estimates, completed = _full_data(setting)
    tasks, entropy = _tasks(type, len(setting.data.subjects), draws.method.n_samples, draws.seed,
                            draws.samples)
    middle = time.perf_counter()
    out = run_tasks(_one_sample, setting, tasks, run_options["workers"], run_options["progress"],
                    f"{type} refits", run_options["executor"])
    samples = tuple(p for p, _ in out)
    failed = warn_not_converged([p.converged for p in samples], f"{type} refits")
    replicates = np.stack([e for _, e in out])
    return ConditionalMean(setting, type, estimates, replicates, completed, samples, entropy, failed,
                           {"full_data": middle - start, type: time.perf_counter() - middle})


register(CondMean, run)
