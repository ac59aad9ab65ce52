r"""t and F tests of linear functions :math:`L\beta` of the fixed effects.

t test of a row :math:`l`: :math:`t = l^\top\hat\beta / \sqrt{l^\top\hat C l}`; F test of
all rows (rank r): :math:`F = (L\hat\beta)^\top(L\hat CL^\top)^{-1}L\hat\beta / r`, scaled by
:math:`\lambda` under Kenward-Roger.  :math:`\hat C` is the covariance chosen by
``vcov`` (or the Kenward-Roger adjusted one), df from :mod:`.ddf`; ``ddf`` and ``vcov`` are
names already resolved by :func:`.methods.resolve`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..errors import DataError
from .methods import beta_covariance, degrees_of_freedom


def t_table(fit, L: np.ndarray, ddf: str, vcov: str, alpha: float) -> pd.DataFrame:
    """``estimate, se, df, t, p, lower, upper`` for each row of ``L`` (NaN rows stay NaN)."""
    alpha = check_alpha(alpha)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    ok = np.all(np.isfinite(L), axis=1)
    out = pd.DataFrame(np.nan, index=range(L.shape[0]),
                       columns=["estimate", "se", "df", "t", "p", "lower", "upper"])
    if not ok.any():
        return out
    c = beta_covariance(fit, ddf, vcov)
    rows = L[ok]
    est = rows @ fit.beta
    se = np.sqrt(np.einsum("ri,ij,rj->r", rows, c, rows))
    df = degrees_of_freedom(fit, rows, ddf, joint=False, vcov=vcov).rows
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    crit = stats.t.ppf(1 - alpha / 2, df)
    out.loc[ok, "estimate"] = est
    out.loc[ok, "se"] = se
    out.loc[ok, "df"] = df
    out.loc[ok, "t"] = t
    out.loc[ok, "p"] = 2 * stats.t.sf(np.abs(t), df)
    out.loc[ok, "lower"] = est - crit * se
    out.loc[ok, "upper"] = est + crit * se
    return out


def full_row_rank(L: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """An orthonormal basis of the row space of ``L`` (rows of a testable hypothesis)."""
    if L.size == 0:
        return L
    u, s, vt = np.linalg.svd(L, full_matrices=False)
    rank = int(np.sum(s > tol * max(s[0], 1e-300)))
    return vt[:rank]


def f_test(fit, L: np.ndarray, ddf: str, vcov: str) -> dict:
    """``num_df, den_df, F, p`` of the joint hypothesis :math:`L\\beta = 0`."""
    L = full_row_rank(np.atleast_2d(np.asarray(L, dtype=float)))
    r = L.shape[0]
    if r == 0:
        return {"num_df": 0, "den_df": np.nan, "F": np.nan, "p": np.nan}
    c = beta_covariance(fit, ddf, vcov)
    est = L @ fit.beta
    f = float(est @ np.linalg.solve(L @ c @ L.T, est)) / r
    df = degrees_of_freedom(fit, L, ddf, vcov=vcov)
    f *= df.scale
    p = stats.chi2.sf(f * r, r) if np.isinf(df.joint) else stats.f.sf(f, r, df.joint)
    return {"num_df": r, "den_df": df.joint, "F": f, "p": float(p)}


def contrast_matrix(L, names: list[str]) -> tuple[np.ndarray, pd.Index]:
    """Rows over the coefficients ``names`` from an array, dict(s) or DataFrame; each row
    finite and not all zero (DataError naming the row otherwise)."""
    try:
        rows, index = _parse_contrast(L, names)
    except DataError:
        raise
    except (TypeError, ValueError) as exc:  # weights that are not numbers
        raise DataError(f"contrast L must hold numbers: {exc}") from None
    for label, row in zip(index, rows):
        if not np.all(np.isfinite(row)):
            raise DataError(f"contrast row {label!r} holds a missing or infinite weight")
        if not np.any(row):
            raise DataError(f"contrast row {label!r} is all zero: it tests nothing")
    return rows, index


def _parse_contrast(L, names: list[str]) -> tuple[np.ndarray, pd.Index]:
    if isinstance(L, dict):
        L = [L]
    if isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if c not in names]
        if unknown:
            raise DataError(f"contrast names unknown coefficient(s) {', '.join(map(repr, unknown))}")
        return L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float), L.index
    if isinstance(L, list) and all(isinstance(r, dict) for r in L):
        rows = np.zeros((len(L), len(names)))
        for i, row in enumerate(L):
            for coef, weight in row.items():
                if coef not in names:
                    raise DataError(f"contrast row {i} names unknown coefficient {coef!r} "
                                    f"(coefficients: {', '.join(names)})")
                rows[i, names.index(coef)] = weight
        return rows, pd.RangeIndex(len(L))
    rows = np.atleast_2d(np.asarray(L, dtype=float))
    if rows.shape[1] != len(names):
        raise DataError(f"contrast matrix has {rows.shape[1]} columns; the model has {len(names)} "
                        "coefficients")
    return rows, pd.RangeIndex(rows.shape[0])
