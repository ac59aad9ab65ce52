r"""Covariances of g-computation (standardised) arm means: one registry, :data:`METHODS`.

Notation (:class:`Counterfactuals`): subjects :math:`i`, arms :math:`a, b` of the
treatment, visits :math:`v, w` (one "visit" for a single-visit model); :math:`S_v` the
subjects with a response at visit :math:`v`, :math:`n_v = |S_v|`;
:math:`p_{iva} = g^{-1}(x_{iv}(a)^\top\hat\beta + o_{iv})` the prediction for subject
:math:`i` at visit :math:`v` with its treatment set to :math:`a`;
:math:`\hat\theta_{va} = n_v^{-1}\sum_{i\in S_v} p_{iva}` the standardised mean.  The
covariance of the stacked :math:`\hat\theta` (visit-major) is computed by

* ``Ge`` (Ge et al. 2011, Drug Inf J 45:481-493; SAS %Margins; beeca ``method = "Ge"``):
  the delta method for :math:`\hat\beta` with the covariates held fixed,
  :math:`J\,\widehat{\mathrm{Cov}}(\hat\beta)\,J^\top`,
  :math:`J_{va} = n_v^{-1}\sum_{i\in S_v}(d\mu/d\eta)_{iva}\,x_{iv}(a)^\top`.
  :math:`\widehat{\mathrm{Cov}}(\hat\beta)` is ``vcov="model"``: :math:`H^{-1}`, the
  model-based covariance with the scale at its ML value 1 (binomial, Poisson), which is
  what the SAS macros use (= beeca ``type = "model-based"``); or ``vcov="robust"``: the
  GEE's empirical sandwich (for one row per subject, = ``sandwich::vcovHC(type = "HC0")``,
  beeca's default).
* ``Ye`` (Ye, Bannick, Yi & Shao 2023, Stat Theory Relat Fields 7:159-163; beeca
  ``method = "Ye"``; RobinCar2 ``robin_glm``): the moment estimator of the covariance of
  the influence functions :math:`\psi_{iva} = 1\{A_i = a\}\pi_a^{-1}(y_{iv} - p_{iva}) +
  p_{iva} - \theta_{va}`, valid when the working model is misspecified, provided every
  arm's residuals at every visit sum to zero ("prediction unbiasedness": a canonical
  link, the treatment (by visit) in the model, and an independence working correlation;
  checked).  Over the subjects :math:`S_{vw} = S_v\cap S_w` (:math:`n_{vw}` of them,
  :math:`\pi_a` the share of arm :math:`a` among them), with :math:`\mathrm{cov}_a` the
  sample covariance (divisor :math:`n_a - 1`) over the subjects of arm :math:`a` and
  :math:`\mathrm{cov}` over all of them,

  .. math::

     B_{ab}^{vw} = \frac{\delta_{ab}}{\pi_a}\{\mathrm{cov}_a(y_v, y_w) - \mathrm{cov}_a(y_v, p_{wa})
     - \mathrm{cov}_a(p_{va}, y_w) + \mathrm{cov}(p_{va}, p_{wa})\} + \mathrm{cov}_a(y_v, p_{wb})
     + \mathrm{cov}_b(p_{va}, y_w) - \mathrm{cov}(p_{va}, p_{wb})

  and :math:`\mathrm{Cov}(\hat\theta_{va}, \hat\theta_{wb}) = n_{vw}(B^{vw} -
  E^{vw})_{ab}/(n_vn_w)`.  For :math:`v = w` this is beeca's ``varcov_ye`` (``mod = FALSE``)
  on the visit's data, to the letter.  :math:`E` is zero under simple randomisation; with
  ``strata`` (permuted blocks within strata :math:`z`; Ye, Shao, Yi & Zhao 2023, JASA
  118:2370-2382, formula 18; beeca ``ye_strata_adjustment``) :math:`E^{vw} = \sum_z (n_z/n_{vw})\,
  R_{zv}(\mathrm{diag}\,\pi - \pi\pi^\top)R_{zw}` with :math:`R_{zv} =
  \mathrm{diag}_a(\bar r_{zva}/\pi_a)`, :math:`\bar r_{zva}` the mean residual
  :math:`y_{iv} - \hat\mu_{iv}` of arm :math:`a` in stratum :math:`z`.
* ``influence``: the empirical covariance of the influence functions of the estimator
  itself, :math:`\sum_i\psi_i\psi_i^\top` with :math:`\psi_{iva} = 1\{i\in S_v\}(p_{iva} -
  \hat\theta_{va})/n_v + J_{va}H^{-1}U_i`, :math:`U_i` subject :math:`i`'s contribution
  to the GEE's estimating equations and :math:`H` their information (the bread of the
  GEE's sandwich; :mod:`.scoring`).  It needs no prediction unbiasedness, so it applies to
  any working correlation; for one row per subject it equals ``Ye`` to first order
  (not in finite samples) and adds to ``Ge`` (robust) the variability of the covariates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

UNBIASED_TOL = 1e-6  # largest mean residual of an arm at a visit that counts as zero


@dataclass(frozen=True)
class Counterfactuals:
    """Per subject and visit (arrays (n, V), zero where not observed): ``observed``, ``y``,
    ``fitted`` :math:`\\hat\\mu`; ``predicted`` (n, V, K) :math:`p_{iva}`; ``arm`` (n,)
    codes; ``J`` (V*K, p) the Jacobian of the stacked means; ``U`` (n, p) and ``H`` of the
    GEE (module docstring)."""

    arms: tuple
    visits: tuple
    observed: np.ndarray
    y: np.ndarray
    fitted: np.ndarray
    predicted: np.ndarray
    arm: np.ndarray
    J: np.ndarray
    U: np.ndarray
    H: np.ndarray

    @property
    def n_visit(self) -> np.ndarray:
        """:math:`n_v`."""
        return self.observed.sum(axis=0)

    @property
    def means(self) -> np.ndarray:
        """The stacked :math:`\\hat\\theta_{va}` (visit-major)."""
        return (self.predicted.sum(axis=0) / self.n_visit[:, None]).ravel()


@dataclass(frozen=True)
class VarianceMethod:
    """A covariance of the stacked means: ``name``, what it equals in R / SAS, and
    ``compute(cf, beta_cov, strata)``."""

    name: str
    equals: str
    compute: Callable[..., np.ndarray]


def ge(cf: Counterfactuals, beta_cov: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    """:math:`J\\,\\widehat{\\mathrm{Cov}}(\\hat\\beta)\\,J^\\top` (module docstring)."""
    return cf.J @ beta_cov @ cf.J.T


def influence(cf: Counterfactuals, beta_cov: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    """:math:`\\sum_i\\psi_i\\psi_i^\\top` (module docstring)."""
    n, V, K = cf.predicted.shape
    centred = (cf.predicted - cf.means.reshape(V, K)) * cf.observed[:, :, None] / cf.n_visit[None, :, None]
    psi = centred.reshape(n, V * K) + cf.U @ np.linalg.solve(cf.H, cf.J.T)
    return psi.T @ psi


def check_unbiased(cf: Counterfactuals) -> None:
    """DataError unless every arm's residuals sum to zero at every visit (``Ye``)."""
    resid = (cf.y - cf.fitted) * cf.observed
    for k in range(len(cf.arms)):
        mine = cf.observed & (cf.arm == k)[:, None]
        mean = resid[cf.arm == k].sum(axis=0) / np.maximum(mine.sum(axis=0), 1)
        worst = int(np.argmax(np.abs(mean)))
        if abs(mean[worst]) > UNBIASED_TOL:
            at = "" if len(cf.visits) == 1 else f" at visit {cf.visits[worst]!r}"
            raise DataError(f"method='Ye' needs the residuals of every arm to sum to zero (prediction "
                            f"unbiasedness); the mean residual of arm {cf.arms[k]!r}{at} is "
                            f"{mean[worst]:.3g}. "
                            "Use a canonical link with the treatment (by visit) in the model and an "
                            "independence working correlation, or method='influence'")


