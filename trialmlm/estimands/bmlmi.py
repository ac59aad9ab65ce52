r"""Bootstrapped maximum-likelihood multiple imputation (von Hippel & Bartlett 2021; R rbmi
``method_bmlmi(B, D)``): :func:`bmlmi`.

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
imputation seeds, so :meth:`BootstrappedMLMI.update_strategy` re-imputes exactly as a new run
with the changed ICE table would, without refitting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..checks import check_executor, check_seed
from ..runner import run_tasks
from .imputation import warn_not_converged
from .methods import BMLMI
from .mle_imputation import Parameters, Setting, analyse, refit, sample_rows, setup
from .pipeline import Analyses, Ancova, ImputationModel, delta_table, register
from .visit_results import VisitResults


@dataclass(frozen=True)
class BootstrappedMLMI(VisitResults):
    """Result of :func:`bmlmi`: :math:`D` imputations of each of :math:`B` bootstrap samples.

    ``lsmeans(arm, by=visit)`` and ``compare(arm, by=visit, ...)`` as
    :class:`.visit_results.VisitResults`, pooled by von Hippel & Bartlett's ANOVA (t
    intervals); there is one way of pooling (``pooling=None``).

    Attributes
    ----------
    B, D : bootstrap samples and imputations per sample.
    estimates : (B, D, K, A) LS means of each arm at each visit of every completed sample.
    samples : the refit of each bootstrap sample (:class:`.mle_imputation.Parameters`).
    imputation_seeds : the seed of each sample's imputations
        (:class:`numpy.random.SeedSequence`), re-used by :meth:`update_strategy`.
    seed : the entropy that reproduces the run.
    n_not_converged : refits that did not converge.
    seconds : wall-clock time of the full-data step and of the bootstrap.
    """

    B: int
    D: int
    estimates: np.ndarray = field(repr=False)
    samples: tuple = field(repr=False)
    imputation_seeds: tuple = field(repr=False)
    seed: int | None = None
    n_not_converged: int = 0
    seconds: dict = field(default_factory=dict)

    @property
    def imputation_method(self) -> BMLMI:
        """The imputation method (:class:`.methods.BMLMI`): its pooling rule."""
        return BMLMI(self.B, self.D)

    def _pool(self, transform, alpha, pooling) -> pd.DataFrame:
        return self.imputation_method.pool(None, transform(self.estimates), alpha, pooling)

    def update_strategy(self, update: pd.DataFrame) -> BootstrappedMLMI:
        """The imputations redrawn under the strategies of ``update`` (columns: the subject and
        ``strategy``) from the kept parameters and seeds, without refitting (rbmi's
        ``impute(update_strategy = )``; rules of :func:`trialmlm.estimands.ice.update_plan`)."""
        setting = self._updated_setting(update)
        estimates = np.stack([_imputations(setting, p, s, self.D)
                              for p, s in zip(self.samples, self.imputation_seeds)])
        return BootstrappedMLMI(setting, self.B, self.D, estimates, self.samples, self.imputation_seeds,
                                self.seed, self.n_not_converged)


def _imputations(setting: Setting, params: Parameters, seed: np.random.SeedSequence, d: int) -> np.ndarray:
    """(D, K, A) LS means of ``d`` random imputations of the sample ``params``."""
    return analyse(setting, params, np.random.default_rng(seed), d)


def _one_sample(context: tuple[Setting, int], task: tuple) -> tuple[Parameters, np.ndarray]:
    """Refit to one bootstrap sample (given positions or a seed) and its (D, K, A) LS means."""
    setting, d = context
    sample, seed = task
    params = refit(setting, sample_rows(setting, sample))
    return params, _imputations(setting, params, seed, d)


def bmlmi(fit, ice: pd.DataFrame | None = None, reference=None, arm: str | None = None,
          covariates: Sequence[str] | None = None, delta: pd.DataFrame | None = None, B: int = 20, D: int = 2,
          seed: int | None = None, workers: int = 1, progress: bool | None = None, executor=None,
          weights: str = "counterfactual", strategies: Mapping[str, Callable] | None = None,
          _samples: Sequence[np.ndarray] | None = None) -> BootstrappedMLMI:
    r"""Bootstrapped maximum-likelihood multiple imputation from the fitted MMRM, ANCOVA at each
    visit, von Hippel & Bartlett pooling (rbmi ``method_bmlmi``).

    Parameters
    ----------
    fit, ice, reference, arm, covariates, delta : as :func:`trialmlm.estimands.condmean`.
    B : bootstrap samples (:math:`\ge 2`; rbmi's default 20).
    D : random imputations of each bootstrap sample (:math:`\ge 2`; rbmi's default 2).
    seed : makes the run reproducible (the result's ``seed`` reproduces a run made without one).
    workers : processes over the bootstrap samples; results do not depend on it.
    executor : any :class:`concurrent.futures.Executor` to run the samples on.
    progress : progress bar (None: on interactive terminals only).
    weights, strategies : the ANCOVA's LS-mean weights and user-defined strategies, as
        :func:`trialmlm.estimands.condmean`.
    _samples : (testing) the :math:`B` bootstrap samples as arrays of subject positions in sorted
        subject order, instead of drawing them.
    """
    method = BMLMI(len(_samples) if _samples is not None else B, D)
    check_executor(executor)
    model = ImputationModel(fit, ice=ice, arm=arm, reference=reference, strategies=strategies)
    draws = model.draws(method, seed, workers, progress, executor, _samples)
    return draws.impute().analyse(Ancova(covariates, weights), delta=delta).pool()


def run(analyses: Analyses) -> BootstrappedMLMI:
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
    seconds = {"full_data": middle - start, "bootstrap": time.perf_counter() - middle}
    return BootstrappedMLMI(setting, B, D, np.stack([e for _, e in out]), params, tuple(imputation_seeds),
                            entropy, failed, seconds)


register(BMLMI, run)
