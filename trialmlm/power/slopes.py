r"""Power of the difference in mean slopes of two arms (Diggle et al.; Liu & Liang; Edland).

Each subject is measured at times :math:`t_1..t_T` with covariance
:math:`V = Z G Z^\top + \sigma^2_e I`, :math:`Z = [1, t]`, :math:`G` the covariance of the
random intercept and slope (or an explicit :math:`V`); the mean is linear in time with an
arm-specific slope, and :math:`\delta` is the difference in slopes.  With :math:`X = [1, t]`:

* ``"diggle"`` (Diggle, Heagerty, Liang & Zeger 2002, section 2.4):
  :math:`\xi_g = [(X^\top V_g^{-1} X)^{-1}]_{22}`, :math:`\operatorname{Var}(\hat\delta) =
  \xi_a/N_a + \xi_b/N_b`.
* ``"liu-liang"`` (Liu & Liang 1997): the score-test information for the parameter of
  interest :math:`\psi` (arm × time) with nuisance :math:`\lambda` (intercept, arm, time);
  per subject of arm *g*, :math:`u_g = t\cdot[g = a]` and :math:`v_g = [1, [g = a], t]`,
  arm weights :math:`\pi_g = N_g/N`:

  .. math::

      I_{\psi\lambda} = \sum_g \pi_g u_g^\top V_g^{-1} v_g,\quad
      I_{\lambda\lambda} = \sum_g \pi_g v_g^\top V_g^{-1} v_g,\quad
      \Sigma_1 = \sum_g \pi_g (u_g - v_g I_{\lambda\lambda}^{-1} I_{\psi\lambda}^\top)^\top
                 V_g^{-1} (u_g - v_g I_{\lambda\lambda}^{-1} I_{\psi\lambda}^\top),

  :math:`N = (z_{\alpha'} + z_{1-\beta})^2 / (\delta^2 \Sigma_1)`, i.e. :math:`\kappa = 1/\Sigma_1`.
* ``"edland"`` (Edland 2009; Zhao & Edland): monotone dropout, a fraction
  :math:`p_k = r_k - r_{k+1}` of subjects last observed at visit *k* (retention :math:`r`):
  :math:`\xi_g = [(\sum_{k=2}^{T} p_k X_{[1:k]}^\top V_{g,[1:k]}^{-1} X_{[1:k]})^{-1}]_{22}`,
  :math:`\operatorname{Var}(\hat\delta) = \xi_a/N_a + \xi_b/N_b` (subjects with one
  observation are left out, as in longpower).

Without dropout the three coincide (the slope difference is the difference of the arms'
GLS slopes); they differ in their parameterisation in longpower.  The unit variance of
:mod:`trialmlm.power.result` is :math:`\kappa = (1+\lambda)(\xi_a/\lambda + \xi_b)`.

Arguments of :func:`power_slope` and their names in R longpower (docs/power.md):

==========================  =================================================================
trialmlm                    longpower
==========================  =================================================================
``n_total`` (both arms)     ``n`` per arm in ``lmmpower`` (``n_total = 2n``); arm *a*'s ``n`` in
                            ``edland.linear.power``
``times``                   ``t``
``var_intercept``           ``sig2.i`` (:math:`\sigma^2_0`)
``var_slope``               ``sig2.s`` (:math:`\sigma^2_1`)
``cov_intercept_slope``     ``cov.s.i`` (:math:`\sigma_{01}`)
``var_residual``            ``sig2.e`` (:math:`\sigma^2_e`)
``covariance`` (T, T)       ``R``
``retention`` :math:`r`     ``p`` :math:`= r_k - r_{k+1}` (``edland.linear.power``)
``allocation``              ``lambda`` (:math:`\lambda = N_a/N_b`); ``Pi`` of
                            ``liu.liang.linear.power`` is :math:`(\lambda, 1)/(1+\lambda)`
==========================  =================================================================

References: Diggle, P.J., Heagerty, P., Liang, K.-Y., Zeger, S.L. (2002). *Analysis of
Longitudinal Data*, 2nd ed., Oxford, p. 29.  Liu, G., Liang, K.-Y. (1997). Sample size
calculations for studies with correlated observations. *Biometrics* 53, 937-947.
Edland, S.D. (2009). Which MRI measure is best for Alzheimer's disease prevention trials:
statistical considerations of power and sample size. *Joint Stat Meeting Proceedings*.
R longpower ``lmmpower``, ``diggle.linear.power``, ``liu.liang.linear.power``,
``edland.linear.power``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np

from ..checks import real_number
from ..errors import DataError
from .checks import check_covariance, check_retention, check_times
from .result import PowerResult, solve

METHODS = ("diggle", "liu-liang", "edland")
_ARM_KEYS = ("var_intercept", "var_slope", "cov_intercept_slope", "var_residual", "covariance", "retention")


def slope_covariance(times: np.ndarray, var_intercept: float, var_slope: float, cov_intercept_slope: float,
                     var_residual: float) -> np.ndarray:
    r""":math:`V = Z G Z^\top + \sigma^2_e I` with :math:`Z = [1, t]`,
    :math:`G = \begin{pmatrix}\sigma^2_0 & \sigma_{01}\\ \sigma_{01} & \sigma^2_1\end{pmatrix}`."""
    z = np.column_stack([np.ones_like(times), times])
    g = np.array([[var_intercept, cov_intercept_slope], [cov_intercept_slope, var_slope]], dtype=float)
    return z @ g @ z.T + var_residual * np.eye(times.size)


def _arm_covariance(arm: str, times: np.ndarray, spec: Mapping, names: Mapping[str, str]) -> np.ndarray:
    """The arm's :math:`V`: ``spec["covariance"]`` or built from the variance components;
    ``names`` says how the caller wrote each key (``var_slope``, ``arm_b['var_slope']``)."""
    if spec.get("covariance") is not None:
        return check_covariance(names["covariance"], spec["covariance"], times.size)
    needed = [k for k in ("var_slope", "var_residual") if spec.get(k) is None]
    if needed:
        raise DataError(f"arm {arm}: give {' and '.join(needed)} (or covariance=, the matrix over the times)")
    v = slope_covariance(times, *(real_number(names[k], spec[k]) for k in _ARM_KEYS[:4]))
    return check_covariance(f"the covariance of arm {arm} built from its variance components", v)


def slope_variance(times: np.ndarray, v: np.ndarray) -> float:
    r"""Diggle's :math:`\xi = [(X^\top V^{-1} X)^{-1}]_{22}`, the variance of one subject's GLS slope."""
    x = np.column_stack([np.ones_like(times), times])
    return float(np.linalg.inv(x.T @ np.linalg.solve(v, x))[1, 1])


def edland_variance(times: np.ndarray, v: np.ndarray, retention: np.ndarray) -> float:
    r"""Edland's :math:`[(\sum_{k\ge2} p_k X_{[1:k]}^\top V_{[1:k]}^{-1} X_{[1:k]})^{-1}]_{22}`."""
    x = np.column_stack([np.ones_like(times), times])
    last = retention - np.append(retention[1:], 0.0)
    info = sum(last[k] * x[: k + 1].T @ np.linalg.solve(v[: k + 1, : k + 1], x[: k + 1])
               for k in range(1, times.size))
    return float(np.linalg.inv(info)[1, 1])