def _arm_covariances(s: np.ndarray, t: np.ndarray, arm: np.ndarray, K: int) -> np.ndarray:
    """(K, ...) per arm :math:`\\mathrm{cov}_a(s, t)` (divisor :math:`n_a - 1`) of the
    columns of ``s`` (n, q) and ``t`` (n, r): shape (K, q, r)."""
    out = []
    for a in range(K):
        sa, ta = s[arm == a], t[arm == a]
        out.append((sa - sa.mean(axis=0)).T @ (ta - ta.mean(axis=0)) / (len(sa) - 1))
    return np.array(out)


def _ye_block(yv, yw, Pv, Pw, rv, rw, arm, arms, strata) -> np.ndarray:
    """:math:`B^{vw} - E^{vw}` over the subjects given (module docstring)."""
    K = len(arms)
    n = arm.size
    pi = np.bincount(arm, minlength=K) / n
    cpp = (Pv - Pv.mean(axis=0)).T @ (Pw - Pw.mean(axis=0)) / (n - 1)
    cyy = _arm_covariances(yv[:, None], yw[:, None], arm, K)[:, 0, 0]
    cyp = _arm_covariances(yv[:, None], Pw, arm, K)[:, 0, :]  # [a, b] = cov_a(y_v, p_wb)
    cpy = _arm_covariances(Pv, yw[:, None], arm, K)[:, :, 0]  # [a, b] = cov_a(p_vb, y_w)
    idx = np.arange(K)
    B = cyp + cpy.T - cpp
    B[idx, idx] += (cyy - cyp[idx, idx] - cpy[idx, idx] + cpp[idx, idx]) / pi
    if strata is not None:
        B -= _strata_adjustment(rv, rw, arm, arms, strata, pi)
    return B


