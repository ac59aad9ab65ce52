"""Marginal (g-computation) treatment effects, trialmlm.genmod.margins.

References: tests/reference/gee_published/marginal_refs.json (make_marginal_refs.R: R beeca
get_marginal_effect on trial01 / trial02_cdisc, the SAS %Margins and Ge et al. macro outputs
beeca ships, RobinCar2 robin_glm on its glm_data) and tests/reference/gee_margins/
margins_by_visit.json (make_margins_by_visit.R: beeca per visit and the joint covariances
across visits of the respiratory trial, from glm + sandwich::estfun).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trialmlm
from trialmlm.errors import DataError
from trialmlm.genmod.margins import marginal_effects

PUBLISHED = Path(__file__).parent / "reference" / "gee_published"
BY_VISIT = Path(__file__).parent / "reference" / "gee_margins" / "margins_by_visit.json"
REFS = json.loads((PUBLISHED / "marginal_refs.json").read_text())
RTOL = 1e-6
CONTRASTS = ("diff", "rr", "or", "logrr", "logor")


def close(actual, expected, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol)


def close_matrix(actual, expected, rtol=RTOL):
    """Entries relative to the largest one (off-diagonal covariances can be ~1e-6 of it)."""
    expected = np.asarray(expected, dtype=float)
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=0,
                               atol=rtol * np.abs(expected).max())


def gee(formula, data, subject, **kw):
    return trialmlm.gee(formula, data, family=kw.pop("family", "binomial"), subject=subject, tol=1e-12, **kw)


@pytest.fixture(scope="module")
def trial01():
    d = pd.read_csv(PUBLISHED / "trial01.csv").dropna(subset=["aval"])
    d["trtp"] = d["trtp"].astype(str)
    case = REFS["beeca"]["trial01_Ye_strata"]
    d["bl_cov_c2"] = np.array(case["strata_levels"])[np.array(case["strata_codes"]) - 1]
    return d


@pytest.fixture(scope="module")
def trial02():
    d = pd.read_csv(PUBLISHED / "trial02_cdisc.csv")
    d["TRTPN"] = d["TRTPN"].astype(str)
    return d


@pytest.fixture(scope="module")
def glm_data():
    return pd.read_csv(PUBLISHED / "robincar2_glm_data.csv")


@pytest.fixture(scope="module")
def respiratory():
    d = pd.read_csv(PUBLISHED / "respiratory.csv")
    d["visit"] = "V" + d["visit"].astype(str)
    d["subj"] = d["center"].astype(str) + "-" + d["id"].astype(str)
    return d


@pytest.fixture(scope="module")
def fit01(trial01):
    return gee("aval ~ trtp + bl_cov", trial01, "usubjid")


# -- beeca (Ge, Ye, stratified Ye) on trial01 and trial02_cdisc -----------------------------------
BEECA = {
    "trial01_Ge": dict(method="Ge", vcov="robust"),
    "trial01_Ge_model_based": dict(method="Ge", vcov="model"),
    "trial01_Ye": dict(method="Ye"),
    "trial01_Ye_strata": dict(method="Ye", strata="bl_cov_c2"),
    "trial02_Ge": dict(method="Ge", vcov="robust"),
    "trial02_Ye": dict(method="Ye"),
    "trial02_Ye_strata_SEX": dict(method="Ye", strata="SEX"),
}


@pytest.mark.parametrize("case", list(BEECA))
def test_beeca(case, trial01, trial02):
    ref = REFS["beeca"][case]
    data = trial01 if case.startswith("trial01") else trial02
    fit = gee(ref["formula"], data, "usubjid" if case.startswith("trial01") else "USUBJID")
    close(fit.coef, list(ref["coefficients"].values()))
    m = marginal_effects(fit, ref["trt"], reference=ref["reference"], **BEECA[case])
    close(m.means["estimate"], list(ref["counterfactual_means"].values()))
    close_matrix(m.cov, ref["varcov"])
    for name in CONTRASTS:
        rows = m.table[m.table["contrast"] == name]
        expected = ref["contrasts"][name]
        assert rows["label"].tolist() == np.atleast_1d(expected["labels"]).tolist()
        close(rows["estimate"], np.atleast_1d(expected["estimate"]))
        close(rows["se"], np.atleast_1d(expected["se"]))


def test_beeca_test_values(fit01, trial01, trial02):
    """The numbers hard-coded in beeca's tests (9 printed digits)."""
    ref = REFS["beeca_tests"]
    se = marginal_effects(fit01, "trtp", "diff").table["se"].iloc[0]
    close(se ** 2, ref["trial01_Ye_diff_variance"], 5e-9 / ref["trial01_Ye_diff_variance"])
    strat = gee("aval ~ trtp + bl_cov + bl_cov_c2", trial01, "usubjid")
    se = marginal_effects(strat, "trtp", "diff", strata="bl_cov_c2").table["se"].iloc[0]
    close(se ** 2, ref["trial01_Ye_strata_bl_cov_c2_diff_variance"], 2e-6)
    fit = gee("AVAL ~ TRTPN + SEX", trial02, "USUBJID")
    np.testing.assert_allclose(marginal_effects(fit, "TRTPN").cov, ref["trial02_Ye_varcov"], atol=5e-12)
    np.testing.assert_allclose(marginal_effects(fit, "TRTPN", strata="SEX").cov,
                               ref["trial02_Ye_strata_SEX_varcov"], atol=5e-12)