def liu_liang_information(times: np.ndarray, v_a: np.ndarray, v_b: np.ndarray, share_a: float) -> float:
    r"""Liu & Liang's :math:`\Sigma_1` per subject for the arm × time interaction (module docstring)."""
    ones, zeros = np.ones_like(times), np.zeros_like(times)
    arms = [(share_a, times[:, None], np.column_stack([ones, ones, times]), np.linalg.inv(v_a)),
            (1 - share_a, zeros[:, None], np.column_stack([ones, zeros, times]), np.linalg.inv(v_b))]
    i_pl = sum(p * u.T @ w @ v for p, u, v, w in arms)
    i_ll = sum(p * v.T @ w @ v for p, u, v, w in arms)
    proj = np.linalg.solve(i_ll, i_pl.T)
    return float(sum(p * (u - v @ proj).T @ w @ (u - v @ proj) for p, u, v, w in arms)[0, 0])


def _arm_b_spec(arm_b: Mapping[str, object] | None, spec_a: dict, method: str) -> tuple[dict, dict]:
    """Arm *b*'s values (arm *a*'s unless ``arm_b`` gives them; its own variance components
    replace arm *a*'s matrix) and the name of each as the caller wrote it, for the messages."""
    if arm_b is not None and not isinstance(arm_b, Mapping):
        raise DataError(f"arm_b must be a mapping name -> value of arm b ({', '.join(_ARM_KEYS)}), "
                        f"got {arm_b!r}")
    arm_b = dict(arm_b or {})
    unknown = sorted(set(arm_b) - set(_ARM_KEYS))
    if unknown:
        raise DataError(f"arm_b has unknown entries {', '.join(unknown)}; allowed: {', '.join(_ARM_KEYS)}")
    spec_b = {**spec_a, **arm_b}
    if "covariance" not in arm_b and any(k in arm_b for k in _ARM_KEYS[:4]):
        spec_b["covariance"] = None
    if method != "edland" and (spec_a["retention"] is not None or spec_b["retention"] is not None):
        raise DataError(f"retention (dropout) is supported by method='edland' only, not {method!r}")
    return spec_b, {k: f"arm_b['{k}']" if k in arm_b else k for k in _ARM_KEYS}


