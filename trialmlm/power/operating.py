r"""Power and operating characteristics by simulation: :func:`simulate_power`, :func:`power_curve`.

Replicate :math:`r = 1..R` draws a trial from the design with the seed
``SeedSequence(seed).spawn(R)[r-1]`` and runs the :class:`~trialmlm.power.analysis.Analysis`
on it, giving :math:`\hat\theta_r`, :math:`\widehat{se}_r`, a p-value and a
:math:`1-\alpha` confidence interval.  With :math:`\theta` the design's true contrast
(:meth:`Analysis.true_effect`) and the :math:`n` replicates whose fit converged, the
summary (Morris, White & Crowther 2019, table 6) is

=================  ==============================================  =====================================
measure            estimate                                        Monte-Carlo SE
=================  ==============================================  =====================================
power (type I      :math:`\hat p = \#\{p_r < \alpha\}/n`             :math:`\sqrt{\hat p(1-\hat p)/n}`
error if θ = 0)
bias               :math:`\bar\theta - \theta`                      :math:`s_{\hat\theta}/\sqrt n`
empirical SE       :math:`s_{\hat\theta}` (SD of the estimates)     :math:`s_{\hat\theta}/\sqrt{2(n-1)}`
mean SE            :math:`\overline{\widehat{se}}`                  :math:`s_{\widehat{se}}/\sqrt n`
RMSE               :math:`\sqrt{M}`, :math:`M = \overline{e^2}`,      :math:`s_{e^2}/(2\sqrt{M}\sqrt n)`
                   :math:`e_r = \hat\theta_r - \theta`              (delta method)
coverage           share of CIs containing :math:`\theta`           binomial, as power
convergence        :math:`n/R`                                     binomial over :math:`R`
=================  ==============================================  =====================================

Replicates are independent of the executor, the number of workers and the chunking: the
same ``seed`` gives the same table (:mod:`trialmlm.runner`).

Reference: Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate
statistical methods. *Statistics in Medicine* 38:2074-2102.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..checks import check_executor, check_probability, check_seed
from ..errors import DataError
from ..runner import check_chunk_size, check_workers, run_tasks
from .analysis import Analysis, Replicate
from .design import TrialDesign

MEASURES = ("power", "bias", "empirical SE", "mean SE", "RMSE", "coverage", "convergence")


@dataclass(frozen=True)
class OperatingCharacteristics:
    """Result of :func:`simulate_power` (read-only).

    Attributes
    ----------
    design, analysis : what was simulated and run.
    n_sim : replicates.  seed : the entropy that reproduces the run.  alpha : level of the test
        and of the CIs (1 - alpha).
    true_effect : the contrast under the design.
    replicates : one row per replicate: ``replicate`` (0..n_sim-1), ``estimate, se, df, p,
        lower, upper, converged``, ``reject`` (p < alpha), ``covered`` (lower <= true_effect
        <= upper); NaN estimates where the trial could not be analysed.
    summary : one row per measure (``measure, estimate, mc_se, n``; module docstring), the
        first ``"power"``, or ``"type I error"`` when ``true_effect`` is 0.
    """

    design: TrialDesign = field(repr=False)
    analysis: Analysis
    n_sim: int
    seed: int
    alpha: float
    true_effect: float
    replicates: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)

    @property
    def power(self) -> float:
        """The rejection rate (power, or the type I error when the true effect is 0)."""
        return float(self.summary["estimate"].iloc[0])


def check_n_sim(n_sim) -> int:
    """``n_sim`` as an integer >= 1 (DataError otherwise)."""
    if isinstance(n_sim, bool) or not isinstance(n_sim, (int, np.integer)) or n_sim < 1:
        raise DataError(f"n_sim must be a whole number >= 1, got {n_sim!r}")
    return int(n_sim)


def _replicate(context: tuple[TrialDesign, Analysis, float], seed: np.random.SeedSequence) -> Replicate:
    design, analysis, alpha = context
    frame = design.simulate(seed)  # the trial from the replicate's seed; the imputations from a child
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 0))  # not seed.spawn: no state
    return analysis.run(frame, alpha, child if analysis.imputation is not None else None)


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else np.nan


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else np.nan


def _binomial(hits: np.ndarray) -> tuple[float, float]:
    p = _mean(hits)
    return p, np.sqrt(p * (1 - p) / max(hits.size, 1))


def summarise(table: pd.DataFrame, true_effect: float) -> pd.DataFrame:
    """The measures of the module docstring from a replicates table (NaN where undefined)."""
    used = table[table["converged"] & np.isfinite(table["estimate"])]
    n = len(used)
    root_n = np.sqrt(max(n, 1))
    est, se = used["estimate"].to_numpy(), used["se"].to_numpy()
    e2 = (est - true_effect) ** 2
    sd, rmse = _sd(est), np.sqrt(_mean(e2))
    with np.errstate(divide="ignore", invalid="ignore"):
        rmse_se = _sd(e2) / (2 * rmse * root_n)
    rows = [
        ("type I error" if true_effect == 0 else "power", *_binomial(used["reject"].to_numpy()), n),
        ("bias", _mean(est) - true_effect, sd / root_n, n),
        ("empirical SE", sd, sd / np.sqrt(2 * max(n - 1, 1)), n),
        ("mean SE", _mean(se), _sd(se) / root_n, n),
        ("RMSE", rmse, rmse_se, n),
        ("coverage", *_binomial(used["covered"].to_numpy()), n),
        ("convergence", *_binomial(table["converged"].to_numpy()), len(table)),
    ]
    return pd.DataFrame(rows, columns=["measure", "estimate", "mc_se", "n"])


def simulate_power(design: TrialDesign, analysis: Analysis, n_sim: int, seed: int | None = None,
                   alpha: float = 0.05, executor: Executor | None = None, workers: int | None = None,
                   chunk_size: int | None = None, progress: bool | None = None) -> OperatingCharacteristics:
    r"""Power, type I error, bias, RMSE, coverage and convergence of ``analysis`` by simulating ``design``.

    Parameters
    ----------
    design : :class:`TrialDesign`.
    analysis : :class:`Analysis`: the MMRM and contrast run on each trial.
    n_sim : number of simulated trials (>= 1).
    seed : non-negative integer; replicate *r* uses ``SeedSequence(seed).spawn(n_sim)[r]``.
        None draws fresh entropy (the result's ``seed`` reproduces the run).
    alpha : level of the two-sided test and of the CIs.
    executor : any :class:`concurrent.futures.Executor` (``ProcessPoolExecutor``,
        ``ThreadPoolExecutor``, Dask ``Client.get_executor()``); None: a local process pool
        of ``workers`` processes (one BLAS thread each).
    workers : processes of the local pool (default: the CPUs available); with an
        ``executor``, its number of workers (sizes the chunks only).
    chunk_size : replicates per task (default: 4 tasks per worker); see :mod:`trialmlm.runner`.
    progress : progress bar (None: on interactive terminals only).

    Returns
    -------
    OperatingCharacteristics
        The replicates and the summary with Monte-Carlo SEs (module docstring).  An
        interrupted run (Ctrl-C) raises KeyboardInterrupt and returns nothing.

    Raises
    ------
    DataError, FormulaError
        Before any trial is simulated: bad ``n_sim``, ``alpha``, ``seed``, ``workers`` or
        ``chunk_size``; an analysis arm or visit that is not in the design.  The first
        replicate is analysed here too, so that a formula naming a column the simulated
        frame lacks fails at once, not in every replicate.
    """
    n_sim = check_n_sim(n_sim)
    alpha = check_probability("alpha", alpha)
    seed = check_seed(seed)
    check_executor(executor)
    if not isinstance(design, TrialDesign) or not isinstance(analysis, Analysis):
        raise DataError("simulate_power takes a trialmlm.power.TrialDesign and a trialmlm.power.Analysis")
    workers = check_workers(len(os.sched_getaffinity(0)) if workers is None else workers)
    check_chunk_size(chunk_size)
    true_effect = analysis.true_effect(design)
    entropy = np.random.SeedSequence(seed).entropy
    seeds = np.random.SeedSequence(entropy).spawn(n_sim)
    analysis.estimate(design.simulate(seeds[0]), alpha)
    out = run_tasks(_replicate, (design, analysis, alpha), seeds, workers, progress, "simulated trials",
                    executor, chunk_size)
    table = pd.DataFrame(out, columns=list(Replicate._fields))
    table.insert(0, "replicate", np.arange(n_sim))
    table["converged"] = table["converged"].astype(bool)
    table["reject"] = table["p"] < alpha
    table["covered"] = (table["lower"] <= true_effect) & (true_effect <= table["upper"])
    return OperatingCharacteristics(design=design, analysis=analysis, n_sim=n_sim, seed=entropy, alpha=alpha,
                                    true_effect=true_effect, replicates=table,
                                    summary=summarise(table, true_effect))


def with_effect(design: TrialDesign, analysis: Analysis, effect: float) -> TrialDesign:
    r"""``design`` with the treatment arm's means moved so that the true contrast is ``effect``:
    :math:`\mu_{trt} = \mu_{ref} + (\delta / \delta_0)(\mu_{trt} - \mu_{ref})`, :math:`\delta_0`
    the design's contrast (the profile over visits is kept)."""
    base = analysis.true_effect(design)
    if base == 0:
        raise DataError("effects= scales the design's treatment effect, which is 0 here: give the design a "
                        "non-zero effect (its profile over the visits is kept)")
    means = design.mean_table
    ref = means.loc[analysis.reference]
    means.loc[analysis.treatment] = ref + (float(effect) / base) * (means.loc[analysis.treatment] - ref)
    return replace(design, means=means)


def power_curve(design: TrialDesign, analysis: Analysis, n_sim: int, seed: int | None = None, *,
                n_per_arm: Sequence[int] | None = None, effects: Sequence[float] | None = None,
                alpha: float = 0.05, executor: Executor | None = None, workers: int | None = None,
                chunk_size: int | None = None, progress: bool | None = None) -> pd.DataFrame:
    """:func:`simulate_power` over a grid of sample sizes or of effects (the same seeds at each point).

    Parameters
    ----------
    n_per_arm : subjects per arm (every arm) at each point; or
    effects : true contrasts at each point (:func:`with_effect`; 0 gives the type I error).
    Others as :func:`simulate_power`.

    Returns
    -------
    pandas.DataFrame
        ``n_per_arm`` or ``effect``, then the summary columns ``measure, estimate, mc_se, n``
        of each point (one row per point and measure).
    """
    if (n_per_arm is None) == (effects is None):
        raise DataError("give exactly one of n_per_arm= and effects= (the grid of the curve)")
    name, grid = ("n_per_arm", list(n_per_arm)) if effects is None else ("effect", list(effects))
    if not grid:
        raise DataError(f"{name}= holds no value")
    check_n_sim(n_sim)
    check_probability("alpha", alpha)
    seed = np.random.SeedSequence(check_seed(seed)).entropy  # common random numbers across the points
    analysis.check(design)
    designs = [replace(design, n_per_arm=v) if name == "n_per_arm" else with_effect(design, analysis, v)
               for v in grid]
    tables = []
    for value, point in zip(grid, designs):
        result = simulate_power(point, analysis, n_sim, seed, alpha, executor, workers, chunk_size, progress)
        tables.append(result.summary.assign(**{name: value})[[name, "measure", "estimate", "mc_se", "n"]])
    return pd.concat(tables, ignore_index=True)
