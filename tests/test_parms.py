"""Starting and held covariance parameters: fit(..., start=, fixed=, noiter=) (SAS PARMS,
HOLD=, NOITER).

References: the SAS PROC MIXED listings of the R mmrm repository on the FEV data
(tests/reference/sas_parms_refs.json, with the SAS statements and file names), evaluated
with ``noiter`` at the printed covariance parameters; nlme::gls with a fixed AR(1)
correlation (tests/reference/make_parms_refs.R -> parms_refs.json).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import trialmlm
from trialmlm import DataError

REFERENCE = Path(__file__).parent / "reference"
SAS = json.loads((REFERENCE / "sas_parms_refs.json").read_text())
NLME = json.loads((REFERENCE / "parms_refs.json").read_text())
PRINTED = 5.5e-5  # half a unit of the 4th decimal printed by SAS, plus 5e-6 for the rounded inputs


@pytest.fixture(scope="module")
def fev() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "fev_data.csv")


def _us_start(case: dict) -> dict:
    """SAS's UN(i,j) indexes the visits in its class order (the reference VIS1 last);
    trialmlm's in sorted order."""
    order = case["sas_visit_order"]
    ours = sorted(order)
    out = {}
    for a in range(4):
        for b in range(a + 1):
            i, j = sorted((order.index(ours[a]) + 1, order.index(ours[b]) + 1), reverse=True)
            out[f"UN({a + 1},{b + 1})"] = case["covariance_parameters"][f"UN({i},{j})"]
    return out


@pytest.fixture(scope="module")
def sas_us(fev):
    case = SAS["us_reml"]
    return trialmlm.fit(case["formula"], fev, start=_us_start(case), noiter=True)


def test_noiter_reproduces_sas_us_listing(sas_us):
    case = SAS["us_reml"]
    assert sas_us.n_iter == 0 and sas_us.settings.noiter
    assert -2 * sas_us.loglik == pytest.approx(case["m2_reml_loglik"], abs=1e-6)
    table = sas_us.coef_table()
    for name, est, se, df in case["solution"]:
        sign = -1.0 if name == "SEX Female" else 1.0
        row = table.loc["SEX[T.Male]" if name == "SEX Female" else name]
        assert sign * row["estimate"] == pytest.approx(est, abs=PRINTED)
        assert row["se"] == pytest.approx(se, abs=PRINTED)
        assert abs(row["df"] - df) <= 0.5 + 1e-3  # SAS prints df rounded
    anova = sas_us.anova()
    for term, num, den, f in case["type3"]:
        assert anova.loc[term, "num_df"] == num
        assert abs(anova.loc[term, "den_df"] - den) <= 0.5 + 1e-3
        assert anova.loc[term, "F"] == pytest.approx(f, abs=5e-3)


def test_noiter_reproduces_sas_us_lsmeans(sas_us):
    case = SAS["us_reml"]
    means = sas_us.lsmeans(["AVISIT", "ARMCD"]).set_index(["AVISIT", "ARMCD"])
    for visit, arm, est, se, df in case["lsmeans"]:
        assert means.loc[(visit, arm), "estimate"] == pytest.approx(est, abs=PRINTED)
        assert means.loc[(visit, arm), "se"] == pytest.approx(se, abs=PRINTED)
        assert abs(means.loc[(visit, arm), "df"] - df) <= 0.5 + 1e-3
    diffs = sas_us.compare("ARMCD", by="AVISIT").set_index("AVISIT")
    for visit, est, se, df in case["differences"]:
        assert diffs.loc[visit, "estimate"] == pytest.approx(est, abs=PRINTED)
        assert diffs.loc[visit, "se"] == pytest.approx(se, abs=PRINTED)
        assert abs(diffs.loc[visit, "df"] - df) <= 0.5 + 1e-3


def test_noiter_reproduces_sas_ar1_listing(fev):
    case = SAS["ar1_reml"]
    fit = trialmlm.fit(case["formula"], fev, start=case["covariance_parameters"], noiter=True)
    assert -2 * fit.loglik == pytest.approx(case["m2_reml_loglik"], abs=1e-6)
    (name, est, se, df), = case["solution"]
    row = fit.coef_table().loc[name]
    assert row["estimate"] == pytest.approx(est, abs=PRINTED)
    assert row["se"] == pytest.approx(se, abs=PRINTED)
    assert abs(row["df"] - df) <= 0.5 + 1e-3


