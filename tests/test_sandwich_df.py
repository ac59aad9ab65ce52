"""Degrees of freedom against SAS PROC MIXED listings (between-within) and R mmrm /
clubSandwich (Satterthwaite df with a sandwich covariance) on mmrm's FEV data.

References: tests/reference/sas_fev_bw_refs.json (SAS listings published in the mmrm
repository) and tests/reference/sandwich_df_refs.json (make_sandwich_df_refs.R).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError

REF = Path(__file__).parent / "reference"
SAS = json.loads((REF / "sas_fev_bw_refs.json").read_text())
MMRM = json.loads((REF / "sandwich_df_refs.json").read_text())["cases"]
VCOV = {"Empirical": "empirical", "Empirical-Bias-Reduced": "empirical-bias-reduced",
        "Empirical-Jackknife": "empirical-jackknife"}


@pytest.fixture(scope="module")
def fev():
    return pd.read_csv(REF / "fev_data.csv")


@pytest.fixture(scope="module")
def mmrm_fits(fev):
    return {s: trialmlm.fit(MMRM[f"mmrm_{s}"]["trialmlm_formula"], fev) for s in ("us", "cs", "ar1")}


def _r_names(fit) -> list[str]:
    """trialmlm's coefficient names in R's spelling (ARMCD[T.TRT] -> ARMCDTRT)."""
    return [n.replace("[T.", "").replace("]", "").replace("Intercept", "(Intercept)") for n in fit.coef_names]


def test_sas_between_within_unstructured(fev):
    """SAS TYPE=UN: every effect, the within-subject AVISIT*ARMCD too, gets the between df."""
    ref = SAS["sas_resid_un"]
    fit = trialmlm.fit("FEV1 ~ RACE + SEX + ARMCD:AVISIT + us(AVISIT | USUBJID)", fev, ddf="between-within")
    assert -2 * fit.loglik == pytest.approx(ref["minus2_reml_loglik"], abs=1e-5)
    anova = fit.anova()
    assert (anova["den_df"] == 193).all()
    for term in ("RACE", "SEX"):
        # SAS stopped 6e-6 short of the REML optimum in -2 log L
        assert anova.loc[term, "F"] == pytest.approx(ref["type3"][term]["F"], rel=1e-3, abs=0.005)
    # with the ARMCD main effect it is a between-subject column: 197 - 5
    full = trialmlm.fit(ref["trialmlm_formula"], fev, ddf="between-within")
    assert (full.anova()["den_df"] == 192).all()


@pytest.mark.parametrize("structure", ["us", "cs", "ar1"])
def test_sas_empirical_between_within(fev, structure):
    """SAS EMPIRICAL (CR0) with its default between-within df: intercept and ARMCD get 195."""
    ref = SAS["empirical"]["structures"][structure]
    fit = trialmlm.fit(SAS["empirical"]["trialmlm_formula"].format(structure), fev, vcov="empirical")
    assert fit.settings.ddf == "between-within"
    table = fit.coef_table()
    assert (table["df"] == 195).all()
    rtol = 1e-4 if structure == "us" else 2e-5  # SAS stops at its own convergence criterion
    np.testing.assert_allclose(fit.empirical_vcov(), ref["covb"], rtol=rtol)
    diff = ref["trt_minus_pbo"]
    assert table.loc["ARMCD[T.TRT]", "estimate"] == pytest.approx(diff["estimate"], rel=rtol)
    assert table.loc["ARMCD[T.TRT]", "se"] == pytest.approx(diff["se"], rel=rtol)
    assert table.loc["Intercept", "estimate"] == pytest.approx(ref["intercept"]["estimate"], abs=1e-3)


@pytest.mark.parametrize("structure", ["us", "cs", "ar1"])
@pytest.mark.parametrize("kind", list(VCOV))
def test_satterthwaite_sandwich_against_mmrm(mmrm_fits, structure, kind):
    """mmrm method = "Satterthwaite" with vcov = "Empirical*": coefficients, differences by
    visit (df_1d) and joint tests (df_md).  mmrm's CR2 standard errors differ from
    clubSandwich's by up to 2e-4 (trialmlm follows clubSandwich to 1e-7, below); its CR2 df
    agree to 5e-5."""
    ref = MMRM[f"mmrm_{structure}"][kind]
    fit = mmrm_fits[structure]
    assert _r_names(fit) == ref["coef_names"]
    assert fit.loglik == pytest.approx(ref["reml_loglik"], abs=1e-6)
    vcov = VCOV[kind]
    table = fit.coef_table(ddf="satterthwaite", vcov=vcov)
    np.testing.assert_allclose(table["estimate"], ref["estimate"], rtol=1e-5, atol=1e-5 * table["se"].min())
    se_rtol = 5e-4 if kind == "Empirical-Bias-Reduced" else 1e-5
    np.testing.assert_allclose(table["se"], ref["se"], rtol=se_rtol)
    np.testing.assert_allclose(table["df"], ref["df"], rtol=1e-3)
    diffs = fit.contrast(np.array(ref["diffs_L"]), ddf="satterthwaite", vcov=vcov)
    np.testing.assert_allclose(diffs["se"], ref["diffs"]["se"], rtol=se_rtol)
    np.testing.assert_allclose(diffs["df"], ref["diffs"]["df"], rtol=1e-3)
    for name, joint in ref["joint"].items():
        test = fit.contrast(np.array(joint["L"]), ddf="satterthwaite", vcov=vcov, joint=True).iloc[0]
        assert test["num_df"] == joint["num_df"]
        assert test["F"] == pytest.approx(joint["f_stat"], rel=se_rtol)
        if name == "interaction":  # orthonormal rows; see docs/validation.md for other bases
            assert test["den_df"] == pytest.approx(joint["denom_df"], rel=1e-3)


@pytest.mark.parametrize("structure", ["cs", "ar1"])
def test_between_within_against_mmrm(mmrm_fits, structure):
    """mmrm's between-within df, except the intercept: between-subject in SAS (195 above),
    within-subject in mmrm.  (Under us SAS gives every effect the between df; mmrm does not.)"""
    ref = MMRM[f"mmrm_{structure}"]["Between-Within"]
    fit = mmrm_fits[structure]
    table = fit.coef_table(ddf="between-within")
    np.testing.assert_array_equal(table["df"].iloc[1:], ref["df"][1:])
    between = table.loc["ARMCD[T.TRT]", "df"]
    assert table.loc["Intercept", "df"] == between and ref["df"][0] > between
    anova = fit.anova(ddf="between-within")
    assert anova.loc["ARMCD:AVISIT", "den_df"] == ref["joint"]["interaction"]["denom_df"]


def test_satterthwaite_cr2_against_clubsandwich(mmrm_fits):
    """clubSandwich coef_test(vcovCR(gls, type = "CR2"/"CR0"), test = "Satterthwaite")."""
    ref = MMRM["club_cs"]
    fit = mmrm_fits["cs"]
    for kind, vcov in (("CR2", "empirical-bias-reduced"), ("CR0", "empirical")):
        table = fit.coef_table(ddf="satterthwaite", vcov=vcov)
        np.testing.assert_allclose(table["se"], ref[kind]["se"], rtol=1e-5)
        np.testing.assert_allclose(table["df"], ref[kind]["df"], rtol=1e-3)


def test_satterthwaite_sandwich_is_the_fit_default(fev):
    """fit(ddf="satterthwaite", vcov="empirical") keeps both; Kenward-Roger with a sandwich
    is refused at fit time."""
    formula = "FEV1 ~ ARMCD * AVISIT + cs(AVISIT | USUBJID)"
    fit = trialmlm.fit(formula, fev, ddf="satterthwaite", vcov="empirical")
    assert (fit.settings.ddf, fit.settings.vcov) == ("satterthwaite", "empirical")
    pd.testing.assert_frame_equal(fit.compare("ARMCD", by="AVISIT"),
                                  fit.compare("ARMCD", by="AVISIT", ddf="satterthwaite", vcov="empirical"))
    assert (fit.compare("ARMCD", by="AVISIT")["df"] != 195).all()
    for ddf in ("kenward-roger", "kenward-roger-linear"):
        with pytest.raises(DataError, match=f"ddf='{ddf}' adjusts the model-based covariance"):
            trialmlm.fit(formula, fev, ddf=ddf, vcov="empirical-bias-reduced")
