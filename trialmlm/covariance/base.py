r"""The common interface of residual covariance structures.

Notation (SAS PROC MIXED, REPEATED statement): the residual covariance of subject
*i* is the sub-matrix :math:`\Sigma_i = \Sigma[v_i, v_i]` of a structured matrix
:math:`\Sigma(\phi)` over the visits (or, for spatial structures, a function of the
distances between the subject's coordinates).  :math:`\phi` are the parameters in
SAS's parameterisation and naming (``UN(2,1)``, ``AR(1)``, ``Residual`` ...); the
optimiser works on an unconstrained :math:`\theta` with :math:`\phi = \phi(\theta)`.

A structure supplies :math:`\Sigma`, :math:`\partial\Sigma/\partial\phi` and
:math:`\partial^2\Sigma/\partial\phi^2` (``None`` when :math:`\Sigma` is linear in
:math:`\phi`), the map :math:`\theta\to\phi` with its derivatives, and starting
values from moment estimates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from .transforms import Bounded, Positive, ThetaMap, compose, elementwise

CORRELATION = Bounded(-1.0, 1.0)
VARIANCE = Positive()

Derivatives = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


class CovarianceStructure(ThetaMap, ABC):
    """A residual covariance structure for one group of subjects.

    Parameters
    ----------
    n : int
        Number of visits (visit-indexed structures) or number of coordinates
        (spatial structures).
    grouped : bool
        Whether the structure is one of several per-group matrices (SAS ``GROUP=``);
        SAS names some parameters differently then.

    Attributes
    ----------
    residual : the residual structure :math:`R` (the structure itself; the wrapped one for
        :class:`~trialmlm.covariance.random_effects.RandomEffects`, :math:`ZGZ^\\top + R`).
    g : the random-effects covariance :math:`G` shared by the groups' structures (None without
        random effects).
    """

    name: ClassVar[str]
    sas_type: ClassVar[str]
    description: ClassVar[str]
    heterogeneous: ClassVar[bool] = False
    spatial: ClassVar[bool] = False
    linear: ClassVar[bool] = False
    min_positions: ClassVar[int] = 2

    def __init__(self, n: int, grouped: bool = False):
        self.n = int(n)
        self.grouped = bool(grouped)
        self.residual = self
        self.g = None

    # -- parameters -------------------------------------------------------------
    @abstractmethod
    def param_names(self) -> list[str]:
        """SAS names of the covariance parameters, in the order of :math:`\\phi`."""

    @property
    def n_params(self) -> int:
        return len(self.param_names())

    def variance_mask(self) -> np.ndarray:
        """Which parameters are variances (one-sided COVTEST p-values in SAS)."""
        def is_variance(name: str) -> bool:
            if name.startswith("UN("):
                a, b = name[3:-1].split(",")
                return a == b
            return name.startswith("Var(") or name in ("Residual", "Variance")
        return np.array([is_variance(n) for n in self.param_names()], dtype=bool)

    @abstractmethod
    def maps(self) -> list:
        """Elementwise maps from :math:`\\theta` to the natural parameters :math:`\\psi`."""

    def natural_to_phi(self, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """SAS parameters from natural ones; identity unless a structure overrides it.

        Returns ``(phi, jac, hess)`` with ``jac``/``hess`` ``None`` for the identity.
        """
        return psi, None, None

    def phi_to_natural(self, phi: np.ndarray) -> np.ndarray:
        return phi

    def theta_to_phi(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:math:`\\phi(\\theta)`, its Jacobian (n, n) and Hessians (n, n, n)."""
        psi, d1, d2 = elementwise(self.maps(), theta)
        phi, jac_h, hess_h = self.natural_to_phi(psi)
        if jac_h is None:
            n = psi.size
            jac = np.diag(d1)
            hess = np.zeros((n, n, n))
            hess[np.arange(n), np.arange(n), np.arange(n)] = d2
            return phi, jac, hess
        jac, hess = compose(d1, d2, jac_h, hess_h)
        return phi, jac, hess

    def phi_to_theta(self, phi: np.ndarray) -> np.ndarray:
        psi = self.phi_to_natural(np.asarray(phi, dtype=float))
        return np.array([m.inverse(p) for m, p in zip(self.maps(), psi)])

    # -- matrices ---------------------------------------------------------------
    @abstractmethod
    def blocks(self, phi: np.ndarray, geometry: np.ndarray, order: int) -> Derivatives:
        """Covariance blocks for a stack of patterns.

        Parameters
        ----------
        phi : SAS parameters.
        geometry : (m, k) visit indices, or (m, k, k) distances for spatial structures.
        order : 0, 1 or 2 — how many derivatives in :math:`\\phi` to return.

        Returns
        -------
        S : (m, k, k);  dS : (n_phi, m, k, k) or None;  d2S : (n_phi, n_phi, m, k, k) or None.
        """

    @abstractmethod
    def start(self, parts) -> np.ndarray:
        """Starting :math:`\\phi` from moments ``[(geometry, C, count), ...]``.

        ``C`` (m, k, k) holds :math:`\\sum_i r_i r_i^\\top` of OLS residuals for the
        subjects of each pattern and ``count`` (m,) their number.
        """


