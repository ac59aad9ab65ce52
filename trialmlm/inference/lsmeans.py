r"""LS means and their differences (SAS ``LSMEANS / DIFF``): from a reference level, or
all pairs (``pairwise``: level *i* minus level *j* for *i* before *j* in the level order,
as emmeans ``pairs()``; SAS ``DIFF=ALL``).

Multiplicity adjustments within each ``by`` group (emmeans' family of m contrasts):
``bonferroni`` (p times m, CI at level :math:`1-\alpha/m`), ``holm`` (step-down p; CI
unadjusted, as Holm has no simultaneous intervals), ``dunnett`` (comparisons with a
reference: p and CI from the maximum of the correlated t statistics, multivariate t with
the correlation of the estimated differences and the smallest df of the family),
``tukey`` (all pairs of k means, Tukey-Kramer: :math:`p = P(Q_{k,\nu} > \sqrt2|t|)` and
CI half-width :math:`q_{1-\alpha;k,\nu}\,\mathrm{se}/\sqrt2` from the studentized range
distribution with each contrast's df :math:`\nu`, as emmeans ``adjust = "tukey"``).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq

from ..errors import DataError, DataWarning
from .grid import ReferenceGrid
from .methods import beta_covariance
from .wald import t_table

ADJUSTMENTS = (None, "bonferroni", "holm", "dunnett", "tukey")
COLUMNS = ("estimate", "se", "df", "t", "p", "lower", "upper", "fmi")  # numbers, not labels


def warn_non_estimable(labels: pd.DataFrame, L: np.ndarray, what: str) -> None:
    bad = ~np.all(np.isfinite(L), axis=1)
    if bad.any():
        rows = "; ".join(", ".join(f"{k}={v}" for k, v in r.items()) for r in labels[bad].to_dict("records"))
        warnings.warn(
            f"{int(bad.sum())} {what} not estimable (reported as NaN): {rows}. The model's aliased "
            "columns leave these combinations without a unique estimate; see fit.aliased",
            DataWarning, stacklevel=4)


def lsmeans_table(fit, specs, by, ddf, vcov, weights, at, slope, alpha) -> pd.DataFrame:
    labels, L = ReferenceGrid(fit, at).rows(specs, by, weights, slope)
    warn_non_estimable(labels, L, "LS mean(s)")
    table = t_table(fit, L, ddf, vcov, alpha).drop(columns=["t", "p"])
    return pd.concat([labels, table], axis=1)


def check_adjust(adjust, pairwise: bool) -> None:
    """DataError unless ``adjust`` is one of :data:`ADJUSTMENTS` and fits the family."""
    if adjust not in ADJUSTMENTS:
        raise DataError(f"adjust must be one of {', '.join(map(repr, ADJUSTMENTS))}; got {adjust!r}")
    if pairwise and adjust == "dunnett":
        raise DataError("adjust='dunnett' is for comparisons with one reference level; for all pairs "
                        "(pairwise=True) use adjust='tukey'")
    if adjust == "tukey" and not pairwise:
        raise DataError("adjust='tukey' (Tukey-Kramer) is for all pairs of levels: pass pairwise=True, "
                        "or use adjust='dunnett' for comparisons with a reference level")


def compare_table(fit, spec: str, by, reference, ddf, vcov, weights, at, slope, alpha, adjust,
                  pairwise: bool = False):
    check_adjust(adjust, pairwise)
    info, D = difference_rows(fit, spec, by, reference, weights, at, slope, pairwise)
    warn_non_estimable(info, D, "difference(s)")
    table = t_table(fit, D, ddf, vcov, alpha)
    out = pd.concat([info, table], axis=1)
    if adjust is not None:
        cov = D @ beta_covariance(fit, ddf, vcov) @ D.T if adjust == "dunnett" else None
        adjust_table(out, spec, alpha, adjust, cov)
    return out


def difference_rows(fit, spec: str, by, reference, weights, at, slope,
                    pairwise: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels (``by`` factors, ``spec``, ``contrast``) and rows :math:`l_j - l_{ref}` of the
    differences or, ``pairwise``, :math:`l_i - l_j` for every pair i < j (``spec`` holds
    level i, ``contrast`` reads "i - j").  A pair with the same grid row, :math:`l_i = l_j`,
    is equal by the model's construction and left out: the arms at the baseline of a cLDA
    model (:mod:`trialmlm.engine.clda`)."""
    if not isinstance(spec, str):
        raise DataError("compare() takes one factor, e.g. compare('ARMCD', by='AVISIT')")
    if pairwise and reference is not None:
        raise DataError(f"pairwise=True compares every pair of levels of '{spec}'; reference={reference!r} "
                        "is for comparisons with one level: give one or the other")
    grid = ReferenceGrid(fit, at)
    labels, L = grid.rows([spec], by, weights, slope)
    levels = grid.factors.get(spec, [])
    if reference is None and not pairwise:
        reference = levels[0]
    if not pairwise and reference not in levels:
        raise DataError(f"reference {reference!r} is not a level of '{spec}' "
                        f"(levels: {', '.join(map(str, levels))})")
    by_cols = [c for c in labels.columns if c != spec]
    rows, info = [], []
    keys = [tuple(r) for r in labels[by_cols].itertuples(index=False)] if by_cols else [()] * len(labels)
    for key in dict.fromkeys(keys):
        in_group = np.flatnonzero([k == key for k in keys])
        if pairwise:
            pairs = itertools.combinations(in_group, 2)
        else:
            ref = in_group[labels[spec].to_numpy()[in_group] == reference][0]
            pairs = [(i, ref) for i in in_group if i != ref]
        for i, j in pairs:
            if np.all(L[i] == L[j]):  # equal by the model's constraint (cLDA at baseline): no comparison
                continue
            rows.append(L[i] - L[j])
            info.append({**dict(zip(by_cols, key)), spec: labels.at[i, spec],
                         "contrast": f"{labels.at[i, spec]} - {labels.at[j, spec]}"})
    return pd.DataFrame(info), np.array(rows)


