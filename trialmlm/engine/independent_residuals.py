r"""Random effects of the subject with independent residuals, by per-subject sufficient statistics.

Model (one grouping factor, :math:`R_i = \sigma^2 I`, ``Y ~ ARM * TIME + (1 + TIME | ID)``),
on the weighted scale :math:`z = W^{1/2}[X\,y]`, :math:`Z_i \leftarrow W_i^{1/2}Z_i`:

.. math::  \Sigma_i = Z_iGZ_i^\top + \sigma^2 I_{k_i}.

With :math:`G = LL^\top` (any square factor, so that a singular :math:`G` at the boundary
is allowed), :math:`M_i = \sigma^2 I_q + L^\top Q_iL` and :math:`H_i = LM_i^{-1}L^\top`
(Woodbury; Bates et al. 2015, *J. Stat. Softw.* 67(1), section 3):

.. math::
    \Omega_i = \Sigma_i^{-1} = \sigma^{-2}(I - Z_iH_iZ_i^\top), \qquad
    \log|\Sigma_i| = (k_i - q)\log\sigma^2 + \log|M_i| .

Every quantity of the REML/ML objective, its gradient and Hessian
(:mod:`trialmlm.engine.likelihood`) is then a function of the per-subject cross-products
:math:`Q_i = Z_i^\top Z_i` (q x q), :math:`T_i = Z_i^\top[X_i\,y_i]` (q x (p+1)), the total
:math:`C = \sum_i[X_i\,y_i]^\top[X_i\,y_i]`, :math:`k_i` and :math:`n`.  Powers of
:math:`\Omega_i` stay in that form: :math:`\Omega_i^m = \sigma^{-2m}(I - Z_iW_{m,i}Z_i^\top)`
with :math:`W_1 = H`, :math:`W_{m+1} = W_m + H - W_mQH`, so that

.. math::
    \sum_i[X\,y]_i^\top\Omega_i^m[X\,y]_i = \sigma^{-2m}\Big(C - \sum_iT_i^\top W_{m,i}T_i\Big),\quad
    Z_i^\top\Omega_iZ_i = \sigma^{-2}Q_i(I - H_iQ_i),\quad
    Z_i^\top\Omega_i[X\,y]_i = \sigma^{-2}(T_i - Q_iH_iT_i).

The data are reduced once (:func:`subject_sums`, one pass over the rows chunk by chunk,
``np.add.reduceat`` over the subjects' rows); an evaluation costs :math:`O(Nq^2(p+1)^2)`
for :math:`N` subjects, whatever their numbers of visits, against one pattern per subject
in the pattern path when visit times are irregular.  The subjects' covariance matrices
(sandwich, residual diagnostics) come straight from the rows, subjects of equal numbers
of rows together.  Where :math:`G` is indefinite or :math:`\sigma^2 \le 0` (user-given
parameters), or a consumer asks for pattern batches (containment df, ``pattern_blocks``),
the pattern likelihood of :mod:`trialmlm.engine.likelihood` is built on first use and
answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..covariance.random_effects import RandomEffects
from .design import Design
from .likelihood import (
    LOG_2PI,
    Evaluation,
    Likelihood,
    OneFactorLikelihood,
    OuterDesign,
    PatternBlock,
    Woodbury,
    profile_beta,
    residual_kernel,
)
from .moments import build_batches, chunk_bounds, weighted_rows
from .parameters import ParameterMap
from .threads import blas_threads

INDEFINITE = 1e-12  # smallest eigenvalue of G below -INDEFINITE * largest: G is not a covariance


@dataclass(frozen=True)
class SubjectSums:
    r"""Per-subject cross-products on the weighted scale (module docstring), the subjects on
    the last axis (so that the batched q x q algebra runs along contiguous vectors).

    Attributes
    ----------
    ztz : (q, q, N) :math:`Q_i = Z_i^\top Z_i`.
    ztc : (q, p + 1, N) :math:`T_i = Z_i^\top[X_i\,y_i]`.
    cross : (p + 1, p + 1) :math:`C = \sum_i[X_i\,y_i]^\top[X_i\,y_i]`.
    rows : (N,) :math:`k_i`, rows per subject.
    """

    ztz: np.ndarray
    ztc: np.ndarray
    cross: np.ndarray
    rows: np.ndarray


def subject_sums(design: Design) -> SubjectSums:
    r""":class:`SubjectSums` of ``design`` (rows sorted by subject): :math:`z = W^{1/2}[X\,y]` is
    built chunk by chunk of whole subjects (:func:`~trialmlm.engine.moments.chunk_bounds`),
    the row products of each chunk summed per subject by ``np.add.reduceat``."""
    sw = np.sqrt(design.weights)
    n_subjects = design.subject_labels.size
    q, c = design.Z.shape[1], design.n_fixed + 1
    ztz, ztc = np.zeros((n_subjects, q, q)), np.zeros((n_subjects, q, c))
    cross = np.zeros((c, c))
    bounds = chunk_bounds(design)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        xy = weighted_rows(design, slice(lo, hi))
        z = design.Z[lo:hi] * sw[lo:hi, None]
        subject = design.subject[lo:hi]
        starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
        who = subject[starts]
        ztz[who] = np.add.reduceat(z[:, :, None] * z[:, None, :], starts, axis=0)
        ztc[who] = np.add.reduceat(z[:, :, None] * xy[:, None, :], starts, axis=0)
        cross += xy.T @ xy
    rows = np.bincount(design.subject, minlength=n_subjects)
    last = (1, 2, 0)  # subjects on the last axis
    return SubjectSums(np.ascontiguousarray(ztz.transpose(last)), np.ascontiguousarray(ztc.transpose(last)),
                       cross, rows)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-subject matrix products of (r, s, N) and (s, t, N) arrays."""
    return np.einsum("abn,bcn->acn", a, b)


