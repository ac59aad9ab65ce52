r"""The REML / ML objective of the marginal model and its analytic derivatives.

Model: :math:`y_i = X_i\beta + \varepsilon_i`, :math:`\varepsilon_i \sim N(0, V_i)`,
:math:`V_i = W_i^{-1/2}\Sigma_i(\phi)W_i^{-1/2}` (SAS ``WEIGHT``).  With
:math:`A = X^\top V^{-1}X`, :math:`\hat\beta = A^{-1}X^\top V^{-1}y` and
:math:`r = y - X\hat\beta`, the objective is SAS's ``-2 Res Log Likelihood``

.. math::
    -2\ell_R = (n-p)\log 2\pi + \log|V| + \log|A| + r^\top V^{-1} r

or, for ML, ``-2 Log Likelihood`` :math:`= n\log 2\pi + \log|V| + r^\top V^{-1}r`
(:math:`\beta` profiled out in both).  With :math:`P = V^{-1} - V^{-1}XA^{-1}X^\top V^{-1}`
and :math:`V_k = \partial V/\partial\phi_k` the derivatives are (Searle, Casella &
McCulloch 1992, ch. 6; REML shown, ML replaces :math:`P` by :math:`V^{-1}` in the traces)

.. math::
    \partial_k = \operatorname{tr}(PV_k) - y^\top PV_kPy, \qquad
    \partial_{kl} = \operatorname{tr}(PV_{kl}) - \operatorname{tr}(PV_kPV_l)
                   + 2y^\top PV_kPV_lPy - y^\top PV_{kl}Py .

Every likelihood of the package implements :class:`MarginalLikelihood`: the one-level
:class:`Likelihood` (subject blocks) here, several grouping factors in
:mod:`trialmlm.engine.multilevel`.  Callers ask it for the marginal covariance of each
independent cluster and the :math:`G` matrices of the outer factors instead of asking
which kind they hold.

Everything is computed per missingness pattern from the moments :math:`M_P`
(:mod:`trialmlm.engine.moments`): with :math:`\Omega_P = \Sigma_P^{-1}`,
:math:`C_P = \sum_{i\in P} r_ir_i^\top` and :math:`G_P = \sum_{i\in P}X_iA^{-1}X_i^\top`,
the gradient is :math:`\sum_P \operatorname{tr}(E_P\,\partial_k\Sigma_P)` with
:math:`E_P = m_P\Omega_P - \Omega_P(C_P + G_P)\Omega_P`; the Hessian's terms of each batch
in :mod:`trialmlm.engine.second_order` (sparse moments and derivatives where they pay).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..covariance import CovarianceStructure
from .moments import Batch
from .parameters import ParameterMap
from .second_order import flat_moments, second_order_terms

LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class Evaluation:
    """Objective (-2 log-likelihood) and by-products at one :math:`\\phi`.

    ``jac_info[k]`` is :math:`B_k = X^\\top V^{-1}V_kV^{-1}X = -\\partial A/\\partial\\phi_k`,
    so that :math:`\\partial\\,\\mathrm{Cov}(\\hat\\beta)/\\partial\\phi_k = A^{-1}B_kA^{-1}`.
    """

    value: float
    beta: np.ndarray
    cov_beta: np.ndarray
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    jac_info: np.ndarray | None = None


def profile_beta(info: np.ndarray, p: int, base: float,
                 reml: bool) -> tuple[float, np.ndarray, np.ndarray] | None:
    r"""Profile :math:`\beta` out of the objective from :math:`[X\,y]^\top V^{-1}[X\,y]` (``info``).

    With :math:`A` = ``info[:p, :p]``: :math:`\hat\beta = A^{-1}X^\top V^{-1}y`, value =
    ``base`` (constant + log|V|) :math:`+ y^\top V^{-1}y - \hat\beta^\top X^\top V^{-1}y`
    :math:`(+\log|A|` for REML); returns (value, beta, A^{-1}), or None if A is not PD.
    """
    try:
        chol_a = np.linalg.cholesky(info[:p, :p])
    except np.linalg.LinAlgError:
        return None
    ainv = np.linalg.inv(chol_a)
    ainv = ainv.T @ ainv
    beta = ainv @ info[:p, p]
    value = base + float(info[p, p] - info[:p, p] @ beta)
    if reml:
        value += float(2.0 * np.log(np.diagonal(chol_a)).sum())
    return value, beta, ainv


def residual_kernel(beta: np.ndarray, ainv: np.ndarray, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`u = (-\hat\beta, 1)` and :math:`K = uu^\top` (plus :math:`A^{-1}` on the X block
    for REML), so that :math:`[X\,y]K[X\,y]^\top = rr^\top\,(+ XA^{-1}X^\top)`, the
    :math:`C + G` of the gradient."""
    p = beta.size
    u = np.append(-beta, 1.0)
    k_mat = np.outer(u, u)
    if reml:
        k_mat[:p, :p] += ainv
    return u, k_mat


