"""GLMMResults' inference (lsmeans, compare, anova, likelihood_ratio) against R
(tests/reference/glmm_inference/make_inference_refs.R): emmeans on glmer fits with asymptotic df
(compared with df="none"), anova() of glmer fits, glm vs glmer for the test of G = 0."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import BoundaryWarning, DataError
from trialmlm.glimmix import glmm
from trialmlm.inference.protocol import Comparisons

HERE = Path(__file__).parent / "reference"
REFS = json.loads((HERE / "glmm_inference" / "inference_refs.json").read_text())


def toenail() -> pd.DataFrame:
    return pd.read_csv(HERE / "glmm" / "toenail.csv").assign(
        terb=lambda d: (d["treatment"] == "terbinafine").astype(int))


@pytest.fixture(scope="module")
def epil_fit():
    data = pd.read_csv(HERE / "glmm" / "epil.csv")
    return glmm("y ~ trt * C(period) + lbase + lage + (1 | subject)", data, family="poisson",
                method="laplace")


@pytest.fixture(scope="module")
def toenail_fit():
    return glmm("y ~ treatment * C(visit) + (1 | id)", toenail(), method="laplace")


def check_emmeans(fit, key, spec, by, rtol, se_rtol, atol=0.0):
    """``atol`` for the link-scale estimates and limits (which cross 0)."""
    ref = REFS["emmeans"][key]
    assert isinstance(fit, Comparisons)
    ls = fit.lsmeans(spec, by=by, ilink=True, df="none")
    r = ref["lsmeans"]
    assert list(ls[spec]) == r["spec"] and list(ls[by].astype(str)) == r["by"]
    for column in ("estimate", "lower", "upper"):
        np.testing.assert_allclose(ls[column], r[column], rtol=rtol, atol=atol, err_msg=column)
    for column in ("mean", "mean_lower", "mean_upper"):
        np.testing.assert_allclose(ls[column], r[column], rtol=rtol, err_msg=column)
    for column in ("se", "mean_se"):
        np.testing.assert_allclose(ls[column], r[column], rtol=se_rtol, err_msg=column)
    diff = fit.compare(spec, by=by, df="none")
    d = ref["differences"]
    assert list(diff["contrast"]) == d["contrast"]
    np.testing.assert_allclose(diff["estimate"], d["estimate"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(diff["se"], d["se"], rtol=se_rtol)
    np.testing.assert_allclose(diff["t"], d["z"], rtol=se_rtol)
    np.testing.assert_allclose(diff["p"], d["p"], rtol=10 * se_rtol)
    for column in ("ratio", "ratio_lower", "ratio_upper"):
        np.testing.assert_allclose(diff[column], d[column], rtol=rtol, err_msg=column)
    anova = fit.anova(df="none")
    assert list(anova.columns) == ["term", "df", "chi_square", "p"]
    j = ref["joint_tests"]
    anova = anova.set_index("term").loc[[t.replace("fvisit", "C(visit)").replace("fperiod", "C(period)")
                                         for t in j["term"]]]
    np.testing.assert_array_equal(anova["df"], j["df"])
    np.testing.assert_allclose(anova["chi_square"], j["chi_square"], rtol=se_rtol)


def test_epil_lsmeans_rate_ratios_and_type3_match_emmeans(epil_fit):
    assert epil_fit.loglik == pytest.approx(REFS["emmeans"]["epil"]["loglik"], abs=1e-6)
    check_emmeans(epil_fit, "epil", "trt", "period", 1e-5, 1e-5)


def test_toenail_lsmeans_odds_ratios_and_type3_match_emmeans(toenail_fit):
    # glmer's deviance for this fit is 2.3e-5 below the Laplace log-likelihood that trialmlm and the
    # independent ../glmm/agq_loglik.R compute (-609.480116) at both optima; along the flat likelihood
    # the two optima differ by 2e-4 SE, and glmer's Hessian gives SEs up to 1.7e-3 relative away (so
    # limits up to 6e-3 absolute on the logit scale).
    assert toenail_fit.loglik == pytest.approx(-609.4801156, abs=1e-6)
    check_emmeans(toenail_fit, "toenail", "treatment", "visit", 1e-2, 3e-3, atol=1e-2)


def test_anova_with_finite_df_is_an_f_test(toenail_fit):
    chi = toenail_fit.anova(df="none").set_index("term")
    f = toenail_fit.anova(df="residual").set_index("term")
    assert list(f.columns) == ["df", "den_df", "F", "p"]
    np.testing.assert_allclose(f["F"], chi["chi_square"] / chi["df"])
    assert (f["den_df"] == toenail_fit.n_obs - 14).all()


def test_likelihood_ratio_matches_anova_of_glmer():
    ref = REFS["likelihood_ratio"]["anova"]
    full = glmm("y ~ terb * time + (1 | id)", toenail(), method="laplace")
    reduced = glmm("y ~ terb + time + (1 | id)", toenail(), method="laplace")
    test = full.likelihood_ratio(reduced).iloc[0]
    np.testing.assert_allclose([test["loglik_reduced"], test["loglik"]], ref["loglik"], atol=1e-5)
    assert test["df"] == ref["df"] and test["reference"] == "chi2(1)"
    assert test["chi_square"] == pytest.approx(ref["chisq"], abs=2e-5)
    assert test["p"] == pytest.approx(ref["p"], rel=1e-4)


def test_zero_variance_test_uses_the_boundary_mixture():
    ref = REFS["likelihood_ratio"]["zero_g"]
    full = glmm("y ~ terb * time + (1 | id)", toenail(), method="laplace")
    test = full.likelihood_ratio().iloc[0]
    assert test["loglik_reduced"] == pytest.approx(ref["loglik_glm"], abs=1e-6)
    assert test["chi_square"] == pytest.approx(ref["chisq"], abs=2e-5)
    assert test["p"] == pytest.approx(ref["p_mixture"], rel=1e-3)
    assert test["reference"] == "0.5 chi2(0) + 0.5 chi2(1)"


def test_variance_at_its_boundary():
    data = pd.read_csv(HERE / "glmm_own" / "cbpp.csv")
    data = data.assign(size=20, incidence=np.arange(len(data)) % 2 + 3)
    with pytest.warns(BoundaryWarning):
        fit = glmm("incidence ~ 1 + (1 | herd)", data, trials="size", method="laplace")
    test = fit.likelihood_ratio().iloc[0]
    assert test["chi_square"] == 0.0 and test["p"] == 1.0 and test["df"] == 1
    assert (fit.random_effects()[["estimate", "se"]] == 0).all().all()
    assert fit.cov("empirical").shape == (1, 1) and fit.cov("mbn")[0, 0] > fit.cov("empirical")[0, 0]


def test_likelihood_ratio_refuses_fits_that_are_not_comparable():
    data = toenail()
    full = glmm("y ~ terb * time + (1 | id)", data, method="laplace")
    with pytest.raises(DataError, match="different data rows"):
        full.likelihood_ratio(glmm("y ~ terb + time + (1 | id)", data.iloc[:-7], method="laplace"))
    with pytest.raises(DataError, match="differ in method"):
        full.likelihood_ratio(glmm("y ~ terb + time + (1 | id)", data, n_points=5))
    with pytest.raises(DataError, match="not fewer"):
        full.likelihood_ratio(full)


def test_several_terms_say_what_is_not_there():
    data = pd.read_csv(HERE / "glmm_multilevel" / "cbpp_obs.csv")
    fit = glmm("incidence ~ period + (1 | herd) + (1 | obs)", data, trials="size", method="laplace")
    table = fit.coef_table()
    assert np.isinf(table["df"]).all()
    np.testing.assert_allclose(table["se"], np.sqrt(np.diag(fit.vcov)))
    with pytest.raises(DataError, match=r"lsmeans\(\) is available .* one random-effect term.*herd, obs"):
        fit.lsmeans("period")
    with pytest.raises(DataError, match="one random-effect term"):
        fit.coef_table(vcov="empirical")
