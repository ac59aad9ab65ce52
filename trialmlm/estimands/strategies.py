r"""Imputation strategies: the joint distribution a subject's missing visits are drawn from.

Carpenter, Roger & Kenward (2013), as implemented in R rbmi (``strategy_*`` and
``compute_sigma``).  A subject of arm :math:`a` whose last observed visit is the
:math:`d`-th (visits :math:`1..d` are "MAR", :math:`d+1..K` follow the intercurrent event
of dropping out) has under the fitted imputation model the mean
:math:`\mu_a = X_i(a)\beta` and covariance :math:`\Sigma_a`; :math:`\mu_r, \Sigma_r` are
the same subject's mean with the arm set to the reference and the reference arm's
covariance.  Each strategy returns the joint :math:`(\tilde\mu, \tilde\Sigma)`; the
missing visits are then drawn from its conditional distribution given the observed
ones (intermittent gaps before :math:`d` included).

================================  ============================================  ======================
strategy                          mean after the event, :math:`j > d`            covariance
================================  ============================================  ======================
``mar``                           :math:`\mu_{a,j}`                              :math:`\Sigma_a`
``jump_to_reference``             :math:`\mu_{r,j}`                              :math:`\tilde\Sigma`
``copy_reference``                :math:`\mu_{r,j}` (also for :math:`j \le d`)   :math:`\Sigma_r`
``copy_increments_in_reference``  :math:`\mu_{a,d} + \mu_{r,j} - \mu_{r,d}`      :math:`\tilde\Sigma`
``last_mean_carried_forward``     :math:`\mu_{a,d}`                              :math:`\Sigma_a`
================================  ============================================  ======================

For J2R and CIR with arm-specific covariances (SAS ``GROUP=`` on the arm), the
pre-event block keeps the own arm's covariance and the post-event part follows the
reference conditionally on it (1 = visits :math:`\le d`, 2 = after):

.. math::
    \tilde\Sigma_{11} = \Sigma_{a,11},\quad
    \tilde\Sigma_{21} = \Sigma_{r,21}\Sigma_{r,11}^{-1}\Sigma_{a,11},\quad
    \tilde\Sigma_{22} = \Sigma_{r,22} - \Sigma_{r,21}\Sigma_{r,11}^{-1}
        (\Sigma_{r,11} - \Sigma_{a,11})\Sigma_{r,11}^{-1}\Sigma_{r,12}.

With one common covariance every strategy uses it.  :math:`d = 0` (no observed visit)
gives the reference distribution for J2R, CR and CIR; LMCF then has no mean to carry.

**User-defined strategies** (R rbmi's ``strategies()`` / ``getStrategies()``): a function
``f(own, ref, index_mar) -> (mu, sigma)`` of one subject, with ``own`` and ``ref`` the
subject's :class:`Moments` under its own arm and under the reference arm and ``index_mar``
the (K,) boolean mask of the visits before the event, returns the joint mean (K,) and
covariance (K, K) (:class:`UserStrategy`; e.g. rbmi's ``strategy_AVG``:
``mu = where(index_mar, own.mu, (own.mu + ref.mu) / 2)``, ``sigma = own.sigma``).  Both
kinds answer :meth:`Strategy.joint` for a block of subjects that share their covariance
groups and :math:`d`; the covariance a function returns may depend on the covariances and
``index_mar`` only (as every rbmi strategy), so it must be the same for every subject of
a block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import DataError


def _own(sigma_own: np.ndarray, sigma_ref: np.ndarray, d: int) -> np.ndarray:
    return sigma_own


def _reference(sigma_own: np.ndarray, sigma_ref: np.ndarray, d: int) -> np.ndarray:
    return sigma_ref


def _conditional_on_own(sigma_own: np.ndarray, sigma_ref: np.ndarray, d: int) -> np.ndarray:
    """:math:`\\tilde\\Sigma` of J2R and CIR (rbmi ``compute_sigma``)."""
    k = sigma_own.shape[0]
    if d == k or np.array_equal(sigma_own, sigma_ref):
        return sigma_own
    if d == 0:
        return sigma_ref
    a11, r11, r21, r22 = sigma_own[:d, :d], sigma_ref[:d, :d], sigma_ref[d:, :d], sigma_ref[d:, d:]
    coef = np.linalg.solve(r11, r21.T).T  # Sigma_r21 Sigma_r11^-1
    s21 = coef @ a11
    s22 = r22 - coef @ (r11 - a11) @ coef.T
    return np.block([[a11, s21.T], [s21, s22]])


def _mean_mar(mu_own, mu_ref, d):
    return mu_own


def _mean_j2r(mu_own, mu_ref, d):
    after = np.arange(mu_own.shape[1])[None, :] >= d[:, None]
    return np.where(after, mu_ref, mu_own)


def _mean_cr(mu_own, mu_ref, d):
    return mu_ref


def _last(mu, d):
    return np.take_along_axis(mu, np.maximum(d - 1, 0)[:, None], axis=1)


def _mean_cir(mu_own, mu_ref, d):
    after = np.arange(mu_own.shape[1])[None, :] >= d[:, None]
    shifted = _last(mu_own, d) + mu_ref - _last(mu_ref, d)
    return np.where(d[:, None] == 0, mu_ref, np.where(after, shifted, mu_own))


def _mean_lmcf(mu_own, mu_ref, d):
    after = np.arange(mu_own.shape[1])[None, :] >= d[:, None]
    return np.where(after, _last(mu_own, d), mu_own)


@dataclass(frozen=True)
class Strategy:
    """One imputation strategy: its name, label, mean rule and covariance rule.

    ``mean(mu_own, mu_ref, d)`` works on (subjects, visits) arrays with ``d`` the
    number of visits up to the last observed one; ``covariance(sigma_own, sigma_ref, d)``
    on one pair of (visits, visits) matrices.
    """

    name: str
    label: str
    mean: Callable
    covariance: Callable
    needs_reference: bool
    needs_observation: bool = False

    def joint(self, mu_own: np.ndarray, mu_ref: np.ndarray, sigma_own: np.ndarray, sigma_ref: np.ndarray,
              d: int) -> tuple[np.ndarray, np.ndarray]:
        """Joint means (m, K) of ``m`` subjects with ``d`` MAR visits and their common covariance."""
        return self.mean(mu_own, mu_ref, np.full(len(mu_own), d)), self.covariance(sigma_own, sigma_ref, d)


class Moments(NamedTuple):
    """A subject's mean trajectory ``mu`` (K,) and covariance ``sigma`` (K, K) under one arm
    (rbmi's ``pars_group`` / ``pars_ref``); unpacks as ``mu, sigma``, so a strategy function
    may return one."""

    mu: np.ndarray
    sigma: np.ndarray


@dataclass(frozen=True)
class UserStrategy:
    """A user-defined strategy: ``function(own, ref, index_mar) -> (mu, sigma)`` per subject.

    ``own``, ``ref``: :class:`Moments` (copies: the function may change them);
    ``index_mar``: (K,) bool, True for the visits before the event (all True for a subject
    without missing visits after it).  The result is checked: ``mu`` K finite numbers,
    ``sigma`` a symmetric positive definite (K, K) matrix, the same for all subjects with
    the same covariance groups and event visit; otherwise a :class:`DataError` names the
    strategy.  The reference arm's moments are always passed, so ``reference=`` is needed.
    """

    label: str
    function: Callable
    needs_reference: bool = True
    needs_observation: bool = False

    @property
    def name(self) -> str:
        return self.label

    def joint(self, mu_own: np.ndarray, mu_ref: np.ndarray, sigma_own: np.ndarray, sigma_ref: np.ndarray,
              d: int) -> tuple[np.ndarray, np.ndarray]:
        """Joint means (m, K) from one call of the function per subject, and the common covariance."""
        m, k = mu_own.shape
        index_mar = np.arange(k) < d
        mu = np.empty((m, k))
        sigma = None
        for i in range(m):
            result = self.function(Moments(mu_own[i].copy(), sigma_own.copy()),
                                   Moments(mu_ref[i].copy(), sigma_ref.copy()), index_mar.copy())
            mu[i], this = self._check(result, k)
            if sigma is None:
                sigma = this
            elif not np.allclose(this, sigma, rtol=1e-12, atol=0.0):
                raise DataError(f"strategy {self.label!r} returned different covariances for subjects "
                                f"with the same covariances and {d} visit(s) before the event; the "
                                "covariance may depend on sigma and index_mar only")
        return mu, sigma

    def _check(self, result, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, sigma)`` as float arrays; DataError for a wrong shape, an asymmetric or not positive
        definite ``sigma``."""
        try:
            mu, sigma = result
            mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"strategy {self.label!r} must return (mu, sigma), e.g. a Moments; got "
                            f"{type(result).__name__}") from None
        if mu.shape != (k,):
            raise DataError(f"strategy {self.label!r} returned a mean of shape {mu.shape}; it needs {k} "
                            "values, one per visit")
        if sigma.shape != (k, k):
            raise DataError(f"strategy {self.label!r} returned a covariance of shape {sigma.shape}; it needs "
                            f"({k}, {k})")
        if not np.isfinite(sigma).all():
            raise DataError(f"strategy {self.label!r} returned a covariance with non-finite values")
        if not np.allclose(sigma, sigma.T, rtol=1e-10, atol=1e-12 * np.abs(sigma).max()):
            raise DataError(f"strategy {self.label!r} returned a covariance that is not symmetric")
        try:
            np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            raise DataError(f"strategy {self.label!r} returned a covariance that is not positive "
                            "definite") from None
        return mu, sigma


STRATEGIES = {s.name: s for s in (
    Strategy("mar", "MAR", _mean_mar, _own, needs_reference=False),
    Strategy("jump_to_reference", "Jump to reference", _mean_j2r, _conditional_on_own, needs_reference=True),
    Strategy("copy_reference", "Copy reference", _mean_cr, _reference, needs_reference=True),
    Strategy("copy_increments_in_reference", "Copy increments in reference", _mean_cir, _conditional_on_own,
             needs_reference=True),
    Strategy("last_mean_carried_forward", "Last mean carried forward", _mean_lmcf, _own,
             needs_reference=False, needs_observation=True),
)}
