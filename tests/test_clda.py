"""cLDA, the mean-model term ``clda(ARM, VISIT)`` (trialmlm/engine/clda.py).

Reference values: R mmrm 0.3.18 with the cLDA design built by ``model.matrix(~ AVISIT *
TRT01P)`` without the treatment main-effect columns (tests/reference/make_clda_refs.R ->
clda_refs.json; the unbalanced data set clda_unbalanced.csv is written by the same script):
the depression sample trial's HAMD-17 baseline and analysis records under us, toeph and cs
per arm (GROUP=), and an unbalanced version with missing visits and subjects that have a
baseline only, under us and ar1h.  LS means and change-from-baseline tables are checked in
tests/test_change.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import CLDA_REFS, clda_data, clda_fits

import trialmlm
from trialmlm import DataError, FormulaError
from trialmlm.engine.clda import CldaTerm
from trialmlm.engine.formula import parse_formula

ROOT = Path(__file__).parents[1]
REFS = CLDA_REFS
VISITS, ARMS = REFS["visits"], REFS["arms"]
FORMULA = "AVAL ~ clda(TRT01P, AVISIT) + us(AVISIT | USUBJID)"


def depression():
    return clda_data("dep")


def unbalanced():
    return clda_data("unbalanced")


@pytest.fixture(scope="module")
def fits():
    return clda_fits()


# -- the formula ----------------------------------------------------------------------------
def test_parse_adds_the_visit_term_and_records_the_term():
    f = parse_formula(FORMULA)
    assert f.clda == CldaTerm("TRT01P", "AVISIT")
    assert f.fixed == "AVISIT + clda(TRT01P, AVISIT)"
    g = parse_formula("AVAL ~ AGE + AVISIT + clda(`Trt arm`, AVISIT, baseline='Day 1') + ar1(AVISIT | ID)")
    assert g.clda == CldaTerm("Trt arm", "AVISIT", "Day 1")
    assert g.fixed == "AGE + AVISIT + AVISIT + clda(`Trt arm`, AVISIT, baseline='Day 1')"
    assert parse_formula("CHG ~ TRT01P * AVISIT + us(AVISIT | USUBJID)").clda is None


@pytest.mark.parametrize("formula, message", [
    ("AVAL ~ clda(TRT01P) + us(AVISIT | USUBJID)", "write clda(ARM, VISIT)"),
    ("AVAL ~ clda(TRT01P, AVISIT, Baseline) + us(AVISIT | USUBJID)", "a quoted visit label"),
    ("AVAL ~ clda(TRT01P, AVISIT, ref='Baseline') + us(AVISIT | USUBJID)", "a quoted visit label"),
    ("AVAL ~ clda(TRT01P, AVISIT) + clda(SEX, AVISIT) + us(AVISIT | USUBJID)", "2 clda() terms"),
    ("AVAL ~ TRT01P + clda(TRT01P, AVISIT) + us(AVISIT | USUBJID)", "'TRT01P' uses the arm 'TRT01P'"),
    ("AVAL ~ clda(TRT01P, AVISIT) + TRT01P:AVISIT + us(AVISIT | USUBJID)", "drop 'TRT01P:AVISIT'"),
])
def test_malformed_terms(formula, message):
    with pytest.raises(FormulaError, match=re.escape(message)):
        parse_formula(formula)


def test_bad_data_is_named():
    d = depression()
    with pytest.raises(DataError, match="baseline 'Screening' is not a level of 'AVISIT'"):
        trialmlm.fit("AVAL ~ clda(TRT01P, AVISIT, baseline='Screening') + us(AVISIT | USUBJID)", d)
    with pytest.raises(DataError, match="the arm 'TRTN' must be a factor"):
        trialmlm.fit(FORMULA.replace("TRT01P", "TRTN"), d.assign(TRTN=d["TRT01P"].cat.codes.astype(float)))
    with pytest.raises(DataError, match="has one level"):
        trialmlm.fit(FORMULA, d[d["TRT01P"] == "Placebo"])


def test_design_columns_are_zero_at_baseline(fits):
    fit = fits["dep_us"]
    assert fit.spec.clda == CldaTerm("TRT01P", "AVISIT")
    assert fit.coef_names == (["Intercept"] + [f"AVISIT[T.{v}]" for v in VISITS[1:]]
                              + [f"TRT01P[T.{a}]:AVISIT[{v}]" for a in ARMS[1:] for v in VISITS[1:]])
    assert fit.aliased == ()
    x = fit.design.X
    at_baseline = fit.design.position == 0
    assert not x[at_baseline][:, 6:].any()
    treated = np.asarray(fit.design.fixed_frame["TRT01P"] != "Placebo")
    assert (x[~at_baseline & treated][:, 6:].sum(axis=1) == 1).all()


def test_named_baseline_gives_the_same_fit(fits):
    named = "AVAL ~ clda(TRT01P, AVISIT, baseline='Baseline') + us(AVISIT | USUBJID)"
    fit = trialmlm.fit(named, depression())
    assert fit.loglik == pytest.approx(fits["dep_us"].loglik, abs=1e-9)
    np.testing.assert_allclose(fit.coef.to_numpy(), fits["dep_us"].coef.to_numpy(), rtol=1e-10)


def test_reference_arm_is_a_parameterisation(fits):
    """Another reference arm gives the same model: likelihood, LS means, differences."""
    d = depression()
    d["TRT01P"] = d["TRT01P"].cat.reorder_categories(["Drug 20 mg", "Placebo", "Drug 10 mg"])
    fit = trialmlm.fit(FORMULA, d)
    assert fit.loglik == pytest.approx(fits["dep_us"].loglik, abs=1e-8)
    a = fit.lsmeans("TRT01P", by="AVISIT").set_index(["TRT01P", "AVISIT"]).sort_index()
    b = fits["dep_us"].lsmeans("TRT01P", by="AVISIT").set_index(["TRT01P", "AVISIT"]).sort_index()
    np.testing.assert_allclose(a[["estimate", "se"]], b[["estimate", "se"]], rtol=1e-6)


# -- against R mmrm ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(REFS["cases"]))
def test_fit_matches_mmrm(fits, name):
    ref, fit = REFS["cases"][name], fits[name]
    assert fit.converged and ref["converged"]
    assert fit.n_obs == ref["n_obs"] and fit.n_subjects == ref["n_subjects"]
    assert fit.loglik == pytest.approx(ref["reml_loglik"], abs=1e-6)
    np.testing.assert_allclose(fit.coef.to_numpy(), ref["estimate"], rtol=1e-5)
    table = fit.coef_table()
    np.testing.assert_allclose(table["se"], ref["se"], rtol=1e-5)


@pytest.mark.parametrize("name", list(REFS["cases"]))
def test_joint_test_of_the_treatment_matches_mmrm(fits, name):
    """anova(): type 3 of a cLDA model is the joint test; the clda term is every tau = 0."""
    ref, fit = REFS["cases"][name], fits[name]
    for key, ddf in (("satterthwaite", "satterthwaite"), ("kenward_roger", "kenward-roger")):
        if key not in ref:
            continue
        row = fit.anova(ddf=ddf).loc["clda(TRT01P, AVISIT)"]
        assert row["num_df"] == ref[key]["joint"]["num_df"] == 10
        assert row["den_df"] == pytest.approx(ref[key]["joint"]["den_df"], rel=1e-3)
        assert row["F"] == pytest.approx(ref[key]["joint"]["F"], rel=1e-5)
        assert row["p"] == pytest.approx(ref[key]["joint"]["p"], rel=1e-4)
    joint = fit.anova(type="joint")
    np.testing.assert_allclose(fit.anova().to_numpy(), joint.to_numpy(), rtol=1e-12)


def test_ml_loglik_matches_mmrm():
    fit = trialmlm.fit(FORMULA, depression(), method="ML")
    assert fit.loglik == pytest.approx(REFS["cases"]["dep_us"]["ml_loglik"], abs=1e-6)


def test_subjects_with_only_a_baseline_contribute(fits):
    """The ten Placebo subjects of the unbalanced data without a post-baseline value are used
    (cLDA's point): dropping them changes the fit."""
    d = unbalanced()
    counts = d.groupby("USUBJID").size()
    only_baseline = counts.index[counts == 1]
    assert len(only_baseline) == 10
    fit = fits["unbalanced_us"]
    assert fit.n_subjects == d["USUBJID"].nunique() == 250
    without = trialmlm.fit(FORMULA, d[~d["USUBJID"].isin(only_baseline)])
    assert without.n_subjects == 240
    assert abs(without.coef["Intercept"] - fit.coef["Intercept"]) > 1e-3


def test_read_keeps_the_baseline_records():
    """trialmlm.read(keep_baseline=True) keeps the baseline records (ABLFL = Y) although their
    ANL01FL is blank: the records of the reference fit."""
    d = trialmlm.read(ROOT / "sample_data" / "depression_trial.csv", param="HAMD17", keep_baseline=True,
                      arm="TRT01P", arm_order=ARMS)
    assert d["AVISIT"].cat.categories.tolist() == VISITS
    assert len(d) == 1607 and (d.loc[d["AVISIT"] == "Baseline", "ABLFL"] == "Y").sum() == 300
    fit = trialmlm.fit(FORMULA, d)
    assert fit.loglik == pytest.approx(REFS["cases"]["dep_us"]["reml_loglik"], abs=1e-6)


# -- the theorem: every baseline observed and us ---------------------------------------------------
def ancova_data(d: pd.DataFrame) -> pd.DataFrame:
    """The post-baseline rows of ``d`` with BASE (the subject's baseline AVAL) and CHG."""
    base = d[d["AVISIT"] == "Baseline"].set_index("USUBJID")["AVAL"]
    post = d[d["AVISIT"] != "Baseline"].copy()
    post["BASE"] = post["USUBJID"].map(base).astype(float)
    post["CHG"] = post["AVAL"] - post["BASE"]
    post["AVISIT"] = post["AVISIT"].cat.remove_unused_categories()
    return post


def complete_cases() -> pd.DataFrame:
    d = depression()
    counts = d.groupby("USUBJID").size()
    return d[d["USUBJID"].isin(counts.index[counts == len(VISITS)])].copy()


ANCOVA = "CHG ~ BASE * AVISIT + TRT01P * AVISIT + us(AVISIT | USUBJID)"


def gap(d: pd.DataFrame, method: str, ancova: str = ANCOVA) -> tuple[np.ndarray, object, object]:
    """cLDA minus ANCOVA-MMRM differences (arm - Placebo per post-baseline visit), and both fits."""
    clda = trialmlm.fit(FORMULA, d, method=method)
    other = trialmlm.fit(ancova, ancova_data(d), method=method)
    a, b = clda.compare("TRT01P", by="AVISIT"), other.compare("TRT01P", by="AVISIT")
    assert a[["AVISIT", "TRT01P"]].astype(str).equals(b[["AVISIT", "TRT01P"]].astype(str))
    return a["estimate"].to_numpy() - b["estimate"].to_numpy(), clda, other


@pytest.mark.parametrize("data", ["dep", "unbalanced", "complete"])
def test_ml_equals_ancova_mmrm_when_every_baseline_is_observed(data):
    """Every baseline observed, us, ML: the cLDA difference at each visit equals the ANCOVA-type
    MMRM's with visit-specific baseline slopes, also with missing post-baseline values
    (engine/clda.py, theorem); B_k = sigma_k0 / sigma_00 is the ANCOVA's slope of AVAL on BASE."""
    d = complete_cases() if data == "complete" else clda_data(data)
    assert d.loc[d["AVISIT"] == "Baseline", "USUBJID"].nunique() == d["USUBJID"].nunique()
    diff, clda, ancova = gap(d, "ML")
    np.testing.assert_allclose(diff, 0.0, atol=1e-8)
    sigma = clda.covariance_matrix().to_numpy()
    slopes = ancova.coef["BASE"] + np.r_[0.0, ancova.coef.filter(like="BASE:AVISIT").to_numpy()]
    np.testing.assert_allclose(sigma[1:, 0] / sigma[0, 0], 1.0 + slopes, atol=1e-6)


def test_reml_equals_ancova_mmrm_with_complete_data():
    """By REML the equality holds with complete data (215 subjects with all six visits); the
    model-based SEs differ (cLDA holds B_k in the covariance, the ANCOVA estimates it)."""
    d = complete_cases()
    assert d["USUBJID"].nunique() == 215
    diff, clda, ancova = gap(d, "REML")
    np.testing.assert_allclose(diff, 0.0, atol=1e-8)
    se = [f.compare("TRT01P", by="AVISIT")["se"].to_numpy() for f in (clda, ancova)]
    ratio = se[0] / se[1]
    assert ((ratio > 0.99) & (ratio < 0.997)).all()


def test_what_does_not_hold():
    """REML with missing post-baseline values: equal to about 1e-5 only; missing baselines, other
    structures, one common baseline slope: different estimates."""
    assert 1e-6 < np.abs(gap(clda_data("dep"), "REML")[0]).max() < 1e-4
    d = clda_data("dep")
    missing = d["USUBJID"].isin(d["USUBJID"].unique()[::7]) & (d["AVISIT"] == "Baseline")
    assert np.abs(gap(d[~missing], "ML")[0]).max() > 0.1  # the ANCOVA drops those subjects
    common_slope = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
    assert np.abs(gap(complete_cases(), "REML", common_slope)[0]).max() > 0.01
