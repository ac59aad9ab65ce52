r"""The result of an analytic power or sample-size calculation, and the one solver behind them.

Every method of :mod:`trialmlm.power` reduces to a normal approximation for the estimated
treatment effect :math:`\hat\delta` of a two-arm trial with :math:`N` subjects in all,
:math:`N_a = N\lambda/(1+\lambda)` in arm *a* and :math:`N_b = N/(1+\lambda)` in arm *b*
(allocation ratio :math:`\lambda = N_a/N_b`, longpower's ``lambda``):

.. math::

    \operatorname{Var}(\hat\delta) = \kappa / N, \qquad
    N = \kappa\,\frac{(z_{\alpha'} + z_{1-\beta})^2}{\delta^2},

with :math:`z_p = \Phi^{-1}(p)` quantiles of the standard normal,
:math:`\alpha' = 1-\alpha/2` (two-sided) or :math:`1-\alpha` (one-sided), and the method's
*unit variance* :math:`\kappa` (the variance of :math:`\hat\delta` times :math:`N`), which
depends neither on :math:`N`, nor on the power, :math:`\delta` or :math:`\alpha`.  So any one
of them follows in closed form from the others:

* power :math:`1-\beta = \Phi(|\delta|\sqrt{N/\kappa} - z_{\alpha'})`;
* effect :math:`\delta = (z_{\alpha'} + z_{1-\beta})\sqrt{\kappa/N}`;
* level from :math:`z_{\alpha'} = |\delta|\sqrt{N/\kappa} - z_{1-\beta}`.

As in R longpower, the two-sided power ignores the (negligible) probability of rejecting
in the wrong direction.  longpower solves the same equation with ``uniroot``; the closed
forms agree with it to its root-finding tolerance.

Sample sizes are reported unrounded (``n_total``, ``n_per_arm``) and, as the sample size to
plan, rounded up in each arm (``sample_size``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..checks import check_probability
from ..errors import DataError
from .checks import check_allocation, check_scale

ALTERNATIVES = ("two-sided", "one-sided")
SOLVABLE = ("n_total", "delta", "power", "alpha")
_ROUNDING_SLACK = 1e-9  # 87.000000001 subjects is 87, not 88


@dataclass(frozen=True)
class PowerResult:
    """An analytic power / sample-size calculation for a two-arm trial (read-only).

    Attributes
    ----------
    method : the formula used (``"lu-luo-chen"``, ``"lu-luo-chen-ar1"``, ``"diggle"``,
        ``"liu-liang"``, ``"edland"``).
    solved_for : which of ``n_total``, ``delta``, ``power``, ``alpha`` was computed.
    n_total : total number of subjects over both arms, unrounded.
    power, delta, alpha : power, treatment effect (absolute value when solved for), level.
    alternative : ``"two-sided"`` or ``"one-sided"``.
    allocation : :math:`\\lambda = N_a / N_b`.
    unit_variance : :math:`\\kappa`, the variance of the effect estimate times ``n_total``.
    inputs : the method's other inputs (correlation, retention, variances, ...), and the
        intermediate quantities it computed (e.g. ``phi_a``, ``phi_b`` of Lu, Luo & Chen).
    """

    method: str
    solved_for: str
    n_total: float
    power: float
    delta: float
    alpha: float
    alternative: str
    allocation: float
    unit_variance: float
    inputs: Mapping[str, object]

    @property
    def n_per_arm(self) -> tuple[float, float]:
        """Unrounded :math:`(N_a, N_b)`."""
        lam = self.allocation
        return self.n_total * lam / (1 + lam), self.n_total / (1 + lam)

    @property
    def sample_size(self) -> tuple[int, int]:
        """Subjects to plan per arm: each of :attr:`n_per_arm` rounded up (at least 1)."""
        return tuple(max(1, math.ceil(n - _ROUNDING_SLACK)) for n in self.n_per_arm)

    @property
    def se(self) -> float:
        r"""Standard error of the effect estimate at ``n_total``: :math:`\sqrt{\kappa/N}`."""
        return math.sqrt(self.unit_variance / self.n_total)

    @property
    def table(self) -> pd.DataFrame:
        """One row: ``method, solved_for, alternative, alpha, power, delta, se, allocation,
        n_a, n_b, n_total`` (unrounded) and ``sample_size_a, sample_size_b,
        sample_size_total`` (rounded up per arm)."""
        (n_a, n_b), (s_a, s_b) = self.n_per_arm, self.sample_size
        return pd.DataFrame([{
            "method": self.method, "solved_for": self.solved_for, "alternative": self.alternative,
            "alpha": self.alpha, "power": self.power, "delta": self.delta, "se": self.se,
            "allocation": self.allocation, "n_a": n_a, "n_b": n_b, "n_total": self.n_total,
            "sample_size_a": s_a, "sample_size_b": s_b, "sample_size_total": s_a + s_b,
        }])


def solve(method: str, unit_variance: Callable[[float], tuple[float, dict]], *, n_total: float | None,
          delta: float | None, power: float | None, alpha: float | None, alternative: str,
          allocation: float) -> PowerResult:
    r"""Solve :math:`N\delta^2 = \kappa (z_{\alpha'} + z_{1-\beta})^2` for the one argument that is None.

    The arguments are checked first (:mod:`trialmlm.power.checks`: numbers, not text;
    ``alpha`` and ``power`` in (0, 1); ``n_total``, ``|delta|`` and ``allocation`` in
    :data:`~trialmlm.power.checks.SCALE`), then ``unit_variance(allocation)`` (the checked
    :math:`\lambda`) returns :math:`\kappa` and the method's inputs for the result.  A
    solution outside the range of its argument (an ``alpha`` above 1, a ``power`` below the
    level of the test) is a DataError saying that no such value exists, as is one the
    arithmetic cannot represent.
    """
    given = {"n_total": n_total, "delta": delta, "power": power, "alpha": alpha}
    missing = [k for k, v in given.items() if v is None]
    if len(missing) != 1:
        state = f"None: {', '.join(missing)}" if missing else "none is None"
        raise DataError(f"exactly one of n_total, delta, power, alpha must be None (the one to solve "
                        f"for); {state}")
    if alternative not in ALTERNATIVES:
        raise DataError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    if power is not None:
        power = check_probability("power", power)
    if alpha is not None:
        alpha = check_probability("alpha", alpha)
    if n_total is not None:
        n_total = check_scale("n_total", n_total, "the total number of subjects")
    if delta is not None:
        delta = check_scale("delta", delta, "the treatment effect", signed=True)
    lam = check_allocation(allocation)
    kappa, inputs = unit_variance(lam)
    if not (np.isfinite(kappa) and kappa > 0):
        raise DataError(f"the variance of the effect estimate is not a positive number ({kappa}); check the "
                        "covariance and retention inputs")
    sides = 2.0 if alternative == "two-sided" else 1.0
    solved = missing[0]
    if solved in ("n_total", "delta") and norm.isf(alpha / sides) + norm.ppf(power) <= 0:
        raise DataError(f"no {solved} gives power {power:g}: with alpha = {alpha:g} ({alternative}) the "
                        f"power is at least {alpha / sides:g} for any n_total and delta")
    with np.errstate(over="ignore", under="ignore"):  # an unrepresentable solution is named below
        if solved == "n_total":
            n_total = kappa * (norm.isf(alpha / sides) + norm.ppf(power)) ** 2 / delta**2
        elif solved == "power":
            power = float(norm.cdf(abs(delta) * math.sqrt(n_total / kappa) - norm.isf(alpha / sides)))
        elif solved == "delta":
            delta = (norm.isf(alpha / sides) + norm.ppf(power)) * math.sqrt(kappa / n_total)
        else:
            alpha = sides * float(norm.sf(abs(delta) * math.sqrt(n_total / kappa) - norm.ppf(power)))
            if not 0 < alpha < 1:
                raise DataError(f"no alpha in (0, 1) gives power {power:g} with n_total = {n_total:g} and "
                                f"delta = {delta:g} ({alternative}; the equation gives alpha = {alpha:g})")
    value = {"n_total": n_total, "delta": delta, "power": power, "alpha": alpha}[solved]
    if not (np.isfinite(value) and value != 0):
        raise DataError(f"{solved} cannot be represented (the arithmetic gives {value}): the unit variance "
                        f"{kappa:g} and the other inputs are too extreme")
    return PowerResult(method=method, solved_for=solved, n_total=float(n_total), power=float(power),
                       delta=float(delta), alpha=float(alpha), alternative=alternative, allocation=lam,
                       unit_variance=float(kappa), inputs=MappingProxyType(dict(inputs)))