def independence_deviance_of_sums(cross: np.ndarray, n: int, log_weights: float, reml: bool) -> float:
    r""":func:`independence_deviance` from :math:`[X\,y]^\top W[X\,y]` (``cross``), the number
    of rows and :math:`\sum\log w`: :math:`S = y^\top Wy - \hat\beta^\top X^\top Wy`."""
    p = cross.shape[0] - 1
    beta = np.linalg.solve(cross[:p, :p], cross[:p, p])
    rss = float(cross[p, p] - cross[:p, p] @ beta)
    dof = n - p if reml else n
    value = dof * (LOG_2PI + np.log(rss / dof) + 1.0) - log_weights
    if reml:
        value += float(np.linalg.slogdet(cross[:p, :p])[1])
    return float(value)


def independence_deviance(X: np.ndarray, y: np.ndarray, weights: np.ndarray, reml: bool) -> float:
    r"""Minimum of the objective under :math:`V = \sigma^2W^{-1}` (SAS's null model), in closed form.

    With the weighted residual sum of squares :math:`S = r^\top Wr` at the weighted
    least-squares :math:`\hat\beta` and :math:`n^* = n - p` (REML) or :math:`n` (ML),
    :math:`\hat\sigma^2 = S/n^*` and

    .. math::
        -2\ell = n^*(\log 2\pi + \log\hat\sigma^2 + 1) - \sum\log w
                  \;[+ \log|X^\top WX| \text{ for REML}].
    """
    root = np.sqrt(np.asarray(weights, dtype=float))
    xw, yw = X * root[:, None], y * root
    beta = np.linalg.lstsq(xw, yw, rcond=None)[0]
    rss = float(np.sum((yw - xw @ beta) ** 2))
    n, p = X.shape
    dof = n - p if reml else n
    value = dof * (LOG_2PI + np.log(rss / dof) + 1.0) - float(np.log(weights).sum())
    if reml:
        value += float(np.linalg.slogdet(xw.T @ xw)[1])
    return float(value)


@dataclass(frozen=True)
class PatternBlock:
    r""":math:`\Sigma_P`, its derivatives in :math:`\phi`, :math:`\Omega_P = \Sigma_P^{-1}` for a batch."""

    batch: Batch
    sigma: np.ndarray
    d1: np.ndarray | None
    d2: np.ndarray | None
    omega: np.ndarray
    chol: np.ndarray  # L with Sigma_P = L L' (lower triangular)
    logdet: float  # sum over the batch's subjects of log|Sigma_P|


