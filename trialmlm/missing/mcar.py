r"""Little's (1988) chi-square test that the responses are missing completely at random.

The visit responses of a subject (one column per visit, in model order), optionally with
subject-level numeric ``covariates`` appended as further variables, are taken as
:math:`N_p(\mu, \Sigma)`.  :math:`\hat\mu, \hat\Sigma` are the maximum-likelihood estimates
from all observed values, computed by EM (Dempster, Laird & Rubin 1977; Little & Rubin
2002, section 11.2); :math:`\hat\Sigma` has divisor :math:`n` (the ML estimate, the
convention of Little 1988, SAS and R ``naniar::mcar_test``/``norm::em.norm``).  With the
subjects grouped by missingness pattern :math:`j = 1, \dots, J` (:math:`n_j` subjects,
:math:`p_j` observed variables, observed-variable mean :math:`\bar y_j`),

.. math::
    d^2 = \sum_{j=1}^{J} n_j\, (\bar y_j - \hat\mu_j)'\, \hat\Sigma_j^{-1}\, (\bar y_j - \hat\mu_j),
    \qquad \mathrm{df} = \sum_j p_j - p,

where :math:`\hat\mu_j, \hat\Sigma_j` are the rows (and columns) of :math:`\hat\mu,
\hat\Sigma` of pattern :math:`j`'s observed variables.  Under MCAR (and normality)
:math:`d^2` is asymptotically :math:`\chi^2_{\mathrm{df}}`; large values are evidence that
the pattern means differ, i.e. against MCAR.  Subjects with no observed value contribute
nothing to the likelihood and are left out.

**EM.**  Per pattern the E-step needs only the pattern's count, sum and cross-product of
the observed values: with :math:`B = \Sigma_{mo}\Sigma_{oo}^{-1}` and
:math:`a = \mu_m - B\mu_o`, :math:`E(y_m \mid y_o) = a + B y_o` and
:math:`\mathrm{Var}(y_m \mid y_o) = \Sigma_{mm} - B\Sigma_{om}`, so each iteration costs
:math:`O(J p^3)` whatever the number of subjects.  Start: observed means and variances,
zero covariances; stop when no mean or covariance element changes by more than
``tol`` times the largest absolute element.

Validated against R lavaan's EM (unrestricted h1 moments) and an independent EM in R
(``tests/reference/make_mcar_refs.R``), and against Anderson's (1957) closed-form
estimates for monotone two-visit data.

Reference: Little RJA (1988) A test of missing completely at random for multivariate data
with missing values, JASA 83:1198-1202.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ..engine.design import is_factor
from ..errors import ConvergenceWarning, DataError
from .wide import response_matrix, subject_values


@dataclass(frozen=True)
class LittleMCAR:
    """Result of :func:`little_mcar_test`.

    Attributes
    ----------
    statistic, df, p : Little's :math:`d^2`, its degrees of freedom and the chi-square p.
    n_patterns, n_subjects : missingness patterns and subjects (with an observed value).
    mean : EM (ML) mean per variable (visits, then covariates).
    covariance : EM (ML, divisor n) covariance matrix.
    patterns : per pattern ``pattern`` (``X`` observed, ``.`` missing), ``n``,
        ``n_observed`` (:math:`p_j`) and ``contribution`` to :math:`d^2`.
    iterations, converged : EM iterations and whether the tolerance was met.
    """

    statistic: float
    df: int
    p: float
    n_patterns: int
    n_subjects: int
    mean: pd.Series = field(repr=False)
    covariance: pd.DataFrame = field(repr=False)
    patterns: pd.DataFrame = field(repr=False)
    iterations: int
    converged: bool


@dataclass(frozen=True)
class _Pattern:
    observed: np.ndarray  # (p,) bool
    n: int
    total: np.ndarray  # sum of the observed values
    cross: np.ndarray  # sum of their outer products


def _patterns(Y: np.ndarray) -> list[_Pattern]:
    obs = ~np.isnan(Y)
    keys, inverse = np.unique(obs, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    out = []
    for k, key in enumerate(keys):
        if not key.any():
            continue
        Yo = Y[inverse == k][:, key]
        out.append(_Pattern(key, len(Yo), Yo.sum(axis=0), Yo.T @ Yo))
    return out


def em_mvnorm(Y: np.ndarray, tol: float = 1e-12,
              max_iter: int = 20000) -> tuple[np.ndarray, np.ndarray, int, bool]:
    r"""EM maximum-likelihood mean and covariance (divisor :math:`n`) of the rows of ``Y``
    (NaN = missing; rows with no observed value are ignored).

    Returns ``mu, sigma, iterations, converged``.  See the module docstring.
    """
    Y = np.asarray(Y, dtype=float)
    Y = Y[~np.isnan(Y).all(axis=1)]
    groups = _patterns(Y)
    n, p = Y.shape
    mu = np.nanmean(Y, axis=0)
    sigma = np.diag(np.nanvar(Y, axis=0))
    for it in range(1, max_iter + 1):
        T1, T2 = np.zeros(p), np.zeros((p, p))
        for g in groups:
            o, m = g.observed, ~g.observed
            T1[o] += g.total
            T2[np.ix_(o, o)] += g.cross
            if m.any():
                B = linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)], assume_a="pos").T
                a = mu[m] - B @ mu[o]
                Bs = B @ g.total
                T1[m] += g.n * a + Bs
                om = np.outer(g.total, a) + g.cross @ B.T
                T2[np.ix_(o, m)] += om
                T2[np.ix_(m, o)] += om.T
                T2[np.ix_(m, m)] += (g.n * np.outer(a, a) + np.outer(a, Bs) + np.outer(Bs, a)
                                     + B @ g.cross @ B.T
                                     + g.n * (sigma[np.ix_(m, m)] - B @ sigma[np.ix_(o, m)]))
        new_mu = T1 / n
        new_sigma = T2 / n - np.outer(new_mu, new_mu)
        new_sigma = (new_sigma + new_sigma.T) / 2
        change = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max())
        scale = max(np.abs(new_mu).max(), np.abs(new_sigma).max(), 1e-300)
        mu, sigma = new_mu, new_sigma
        if change <= tol * scale:
            return mu, sigma, it, True
    return mu, sigma, max_iter, False


def _check_identified(Y: np.ndarray, names: list) -> None:
    obs = ~np.isnan(Y)
    count = obs.sum(axis=0)
    if (count < 2).any():
        raise DataError(f"variable {names[int(np.argmax(count < 2))]!r} has fewer than two observed values; "
                        "its variance cannot be estimated")
    joint = obs.T.astype(int) @ obs.astype(int)
    a, b = np.nonzero(joint == 0)
    if len(a):
        raise DataError(f"no subject is observed at both {names[a[0]]!r} and {names[b[0]]!r}: their "
                        "covariance is not identified, so Little's test cannot be computed")


def _variables(df: pd.DataFrame, subject: str, visit: str, response: str,
               covariates: Sequence[str]) -> tuple[np.ndarray, list]:
    """The (subjects, visits + covariates) matrix of the variables (NaN missing; subjects with
    no observed value left out) and their names; DataError for a covariate that is not numeric."""
    wide, visits, _ = response_matrix(df, subject, visit, response)
    names = list(visits)
    blocks = [wide.to_numpy()]
    for col in covariates:
        if col in (subject, visit, response):
            raise DataError(f"covariate '{col}' is also the subject, visit or response column")
        values = subject_values(df, subject, col, "covariate", wide.index)
        if is_factor(values):
            raise DataError(f"covariate '{col}' is not numeric; code it as numbers (e.g. a 0/1 indicator)")
        blocks.append(values.to_numpy(float)[:, None])
        names.append(col)
    Y = np.hstack(blocks)
    Y = Y[~np.isnan(Y).all(axis=1)]
    if len(Y) == 0:
        raise DataError(f"no observed value of '{response}'")
    return Y, names


def _em_estimate(Y: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """:func:`em_mvnorm`, with a ConvergenceWarning if it stopped at ``max_iter`` and a
    DataError for a singular covariance estimate."""
    mu, sigma, iterations, converged = em_mvnorm(Y, tol, max_iter)
    if not converged:
        warnings.warn(f"EM did not reach the tolerance {tol:g} in {max_iter} iterations", ConvergenceWarning,
                      stacklevel=3)
    try:
        linalg.cholesky(sigma)
    except linalg.LinAlgError:
        raise DataError("the EM covariance estimate is singular (a constant or collinear variable?)"
                        ) from None
    return mu, sigma, iterations, converged


def _pattern_table(groups: list, mu: np.ndarray, sigma: np.ndarray) -> tuple[pd.DataFrame, float]:
    r"""Per pattern :math:`j`, largest first: ``pattern`` (X observed, . missing), ``n``,
    ``n_observed`` :math:`p_j` and ``contribution``
    :math:`n_j(\bar y_j - \hat\mu_j)'\hat\Sigma_j^{-1}(\bar y_j - \hat\mu_j)`; and :math:`d^2`, their sum."""
    rows = []
    for g in groups:
        o = g.observed
        dev = g.total / g.n - mu[o]
        contribution = float(g.n * dev @ linalg.solve(sigma[np.ix_(o, o)], dev, assume_a="pos"))
        rows.append({"pattern": "".join("X" if x else "." for x in o), "n": g.n, "n_observed": int(o.sum()),
                     "contribution": contribution})
    statistic = sum(row["contribution"] for row in rows)  # in pattern order, as accumulated
    table = pd.DataFrame(rows).sort_values(["n", "pattern"], ascending=False, kind="stable")
    return table.reset_index(drop=True), float(statistic)


def little_mcar_test(df: pd.DataFrame, subject: str, visit: str, response: str,
                     covariates: Sequence[str] = (), tol: float = 1e-12,
                     max_iter: int = 20000) -> LittleMCAR:
    r"""Little's (1988) test of MCAR for the visit responses (and covariates).

    Parameters
    ----------
    df : long data, one row per subject and visit (a missing row counts as missing).
    subject, visit, response : column names; visits are ordered as in model fitting.
    covariates : numeric subject-level columns (e.g. BASE, or a 0/1 arm indicator) appended
        to the visit responses as further variables of the multivariate normal.
    tol, max_iter : EM stopping rule (relative change of the estimates) and iteration limit.

    Returns
    -------
    LittleMCAR
        :math:`d^2 = \sum_j n_j (\bar y_j - \hat\mu_j)' \hat\Sigma_j^{-1} (\bar y_j - \hat\mu_j)`,
        ``df`` :math:`= \sum_j p_j - p`, ``p``, the EM mean and covariance; see the module
        docstring.

    Raises
    ------
    DataError
        A named column is missing, duplicated subject-visit rows, a non-numeric response or
        covariate, a covariate that varies within a subject, a variable observed fewer than
        twice or two never observed together, a singular covariance estimate, or no missing
        values (a single pattern: the test has no degrees of freedom).
    """
    Y, names = _variables(df, subject, visit, response, covariates)
    _check_identified(Y, names)
    groups = _patterns(Y)
    if len(groups) < 2:
        raise DataError("every subject has the same observed/missing pattern (no missing values?): "
                        "Little's test has no degrees of freedom")
    mu, sigma, iterations, converged = _em_estimate(Y, tol, max_iter)
    table, statistic = _pattern_table(groups, mu, sigma)
    dof = int(table["n_observed"].sum()) - Y.shape[1]
    index = pd.Index(names, name="variable")
    return LittleMCAR(statistic=statistic, df=dof, p=float(stats.chi2.sf(statistic, dof)),
                      n_patterns=len(groups), n_subjects=len(Y), mean=pd.Series(mu, index=index, name="mean"),
                      covariance=pd.DataFrame(sigma, index=index, columns=index), patterns=table,
                      iterations=iterations, converged=converged)
