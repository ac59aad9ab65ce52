"""The boundary of the power calculations and the trial simulator: every input is checked here.

:func:`~trialmlm.power.result.solve` (``n_total``, ``delta``, ``power``, ``alpha``,
``allocation``, ``alternative``), each method's own inputs (correlation, retention, ``sd``,
``rho``, ``times``, variance components) and :class:`~trialmlm.power.TrialDesign`
(:func:`trialmlm.power.design._normalise`: means, times, structure parameters, residual
variance, dropout, covariates) read their arguments through these functions only.  Each
raises a :class:`trialmlm.DataError` naming the argument as the caller wrote it (and the
arm or visit) before any computation starts.

The rules (:mod:`trialmlm.checks`): numbers are numbers -- text such as ``'0.5'`` is
refused, not converted; every number is finite with :math:`|x| \\le 10^{50}`; scales
(``delta``, ``sd``, ``n_total``, ``allocation``) lie in :data:`SCALE` in absolute value,
so that :math:`\\delta^2`, :math:`\\sigma^2` and :math:`\\kappa z^2/\\delta^2` stay
finite; probabilities lie in the open interval (0, 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..app.config import known_keys
from ..checks import real_array, real_number
from ..covariance.base import is_positive_definite
from ..engine.design import MAX_MAGNITUDE
from ..errors import DataError

#: The range of \|delta\|, sd, n_total and allocation: squares and ratios stay finite.
SCALE = (1 / MAX_MAGNITUDE, MAX_MAGNITUDE)
_UNIT_DIAGONAL = 1e-6  # a correlation matrix's diagonal: 1 up to rounding


def _number(name: str, value) -> float:
    """``value`` as a float; NaN, which fails every range check, when it is not a number
    (text, a boolean, None, a list): the caller's message then says what it must be."""
    try:
        return real_number(name, value)
    except DataError:
        return float("nan")


def check_scale(name: str, value, what: str, signed: bool = False) -> float:
    """A number with :data:`SCALE` bounds on its absolute value; positive unless ``signed``
    (then either sign, not 0).  ``what`` says what it is in the message."""
    x = _number(name, value)
    if not (SCALE[0] <= abs(x) <= SCALE[1] and (signed or x > 0)):
        kind, size = ("a non-zero number", f"|{name}|") if signed else ("a positive number", name)
        raise DataError(f"{name} must be {kind}, {SCALE[0]:g} <= {size} <= {SCALE[1]:g} ({what}), "
                        f"got {value!r}")
    return x


def check_allocation(allocation) -> float:
    """The allocation ratio :math:`\\lambda = N_a/N_b` as a positive float in :data:`SCALE`."""
    return check_scale("allocation", allocation, "N_a / N_b")


def check_correlation_coefficient(name: str, value) -> float:
    """A correlation in the open interval (-1, 1) (``rho``)."""
    r = _number(name, value)
    if not -1 < r < 1:
        raise DataError(f"{name} must be a number in (-1, 1), got {value!r}")
    return r


def check_times(name: str, values, n: int | None = None, minimum: int = 1) -> np.ndarray:
    """Increasing visit times: ``n`` of them when given, else at least ``minimum``."""
    t = real_array(name, values)
    count = f"{n}" if n is not None else f"at least {minimum}"
    if t.ndim != 1 or (t.size != n if n is not None else t.size < minimum) or np.any(np.diff(t) <= 0):
        raise DataError(f"{name} must be {count} increasing visit times, got {values!r}")
    return t


def check_retention(name: str, values, n_visits: int) -> np.ndarray:
    """Per-visit retention: ``n_visits`` probabilities in [0, 1], non-increasing, last one > 0.

    Retention at visit *j* is the probability that a subject is still observed there
    (monotone dropout).
    """
    r = real_array(name, values)
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
    m = real_array(name, matrix, "a matrix of numbers")
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise DataError(f"{name} must be a square matrix, got shape {m.shape}")
    if n_visits is not None and m.shape[0] != n_visits:
        raise DataError(f"{name} is {m.shape[0]} x {m.shape[0]} but there are {n_visits} visits")
    if not np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * np.abs(m).max()):
        raise DataError(f"{name} is not symmetric")
    if not is_positive_definite(m):
        raise DataError(f"{name} is not positive definite (eigenvalues {np.round(np.linalg.eigvalsh(m), 6)})")
    return m


def check_correlation(name: str, matrix, n_visits: int | None = None) -> np.ndarray:
    """A correlation matrix: :func:`check_covariance` with a unit diagonal."""
    m = check_covariance(name, matrix, n_visits)
    diagonal = np.diag(m)
    if not np.allclose(diagonal, 1, rtol=0, atol=_UNIT_DIAGONAL):
        raise DataError(f"{name} must be a correlation matrix (unit diagonal), got the diagonal "
                        f"{np.round(diagonal, 6).tolist()}: for a covariance matrix V, pass its "
                        "correlation V / outer(s, s), s = sqrt(diag(V)), and sd = s[-1]")
    return m


def from_fields(cls, where: str, values):
    """The dataclass ``cls`` (:class:`LogisticDropout`, :class:`Covariate`, ...) from a mapping of
    its fields; DataError naming ``where`` and listing the known fields for an unknown, a
    missing field or something that is not a mapping."""
    init = [f for f in dataclasses.fields(cls) if f.init]
    names = ", ".join(f.name for f in init)
    if not isinstance(values, Mapping):
        raise DataError(f"{where} must be a {cls.__name__} or a mapping of its fields ({names}), "
                        f"got {values!r}")
    known_keys(where, values, [f.name for f in init])
    lacking = [f.name for f in init if f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if lacking:
        raise DataError(f"{where}: missing {', '.join(lacking)} (fields: {names})")
    return cls(**values)
