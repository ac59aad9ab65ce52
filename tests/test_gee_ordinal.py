"""trialmlm.gee(family="multinomial", link="clogit"): the cumulative logit GEE with independence
working correlation against R (tests/reference/gee_families/make_gee_families_refs.R): estimates of
ordinal::clm / MASS::polr with the sign flipped to SAS's P(Y <= k) = F(alpha_k + x'beta), the
robust sandwich from the analytic scores and the model-based H^-1 (both also equal to
multgee::ordLORgee(LORstr = "independence"), asserted in the script), to 1e-6.  LS means, odds
ratios and type 3 tests are checked against the same R estimates and covariances."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import trialmlm
from trialmlm.errors import DataError, FormulaError

REF = Path(__file__).parent / "reference" / "gee_families"
CASES = {c["name"]: c for c in json.loads((REF / "gee_families.json").read_text())["ordinal"]}
DATA = pd.read_csv(REF / "ordinal.csv")


def fit_case(name: str, data: pd.DataFrame = DATA, **kwargs):
    case = CASES[name]
    kwargs.setdefault("levels", case["levels"])
    kwargs.setdefault("link", "clogit")
    return trialmlm.gee(case["python"]["formula"], data, family="multinomial", subject="USUBJID",
                        visit="AVISIT", tol=1e-12, **kwargs)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_clm_and_sandwich(name):
    case, fit = CASES[name], fit_case(name)
    assert fit.converged
    assert fit.names[:3] == ["Intercept1", "Intercept2", "Intercept3"]
    np.testing.assert_allclose(fit.theta, list(case["coef"].values()), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.cov("robust"), case["robust"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.cov("model"), case["model"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.cov("robust"), case["multgee"]["robust"], rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(fit.loglik, case["loglik"], atol=1e-6)
    # polr's parameterisation: zeta = alpha, eta = -beta
    np.testing.assert_allclose(fit.theta[:3], list(case["polr_zeta"].values()), rtol=1e-4)
    np.testing.assert_allclose(-fit.theta[3:], list(case["polr_coef"].values()), rtol=1e-4, atol=1e-6)


def test_ordered_categorical_and_numeric_codes_give_the_same_fit():
    case = CASES["trt_main"]
    cat = DATA.assign(SEV=pd.Categorical(DATA["SEV"], categories=case["levels"], ordered=True))
    num = DATA.assign(SEV=DATA["SEV"].map({v: i + 1 for i, v in enumerate(case["levels"])}))
    ref = fit_case("trt_main").theta
    np.testing.assert_allclose(fit_case("trt_main", cat, levels=None).theta, ref, rtol=1e-10)
    np.testing.assert_allclose(fit_case("trt_main", num, levels=None).theta, ref, rtol=1e-10)


def test_lsmeans_odds_ratio_and_type3_from_r_values():
    case, fit = CASES["trt_main"], fit_case("trt_main")
    theta = np.array(list(case["coef"].values()))
    V = np.array(case["robust"])
    names = case["names"]
    j = {n: i for i, n in enumerate(names)}
    base = DATA.loc[DATA["SEV"].notna(), "BASE"].mean()
    # LS mean of logit P(Y <= mild) for Active at Week 4: alpha_2 + mean BASE * beta_BASE (reference levels)
    x = np.zeros(theta.size)
    x[j["Intercept2"]], x[j["BASE"]] = 1.0, base
    ls = fit.lsmeans("TRT", by="AVISIT", ilink=True)
    row = ls[(ls.TRT == "Active") & (ls.AVISIT == "Week 4") & (ls.cumulative == "<= mild")].iloc[0]
    np.testing.assert_allclose(row.estimate, x @ theta, rtol=1e-6)
    np.testing.assert_allclose(row.se, np.sqrt(x @ V @ x), rtol=1e-6)
    np.testing.assert_allclose(row["mean"], special.expit(x @ theta), rtol=1e-6)
    # odds ratio Active vs Placebo of a lower level: exp(-beta_TRTPlacebo)
    cmp = fit.compare("TRT", reference="Placebo").iloc[0]
    b, se = theta[j["TRTPlacebo"]], np.sqrt(V[j["TRTPlacebo"], j["TRTPlacebo"]])
    np.testing.assert_allclose([cmp.estimate, cmp.se], [-b, se], rtol=1e-6)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose([cmp.ratio, cmp.ratio_lower, cmp.ratio_upper],
                               np.exp([-b, -b - z * se, -b + z * se]), rtol=1e-6)
    # type 3 Wald chi-square of AVISIT (3 df) from R's robust covariance
    k = [j[n] for n in names if n.startswith("AVISIT")]
    w = theta[k] @ np.linalg.solve(V[np.ix_(k, k)], theta[k])
    aov = fit.anova().set_index("term")
    np.testing.assert_allclose(aov.loc["AVISIT", "chi_square"], w, rtol=1e-6)
    assert aov.loc["AVISIT", "df"] == 3 and "Intercept" not in aov.index


def test_one_category_names_the_column():
    data = DATA.assign(SEV="mild")
    with pytest.raises(DataError, match="'SEV' has one category"):
        fit_case("trt_main", data)


def test_text_response_needs_an_order():
    with pytest.raises(DataError, match="'SEV'.*levels="):
        fit_case("trt_main", levels=None)
    with pytest.raises(DataError, match="'SEV' holds 'mild'.*not one of levels"):
        fit_case("trt_main", levels=["none", "moderate", "severe"])


@pytest.mark.parametrize("working", ["exchangeable", "ar1"])
def test_only_independence_as_sas(working):
    with pytest.raises(DataError, match="only TYPE=IND"):
        fit_case("trt_main", working=working)


def test_bad_link_and_no_intercept():
    with pytest.raises(DataError, match="clogit"):
        fit_case("trt_main", link="logit")
    with pytest.raises(FormulaError, match="intercept"):
        trialmlm.gee("SEV ~ 0 + BASE + TRT", DATA, family="multinomial", subject="USUBJID", visit="AVISIT",
                     levels=CASES["trt_main"]["levels"])