# -- SAS macros that beeca ships ------------------------------------------------------------------
def test_sas_margins_macro(fit01):
    """SAS %Margins (support.sas.com/kb/63/038) on trial01: risk difference 1 - 0 with the
    model-based covariance (the default of method='Ge')."""
    sas = REFS["beeca_shipped_sas"]["margins_trial01"][0]
    row = marginal_effects(fit01, "trtp", "diff", method="Ge").table.iloc[0]
    close(row["estimate"], sas["Estimate"], 1e-7)
    close(row["se"], sas["StdErr"], 1e-7)
    close(row["lower"], sas["Lower"], 1e-7)
    close(row["upper"], sas["Upper"], 1e-7)
    close(row["t"] ** 2, sas["ChiSq"], 1e-7)
    close(row["p"], sas["Pr"], 1e-7)


def test_sas_ge_macro(fit01):
    """The SAS macro of Ge et al. (2011) on trial01: the SE to 1e-6; the means and their
    difference only to 5e-6 (the macro's own, looser, logistic fit: its difference is 2e-7 off)
    and its limits not at all (they use 1.96, not 1.959964)."""
    sas = REFS["beeca_shipped_sas"]["ge_macro_trial01"][0]
    m = marginal_effects(fit01, "trtp", "diff", method="Ge")
    close(m.means["estimate"], [sas["pC"], sas["pt"]], 5e-6)
    row = m.table.iloc[0]
    close(row["estimate"], sas["diff"], 5e-6)
    close(row["se"], sas["se"])
    close(sas["upper"] - sas["lower"], 2 * 1.96 * sas["se"], 1e-9)


# -- RobinCar2 robin_glm, simple and permuted-block stratified randomisation ------------------------
ROBIN = {"difference": "diff", "risk_ratio": "rr", "odds_ratio": "or", "log_risk_ratio": "logrr",
         "log_odds_ratio": "logor"}


@pytest.mark.parametrize("model", ["", "covar_"])
@pytest.mark.parametrize("randomisation", ["simple", "pb"])
def test_robincar2(model, randomisation, glm_data):
    formula = "y_b ~ treatment * s1" if model == "" else "y_b ~ treatment + covar"
    fit = gee(formula, glm_data, "id")
    strata = glm_data["s1"] if randomisation == "pb" else None
    for robin, name in ROBIN.items():
        ref = REFS["robincar2"][f"{model}{randomisation}_{robin}"]
        vs_pbo = marginal_effects(fit, "treatment", name, strata=strata, reference="pbo")
        vs_trt1 = marginal_effects(fit, "treatment", name, strata=strata, reference="trt1")
        close(vs_pbo.means["estimate"], list(ref["marginal_mean"]["estimate"].values()))
        close_matrix(vs_pbo.cov, ref["marginal_mean"]["varcov"])
        table = pd.concat([vs_pbo.table, vs_trt1.table[vs_trt1.table["arm"] == "trt2"]])
        close(table["estimate"], ref["contrast_estimate"])
        close(table["se"], ref["contrast_se"])


# -- per visit from a GEE, joint covariance across visits -------------------------------------------
RESP_FORMULA = "outcome ~ visit * (treatment + baseline + age + sex)"
BY_VISIT_METHODS = {"ye": dict(method="Ye"), "ge_model": dict(method="Ge"),
                    "ge_robust": dict(method="Ge", vcov="robust"), "influence": dict(method="influence")}


@pytest.fixture(scope="module")
def resp_fit(respiratory):
    return gee(RESP_FORMULA, respiratory, "subj", visit="visit")


