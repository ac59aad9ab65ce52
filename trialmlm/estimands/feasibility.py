"""Whether an estimand can be estimated at all, checked before any fitting, in the
estimand's words: :func:`check_observed_left` and :func:`check_jackknife_subjects`.

* **Observed values left.**  Values observed at or after a non-MAR intercurrent event (JR,
  CR, CIR, LMCF, user strategies) are left out of the imputation model's fit (rbmi;
  :mod:`.ice`).  When the ICE table leaves out every observed value — or every one of an
  arm, whose mean the model then cannot estimate — there is nothing to refit.
* **Subjects for the jackknife.**  The jackknife refits the imputation model and the
  per-visit ANCOVA with each subject left out in turn; every leave-one-out sample must still
  hold every arm, so each arm needs at least :data:`JACKKNIFE_PER_ARM` subjects.

Both are used by the API (:func:`trialmlm.estimands.condmean`, :func:`~trialmlm.estimands.bmlmi`,
:func:`~trialmlm.estimands.impute`: before the imputation model is refitted) and by
``trialmlm analyze`` (:func:`trialmlm.app.estimand_report.check_before_fit`: before the primary MMRM).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError

#: Fewest subjects per arm for a leave-one-out (jackknife) sample to keep every arm.
JACKKNIFE_PER_ARM = 2


def excluded_values(observed: np.ndarray, n_mar: np.ndarray) -> np.ndarray:
    """(n, K) observed values at or after each subject's first non-MAR visit ``n_mar``
    (:math:`K` for a subject without a non-MAR event): left out of the imputation model."""
    after = np.arange(observed.shape[1])[None, :] >= np.asarray(n_mar)[:, None]
    return after & observed


def _events(labels: np.ndarray, ice_visit: np.ndarray, rows: np.ndarray, visits: Sequence) -> str:
    """``"JR from V1 (the first visit) for 160 subjects"`` for the non-MAR events of ``rows``."""
    frame = pd.DataFrame({"strategy": labels[rows], "visit": ice_visit[rows]})
    frame = frame[frame["strategy"] != "MAR"]
    counts = frame.value_counts(sort=False).reset_index(name="n")
    first = visits[0] if len(visits) else None
    parts = [f"{r.strategy} from {r.visit}{' (the first visit)' if r.visit == first else ''} for "
             f"{r.n} subject{'s' if r.n != 1 else ''}" for r in counts.itertuples()]
    return "; ".join(parts)


def check_observed_left(observed: np.ndarray, excluded: np.ndarray, labels: np.ndarray,
                        ice_visit: np.ndarray, arm_codes: np.ndarray, arms: Sequence, arm: str,
                        visits: Sequence) -> None:
    """DataError when the ICE table leaves the imputation model no observed value, overall
    or in one arm.

    Parameters
    ----------
    observed, excluded : (n, K) observed values and those left out (:func:`excluded_values`).
    labels, ice_visit : (n,) each subject's strategy (``"MAR"`` without an event) and first
        affected visit.
    arm_codes : (n,) index into ``arms``; ``arm`` the arm column, ``visits`` in order.
    """
    kept = observed & ~excluded
    if kept.any():
        empty = [a for a in range(len(arms))
                 if observed[arm_codes == a].any() and not kept[arm_codes == a].any()]
        if not empty:
            return
        rows = arm_codes == empty[0]
        where = f"every observed value of {arm} = {arms[empty[0]]!r}"
    else:
        rows, where = np.ones(len(labels), dtype=bool), "every observed value"
    events = _events(labels, ice_visit, rows, visits)
    raise DataError(f"the ICE table removes {where} from the imputation model: {events}; "
                    "values observed at or after a non-MAR intercurrent event are left out of its fit, so "
                    "nothing is left to estimate the mean from; give such events a later first visit or MAR")


def check_jackknife_subjects(per_arm: Mapping, arm: str) -> None:
    """DataError naming the arms with fewer than :data:`JACKKNIFE_PER_ARM` subjects (``per_arm``:
    arm level -> subjects)."""
    few = {level: n for level, n in per_arm.items() if n < JACKKNIFE_PER_ARM}
    if few:
        listed = ", ".join(f"{level!r} has {n}" for level, n in few.items())
        raise DataError(f"too few subjects for the jackknife: it refits with each subject left out in "
                        f"turn, so every arm of '{arm}' needs at least {JACKKNIFE_PER_ARM} subjects; "
                        f"{listed}")


def check_jackknife_data(data) -> None:
    """:func:`check_jackknife_subjects` of the subjects of the imputation data ``data``
    (:class:`.imputation.ImputationData`)."""
    counts = np.bincount(data.arm_codes, minlength=len(data.arms))
    check_jackknife_subjects(dict(zip(data.arms, counts.tolist())), data.arm)
