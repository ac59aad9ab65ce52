"""trialmlm.glimmix.prediction: conditional modes and their prediction standard errors.  lme4's condVar
against ``ranef(glmer(...), condVar = TRUE)`` on cbpp (tests/reference/glmm/make_glmer_refs.R,
``conditional_modes``); SAS GLIMMIX's (Booth & Hobert) against a plain per-herd evaluation of its
formula written here: the mode by root finding, V_i = 1/(sum n p(1 - p) + 1/sigma^2), J_i by central
differences of that mode, P_i = V_i + J_i C J_i'."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from trialmlm.errors import DataError
from trialmlm.glimmix import glmm

REF = Path(__file__).parent / "reference" / "glmm"
MODES = json.loads((REF / "glmer_refs.json").read_text())["conditional_modes"]


@pytest.fixture(scope="module")
def fit():
    data = pd.read_csv(REF / "cbpp.csv")
    return glmm("incidence ~ C(period) + (1 | herd)", data, trials="size", method="laplace")


def test_lme4_conditional_variance_matches_glmer(fit):
    table = fit.random_effects(kind="lme4").set_index("herd")
    herds = [int(h) for h in MODES["herd"]]
    np.testing.assert_allclose(table.loc[herds, "estimate"], MODES["mode"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(table.loc[herds, "se"] ** 2, MODES["cond_var"], rtol=1e-4)


def plain_modes(X, y, n, herd, x):
    """Each herd's mode of sum(y eta - n log(1 + e^eta)) - b^2/(2 sigma^2) and its conditional variance."""
    beta, sigma = x[:-1], np.exp(x[-1])
    fixed = X @ beta
    modes, variances = [], []
    for h in np.unique(herd):
        rows = herd == h

        def score(b, rows=rows):
            return np.sum(y[rows] - n[rows] * special.expit(fixed[rows] + b)) - b / sigma ** 2
        b = optimize.brentq(score, -20, 20, xtol=1e-14, rtol=1e-15)
        p = special.expit(fixed[rows] + b)
        modes.append(b)
        variances.append(1.0 / (np.sum(n[rows] * p * (1 - p)) + 1 / sigma ** 2))
    return np.array(modes), np.array(variances)


def test_sas_prediction_variance_is_the_documented_formula(fit):
    data = pd.read_csv(REF / "cbpp.csv").sort_values(["herd", "period"], kind="stable")
    X = fit.problem.X
    y, n = data["incidence"].to_numpy(float), data["size"].to_numpy(float)
    herd = data["herd"].to_numpy()
    x = np.concatenate([fit.beta, fit.theta])
    modes, V = plain_modes(X, y, n, herd, x)
    J = np.empty((modes.size, x.size))
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = 1e-5
        J[:, j] = (plain_modes(X, y, n, herd, x + e)[0] - plain_modes(X, y, n, herd, x - e)[0]) / 2e-5
    expected = V + np.einsum("ij,jk,ik->i", J, fit.parameter_cov("model"), J)
    table = fit.random_effects()
    assert list(table.columns) == ["herd", "effect", "estimate", "se"]
    np.testing.assert_allclose(table["estimate"], modes, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table["se"] ** 2, expected, rtol=1e-6)
    assert np.all(table["se"] ** 2 > V)  # the parameters' uncertainty adds to the conditional variance
    with_sandwich = fit.random_effects(vcov="empirical")
    assert not np.allclose(with_sandwich["se"], table["se"])


def test_random_slopes_table_and_bad_kind():
    data = pd.read_csv(Path(__file__).parent / "reference" / "glmm_own" / "binary_slopes.csv")
    fit = glmm("CRIT1FL ~ TRT * WEEK + (1 + WEEK | USUBJID)", data, method="laplace")
    table = fit.random_effects(se=False)
    assert list(table.columns) == ["USUBJID", "effect", "estimate"]
    assert list(table["effect"][:2]) == list(fit.random_names)
    np.testing.assert_allclose(table["estimate"].to_numpy().reshape(-1, 2), fit.modes.to_numpy(), atol=1e-8)
    with pytest.raises(DataError, match="kind must be one of sas, lme4"):
        fit.random_effects(kind="blup")
