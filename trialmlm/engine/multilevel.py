r"""Several grouping factors: the subject's blocks plus outer factors by Woodbury's identity.

Model: :math:`y = X\beta + \sum_f Z_fu_f + \varepsilon_d`, where :math:`\varepsilon_d`
holds everything within subjects (the subject's random effects and residuals), with the
block-diagonal covariance :math:`V_d = \mathrm{blockdiag}_i(V_i)` of
:mod:`trialmlm.engine.likelihood`, and :math:`u_f \sim N(0, I_{L_f}\otimes G_f)` are the effects
of the :math:`L_f` levels of an outer factor *f* (sites; nested in subjects or crossed
with them).  With :math:`Z_o = [Z_1 \dots Z_F]` (:math:`n \times Q`,
:math:`Q = \sum_f L_fq_f`), :math:`G_o = \mathrm{blockdiag}_f(I_{L_f}\otimes G_f)
= \Lambda\Lambda^\top` (Cholesky factors of the :math:`G_f`) and :math:`\Omega = V_d^{-1}`:

.. math::
    V = V_d + Z_oG_oZ_o^\top, \qquad T = Z_o^\top\Omega Z_o, \qquad S = Z_o^\top\Omega[X\,y],\\
    M = I + \Lambda^\top T\Lambda, \qquad K = \Lambda M^{-1}\Lambda^\top
        \;(= (G_o^{-1} + T)^{-1}),\\
    V^{-1} = \Omega - \Omega Z_oKZ_o^\top\Omega, \qquad \log|V| = \log|V_d| + \log|M|,\\
    [X\,y]^\top V^{-1}[X\,y] = [X\,y]^\top\Omega[X\,y] - S^\top KS .

The objective is then the one of :mod:`trialmlm.engine.likelihood` (:math:`\beta` profiled out).
The gradient is :math:`\operatorname{tr}(V_kE)` with :math:`E = P - Pyy^\top P =
V^{-1} - V^{-1}[X\,y]\,\mathcal K\,[X\,y]^\top V^{-1}` (:math:`\mathcal K = uu^\top`
plus :math:`A^{-1}` in the X block for REML, :math:`u = (-\hat\beta, 1)`):

* an outer parameter, :math:`V_k = Z_o(I\otimes\partial G_f)Z_o^\top`:
  :math:`\sum_\ell\operatorname{tr}(F_{\ell\ell}\,\partial G_f)` with
  :math:`F = Z_o^\top EZ_o = T - TKT - (S - TH)\mathcal K(S - TH)^\top`, :math:`H = KS`;
* a subject-level parameter, :math:`V_k = \mathrm{blockdiag}(\partial V_i)`:
  :math:`\sum_P\operatorname{tr}(\partial\Sigma_P\,E_P)`,
  :math:`E_P = m_P\Omega_P - \Omega_P\sum_{i\in P}(Z_{oi}KZ_{oi}^\top + w_i\mathcal Kw_i^\top)
  \Omega_P`, :math:`w_i = [X_i\,y_i] - Z_{oi}H`.

These need per-subject products, vectorised over the subjects of each missingness
pattern: subject *i*'s outer design is kept in local form :math:`Z_{oi} = \tilde Z_iE_i`
with :math:`\tilde Z_i` (:math:`k_i \times R`) and a selection :math:`E_i` of :math:`R`
global columns (for each factor, each level the subject meets, padded with zero columns
to the largest number of levels a subject meets: 1 for nested factors), so that
:math:`T` and :math:`S` are scatter-adds (``np.bincount``) of
:math:`\tilde Z_i^\top\Omega_i\tilde Z_i` and :math:`\tilde Z_i^\top\Omega_i[X_i\,y_i]`.
:math:`M` is dense (:math:`Q \times Q`).

The Hessian is the *observed* information computed by central differences of the
analytic gradient (relative steps 1e-4 in :math:`\phi`).  ``jac_info``
:math:`B_k = -\partial A/\partial\phi_k = \tilde X^\top V_k\tilde X`
(:math:`\tilde X = V^{-1}X`) is analytic, and so are the Kenward-Roger terms
:math:`\sum_{hj}W_{hj}(Q_{hj} - \tfrac14R_{hj})` (:meth:`MultilevelLikelihood.kenward_roger_terms`).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..covariance.random_effects import RandomCovariance
from .design import Design
from .likelihood import (
    Evaluation,
    Likelihood,
    MarginalLikelihood,
    OuterDesign,
    PatternBlock,
    Woodbury,
    profile_beta,
)
from .parameters import ParameterMap

STEP = 1e-4  # relative central-difference step of the Hessian


def outer_design(design: Design) -> OuterDesign:
    """Subject-local form of the outer factors of ``design``.

    For factor *f* with :math:`q_f` terms, a subject meeting levels
    :math:`\\ell_1 < \\ell_2 < \\dots` gets local columns slot-by-term; slots beyond the
    levels it meets point at its first level with zero values.
    """
    n_s = design.subject_labels.size
    sw = np.sqrt(design.weights)
    columns, zs, offsets, nested = [], [], [0], []
    for level in design.outer:
        q, n_levels = level.Z.shape[1], level.labels.size
        pair = design.subject * n_levels + level.codes
        met = np.unique(pair)  # (subject, level) pairs, sorted by subject then level
        met_subject, met_level = met // n_levels, met % n_levels
        first = np.searchsorted(met_subject, np.arange(n_s))
        slot_of_met = np.arange(met.size) - first[met_subject]
        slots = int(slot_of_met.max()) + 1
        nested.append(slots == 1)
        level_of = np.repeat(met_level[first][:, None], slots, axis=1)  # padding: first level
        level_of[met_subject, slot_of_met] = met_level
        cols = offsets[-1] + level_of[:, :, None] * q + np.arange(q)
        columns.append(cols.reshape(n_s, slots * q))
        row_slot = slot_of_met[np.searchsorted(met, pair)]
        z = np.zeros((design.y.size, slots, q))
        z[np.arange(design.y.size), row_slot] = level.Z * sw[:, None]
        zs.append(z.reshape(design.y.size, slots * q))
        offsets.append(offsets[-1] + n_levels * q)
    return OuterDesign(np.hstack(columns), np.hstack(zs), np.array(offsets),
                       np.array([lv.labels.size for lv in design.outer]), np.array(nested))


class MultilevelLikelihood(MarginalLikelihood):
    """REML / ML objective with outer grouping factors
    (:class:`~trialmlm.engine.likelihood.MarginalLikelihood`).

    :math:`\\phi` is the subject structure's parameters followed by each outer factor's
    :math:`G_f` parameters (in formula order); ``structures`` lists them in that order.
    """

    def __init__(self, subject_level: Likelihood, design: Design, covariances: list[RandomCovariance]):
        inner = subject_level
        if len(inner.structures) != 1:
            raise ValueError("outer grouping factors need a single subject-level structure")
        self._subject_level = inner
        self.batches = inner.batches
        self.outer = outer_design(design)
        self.covariances = list(covariances)
        self.structures = list(inner.structures) + self.covariances
        self.n_obs, self.p, self.reml, self.constant = inner.n_obs, inner.p, inner.reml, inner.constant
        sizes = [s.n_params for s in self.structures]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n_params = int(self.offsets[-1])
        self.parameters = ParameterMap(self.structures)
        self.n_inner = inner.n_params
        self.q_total = int(self.outer.offsets[-1])
        self._factors = design.outer
        self._subject = design.subject
        self.n_clusters = int(self.clusters().max()) + 1
        self._sw = sw = np.sqrt(design.weights)
        self._zhat = zhat = np.column_stack([design.X, design.y]) * sw[:, None]
        qq = self.p + 1
        self._local = []
        for b in self.batches:
            cols = self.outer.columns[design.subject[b.rows[:, 0]]]
            starts = np.concatenate([[0], np.cumsum(b.count)[:-1]])
            self._local.append(dict(
                zhat=zhat[b.rows], z=self.outer.z[b.rows], cols=cols, starts=starts,
                t_index=(cols[:, :, None] * self.q_total + cols[:, None, :]).ravel(),
                s_index=(cols[:, :, None] * qq + np.arange(qq)).ravel()))

    @property
    def subject_level(self) -> Likelihood:
        return self._subject_level

    def split(self, phi: np.ndarray) -> list[np.ndarray]:
        return [phi[self.offsets[g]:self.offsets[g + 1]] for g in range(len(self.structures))]

    def ols_moments(self):
        return self._subject_level.ols_moments()

    def pattern_blocks(self, phi: np.ndarray, order: int = 0) -> list[PatternBlock] | None:
        """The subject-level blocks of :math:`V_d` (see :meth:`Likelihood.pattern_blocks`)."""
        return self._subject_level.pattern_blocks(np.asarray(phi)[: self.n_inner], order)

    def g_matrices(self, phi: np.ndarray) -> list[np.ndarray]:
        parts = self.split(np.asarray(phi, dtype=float))[1:]
        return [c.matrix(p) for c, p in zip(self.covariances, parts)]

    def _lambda(self, g: list[np.ndarray]) -> np.ndarray | None:
        """:math:`\\Lambda = \\mathrm{blockdiag}_f(I_{L_f}\\otimes\\mathrm{chol}(G_f))`."""
        lam = np.zeros((self.q_total, self.q_total))
        for f, gf in enumerate(g):
            try:
                low = np.linalg.cholesky(gf)
            except np.linalg.LinAlgError:
                return None
            lo, hi = self.outer.offsets[f], self.outer.offsets[f + 1]
            lam[lo:hi, lo:hi] = np.kron(np.eye(self.outer.sizes[f]), low)
        return lam

    def woodbury(self, phi: np.ndarray, order: int = 0) -> Woodbury | None:
        """:math:`T, S, K` and :math:`[X\\,y]^\\top V^{-1}[X\\,y]`; None where not positive definite."""
        phi = np.asarray(phi, dtype=float)
        blocks = self.pattern_blocks(phi, order)
        g = self.g_matrices(phi)
        lam = self._lambda(g)
        if blocks is None or lam is None:
            return None
        qq, nq = self.p + 1, self.q_total
        info = np.zeros(qq * qq)
        t = np.zeros(nq * nq)
        s = np.zeros(nq * qq)
        logdet = 0.0
        for blk, loc in zip(blocks, self._local):
            logdet += blk.logdet
            info += blk.omega.ravel() @ blk.batch.moments.reshape(blk.omega.size, qq * qq)
            omega = blk.omega[blk.batch.pattern]
            oz = omega @ loc["z"]
            t += np.bincount(loc["t_index"], np.einsum("nka,nkb->nab", loc["z"], oz).ravel(), nq * nq)
            s += np.bincount(loc["s_index"], np.einsum("nka,nkj->naj", oz, loc["zhat"]).ravel(), nq * qq)
        t, s = t.reshape(nq, nq), s.reshape(nq, qq)
        m = np.eye(nq) + lam.T @ t @ lam
        try:
            chol_m = np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            return None
        half = np.linalg.solve(chol_m, lam.T)  # L_M^-1 Lambda'
        k = half.T @ half
        info = info.reshape(qq, qq) - s.T @ k @ s
        logdet += float(2.0 * np.log(np.diag(chol_m)).sum())
        return Woodbury(blocks, g, t, s, k, 0.5 * (info + info.T), logdet)

    def evaluate(self, phi: np.ndarray, order: int = 0) -> Evaluation | None:
        """Objective, analytic gradient (``order`` >= 1), difference Hessian and
        ``jac_info`` (``order`` = 2); None where some covariance is not positive definite."""
        if order == 2:
            return self._with_hessian(np.asarray(phi, dtype=float))
        w = self.woodbury(phi, order)
        if w is None:
            return None
        profiled = profile_beta(w.info, self.p, self.constant + w.logdet, self.reml)
        if profiled is None:
            return None
        value, beta, ainv = profiled
        if order == 0:
            return Evaluation(value, beta, ainv)
        return Evaluation(value, beta, ainv, self._gradient(w, beta, ainv))

    def _gradient(self, w: Woodbury, beta: np.ndarray, ainv: np.ndarray) -> np.ndarray:
        p = self.p
        u = np.append(-beta, 1.0)
        k_mat = np.outer(u, u)
        if self.reml:
            k_mat[:p, :p] += ainv
        h = w.k @ w.s
        resid = w.s - w.t @ h  # Z_o' V^-1 [X y]
        f = w.t - w.t @ w.k @ w.t - resid @ k_mat @ resid.T
        grad = np.zeros(self.n_params)
        for c, cov in enumerate(self.covariances):
            lo, hi = self.outer.offsets[c], self.outer.offsets[c + 1]
            q = cov.n
            blocks = f[lo:hi, lo:hi].reshape(self.outer.sizes[c], q, self.outer.sizes[c], q)
            summed = np.einsum("lalb->ab", blocks)  # sum of the diagonal blocks F_ll
            units = cov.units().reshape(cov.n_params, -1)
            grad[self.offsets[c + 1]:self.offsets[c + 2]] = units @ summed.ravel()
        for blk, loc in zip(w.blocks, self._local):
            cols, z = loc["cols"], loc["z"]
            resid_i = loc["zhat"] - z @ h[cols]  # w_i
            k_i = w.k[cols[:, :, None], cols[:, None, :]]
            d = z @ k_i @ z.transpose(0, 2, 1) + resid_i @ k_mat @ resid_i.transpose(0, 2, 1)
            d = np.add.reduceat(d, loc["starts"], axis=0)
            e = blk.batch.count[:, None, None] * blk.omega - blk.omega @ d @ blk.omega
            grad[: self.n_inner] += blk.d1.reshape(self.n_inner, -1) @ e.ravel()
        return grad

    def _scatter(self, loc: dict, local: np.ndarray) -> np.ndarray:
        r""":math:`\sum_i E_i^\top a_i` (Q x c) of subject-local rows ``local`` (n_s, R, c)."""
        c = local.shape[2]
        index = (loc["cols"][:, :, None] * c + np.arange(c)).ravel()
        return np.bincount(index, local.ravel(), self.q_total * c).reshape(self.q_total, c)

    def _derivative_products(self, wb: Woodbury):
        r"""Per batch ``(block, local, xt, u)``: the subjects' rows of :math:`\tilde X = V^{-1}X`,
        :math:`\tilde X_i = \Omega_i(X_i - Z_{oi}KS_X)` with :math:`S_X = Z_o^\top\Omega X`
        (n_s, k, p), and of :math:`U_h = V_h\tilde X` for every parameter *h* (H, n_s, k, p):
        :math:`\mathrm{blockdiag}_i(\partial_h\Sigma_i)\tilde X` for a subject-level
        parameter, :math:`Z_o(I\otimes\partial_hG_f)Z_o^\top\tilde X` for an outer one."""
        p = self.p
        h_x = wb.k @ wb.s[:, :p]
        xts, ztx = [], np.zeros((self.q_total, p))
        for blk, loc in zip(wb.blocks, self._local):
            xt = blk.omega[blk.batch.pattern] @ (loc["zhat"][:, :, :p] - loc["z"] @ h_x[loc["cols"]])
            xts.append(xt)
            ztx += self._scatter(loc, loc["z"].transpose(0, 2, 1) @ xt)
        gz = []  # (I x dG_h) Z_o' X~ for each outer parameter h
        for c, cov in enumerate(self.covariances):
            lo, hi = self.outer.offsets[c], self.outer.offsets[c + 1]
            block = ztx[lo:hi].reshape(self.outer.sizes[c], cov.n, p)
            for unit in cov.units():
                g_h = np.zeros((self.q_total, p))
                g_h[lo:hi] = np.einsum("ab,lbp->lap", unit, block).reshape(-1, p)
                gz.append(g_h)
        gz = np.array(gz)
        for blk, loc, xt in zip(wb.blocks, self._local, xts):
            u = np.concatenate([blk.d1[:, blk.batch.pattern] @ xt[None], loc["z"][None] @ gz[:, loc["cols"]]])
            yield blk, loc, xt, u

    def jac_info(self, wb: Woodbury) -> np.ndarray:
        r""":math:`B_h = X^\top V^{-1}V_hV^{-1}X = \tilde X^\top U_h` (H, p, p), analytic."""
        out = np.zeros((self.n_params, self.p, self.p))
        for _, _, xt, u in self._derivative_products(wb):
            out += np.einsum("nkp,hnkq->hpq", xt, u)
        return 0.5 * (out + out.transpose(0, 2, 1))

    def kenward_roger_terms(self, phi: np.ndarray, w: np.ndarray, linear: bool) -> np.ndarray:
        r""":math:`\sum_{hj}W_{hj}(Q_{hj} - \tfrac14R_{hj})` of Kenward & Roger (1997), p x p,
        over the whole :math:`V` by Woodbury's identity (no :math:`n \times n` matrix).

        With :math:`\tilde X = V^{-1}X`, :math:`U_h = V_h\tilde X` (see
        :meth:`_derivative_products`) and :math:`Y_h = \sum_jW_{hj}U_j`:

        .. math::
            \sum_{hj}W_{hj}Q_{hj} = \sum_h U_h^\top V^{-1}Y_h
            = \sum_h\bigl[U_h^\top\Omega Y_h - (Z_o^\top\Omega U_h)^\top K(Z_o^\top\Omega Y_h)\bigr].

        :math:`G_f` is linear in its parameters, so :math:`R_{hj} = \sum_i\tilde X_i^\top
        \partial^2_{hj}\Sigma_i\tilde X_i` over subject-level pairs only.  Cost: per subject
        :math:`O(Hk^2p)` for :math:`H` parameters, plus :math:`O(HQ^2p)`.
        """
        wb = self.woodbury(phi, 1 if linear else 2)
        n, p = self.n_params, self.p
        total = np.zeros((p, p))
        zou, zoy = np.zeros((n, self.q_total, p)), np.zeros((n, self.q_total, p))
        w_inner = w[: self.n_inner, : self.n_inner]
        for blk, loc, xt, u in self._derivative_products(wb):
            pat = blk.batch.pattern
            omega = blk.omega[pat][None]
            y = np.tensordot(w, u, axes=([1], [0]))
            ou, oy = omega @ u, omega @ y
            total += np.einsum("hnkp,hnkq->pq", u, oy)
            zt = loc["z"].transpose(0, 2, 1)
            for h in range(n):
                zou[h] += self._scatter(loc, zt @ ou[h])
                zoy[h] += self._scatter(loc, zt @ oy[h])
            if not linear and blk.d2 is not None:
                r = np.tensordot(w_inner, blk.d2, axes=([0, 1], [0, 1]))[pat]  # sum_hj W_hj S_hj
                total -= 0.25 * np.einsum("nkp,nkl,nlq->pq", xt, r, xt)
        total -= np.einsum("hap,ab,hbq->pq", zou, wb.k, zoy)
        return 0.5 * (total + total.T)

    def clusters(self) -> np.ndarray:
        """Independent block of each subject (0, 1, ...): the connected components of the
        graph that links subjects sharing a level of some outer factor (sites for subjects
        nested in sites; one block when a factor is crossed with the subjects)."""
        n_s = self.outer.columns.shape[0]
        cols = self.outer.columns
        subjects = np.repeat(np.arange(n_s), cols.shape[1])
        size = n_s + self.q_total
        graph = coo_matrix((np.ones(subjects.size), (subjects, n_s + cols.ravel())), shape=(size, size))
        labels = connected_components(graph, directed=False)[1][:n_s]
        return np.unique(labels, return_inverse=True)[1]

    def cluster_covariances(self, phi: np.ndarray, max_elements: int = 2**22):
        r"""Dense marginal covariance :math:`V_c = Z_{oc}G_oZ_{oc}^\top + \mathrm{blockdiag}_{i\in c}
        W_i^{-1/2}\Sigma_iW_i^{-1/2}` of every independent block *c* (:meth:`clusters`), on
        the unweighted scale.

        Yields ``(rows, v)`` for chunks of blocks of similar size: ``rows`` (m, k) data rows
        of each block (-1 pads to the chunk's largest block :math:`k`), ``v`` (m, k, k) with
        the identity on the padding; at most about ``max_elements`` entries per chunk.
        Memory :math:`O(\max_c n_c^2)`; what is done with :math:`V_c` typically costs
        :math:`O(\sum_c n_c^3)`.
        """
        blocks = self.pattern_blocks(phi, 0)
        g = self.g_matrices(phi)
        subject_cluster = self.clusters()
        cluster = subject_cluster[self._subject]
        n = cluster.size
        size = np.bincount(cluster)
        order = np.argsort(cluster, kind="stable")
        pos = np.empty(n, dtype=int)
        pos[order] = np.arange(n) - np.concatenate([[0], np.cumsum(size)[:-1]])[cluster[order]]
        isw = 1.0 / self._sw
        by_size = np.argsort(size, kind="stable")
        start = 0
        while start < by_size.size:
            stop = start + 1
            while stop < by_size.size and (stop + 1 - start) * size[by_size[stop]] ** 2 <= max_elements:
                stop += 1
            chunk = by_size[start:stop]
            k, m = int(size[chunk].max()), chunk.size
            local = np.full(size.size, -1)
            local[chunk] = np.arange(m)
            mine = local[cluster] >= 0
            rows = np.full((m, k), -1)
            rows[local[cluster[mine]], pos[mine]] = np.flatnonzero(mine)
            v = np.zeros((m, k, k))
            for blk in blocks:
                b = blk.batch
                j = local[subject_cluster[self._subject[b.rows[:, 0]]]]
                sel = j >= 0
                r, j = b.rows[sel], j[sel]
                sig = blk.sigma[b.pattern[sel]] * isw[r][:, :, None] * isw[r][:, None, :]
                v[j[:, None, None], pos[r][:, :, None], pos[r][:, None, :]] = sig
            used = rows >= 0
            for level, gf in zip(self._factors, g):
                z = np.where(used[:, :, None], level.Z[rows], 0.0)
                codes = np.where(used, level.codes[rows], -1)
                v += (z @ gf @ z.transpose(0, 2, 1)) * (codes[:, :, None] == codes[:, None, :])
            pad = np.nonzero(~used)
            v[pad[0], pad[1], pad[1]] = 1.0
            yield rows, v
            start = stop

    def _with_hessian(self, phi: np.ndarray) -> Evaluation | None:
        centre = self.evaluate(phi, 1)
        if centre is None:
            return None
        n = self.n_params
        hess = np.zeros((n, n))
        scale = float(np.max(np.abs(phi)))
        for j in range(n):
            h = STEP * max(abs(phi[j]), 1e-2 * scale)
            plus, minus = (self.evaluate(phi + sign * h * np.eye(n)[j], 1) for sign in (1.0, -1.0))
            if plus is None and minus is None:
                return None
            width = h * ((plus is not None) + (minus is not None))  # one-sided at an edge
            plus, minus = plus or centre, minus or centre
            hess[:, j] = (plus.grad - minus.grad) / width
        return Evaluation(centre.value, centre.beta, centre.cov_beta, centre.grad, 0.5 * (hess + hess.T),
                          self.jac_info(self.woodbury(phi, 1)))

    def start(self) -> np.ndarray:
        r"""Starting :math:`G_f`: half the covariance over levels of the per-level least
        squares of the OLS residuals on :math:`Z_f` (levels with a full-rank design), made
        positive definite."""
        info = sum(np.einsum("maaij->ij", b.moments) for b in self.batches)
        beta = np.linalg.solve(info[: self.p, : self.p], info[: self.p, self.p])
        zhat = self._zhat
        resid = zhat[:, -1] - zhat[:, :-1] @ beta
        out = []
        for cov, level in zip(self.covariances, self._factors):
            z = level.Z * self._sw[:, None]
            ztz = np.zeros((level.labels.size, cov.n, cov.n))
            np.add.at(ztz, level.codes, z[:, :, None] * z[:, None, :])
            ztr = np.zeros((level.labels.size, cov.n))
            np.add.at(ztr, level.codes, z * resid[:, None])
            full = np.linalg.matrix_rank(ztz) == cov.n
            coef = np.linalg.solve(ztz[full], ztr[full][..., None])[..., 0]
            g = 0.5 * np.cov(coef.T, ddof=0).reshape(cov.n, cov.n) if coef.shape[0] > 1 else np.eye(cov.n)
            out.append(cov.positive_definite(g, float(np.var(resid))))
        return np.concatenate(out)
