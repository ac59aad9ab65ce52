r"""One estimand pipeline in rbmi's four verbs: ``draws -> impute -> analyse -> pool``.

.. code-block:: python

    from trialmlm.estimands.pipeline import ImputationModel, CondMean, Ancova

    model = ImputationModel(fit, ice=ice, arm="TRT", reference="CTRL")   # column roles, ICE table
    result = (model.draws(CondMean("bootstrap", 200), seed=1)            # rbmi draws(method = )
              .impute(references="CTRL")                                 # rbmi impute(references = )
              .analyse(Ancova(covariates=["BASE"]), delta=0.0)            # rbmi analyse(fun = , delta = )
              .pool())                                                   # rbmi pool()

Each verb returns a frozen value that records its arguments; :meth:`Analyses.pool` runs the
engine of the method (:data:`ENGINES`, keyed by the method class of :mod:`.methods`) and
returns its result, which implements :class:`trialmlm.inference.protocol.Comparisons`
(``lsmeans``, ``compare``) with the method's pooling rule and ``update_strategy``.  The
shortcuts :func:`trialmlm.estimands.impute`, :func:`~trialmlm.estimands.condmean`,
:func:`~trialmlm.estimands.bmlmi` and :func:`~trialmlm.estimands.tipping_point` give the same
numbers on the same seed (the engines spawn their random streams in the same order).

The method (:class:`ApproxBayes`, :class:`CondMean`, :class:`BMLMI`) and the analysis
(:class:`Ancova`, :class:`Mmrm`) are values; ``delta`` is a number, a mapping visit ->
number (added to the missing values at or after each subject's ICE, in ``delta_arms``,
default every arm but the reference) or a delta table (:func:`trialmlm.estimands.delta_template`)
for every method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..checks import real_number
from ..errors import DataError
from .delta import delta_template
from .methods import BMLMI, METHODS, ApproxBayes, CondMean

__all__ = ["BMLMI", "ENGINES", "METHODS", "Analyses", "Ancova", "ApproxBayes", "CondMean", "Draws", "Engine",
           "ImputationModel", "Imputations", "Mmrm", "register"]


@dataclass(frozen=True)
class Engine:
    """How a method class is run: ``run(analyses) -> result`` and, if the method has one,
    ``tipping_point(imputations, analysis, deltas, arms, visit, alpha) -> TippingPoint``."""

    run: Callable
    tipping_point: Callable | None = None


ENGINES: dict[type, Engine] = {}
"""The engine of each method class (:mod:`.sensitivity`, :mod:`.condmean`, :mod:`.bmlmi` register theirs)."""


def register(method_class: type, run: Callable, tipping_point: Callable | None = None) -> None:
    """Make ``method_class`` (a class of :mod:`.methods`) runnable by the pipeline."""
    ENGINES[method_class] = Engine(run, tipping_point)


@dataclass(frozen=True)
class Ancova:
    """rbmi's ``ancova``: an ANCOVA at each visit on the arm and ``covariates`` (default: the
    other variables of the fit's mean model), LS means with ``weights`` ("counterfactual",
    "equal", "proportional"; :mod:`.visit_ancova`)."""

    covariates: Sequence[str] | None = None
    weights: str | None = None  # None: "counterfactual"


@dataclass(frozen=True)
class Mmrm:
    """The fit's own MMRM refitted to each completed data set (``fit.refit``): LS means of the
    arm by visit with equal weights and their differences, as ``fit.lsmeans``/``fit.compare``
    (every method; :mod:`.mmrm_analysis` under ``CondMean`` and ``BMLMI``)."""


@dataclass(frozen=True)
class ImputationModel:
    """The imputation model: the fitted MMRM, the ICE table and the column roles.

    ``arm`` (default: the one factor besides the visit), ``reference`` (control arm; may also
    be given to :meth:`Draws.impute`), ``strategies`` (user-defined strategies by label) and
    ``default_strategy`` (what subjects without an ICE row follow after their last
    observation under approximate Bayes: "mar", "jump_to_reference", ...; rbmi: MAR).
    """

    fit: object
    ice: pd.DataFrame | None = None
    arm: str | None = None
    reference: object = None
    strategies: Mapping[str, Callable] | None = None
    default_strategy: str = "mar"

    def draws(self, method, seed: int | None = None, workers: int = 1, progress: bool | None = None,
              executor: Executor | None = None, _samples: Sequence[np.ndarray] | None = None) -> Draws:
        """The parameter draws of ``method`` (a value of :data:`.methods.METHODS`), rbmi's ``draws``;
        ``seed``, ``workers``, ``progress``, ``executor`` as :func:`trialmlm.estimands.condmean`;
        ``_samples`` (testing) the bootstrap samples as arrays of subject positions."""
        if type(method) not in ENGINES:
            raise DataError(f"method must be one of {', '.join(c.__name__ for c in ENGINES)}; got {method!r}")
        if isinstance(method, CondMean) and method.type == "jackknife" and seed is not None:
            raise DataError("seed is for CondMean('bootstrap', n); the jackknife leaves out each "
                            "subject once")
        return Draws(self, method, seed, dict(workers=workers, progress=progress, executor=executor),
                     None if _samples is None else tuple(_samples))


@dataclass(frozen=True)
class Draws:
    """:meth:`ImputationModel.draws`: the model, the method, the seed and how to run."""

    model: ImputationModel
    method: object
    seed: int | None
    run: dict = field(repr=False)
    samples: tuple | None = field(default=None, repr=False)

    def impute(self, references=None, update_strategy: pd.DataFrame | None = None) -> Imputations:
        """The imputations under the ICE strategies with ``references`` (the control arm), and
        the strategies of ``update_strategy`` (subject and ``strategy``) re-using the draws."""
        reference = self.model.reference if references is None else references
        if isinstance(reference, Mapping):
            levels = set(reference.values())
            if len(levels) != 1:
                raise DataError(f"references must name one control arm for every arm; got {reference!r}")
            reference = levels.pop()
        if self.model.reference is not None and reference != self.model.reference:
            raise DataError(f"references={reference!r} differs from the model's reference "
                            f"{self.model.reference!r}")
        return Imputations(replace(self, model=replace(self.model, reference=reference)), update_strategy)


@dataclass(frozen=True)
class Imputations:
    """:meth:`Draws.impute`: the draws and the strategy update."""

    draws: Draws
    update_strategy: pd.DataFrame | None = None

    def analyse(self, analysis=None, delta=0.0, delta_arms: Sequence | None = None) -> Analyses:
        """The analysis of every completed data set plus ``delta`` (rbmi's ``analyse``):
        :class:`Ancova` (default), :class:`Mmrm` or a function ``fun(completed) -> DataFrame``
        of ``parameter, estimate`` (and ``se, df`` for Rubin's rules;
        :mod:`.function_analysis`), whose pooled parameters are the result's ``table()``."""
        analysis = Ancova() if analysis is None else analysis
        if not isinstance(analysis, (Ancova, Mmrm)) and not callable(analysis):
            raise DataError(f"analysis must be Ancova(...), Mmrm() or a function of the completed data; "
                            f"got {analysis!r}")
        return Analyses(self, analysis, delta, None if delta_arms is None else tuple(delta_arms))

    def tipping_point(self, analysis=None, deltas=None, arms=None, visit=None, alpha: float = 0.05):
        """rbmi's tipping point: :meth:`analyse` over a grid of ``deltas`` and pool
        (:func:`trialmlm.estimands.tipping_point`; approximate Bayes, ``analysis`` default :class:`Mmrm`)."""
        tipping = ENGINES[type(self.draws.method)].tipping_point
        if tipping is None:
            raise DataError("the tipping point pools approximate Bayesian imputations (ApproxBayes(n))")
        return tipping(self, Mmrm() if analysis is None else analysis, deltas, arms, visit, alpha)


@dataclass(frozen=True)
class Analyses:
    """:meth:`Imputations.analyse`: ready to :meth:`pool`."""

    imputations: Imputations
    analysis: object
    delta: object
    delta_arms: tuple | None

    def pool(self):
        """Run the method's engine and return its pooled result (rbmi's ``pool``)."""
        draws = self.imputations.draws
        result = ENGINES[type(draws.method)].run(self)
        update = self.imputations.update_strategy
        if update is None:
            return result
        if isinstance(draws.method, ApproxBayes):
            return result.update_strategy(update, **draws.run)
        return result.update_strategy(update)


def delta_table(analyses: Analyses) -> pd.DataFrame | None:
    """``analyses.delta`` as a delta table for the maximum-likelihood engines: a number or a
    mapping visit -> number on the missing visits at or after each subject's ICE of the
    shifted arms (default: every arm but the reference)."""
    delta, model = analyses.delta, analyses.imputations.draws.model
    if isinstance(delta, pd.DataFrame):
        return delta
    if delta is None or (isinstance(delta, (int, float)) and not isinstance(delta, bool) and delta == 0
                         and analyses.delta_arms is None):
        return None
    table = delta_template(model.fit, model.ice, model.reference, model.arm, strategies=model.strategies)
    _, visit, arm = table.columns[:3]  # subject, visit, arm
    arms = table[arm].unique()
    reference = model.reference if model.reference is not None else arms[0]
    shifted = analyses.delta_arms if analyses.delta_arms is not None else [a for a in arms if a != reference]
    if isinstance(delta, Mapping):
        shifts = {k: real_number(f"delta[{k!r}]", v) for k, v in delta.items()}
        per_visit = table[visit].map(shifts).fillna(0.0)
    elif np.ndim(delta) == 0 and not isinstance(delta, (str, bool)):
        per_visit = real_number("delta", delta)
    else:
        raise DataError("delta must be a number, a mapping visit -> number or a DataFrame (a delta table "
                        f"as delta_template gives), got {delta!r}")
    on = table["is_missing"] & table["is_post_ice"] & table[arm].isin(list(shifted))
    return table.assign(delta=np.where(on, per_visit, 0.0))