@dataclass(frozen=True)
class OuterDesign:
    r"""Outer random effects in subject-local form (see :mod:`trialmlm.engine.multilevel`).

    Attributes
    ----------
    columns : (n_subjects, R) global column of :math:`u` of each local column.
    z : (n_obs, R) :math:`\tilde Z` rows (weighted by :math:`\sqrt w`), rows like y.
    offsets : (F + 1,) start of each factor's block in :math:`u`.
    sizes : (F,) levels :math:`L_f`.
    nested : (F,) whether every subject meets one level of the factor only.

    Without outer factors (:meth:`empty`): :math:`R = Q = F = 0`.
    """

    columns: np.ndarray
    z: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    nested: np.ndarray

    @classmethod
    def empty(cls, n_subjects: int, n_obs: int) -> OuterDesign:
        """No outer factors: zero columns for every subject and row."""
        return cls(np.zeros((n_subjects, 0), dtype=np.int64), np.zeros((n_obs, 0)),
                   np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))


@dataclass(frozen=True)
class Woodbury:
    r"""The outer-factor quantities of :mod:`trialmlm.engine.multilevel` at one :math:`\phi`:
    :math:`T = Z_o^\top\Omega Z_o`, :math:`S = Z_o^\top\Omega[X\,y]`,
    :math:`K = (G_o^{-1} + T)^{-1}`, ``info`` :math:`= [X\,y]^\top V^{-1}[X\,y]`, ``logdet``
    :math:`= \log|V|` (weighted scale), ``g`` the :math:`G_f` per factor and ``blocks`` the
    subject blocks.  Without outer factors :math:`T, S, K` have no rows and ``g`` is empty.
    """

    blocks: list[PatternBlock]
    g: list[np.ndarray]
    t: np.ndarray
    s: np.ndarray
    k: np.ndarray
    info: np.ndarray
    logdet: float


class MarginalLikelihood(ABC):
    r"""The interface every likelihood implements, one grouping factor or several.

    The marginal covariance of :math:`y` is block-diagonal over independent clusters
    *c*: :math:`V = \mathrm{blockdiag}_c(V_c)`, the subjects for one grouping factor,
    the connected components of the subjects sharing an outer level otherwise
    (:meth:`clusters`).  Within a cluster
    :math:`V_c = Z_{oc}G_oZ_{oc}^\top + \mathrm{blockdiag}_{i\in c}W_i^{-1/2}\Sigma_iW_i^{-1/2}`
    with :math:`G_o = \mathrm{blockdiag}_f(I_{L_f}\otimes G_f)` over the outer factors
    (none for one level: :meth:`g_matrices` is empty, ``outer`` has no columns).

    Attributes
    ----------
    batches : the subjects' pattern batches (:mod:`trialmlm.engine.moments`).
    structures : the subject-level structures, then the outer factors' ``covariances``.
    covariances : :math:`G_f` structure of each outer factor (empty for one level).
    outer : the outer factors' design (:class:`OuterDesign`; empty for one level).
    parameters, n_params : layout and number of the parameters :math:`\phi`.
    n_obs, p, reml, constant : observations, rank of X, REML or ML, the constant of -2 log L.
    n_clusters : number of independent clusters.
    """

    batches: list[Batch]
    structures: list
    covariances: list
    outer: OuterDesign
    parameters: ParameterMap
    n_params: int
    n_obs: int
    p: int
    reml: bool
    constant: float
    n_clusters: int

    @property
    @abstractmethod
    def subject_level(self) -> Likelihood:
        """The likelihood of the subject blocks alone (itself for one grouping factor)."""

    @abstractmethod
    def split(self, phi: np.ndarray) -> list[np.ndarray]:
        """Each structure's parameters (subject-level structures, then outer factors)."""

    @abstractmethod
    def ols_moments(self) -> list:
        """Residual moments at the OLS estimate, per group: ``[(geometry, C, count), ...]``."""

    @abstractmethod
    def start(self) -> np.ndarray:
        """Starting values of the outer factors' parameters (empty for one level)."""

    @abstractmethod
    def pattern_blocks(self, phi: np.ndarray, order: int = 0) -> list[PatternBlock] | None:
        r"""The subject blocks :math:`\Sigma_P` of every batch; None if one is not PD."""

    @abstractmethod
    def g_matrices(self, phi: np.ndarray) -> list[np.ndarray]:
        """:math:`G_f` of each outer factor, in formula order (empty for one level)."""

    @abstractmethod
    def woodbury(self, phi: np.ndarray, order: int = 0) -> Woodbury | None:
        """The quantities of :class:`Woodbury` at ``phi``; None where not positive definite."""

    @abstractmethod
    def evaluate(self, phi: np.ndarray, order: int = 0) -> Evaluation | None:
        r"""Objective and (``order`` >= 1) gradient, (``order`` = 2) Hessian in :math:`\phi`."""

    @abstractmethod
    def kenward_roger_terms(self, phi: np.ndarray, w: np.ndarray, linear: bool) -> np.ndarray:
        r""":math:`\sum_{hj}W_{hj}(Q_{hj} - \tfrac14R_{hj})` of Kenward & Roger (1997), p x p."""

    @abstractmethod
    def clusters(self) -> np.ndarray:
        """Independent cluster (0, 1, ...) of each subject."""

    @abstractmethod
    def cluster_covariances(self, phi: np.ndarray,
                            max_elements: int = 2**22) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        r"""Dense marginal covariance :math:`V_c` of every independent cluster on the
        unweighted scale (the class docstring).

        Yields ``(rows, v)`` for chunks of clusters of similar size: ``rows`` (m, k) data rows
        of each cluster (-1 pads to the chunk's largest cluster :math:`k`), ``v`` (m, k, k)
        with the identity on the padding; at most about ``max_elements`` entries per chunk.
        """