@pytest.mark.parametrize("name", list(BY_VISIT_METHODS))
def test_by_visit_joint_covariance(name, resp_fit):
    """The 8 x 8 covariance of (visit x arm) means, R glm + sandwich::estfun (script)."""
    ref = json.loads(BY_VISIT.read_text())
    m = marginal_effects(resp_fit, "treatment", by="visit", reference="P", **BY_VISIT_METHODS[name])
    assert [f"{v} {a}" for v, a in m.cov.index] == ref["joint"]["labels"]
    close(m.means["estimate"], ref["joint"]["means"])
    close_matrix(m.cov, ref["joint"][name])


@pytest.mark.parametrize("name,beeca", [("Ye", "Ye"), ("Ge", "Ge_model"), ("Ge_robust", "Ge_HC0")])
def test_by_visit_equals_beeca_per_visit(name, beeca, resp_fit):
    """The visit's estimates and SEs equal beeca's on that visit's rows alone (R)."""
    ref = json.loads(BY_VISIT.read_text())["per_visit"]
    kw = dict(method="Ge", vcov="robust") if name == "Ge_robust" else dict(method=name)
    m = marginal_effects(resp_fit, "treatment", ("diff", "rr", "or"), by="visit", reference="P", **kw)
    for visit, expected in ref.items():
        for contrast in ("diff", "rr", "or"):
            row = m.table[(m.table["visit"] == visit) & (m.table["contrast"] == contrast)].iloc[0]
            close([row["estimate"], row["se"]], [expected[beeca][contrast]["estimate"],
                                                 expected[beeca][contrast]["se"]])


@pytest.mark.parametrize("method", ["Ye", "influence", "Ge"])
def test_one_visit_blocks_are_single_visit_fits(method, respiratory, resp_fit):
    """Independence working correlation, model interacted with visit: each visit's block of the
    joint covariance is the single-visit analysis of that visit's rows (a GLM)."""
    m = marginal_effects(resp_fit, "treatment", by="visit", method=method)
    for v, visit in enumerate(m.visits):
        rows = respiratory[respiratory["visit"] == visit]
        one = gee("outcome ~ treatment + baseline + age + sex", rows, "subj")
        single = marginal_effects(one, "treatment", method=method)
        close(m.means["estimate"].iloc[2 * v:2 * v + 2], single.means["estimate"], 1e-9)
        close_matrix(m.cov.iloc[2 * v:2 * v + 2, 2 * v:2 * v + 2], single.cov, 1e-9)


def test_contrast_of_visits_and_joint_test(resp_fit):
    m = marginal_effects(resp_fit, "treatment", by="visit", reference="P")
    diff = m.table[m.table["contrast"] == "diff"]
    L = np.zeros((1, 8))
    L[0, [6, 7, 0, 1]] = [1, -1, -1, 1]  # (A - P at V4) - (A - P at V1)
    row = m.contrast(L, ["V4 - V1"]).iloc[0]
    close(row["estimate"], diff["estimate"].iloc[3] - diff["estimate"].iloc[0], 1e-12)
    close(row["se"], np.sqrt(L[0] @ m.cov.to_numpy() @ L[0]), 1e-12)
    cd = m.covariance("diff").to_numpy()
    close(np.sqrt(np.diag(cd)), diff["se"], 1e-12)
    d = diff["estimate"].to_numpy()
    test = m.joint_test("diff")
    assert test["df"] == 4
    close(test["chi_square"], d @ np.linalg.solve(cd, d), 1e-12)
    same = m.joint_test("logor", L=[[1, -1, 0, 0], [0, 1, -1, 0], [0, 0, 1, -1]])
    assert same["df"] == 3 and 0 < same["p"] < 1


def test_influence_with_exchangeable_working_correlation(respiratory):
    """Any working correlation: the influence covariance is positive definite; Ye is refused."""
    fit = trialmlm.gee("outcome ~ visit * treatment + baseline + age + sex", respiratory, family="binomial",
                       subject="subj", visit="visit", working="exchangeable")
    m = marginal_effects(fit, "treatment", by="visit", method="influence")
    assert np.linalg.eigvalsh(m.cov.to_numpy()).min() > 0
    with pytest.raises(DataError, match="prediction unbiasedness.*arm '.' at visit 'V."):
        marginal_effects(fit, "treatment", by="visit")


