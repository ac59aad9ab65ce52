r"""What :func:`trialmlm.power.simulate_power` runs on each simulated trial.

An :class:`Analysis` is an MMRM (or random-slope model) with its fit options and one
contrast, the treatment arm minus the reference arm:

* at one visit (default the last): the difference of LS means
  :math:`\hat\mu_{trt,T} - \hat\mu_{ref,T}` (:meth:`trialmlm.MMRMResults.compare` with
  ``by=visit``);
* or, with ``slope=``, the difference of the arms' slopes in that numeric variable
  (:meth:`~trialmlm.MMRMResults.compare` with ``slope=``, e.g. ``"AVAL ~ TRT01P * TIME +
  (1 + TIME | USUBJID)"``).

:meth:`Analysis.run` is a pure function of the data: the same frame gives the same
numbers in any process.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..api import fit as fit_mmrm
from ..covariance import get_structure
from ..engine.formula import parse_formula
from ..errors import ConvergenceError, ConvergenceWarning, DataError
from ..estimands.approxbayes import DEFAULT_STRATEGIES as METHODS
from ..estimands.approxbayes import impute
from ..inference.methods import Scope
from .design import TrialDesign


class Replicate(NamedTuple):
    """The contrast estimated on one simulated trial (NaN and ``converged=False`` when the
    trial could not be analysed)."""

    estimate: float
    se: float
    df: float
    p: float
    lower: float
    upper: float
    converged: bool


FAILED = Replicate(*[np.nan] * 6, converged=False)


@dataclass(frozen=True)
class Analysis:
    r"""An MMRM and its contrast, run on every simulated trial (module docstring); frozen, picklable.

    Parameters
    ----------
    formula : as :func:`trialmlm.fit`, in the simulated frame's columns
        (:func:`trialmlm.power.simulate_trial`): e.g. ``"CHG ~ BASE + TRT01P * AVISIT +
        us(AVISIT | USUBJID)"``.
    treatment, reference : the arms compared (treatment minus reference).
    arm : the treatment column.  visit : the visit column.
    at : the visit of the contrast; None: the last level of ``visit``.
    slope : compare slopes in this numeric column (e.g. ``"TIME"``) instead of a visit.
    ddf, vcov, method : as :func:`trialmlm.fit` (e.g. ``ddf="kenward-roger"``).
    covariance : as :func:`trialmlm.fit`: a fallback list of structures, e.g.
        ``("us", "toeph", "ar1h", "cs")``.
    imputation : analyse by multiple imputation instead of the MMRM alone: a method of
        :func:`trialmlm.estimands.impute` (``"mar"``, ``"jump_to_reference"``,
        ``"copy_reference"``, ``"copy_increments_in_reference"``, ...), with ``reference``
        as the reference arm; the contrast is the pooled (Rubin) difference at the visit.
        Each trial's imputations get their own seed, spawned from the trial's.
    n_imputations : imputations per simulated trial.
    """

    formula: str
    treatment: object
    reference: object
    arm: str = "TRT01P"
    visit: str = "AVISIT"
    at: object = None
    slope: str | None = None
    ddf: str | None = None
    vcov: str = "model"
    method: str = "REML"
    covariance: str | Sequence[str] | None = None
    imputation: str | None = None
    n_imputations: int = 20

    def __post_init__(self):
        parse_formula(self.formula)  # FormulaError now, not in every replicate
        Scope().resolve(self.ddf, self.vcov)
        if self.treatment == self.reference:
            raise DataError(f"treatment and reference are the same arm ({self.treatment!r})")
        if self.imputation is not None:
            if self.imputation not in METHODS:
                raise DataError(f"imputation {self.imputation!r} is not one of {', '.join(METHODS)}")
            if self.slope is not None:
                raise DataError("imputation= analyses the contrast at a visit; it cannot go with slope=")
            if isinstance(self.n_imputations, bool) or not isinstance(self.n_imputations, int) \
                    or self.n_imputations < 2:
                raise DataError(f"n_imputations must be an integer of at least 2, got {self.n_imputations!r}")
        if self.covariance is not None:
            names = (self.covariance,) if isinstance(self.covariance, str) else tuple(self.covariance)
            for name in names:
                get_structure(name)
            object.__setattr__(self, "covariance", names)

    def check(self, design: TrialDesign) -> None:
        """DataError unless ``treatment``, ``reference`` (and ``at``) are in ``design``."""
        for role, level in (("treatment", self.treatment), ("reference", self.reference)):
            if level not in design.arms:
                raise DataError(f"the analysis's {role} {level!r} is not an arm of the design "
                                f"(arms: {', '.join(map(str, design.arms))})")
        if self.slope is None and self.at is not None and self.at not in design.visit_labels:
            raise DataError(f"the analysis's visit at={self.at!r} is not a visit of the design "
                            f"(visits: {', '.join(map(str, design.visit_labels))})")

    def true_effect(self, design: TrialDesign) -> float:
        r"""The contrast's value under ``design``: the difference of the arms' means at the
        visit; with ``slope``, the least-squares slope of that difference over the visit times
        (the slope difference when the means are linear in time, as with ``{"intercept",
        "slope"}`` means)."""
        self.check(design)
        means = design.mean_table
        difference = (means.loc[self.treatment] - means.loc[self.reference]).to_numpy()
        if self.slope is None:
            return float(difference[design.visit_labels.index(self._visit(design.visit_labels))])
        return float(np.polyfit(design.arrays.times, difference, 1)[0])

    def estimate(self, frame: pd.DataFrame, alpha: float = 0.05,
                 seed: np.random.SeedSequence | None = None) -> Replicate:
        """The contrast on ``frame``; errors propagate (FormulaError, DataError, ConvergenceError).
        ``seed``: of the imputations (``imputation=``; default fresh entropy).

        The mean model's encoding of the last trial analysed is re-used on the next
        (``encoding=`` of :func:`trialmlm.fit`): the same numbers, without encoding anew
        every simulated trial of a design."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = fit_mmrm(self.formula, frame, self.method, ddf=self.ddf, vcov=self.vcov,
                           covariance=self.covariance, encoding=getattr(self, "_encoding", None))
        object.__setattr__(self, "_encoding", fit.design.encoding)
        source = fit
        if self.imputation is not None:
            state = (seed if seed is not None else np.random.SeedSequence()).generate_state(1)[0]
            source = impute(fit, method=self.imputation, n_imputations=self.n_imputations,
                            reference=self.reference, arm=self.arm, seed=int(state))
        if self.slope is None:
            table = source.compare(self.arm, by=self.visit, reference=self.reference, alpha=alpha)
            at = self._visit(list(table[self.visit].unique()))
            table = table[table[self.visit] == at]
        else:
            table = fit.compare(self.arm, slope=self.slope, reference=self.reference, alpha=alpha)
        row = table[table[self.arm] == self.treatment].iloc[0]
        return Replicate(*(float(row[c]) for c in ("estimate", "se", "df", "p", "lower", "upper")),
                         converged=bool(fit.converged))

    def run(self, frame: pd.DataFrame, alpha: float = 0.05,
            seed: np.random.SeedSequence | None = None) -> Replicate:
        """:meth:`estimate`, with a trial that cannot be analysed (every structure of
        ``covariance`` failed, or the data cannot be fitted, e.g. a visit nobody reached)
        as :data:`FAILED`."""
        try:
            return self.estimate(frame, alpha, seed)
        except (ConvergenceError, DataError, np.linalg.LinAlgError):
            return FAILED

    def _visit(self, levels: list):
        return levels[-1] if self.at is None else self.at
