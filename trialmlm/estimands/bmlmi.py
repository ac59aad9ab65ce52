r"""Bootstrapped maximum-likelihood multiple imputation (von Hippel & Bartlett 2021; R rbmi
``method_bmlmi(B, D)``): the engine of :class:`.methods.BMLMI` (:func:`run`, :func:`update`;
the shortcut is :func:`trialmlm.estimands.bmlmi`).

1. **Imputation model.**  As :func:`trialmlm.estimands.condmean`: the fitted MMRM without the
   values observed at or after a non-MAR intercurrent event.
2. **Bootstrap.**  :math:`B` bootstrap samples of the subjects, drawn with replacement
   within each arm (a sample whose design loses a column is redrawn); the imputation model
   is refitted by maximum likelihood (REML as fitted) to each, giving
   :math:`(\hat\beta_b, \hat\Sigma_b)`.
3. **Imputation.**  Each bootstrap sample is imputed :math:`D` times by random draws from
   the conditional distribution of its missing visits under the subject's strategy and
   :math:`(\hat\beta_b, \hat\Sigma_b)` (:func:`trialmlm.estimands.imputation.impute_visits`);
   a subject drawn twice is imputed independently for each copy, as rbmi.
4. **Analysis.**  Each of the :math:`BD` completed samples is analysed by the ANCOVA at each
   visit (:mod:`.visit_ancova`) plus the delta shift, giving :math:`\hat\theta_{bd}`.
5. **Pooling.**  The one-way random-effects ANOVA of von Hippel & Bartlett
   (:func:`trialmlm.estimands.pooling.bmlmi_table`): point estimate :math:`\bar\theta`,
   variance :math:`(1 + 1/B)(MSB - MSW)/D + MSW/(BD)`, t interval with their df.

Reproducible: the :math:`b`-th sample uses two seeds spawned from the run's seed, one for the
bootstrap sample and one for its imputations; the result keeps the parameters and the
imputation seeds, so ``result.update_strategy`` (:func:`update`) re-imputes exactly as a new run
with the changed ICE table would, without refitting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..checks import check_executor, check_seed
from ..runner import run_tasks
from .ice import update_plan
from .imputation import warn_not_converged
from .methods import BMLMI
from .mle_imputation import Parameters, Setting, analyse, pooled_result, refit, sample_rows, setup
from .pipeline import Analyses, analysis_model, delta_table, register
from .pooled import PooledResult


@dataclass(frozen=True)
class BootstrapRefits:
    """What :func:`update` re-uses: the setting, the refit of each bootstrap sample
    (:class:`.mle_imputation.Parameters`) and the seed of its imputations
    (:class:`numpy.random.SeedSequence`)."""

    setting: Setting
    samples: tuple
    imputation_seeds: tuple


def _imputations(context: tuple[Setting, int], task: tuple) -> np.ndarray:
    """(D, R) estimates of ``D`` random imputations of the sample ``task = (params, seed)``."""
    (setting, d), (params, seed) = context, task
    return analyse(setting, params, np.random.default_rng(seed), d)


def _one_sample(context: tuple[Setting, int], task: tuple) -> tuple[Parameters, np.ndarray]:
    """Refit to one bootstrap sample (given positions or a seed) and its (D, R) estimates."""
    sample, seed = task
    params = refit(context[0], sample_rows(context[0], sample))
    return params, _imputations(context, (params, seed))


def run(analyses: Analyses) -> PooledResult:
    """The pipeline's engine of :class:`.methods.BMLMI`: B bootstrap refits, D imputations and
    analyses of each."""
    start = time.perf_counter()
    draws, analysis = analyses.imputations.draws, analyses.analysis
    model, (B, D), run_options = draws.model, (draws.method.B, draws.method.D), draws.run
    check_executor(run_options["executor"])
    setting = setup(model.fit, model.ice, model.reference, model.arm, analysis, delta_table(analyses),
                    model.strategies)
    entropy = np.random.SeedSequence(check_seed(draws.seed)).entropy
    sample_seeds, imputation_seeds = zip(*(s.spawn(2) for s in np.random.SeedSequence(entropy).spawn(B)))
    samples = list(draws.samples) if draws.samples is not None else list(sample_seeds)
    middle = time.perf_counter()
    out = run_tasks(_one_sample, (setting, D), list(zip(samples, imputation_seeds)), run_options["workers"],
                    run_options["progress"], "bootstrap refits", run_options["executor"])
    params = tuple(p for p, _ in out)
    failed = warn_not_converged([p.converged for p in params], "bootstrap refits")
    return pooled_result(setting, draws.method, np.stack([e for _, e in out]), dict(
        analysis_model=analysis_model(analysis), delta=analyses.delta, seed=entropy, n_not_converged=failed,
        parameters=BootstrapRefits(setting, params, tuple(imputation_seeds)),
        seconds={"full_data": middle - start, "bootstrap": time.perf_counter() - middle}))


def update(result: PooledResult, update: pd.DataFrame, run: dict) -> PooledResult:
    """``result`` with the imputations redrawn under the strategies of ``update`` from the kept
    parameters and seeds, without refitting: exactly a new run with the changed ICE table
    (rules of :func:`trialmlm.estimands.ice.update_plan`)."""
    kept = result.parameters
    setting = kept.setting.with_plan(update_plan(result.plan, update, result.data, kept.setting.reference))
    tasks = list(zip(kept.samples, kept.imputation_seeds))
    estimates = run_tasks(_imputations, (setting, result.method.D), tasks, run["workers"], run["progress"],
                          "imputations (updated strategies)", run["executor"])
    return replace(result, plan=setting.plan, estimates=np.stack(estimates),
                   parameters=replace(kept, setting=setting))


register(BMLMI, run, update)
