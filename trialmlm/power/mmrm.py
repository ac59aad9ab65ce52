r"""Power of the MMRM comparison at the last visit under monotone dropout (Lu, Luo & Chen 2008).

A subject of arm *g* is observed at visits :math:`1..j` and lost afterwards with probability
:math:`r_j - r_{j+1}` (retention :math:`r_j`, :math:`r_{T+1} = 0`).  With correlation matrix
:math:`R` over the :math:`T` visits and SD :math:`\sigma` at the last visit, the
information of one subject about the visit means is

.. math::

    I = \sum_{j=1}^{T} (r_j - r_{j+1}) \begin{pmatrix} R_{[1:j]}^{-1} & 0 \\ 0 & 0 \end{pmatrix},
    \qquad \phi = (I^{-1})_{TT},

and the last-visit difference has :math:`\operatorname{Var}(\hat\delta) = \sigma^2(\phi_a/N_a
+ \phi_b/N_b)` — formula (3) of Lu, Luo & Chen (2008); without dropout :math:`\phi = 1`.
For AR(1), :math:`R_{jk} = \rho^{|t_j - t_k|}`, their closed form is

.. math::

    \phi = \frac{1}{r_T} - \sum_{j=1}^{T-1} \rho^{2(t_T - t_j)}
           \Big(\frac{1}{r_{j+1}} - \frac{1}{r_j}\Big).

The unit variance of :mod:`trialmlm.power.result` is
:math:`\kappa = \sigma^2 (1+\lambda)(\phi_a/\lambda + \phi_b)`.

Reference: Lu, K., Luo, X., Chen, P.-Y. (2008). Sample size estimation for repeated
measures analysis in randomized clinical trials with missing data. *International Journal
of Biostatistics* 4(1), article 9.  R longpower ``power.mmrm`` and ``power.mmrm.ar1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .checks import (
        check_correlation,
    check_correlation_coefficient,
    check_retention,
    check_scale,
    check_times,
)
from .result import PowerResult, solve


def lu_luo_chen_phi(correlation: np.ndarray, retention: np.ndarray) -> float:
    r""":math:`\phi = (I^{-1})_{TT}` of Lu, Luo & Chen's formula (3) (see the module docstring)."""
    t = retention.size
    drop = retention - np.append(retention[1:], 0.0)
    info = np.zeros((t, t))
    for j in np.flatnonzero(drop):
        info[: j + 1, : j + 1] += drop[j] * np.linalg.inv(correlation[: j + 1, : j + 1])
    return float(np.linalg.inv(info)[-1, -1])


def ar1_phi(rho: float, retention: np.ndarray, times: np.ndarray) -> float:
    r"""Lu, Luo & Chen's closed-form :math:`\phi` for AR(1) correlation :math:`\rho^{|t_j-t_k|}`."""
    r = retention
    return float(1 / r[-1] - np.sum(rho ** (2 * (times[-1] - times[:-1])) * (1 / r[1:] - 1 / r[:-1])))


def _sd(sd) -> float:
    return check_scale("sd", sd, "the standard deviation at the last visit")


def _kappa(sd: float, phi_a: float, phi_b: float, allocation: float) -> float:
    return sd**2 * (1 + allocation) * (phi_a / allocation + phi_b)


def power_mmrm(n_total: float | None = None, delta: float | None = None, power: float | None = None,
               alpha: float | None = 0.05, *, correlation, retention: Sequence[float], sd: float,
               correlation_b=None, retention_b: Sequence[float] | None = None, allocation: float = 1.0,
               alternative: str = "two-sided") -> PowerResult:
    r"""Power or sample size of the MMRM treatment difference at the last visit (Lu, Luo & Chen 2008).

    Exactly one of ``n_total``, ``delta``, ``power``, ``alpha`` is None and is solved for
    (see :mod:`trialmlm.power.result`); as R longpower ``power.mmrm``.

    Parameters
    ----------
    n_total : total number of subjects, both arms (longpower's ``N``).
    delta : treatment difference at the last visit.
    power, alpha : power and level of the test.
    correlation : (T, T) correlation matrix over the visits in arm *a* (longpower ``Ra``).
    retention : probability of being observed at each visit in arm *a*, non-increasing
        (``ra``).
    sd : standard deviation at the last visit (``sigmaa``), common to both arms.  (longpower
        averages ``sigmaa`` and ``sigmab`` when both are given: pass that mean.)
    correlation_b, retention_b : the same for arm *b* (``Rb``, ``rb``); default arm *a*'s.
    allocation : :math:`\lambda = N_a/N_b` (``lambda``).
    alternative : "two-sided" or "one-sided".

    Returns
    -------
    PowerResult
        ``inputs`` holds ``phi_a`` and ``phi_b``.

    Examples
    --------
    >>> import numpy as np
    >>> R = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
    >>> res = power_mmrm(delta=0.5, power=0.8, correlation=R, retention=[1, 0.9, 0.8, 0.7], sd=1)
    >>> round(res.n_total, 3), res.sample_size
    (173.984, (87, 87))
    """
    def unit_variance(lam: float):
        corr_a = check_correlation("correlation", correlation)
        ra = check_retention("retention", retention, corr_a.shape[0])
        rb = ra if retention_b is None else check_retention("retention_b", retention_b, ra.size)
        corr_b = (corr_a if correlation_b is None
                  else check_correlation("correlation_b", correlation_b, ra.size))
        phi_a, phi_b = lu_luo_chen_phi(corr_a, ra), lu_luo_chen_phi(corr_b, rb)
        return _kappa(_sd(sd), phi_a, phi_b, lam), {
            "correlation": corr_a, "correlation_b": corr_b, "retention": ra, "retention_b": rb,
            "sd": _sd(sd), "phi_a": phi_a, "phi_b": phi_b}

    return solve("lu-luo-chen", unit_variance, n_total=n_total, delta=delta, power=power, alpha=alpha,
                 alternative=alternative, allocation=allocation)


def power_mmrm_ar1(n_total: float | None = None, delta: float | None = None, power: float | None = None,
                   alpha: float | None = 0.05, *, rho: float, retention: Sequence[float], sd: float,
                   times: Sequence[float] | None = None, retention_b: Sequence[float] | None = None,
                   allocation: float = 1.0, alternative: str = "two-sided") -> PowerResult:
    r"""As :func:`power_mmrm`, AR(1) correlation :math:`\rho^{|t_j - t_k|}` (longpower ``power.mmrm.ar1``).

    Parameters
    ----------
    rho : AR(1) correlation between visits one time unit apart, in (-1, 1).
    times : visit times :math:`t_1 < \dots < t_T`; default ``1, ..., T``.
    Others as :func:`power_mmrm`; ``inputs`` holds ``phi_a`` and ``phi_b`` of the closed form.
    """
    def unit_variance(lam: float):
        ra = check_retention("retention", retention, np.size(retention))
        rb = ra if retention_b is None else check_retention("retention_b", retention_b, ra.size)
        t = np.arange(1.0, ra.size + 1) if times is None else check_times("times", times, ra.size)
        r = check_correlation_coefficient("rho", rho)
        phi_a, phi_b = ar1_phi(r, ra, t), ar1_phi(r, rb, t)
        return _kappa(_sd(sd), phi_a, phi_b, lam), {
            "rho": r, "times": t, "retention": ra, "retention_b": rb, "sd": _sd(sd),
            "phi_a": phi_a, "phi_b": phi_b}

    return solve("lu-luo-chen-ar1", unit_variance, n_total=n_total, delta=delta, power=power, alpha=alpha,
                 alternative=alternative, allocation=allocation)

