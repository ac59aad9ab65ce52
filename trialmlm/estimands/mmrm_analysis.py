r"""The fit's own MMRM as the analysis of completed data sets under maximum-likelihood
imputation (:class:`trialmlm.estimands.Mmrm` with ``CondMean`` or ``BMLMI``).

A completed data set of :math:`m` analysed subjects (positions into the trial's subjects,
repeats allowed: a bootstrap sample) is laid out in long form, each analysed subject under
its own label (a subject drawn twice counts as two subjects), and the fitted MMRM is refitted
to it (:meth:`trialmlm.engine.results.MMRMResults.refit`, warm start at the fit's
parameters).  Its LS means of each arm at each visit, :math:`\hat m_{v,a} = l_{v,a}^\top
\hat\beta` with equal weights over the other factors and numeric covariates at their mean
over the analysed subjects (``fit.lsmeans(arm, by=visit)``), are the analysis' (K, A)
estimates; differences of arms are their differences, which equal ``fit.compare``'s.

With no ICE and MAR, conditional mean imputation from an MMRM whose mean model has its
own coefficients at every visit (e.g. ``BASE * AVISIT + ARM * AVISIT``) reproduces the
fit's estimates: the conditional means are the EM fixed point of the fit.
"""

from __future__ import annotations

import numpy as np

from .imputation import ImputationData


class MmrmAnalysis:
    """The MMRM of ``fit`` refitted to completed data sets of the subjects ``rows`` of ``data``
    (default: every subject once); the interface of :class:`.visit_ancova.VisitAncova` used
    by the maximum-likelihood engines (:meth:`lsmeans`, :meth:`take`)."""

    covariates = ()  # the covariates are the fitted formula's
    weights = "equal"

    def __init__(self, fit, data: ImputationData, rows: np.ndarray | None = None):
        self.fit, self.data = fit, data
        self.rows = np.arange(len(data.subjects)) if rows is None else np.asarray(rows)

    def take(self, rows: np.ndarray) -> MmrmAnalysis:
        """The analysis of the subjects ``rows`` of this one (repeats allowed), whose completed
        data have one row per entry of ``rows``."""
        return MmrmAnalysis(self.fit, self.data, self.rows[rows])

    def lsmeans(self, completed: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """(K, A) LS means of each arm at each visit of the MMRM refitted to the completed
        responses ``completed[keep]`` (``keep``: a mask or positions, repeats allowed)."""
        data, k = self.data, len(self.data.visits)
        chosen = np.arange(len(completed))[keep]
        subjects = self.rows[chosen]
        frame = data.frame.iloc[(subjects[:, None] * k + np.arange(k)).ravel()]
        frame = frame.assign(**{data.subject: np.repeat(np.arange(subjects.size), k),
                                data.response: completed[chosen].ravel()})
        refitted = self.fit.refit(data=frame, start=self.fit.phi, warn=False)
        table = refitted.lsmeans(data.arm, by=data.visit)
        out = np.full((k, len(data.arms)), np.nan)
        visit = [data.visits.index(v) for v in table[data.visit]]
        arm = [data.arms.index(a) for a in table[data.arm]]
        out[visit, arm] = table["estimate"].to_numpy()
        return out
