"""Checks of the inputs of the power calculations and the trial simulator.

Each raises a :class:`trialmlm.DataError` naming the argument (and the arm or visit) before
any computation starts.
"""

from __future__ import annotations

import numpy as np

from ..covariance.base import is_positive_definite
from ..errors import DataError


def check_probability(name: str, value: float) -> float:
    """``value`` as a float strictly between 0 and 1."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number strictly between 0 and 1, got {value!r}") from None
    if not 0 < value < 1:
        raise DataError(f"{name} must be strictly between 0 and 1, got {value}")
    return value


def check_allocation(allocation: float) -> float:
    """The allocation ratio :math:`\\lambda = N_a/N_b` as a positive finite float."""
    try:
        lam = float(allocation)
    except (TypeError, ValueError):
        lam = float("nan")
    if not (np.isfinite(lam) and lam > 0):
        raise DataError(f"allocation (N_a / N_b) must be a positive number, got {allocation!r}")
    return lam


def check_retention(name: str, values, n_visits: int) -> np.ndarray:
    """Per-visit retention: ``n_visits`` probabilities in [0, 1], non-increasing, last one > 0.

    Retention at visit *j* is the probability that a subject is still observed there
    (monotone dropout).
    """
    r = np.asarray(values, dtype=float)
    if r.ndim != 1 or r.size != n_visits:
        raise DataError(f"{name} must give one retention probability per visit ({n_visits}), got "
                        f"{r.size if r.ndim == 1 else r.shape}")
    bad = np.flatnonzero(~((r >= 0) & (r <= 1)))
    if bad.size:
        raise DataError(f"{name} must lie in [0, 1]; visit {bad[0] + 1} has {r[bad[0]]}")
    up = np.flatnonzero(np.diff(r) > 0)
    if up.size:
        j = up[0]
        raise DataError(f"{name} must not increase (monotone dropout); it goes from {r[j]} at visit "
                        f"{j + 1} to {r[j + 1]} at visit {j + 2}")
    if r[-1] <= 0:
        raise DataError(f"{name} is 0 at the last visit: nobody is observed there")
    return r


def check_covariance(name: str, matrix, n_visits: int | None = None) -> np.ndarray:
    """A symmetric positive definite matrix (``n_visits`` square when given)."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise DataError(f"{name} must be a square matrix, got shape {m.shape}")
    if n_visits is not None and m.shape[0] != n_visits:
        raise DataError(f"{name} is {m.shape[0]} x {m.shape[0]} but there are {n_visits} visits")
    if not np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * np.abs(m).max()):
        raise DataError(f"{name} is not symmetric")
    if not is_positive_definite(m):
        raise DataError(f"{name} is not positive definite (eigenvalues {np.round(np.linalg.eigvalsh(m), 6)})")
    return m
