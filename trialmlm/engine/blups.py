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
computed pattern by pattern, vectorised over the subjects of each pattern, or, with
residuals independent given one factor's random effects, from the per-subject sums of
:mod:`trialmlm.engine.independent_residuals`, vectorised over all subjects.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import model_matrix
from scipy.linalg import block_diag

from ..covariance.random_effects import Independent
from ..errors import DataError


@dataclass(frozen=True)
class Predictions:
    r"""BLUPs and their errors; :math:`\theta = (\beta, u)` stacks the fixed effects and the
    outer factors' effects :math:`u` (empty without outer factors).

    ``blup`` (n_subjects, r), ``pev`` (n_subjects, r, r) and ``cross``
    :math:`\mathrm{Cov}(\hat\theta - \theta, \hat b_i - b_i)` (n_subjects, p + Q, r) are the
    subject's; ``outer`` (Q,) holds :math:`\hat u` and ``joint`` (p + Q, p + Q)
    :math:`\mathrm{Cov}(\hat\theta - \theta)`.
    """

    blup: np.ndarray
    pev: np.ndarray
    cross: np.ndarray
    outer: np.ndarray
    joint: np.ndarray


def _joint(fit) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\hat u = KSu` and :math:`\mathrm{Cov}(\hat\theta - \theta)`
    (no rows without outer factors: :math:`\hat u` is empty and the covariance is :math:`C`).

    Henderson: :math:`\mathrm{Cov}(\hat\beta, \hat u - u) = -CY^\top G_o` and
    :math:`\mathrm{Var}(\hat u - u) = G_o - G_o(Z_o^\top V^{-1}Z_o - YCY^\top)G_o` with
    :math:`Y = Z_o^\top V^{-1}X = S_X - TKS_X` and :math:`Z_o^\top V^{-1}Z_o = T - TKT`
    (notation of :mod:`trialmlm.engine.multilevel`).
    """
    c = fit.beta_cov
    lik = fit.likelihood
    w = lik.woodbury(fit.phi)
    p = fit.n_fixed
    g_o = np.zeros_like(w.k)
    for f, gf in enumerate(w.g):
        lo, hi = lik.outer.offsets[f], lik.outer.offsets[f + 1]
        g_o[lo:hi, lo:hi] = np.kron(np.eye(lik.outer.sizes[f]), gf)
    h = w.k @ w.s
    y = w.s[:, :p] - w.t @ h[:, :p]
    c12 = -c @ y.T @ g_o
    c22 = g_o - g_o @ (w.t - w.t @ w.k @ w.t - y @ c @ y.T) @ g_o
    return h @ np.append(-fit.beta, 1.0), np.block([[c, c12], [c12.T, c22]])


def predict_random_effects(fit) -> Predictions:
    r"""Outer effects :math:`\hat u` and, per subject, with :math:`e_i = y_i - X_i\hat\beta - Z_{oi}\hat u`
    and :math:`F_i = GZ_i^\top V_i^{-1}[X_i\;Z_{oi}]`:
    :math:`\hat b_i = GZ_i^\top V_i^{-1}e_i`,
    :math:`\mathrm{Var}(\hat b_i - b_i) = G - GZ_i^\top V_i^{-1}Z_iG + F_i\Sigma_\theta F_i^\top`,
    :math:`\mathrm{Cov}(\hat\theta - \theta, \hat b_i - b_i) = -\Sigma_\theta F_i^\top`
    (the subject's own error is uncorrelated with :math:`\hat\theta - \theta`).  With
    residuals independent given the random effects, from the per-subject sums
    (:meth:`IndependentResidualsLikelihood.subject_predictions`), without patterns."""
    if fit.spec.independent_residuals:
        own = fit.likelihood.subject_predictions(fit.phi, fit.beta, fit.beta_cov)
        if own is not None:
            return Predictions(*own, np.zeros(0), fit.beta_cov)
    design = fit.design
    outer, joint = _joint(fit)
    n_s, r, p = design.subject_labels.size, len(design.random_names), fit.n_fixed
    blup, pev, cross = np.zeros((n_s, r)), np.zeros((n_s, r, r)), np.zeros((n_s, joint.shape[0], r))
    if not fit.spec.subject_random:
        return Predictions(blup, pev, cross, outer, joint)
    sw = np.sqrt(design.weights)
    x = design.X * sw[:, None]
    loc = fit.likelihood.outer
    e = (design.y - design.X @ fit.beta) * sw
    e = e - np.einsum("na,na->n", loc.z, outer[loc.columns[design.subject]])
    for blk in fit.pattern_blocks(0):  # V_i holds the subject's own group's residual matrix
        b = blk.batch
        g = fit._g(b.group)
        z = b.geometry[1][b.pattern]  # (n, k, r), weighted
        zo = z.transpose(0, 2, 1) @ blk.omega[b.pattern]  # Z' V^-1
        subjects = design.subject[b.rows[:, 0]]
        blup[subjects] = np.einsum("ab,nbk,nk->na", g, zo, e[b.rows])
        # [X_i Z_oi] in local columns, indexed into theta
        index = np.concatenate([np.broadcast_to(np.arange(p), (len(subjects), p)), p + loc.columns[subjects]],
                               axis=1)
        design_i = np.concatenate([x[b.rows], loc.z[b.rows]], axis=2)
        f = g @ zo @ design_i  # (n, r, p + R)
        local = joint[index[:, :, None], index[:, None, :]]
        pev[subjects] = g - g @ (zo @ z) @ g + f @ local @ f.transpose(0, 2, 1)
        cross[subjects] = -np.einsum("nta,nra->ntr", joint[:, index].transpose(1, 0, 2), f)
    return Predictions(blup, pev, cross, outer, joint)


def subject_ols(fit) -> np.ndarray:
    """Per-subject least squares of :math:`y_i - X_i\\hat\\beta` on :math:`Z_i` (NaN if rank-deficient):
    :math:`Z_i^\\top Z_i` and :math:`Z_i^\\top e_i` summed over each subject's rows at once
    (``np.add.reduceat``; the rows are sorted by subject)."""
    design = fit.design
    e = design.y - design.X @ fit.beta
    r = len(design.random_names)
    out = np.full((design.subject_labels.size, r), np.nan)
    z = design.Z  # unweighted, as a per-subject regression of the data
    starts = np.flatnonzero(np.r_[True, design.subject[1:] != design.subject[:-1]])
    ztz = np.add.reduceat(z[:, :, None] * z[:, None, :], starts, axis=0)
    zte = np.add.reduceat(z * e[:, None], starts, axis=0)
    full = np.linalg.matrix_rank(ztz) == r
    if full.any():
        out[design.subject[starts[full]]] = np.linalg.solve(ztz[full], zte[full][..., None])[..., 0]
    return out


class RandomEffectsResults:
    """The random-effect part of :class:`trialmlm.MMRMResults` (SAS RANDOM statements).

    With outer grouping factors (e.g. ``(1 | SITE) + (1 | USUBJID)``) the factors are
    listed outer factors first (in formula order), then the subject; labels are
    ``"FACTOR: term"`` (e.g. ``"SITE: Intercept"``, ``"USUBJID: WEEK"``).
    """

    # -- random effects (SAS RANDOM) ------------------------------------------------------
    def _require_random(self) -> None:
        if not self.spec.random_effects:
            raise DataError("the model has no random effects; add a term such as (1 + TIME | SUBJECT)")

    def _g(self, g: int = 0) -> np.ndarray:
        return self.structures[g].g_matrix(self._phi_of(g))

    def _factors(self) -> list[tuple[str, tuple[str, ...], np.ndarray, object]]:
        """(factor, term names, G, formulaic spec of its Z) of every grouping factor with random
        effects: the outer factors in formula order, then the subject (if it has random effects)."""
        outer = self.likelihood.g_matrices(self.phi)
        out = [(lv.factor, lv.names, g, lv.spec) for lv, g in zip(self.design.outer, outer)]
        if self.spec.subject_random:
            out.append((self.spec.subject, self.design.random_names, self._g(), self.design.random_spec))
        return out

    @property
    def random_effects_covariance(self) -> pd.DataFrame:
        """:math:`G`, the covariance of the random effects, labelled by term (block-diagonal
        over grouping factors, labels ``"FACTOR: term"``, with outer factors)."""
        self._require_random()
        if not self.spec.nested:
            names = list(self.design.random_names)
            return pd.DataFrame(self._g(), index=names, columns=names)
        factors = self._factors()
        names = [f"{factor}: {term}" for factor, terms, _, _ in factors for term in terms]
        return pd.DataFrame(block_diag(*[g for _, _, g, _ in factors]), index=names, columns=names)

    def _residual(self, g: int = 0):
        """Group ``g``'s residual structure and its parameters."""
        block = self.likelihood.subject_level.parameters.residual(g)
        return block.transform, self.phi[block.at]

    @property
    def residual_parameters(self) -> pd.Series:
        r"""The residual structure's parameters, named as in ``covariance_parameters``
        (``Residual`` for :math:`\sigma^2I`, ``AR(1)``, ``SP(POW)``, ...; every group's, with
        the group suffix, with a per-group structure; without random effects all covariance
        parameters): always a Series."""
        n_g = self.structures[0].n_g if self.spec.subject_random else 0
        n_r = sum(s.n_params for s in self.structures) - n_g * len(self.structures)
        names = self.covariance_parameter_names[n_g:n_g + n_r]
        return pd.Series(self.phi[n_g:n_g + n_r].copy(), index=names, name="estimate")

    @property
    def residual_variance(self) -> float:
        r""":math:`\hat\sigma^2` of independent residuals (:math:`R = \sigma^2I`; the linear
        model's one variance): always a float.  DataError for a residual structure or one
        variance per group (see ``residual_parameters``)."""
        params = self.residual_parameters
        if len(params) != 1 or not isinstance(self._residual()[0], Independent):
            raise DataError(f"the residuals have a structure ({', '.join(params.index)}), not one variance "
                            "sigma^2; see residual_parameters")
        return float(params.iloc[0])

    @property
    def _random_predictions(self) -> Predictions:
        self._require_random()
        return self.cached("blup", lambda: predict_random_effects(self))

    def random_effects(self, se: bool = False) -> dict[str, pd.DataFrame]:
        r"""BLUPs, a dict ``{factor: table}`` with one table per grouping factor (outer factors
        first, in formula order, then the subject; as lme4's ``ranef``), also for one factor.

        Each table is wide, indexed by the factor's levels with one column per random term:
        :math:`\hat u` of an outer factor, :math:`\hat b_i` of the subject; ``se=True`` gives
        the long table ``FACTOR, term, estimate, se`` with the prediction-error standard errors
        :math:`\sqrt{\mathrm{Var}(\hat b_i - b_i)}` (SAS Std Err Pred).
        """
        pred = self._random_predictions
        design = self.design
        tables = {}
        p = self.n_fixed
        for f, level in enumerate(design.outer):
            lo, hi = self.likelihood.outer.offsets[f], self.likelihood.outer.offsets[f + 1]
            shape = (level.labels.size, len(level.names))
            pev = np.diag(pred.joint)[p + lo:p + hi].reshape(shape)
            tables[level.factor] = _blup_table(level.factor, level.labels, level.names,
                                               pred.outer[lo:hi].reshape(shape), pev, se)
        if self.spec.subject_random:
            tables[self.spec.subject] = _blup_table(
                self.spec.subject, design.subject_labels, design.random_names, pred.blup,
                np.diagonal(pred.pev, axis1=1, axis2=2), se)
        return tables

    def variance_partition(self, at: dict | None = None) -> pd.DataFrame:
        r"""Between-subject :math:`z^\top Gz`, within-subject (residual) variance and
        ICC = between / (between + within), at values of the random-effect variables.

        ``at``: e.g. ``{"TIME": [0, 1, 2]}``; default: the intercept only, or the distinct
        observed values (5 quantiles if more than 20) of a numeric random-effect variable.
        Within-subject variance: :math:`\sigma^2`, or the residual structure's variance
        (its diagonal at each visit for heterogeneous structures, averaged); with a
        per-group residual structure (SAS GROUP=) one block of rows per group, the group
        in a first column named after the group variable.

        With outer grouping factors the columns are one variance :math:`z_f^\top G_fz_f`
        per factor (named after it), ``within``, ``total`` and, per factor, ``icc_FACTOR``:
        for an outer factor its variance / total (the correlation of two observations of
        different subjects sharing its level), for the subject its variance plus those of
        the outer factors nested in it (each subject meets one level), / total (two
        observations of the same subject).
        """
        self._require_random()
        factors = self._factors()
        grid = _grid(at if at is not None else self._default_at(factors))
        parts = {factor: _zgz(spec, g, grid) for factor, _, g, spec in factors}
        if not self.spec.nested:
            return pd.concat([self._group_partition(grid, parts[self.spec.subject], g)
                              for g in range(len(self.design.group_labels))], ignore_index=True)
        return self._nested_partition(grid, parts)

    def _default_at(self, factors) -> dict:
        """The observed values of each variable of the random-effect terms (5 quantiles if more
        than 20); empty (the intercept only) without such variables."""
        at = {}
        variables = sorted({v for *_, spec in factors for v in getattr(spec, "required_variables", ())})
        for v in variables:
            values = np.unique(self._used_rows_random(v))
            at[v] = values if values.size <= 20 else np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
        return at

    def _group_partition(self, grid: pd.DataFrame, between: np.ndarray, g: int) -> pd.DataFrame:
        """One grouping factor: ``between``, ``within``, ``total``, ``icc`` at the rows of
        ``grid`` for covariance group ``g`` (named in a first column with several groups)."""
        out = grid.copy()
        if len(self.structures) > 1:
            out.insert(0, self.spec.group, self.design.group_labels[g])
        within = self._within_variance(g)
        out["between"] = between
        out["within"] = within
        out["total"] = between + within
        out["icc"] = out["between"] / out["total"]
        return out

    def _nested_partition(self, grid: pd.DataFrame, parts: dict) -> pd.DataFrame:
        """Outer factors: a variance per factor, ``within``, ``total`` and ``icc_FACTOR``
        (the subject's with the outer factors nested in it), at the rows of ``grid``."""
        within = self._within_variance()
        out = grid.copy()
        total = sum(parts.values()) + within
        for factor, values in parts.items():
            out[factor] = values
        out["within"] = within
        out["total"] = total
        for factor in self.spec.outer:
            out[f"icc_{factor}"] = parts[factor] / total
        if self.spec.subject_random:
            nested = self.likelihood.outer.nested
            shared = parts[self.spec.subject] + sum(parts[f] for f, n in zip(self.spec.outer, nested) if n)
            out[f"icc_{self.spec.subject}"] = shared / total
        return out.reset_index(drop=True)

    def _within_variance(self, g: int = 0) -> float:
        s, phi_r = self._residual(g)
        if isinstance(s, Independent):
            return float(phi_r[0])
        if s.spatial:
            return float(phi_r[-1])
        return float(np.mean(np.diag(s.matrix(phi_r))))

    def _used_rows_random(self, variable: str) -> np.ndarray:
        if variable in self.design.fixed_frame:
            return self.design.fixed_frame[variable].to_numpy()
        raise DataError(f"give variance_partition(at={{'{variable}': [...]}}) explicitly")

    def shrinkage(self) -> pd.DataFrame:
        r"""Per subject and term: least-squares estimate from the subject's own data
        (:math:`y_i - X_i\hat\beta` on :math:`Z_i`), the BLUP, and the shrinkage factor
        :math:`1 - \hat b_i/\tilde b_i` (0: no shrinkage, 1: shrunk to the mean).
        Single grouping factor only.
        """
        if self.spec.nested:
            raise DataError("shrinkage() compares a subject's BLUP with its own least squares, which "
                            "ignores the outer grouping factors; it is defined for one grouping factor only")
        ols = subject_ols(self)
        blup = self._random_predictions.blup
        names = list(self.design.random_names)
        n_obs = np.bincount(self.design.subject, minlength=self.design.subject_labels.size)
        rows = []
        for j, name in enumerate(names):
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(np.abs(ols[:, j]) > 0, 1 - blup[:, j] / ols[:, j], np.nan)
            rows.append(pd.DataFrame({self.settings.subject: self.design.subject_labels, "term": name,
                                      "n_obs": n_obs, "ols": ols[:, j], "blup": blup[:, j],
                                      "shrinkage": factor}))
        return pd.concat(rows, ignore_index=True)


def _grid(at: dict) -> pd.DataFrame:
    """Every combination of the values in ``at`` (one row and no column for ``{}``)."""
    if not at:
        return pd.DataFrame(index=[0])
    return pd.DataFrame(list(itertools.product(*at.values())), columns=list(at))


def _zgz(spec, g: np.ndarray, grid: pd.DataFrame) -> np.ndarray:
    r""":math:`z^\top Gz` at each row of ``grid``, :math:`z` the random-effect term's row
    (formulaic ``spec``); :math:`z = 1` on an empty grid (the intercept)."""
    z = np.ones((1, 1)) if grid.columns.empty else \
        np.asarray(model_matrix(spec, grid, na_action="raise"), dtype=float)
    return np.einsum("nr,rs,ns->n", z, g, z)


def _blup_table(factor: str, labels, names, values: np.ndarray, pev: np.ndarray, se: bool) -> pd.DataFrame:
    """Wide BLUP table (levels x terms) or, with ``se``, the long ``factor, term, estimate, se``."""
    index = pd.Index(labels, name=factor)
    wide = pd.DataFrame(values, index=index, columns=list(names))
    if not se:
        return wide
    long = wide.stack().rename("estimate").to_frame()
    long["se"] = pd.DataFrame(np.sqrt(pev), index=index, columns=list(names)).stack()
    return long.rename_axis([factor, "term"]).reset_index()
