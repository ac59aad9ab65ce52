"""Checks of the scalar and vector arguments of the public functions.

Each raises :class:`~trialmlm.errors.DataError` naming the argument and the value given,
so that a wrong ``alpha``, ``seed`` or list of shifts fails before any work is done.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import DataError


def check_alpha(alpha) -> float:
    r"""``alpha`` as a float in the open interval (0, 1): the two-sided level of a
    :math:`1 - \alpha` confidence interval and of a test."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < float(alpha) < 1:
        raise DataError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def check_seed(seed) -> int | None:
    """``seed``: None (fresh entropy) or a non-negative integer (numpy ``SeedSequence``)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DataError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def finite_numbers(name: str, values) -> np.ndarray:
    """``values`` (a number or a sequence of numbers) as a 1-D array of finite floats."""
    try:
        out = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numbers, got {values!r}") from None
    if out.ndim != 1 or not np.all(np.isfinite(out)):
        raise DataError(f"{name} must be finite numbers (a number or a flat list), got {values!r}")
    return out
