r"""Variance components estimated at the boundary of the parameter space.

The optimiser works on the log-Cholesky scale, so a variance component whose (RE)ML
estimate is 0 is approached but never reached (lme4's Dyestuff2: the batch variance).
SAS PROC MIXED reports such a variance as 0 ("Estimated G matrix is not positive
definite") and treats it as known in the asymptotic covariance of the covariance
parameters (no standard error; it takes no part in Satterthwaite or Kenward-Roger df).

:func:`boundary_point`: a random-effect variance :math:`G_{kk}` below
``BOUNDARY_RATIO`` times the largest variance of the model is set to 0, with the
covariances of its row of :math:`G`; the likelihood is evaluated there (:math:`V =
ZGZ^\top + R` stays positive definite with a singular :math:`G`) and the point is kept
when its objective is not worse than the optimiser's by more than ``OBJECTIVE_SLACK``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..covariance.random_effects import RandomCovariance

BOUNDARY_RATIO = 1e-7
OBJECTIVE_SLACK = 1e-6  # -2 log L units


@dataclass(frozen=True)
class BoundaryPoint:
    """``phi`` with the boundary variances at 0, which parameters were set (``at``), and the
    likelihood's evaluation there."""

    phi: np.ndarray
    at: np.ndarray
    evaluation: object


def boundary_note(names) -> str:
    """SAS's note for the parameters ``names`` estimated at 0."""
    return (f"Estimated G matrix is not positive definite: {', '.join(names)} estimated at 0, the boundary "
            "(no standard error; not counted in AIC/BIC)")


def _g_blocks(lik) -> list[tuple[RandomCovariance, np.ndarray]]:
    """Each random-effect covariance :math:`G` and the positions of its parameters in phi."""
    out = [(b.transform, np.arange(b.at.start, b.at.stop)) for b in lik.subject_level.parameters.blocks
           if isinstance(b.transform, RandomCovariance)]
    start = lik.subject_level.n_params
    for cov in lik.covariances:
        out.append((cov, np.arange(start, start + cov.n_params)))
        start += cov.n_params
    return out


def boundary_point(lik, phi: np.ndarray, value: float, held: np.ndarray) -> BoundaryPoint | None:
    """The fit at the boundary (see the module docstring), or None when no random-effect
    variance is at it."""
    mask = lik.parameters.variance_mask()
    variances = phi[mask] if mask.any() else phi
    scale = float(np.max(np.abs(variances), initial=0.0))
    at = np.zeros(phi.size, dtype=bool)
    for cov, where in _g_blocks(lik):
        g = cov.matrix(phi[where])
        small = np.flatnonzero(np.diag(g) < BOUNDARY_RATIO * scale)
        if small.size:
            units = cov.units()
            touches = (units[:, small, :] != 0).any(axis=(1, 2)) | (units[:, :, small] != 0).any(axis=(1, 2))
            at[where[touches]] = True
    at &= ~held
    if not at.any():
        return None
    point = np.where(at, 0.0, phi)
    with np.errstate(all="ignore"):
        evaluation = lik.evaluate(point, 2)
    if evaluation is None or not evaluation.value <= value + OBJECTIVE_SLACK:
        return None
    return BoundaryPoint(point, at, evaluation)
