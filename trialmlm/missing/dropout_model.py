r"""Logistic model for dropout given the last observed response (Diggle & Kenward 1994).

Under MCAR the probability of dropping out does not depend on the responses; under MAR it
may depend on the observed ones.  The check fits, over the visits at which a subject is
still on study, the discrete-time hazard of dropout

.. math::
    \operatorname{logit} P(D_i = t \mid D_i \ge t) = \alpha_t + \gamma\, y_{i,\mathrm{last}(t)}
        + \text{arm}_i'\delta + \beta_0\, \text{baseline}_i + c_i'\theta,

and tests :math:`H_0: \gamma = 0` (MCAR given the other predictors) against MAR with the
likelihood-ratio test.

**Person-visit table.**  Visits :math:`v_1 < \dots < v_K` in model order; :math:`L_i` is the
last visit with an observed response and the dropout visit is :math:`L_i + 1` (none when
:math:`L_i = K`; see :mod:`trialmlm.missing.patterns`).  For each visit :math:`t \ge 2` up
to the dropout visit, subject :math:`i` contributes one row with

* ``dropout = 1`` at the dropout visit, ``dropout = 0`` at a visit with an observed
  response;
* no row at an intermittent gap (a missing response before :math:`L_i`): the subject has
  not dropped out there, and the visit is not an observation either;
* no row before the first observed response (nothing to condition on); subjects never
  observed contribute nothing;
* ``last_response`` :math:`= y_{i,\mathrm{last}(t)}`, the response at the last visit
  before :math:`t` with an observed response (so it carries over across gaps), and
  ``last_visit`` that visit.

**Design.**  Intercept, ``last_response``, arm (treatment contrasts, first level as
reference, as R ``glm``), visit as a factor (first visit kept as reference), ``baseline``
(numeric), then ``covariates`` (numeric as they are, others as factors).  Arm, baseline and
covariates are subject-level columns.  Coefficients are named as in :func:`trialmlm.fit`
(``Intercept``, ``TRT[T.LOW]``, ``AVISIT[T.W4]``, ...).

**Visits without events.**  A visit at which every at-risk subject stays (or every one
drops out) has an infinite visit coefficient; the maximum-likelihood estimates of all the
other coefficients, and the LR test, are those of the fit without that visit's rows.  Those
rows are therefore left out, with a :class:`~trialmlm.errors.DataWarning` naming the
visits (``n_at_risk`` marks them ``used = False``).  Any other (quasi-)complete separation
is an error.

Estimation is by maximum likelihood (:mod:`trialmlm.missing.logistic`); standard errors
from the inverse information; Wald ``z``, two-sided normal ``p`` and limits
:math:`\hat\beta \pm z_{1-\alpha/2}\,\mathrm{se}`; LR statistic
:math:`2(\ell_1 - \ell_0)` on 1 df.  Validated against R ``glm(family = binomial)`` on a
person-visit table built independently in R (``tests/reference/make_mcar_refs.R``).

References: Diggle P, Kenward MG (1994) Informative drop-out in longitudinal data analysis,
Applied Statistics 43:49-93; Ridout MS (1991) Testing for random dropouts in repeated
measurement data, Biometrics 47:1617-1621.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..engine.design import factor_levels, is_factor
from ..errors import DataError, DataWarning
from .logistic import aliased_column, fit_logistic, separation_direction
from .patterns import last_observed
from .wide import response_matrix, subject_values

LAST = "last_response"


@dataclass(frozen=True)
class DropoutModel:
    """Result of :func:`dropout_model`.

    Attributes
    ----------
    coefficients : DataFrame indexed by ``term``: ``estimate, se, z, p, lower, upper``.
    lr_test : one-row DataFrame ``statistic, df, p``: likelihood-ratio test of
        ``last_response`` (MCAR against MAR).
    n_at_risk : per visit ``n_at_risk`` (rows), ``n_dropout`` and ``used`` (False for visits
        left out because every row has the same outcome).
    data : the person-visit table used in the fit.
    loglik, loglik_reduced : log-likelihoods with and without ``last_response``.
    iterations : Newton iterations of the full model.
    settings : arm, baseline, covariates, alpha.
    """

    coefficients: pd.DataFrame
    lr_test: pd.DataFrame
    n_at_risk: pd.DataFrame
    data: pd.DataFrame = field(repr=False)
    loglik: float
    loglik_reduced: float
    iterations: int
    settings: dict


def person_visit_table(df: pd.DataFrame, subject: str, visit: str, response: str,
                       arm: str | None = None, extra: Sequence[str] = ()) -> pd.DataFrame:
    """The person-visit table described in the module docstring (all at-risk rows), with
    the subject-level columns ``arm`` and ``extra`` attached."""
    wide, visits, arms = response_matrix(df, subject, visit, response, arm)
    Y = wide.to_numpy()
    obs = ~np.isnan(Y)
    n, K = Y.shape
    J = np.arange(K)[None, :]
    any_obs = obs.any(axis=1)
    first = np.where(any_obs, np.argmax(obs, axis=1), K)[:, None]
    last = last_observed(obs)[:, None]
    at_risk = (J > first) & (J <= last + 1) & (obs | (J == last + 1))
    filled = pd.DataFrame(np.where(obs, Y, np.nan)).ffill(axis=1).to_numpy()
    seen = np.where(obs, J, -1)
    last_seen = np.maximum.accumulate(seen, axis=1)
    i, j = np.nonzero(at_risk)
    table = pd.DataFrame({subject: wide.index.to_numpy()[i],
                          visit: pd.Categorical(np.asarray(visits, dtype=object)[j], categories=visits,
                                                ordered=True)})
    if arm is not None:
        table[arm] = arms.to_numpy()[i]
    for col in extra:
        table[col] = subject_values(df, subject, col, "covariate", wide.index).to_numpy()[i]
    table[LAST] = filled[i, j - 1]
    table["last_visit"] = np.asarray(visits, dtype=object)[last_seen[i, j - 1]]
    table["dropout"] = (j == last[i, 0] + 1).astype(int)
    return table


def _design(table: pd.DataFrame, visit: str, arm, baseline, covariates) -> tuple[np.ndarray, list[str]]:
    cols, names = [np.ones(len(table)), table[LAST].to_numpy(float)], ["Intercept", LAST]

    def factor(col):
        levels = factor_levels(table[col])
        if len(levels) < 2:
            raise DataError(f"'{col}' has a single level ({levels[0]!r}) among the at-risk rows; "
                            "leave it out of the dropout model")
        for lev in levels[1:]:
            cols.append((table[col] == lev).to_numpy(float))
            names.append(f"{col}[T.{lev}]")

    if arm is not None:
        factor(arm)
    for lev in factor_levels(table[visit])[1:]:
        cols.append((table[visit] == lev).to_numpy(float))
        names.append(f"{visit}[T.{lev}]")
    if baseline is not None:
        if is_factor(table[baseline]):
            raise DataError(f"baseline column '{baseline}' is not numeric")
        cols.append(table[baseline].to_numpy(float))
        names.append(baseline)
    for col in covariates:
        if is_factor(table[col]):
            factor(col)
        else:
            cols.append(table[col].to_numpy(float))
            names.append(col)
    return np.column_stack(cols), names


def dropout_model(df: pd.DataFrame, subject: str, visit: str, response: str, arm: str | None = None,
                  baseline: str | None = None, covariates: Sequence[str] = (),
                  alpha: float = 0.05) -> DropoutModel:
    r"""Logistic regression of dropout on the last observed response (MCAR vs MAR check).

    Parameters
    ----------
    df : long data, one row per subject and visit (a missing row counts as missing).
    subject, visit, response : column names; visits are ordered as in model fitting.
    arm : optional treatment column (a factor, first level as reference).
    baseline : optional numeric subject-level column (e.g. BASE).
    covariates : further subject-level columns (numeric, or factors).
    alpha : Wald confidence level :math:`1 - \alpha`.

    Returns
    -------
    DropoutModel
        ``coefficients``, ``lr_test``, ``n_at_risk``, ``data``; see the module docstring for
        the person-visit table, the model and the treatment of gaps.

    Raises
    ------
    DataError
        A named column is missing, duplicated subject-visit rows, a non-numeric response,
        no dropout at all, a single level of a factor, aliased predictors, or separated data
        (the maximum-likelihood estimates do not exist).
    """
    alpha = check_alpha(alpha)
    covariates = tuple(covariates)
    extra = tuple(c for c in (baseline, *covariates) if c is not None)
    for col in (arm, *extra):
        if col in (subject, visit, response, LAST, "last_visit", "dropout"):
            raise DataError(f"column '{col}' cannot be a predictor: it is the subject, visit or "
                            "response column, or a name the person-visit table uses (last_response, "
                            "last_visit, dropout)")
    table = person_visit_table(df, subject, visit, response, arm, extra)
    if len(table) == 0 or table["dropout"].sum() == 0:
        raise DataError(f"no subject drops out after an observed '{response}' (no response missing at "
                        "every visit from some visit on): the dropout model has nothing to fit")
    missing_x = table[list(extra)].isna().any(axis=1) if extra else pd.Series(False, index=table.index)
    if missing_x.any():
        col = next(c for c in extra if table[c].isna().any())
        subj = table.loc[missing_x, subject].unique()
        warnings.warn(f"{len(subj)} subject(s) with a missing '{col}' (e.g. {subj[0]!r}) left out of "
                      "the dropout model", DataWarning, stacklevel=2)
        table = table.loc[~missing_x]
    counts = (table.groupby(visit, observed=True)["dropout"].agg(n_at_risk="size", n_dropout="sum")
              .reset_index())
    counts["used"] = (counts["n_dropout"] > 0) & (counts["n_dropout"] < counts["n_at_risk"])
    if not counts["used"].all():
        left = counts.loc[~counts["used"], visit].tolist()
        warnings.warn(f"{visit} = {', '.join(map(repr, left))}: every at-risk subject has the same outcome "
                      "(e.g. no dropout); the visit coefficient would be infinite, so those rows are left "
                      "out (the other estimates are their maximum-likelihood estimates)",
                      DataWarning, stacklevel=2)
        table = table.loc[table[visit].isin(counts.loc[counts["used"], visit])]
    if len(table) == 0:
        raise DataError("no visit has both dropouts and subjects staying on study")
    table = table.reset_index(drop=True)
    X, names = _design(table, visit, arm, baseline, covariates)
    y = table["dropout"].to_numpy(float)
    bad = aliased_column(X)
    if bad is not None:
        raise DataError(f"term '{names[bad]}' of the dropout model is a linear combination of the "
                        "earlier terms (aliased); leave it out")
    direction = separation_direction(X, y)
    if direction is not None:
        terms = [nm for nm, b in zip(names, direction) if abs(b) > 1e-8]
        raise DataError("the maximum-likelihood estimates of the dropout model do not exist: the data are "
                        f"(quasi-)completely separated along {', '.join(terms)} (some outcome is "
                        "predicted perfectly); simplify the model or merge levels")
    full = fit_logistic(X, y)
    reduced = fit_logistic(np.delete(X, 1, axis=1), y)
    se = np.sqrt(np.diag(full.cov))
    z = full.beta / se
    q = stats.norm.ppf(1 - alpha / 2)
    coefficients = pd.DataFrame({"estimate": full.beta, "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z)),
                                 "lower": full.beta - q * se, "upper": full.beta + q * se},
                                index=pd.Index(names, name="term"))
    lr = max(2.0 * (full.loglik - reduced.loglik), 0.0)
    lr_test = pd.DataFrame([{"statistic": lr, "df": 1, "p": float(stats.chi2.sf(lr, 1))}])
    settings = {"arm": arm, "baseline": baseline, "covariates": covariates, "alpha": alpha}
    return DropoutModel(coefficients, lr_test, counts, table, full.loglik, reduced.loglik,
                        full.iterations, settings)