def _unit_variance(lam: float, method: str, times: Sequence[float], arms: tuple) -> tuple[float, dict]:
    r""":math:`\kappa` of ``method`` at allocation :math:`\lambda` (module docstring) and the
    inputs it came from; ``arms`` holds (values, names as written) of arm *a* and arm *b*."""
    t = check_times("times", times, minimum=2)
    v_a, v_b = (_arm_covariance(arm, t, spec, names) for arm, (spec, names) in zip("ab", arms))
    inputs = {"times": t, "covariance_a": v_a, "covariance_b": v_b}
    if method == "liu-liang":
        sigma1 = liu_liang_information(t, v_a, v_b, lam / (1 + lam))
        return 1 / sigma1, {**inputs, "sigma1": sigma1}
    if method == "diggle":
        xi_a, xi_b = slope_variance(t, v_a), slope_variance(t, v_b)
    else:
        r_a, r_b = (np.ones(t.size) if spec["retention"] is None else
                    check_retention(names["retention"], spec["retention"], t.size) for spec, names in arms)
        xi_a, xi_b = edland_variance(t, v_a, r_a), edland_variance(t, v_b, r_b)
        inputs.update(retention=r_a, retention_b=r_b)
    return (1 + lam) * (xi_a / lam + xi_b), {**inputs, "xi_a": xi_a, "xi_b": xi_b}


def power_slope(n_total: float | None = None, delta: float | None = None, power: float | None = None,
                alpha: float | None = 0.05, *, times: Sequence[float], method: str = "diggle",
                var_intercept: float = 0.0, var_slope: float | None = None, cov_intercept_slope: float = 0.0,
                var_residual: float | None = None, covariance=None, retention: Sequence[float] | None = None,
                arm_b: Mapping[str, object] | None = None, allocation: float = 1.0,
                alternative: str = "two-sided") -> PowerResult:
    r"""Power or sample size for a difference in mean slopes (longpower ``lmmpower`` and relatives).

    Exactly one of ``n_total``, ``delta``, ``power``, ``alpha`` is None and is solved for
    (see :mod:`trialmlm.power.result`); the formulas, and the arguments' longpower names, are
    in :mod:`trialmlm.power.slopes`.

    Parameters
    ----------
    n_total : total number of subjects, both arms.
    delta : difference in mean slopes (per unit of ``times``).
    power, alpha : power and level of the test.
    times : the visit times :math:`t_1 < \dots < t_T`.
    method : "diggle", "liu-liang" or "edland".
    var_intercept, var_slope, cov_intercept_slope, var_residual : :math:`\sigma^2_0`,
        :math:`\sigma^2_1`, :math:`\sigma_{01}`, :math:`\sigma^2_e`.
    covariance : explicit (T, T) covariance :math:`V` over the times instead of the
        variance components.
    retention : probability of being observed at each time, non-increasing (``"edland"``
        only); default no dropout.
    arm_b : values that differ in arm *b*, by the names above (``var_intercept``,
        ``var_slope``, ``cov_intercept_slope``, ``var_residual``, ``covariance``,
        ``retention``); the others are arm *a*'s.
    allocation : :math:`\lambda = N_a/N_b`.
    alternative : "two-sided" or "one-sided".

    Returns
    -------
    PowerResult
        ``inputs`` holds the covariance matrices ``covariance_a``, ``covariance_b`` and the
        per-subject slope variances ``xi_a``, ``xi_b`` (``"diggle"``, ``"edland"``) or the
        information ``sigma1`` (``"liu-liang"``).

    Examples
    --------
    >>> res = power_slope(delta=1.5, power=0.8, times=[0, 0.5, 1, 1.5], var_intercept=55,
    ...                   var_slope=24, cov_intercept_slope=29, var_residual=10)
    >>> res.sample_size
    (224, 224)
    """
    if method not in METHODS:
        raise DataError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    spec_a = {"var_intercept": var_intercept, "var_slope": var_slope,
              "cov_intercept_slope": cov_intercept_slope, "var_residual": var_residual,
              "covariance": covariance, "retention": retention}
    arms = ((spec_a, {k: k for k in _ARM_KEYS}), _arm_b_spec(arm_b, spec_a, method))
    return solve(method, partial(_unit_variance, method=method, times=times, arms=arms), n_total=n_total,
                 delta=delta, power=power, alpha=alpha, alternative=alternative, allocation=allocation)
