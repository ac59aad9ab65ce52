"""trialmlm.glimmix.empirical: the empirical sandwich of a GLMM (SAS GLIMMIX EMPIRICAL=CLASSICAL) against
GLMMadaptive ``vcov(fit, sandwich = TRUE)`` (tests/reference/glmm_inference/make_inference_refs.R, set A),
and EMPIRICAL=MBN against the documented formula evaluated here on the same g_i and H."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import DataError
from trialmlm.glimmix import glmm
from trialmlm.glimmix.empirical import subject_gradients

HERE = Path(__file__).parent / "reference"
REFS = json.loads((HERE / "glmm_inference" / "inference_refs.json").read_text())["sandwich"]


def binary() -> pd.DataFrame:
    return pd.read_csv(HERE / "glmm_own" / "binary_slopes.csv").assign(
        placebo=lambda d: (d["TRT"] == "Placebo").astype(int))


def epil() -> pd.DataFrame:
    return pd.read_csv(HERE / "glmm" / "epil.csv").assign(
        prog=lambda d: (d["trt"] == "progabide").astype(int), Visit=lambda d: (2 * d["period"] - 5) / 10)


CASES = {
    "binary_ri_agq11": (binary, "CRIT1FL ~ placebo * WEEK + (1 | USUBJID)", "binomial"),
    "binary_ris_agq11": (binary, "CRIT1FL ~ placebo * WEEK + (1 + WEEK | USUBJID)", "binomial"),
    "epil_ris_agq11": (epil, "y ~ lbase * prog + lage + Visit + (1 + Visit | subject)", "poisson"),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    data, formula, family = CASES[request.param]
    return request.param, glmm(formula, data(), family=family, n_points=11)


def test_sandwich_matches_glmmadaptive(case):
    key, fit = case
    ref = REFS[key]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(fit.coef_table(vcov="empirical")["se"], ref["se_fixef_sandwich"], rtol=1e-4)
    np.testing.assert_allclose(fit.cov("empirical"), ref["vcov_fixef_sandwich"], rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(fit.coef_table()["se"], ref["se_fixef"], rtol=1e-4)


def test_subject_gradients_sum_to_the_score(case):
    _, fit = case
    x = np.concatenate([fit.beta, fit.theta])
    g = subject_gradients(fit.problem, x, fit.free, fit.settings.n_points)
    assert g.shape == (fit.n_subjects, fit.n_parameters)
    assert np.max(np.abs(g.sum(axis=0))) < 1e-4  # the total score vanishes at the maximum


def test_mbn_is_the_documented_formula(case):
    # GLIMMIX "Design-Adjusted MBN Estimator", likelihood form: c H^-1 M H^-1 + delta_m phi H^-1,
    # c = (f - 1)/(f - k) m/(m - 1), k = rank X, delta_m = k/(m - k) if m > (d + 1)k else 1/d,
    # phi = max(r, tr(H^-1 M)/k), d = 2, r = 1
    _, fit = case
    x = np.concatenate([fit.beta, fit.theta])
    g = subject_gradients(fit.problem, x, fit.free, fit.settings.n_points)
    H = np.linalg.inv(fit.parameter_vcov)
    M = g.T @ g
    f, m, k = fit.n_obs, fit.n_subjects, fit.beta.size
    c = (f - 1) / (f - k) * m / (m - 1)
    delta = k / (m - k) if m > 3 * k else 1 / 2
    phi = max(1.0, np.trace(np.linalg.solve(H, M)) / k)
    expected = c * np.linalg.solve(H, np.linalg.solve(H, M).T) + delta * phi * np.linalg.inv(H)
    np.testing.assert_allclose(fit.parameter_cov("mbn"), expected, rtol=1e-10, atol=1e-14)
    assert np.all(np.diag(fit.cov("mbn")) > c * np.diag(fit.cov("empirical")))


def test_unknown_vcov_is_named():
    fit = glmm("CRIT1FL ~ WEEK + (1 | USUBJID)", binary(), method="laplace")
    with pytest.raises(DataError, match="vcov must be one of model, empirical, mbn"):
        fit.coef_table(vcov="robust")