def _strata_adjustment(rv, rw, arm, arms, strata, pi) -> np.ndarray:
    """:math:`E^{vw}` (module docstring), with DataError for a stratum without an arm."""
    K = len(arms)
    omega = np.diag(pi) - np.outer(pi, pi)
    codes, labels = strata
    E = np.zeros((K, K))
    for z in np.unique(codes):
        inz = codes == z
        count = np.bincount(arm[inz], minlength=K)
        if (count == 0).any():
            raise DataError(f"stratum {labels[z]!r} has no subject in arm(s) "
                            f"{', '.join(repr(a) for a, c in zip(arms, count) if c == 0)}: "
                            "stratified randomisation puts subjects of every arm in every stratum")
        Rv = np.bincount(arm[inz], weights=rv[inz], minlength=K) / count / pi
        Rw = np.bincount(arm[inz], weights=rw[inz], minlength=K) / count / pi
        E += inz.mean() * (Rv[:, None] * omega * Rw[None, :])
    return E


def ye(cf: Counterfactuals, beta_cov: np.ndarray, strata: tuple | None) -> np.ndarray:
    """The ``Ye`` covariance of the stacked means, block by pair of visits (module docstring)."""
    check_unbiased(cf)
    n, V, K = cf.predicted.shape
    resid = cf.y - cf.fitted
    out = np.zeros((V * K, V * K))
    nv = cf.n_visit
    for v in range(V):
        for w in range(v, V):
            both = cf.observed[:, v] & cf.observed[:, w]
            if both.sum() < 2:
                continue
            arm = cf.arm[both]
            if (np.bincount(arm, minlength=K) < 2).any():
                raise DataError(f"method='Ye' needs two subjects of every arm at visit(s) "
                                f"{sorted({cf.visits[v], cf.visits[w]}, key=str)!r}")
            sub = None if strata is None else (strata[0][both], strata[1])
            block = _ye_block(cf.y[both, v], cf.y[both, w], cf.predicted[both, v], cf.predicted[both, w],
                              resid[both, v], resid[both, w], arm, cf.arms, sub)
            block = block * both.sum() / (nv[v] * nv[w])
            out[v * K:(v + 1) * K, w * K:(w + 1) * K] = block
            out[w * K:(w + 1) * K, v * K:(v + 1) * K] = block.T
    return out


METHODS: dict[str, VarianceMethod] = {m.name: m for m in (
    VarianceMethod("Ye", "beeca get_marginal_effect(method = 'Ye'); RobinCar2 robin_glm", ye),
    VarianceMethod("Ge", "SAS %Margins (vcov='model'); beeca method = 'Ge', type = 'HC0' (vcov='robust')",
                   ge),
    VarianceMethod("influence", "sum of squared influence functions of the g-computation estimator",
                   influence),
)}


def get_method(name: str) -> VarianceMethod:
    """The registry entry of ``name`` (DataError listing the methods otherwise)."""
    if name not in METHODS:
        raise DataError(f"method must be one of {', '.join(map(repr, METHODS))}; got {name!r}")
    return METHODS[name]
