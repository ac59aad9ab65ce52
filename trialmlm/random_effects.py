r"""Random-effect predictions (BLUPs), their prediction errors and conditional means.

With :math:`V_i = Z_iGZ_i^\top + R_i`, :math:`e_i = y_i - X_i\hat\beta` and
:math:`C = (X^\top V^{-1}X)^{-1}` (SAS "Solution for Random Effects", Henderson 1975):

.. math::
    \hat b_i = GZ_i^\top V_i^{-1}e_i, \qquad
    \mathrm{Var}(\hat b_i - b_i) = G - GZ_i^\top V_i^{-1}Z_iG
        + GZ_i^\top V_i^{-1}X_iCX_i^\top V_i^{-1}Z_iG,

and :math:`\mathrm{Cov}(\hat\beta, \hat b_i - b_i) = -CX_i^\top V_i^{-1}Z_iG`; the
prediction error variance accounts for the estimation of :math:`\beta` (SAS's Std Err
Pred), unlike lme4's ``condVar``, which is the first two terms.  All quantities are
computed pattern by pattern, vectorised over the subjects of each pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Predictions:
    """Per subject (rows in subject-code order): BLUPs, PEV, Cov(beta_hat, b_hat - b)."""

    blup: np.ndarray  # (n_subjects, r)
    pev: np.ndarray  # (n_subjects, r, r)
    cross: np.ndarray  # (n_subjects, p, r)


def predict_random_effects(fit) -> Predictions:
    design = fit.design
    n_s, r, p = design.subject_labels.size, len(design.random_names), fit.n_fixed
    blup, pev, cross = np.zeros((n_s, r)), np.zeros((n_s, r, r)), np.zeros((n_s, p, r))
    sw = np.sqrt(design.weights)
    x = design.X * sw[:, None]
    e = (design.y - design.X @ fit.beta) * sw
    c = fit.beta_cov
    offsets = fit.phi_offsets
    for blk in fit.pattern_blocks(0):
        b = blk.batch
        struct = fit.structures[b.group]
        g = struct.g_matrix(fit.phi[offsets[b.group]:offsets[b.group + 1]])
        z = b.geometry[1][b.pattern]  # (n, k, r), weighted
        omega = blk.omega[b.pattern]
        zo = z.transpose(0, 2, 1) @ omega  # Z' V^-1
        subjects = design.subject[b.rows[:, 0]]
        blup[subjects] = np.einsum("ab,nbk,nk->na", g, zo, e[b.rows])
        zox = zo @ x[b.rows]  # Z' V^-1 X  (n, r, p)
        pev[subjects] = g - g @ (zo @ z) @ g + g @ zox @ c @ zox.transpose(0, 2, 1) @ g
        cross[subjects] = -(c @ zox.transpose(0, 2, 1)) @ g
    return Predictions(blup, pev, cross)


def subject_ols(fit) -> np.ndarray:
    """Per-subject least squares of :math:`y_i - X_i\\hat\\beta` on :math:`Z_i` (NaN if rank-deficient)."""
    design = fit.design
    e = design.y - design.X @ fit.beta
    r = len(design.random_names)
    out = np.full((design.subject_labels.size, r), np.nan)
    for blk in fit.pattern_blocks(0):
        b = blk.batch
        rows = b.rows
        z = design.Z[rows]  # unweighted, as a per-subject regression of the data
        ztz = z.transpose(0, 2, 1) @ z
        full = np.linalg.matrix_rank(ztz) == r
        if full.any():
            sol = np.linalg.solve(ztz[full], np.einsum("nka,nk->na", z[full], e[rows][full])[..., None])
            out[design.subject[rows[full, 0]]] = sol[..., 0]
    return out
