r"""Conditional predictions of a marginal model's responses given the subject's observed ones
(SAS PROC MIXED OUTP= for rows with a missing response under REPEATED; R mmrm
``predict(conditional = TRUE)``).

For subject :math:`i` with observed responses :math:`y_o` (rows of ``newdata`` whose
response is not missing) and a row :math:`m` to predict, with :math:`\Sigma` the fitted
residual covariance over the subject's visits (or coordinates) and
:math:`S = \Sigma_{mo}\Sigma_{oo}^{-1}`,

.. math::

    \hat y_m = x_m^\top\hat\beta + S(y_o - X_o\hat\beta), \qquad
    z_m = x_m - X_o^\top S^\top,

    \mathrm{Var}_{\mathrm{conf}} = z_m^\top C z_m, \qquad
    \mathrm{Var}_{\mathrm{pred}} = z_m^\top C z_m + \Sigma_{mm} - S\Sigma_{om}

(:math:`C` = :math:`\mathrm{Cov}(\hat\beta)`).  A subject without observed rows gets the
marginal mean, :math:`x_m^\top C x_m` and :math:`x_m^\top C x_m + \Sigma_{mm}`; an
observed row is its own value, variance 0 (as mmrm).  The covariance parameters are
plugged in: mmrm's prediction interval adds their uncertainty by simulation, which this
leaves out (see docs/inference.md).  Vectorised over subjects with the same group,
observed and predicted visits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..covariance.random_effects import Independent
from ..errors import DataError


def _row_keys(fit, newdata: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``newdata``: subject code, group code and position (visit) key."""
    s = fit.settings
    needed = [s.subject, *s.visit] + ([s.group] if s.group else [])
    absent = [c for c in needed if c not in newdata.columns]
    if absent:
        raise DataError("conditional predictions need the column(s) "
                        f"{', '.join(map(repr, absent))} in newdata")
    for col in needed:
        if newdata[col].isna().any():
            row = newdata.index[newdata[col].isna().to_numpy()].tolist()[0]
            raise DataError(f"conditional predictions: row {row!r} has no {col}")
    subject = pd.factorize(newdata[s.subject])[0]
    if s.group:
        labels = fit.design.group_labels
        group = pd.Categorical(newdata[s.group], categories=labels).codes
        if (group < 0).any():
            bad = newdata[s.group][group < 0].iloc[0]
            raise DataError(f"{s.group} {bad!r} is not a group of the fit "
                            f"(groups: {', '.join(map(str, labels))})")
    else:
        group = np.zeros(len(newdata), dtype=np.int64)
    return subject, group, _positions(fit, newdata)


def _positions(fit, newdata: pd.DataFrame) -> np.ndarray:
    """Visit codes (non-spatial) or coordinates (spatial, one row per data row)."""
    s, d = fit.settings, fit.design
    if d.coordinates is not None:
        return newdata.loc[:, list(s.visit)].to_numpy(dtype=float)
    labels = d.position_labels
    codes = pd.Categorical(newdata[s.visit[0]], categories=labels).codes
    if (codes < 0).any():
        bad = newdata[s.visit[0]][codes < 0].iloc[0]
        raise DataError(f"{s.visit[0]} {bad!r} is not a visit of the fit "
                        f"(visits: {', '.join(map(str, labels))})")
    return codes.astype(np.int64)[:, None]


def _sigma(fit, g: int, points: np.ndarray) -> np.ndarray:
    """Residual covariance between the positions ``points`` (codes or coordinates) of group g."""
    structure, phi = fit._residual(g)
    if isinstance(structure, Independent):
        same = np.all(points[:, None, :] == points[None, :, :], axis=-1)
        return phi[0] * same
    if fit.spec.spatial:
        return structure.matrix_at(phi, points)
    code = points[:, 0].astype(np.int64)
    return structure.matrix(phi)[np.ix_(code, code)]


def conditional_moments(fit, newdata: pd.DataFrame, x: np.ndarray, observed: np.ndarray | None,
                        beta_cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(estimate, var_conf, var_pred)`` per row of ``newdata`` (design ``x``, kept columns),
    conditioning on the responses ``observed`` (None: on nothing, the marginal prediction);
    ``beta_cov`` is :math:`C`."""
    subject, group, points = _row_keys(fit, newdata)
    n = len(newdata)
    y = np.full(n, np.nan) if observed is None else np.asarray(observed, dtype=float)
    seen = np.isfinite(y)
    mu = x @ fit.beta
    est, var_conf, var_pred = mu.copy(), np.zeros(n), np.zeros(n)
    order = np.argsort(subject, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(subject[order]) != 0])
    pattern = {}
    for rows in np.split(order, starts[1:]):  # one pass to key each subject by its pattern
        pts = tuple(map(tuple, points[rows]))
        if len(set(pts)) < len(pts):
            who = newdata[fit.settings.subject].iloc[rows[0]]
            raise DataError(f"conditional predictions: subject {who!r} has two rows at one "
                            f"{', '.join(fit.settings.visit)} in newdata")
        pattern.setdefault((int(group[rows[0]]), pts, tuple(seen[rows])), []).append(rows)
    for (g, pts, mask), members in pattern.items():
        rows = np.stack(members)  # (subjects, visits): the subjects share the visits and the mask
        mask = np.array(mask)
        sigma = _sigma(fit, g, np.array(pts))
        o, m = np.flatnonzero(mask), np.flatnonzero(~mask)
        if not m.size:
            est[rows] = y[rows]
            continue
        s_mo = sigma[np.ix_(m, o)]
        S = np.linalg.solve(sigma[np.ix_(o, o)], s_mo.T).T if o.size else np.zeros((m.size, 0))
        resid = y[rows[:, o]] - mu[rows[:, o]]  # (k, |o|)
        target = rows[:, m]
        est[target] = mu[target] + resid @ S.T
        z = x[target] - np.einsum("mo,kop->kmp", S, x[rows[:, o]])
        var_conf[target] = np.einsum("kmp,pq,kmq->km", z, beta_cov, z)
        cond = np.diag(sigma[np.ix_(m, m)] - S @ s_mo.T)
        var_pred[target] = var_conf[target] + cond
        est[rows[:, o]] = y[rows[:, o]]
    return est, var_conf, var_pred


def residual_variances(fit, data: pd.DataFrame) -> np.ndarray:
    r"""Residual variance of each row of ``data``: its visit's (or point's) diagonal element of
    the fitted residual covariance (:math:`\sigma^2` for independent residuals)."""
    structure, phi = fit._residual(0)
    if isinstance(structure, Independent) and not fit.spec.group:
        return np.full(len(data), phi[0])
    _, group, points = _row_keys(fit, data)
    out = np.empty(len(data))
    for g in np.unique(group):
        rows = group == g
        distinct, where = np.unique(points[rows], axis=0, return_inverse=True)
        out[rows] = np.diag(_sigma(fit, int(g), distinct))[where.reshape(-1)]
    return out
