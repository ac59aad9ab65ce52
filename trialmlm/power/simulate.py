r"""Simulated trials in the ADaM long format every trialmlm function reads.

:func:`simulate_trial` draws one trial of a :class:`~trialmlm.power.design.TrialDesign`
(model in :mod:`trialmlm.power.design`); :func:`from_fit` makes the design of the next
trial from a fitted pilot study.  The random numbers come from one
:class:`numpy.random.Generator` (``numpy.random.default_rng(seed)``): the same seed gives
the same data; independent replicates take the children of one
:class:`numpy.random.SeedSequence` (``SeedSequence(seed).spawn(n)``).

Draw order, per arm in the design's order: the covariates (one normal vector each),
the responses (:math:`\mu_g + L_g z`, :math:`z` standard normal, :math:`L_g` the Cholesky
factor of :math:`\Sigma_g`), then the dropout uniforms.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import expit

from ..errors import DataError
from .design import DesignArrays, TrialDesign


def simulate_trial(n_per_arm, visits, means, covariance=None, dropout=None, random_effects=None,
                   covariates=None, seed=None) -> pd.DataFrame:
    """Simulate one trial: an ADaM-like long DataFrame, one row per subject and visit.

    Parameters
    ----------
    n_per_arm, visits, means, covariance, dropout, random_effects, covariates :
        the design, see :class:`trialmlm.power.TrialDesign` (all checked before anything is
        drawn; bad input is a :class:`trialmlm.DataError`).
    seed : int, :class:`numpy.random.SeedSequence` or :class:`numpy.random.Generator`.

    Returns
    -------
    pandas.DataFrame
        ``USUBJID``; ``TRT01P`` (Categorical in the arms' order) and ``TRT01PN`` (1, 2, ...);
        ``AVISIT`` (ordered Categorical) and ``AVISITN`` (1..T); ``TIME``; one column per
        covariate; ``AVAL`` (or, with a ``BASE`` covariate, ``BASE``, ``CHG`` and
        ``AVAL = BASE + CHG``).  Rows after dropout are kept with the response missing
        (NaN), as :func:`trialmlm.fit` and :mod:`trialmlm.missing` expect.

    Examples
    --------
    >>> df = simulate_trial(50, ["Week 4", "Week 8"], {"Placebo": [-2, -4], "Active": [-3, -6]},
    ...                     covariance=("ar1", {"AR(1)": 0.5, "Residual": 16}), seed=1)
    >>> df.shape
    (200, 7)
    """
    design = TrialDesign(n_per_arm=n_per_arm, visits=visits, means=means, covariance=covariance,
                         random_effects=random_effects, dropout=dropout, covariates=covariates)
    return design.simulate(seed)


def draw(a: DesignArrays, rng: np.random.Generator) -> pd.DataFrame:
    """Draw one trial of the design arrays ``a`` with ``rng`` (the order in the module docstring)."""
    n_visits = a.times.size
    responses, observed, covariate_values = [], [], []
    for k in range(len(a.arms)):
        n = int(a.n[k])
        x = np.column_stack([rng.normal(m, s, n) for _, m, s, _ in a.covariates]) if a.covariates \
            else np.zeros((n, 0))
        y = a.mean[k] + rng.standard_normal((n, n_visits)) @ a.chol[k].T
        for c, (_, m, _, effect) in enumerate(a.covariates):
            y += np.outer(x[:, c] - m, effect)
        responses.append(y)
        observed.append(_observed(a, k, y, rng))
        covariate_values.append(x)
    return _frame(a, np.vstack(responses), np.vstack(observed), np.vstack(covariate_values))


def _observed(a: DesignArrays, k: int, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which (subject, visit) are observed: monotone dropout, MCAR or logistic."""
    if a.retention is not None:
        return rng.random(y.shape[0])[:, None] < a.retention[k][None, :]
    obs = np.ones(y.shape, dtype=bool)
    if a.logistic is None:
        return obs
    intercept, last, current = a.logistic
    u = rng.random(y.shape)
    for j in range(1, y.shape[1]):
        p = expit(intercept[k] + last * y[:, j - 1] + current * y[:, j])
        obs[:, j] = obs[:, j - 1] & (u[:, j] >= p)
    return obs


def _frame(a: DesignArrays, y: np.ndarray, obs: np.ndarray, x: np.ndarray) -> pd.DataFrame:
    n_subjects, n_visits = y.shape
    arm_code = np.repeat(np.arange(len(a.arms)), a.n)
    width = len(str(n_subjects))
    ids = np.array([f"SIM-{i + 1:0{width}d}" for i in range(n_subjects)])
    response = np.where(obs, y, np.nan).ravel()
    out = {
        "USUBJID": np.repeat(ids, n_visits),
        "TRT01P": pd.Categorical.from_codes(np.repeat(arm_code, n_visits), categories=list(a.arms)),
        "TRT01PN": np.repeat(arm_code + 1, n_visits),
        "AVISIT": pd.Categorical.from_codes(np.tile(np.arange(n_visits), n_subjects),
                                            categories=list(a.visits), ordered=True),
        "AVISITN": np.tile(np.arange(1, n_visits + 1), n_subjects),
        "TIME": np.tile(a.times, n_subjects),
    }
    for c, (name, *_) in enumerate(a.covariates):
        out[name] = np.repeat(x[:, c], n_visits)
    if "BASE" in out:
        out["CHG"] = response
        out["AVAL"] = out["BASE"] + response
    else:
        out["AVAL"] = response
    return pd.DataFrame(out)


def from_fit(fit, arm: str, effect, n_per_arm, reference=None, dropout=None, covariates=None) -> TrialDesign:
    r"""The design of a trial like a fitted pilot study, with an assumed treatment effect.

    Visits, covariance matrix :math:`\hat\Sigma` (per arm when the fit has one per level of
    ``arm``, SAS ``GROUP=``) and the reference arm's LS means per visit come from ``fit``;
    every other arm's means are the reference's plus ``effect``.

    Parameters
    ----------
    fit : :class:`trialmlm.MMRMResults` of an MMRM with a visit-indexed covariance (e.g.
        ``"CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"``).
    arm : the fit's treatment factor.
    effect : difference from the reference arm: one number (every visit), one per visit, or
        a mapping arm -> either.
    n_per_arm : as :class:`TrialDesign`.
    reference : the reference (control) level of ``arm``; default the first.
    dropout, covariates : as :class:`TrialDesign` (none by default; the LS means are at the
        covariates' means, so a covariate with its fitted effect reproduces the pilot).

    Returns
    -------
    TrialDesign
    """
    if not fit.spec.marginal or len(fit.spec.positions) != 1:
        raise DataError("from_fit needs an MMRM with one visit factor and a residual covariance structure "
                        "(for random intercepts and slopes build a TrialDesign with random_effects=)")
    visit = fit.spec.repeated
    table = fit.lsmeans(arm, by=visit)
    arms = list(dict.fromkeys(table[arm]))
    reference = arms[0] if reference is None else reference
    if reference not in arms:
        raise DataError(f"reference {reference!r} is not a level of {arm!r} "
                        f"(levels: {', '.join(map(str, arms))})")
    labels = list(fit.covariance_matrix(fit.group_labels[0]).index)
    ref = table[table[arm] == reference].set_index(visit)["estimate"].reindex(labels).to_numpy()
    effects = effect if isinstance(effect, Mapping) else {a: effect for a in arms if a != reference}
    means = {reference: ref}
    for level in arms:
        if level != reference:
            if level not in effects:
                raise DataError(f"effect gives no value for arm {level!r}")
            shift = np.asarray(effects[level], dtype=float)
            if shift.size not in (1, ref.size):
                raise DataError(f"effect of arm {level!r} must be one number or one per visit ({ref.size}), "
                                f"got {shift.size}")
            means[level] = ref + shift.ravel()
    if fit.spec.group is None:
        covariance = fit.covariance_matrix().to_numpy()
    elif fit.spec.group == arm:
        covariance = {a: fit.covariance_matrix(a).to_numpy() for a in arms}
    else:
        raise DataError(f"the fit has a covariance matrix per level of {fit.spec.group!r}, not of "
                        f"the arm {arm!r}: pass covariance= to TrialDesign")
    return TrialDesign(n_per_arm=n_per_arm, visits=labels, means=means, covariance=covariance,
                       dropout=dropout, covariates=covariates)