def adjust_table(out: pd.DataFrame, spec: str, alpha: float, method: str,
                 cov: np.ndarray | None = None) -> None:
    """Adjust ``p``, ``lower``, ``upper`` of a :func:`compare_table` in place, family by family
    (the rows of one ``by`` level); ``cov``: the covariance of the estimated differences
    (rows of ``out``), needed by ``"dunnett"`` only."""
    by_cols = [c for c in out.columns if c not in (spec, "contrast", *COLUMNS)]
    families = out.groupby(by_cols, sort=False).indices.values() if by_cols else [np.arange(len(out))]
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
        elif method == "tukey":  # all pairs of k means: m = k(k - 1)/2 contrasts
            k = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
            t_obs = np.abs(out.loc[idx, "t"].to_numpy())
            out.loc[idx, "p"] = stats.studentized_range.sf(np.sqrt(2) * t_obs, k, df)
            crit = _tukey_quantile(1 - alpha, k, df)
        else:
            family = cov[np.ix_(idx, idx)]
            sd = np.sqrt(np.diag(family))
            corr = family / np.outer(sd, sd)
            nu = float(np.min(df))
            dist = stats.multivariate_t(loc=np.zeros(m), shape=corr, df=nu, seed=20261122)

            def coverage(x, dist=dist, m=m):
                return dist.cdf(np.full(m, x), lower_limit=np.full(m, -x))

            t_obs = np.abs(out.loc[idx, "t"].to_numpy())
            out.loc[idx, "p"] = np.clip([1.0 - coverage(t) for t in t_obs], 0.0, 1.0)
            crit = brentq(lambda x: coverage(x) - (1 - alpha), 0.1, 50.0)
        out.loc[idx, "lower"] = est - crit * se
        out.loc[idx, "upper"] = est + crit * se


def _tukey_quantile(level: float, k: int, df: np.ndarray) -> np.ndarray:
    """:math:`q_{level;k,\\nu}/\\sqrt2` for each df :math:`\\nu` (one quantile per distinct df)."""
    values, inverse = np.unique(df, return_inverse=True)
    q = np.array([np.nan if np.isnan(v) else stats.studentized_range.ppf(level, k, v)
                  for v in values])
    return q[inverse] / np.sqrt(2)
