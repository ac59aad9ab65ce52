"""trialmlm.glmm with the probit and cloglog links vs lme4 glmer, nAGQ = 11
(tests/reference/glmm/make_glmm_links_refs.R), and the conditional log densities'
eta-derivatives (trialmlm/glimmix/conditional.py) against central differences.

glmer's Laplace (nAGQ = 1) for a non-canonical link uses the expected-information weights in
log|H|, trialmlm the observed curvature (as SAS GLIMMIX), so only the quadrature fits, which
compute the integral itself, are compared with glmer."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.genmod.families import get_family
from trialmlm.glimmix import glmm
from trialmlm.glimmix.conditional import Conditional

REF = Path(__file__).parent / "reference" / "glmm"
REFS = json.loads((REF / "glmm_links_refs.json").read_text())["fits"]


def compare(fit, ref: dict) -> None:
    np.testing.assert_allclose(fit.beta, list(ref["fixef"].values()), rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), list(ref["se_fixef_numderiv"].values()), rtol=1e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert fit.G[0, 0] == pytest.approx(ref["G"], rel=1e-5)
    theta, se_theta = ref["theta"]["herd.(Intercept)" if "herd.(Intercept)" in ref["theta"]
                                   else "district.(Intercept)"], list(ref["se_theta_numderiv"].values())[0]
    assert fit.covariance_parameters["se"].iloc[0] == pytest.approx(2 * theta * se_theta, rel=1e-4)
    assert fit.converged


@pytest.mark.parametrize("link", ["probit", "cloglog"])
def test_cbpp_links_match_glmer_agq11(link):
    data = pd.read_csv(REF / "cbpp.csv").assign(period=lambda d: d["period"].astype(str))
    fit = glmm("incidence ~ period + (1 | herd)", data, trials="size", link=link, n_points=11)
    assert fit.settings.link == link
    compare(fit, REFS[f"cbpp_{link}_agq11"])


@pytest.mark.parametrize("link", ["probit", "cloglog"])
def test_contraception_links_match_glmer_agq11(link):
    data = pd.read_csv(REF / "contraception.csv")
    fit = glmm("use ~ age + urban + livch + (1 | district)", data, link=link, n_points=11)
    compare(fit, REFS[f"contraception_{link}_agq11"])


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binomial_score_and_observed_weight_are_derivatives(link):
    y = np.array([0.0, 1.0, 0.25, 0.6, 1.0, 0.0])
    w = np.array([1.0, 1.0, 4.0, 5.0, 1.0, 1.0])
    eta = np.array([-7.0, -1.2, 0.3, 2.0, 6.0, 3.5])
    rows = Conditional.of(get_family("binomial"), link, y, w)
    score, weight = rows.derivatives(eta)
    h = 1e-5
    np.testing.assert_allclose(score, (rows.log_density(eta + h) - rows.log_density(eta - h)) / (2 * h),
                               rtol=1e-6, atol=1e-9)
    numeric = -(rows.derivatives(eta + h)[0] - rows.derivatives(eta - h)[0]) / (2 * h)
    np.testing.assert_allclose(weight, numeric, rtol=1e-6, atol=1e-9)
    assert np.all(weight > 0)
    moderate = np.abs(eta) <= 2  # where the naive log(mu), log(1 - mu) are still accurate
    mu = get_family("binomial").link(link).inverse(eta[moderate])
    expected = w[moderate] * (y[moderate] * np.log(mu) + (1 - y[moderate]) * np.log1p(-mu))
    np.testing.assert_allclose(rows.log_density(eta)[moderate], expected + rows.constant[moderate],
                               rtol=1e-10)


def test_extreme_linear_predictor_stays_finite():
    rows = Conditional.of(get_family("binomial"), "probit", np.array([0.0, 1.0]), np.ones(2))
    eta = np.array([40.0, -40.0])
    assert np.all(np.isfinite(rows.log_density(eta)))
    assert np.all(np.isfinite(np.concatenate(rows.derivatives(eta))))


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_weight_slope_is_derivative_of_weight(link):
    y = np.array([0.0, 1.0, 0.25, 0.6, 1.0, 0.0, 1.0])
    w = np.array([1.0, 1.0, 4.0, 5.0, 1.0, 1.0, 1.0])
    eta = np.array([-7.0, -1.2, 0.3, 2.0, 6.0, 3.5, -12.0])
    rows = Conditional.of(get_family("binomial"), link, y, w)
    h = 1e-3  # the weight itself carries ~1e-13 rounding at eta = -12 (probit)
    numeric = (rows.derivatives(eta + h)[1] - rows.derivatives(eta - h)[1]) / (2 * h)
    np.testing.assert_allclose(rows.weight_slope(eta), numeric, rtol=1e-6, atol=1e-9)