# -- counts: ratio of means ---------------------------------------------------------------------------
def test_poisson_without_covariates_is_the_arm_means():
    """With the arm alone in the model the standardised means are the arm means and Ye's
    variance is var_a(y)/n_a."""
    rng = np.random.default_rng(7)
    d = pd.DataFrame({"id": range(60), "arm": np.repeat(["C", "T"], 30), "y": rng.poisson(2.0, 60)})
    m = marginal_effects(gee("y ~ arm", d, "id", family="poisson"), "arm", ("diff", "rr"))
    means = d.groupby("arm")["y"].mean().to_numpy()
    close(m.means["estimate"], means, 1e-9)
    close(np.diag(m.cov), d.groupby("arm")["y"].var().to_numpy() / 30, 1e-9)
    close(m.table["estimate"], [means[1] - means[0], means[1] / means[0]], 1e-9)
    with pytest.raises(DataError, match="odds"):
        marginal_effects(gee("y ~ arm", d, "id", family="poisson"), "arm", "or")


# -- properties -----------------------------------------------------------------------------------------
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_invariant_to_row_order_and_subject_labels(seed, trial02):
    rng = np.random.default_rng(seed)
    shuffled = trial02.sample(frac=1, random_state=rng.integers(2 ** 31)).reset_index(drop=True)
    shuffled["USUBJID"] = shuffled["USUBJID"].map(dict(zip(trial02["USUBJID"],
                                                           rng.permutation(len(trial02)).astype(str))))
    base = marginal_effects(gee("AVAL ~ TRTPN + SEX", trial02, "USUBJID"), "TRTPN", strata="SEX")
    other = marginal_effects(gee("AVAL ~ TRTPN + SEX", shuffled, "USUBJID"), "TRTPN", strata="SEX")
    close(other.table["estimate"], base.table["estimate"], 1e-9)
    close(other.table["se"], base.table["se"], 1e-9)


# -- bad input ------------------------------------------------------------------------------------------
def test_bad_input(fit01, trial01, respiratory):
    numeric = trial01.assign(arm=trial01["trtp"].astype(int))
    with pytest.raises(DataError, match="'arm' must be a factor.*covariate"):
        marginal_effects(gee("aval ~ arm + bl_cov", numeric, "usubjid"), "arm")
    with pytest.raises(DataError, match="'region' must be a factor.*not in the model"):
        marginal_effects(fit01, "region")
    with pytest.raises(DataError, match="one level"):
        marginal_effects(gee("aval ~ trtp + bl_cov", trial01[trial01["trtp"] == "1"], "usubjid"), "trtp")
    with pytest.raises(DataError, match="contrast must be among"):
        marginal_effects(fit01, "trtp", "ratio")
    with pytest.raises(DataError, match="method must be one of"):
        marginal_effects(fit01, "trtp", method="HC0")
    with pytest.raises(DataError, match="vcov= chooses"):
        marginal_effects(fit01, "trtp", vcov="robust")
    with pytest.raises(DataError, match="strata= adjusts"):
        marginal_effects(fit01, "trtp", method="Ge", strata="bl_cov_c2")
    with pytest.raises(DataError, match="not columns of the model"):
        marginal_effects(fit01, "trtp", strata="bl_cov_c2")
    with pytest.raises(DataError, match="reference 2 is not a level of 'trtp'"):
        marginal_effects(fit01, "trtp", reference=2)
    with pytest.raises(DataError, match="has several rows: give by="):
        marginal_effects(gee("outcome ~ treatment + age", respiratory, "subj"), "treatment")
    moving = respiratory.assign(treatment=np.where(respiratory["visit"] == "V4", "A",
                                                   respiratory["treatment"]))
    with pytest.raises(DataError, match="changes within subject"):
        marginal_effects(gee("outcome ~ treatment * visit", moving, "subj", visit="visit"), "treatment",
                         by="visit")
    with pytest.raises(DataError, match="by='sex' must be the fit's visit column"):
        marginal_effects(gee("outcome ~ treatment * visit", respiratory, "subj", visit="visit"), "treatment",
                         by="sex")


def test_identity_link_is_not_prediction_unbiased(trial01):
    """Ye's moments need residuals summing to zero per arm; a non-canonical link breaks it."""
    fit = gee("aval ~ trtp + bl_cov", trial01, "usubjid", link="identity")
    with pytest.raises(DataError, match="prediction unbiasedness"):
        marginal_effects(fit, "trtp")
    assert np.isfinite(marginal_effects(fit, "trtp", method="influence").table["se"]).all()
