r"""Checks of a GLMM's data that name what makes the fit unusable: separation of a binary
response by the fixed effects, and too few subjects (or rows) for the random effects.

**Separation** (Albert & Anderson 1984; the linear program of Konis 2007, R
``detectseparation``): the fixed effects' estimates diverge when a direction :math:`d \ne 0`
has :math:`x_j^\top d \ge 0` for every row with :math:`y_j = 1`, :math:`x_j^\top d \le 0` for
every row with :math:`y_j = 0`, and :math:`x_j^\top d = 0` for rows with a proportion
strictly between 0 and 1: along :math:`d` every row's conditional likelihood rises or stays,
for every value of the random effects, so the marginal likelihood has no finite maximum.
The linear program maximises :math:`\sum_j s_j x_j^\top d` (:math:`s_j = 2y_j - 1`) under
those constraints with :math:`-1 \le d_k \le 1`; a positive maximum is separation and the
terms with :math:`d_k \ne 0` are those whose estimates diverge.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

SEPARATED = 1e-7  # the linear program's maximum above this (per row) is separation
DIRECTION = 1e-6  # |d_k| above this: term k diverges


def separated_terms(X: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> list[str]:
    """The terms whose estimates diverge (module docstring); empty when there is no separation.
    ``y`` the proportion of events per row.  Terms are dropped from the direction one at a
    time (in design order) while the rest still separate, so that the terms named are a
    minimal set (e.g. a separating covariate, not also the intercept)."""
    bounds = [(-1.0, 1.0)] * X.shape[1]
    direction = _separating_direction(X, y, bounds)
    if direction is None:
        return []
    for k in range(X.shape[1]):
        if abs(direction[k]) > DIRECTION:
            trial = bounds[:k] + [(0.0, 0.0)] + bounds[k + 1:]
            smaller = _separating_direction(X, y, trial)
            if smaller is not None:
                bounds, direction = trial, smaller
    return [str(name) for name, d in zip(names, direction) if abs(d) > DIRECTION]


def _separating_direction(X: np.ndarray, y: np.ndarray, bounds: list) -> np.ndarray | None:
    """The linear program's maximiser :math:`d` (module docstring), None when its maximum is 0."""
    ends = (y == 0) | (y == 1)
    sign = 2.0 * y[ends] - 1.0
    inner = X[~ends] if (~ends).any() else None
    result = optimize.linprog(-(sign @ X[ends]), A_ub=-sign[:, None] * X[ends], b_ub=np.zeros(ends.sum()),
                              A_eq=inner, b_eq=None if inner is None else np.zeros(len(inner)),
                              bounds=bounds, method="highs")
    if result.status != 0 or -result.fun <= SEPARATED * len(y):
        return None
    return result.x


def too_few_subjects(n_subjects: int, random_names: tuple[str, ...]) -> str | None:
    """A message when there are fewer subjects than random effects per subject (G cannot be
    estimated), else None."""
    if n_subjects < len(random_names):
        return (f"{n_subjects} subject(s) for {len(random_names)} random effects per subject "
                f"({', '.join(random_names)}): G cannot be estimated; at least {len(random_names)} "
                "are needed")
    return None


def short_subjects(rows_per_subject: np.ndarray, labels, n_random: int) -> str | None:
    """A message naming the subjects with fewer rows than random effects (their random effects
    are determined by the prior alone), else None."""
    short = np.flatnonzero(rows_per_subject < n_random)
    if short.size == 0:
        return None
    shown = ", ".join(map(repr, np.asarray(labels)[short[:5]].tolist())) + (", ..." if short.size > 5 else "")
    return (f"{short.size} subject(s) have fewer rows than the {n_random} random effects per subject "
            f"({shown}): their random effects rest on the prior alone")
