r"""Conditional mean imputation with jackknife or bootstrap inference (Wolbers et al. 2022;
R rbmi ``method_condmean(type = "jackknife" | "bootstrap")``): the engine of
:class:`.methods.CondMean` (:func:`run`, :func:`update`; the shortcut is
:func:`trialmlm.estimands.condmean`).

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

The parameters of every refit are kept, so ``result.update_strategy`` (:func:`update`) re-imputes
and re-analyses under other strategies without refitting (rbmi's
``impute(update_strategy = )``).

**Delta adjustment** (rbmi's ``analyse(delta = )``): a shift :math:`\Delta_{iv}` per subject
and visit (:func:`trialmlm.estimands.delta_template`) is added to the completed responses before
the analysis, in the full-data run and in every leave-one-out or bootstrap run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..checks import check_executor, check_seed
from ..runner import run_tasks
from .feasibility import check_jackknife_data
from .ice import update_plan
from .imputation import warn_not_converged
from .methods import CondMean
from .mle_imputation import Parameters, Setting, analyse, pooled_result, refit, sample_rows, setup
from .pipeline import Analyses, analysis_model, delta_table, register
from .pooled import PooledResult


@dataclass(frozen=True)
class Refits:
    """What :func:`update` re-uses: the setting (imputation model, full-data parameters,
    analysis) and the refit of each leave-one-out or bootstrap sample
    (:class:`.mle_imputation.Parameters`: subject positions, :math:`\\beta`, covariance matrices)."""

    setting: Setting
    samples: tuple


def _full_data(setting: Setting) -> tuple[np.ndarray, np.ndarray]:
    """(R,) full-data estimates and the (n, K) completed responses."""
    completed = setting.completed(setting.full)
    return setting.analysis.lsmeans(completed, setting.full.rows).ravel(), completed


def _one_sample(setting: Setting, sample) -> tuple[Parameters, np.ndarray]:
    """Refit to one sample (subject positions or a bootstrap seed) and its (R,) estimates."""
    params = refit(setting, sample_rows(setting, sample))
    return params, analyse(setting, params)


def _tasks(type: str, n: int, n_samples, seed, given) -> tuple[list, int | None]:
    """The samples to refit (leave-one-out positions, given positions or bootstrap seeds) and
    the bootstrap's entropy (None without)."""
    if type == "jackknife":
        return [np.delete(np.arange(n), i) for i in range(n)], None
    if given is not None:
        return list(given), None
    entropy = np.random.SeedSequence(check_seed(seed)).entropy
    return np.random.SeedSequence(entropy).spawn(n_samples), entropy


def run(analyses: Analyses) -> PooledResult:
    """The pipeline's engine of :class:`.methods.CondMean`: the full-data analysis, the
    jackknife or bootstrap refits and their analyses."""
    start = time.perf_counter()
    draws, analysis = analyses.imputations.draws, analyses.analysis
    model, type, run_options = draws.model, draws.method.type, draws.run
    check_executor(run_options["executor"])
    setting = setup(model.fit, model.ice, model.reference, model.arm, analysis, delta_table(analyses),
                    model.strategies,
                    check=check_jackknife_data if type == "jackknife" else None)
    point, completed = _full_data(setting)
    tasks, entropy = _tasks(type, len(setting.data.subjects), draws.method.n_samples, draws.seed,
                            draws.samples)
    middle = time.perf_counter()
    out = run_tasks(_one_sample, setting, tasks, run_options["workers"], run_options["progress"],
                    f"{type} refits", run_options["executor"])
    samples = tuple(p for p, _ in out)
    failed = warn_not_converged([p.converged for p in samples], f"{type} refits")
    return pooled_result(setting, draws.method, np.stack([e for _, e in out]), dict(
        point=point, completed=completed[None], analysis_model=analysis_model(analysis), delta=analyses.delta,
        seed=entropy, n_not_converged=failed, parameters=Refits(setting, samples),
        seconds={"full_data": middle - start, type: time.perf_counter() - middle}))


def update(result: PooledResult, update: pd.DataFrame, run: dict) -> PooledResult:
    """``result`` re-imputed under the strategies of ``update`` from the kept parameters,
    without refitting (rules of :func:`trialmlm.estimands.ice.update_plan`)."""
    kept = result.parameters
    setting = kept.setting.with_plan(update_plan(result.plan, update, result.data, kept.setting.reference))
    point, completed = _full_data(setting)
    estimates = run_tasks(analyse, setting, list(kept.samples), run["workers"], run["progress"],
                          "analyses (updated strategies)", run["executor"])
    return replace(result, plan=setting.plan, point=point, estimates=np.stack(estimates),
                   completed=completed[None], parameters=replace(kept, setting=setting))


register(CondMean, run, update)