class VisitStructure(CovarianceStructure):
    """A structure defined on the full visits-by-visits matrix :math:`\\Sigma(\\phi)`."""

    @abstractmethod
    def full(self, phi: np.ndarray, order: int) -> Derivatives:
        """:math:`\\Sigma` (T, T) and its derivatives (n_phi, T, T), (n_phi, n_phi, T, T)."""

    def matrix(self, phi: np.ndarray) -> np.ndarray:
        return self.full(phi, 0)[0]

    def blocks(self, phi, geometry, order):
        sig, d1, d2 = self.full(phi, order)
        r, c = geometry[:, :, None], geometry[:, None, :]
        return (
            sig[r, c],
            None if d1 is None else d1[:, r, c],
            None if d2 is None else d2[:, :, r, c],
        )

    def start(self, parts) -> np.ndarray:
        cov = pairwise_covariance(parts, self.n)
        phi = np.asarray(self.start_from_cov(cov), dtype=float)
        if not is_positive_definite(self.matrix(phi)):
            phi = np.asarray(self.start_from_cov(np.diag(np.diag(cov))), dtype=float)
        return phi

    @abstractmethod
    def start_from_cov(self, cov: np.ndarray) -> np.ndarray:
        """Moment-based :math:`\\phi` from a positive definite (T, T) covariance."""


def pairwise_covariance(parts, n: int) -> np.ndarray:
    """Pairwise-complete covariance over visits from pattern moments, made positive definite.

    Pairs of visits never observed together get correlation 0.  Eigenvalues of the
    correlation matrix are clipped at 0.05 so that the result is positive definite.
    """
    total = np.zeros((n, n))
    count = np.zeros((n, n))
    for idx, c, m in parts:
        r, s = idx[:, :, None], idx[:, None, :]
        np.add.at(total, (r, s), c)
        np.add.at(count, (r, s), np.broadcast_to(m[:, None, None], c.shape))
    var = np.diag(total) / np.maximum(np.diag(count), 1)
    var = np.where(var > 0, var, np.mean(var[var > 0]) if np.any(var > 0) else 1.0)
    cov = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    sd = np.sqrt(var)
    corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    corr = np.clip(corr, -0.95, 0.95)
    np.fill_diagonal(corr, 1.0)
    w, vec = np.linalg.eigh(corr)
    corr = (vec * np.maximum(w, 0.05)) @ vec.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    return corr * np.outer(sd, sd)


def is_positive_definite(a: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.isfinite(a)))


def mean_correlation(cov: np.ndarray, lag: int | None = None) -> float:
    """Average off-diagonal correlation of ``cov`` (at one lag if given)."""
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    n = corr.shape[0]
    if lag is None:
        return float((corr.sum() - n) / max(n * (n - 1), 1))
    return float(np.mean(np.diagonal(corr, lag))) if lag < n else 0.0


def variance_first(grouped: bool, pair):
    """A (correlation parameter, variance) pair in SAS's print order: under ``GROUP=`` SAS
    prints the variance first, named ``Variance`` (``CS``, ``AR(1)``)."""
    return pair[::-1] if grouped else pair


def homogeneous(var: float, corr: np.ndarray, dcorr: np.ndarray, d2corr: np.ndarray | None,
                order: int) -> Derivatives:
    r""":math:`\Sigma = \sigma^2 R(\rho)` with parameters ordered :math:`(\rho_1..\rho_r, \sigma^2)`.

    ``dcorr`` is (r, ...) and ``d2corr`` (r, r, ...) or None (R linear in rho).
    """
    sig = var * corr
    if order == 0:
        return sig, None, None
    d1 = np.concatenate([var * dcorr, corr[None]], axis=0)
    if order == 1:
        return sig, d1, None
    r = dcorr.shape[0]
    d2 = np.zeros((r + 1, r + 1) + corr.shape)
    if d2corr is not None:
        d2[:r, :r] = var * d2corr
    d2[:r, r] = dcorr
    d2[r, :r] = dcorr
    return sig, d1, d2


def heterogeneous(var: np.ndarray, corr: np.ndarray, dcorr: np.ndarray, d2corr: np.ndarray | None,
                  order: int) -> Derivatives:
    r""":math:`\Sigma = D^{1/2} R(\rho) D^{1/2}`, :math:`D = \mathrm{diag}(\sigma^2_1..\sigma^2_T)`.

    Parameters are ordered :math:`(\sigma^2_1..\sigma^2_T, \rho_1..\rho_r)` as in SAS's
    ``Var(1) ... Var(T)`` followed by the correlation parameters.
    """
    q = np.sqrt(var)
    n = q.size
    scale = np.outer(q, q)
    sig = scale * corr
    if order == 0:
        return sig, None, None
    u = 0.5 / q
    eye = np.eye(n)
    # dscale[a, b, c] = d(q_b q_c)/d var_a
    dscale = (eye[:, :, None] * (u[:, None, None] * q[None, None, :])
              + eye[:, None, :] * (q[None, :, None] * u[:, None, None]))
    r = dcorr.shape[0]
    d1 = np.concatenate([dscale * corr[None], scale[None] * dcorr], axis=0)
    if order == 1:
        return sig, d1, None
    w = -0.25 / q**3
    d2 = np.zeros((n + r, n + r, n, n))
    # second derivatives of q_b q_c in (var_a, var_d)
    for a in range(n):
        blk = np.zeros((n, n))
        blk[a, :] += w[a] * q
        blk[:, a] += w[a] * q
        blk[a, a] += 2 * u[a] ** 2
        d2[a, a] = blk * corr
        for d in range(a + 1, n):
            blk = np.zeros((n, n))
            blk[a, d] = blk[d, a] = u[a] * u[d]
            d2[a, d] = d2[d, a] = blk * corr
    mixed = dscale[:, None] * dcorr[None]  # (n, r, T, T)
    d2[:n, n:] = mixed
    d2[n:, :n] = mixed.transpose(1, 0, 2, 3)
    if d2corr is not None:
        d2[n:, n:] = scale * d2corr
    return sig, d1, d2
