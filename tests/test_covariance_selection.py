"""Pre-specified covariance selection by an information criterion: trialmlm.select_covariance.

References: tests/reference/covariance_selection_refs.json, written by
make_covariance_selection_refs.R (R 4.2.2, mmrm 0.3.18 run to convergence: BFGS, reltol
1e-14) on the FEV data of R mmrm (fev_data.csv: 200 subjects, 3 without FEV1): each
candidate's -2 REML log-likelihood, covariance parameters, AIC, AICc and BIC; and the SAS
PROC MIXED listings of the same data (sas_fev_refs.json: Fit Statistics as printed, one
decimal).  mmrm's AICc uses m = n_obs - n_beta, SAS's n* = n - p under REML (the same);
mmrm's BIC counts the 197 subjects with an observation, SAS's the 200 subjects read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import ConvergenceError, DataError, FormulaError
from trialmlm.errors import SelectionTieError

REFERENCE = Path(__file__).parent / "reference"
REFS = json.loads((REFERENCE / "covariance_selection_refs.json").read_text())["selection"]
SAS = json.loads((REFERENCE / "sas_fev_refs.json").read_text())["listings"]
SAP = ["us", "toeph", "ar1h", "cs"]
#: The SAS listing (sas_fev_refs.json) of each structure's REML fit of FEV1 ~ 1.
SAS_LISTINGS = {"us": "sas_log_simple_reml", "toeph": "sas_toeph_reml", "ar1h": "sas_ar1h_reml",
                "cs": "sas_cs_reml"}


@pytest.fixture(scope="module")
def fev():
    return pd.read_csv(REFERENCE / "fev_data.csv")


@pytest.fixture(scope="module")
def selections(fev):
    """(case, criterion) -> the selection, on the intercept-only and the covariate model."""
    return {(case, criterion): trialmlm.select_covariance(
        f"FEV1 ~ {REFS[case]['mean_model']} + us(AVISIT | USUBJID)", fev, criterion=criterion, candidates=SAP)
        for case in REFS for criterion in ("aic", "aicc", "bic")}


def _mmrm_value(ref: dict, criterion: str, subjects_read: int) -> float:
    """mmrm's criterion on SAS's definition: BIC's log of the subjects read, not of those used."""
    if criterion != "bic":
        return ref[criterion]
    return ref["bic"] + ref["n_theta"] * (np.log(subjects_read) - np.log(ref["n_subjects"]))


@pytest.mark.parametrize("case", ["intercept", "covariates"])
@pytest.mark.parametrize("criterion", ["aic", "aicc", "bic"])
def test_criteria_equal_mmrm(selections, case, criterion):
    fit = selections[case, criterion]
    table = fit.covariance_attempts_table().set_index("structure")
    assert list(table.index) == SAP and table["criterion"].eq(criterion).all()
    for structure, ref in REFS[case]["fits"].items():
        row = table.loc[structure]
        np.testing.assert_allclose(row["minus2_loglik"], ref["minus2_loglik"], rtol=0, atol=1e-6)
        assert row["n_parameters"] == ref["n_theta"]
        np.testing.assert_allclose(row["value"], _mmrm_value(ref, criterion, 200), rtol=0, atol=1e-6)
    if criterion != "bic":  # AIC and AICc: exactly mmrm's numbers (no subject count involved)
        np.testing.assert_allclose(table["value"], [REFS[case]["fits"][s][criterion] for s in SAP],
                                   rtol=0, atol=1e-6)
    r_values = {s: _mmrm_value(ref, criterion, 200) for s, ref in REFS[case]["fits"].items()}
    assert fit.settings.structure == min(r_values, key=r_values.get)
    assert table["used"].tolist() == [s == fit.settings.structure for s in SAP]


@pytest.mark.parametrize("criterion", ["aic", "aicc", "bic"])
def test_criteria_are_sas_fit_statistics(selections, criterion):
    """FEV1 ~ 1: each candidate's criterion is SAS's printed Fit Statistic (1 decimal) and
    -2 Res Log Likelihood its final iteration's; SAS's smallest is the structure chosen."""
    table = selections["intercept", criterion].covariance_attempts_table().set_index("structure")
    listings = {Path(x["listing"]).stem: x for x in SAS}
    printed = {s: listings[name] for s, name in SAS_LISTINGS.items()}
    for structure, sas in printed.items():
        assert abs(table.loc[structure, "value"] - sas[criterion]) <= 0.05 + 1e-9
        np.testing.assert_allclose(table.loc[structure, "minus2_loglik"], sas["m2ll_final"], atol=2e-5)
    assert selections["intercept", criterion].settings.structure == min(
        printed, key=lambda s: printed[s][criterion])


