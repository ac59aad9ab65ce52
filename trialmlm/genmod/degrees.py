r"""Degrees of freedom of Wald tests with a GEE sandwich: one registry, :data:`DF_METHODS`.

* ``none`` (default; SAS PROC GENMOD and PROC GEE): infinite, i.e. z and chi-square tests.
* ``clusters``: :math:`K - p` (:math:`K` clusters, :math:`p` coefficients) for every test:
  t and F with :math:`K - p` denominator df, as Mancl & DeRouen (2001) and
  Kauermann & Carroll (2001) evaluate their corrections; it is SAS PROC GLIMMIX's
  between-subject df (``DDFM=BETWITHIN``, the default with R-side effects only) for effects
  constant within subjects and, under ``TYPE=UN``, for every effect (GLIMMIX documentation,
  "Between-Within Degrees of Freedom Approximation"; not run against SAS output here).
* ``fg``: Fay & Graubard's (2001, Biometrics 57:1198-1206, section 3) Satterthwaite-type df
  of a single contrast :math:`l`, as R saws (M. P. Fay) computes it with its default
  "Psi-tilde" meat (``method = "d5"`` with the ``fg`` variance, ``"d3"`` with ``robust``):
  with :math:`M^{-1}` the model-based bread, :math:`\Omega_i` subject :math:`i`'s part of
  :math:`M`, :math:`h_i` the Fay-Graubard factors (:func:`.variance.fay_graubard_factors`;
  all 1 with the ``robust`` variance) and :math:`P = \sum_i (h_i\circ U_i)(h_i\circ U_i)^\top`,

  .. math::  w_i = l^\top((M - \Omega_i)^{-1} - M^{-1})l,\quad \Psi_i = w_iP,\quad
             c_i = h_i\circ M^{-1}l,\quad a_i = M^{-1}\Omega_ic_i,

  and the :math:`K\times K` matrix :math:`S_{jk} = \delta_{jk}c_j^\top\Psi_jc_j -
  c_j^\top\Psi_ja_k - a_j^\top\Psi_kc_k + a_j^\top(\sum_i\Psi_i)a_k`, the df is
  :math:`\mathrm{tr}(S)^2/\mathrm{tr}(S^2)`, at least 1.  :math:`S` is a diagonal plus a
  rank-:math:`2p` matrix, so both traces are computed in :math:`O(Kp^2)` without forming it.
  Only single contrasts have this df; an F test of several rows uses ``clusters``' df
  :math:`K - p` as its denominator df (saws has no multi-row test either).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .scoring import Estimate, Problem
from .variance import fay_graubard_factors, subject_information


@dataclass(frozen=True)
class DfMethod:
    """A df rule: ``rows(problem, est, vcov, L)`` gives the df of each row of ``L``;
    ``joint`` the denominator df of an F test of several rows."""

    name: str
    label: str
    rows: Callable[[Problem, Estimate, str, np.ndarray], np.ndarray]
    joint: Callable[[Problem, Estimate], float]


def clusters_minus_p(problem: Problem, est: Estimate) -> float:
    """:math:`K - p`."""
    return float(problem.clusters.n_subjects - est.beta.size)


def fay_graubard_df(problem: Problem, est: Estimate, vcov: str, L: np.ndarray) -> np.ndarray:
    """Fay-Graubard's df of each row of ``L`` (module docstring)."""
    if vcov not in ("fg", "robust"):
        raise DataError(f"df='fg' (Fay-Graubard) is defined for vcov 'fg' or 'robust', not {vcov!r}")
    bread = np.linalg.inv(est.H)
    omega = subject_information(problem, est)
    h = fay_graubard_factors(problem, est) if vcov == "fg" else np.ones_like(est.U)
    hu = h * est.U
    P = hu.T @ hu
    drop_one = np.linalg.inv(est.H[None] - omega)
    out = np.full(L.shape[0], np.nan)
    for j, row in enumerate(L):
        if not np.all(np.isfinite(row)):
            continue
        w = np.einsum("p,npq,q->n", row, drop_one, row) - row @ bread @ row
        c = h * (bread @ row)
        a = np.einsum("pq,nqr,nr->np", bread, omega, c)
        E = w[:, None] * (c @ P)
        d = np.einsum("np,np->n", E, c)
        Z = np.hstack([E, a])
        p = row.size
        W = np.block([[np.zeros((p, p)), -np.eye(p)], [-np.eye(p), w.sum() * P]])
        G = Z.T @ Z
        trace = d.sum() + np.trace(W @ G)
        square = d @ d + 2 * d @ np.einsum("ni,ij,nj->n", Z, W, Z) + np.trace(W @ G @ W @ G)
        out[j] = max(1.0, trace ** 2 / square)
    return out


DF_METHODS: dict[str, DfMethod] = {m.name: m for m in (
    DfMethod("none", "infinite (z, chi-square)", lambda problem, est, vcov, L: np.full(L.shape[0], np.inf),
             lambda problem, est: np.inf),
    DfMethod("clusters", "clusters minus parameters",
             lambda problem, est, vcov, L: np.full(L.shape[0], clusters_minus_p(problem, est)),
             clusters_minus_p),
    DfMethod("fg", "Fay-Graubard", fay_graubard_df, clusters_minus_p),
)}


def get_df_method(name: str) -> DfMethod:
    """The registry entry of ``name`` (DataError listing the names otherwise)."""
    if name not in DF_METHODS:
        raise DataError(f"df must be one of {', '.join(DF_METHODS)}; got {name!r}")
    return DF_METHODS[name]
