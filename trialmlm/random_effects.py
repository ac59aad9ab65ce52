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

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .covariance.random_effects import Independent
from .errors import DataError


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
    for batch in fit.likelihood.batches:  # subjects grouped by number of observations
        rows = batch.rows
        z = design.Z[rows]  # unweighted, as a per-subject regression of the data
        ztz = z.transpose(0, 2, 1) @ z
        full = np.linalg.matrix_rank(ztz) == r
        if full.any():
            sol = np.linalg.solve(ztz[full], np.einsum("nka,nk->na", z[full], e[rows][full])[..., None])
            out[design.subject[rows[full, 0]]] = sol[..., 0]
    return out


class RandomEffectsResults:
    """The random-effect part of :class:`trialmlm.MMRMResults` (SAS RANDOM statement)."""

    # -- random effects (SAS RANDOM) ------------------------------------------------------
    def _require_random(self) -> None:
        if self.settings.random is None:
            raise DataError("the model has no random effects; add a term such as (1 + TIME | SUBJECT)")

    def _g(self, g: int = 0) -> np.ndarray:
        return self.structures[g].g_matrix(self._phi_of(g))

    @property
    def random_effects_covariance(self) -> pd.DataFrame:
        """:math:`G`, the covariance of the random effects, labelled by term."""
        self._require_random()
        names = list(self.design.random_names)
        return pd.DataFrame(self._g(), index=names, columns=names)

    @property
    def residual_variance(self) -> float | pd.Series:
        r""":math:`\sigma^2` for independent residuals, else the residual structure's parameters."""
        self._require_random()
        s = self.structures[0]
        phi = self._phi_of(0)[s.n_g:]
        if isinstance(s.residual, Independent):
            return float(phi[0])
        return pd.Series(phi.copy(), index=s.residual.param_names(), name="estimate")

    @property
    def _random_predictions(self) -> Predictions:
        self._require_random()
        return self._cached("blup", lambda: predict_random_effects(self))

    def random_effects(self, se: bool = False) -> pd.DataFrame:
        r"""BLUPs :math:`\hat b_i`, one row per subject and one column per random term.

        ``se=True``: a long table ``subject, term, estimate, se`` with the prediction-error
        standard errors :math:`\sqrt{\mathrm{Var}(\hat b_i - b_i)}` (SAS Std Err Pred).
        """
        pred = self._random_predictions
        names = list(self.design.random_names)
        index = pd.Index(self.design.subject_labels, name=self.settings.subject)
        wide = pd.DataFrame(pred.blup, index=index, columns=names)
        if not se:
            return wide
        ses = np.sqrt(np.diagonal(pred.pev, axis1=1, axis2=2))
        long = wide.stack().rename("estimate").to_frame()
        long["se"] = pd.DataFrame(ses, index=index, columns=names).stack()
        return long.rename_axis([self.settings.subject, "term"]).reset_index()

    def variance_partition(self, at: dict | None = None) -> pd.DataFrame:
        r"""Between-subject :math:`z^\top Gz`, within-subject (residual) variance and
        ICC = between / (between + within), at values of the random-effect variables.

        ``at``: e.g. ``{"TIME": [0, 1, 2]}``; default: the intercept only, or the distinct
        observed values (5 quantiles if more than 20) of a numeric random-effect variable.
        Within-subject variance: :math:`\sigma^2`, or the residual structure's variance
        (its diagonal at each visit for heterogeneous structures, averaged).
        """
        self._require_random()
        from formulaic import model_matrix

        spec = self.design.random_spec
        variables = sorted(spec.required_variables) if hasattr(spec, "required_variables") else []
        if at is None:
            at = {}
            for v in variables:
                values = np.unique(self._used_rows_random(v))
                at[v] = values if values.size <= 20 else np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
        grid = pd.DataFrame(list(itertools.product(*at.values())), columns=list(at)) if at else \
            pd.DataFrame(index=[0])
        z = np.asarray(model_matrix(spec, grid, na_action="raise"), dtype=float) if at else \
            np.ones((1, 1))
        between = np.einsum("nr,rs,ns->n", z, self._g(), z)
        s = self.structures[0]
        phi_r = self._phi_of(0)[s.n_g:]
        if isinstance(s.residual, Independent):
            within = float(phi_r[0])
        elif s.residual.spatial:
            within = float(phi_r[-1])
        else:
            within = float(np.mean(np.diag(s.residual.matrix(phi_r))))
        out = grid.copy() if at else pd.DataFrame(index=[0])
        out["between"] = between
        out["within"] = within
        out["total"] = out["between"] + within
        out["icc"] = out["between"] / out["total"]
        return out.reset_index(drop=True)

    def _used_rows_random(self, variable: str) -> np.ndarray:
        if variable in self.design.fixed_frame:
            return self.design.fixed_frame[variable].to_numpy()
        raise DataError(f"give variance_partition(at={{'{variable}': [...]}}) explicitly")

    def shrinkage(self) -> pd.DataFrame:
        r"""Per subject and term: least-squares estimate from the subject's own data
        (:math:`y_i - X_i\hat\beta` on :math:`Z_i`), the BLUP, and the shrinkage factor
        :math:`1 - \hat b_i/\tilde b_i` (0: no shrinkage, 1: shrunk to the mean).
        """
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

