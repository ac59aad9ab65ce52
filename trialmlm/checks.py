"""Checks of the scalar and vector arguments of the public functions.

Each raises :class:`~trialmlm.errors.DataError` naming the argument and the value given,
so that a wrong ``alpha``, ``seed``, executor or list of shifts fails before any work is done.

Numbers are numbers: text (``'0.5'``), booleans and None are refused, never converted, and
every number must be finite with :math:`|x| \\le` :data:`~trialmlm.engine.design.MAX_MAGNITUDE`
(the bound of the data columns, so that squares and sums stay far from overflow).
"""

from __future__ import annotations

import numbers
from concurrent.futures import Executor

import numpy as np

from .engine.design import MAX_MAGNITUDE
from .errors import DataError


def check_probability(name: str, value) -> float:
    """``value`` as a float strictly between 0 and 1 (``alpha``, ``power``, a target power);
    ``name`` is how the caller wrote it (a keyword, a TOML key, a CLI option)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) < 1:
        raise DataError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def check_alpha(alpha) -> float:
    r"""``alpha`` as a float in the open interval (0, 1): the two-sided level of a
    :math:`1 - \alpha` confidence interval and of a test."""
    return check_probability("alpha", alpha)


def check_seed(seed) -> int | None:
    """``seed``: None (fresh entropy) or a non-negative integer (numpy ``SeedSequence``)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DataError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def check_executor(executor) -> Executor | None:
    """``executor``: None (the local pool) or a :class:`concurrent.futures.Executor`."""
    if executor is not None and not isinstance(executor, Executor):
        raise DataError("executor must be a concurrent.futures.Executor (e.g. a dask.distributed Client's "
                        f"get_executor()), got {executor!r}")
    return executor


def real_array(name: str, values, what: str = "numbers") -> np.ndarray:
    """``values`` as a float array: numbers only (no text, booleans or None), finite, with
    :math:`|x| \\le` ``MAX_MAGNITUDE``; ``what`` says what ``name`` must be in the message."""
    try:
        raw = np.asarray(values)
    except ValueError:  # ragged nesting
        raw = np.asarray(None)
    if raw.dtype.kind == "O":
        flat = raw.ravel().tolist()
        numeric = all(isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) for x in flat)
        raw = raw.astype(float) if numeric and flat else np.asarray(None)
    if raw.dtype.kind not in "iuf":
        raise DataError(f"{name} must be {what}, got {values!r}")
    out = raw.astype(float)
    if not np.all(np.abs(out) <= MAX_MAGNITUDE):
        raise DataError(f"{name} must be finite, within +-{MAX_MAGNITUDE:g}, got {values!r}")
    return out


def real_number(name: str, value) -> float:
    """``value`` as one finite float (:func:`real_array`'s rules): ``"delta must be a number,
    got '0.5'"``."""
    if np.ndim(value) != 0:
        raise DataError(f"{name} must be a number, got {value!r}")
    return float(real_array(name, value, "a number"))


def finite_numbers(name: str, values) -> np.ndarray:
    """``values`` (a number or a flat sequence of numbers) as a 1-D array of finite floats
    within +-``MAX_MAGNITUDE``."""
    out = np.atleast_1d(real_array(name, values))
    if out.ndim != 1:
        raise DataError(f"{name} must be numbers (a number or a flat list), got {values!r}")
    return out