def test_held_correlation_gives_sas_null_model(fev):
    """AR(1) held at 0, the residual variance estimated: SAS's iteration 0, whose REML
    variance is the sample variance of FEV1 (intercept-only model)."""
    case = SAS["ar1_reml"]
    fit = trialmlm.fit(case["formula"], fev, fixed={"AR(1)": 0.0})
    assert fit.converged
    assert -2 * fit.loglik == pytest.approx(case["m2_reml_loglik_start"], abs=1e-6)
    assert fit.covariance_parameters["Residual"] == pytest.approx(fev["FEV1"].var(), rel=1e-8)
    assert fit.covariance_parameters["AR(1)"] == 0.0


def test_held_correlation_against_nlme(fev):
    ref = NLME["held_ar1"]
    fit = trialmlm.fit(ref["formula"], fev, fixed=ref["held"])
    assert fit.converged
    assert -2 * fit.loglik == pytest.approx(ref["m2_reml_loglik"], abs=1e-6)
    assert fit.covariance_parameters["Residual"] == pytest.approx(ref["residual"], rel=1e-5)
    assert fit.covariance_parameters["AR(1)"] == ref["held"]["AR(1)"]
    table = fit.coef_table()
    for r_name, est in ref["coef"].items():
        name = {"(Intercept)": "Intercept"}.get(r_name, r_name)
        for var, level in (("RACE", "Black or African American"), ("RACE", "White"), ("SEX", "Male"),
                           ("ARMCD", "TRT"), ("AVISIT", "VIS2"), ("AVISIT", "VIS3"), ("AVISIT", "VIS4")):
            name = name.replace(f"{var}{level}", f"{var}[T.{level}]")
        assert table.loc[name, "estimate"] == pytest.approx(est, rel=1e-5)
        assert table.loc[name, "se"] == pytest.approx(ref["se"][r_name], rel=1e-5)
    # with only the residual variance free, Cov(beta) = sigma^2 (X'R^-1X)^-1 and
    # Var(sigma^2) = 2 sigma^4 / (n - p): Satterthwaite gives exactly n - p
    assert table["df"].to_numpy() == pytest.approx(ref["n_obs"] - len(ref["coef"]), rel=1e-6)
    # held parameters are constrained, not estimated: no SE, not counted in AIC
    cov = fit.covariance_parameters_table()
    assert np.isnan(cov.loc["AR(1)", "se"]) and np.isfinite(cov.loc["Residual", "se"])
    assert np.all(fit.covariance_parameters_vcov.loc["AR(1)"] == 0.0)
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * 1)


def test_start_changes_nothing_at_the_optimum(fev):
    formula = SAS["us_reml"]["formula"]
    plain = trialmlm.fit(formula, fev)
    names = plain.covariance_parameter_names
    partial = trialmlm.fit(formula, fev, start={"UN(1,1)": 10.0, "UN(2,1)": 0.0, "UN(4,4)": 300.0})
    full = trialmlm.fit(formula, fev, start=list(np.diag(np.full(4, 50.0))[np.tril_indices(4)]))
    for other in (partial, full):
        assert other.converged and other.covariance_parameter_names == names
        assert other.loglik == pytest.approx(plain.loglik, abs=1e-8)
        np.testing.assert_allclose(other.phi, plain.phi, rtol=1e-6)
        np.testing.assert_allclose(other.beta, plain.beta, rtol=1e-8, atol=1e-8)
    assert partial.settings.start == (("UN(1,1)", 10.0), ("UN(2,1)", 0.0), ("UN(4,4)", 300.0))
    assert partial.settings.fixed == () and not partial.settings.noiter


def test_fixed_values_are_held_and_the_others_optimal(fev):
    """Held UN(2,1) = 0 (visits 1 and 2 uncorrelated): the value is kept, the free
    parameters are a stationary point of the likelihood (gradient of the free block zero,
    H_ff positive definite) and the likelihood is below the unconstrained maximum."""
    formula = SAS["us_reml"]["formula"]
    fit = trialmlm.fit(formula, fev, fixed={"UN(2,1)": 0.0}, start={"UN(1,1)": 30.0})
    plain = trialmlm.fit(formula, fev)
    assert fit.converged and fit.covariance_parameters["UN(2,1)"] == 0.0
    free = np.array([n != "UN(2,1)" for n in fit.covariance_parameter_names])
    ev = fit.likelihood.evaluate(fit.phi, 2)
    assert np.max(np.abs(ev.grad[free])) < 1e-5
    np.testing.assert_allclose(fit.phi_cov[np.ix_(free, free)],
                               2 * np.linalg.inv(ev.hess[np.ix_(free, free)]), rtol=1e-8)
    assert fit.loglik < plain.loglik
    assert fit.settings.fixed == (("UN(2,1)", 0.0),)
    text = fit.summary()
    assert "Parameter Search (PARMS)" in text and "held (HOLD=)" in text and "starting value" in text