class OneFactorLikelihood(MarginalLikelihood):
    """A likelihood with one grouping factor, the subjects: each subject its own cluster, no
    outer factors (their :math:`G` and starting values are empty)."""

    @property
    def subject_level(self) -> OneFactorLikelihood:
        return self

    def split(self, phi: np.ndarray) -> list[np.ndarray]:
        """Each group's structure parameters, in the structure's order."""
        return self.parameters.split(phi)

    def start(self) -> np.ndarray:
        return np.zeros(0)

    def g_matrices(self, phi: np.ndarray) -> list[np.ndarray]:
        return []

    def clusters(self) -> np.ndarray:
        """Each subject is its own cluster."""
        return np.arange(self.n_clusters)


class Likelihood(OneFactorLikelihood):
    """REML or ML objective for fixed data, as a function of the covariance parameters:
    one grouping factor, the subjects (:class:`MarginalLikelihood` with one cluster per
    subject and no outer factors).

    Parameters
    ----------
    batches : pattern batches from :func:`trialmlm.engine.moments.build_batches`.
    structures : one covariance structure per group; :math:`\\phi` is their parameters
        concatenated in group order or, for random effects with a per-group residual
        structure, the common G's parameters followed by each group's residual ones
        (:class:`~trialmlm.engine.parameters.ParameterMap`, ``parameters``).
    weights : (n_obs,) row weights :math:`w` (SAS ``WEIGHT``; ones without), rows like y; or,
        for batches reduced from partitions without their rows, ``(n_obs, sum of log w)``
        (no per-subject quantities then: :meth:`cluster_covariances` needs the rows).
    n_fixed : rank of X.
    reml : REML (True) or ML (False).
    """

    def __init__(self, batches: list[Batch], structures: list[CovarianceStructure],
                 weights: np.ndarray | tuple[int, float], n_fixed: int, reml: bool = True):
        self.batches = batches
        self.structures = structures
        self.covariances = []
        if isinstance(weights, tuple):
            self.weights, (n_obs, log_weights) = None, weights
        else:
            self.weights = np.asarray(weights, dtype=float)
            n_obs, log_weights = self.weights.size, float(np.log(self.weights).sum())
        self.n_obs = n_obs
        self.p = n_fixed
        self.reml = reml
        self.parameters = ParameterMap(structures)
        self.n_params = self.parameters.n_params
        self.n_clusters = int(sum(b.count.sum() for b in batches))
        self.outer = OuterDesign.empty(self.n_clusters, 0 if self.weights is None else n_obs)
        dof = n_obs - n_fixed if reml else n_obs
        self.constant = dof * LOG_2PI - log_weights

    @cached_property
    def flat_moments(self) -> list:
        """Each batch's moments as an (m k^2, q^2) matrix, sparse where mostly zeros
        (:func:`trialmlm.engine.second_order.flat_moments`)."""
        return [flat_moments(b.moments) for b in self.batches]

    def ols_moments(self):
        q = self.p + 1
        info = np.zeros((q, q))
        for b in self.batches:
            info += np.einsum("maaij->ij", b.moments)
        beta = np.linalg.solve(info[: self.p, : self.p], info[: self.p, self.p])
        u = np.append(-beta, 1.0)
        parts = [[] for _ in self.structures]
        for b in self.batches:
            m, k = b.count.size, b.moments.shape[1]
            c = (b.moments.reshape(m * k * k, q * q) @ np.outer(u, u).ravel()).reshape(m, k, k)
            parts[b.group].append((b.geometry, c, b.count))
        return parts

    def pattern_blocks(self, phi: np.ndarray, order: int = 0) -> list[PatternBlock] | None:
        """Covariance block, its derivatives and inverse for every batch; None if not PD."""
        phis = self.split(np.asarray(phi, dtype=float))
        out = []
        for b in self.batches:
            sig, d1, d2 = self.structures[b.group].blocks(phis[b.group], b.geometry, order)
            try:
                chol = np.linalg.cholesky(sig)
            except np.linalg.LinAlgError:
                return None
            diag = np.diagonal(chol, axis1=1, axis2=2)
            if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
                return None
            try:  # numerically singular despite a Cholesky factor: not PD in practice
                omega = np.linalg.inv(sig)
            except np.linalg.LinAlgError:
                return None
            omega = 0.5 * (omega + omega.transpose(0, 2, 1))
            logdet = float(2.0 * (b.count * np.log(diag).sum(axis=1)).sum())
            out.append(PatternBlock(b, sig, d1, d2, omega, chol, logdet))
        return out

    def woodbury(self, phi: np.ndarray, order: int = 0) -> Woodbury | None:
        """Subject blocks, :math:`[X\\,y]^\\top V^{-1}[X\\,y] = \\sum_P\\Omega_P\\cdot M_P` and
        :math:`\\log|V|`; no outer quantities.  None where some :math:`\\Sigma_P` is not PD."""
        blocks = self.pattern_blocks(phi, order)
        if blocks is None:
            return None
        q = self.p + 1
        info = np.zeros(q * q)
        for blk, flat in zip(blocks, self.flat_moments):
            info += blk.omega.ravel() @ flat
        empty = np.zeros((0, 0))
        return Woodbury(blocks, [], empty, np.zeros((0, q)), empty, info.reshape(q, q),
                        float(sum(blk.logdet for blk in blocks)))

    def cluster_covariances(self, phi: np.ndarray, max_elements: int = 2**22):
        r""":math:`V_i = W_i^{-1/2}\Sigma_iW_i^{-1/2}` of every subject, batch by batch (no padding)."""
        isw = 1.0 / np.sqrt(self.weights)
        for blk in self.pattern_blocks(phi, 0):
            b = blk.batch
            step = max(1, max_elements // b.rows.shape[1] ** 2)
            for lo in range(0, b.rows.shape[0], step):
                rows = b.rows[lo:lo + step]
                yield rows, blk.sigma[b.pattern[lo:lo + step]] * isw[rows][:, :, None] * isw[rows][:, None, :]

    def evaluate(self, phi: np.ndarray, order: int = 0) -> Evaluation | None:
        """Objective and (``order`` >= 1) gradient, (``order`` = 2) Hessian in :math:`\\phi`.

        Returns None where some :math:`\\Sigma_P` is not positive definite.  Every
        contraction over the visit axes is one matrix product with the flattened moments.
        """
        q, p = self.p + 1, self.p
        wb = self.woodbury(phi, order)
        if wb is None:
            return None
        profiled = profile_beta(wb.info, p, self.constant + wb.logdet, self.reml)
        if profiled is None:
            return None
        value, beta, ainv = profiled
        if order == 0:
            return Evaluation(value, beta, ainv)

        u, k_mat = residual_kernel(beta, ainv, self.reml)
        n = self.n_params
        grad = np.zeros(n)
        hess = np.zeros((n, n)) if order >= 2 else None
        jac_info = np.zeros((n, p, p)) if order >= 2 else None
        score = np.zeros((n, p)) if order >= 2 else None
        for blk, flat in zip(wb.blocks, self.flat_moments):
            b, sig, d1, d2, omega = blk.batch, blk.sigma, blk.d1, blk.d2, blk.omega
            at, at2 = self.parameters.at(b.group), self.parameters.at2(b.group)
            r = d1.shape[0]
            cg = (flat @ k_mat.ravel()).reshape(omega.shape)  # C_P + G_P
            e = b.count[:, None, None] * omega - omega @ cg @ omega
            grad[at] += d1.reshape(r, -1) @ e.ravel()
            if order < 2:
                continue
            if d2 is not None:
                hess[at2] += (d2.reshape(r * r, -1) @ e.ravel()).reshape(r, r)
            h, t = second_order_terms(d1, omega, 2.0 * cg - b.count[:, None, None] * sig, flat)
            hess[at2] += h
            t = t.reshape(r, q, q)
            jac_info[at] += t[:, :p, :p]
            score[at] += t[:, :p, :] @ u
        if order >= 2:
            hess -= 2.0 * score @ ainv @ score.T
            if self.reml:
                c = ainv[None] @ jac_info
                flat_c = c.reshape(n, -1)  # tr(C_k C_l) as one matrix product (BLAS; T(T+1)/2 parameters)
                hess -= flat_c @ c.transpose(0, 2, 1).reshape(n, -1).T
            hess = 0.5 * (hess + hess.T)
        return Evaluation(value, beta, ainv, grad, hess, jac_info)

    def kenward_roger_terms(self, phi: np.ndarray, w: np.ndarray, linear: bool) -> np.ndarray:
        r""":math:`\sum_{hj}W_{hj}(Q_{hj} - \tfrac14R_{hj})` of Kenward & Roger (1997), p x p.

        :math:`Q_{hj} = X^\top V^{-1}V_hV^{-1}V_jV^{-1}X`, :math:`R_{hj} = X^\top
        V^{-1}V_{hj}V^{-1}X` (dropped when ``linear``); :math:`V` is block-diagonal over
        subjects, so both are sums over patterns of the moments contracted with
        :math:`\sum_{hj}W_{hj}\Omega_P\partial_h\Sigma_P\Omega_P\partial_j\Sigma_P\Omega_P`
        and :math:`\sum_{hj}W_{hj}\Omega_P\partial^2_{hj}\Sigma_P\Omega_P`
        (:math:`W` restricted to the parameters of the pattern's structure).
        """
        p, q = self.p, self.p + 1
        total = np.zeros((p, p))
        for blk, flat in zip(self.pattern_blocks(phi, 1 if linear else 2), self.flat_moments):
            b = blk.batch
            wg = w[self.parameters.at2(b.group)]
            u = blk.omega[None] @ blk.d1  # Omega S_j
            y = np.tensordot(wg, u, axes=([1], [0]))  # sum_j W_hj Omega S_j
            t = np.einsum("hmab,hmbc->mac", blk.d1, y)  # sum_hj W_hj S_h Omega S_j
            inner = blk.omega @ t @ blk.omega
            if not linear and blk.d2 is not None:
                r = np.tensordot(wg, blk.d2, axes=([0, 1], [0, 1]))  # sum_hj W_hj S_hj
                inner = inner - 0.25 * blk.omega @ r @ blk.omega
            total += (inner.ravel() @ flat).reshape(q, q)[:p, :p]
        return total
