r"""Starting and held covariance parameters: SAS ``PARMS``, ``HOLD=`` and ``NOITER``.

``fit(..., start=...)`` gives starting values of the optimiser (SAS ``PARMS (v1) (v2) ...``),
``fixed=...`` holds parameters at given values while the others are estimated (SAS
``HOLD=``), ``noiter=True`` evaluates the fit at the given values without iterating (SAS
``NOITER`` with ``NOPROFILE``: every value is used as given, the residual variance is not
re-profiled).  Parameters are named as :attr:`MMRMResults.covariance_parameter_names`
names them (``"UN(1,1)"``, ``"AR(1)"``, ``"Residual"``, ``"AR(1) ARMCD=TRT"``).

Inference (SAS PROC MIXED documentation, PARMS statement; PROC GLIMMIX, HOLD=): a held
parameter is a constrained parameter of the optimisation, its row and column of the
asymptotic covariance :math:`W` of :math:`\hat\phi` are zero and the free parameters get
:math:`W_{ff} = 2H_{ff}^{-1}` (the projected Hessian), so that held parameters do not
contribute to Satterthwaite or Kenward-Roger degrees of freedom; with ``noiter`` and no
held parameter, :math:`W = 2H^{-1}` at the given values (parameters known, not constrained).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .optimize import Objective, outside

Values = Mapping[str, float] | Sequence[float] | None


@dataclass(frozen=True)
class Parms:
    """Resolved ``start`` / ``fixed`` / ``noiter`` of one fit.

    ``phi`` is the full starting point (the defaults where nothing was given), ``held``
    the boolean mask of held parameters; ``start`` and ``fixed`` record the values given,
    by name, for :class:`~trialmlm.engine.results.FitSettings`.
    """

    phi: np.ndarray
    held: np.ndarray
    noiter: bool
    start: tuple[tuple[str, float], ...]
    fixed: tuple[tuple[str, float], ...]


def _by_name(values, names: list[str], what: str) -> dict[str, float]:
    """``values`` (a dict by name or a full sequence in ``names`` order) as {name: float}."""
    if isinstance(values, Mapping):
        given = dict(values)
        unknown = [k for k in given if k not in names]
        if unknown:
            raise DataError(f"{what} names '{unknown[0]}', which is not a covariance parameter of this "
                            f"model; the parameters are: {', '.join(names)}")
    elif isinstance(values, Sequence) and not isinstance(values, str):
        if len(values) != len(names):
            raise DataError(f"{what} gives {len(values)} values, but the model has {len(names)} "
                            f"covariance parameters: {', '.join(names)}; give a dict by name for some")
        given = dict(zip(names, values))
    else:
        raise DataError(f"{what} must be a dict {{name: value}} or a list of {len(names)} values "
                        f"({', '.join(names)}); got {values!r}")
    out = {}
    for name, value in given.items():
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise DataError(f"{what} value of '{name}' is {value!r}, not a number") from None
        if not np.isfinite(out[name]):
            raise DataError(f"{what} value of '{name}' is {value!r}; give a finite number")
    return out


def resolve_parms(lik, names: list[str], default: Callable[[], np.ndarray], start: Values = None,
                  fixed: Values | str = None, noiter: bool = False) -> Parms | None:
    """Check ``start``, ``fixed`` and ``noiter`` against the model's parameters ``names``.

    ``default()`` gives the moment-based starting point (used for the parameters not given).
    ``fixed="all"`` holds every parameter at its ``start`` value.  Returns None when
    nothing was given.

    Raises
    ------
    DataError
        An unknown name (the known ones listed), a value that is not a finite number, a
        value outside the parameter space (a variance at or below zero, a correlation
        outside (-1, 1), a covariance matrix that is not positive definite), a name given
        two different values by ``start`` and ``fixed``, or ``noiter``/``fixed="all"``
        without a value for every parameter.
    """
    if start is None and fixed is None and not noiter:
        return None
    given = {} if start is None else _by_name(start, names, "start")
    if isinstance(fixed, str):
        if fixed != "all":
            raise DataError(f"fixed must be a dict {{name: value}}, a list of values or 'all'; got {fixed!r}")
        _require_all(given, names, "fixed='all' holds every parameter at its start value")
        held_values = dict(given)
    else:
        held_values = {} if fixed is None else _by_name(fixed, names, "fixed")
    for name, value in held_values.items():
        if name in given and given[name] != value:
            raise DataError(f"'{name}' is given start={given[name]} and fixed={value}; give one value")
    values = {**given, **held_values}
    if noiter:
        _require_all(values, names, "noiter=True evaluates the fit at the given values")
    phi = np.array([values.get(n, d) for n, d in zip(names, default())], dtype=float)
    _check_inside(lik, names, phi, values)
    held = np.array([n in held_values for n in names], dtype=bool)
    return Parms(phi, held, bool(noiter), tuple(given.items()), tuple(held_values.items()))


def _require_all(values: dict, names: list[str], why: str) -> None:
    missing = [n for n in names if n not in values]
    if missing:
        raise DataError(f"{why}: give a value for every covariance parameter; missing: {', '.join(missing)}")


def _check_inside(lik, names: list[str], phi: np.ndarray, values: dict) -> None:
    """DataError naming the given values outside the parameter space, or the whole point
    if the covariance matrix is not positive definite there."""
    bad = [names[k] for k in outside(Objective(lik), phi)]
    if bad:
        named = [n for n in bad if n in values] or bad
        shown = ", ".join(f"{n} = {phi[names.index(n)]:g}" for n in named)
        raise DataError(f"covariance parameter value outside the parameter space: {shown} (variances must "
                        "be positive, correlations inside (-1, 1), a covariance matrix positive definite)")
    with np.errstate(all="ignore"):
        if lik.evaluate(phi, 0) is None:
            shown = ", ".join(f"{n} = {phi[k]:g}" for k, n in enumerate(names))
            raise DataError(f"the covariance matrix is not positive definite at {shown}; give start values "
                            "(with the held ones) that make it positive definite")