def test_fixed_per_group_parameter(fev):
    fit = trialmlm.fit("FEV1 ~ ARMCD * AVISIT + ar1(AVISIT | ARMCD / USUBJID)", fev,
                       fixed={"AR(1) ARMCD=TRT": 0.5})
    params = fit.covariance_parameters
    assert params["AR(1) ARMCD=TRT"] == 0.5 and params["AR(1) ARMCD=PBO"] != 0.5
    assert np.isnan(fit.covariance_parameters_table().loc["AR(1) ARMCD=TRT", "se"])


def test_noiter_at_the_estimate_is_the_fit(fev):
    formula = "FEV1 ~ ARMCD * AVISIT + toep(AVISIT | USUBJID)"
    fit = trialmlm.fit(formula, fev)
    again = trialmlm.fit(formula, fev, start=dict(fit.covariance_parameters), noiter=True)
    assert again.loglik == pytest.approx(fit.loglik, abs=1e-9)
    np.testing.assert_allclose(again.beta, fit.beta, rtol=1e-10)
    np.testing.assert_allclose(again.phi_cov, fit.phi_cov, rtol=1e-6)
    pd.testing.assert_frame_equal(again.coef_table(), fit.coef_table(), rtol=1e-6)
    assert "used as given (NOITER)" in again.summary()


def test_every_parameter_held_is_known_covariance(fev):
    """fixed='all' (SAS HOLD= on every parameter): no parameter is estimated, so every df
    method gives infinite df (z and chi-square tests) and AIC counts no covariance parameter."""
    formula = "FEV1 ~ ARMCD * AVISIT + ar1(AVISIT | USUBJID)"
    fit = trialmlm.fit(formula, fev, start=[0.4272, 88.9866], fixed="all")
    assert fit.n_iter == 0 and np.all(fit.phi_cov == 0.0)
    assert fit.aic == pytest.approx(-2 * fit.loglik)
    for ddf in ("satterthwaite", "kenward-roger"):
        row = fit.coef_table(ddf=ddf).loc["ARMCD[T.TRT]"]
        assert np.isinf(row["df"])
        assert row["p"] == pytest.approx(2 * stats.norm.sf(abs(row["t"])), rel=1e-10)
        test = fit.anova(ddf=ddf).loc["AVISIT"]
        assert np.isinf(test["den_df"])
        assert test["p"] == pytest.approx(stats.chi2.sf(3 * test["F"], 3), rel=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    ({"start": {"AR1": 0.3}}, "'AR1', which is not a covariance parameter of this model; the parameters "
                              "are: AR(1), Residual"),
    ({"start": {"Residual": -1.0}}, "Residual = -1"),
    ({"fixed": {"AR(1)": 1.0}}, "AR(1) = 1"),
    ({"start": {"AR(1)": -1.5}}, "AR(1) = -1.5"),
    ({"start": [0.3]}, "gives 1 values, but the model has 2 covariance parameters: AR(1), Residual"),
    ({"start": {"AR(1)": "high"}}, "start value of 'AR(1)' is 'high', not a number"),
    ({"start": {"AR(1)": np.nan}}, "give a finite number"),
    ({"start": {"AR(1)": 0.3}, "noiter": True}, "missing: Residual"),
    ({"start": {"AR(1)": 0.3}, "fixed": "all"}, "missing: Residual"),
    ({"fixed": "some"}, "or 'all'; got 'some'"),
    ({"start": {"AR(1)": 0.3}, "fixed": {"AR(1)": 0.4}}, "'AR(1)' is given start=0.3 and fixed=0.4"),
    ({"start": {"AR(1)": 0.3}, "covariance": ["ar1", "cs"]}, "fallback list covariance=['ar1', 'cs']"),
])
def test_invalid_parameters_name_the_problem(fev, kwargs, message):
    with pytest.raises(DataError) as err:
        trialmlm.fit("FEV1 ~ ar1(AVISIT | USUBJID)", fev, **kwargs)
    assert message in str(err.value)


def test_non_positive_definite_unstructured_start(fev):
    start = {"UN(1,1)": 1.0, "UN(2,1)": 5.0, "UN(2,2)": 1.0}
    with pytest.raises(DataError, match=r"outside the parameter space: UN\(1,1\) = 1, UN\(2,1\) = 5"):
        trialmlm.fit("FEV1 ~ us(AVISIT | USUBJID)", fev, start=start)


def test_single_structure_covariance_argument_accepts_start(fev):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = trialmlm.fit("FEV1 ~ us(AVISIT | USUBJID)", fev, covariance="ar1", start={"AR(1)": 0.2})
    assert fit.settings.structure == "ar1" and fit.settings.start == (("AR(1)", 0.2),)
