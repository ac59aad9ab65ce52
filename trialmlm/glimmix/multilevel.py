r"""Several random-effect terms (nested or crossed grouping factors) by the Laplace approximation.

Notation (Bates et al. 2015, section 3; lme4 ``glmer``): term :math:`f = 1..F` has a grouping
factor with :math:`L_f` levels and :math:`q_f` random effects per level (the rows' values
:math:`Z_f`, :math:`n \times q_f`).  All random effects are stacked as
:math:`b = \Lambda u`, :math:`u \sim N(0, I_Q)`, :math:`Q = \sum_f L_fq_f`, with
:math:`\Lambda = \mathrm{blockdiag}_f(I_{L_f}\otimes L_f)` and :math:`G_f = L_fL_f^\top`
(:math:`L_f` of the log-Cholesky :math:`\theta_f`, :func:`.problem.cholesky_factor`).
:math:`A = Z\Lambda` is sparse: row :math:`r` has :math:`k = \sum_f q_f` non-zeros, the
elements of :math:`Z_f[r]L_f` in the columns :math:`o_f + c_f(r)q_f + j` (:math:`c_f(r)` the
row's level, :math:`o_f` the term's offset in :math:`u`).

For fixed :math:`(\beta, \theta)` the joint conditional mode :math:`\hat u` maximises

.. math::  h(u) = \sum_r \log f(y_r \mid \eta_r) - \tfrac12 u^\top u,
           \qquad \eta = X\beta + Au + o,

by Newton steps (penalised iteratively reweighted least squares over the whole :math:`u`)
:math:`H^{-1}(A^\top s - u)`, :math:`H = A^\top WA + I` (:math:`s, W` of
:meth:`.conditional.Conditional.derivatives`), halved while :math:`h` falls.  The Laplace
log-likelihood is

.. math::  \ell(\beta, \theta) = h(\hat u) - \tfrac12\log|A^\top WA + I|

(SAS GLIMMIX ``METHOD=LAPLACE``; lme4 ``nAGQ = 1``, the only choice lme4 offers with several
terms).  :math:`H` is factorised by blocks, as MixedModels.jl does: the term with the most
random effects comes first, and its block :math:`H_{11}` is block diagonal (one
:math:`q_1 \times q_1` block per level, factorised all at once); the rest is the dense Schur
complement :math:`S = H_{22} - H_{21}H_{11}^{-1}H_{12}` (sites, items: few columns), so that
:math:`\log|H| = \log|H_{11}| + \log|S|`.  Measured (assemble, factorise and solve; best of
30, one BLAS thread): VerbAgg, 316 respondents crossed with 24 items (:math:`Q = 340`), 0.25 ms by
blocks, 0.72 ms by a dense Cholesky of :math:`H`, 3.0 ms by scipy's sparse LU (SuperLU,
``MMD_AT_PLUS_A`` ordering, no pivoting); the nested trial of the tests, 300 subjects (intercept
and slope) within 20 sites (:math:`Q = 620`), 0.35, 3.2 and 0.36 ms.  Memory and time grow with
:math:`R`, the random effects of the other terms: :math:`H_{12}` is held as
:math:`L_1 \times q_1 \times R` and :math:`S` as :math:`R \times R` dense arrays, so two crossed
factors that both have many thousands of levels are beyond this layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from ..engine.design import Design
from ..engine.formula import ModelFormula
from ..errors import ConvergenceError
from .conditional import Conditional
from .modes import MAX_ITERATIONS, TOLERANCE
from .problem import cholesky_factor


@dataclass(frozen=True)
class Term:
    """One random-effect term ``(EXPR | factor)``: its level ``labels``, each row's level
    ``codes`` and the rows' values ``Z`` (n, q) of EXPR's columns ``names``."""

    factor: str
    names: tuple[str, ...]
    labels: np.ndarray
    codes: np.ndarray
    Z: np.ndarray

    @property
    def q(self) -> int:
        """Random effects per level."""
        return self.Z.shape[1]


def design_terms(design: Design, formula: ModelFormula) -> tuple[Term, ...]:
    """The random-effect terms of ``design`` in formula order: the subject's own term
    (``design.Z``) and the outer grouping factors (``design.outer``)."""
    outer = {level.factor: level for level in design.outer}
    out = []
    for term in formula.random_terms:
        if term.subject == formula.subject:
            out.append(Term(term.subject, tuple(design.random_names), np.asarray(design.subject_labels),
                            design.subject, design.Z))
        else:
            level = outer[term.subject]
            out.append(Term(term.subject, level.names, level.labels, level.codes, level.Z))
    return tuple(out)


@dataclass(frozen=True)
class LaplaceMode:
    """``u`` the joint mode :math:`\\hat u`, ``h`` :math:`h(\\hat u)` and ``factor`` the
    :class:`BlockFactor` of :math:`H(\\hat u)`; ``loglik`` their Laplace log-likelihood."""

    u: np.ndarray
    h: float
    factor: BlockFactor

    @property
    def loglik(self) -> float:
        return self.h - 0.5 * self.factor.log_det


class BlockFactor:
    r"""A factorisation of the symmetric positive definite
    :math:`H = \begin{pmatrix}H_{11} & H_{12}\\ H_{21} & H_{22}\end{pmatrix}` with
    :math:`H_{11}` block diagonal (module docstring): ``log_det`` and ``solve``.
    ``h11`` (L, q, q), ``h12`` (L, q, R), ``h22`` (R, R); the vector's first ``L*q``
    elements are the first block's."""

    def __init__(self, h11: np.ndarray, h12: np.ndarray, h22: np.ndarray):
        self.h11, self.h12 = h11, h12
        self._c11 = np.linalg.cholesky(h11)
        self._inv11 = np.linalg.inv(h11)
        self._h11_h12 = self._inv11 @ h12
        self._s = linalg.cho_factor(h22 - np.einsum("lar,las->rs", h12, self._h11_h12), lower=True,
                                    check_finite=False)
        self.log_det = 2.0 * float(np.sum(np.log(np.diagonal(self._c11, axis1=1, axis2=2)))
                                   + np.sum(np.log(np.diag(self._s[0]))))

    def inverse_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""The blocks of :math:`H^{-1}` at the pattern of :math:`H`: with
        :math:`Y = H_{11}^{-1}H_{12}`, :math:`(H_{11}^{-1} + YS^{-1}Y^\top)` per level (L, q, q),
        :math:`-YS^{-1}` (L, q, R) and :math:`S^{-1}` (R, R)."""
        s_inv = linalg.cho_solve(self._s, np.eye(self._s[0].shape[0]), check_finite=False)
        y_s = self._h11_h12 @ s_inv
        return (self._inv11 + np.einsum("lar,lbr->lab", y_s, self._h11_h12), -y_s, s_inv)

    def solve(self, b: np.ndarray) -> np.ndarray:
        """:math:`H^{-1}b` by the blocks."""
        n_levels, q = self.h11.shape[:2]
        b1 = b[:n_levels * q].reshape(n_levels, q, 1)
        x2 = linalg.cho_solve(self._s, b[n_levels * q:] - np.einsum("lar,la->r", self._h11_h12, b1[..., 0]),
                              check_finite=False)
        x1 = self._inv11 @ (b1 - self.h12 @ x2[:, None])
        return np.concatenate([x1.ravel(), x2])


class LaplaceProblem:
    r"""The GLMM with several terms as numbers (module docstring): ``X`` (n, p), ``offset``,
    the ``terms`` and the rows' ``conditional`` distribution.  The parameter vector is
    :math:`(\beta, \theta_1, \dots, \theta_F)`."""

    def __init__(self, X: np.ndarray, offset: np.ndarray, terms: tuple[Term, ...], conditional: Conditional):
        self.X, self.offset, self.terms, self.conditional = X, offset, terms, conditional
        sizes = [t.labels.size * t.q for t in terms]
        self.u_offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.theta_offsets = np.concatenate([[0], np.cumsum([t.q * (t.q + 1) // 2 for t in terms])])
        self.columns = np.hstack([o + t.codes[:, None] * t.q + np.arange(t.q)
                                  for o, t in zip(self.u_offsets, terms)])  # of A's k non-zeros per row
        p = X.shape[1]
        first = int(np.argmax(sizes))  # the term with the most random effects: H11 block diagonal
        entries = np.concatenate([[0], np.cumsum([t.q for t in terms])])
        block = (int(self.u_offsets[first]), terms[first].q, slice(entries[first], entries[first + 1]))
        self._random = _Newton(self.columns, np.ones(self.size, dtype=bool), block)
        self._joint = _Newton(np.hstack([self.columns, np.broadcast_to(self.size + np.arange(p), X.shape)]),
                              np.arange(self.size + p) < self.size, block)

    @property
    def size(self) -> int:
        """:math:`Q`, the number of random effects."""
        return int(self.u_offsets[-1])

    @property
    def n_theta(self) -> int:
        return int(self.theta_offsets[-1])

    def choleskys(self, theta: np.ndarray) -> list[np.ndarray]:
        """:math:`L_f` of each term's log-Cholesky :math:`\\theta_f` (:func:`.problem.cholesky_factor`)."""
        bounds = zip(self.theta_offsets, self.theta_offsets[1:])
        return [cholesky_factor(theta[a:b]) for t, (a, b) in zip(self.terms, bounds)]

    def values(self, theta: np.ndarray) -> np.ndarray:
        r"""The non-zeros of :math:`A = Z\Lambda` (n, k), row by row (columns ``self.columns``)."""
        return np.hstack([t.Z @ low for t, low in zip(self.terms, self.choleskys(theta))])

    def mode(self, beta: np.ndarray, theta: np.ndarray, start: np.ndarray | None = None) -> LaplaceMode:
        """The joint mode of :math:`u` and the Laplace log-likelihood's parts (module
        docstring) from ``start`` (zeros when None)."""
        return self._random.solve(self.conditional, self.X @ beta + self.offset, self.values(theta), start)

    def glm_beta(self) -> np.ndarray:
        r""":math:`\beta` of the GLM without random effects: :math:`h` maximised over
        :math:`(u, \beta)` together (:math:`\beta` not penalised) with every :math:`L_f = 0`."""
        p = self.X.shape[1]
        values = np.hstack([np.zeros(self.columns.shape), self.X])
        return self._joint.solve(self.conditional, self.offset, values, np.zeros(self.size + p)).u[self.size:]

    def gradient(self, beta: np.ndarray, theta: np.ndarray, mode: LaplaceMode) -> np.ndarray:
        r""":math:`\partial\ell/\partial(\beta, \theta)` of the Laplace log-likelihood at its
        mode ``mode`` (of these ``beta, theta``).

        With :math:`s, W` at :math:`\hat\eta`, :math:`W' = dW/d\eta` (central difference,
        step ``1e-5``), :math:`M_r = (H^{-1})_{rr}a_r` (the rows of :math:`H^{-1}` at row *r*'s
        columns), :math:`d_r = a_r^\top M_r`, :math:`c = W'd` and :math:`g = H^{-1}A^\top c`
        (:math:`\hat u` depends on the parameters through :math:`A^\top s = u`):

        .. math::
            \partial\ell/\partial\beta = X^\top(s - \tfrac12c + \tfrac12W\,Ag),\qquad
            \partial\ell/\partial L_{f,ij} = \sum_r Z_{f,ri}K_{r,(f,j)},\\
            K_{re} = (s_r - \tfrac12c_r + \tfrac12W_r(Ag)_r)\,\hat u_{c_{re}} - W_rM_{re}
                     - \tfrac12s_rg_{c_{re}},

        times :math:`L_{f,ii}` for a diagonal (log) element.
        """
        A = self.values(theta)
        u = mode.u
        eta = self.X @ beta + self.offset + np.einsum("nk,nk->n", A, u[self.columns])
        score, weight = self.conditional.derivatives(eta)
        derivatives = self.conditional.derivatives
        slope = (derivatives(eta + 1e-5)[1] - derivatives(eta - 1e-5)[1]) * 5e4
        M = self._random.row_inverse(A, mode.factor)
        c = slope * np.einsum("nk,nk->n", A, M)
        A_c = np.bincount(self.columns.ravel(), (A * c[:, None]).ravel(), self.size)
        g = self._random.apply(mode.factor, A_c)
        Ag = np.einsum("nk,nk->n", A, g[self.columns])
        row = score - 0.5 * c + 0.5 * weight * Ag
        K = row[:, None] * u[self.columns] - weight[:, None] * M - 0.5 * score[:, None] * g[self.columns]
        out = [self.X.T @ row]
        entry = 0
        for term, low in zip(self.terms, self.choleskys(theta)):
            full = term.Z.T @ K[:, entry:entry + term.q]  # (q, q): [i, j]
            rows, cols = np.tril_indices(term.q)
            out.append(full[rows, cols] * np.where(rows == cols, np.diag(low)[rows], 1.0))
            entry += term.q
        return np.concatenate(out)

    def random_effects(self, theta: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
        r""":math:`\hat b = \Lambda\hat u` per term, (levels, q) each."""
        bounds = zip(self.u_offsets, self.u_offsets[1:])
        return [u[a:b].reshape(-1, t.q) @ low.T
                for t, (a, b), low in zip(self.terms, bounds, self.choleskys(theta))]


class _Newton:
    r"""Maximise :math:`h(v) = \sum_r\log f(y_r\mid\eta_r) - \tfrac12\sum_{j\in P}v_j^2`,
    :math:`\eta_r = o_r + \sum_j a_{rj}v_{c_{rj}}` (``columns`` :math:`c` (n, k), the penalised
    set :math:`P` a mask ``penalised``) by Newton steps :math:`H^{-1}\nabla h`,
    :math:`H = \sum_r W_ra_ra_r^\top + I_P`, halved while :math:`h` falls.  ``block`` =
    ``(start, q, entries)``: the columns from ``start`` on of one term (``q`` per level; its
    ``entries`` of each row's :math:`k`) make the block-diagonal :math:`H_{11}` of
    :class:`BlockFactor`; the other columns the dense rest."""

    def __init__(self, columns: np.ndarray, penalised: np.ndarray, block: tuple[int, int, slice]):
        self.columns, self.penalised = columns, penalised
        start, q, entries = block
        first = columns[:, entries]
        self._level = (first[:, 0] - start) // q
        self._n_levels = int(self._level.max()) + 1 if self._level.size else 0
        stop = start + self._n_levels * q
        self._first, self._q = entries, q
        self._rest = np.setdiff1d(np.arange(columns.shape[1]), np.arange(columns.shape[1])[entries])
        self.order = np.concatenate([np.arange(start, stop),
                                     np.setdiff1d(np.arange(penalised.size), np.arange(start, stop))])
        position = np.empty_like(self.order)
        position[self.order] = np.arange(self.order.size)
        n_first = stop - start
        rest = position[columns[:, self._rest]] - n_first  # (n, k_rest) indices into the dense rest
        self._n_rest = penalised.size - n_first
        R, a = self._n_rest, np.arange(q)
        self._i11 = (self._level[:, None, None] * q * q + a[:, None] * q + a).ravel()
        self._i12 = (((self._level[:, None] * q + a)[:, :, None]) * R + rest[:, None, :]).ravel()
        self._i22 = (rest[:, :, None] * R + rest[:, None, :]).ravel()
        self._penalised_rest = np.flatnonzero(penalised[self.order[n_first:]])

    def _h(self, conditional: Conditional, fixed: np.ndarray, values: np.ndarray,
           v: np.ndarray) -> tuple[float, np.ndarray]:
        eta = fixed + np.einsum("nk,nk->n", values, v[self.columns])
        penalty = v[self.penalised]
        return float(np.sum(conditional.log_density(eta)) - 0.5 * penalty @ penalty), eta

    def factor(self, values: np.ndarray, weight: np.ndarray) -> BlockFactor:
        """The factorisation of :math:`H` (class docstring) for the rows' weights, in the
        order ``self.order`` (the first block, then the rest)."""
        q, L, R = self._q, self._n_levels, self._n_rest
        a1, ar = values[:, self._first], values[:, self._rest]
        w1 = a1 * weight[:, None]
        h11 = np.bincount(self._i11, (w1[:, :, None] * a1[:, None, :]).ravel(), L * q * q).reshape(L, q, q)
        h11 += np.eye(q)
        h12 = np.bincount(self._i12, (w1[:, :, None] * ar[:, None, :]).ravel(), L * q * R).reshape(L, q, R)
        h22 = np.bincount(self._i22, ((ar * weight[:, None])[:, :, None] * ar[:, None, :]).ravel(),
                          R * R).reshape(R, R)
        h22[self._penalised_rest, self._penalised_rest] += 1.0
        return BlockFactor(h11, h12, h22)

    def row_inverse(self, values: np.ndarray, factor: BlockFactor) -> np.ndarray:
        r""":math:`M_r = (H^{-1})_{rr}a_r` (n, k): the elements of :math:`H^{-1}a_r` at row
        *r*'s own columns, from the blocks of :math:`H^{-1}` at the pattern of :math:`H`."""
        n, q, k_rest = values.shape[0], self._q, self._rest.size
        inv11, inv12, inv22 = factor.inverse_blocks()
        p11 = inv11.ravel()[self._i11].reshape(n, q, q)
        p12 = inv12.ravel()[self._i12].reshape(n, q, k_rest)
        p22 = inv22.ravel()[self._i22].reshape(n, k_rest, k_rest)
        a1, ar = values[:, self._first], values[:, self._rest]
        out = np.empty_like(values)
        out[:, self._first] = np.einsum("nab,nb->na", p11, a1) + np.einsum("naj,nj->na", p12, ar)
        out[:, self._rest] = np.einsum("naj,na->nj", p12, a1) + np.einsum("nij,nj->ni", p22, ar)
        return out

    def apply(self, factor: BlockFactor, b: np.ndarray) -> np.ndarray:
        """:math:`H^{-1}b` of the ``factor`` of :meth:`factor` (``b`` in the vector's own order)."""
        out = np.empty_like(b)
        out[self.order] = factor.solve(b[self.order])
        return out

    def solve(self, conditional: Conditional, fixed: np.ndarray, values: np.ndarray,
              start: np.ndarray | None) -> LaplaceMode:
        """The maximum from ``start`` (zeros when None); ConvergenceError when the Newton
        steps do not settle."""
        size = self.penalised.size
        v = np.zeros(size) if start is None else start
        h, eta = self._h(conditional, fixed, values, v)
        for _ in range(MAX_ITERATIONS):
            score, weight = conditional.derivatives(eta)
            gradient = np.bincount(self.columns.ravel(), (values * score[:, None]).ravel(), size)
            gradient[self.penalised] -= v[self.penalised]
            step = self.apply(self.factor(values, weight), gradient)
            new_h, new_eta = self._h(conditional, fixed, values, v + step)
            for _ in range(30):
                if new_h >= h - 1e-12 * abs(h):
                    break
                step *= 0.5
                new_h, new_eta = self._h(conditional, fixed, values, v + step)
            v, h, eta = v + step, new_h, new_eta
            if np.max(np.abs(step)) < TOLERANCE:
                break
        else:
            raise ConvergenceError(f"the conditional modes did not settle in {MAX_ITERATIONS} Newton steps "
                                   f"(largest step {np.max(np.abs(step)):.3g})")
        _, weight = conditional.derivatives(eta)
        return LaplaceMode(v, h, self.factor(values, weight))


def modes_frame(problem: LaplaceProblem, theta: np.ndarray, u: np.ndarray) -> pd.DataFrame:
    """The conditional modes :math:`\\hat b` of every term in one frame: index (``group``
    the grouping factor, ``level`` its level), one column per random effect (EXPR's
    terms; NaN where a term has no such effect), ``fit.modes.loc["SITE"]`` one factor's."""
    frames = [pd.DataFrame(b, index=pd.MultiIndex.from_arrays([np.repeat(t.factor, t.labels.size), t.labels],
                                                             names=["group", "level"]), columns=list(t.names))
              for t, b in zip(problem.terms, problem.random_effects(theta, u))]
    return pd.concat(frames)