def test_values_are_the_fits_own_fit_statistics(fev, selections):
    """The criterion of each candidate is the fit statistic of that structure's plain fit,
    and the fit returned is that fit, bit for bit (as the fallback's)."""
    fit = selections["covariates", "bic"]
    formula = f"FEV1 ~ {REFS['covariates']['mean_model']} + us(AVISIT | USUBJID)"
    for attempt in fit.covariance_attempts:
        alone = trialmlm.fit(formula, fev, covariance=attempt.structure)
        assert attempt.value == alone.bic and attempt.minus2_loglik == -2 * alone.loglik
        assert attempt.n_parameters == alone.n_ic_parameters == alone.n_covariance_parameters
        if attempt.used:
            assert np.array_equal(fit.beta, alone.beta) and np.array_equal(fit.phi, alone.phi)
            assert fit.settings == alone.settings and fit.loglik == alone.loglik
    text = fit.summary()
    assert "Covariance Structure Selection (BIC, smallest chosen)" in text
    assert f"{fit.settings.structure}  BIC" in text.replace("   ", "  ")


def test_unusable_candidates_are_listed_never_chosen():
    """5 subjects over 5 visits (fallback_few_subjects.csv): us cannot be fitted, toeph does not
    converge; both are listed without a criterion value, and the choice is among ar1h and cs."""
    ref = json.loads((REFERENCE / "fallback_refs.json").read_text())["few_subjects"]
    data = pd.read_csv(REFERENCE / ref["file"])
    fit = trialmlm.select_covariance(f"{ref['model']} + us(AVISIT | USUBJID)", data, "aicc", SAP)
    table = fit.covariance_attempts_table().set_index("structure")
    for failed in ("us", "toeph"):
        assert table.loc[failed, "reason"] and not table.loc[failed, "used"]
        assert pd.isna(table.loc[failed, "value"]) and pd.isna(table.loc[failed, "minus2_loglik"])
    usable = table.loc[["ar1h", "cs"], "value"]
    assert fit.settings.structure == usable.idxmin() and table.loc[usable.idxmin(), "used"]


def test_none_usable_raises_convergence_error_naming_each():
    ref = json.loads((REFERENCE / "fallback_refs.json").read_text())["exact"]
    data = pd.read_csv(REFERENCE / ref["file"])
    formula = f"{ref['model']} + us(AVISIT | USUBJID)"
    with pytest.raises(ConvergenceError) as info:
        trialmlm.select_covariance(formula, data, "aic", SAP)
    assert [a.structure for a in info.value.attempts] == SAP
    assert not any(a.used for a in info.value.attempts)
    for attempt in info.value.attempts:
        assert f"  {attempt.structure}: {attempt.reason}" in str(info.value)


def test_tie_is_an_error_naming_the_structures(fev):
    """Two visits: us and toeph are the same model (two variances and a correlation)."""
    two = fev.loc[fev["AVISIT"].isin(["VIS1", "VIS2"])]
    with pytest.raises(SelectionTieError, match="AICC is a tie: us and toeph have AICC") as info:
        trialmlm.select_covariance("FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)", two, "aicc",
                                   ["us", "toeph", "cs"])
    values = {a.structure: a.value for a in info.value.attempts}
    assert abs(values["us"] - values["toeph"]) <= 1e-6 and values["cs"] > values["us"]
    assert isinstance(info.value, trialmlm.TrialMLMError)


@pytest.mark.parametrize("criterion, candidates, error, match", [
    ("aiic", SAP, DataError, "criterion must be one of aic, aicc, bic, got 'aiic'"),
    ("aic", ["us"], FormulaError, "needs two or more candidate structures, got us"),
    ("aic", ["us", "us"], FormulaError, "'us' more than once"),
    ("bic", ["us", "toepx"], FormulaError, "unknown covariance structure 'toepx'"),
])
def test_bad_arguments(fev, criterion, candidates, error, match):
    with pytest.raises(error, match=match):
        trialmlm.select_covariance("FEV1 ~ 1 + us(AVISIT | USUBJID)", fev, criterion, candidates)


def test_fallback_attempts_keep_their_columns(fev):
    """A fallback list's attempts carry no criterion; its table keeps the five columns."""
    fit = trialmlm.fit("FEV1 ~ 1 + us(AVISIT | USUBJID)", fev, covariance=["us", "cs"])
    assert list(fit.covariance_attempts_table().columns) == ["structure", "converged", "positive_definite",
                                                             "reason", "used"]
    assert fit.covariance_attempts[0].value is None