def _outer_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r""":math:`\sum_i a_i \otimes b_i` of (r, s, N) and (t, u, N) arrays, (r, s, t, u), as one
    matrix product."""
    n = a.shape[-1]
    return (a.reshape(-1, n) @ b.reshape(-1, n).T).reshape(a.shape[:-1] + b.shape[:-1])


def _quadratic_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r""":math:`\sum_i a_i^\top b_i` of (r, s, N) and (r, t, N) arrays, (s, t)."""
    return np.einsum("aiaj->ij", _outer_sum(a, b))


def _congruence(root: np.ndarray, m: np.ndarray) -> np.ndarray:
    r""":math:`L^\top M_iL` (or :math:`LM_iL^\top` with ``root`` transposed) for every subject of
    ``m`` (q, q, N) as one matrix product with :math:`L \otimes L`."""
    q, n = root.shape[0], m.shape[-1]
    return (np.kron(root, root).T @ m.reshape(q * q, n)).reshape(q, q, n)


def _inverse_logdet(m: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Inverse and :math:`\log|M_i|` of symmetric positive definite (q, q, N) matrices by their
    Cholesky factors, column by column over all subjects at once; None if one is not PD."""
    q = m.shape[0]
    low = np.zeros_like(m)
    for j in range(q):
        d = m[j, j] - (low[j, :j] ** 2).sum(axis=0)
        if not np.all(d > 0):
            return None
        low[j, j] = np.sqrt(d)
        for i in range(j + 1, q):
            low[i, j] = (m[i, j] - (low[i, :j] * low[j, :j]).sum(axis=0)) / low[j, j]
    inv = np.zeros_like(m)  # L^{-1}, lower triangular, by forward substitution
    for j in range(q):
        inv[j, j] = 1.0 / low[j, j]
        for i in range(j + 1, q):
            inv[i, j] = -(low[i, j:i] * inv[j:i, j]).sum(axis=0) / low[i, i]
    logdet = 2.0 * np.log(np.stack([low[j, j] for j in range(q)])).sum(axis=0)
    return np.einsum("kin,kjn->ijn", inv, inv), logdet


@dataclass(frozen=True)
class Omega:
    r"""Per-subject products with :math:`\Omega_i` at one :math:`(G, \sigma^2)` (module
    docstring), subjects on the last axis: :math:`H_i`, :math:`H_iQ_i`, :math:`H_iT_i`,
    :math:`Q_iH_iT_i`, :math:`\sum_iT_i^\top H_iT_i`, :math:`\sum_iT_i^\top H_iQ_iH_iT_i`,
    :math:`\sum_i\log|\Sigma_i|`,
    :math:`D_1 = Z^\top\Omega Z` and :math:`P_1 = Z^\top\Omega[X\,y]`."""

    s2: float
    h: np.ndarray
    hq: np.ndarray
    ht: np.ndarray
    qht: np.ndarray
    tht: np.ndarray
    htqht: np.ndarray
    logdet: float
    d1: np.ndarray
    p1: np.ndarray

    def p2(self, ztz: np.ndarray) -> np.ndarray:
        r""":math:`P_2 = Z^\top\Omega^2[X\,y] = \sigma^{-2}(P_1 - QHP_1)`."""
        return (self.p1 - _mm(ztz, _mm(self.h, self.p1))) / self.s2

    def power_sum(self, power: int, cross: np.ndarray) -> np.ndarray:
        r""":math:`\sum_i[X\,y]_i^\top\Omega_i^m[X\,y]_i = \sigma^{-2m}(C - \sum_iT_i^\top W_mT_i)`
        for :math:`m` = 2 (:math:`W_2 = 2H - HQH`) or 3 (:math:`W_3 = 3H - 3HQH + HQHQH`)."""
        if power == 2:
            return (cross - 2.0 * self.tht + self.htqht) / self.s2**2
        w3 = 3.0 * self.tht - 3.0 * self.htqht + _quadratic_sum(self.qht, _mm(self.h, self.qht))
        return (cross - w3) / self.s2**3


class IndependentResidualsLikelihood(OneFactorLikelihood):
    r"""REML or ML objective of :math:`V_i = Z_iGZ_i^\top + \sigma^2W_i^{-1}` from
    :class:`SubjectSums` (module docstring): one grouping factor, one covariance group.

    Parameters
    ----------
    design : the encoded data (rows sorted by subject, ``Z`` the subject's random-effects design).
    structure : the :class:`~trialmlm.covariance.random_effects.RandomEffects` of the model
        (:math:`\phi` = G's parameters, then :math:`\sigma^2`).
    reml : REML (True) or ML (False).
    """

    def __init__(self, design: Design, structure: RandomEffects, reml: bool = True):
        self.design = design
        self.structures = [structure]
        self.covariances = []
        self.weights = np.asarray(design.weights, dtype=float)
        self.n_obs = self.weights.size
        self.p = design.n_fixed
        self.reml = reml
        self.parameters = ParameterMap(self.structures)
        self.n_params = self.parameters.n_params
        self.sums = subject_sums(design)
        self.n_clusters = self.sums.rows.size
        self.outer = OuterDesign.empty(self.n_clusters, self.n_obs)
        dof = self.n_obs - self.p if reml else self.n_obs
        self.constant = dof * LOG_2PI - float(np.log(self.weights).sum())
        self.units = structure.g.units()  # dG/dphi_g, (n_g, q, q)

    # -- the pattern likelihood, for what needs pattern batches; V_i from the rows -----------
    @cached_property
    def patterns(self) -> Likelihood:
        """The pattern-batch likelihood of the same model (:mod:`trialmlm.engine.likelihood`),
        built on first use."""
        return Likelihood(build_batches(self.design), self.structures, self.weights, self.p, self.reml)

    @property
    def batches(self):
        return self.patterns.batches

    def ols_moments(self) -> list:
        return self.patterns.ols_moments()

    def pattern_blocks(self, phi: np.ndarray, order: int = 0) -> list[PatternBlock] | None:
        return self.patterns.pattern_blocks(phi, order)

    def woodbury(self, phi: np.ndarray, order: int = 0) -> Woodbury | None:
        return self.patterns.woodbury(phi, order)

    def cluster_covariances(self, phi: np.ndarray,
                            max_elements: int = 2**22) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        r""":math:`V_i = Z_iGZ_i^\top + \sigma^2W_i^{-1}` (unweighted scale) of every subject,
        the subjects of each number of rows k together, in chunks of about ``max_elements``
        entries (no padding); straight from the rows, without patterns."""
        design = self.design
        phi = np.asarray(phi, dtype=float)
        structure = self.structures[0]
        g, s2 = structure.g_matrix(phi), float(phi[structure.n_g])
        counts = self.sums.rows
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        for k in np.unique(counts):
            subjects = np.flatnonzero(counts == k)
            step = max(1, max_elements // int(k) ** 2)
            for lo in range(0, subjects.size, step):
                rows = starts[subjects[lo:lo + step], None] + np.arange(k)
                z = design.Z[rows]
                v = z @ g @ z.transpose(0, 2, 1)
                v[:, np.arange(k), np.arange(k)] += s2 / self.weights[rows]
                yield rows, v

    # -- starting values ----------------------------------------------------------------------
    def start_values(self) -> np.ndarray:
        r"""The moment start of :meth:`RandomEffects.start` from the sums: the least-squares fit
        of :math:`Z_iGZ_i^\top + \sigma^2I` to the OLS residual products :math:`r_ir_i^\top`
        through its normal equations, :math:`\langle Z U_gZ^\top, ZU_hZ^\top\rangle =
        \operatorname{tr}(U_gQU_hQ)`, :math:`\langle ZU_gZ^\top, I\rangle = \operatorname{tr}(U_gQ)`,
        :math:`\langle I, I\rangle = k`, right-hand side :math:`(Tu)^\top U_g(Tu)` and
        :math:`r^\top r` (:math:`u = (-\hat\beta_{OLS}, 1)`), summed over the subjects."""
        s, units, p = self.sums, self.units, self.p
        beta = np.linalg.solve(s.cross[:p, :p], s.cross[:p, p])
        u = np.append(-beta, 1.0)
        zr = np.einsum("acn,c->an", s.ztc, u)[:, None]  # Z_i' r_i, (q, 1, N)
        n_g, q = units.shape[0], units.shape[1]
        uq = np.einsum("gab,bcn->gacn", units, s.ztz)  # U_g Q_i
        gram = np.empty((n_g + 1, n_g + 1))
        gram[:n_g, :n_g] = uq.reshape(n_g, -1) @ uq.transpose(0, 2, 1, 3).reshape(n_g, -1).T
        gram[:n_g, n_g] = gram[n_g, :n_g] = np.einsum("gaan->g", uq)
        gram[n_g, n_g] = s.rows.sum()
        rss = float(u @ s.cross @ u)
        rhs = np.append(units.reshape(n_g, -1) @ _outer_sum(zr, zr).reshape(q * q), rss)
        coef = np.linalg.lstsq(gram, rhs, rcond=None)[0]
        return self.structures[0].start_of_coefficients(coef, np.array([rss / self.n_obs]))

    # -- the objective ----------------------------------------------------------------------
    def _factor(self, phi: np.ndarray) -> tuple[np.ndarray, float] | None:
        """A square root L of G and :math:`\\sigma^2`; None where G is indefinite or
        :math:`\\sigma^2 \\le 0`."""
        phi = np.asarray(phi, dtype=float)
        structure = self.structures[0]
        s2 = float(phi[structure.n_g])
        w, v = np.linalg.eigh(structure.g_matrix(phi))
        if not s2 > 0 or w[0] < -INDEFINITE * max(abs(w[-1]), 1.0):
            return None
        return v * np.sqrt(np.clip(w, 0.0, None)), s2

    def evaluate(self, phi: np.ndarray, order: int = 0) -> Evaluation | None:
        r"""Objective and (``order`` >= 1) gradient, (``order`` = 2) Hessian and ``jac_info``,
        with the formulas of :meth:`Likelihood.evaluate` written in the sums (module docstring);
        the pattern likelihood where G is indefinite."""
        factor = self._factor(phi)
        if factor is None:
            return self.patterns.evaluate(phi, order)
        with blas_threads():  # tiny matrices by the million: one BLAS thread (engine/threads.py)
            return self._evaluate(*factor, order)

    def _omega(self, root: np.ndarray, s2: float) -> Omega | None:
        """The per-subject products of :class:`Omega` at :math:`(L, \\sigma^2)`; None if some
        :math:`M_i` is not positive definite."""
        s = self.sums
        q = root.shape[0]
        m = _congruence(root, s.ztz)
        m[np.arange(q), np.arange(q)] += s2
        inverse = _inverse_logdet(m)
        if inverse is None:
            return None
        m_inv, logdet_m = inverse
        h = _congruence(root.T, m_inv)  # H_i = L M_i^{-1} L'
        logdet = (self.n_obs - q * s.rows.size) * np.log(s2) + float(logdet_m.sum())
        ht, hq = _mm(h, s.ztc), _mm(h, s.ztz)
        qht = _mm(s.ztz, ht)
        return Omega(s2, h, hq, ht, qht, _quadratic_sum(s.ztc, ht), _quadratic_sum(ht, qht), logdet,
                     (s.ztz - _mm(s.ztz, hq)) / s2, (s.ztc - qht) / s2)

    def _evaluate(self, root: np.ndarray, s2: float, order: int) -> Evaluation | None:
        r"""With :math:`P_1 = Z^\top\Omega[X\,y]`, :math:`D_1 = Z^\top\Omega Z` (and
        :math:`P_2, D_2` with :math:`\Omega^2`), :math:`K = uu^\top (+A^{-1})` and
        :math:`\partial\Sigma/\partial\phi_g = ZU_gZ^\top`, :math:`\partial\Sigma/\partial\sigma^2 = I`:
        :math:`\partial_g = \sum_i\operatorname{tr}U_g(D_1 - P_1KP_1^\top)`,
        :math:`\partial_{\sigma^2} = \sum_i\operatorname{tr}\Omega - \operatorname{tr}K\sum_i[X\,y]^\top
        \Omega^2[X\,y]`, and the Hessian terms :math:`2\operatorname{tr}(S_k\Omega S_l\Omega(C+G)\Omega)
        - \operatorname{tr}(S_k\Omega S_l\Omega)` of :meth:`Likelihood.evaluate` likewise."""
        s, p = self.sums, self.p
        om = self._omega(root, s2)
        if om is None:
            return None
        profiled = profile_beta((s.cross - om.tht) / s2, p, self.constant + om.logdet, self.reml)
        if profiled is None:
            return None
        value, beta, ainv = profiled
        if order == 0:
            return Evaluation(value, beta, ainv)

        u, k_mat = residual_kernel(beta, ainv, self.reml)
        units, n_g, n = self.units, self.units.shape[0], self.n_params
        d1, p1 = om.d1, om.p1
        outer = _outer_sum(p1, p1)  # [a, i, b, j] = sum_i P1[a, i] P1[b, j]
        two = om.power_sum(2, s.cross)  # sum [X y]' Omega^2 [X y]
        trace_hq = np.einsum("aan->", om.hq)
        grad = np.empty(n)
        e_sum = d1.sum(axis=-1) - np.einsum("aibj,ij->ab", outer, k_mat)  # sum Z'EZ
        grad[:n_g] = units.reshape(n_g, -1) @ e_sum.ravel()
        grad[n_g] = (self.n_obs - trace_hq) / s2 - float(np.sum(k_mat * two))  # tr(Omega) - tr(K ...)
        if order < 2:
            return Evaluation(value, beta, ainv, grad)

        trace2 = (self.n_obs - 2.0 * trace_hq + np.einsum("abn,ban->", om.hq, om.hq)) / s2**2  # tr(Omega^2)
        d2 = (d1 - _mm(d1, om.hq)) / s2  # Z'Omega^2 Z
        e1 = np.einsum("ain,bin->abn", p1, k_mat @ p1)  # P1 K P1'
        hess = np.empty((n, n))
        pair = _outer_sum(d1, 2.0 * e1 - d1).transpose(3, 0, 1, 2)  # [a,b,c,d] = sum D1[b,c] (2E - D1)[d,a]
        hess[:n_g, :n_g] = np.einsum("gab,abcd,hcd->gh", units, pair, units)
        cross21 = 2.0 * np.einsum("aibj,ij->ab", _outer_sum(om.p2(s.ztz), p1), k_mat) - d2.sum(axis=-1)
        hess[:n_g, n_g] = hess[n_g, :n_g] = units.reshape(n_g, -1) @ cross21.ravel()
        hess[n_g, n_g] = 2.0 * float(np.sum(k_mat * om.power_sum(3, s.cross))) - trace2
        # [X y]' Omega S_k Omega [X y] of every parameter
        t = np.concatenate([np.einsum("gab,aibj->gij", units, outer), two[None]])
        jac_info = t[:, :p, :p].copy()
        score = t[:, :p, :] @ u
        hess -= 2.0 * score @ ainv @ score.T
        if self.reml:
            c = ainv[None] @ jac_info
            hess -= c.reshape(n, -1) @ c.transpose(0, 2, 1).reshape(n, -1).T
        hess = 0.5 * (hess + hess.T)
        return Evaluation(value, beta, ainv, grad, hess, jac_info)

    def kenward_roger_terms(self, phi: np.ndarray, w: np.ndarray, linear: bool) -> np.ndarray:
        r""":math:`\sum_{hj}W_{hj}X^\top\Omega S_h\Omega S_j\Omega X` of Kenward & Roger (1997)
        (:math:`\Sigma` is linear in :math:`\phi`: no :math:`R_{hj}`) from the sums: with
        :math:`S_g = ZU_gZ^\top` and :math:`S_{\sigma^2} = I` the terms are
        :math:`P_{1x}^\top U_hD_1U_jP_{1x}`, :math:`P_{1x}^\top U_hP_{2x}`, its transpose and
        :math:`X^\top\Omega^3X` per subject (:math:`P_{kx}` the X columns of :math:`P_k`)."""
        factor = self._factor(phi)
        if factor is None:
            return self.patterns.kenward_roger_terms(phi, w, linear)
        s, p, units = self.sums, self.p, self.units
        n_g = units.shape[0]
        with blas_threads():
            om = self._omega(*factor)
            p1 = om.p1[:, :p]
            # sum_hj W_hj U_h D1 U_j as one contraction of D1 with sum_hj W_hj U_h (x) U_j
            weight = np.einsum("hj,hab,jcd->adbc", w[:n_g, :n_g], units, units)
            middle = (weight.reshape(-1, weight.shape[2] * weight.shape[3]) @ om.d1.reshape(-1, s.rows.size))
            total = _quadratic_sum(p1, _mm(middle.reshape(om.d1.shape), p1))
            mixed = np.einsum("h,hab,aibj->ij", w[:n_g, n_g], units, _outer_sum(p1, om.p2(s.ztz)[:, :p]))
            total += mixed + mixed.T + w[n_g, n_g] * om.power_sum(3, s.cross)[:p, :p]
        return total

    def subject_predictions(self, phi: np.ndarray, beta: np.ndarray,
                            cov_beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        r"""BLUPs of :mod:`trialmlm.engine.blups` from the sums, subjects in code order:
        :math:`\hat b_i = GP_{1i}u` (:math:`u = (-\hat\beta, 1)`), with :math:`F_i = GP_{1xi}`
        :math:`\mathrm{Var}(\hat b_i - b_i) = G - GD_{1i}G + F_iCF_i^\top` and
        :math:`\mathrm{Cov}(\hat\beta, \hat b_i - b_i) = -CF_i^\top`: (N, q), (N, q, q), (N, p, q);
        None where G is indefinite."""
        factor = self._factor(phi)
        if factor is None:
            return None
        g = self.structures[0].g_matrix(np.asarray(phi, dtype=float))
        with blas_threads():
            om = self._omega(*factor)
            blup = (g @ np.einsum("acn,c->an", om.p1, np.append(-beta, 1.0))).T
            f = np.einsum("ab,bin->nai", g, om.p1[:, :self.p])
            pev = g - g @ om.d1.transpose(2, 0, 1) @ g + f @ cov_beta @ f.transpose(0, 2, 1)
            cross = -(cov_beta @ f.transpose(0, 2, 1))
        return blup, pev, cross

