r"""LS means and their differences from a reference level (SAS ``LSMEANS / DIFF``).

Multiplicity adjustments within each ``by`` group (emmeans' family):
``bonferroni`` (p times m, CI at level :math:`1-\alpha/m`), ``holm`` (step-down p; CI
unadjusted, as Holm has no simultaneous intervals), ``dunnett`` (p and CI from the
maximum of the correlated t statistics, multivariate t with the correlation of the
estimated differences and the smallest df of the family).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq

from ..errors import DataError, DataWarning
from .grid import ReferenceGrid
from .wald import beta_covariance, t_table

ADJUSTMENTS = (None, "bonferroni", "holm", "dunnett")


def _warn_non_estimable(labels: pd.DataFrame, L: np.ndarray, what: str) -> None:
    bad = ~np.all(np.isfinite(L), axis=1)
    if bad.any():
        rows = "; ".join(", ".join(f"{k}={v}" for k, v in r.items()) for r in labels[bad].to_dict("records"))
        warnings.warn(
            f"{int(bad.sum())} {what} not estimable (reported as NaN): {rows}. The model's aliased "
            "columns leave these combinations without a unique estimate; see fit.aliased",
            DataWarning, stacklevel=4)


def lsmeans_table(fit, specs, by, ddf, vcov, weights, at, slope, alpha) -> pd.DataFrame:
    labels, L = ReferenceGrid(fit, at).rows(specs, by, weights, slope)
    _warn_non_estimable(labels, L, "LS mean(s)")
    table = t_table(fit, L, ddf, vcov, alpha).drop(columns=["t", "p"])
    return pd.concat([labels, table], axis=1)


def compare_table(fit, spec: str, by, reference, ddf, vcov, weights, at, slope, alpha, adjust):
    if adjust not in ADJUSTMENTS:
        raise DataError(f"adjust must be one of None, 'bonferroni', 'holm', 'dunnett'; got {adjust!r}")
    info, D = difference_rows(fit, spec, by, reference, weights, at, slope)
    _warn_non_estimable(info, D, "difference(s)")
    table = t_table(fit, D, ddf, vcov, alpha)
    out = pd.concat([info, table], axis=1)
    if adjust is not None:
        by_cols = [c for c in info.columns if c not in (spec, "contrast")]
        _adjust(fit, out, D, by_cols, ddf, vcov, alpha, adjust)
    return out


def difference_rows(fit, spec: str, by, reference, weights, at, slope) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels (``by`` factors, ``spec``, ``contrast``) and rows :math:`l_j - l_{ref}` of the differences."""
    if not isinstance(spec, str):
        raise DataError("compare() takes one factor, e.g. compare('ARMCD', by='AVISIT')")
    grid = ReferenceGrid(fit, at)
    labels, L = grid.rows([spec], by, weights, slope)
    levels = grid.factors.get(spec, [])
    if reference is None:
        reference = levels[0]
    if reference not in levels:
        raise DataError(f"reference {reference!r} is not a level of '{spec}' "
                        f"(levels: {', '.join(map(str, levels))})")
    by_cols = [c for c in labels.columns if c != spec]
    rows, info = [], []
    keys = [tuple(r) for r in labels[by_cols].itertuples(index=False)] if by_cols else [()] * len(labels)
    for key in dict.fromkeys(keys):
        in_group = np.flatnonzero([k == key for k in keys])
        ref = in_group[labels[spec].to_numpy()[in_group] == reference][0]
        for i in in_group:
            if i == ref:
                continue
            rows.append(L[i] - L[ref])
            info.append({**dict(zip(by_cols, key)), spec: labels.at[i, spec],
                         "contrast": f"{labels.at[i, spec]} - {reference}"})
    return pd.DataFrame(info), np.array(rows)


def _adjust(fit, out: pd.DataFrame, D, by_cols, ddf, vcov, alpha, method) -> None:
    families = out.groupby(by_cols, sort=False).indices.values() if by_cols else [np.arange(len(out))]
    c = beta_covariance(fit, ddf, vcov) if method == "dunnett" else None
    for idx in families:
        idx = np.asarray(idx)
        m = idx.size
        p = out.loc[idx, "p"].to_numpy()
        est, se, df = (out.loc[idx, k].to_numpy() for k in ("estimate", "se", "df"))
        if method == "bonferroni":
            out.loc[idx, "p"] = np.minimum(1.0, p * m)
            crit = stats.t.ppf(1 - alpha / (2 * m), df)
        elif method == "holm":
            order = np.argsort(p)
            adj = np.maximum.accumulate(np.minimum(1.0, p[order] * (m - np.arange(m))))
            new = np.empty(m)
            new[order] = adj
            out.loc[idx, "p"] = new
            continue
        else:
            cov = D[idx] @ c @ D[idx].T
            sd = np.sqrt(np.diag(cov))
            corr = cov / np.outer(sd, sd)
            nu = float(np.min(df))
            dist = stats.multivariate_t(loc=np.zeros(m), shape=corr, df=nu, seed=20261122)

            def coverage(x, dist=dist, m=m):
                return dist.cdf(np.full(m, x), lower_limit=np.full(m, -x))

            t_obs = np.abs(out.loc[idx, "t"].to_numpy())
            out.loc[idx, "p"] = np.clip([1.0 - coverage(t) for t in t_obs], 0.0, 1.0)
            crit = brentq(lambda x: coverage(x) - (1 - alpha), 0.1, 50.0)
        out.loc[idx, "lower"] = est - crit * se
        out.loc[idx, "upper"] = est + crit * se
