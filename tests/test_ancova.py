"""The linear model (ANCOVA) and pairwise comparisons against R
(tests/reference/make_ancova_refs.R -> ancova_refs.json).

* ancova.csv, one row per subject: ``lm`` + nlme ``gls`` (log-likelihoods) + emmeans 1.8.4
  (LS means with equal and proportional weights, differences from Placebo, ``pairs()``
  with adjust none / tukey / bonferroni / holm), ``car::Anova(type = 3)`` with
  ``contr.sum`` (SAS type III) and ``sandwich::vcovHC`` HC0 / HC2 / HC3.  Estimates, SEs
  and p-values at 1e-6 relative, df exact (n - rank X), log-likelihoods at 1e-6 absolute.
* trial3.csv, random intercept (SAS TYPE=CS): emmeans ``pairs()`` with lmerTest
  Satterthwaite and pbkrtest Kenward-Roger df; df at 1e-3 relative as elsewhere, and so
  the p-values and limits that depend on them at 1e-3.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import with_expected_information

import trialmlm
from trialmlm.errors import DataError
from trialmlm.inference.methods import DDF_METHODS

REFERENCE = Path(__file__).parent / "reference"
REF = json.loads((REFERENCE / "ancova_refs.json").read_text())
LINEAR = {case["name"]: case for case in REF["linear"]}
COLUMNS = ["estimate", "se", "df", "t", "p", "lower", "upper"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / REF["data"])


@pytest.fixture(scope="module")
def fits(data):
    return {name: trialmlm.fit(case["formula"], data) for name, case in LINEAR.items()}


def _check(ours: pd.DataFrame, ref: list, keys: list[str], rtol: float = 1e-6, rtol_df: float = 1e-9,
           adjust: str | None = None):
    """Rows of ``ours`` against the R table ``ref`` (same rows, same order) on ``keys`` and
    the numeric columns both have; df (and what depends on them) at ``rtol_df``.  Holm has
    no simultaneous intervals: trialmlm keeps the unadjusted limits where emmeans prints
    Bonferroni limits, so only the Holm p-values are compared."""
    ref = pd.DataFrame(ref)
    if adjust == "holm":
        ref = ref.drop(columns=["lower", "upper"])
    assert len(ours) == len(ref) > 0
    for key in keys:
        assert ours[key].astype(str).tolist() == ref[key].astype(str).tolist(), key
    for col in [c for c in COLUMNS if c in ref.columns]:
        tol = rtol if col in ("estimate", "se", "t") else max(rtol, rtol_df)
        scale = np.maximum(np.abs(ref[col].to_numpy(float)), ref["se"].to_numpy(float))
        gap = np.abs(ours[col].to_numpy(float) - ref[col].to_numpy(float))
        assert np.all(gap <= tol * scale), (col, gap / scale)


# -- the linear model ------------------------------------------------------------------


def test_linear_model_settings_and_data(fits):
    fit, case = fits["main"], LINEAR["main"]
    s = fit.settings
    assert s.linear and s.subject is None and s.visit == () and s.group is None and s.random is None
    assert s.structure == "independent" and s.ddf == "residual" and s.vcov == "model"
    assert (fit.n_obs, fit.n_obs_dropped) == (case["n_used"], case["n_dropped"])
    assert fit.design.dropped_by_column == {"BASE": 1, "CHG": 6}
    assert fit.n_covariance_parameters == 1 and fit.covariance_parameter_names == ["Residual"]
    assert fit.design.encoding.levels["TRTP"] == REF["arms"]


@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_model_coefficients_and_variance(fits, name):
    fit, case = fits[name], LINEAR[name]
    ref = pd.DataFrame(case["coef"])
    assert len(fit.coef_names) == len(ref)  # same treatment coding and column order as lm
    table = fit.coef_table()
    np.testing.assert_allclose(table["estimate"], ref["estimate"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=1e-6)
    np.testing.assert_allclose(table["p"], ref["p"], rtol=1e-6)
    assert (table["df"] == case["df_residual"]).all() and fit.df_residual == case["df_residual"]
    assert fit.residual_variance == pytest.approx(case["sigma2"], rel=1e-8)
    assert fit.covariance_parameters["Residual"] == pytest.approx(case["sigma2"], rel=1e-8)


@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_model_likelihood_and_criteria(fits, data, name):
    case = LINEAR[name]
    fit = fits[name]
    assert fit.loglik == pytest.approx(case["loglik_reml"], abs=1e-6)
    for key in ("aic", "aicc", "bic"):
        assert getattr(fit, key) == pytest.approx(case["criteria_reml"][key], abs=1e-6), key
    ml = trialmlm.fit(case["formula"], data, method="ML")
    assert ml.loglik == pytest.approx(case["loglik_ml"], abs=1e-6)
    for key in ("aic", "aicc", "bic"):
        assert getattr(ml, key) == pytest.approx(case["criteria_ml"][key], abs=1e-6), key
    # ML: sigma^2 = RSS/n, so the SEs are those of REML times sqrt((n - p)/n)
    shrink = np.sqrt(fit.df_residual / fit.n_obs)
    np.testing.assert_allclose(ml.coef_table()["se"], fit.coef_table()["se"] * shrink, rtol=1e-7)


def test_linear_model_lsmeans_and_differences(fits):
    fit, case = fits["main"], LINEAR["main"]
    _check(fit.lsmeans("TRTP"), case["lsmeans"], ["TRTP"])
    _check(fit.lsmeans("TRTP", weights="proportional"), case["lsmeans_om"], ["TRTP"])
    diffs = fit.compare("TRTP", reference="Placebo")
    _check(diffs, [{**r, "contrast": r["contrast"]} for r in case["diffs"]], ["contrast"])


def test_linear_model_lsmeans_by(fits):
    fit, case = fits["interaction"], LINEAR["interaction"]
    _check(fit.lsmeans("TRTP", by="SITEGR1").sort_values(["SITEGR1", "TRTP"], ignore_index=True),
           pd.DataFrame(case["lsmeans"]).sort_values(["SITEGR1", "TRTP"], ignore_index=True),
           ["TRTP", "SITEGR1"])
    _check(fit.lsmeans("TRTP", by="SITEGR1", weights="proportional")
           .sort_values(["SITEGR1", "TRTP"], ignore_index=True),
           pd.DataFrame(case["lsmeans_om"]).sort_values(["SITEGR1", "TRTP"], ignore_index=True),
           ["TRTP", "SITEGR1"])


@pytest.mark.parametrize("adjust", [None, "tukey", "bonferroni", "holm"])
def test_linear_model_pairs(fits, adjust):
    fit, case = fits["main"], LINEAR["main"]
    _check(fit.compare("TRTP", pairwise=True, adjust=adjust), case["pairs"][adjust or "none"], ["contrast"],
           adjust=adjust)


@pytest.mark.parametrize("adjust", [None, "tukey", "bonferroni", "holm"])
def test_linear_model_pairs_by_site(fits, adjust):
    """One family per site: Tukey with k = 3 means, Bonferroni/Holm over 3 contrasts."""
    fit, case = fits["interaction"], LINEAR["interaction"]
    ours = fit.compare("TRTP", by="SITEGR1", pairwise=True, adjust=adjust)
    assert list(ours.columns[:3]) == ["SITEGR1", "TRTP", "contrast"]
    _check(ours, case["pairs"][adjust or "none"], ["contrast", "SITEGR1"], adjust=adjust)


@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_model_type3(fits, name):
    """SAS type III = car::Anova(type = 3) with sum-to-zero contrasts."""
    ours = fits[name].anova()
    ref = pd.DataFrame(LINEAR[name]["type3"]).set_index("term")
    assert sorted(ours.index) == sorted(ref.index)
    ours = ours.loc[ref.index]
    np.testing.assert_array_equal(ours["num_df"], ref["num_df"])
    np.testing.assert_allclose(ours["den_df"], ref["den_df"], rtol=1e-9)
    np.testing.assert_allclose(ours["F"], ref["F"], rtol=1e-6)
    np.testing.assert_allclose(ours["p"], ref["p"], rtol=1e-6)


@pytest.mark.parametrize("ddf", DDF_METHODS)
def test_every_ddf_method_is_the_residual_df(fits, ddf):
    """Satterthwaite and Kenward-Roger equal n - rank(X) for sigma^2 I (at the REML estimate),
    containment and between-within by definition; Kenward-Roger leaves Cov(beta) unchanged."""
    fit, case = fits["interaction"], LINEAR["interaction"]
    df = case["df_residual"]
    np.testing.assert_allclose(fit.lsmeans("TRTP", by="SITEGR1", ddf=ddf)["df"], df, rtol=1e-9)
    np.testing.assert_allclose(fit.compare("TRTP", pairwise=True, ddf=ddf)["df"], df, rtol=1e-9)
    np.testing.assert_allclose(fit.anova(ddf=ddf)["den_df"], df, rtol=1e-9)
    np.testing.assert_allclose(fit.coef_table(ddf=ddf)["se"], fit.coef_table()["se"], rtol=1e-9)


@pytest.mark.parametrize("kind, vcov", [("HC0", "empirical"), ("HC2", "empirical-bias-reduced"),
                                        ("HC3", "empirical-jackknife")])
def test_linear_model_sandwich(fits, kind, vcov):
    """CR0/CR2/CR3 with every row its own cluster = HC0/HC2/HC3 (sandwich::vcovHC)."""
    fit, ref = fits["main"], LINEAR["main"]["sandwich"][kind]
    np.testing.assert_allclose(fit.empirical_vcov(vcov), np.array(ref["vcov"]), rtol=1e-6, atol=1e-12)
    table = fit.coef_table(vcov=vcov)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=1e-6)
    assert (table["df"] == fit.df_residual).all()


def test_linear_model_summary(fits):
    text = fits["main"].summary()
    assert text.startswith("trialmlm linear model fit: CHG ~ TRTP + SITEGR1 + BASE")
    assert "Diagonal (independent rows, one variance: linear model)" in text
    assert "Residual DF" in text and "Subject Effect" not in text
    assert "Rows dropped for missing values, by column: CHG: 6, BASE: 1" in text


def test_linear_model_ignores_subject_column(data):
    """No subject in the formula: repeated subject IDs do not matter to the linear model."""
    twice = data.assign(USUBJID="same")
    fit = trialmlm.fit("CHG ~ TRTP + SITEGR1 + BASE", twice)
    assert fit.loglik == pytest.approx(LINEAR["main"]["loglik_reml"], abs=1e-6)


# -- pairwise: argument errors ----------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(pairwise=True, reference="Placebo"), "pairwise=True compares every pair"),
    (dict(pairwise=True, adjust="dunnett"), "for all pairs .* use adjust='tukey'"),
    (dict(adjust="tukey"), "pass pairwise=True"),
    (dict(pairwise=True, adjust="scheffe"), "adjust must be one of"),
])
def test_pairwise_argument_errors(fits, kwargs, message):
    with pytest.raises(DataError, match=message):
        fits["main"].compare("TRTP", **kwargs)


# -- pairwise on an MMRM (random intercept = SAS TYPE=CS) -----------------------------


@pytest.fixture(scope="module")
def mmrm():
    d = pd.read_csv(REFERENCE / REF["mmrm_pairs"]["data"])
    d["TRT"] = pd.Categorical(d["TRT"], categories=["PBO", "LOW", "HIGH"])
    fit = trialmlm.fit(REF["mmrm_pairs"]["formula"], d)
    assert fit.loglik == pytest.approx(REF["mmrm_pairs"]["loglik"], abs=1e-6)
    return fit


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
@pytest.mark.parametrize("adjust", [None, "tukey", "bonferroni", "holm"])
def test_mmrm_pairs(mmrm, ddf, adjust):
    """pbkrtest's Kenward-Roger uses the expected information (see helpers.py)."""
    fit = with_expected_information(mmrm) if ddf == "kenward-roger" else mmrm
    tables = REF["mmrm_pairs"]["tables"][ddf]
    key = adjust or "none"
    _check(fit.compare("TRT", by="AVISIT", pairwise=True, ddf=ddf, adjust=adjust), tables["by_visit"][key],
           ["contrast", "AVISIT"], rtol=1e-5, rtol_df=1e-3, adjust=adjust)
    _check(fit.compare("TRT", pairwise=True, ddf=ddf, adjust=adjust), tables["overall"][key], ["contrast"],
           rtol=1e-5, rtol_df=1e-3, adjust=adjust)
