"""SAS PROC MIXED listings of R mmrm's FEV data: fit statistics, subjects, null model test,
type III chi-square, parameter names; independence (``vc``) and heterogeneous diagonal
(``un1``) structures.

References: tests/reference/sas_fev_refs.json (numbers as printed in the listings
design/SAS/*.txt of https://github.com/openpharma/mmrm, with the SAS statements of each)
and tests/reference/fev_gls_refs.json (nlme::gls; tests/reference/make_fev_refs.R, which
also writes fev_data.csv).  Printed values are compared to their last printed digit: the
difference may be at most half a unit of it (plus 1e-6 for the optimum, where SAS stops up
to 1e-5 short of it).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.engine.likelihood import independence_deviance

REFERENCE = Path(__file__).parent / "reference"
LISTINGS = json.loads((REFERENCE / "sas_fev_refs.json").read_text())["listings"]
SAS = {Path(r["listing"]).stem: r for r in LISTINGS}
GLS = json.loads((REFERENCE / "fev_gls_refs.json").read_text())
MEAN = "ARMCD * AVISIT + RACE + SEX"


@pytest.fixture(scope="module")
def fev() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "fev_data.csv")


def _formula(name: str) -> str:
    """trialmlm's formula for the statements of listing ``name`` (see sas_fev_refs.json)."""
    base = name.removesuffix("_reml").removesuffix("_ml")
    if base == "sas_log":
        return f"FEV1 ~ {MEAN} + us(AVISIT | USUBJID)"
    if base == "sas_log_simple":
        return "FEV1 ~ 1 + us(AVISIT | USUBJID)"
    structure = base.removeprefix("sas_group_").removeprefix("sas_")
    group = "ARMCD / " if base.startswith("sas_group_") else ""
    return f"FEV1 ~ 1 + {structure}(AVISIT | {group}USUBJID)"


def _method(name: str) -> str:
    return "REML" if name.endswith("_reml") else "ML"


def _within_printed(ours: float, printed: float, decimals: int) -> bool:
    return abs(ours - printed) <= 0.5 * 10.0**-decimals + 1e-6


@pytest.fixture(scope="module")
def fits(fev):
    return {name: trialmlm.fit(_formula(name), fev, method=_method(name)) for name in SAS}


@pytest.mark.parametrize("name", list(SAS))
def test_fit_statistics_subjects_and_names(fits, name):
    """-2LL to SAS's last iteration; AIC, AICC and BIC (with the 200 subjects read) to the
    printed digit; SAS's Cov Parm names (Group column as ``ARMCD=level``)."""
    fit, ref = fits[name], SAS[name]
    assert fit.n_subjects_read == ref["subjects"] == 200
    assert fit.n_subjects == 197
    assert abs(-2 * fit.loglik - ref["m2ll_final"]) < 5e-5
    assert -2 * fit.loglik <= ref["m2ll_final"] + 1e-6
    for stat in ("aic", "aicc", "bic"):
        assert _within_printed(getattr(fit, stat), ref[stat], 1), stat
    assert fit.covariance_parameter_names == ref["cov_parms"]


@pytest.mark.parametrize("name", list(SAS))
def test_null_model_likelihood_ratio_test(fits, name):
    fit, ref = fits[name], SAS[name]
    test = fit.null_model_test
    assert test.df == ref["null_df"]
    assert _within_printed(test.chisq, ref["null_chisq"], 2)
    assert test.p < 1e-4 or ref["null_chisq"] < 10
    # the null model's -2LL is SAS's iteration 0 (R = sigma^2 I, same fixed effects, method)
    d = fit.design
    assert independence_deviance(d.X, d.y, d.weights, fit.method == "REML") == pytest.approx(
        ref["m2ll_iteration0"], abs=1e-6)
    assert "Null Model Likelihood Ratio Test" in fit.summary()


def test_bic_counts_subjects_read(fits):
    """SAS's BIC for us (10 parameters) distinguishes 200 from 197 subjects: 3439.4 against
    3439.3 (design/SAS/sas_log_reml.txt)."""
    fit = fits["sas_log_reml"]
    assert fit.bic == pytest.approx(-2 * fit.loglik + 10 * np.log(200))
    assert not _within_printed(-2 * fit.loglik + 10 * np.log(197), SAS["sas_log_reml"]["bic"], 1)
    text = fit.summary()
    assert "Subjects Used" in text and "197" in text and "200" in text


def test_subjects_read_of_prefiltered_data(fev):
    """Rows without a response removed before the fit: 197 subjects, as SAS prints for
    the 537-row data set (design/SAS/sas_resid_un_weighted.txt, Subjects 197)."""
    fit = trialmlm.fit("FEV1 ~ 1 + ar1(AVISIT | USUBJID)", fev.dropna(subset=["FEV1"]))
    assert fit.n_subjects_read == fit.n_subjects == 197


def _at_sas_estimates(fit, listing: dict):
    """``fit`` evaluated at the covariance parameters SAS printed; SAS's UN(a,b) run over
    the visits VIS2, VIS3, VIS4, VIS1 (CLASS AVISIT(ref = 'VIS1') puts the reference last)."""
    sas = np.zeros((4, 4))
    rows, cols = np.tril_indices(4)
    sas[rows, cols] = sas[cols, rows] = listing["cov_parm_estimates"]
    ours = sas[np.ix_([3, 0, 1, 2], [3, 0, 1, 2])][rows, cols]
    ev = fit.likelihood.evaluate(ours)
    return dataclasses.replace(fit, phi=ours, beta=ev.beta, beta_cov=ev.cov_beta), ev.value


def test_type3_chisq_against_sas(fits):
    """MODEL / CHISQ: Chi-Square = Num DF x F and Pr > ChiSq (design/SAS/sas_log_reml.txt),
    at SAS's printed covariance parameters: SAS stops 6e-6 short of the optimum in -2LL,
    which moves AVISIT's Chi-Square from 426.318 (SAS's point) to 426.313 (the optimum)."""
    listing = SAS["sas_log_reml"]
    at, m2ll = _at_sas_estimates(fits["sas_log_reml"], listing)
    assert m2ll == pytest.approx(listing["m2ll_final"], abs=1e-3)
    table = at.anova()
    terms = {"ARMCD": "ARMCD", "AVISIT": "AVISIT", "AVISIT*ARMCD": "ARMCD:AVISIT", "RACE": "RACE",
             "SEX": "SEX"}
    assert list(table.columns) == ["num_df", "den_df", "F", "p", "chisq", "p_chisq"]
    for row in SAS["sas_log_reml"]["type3"]:
        ours = table.loc[terms[row["effect"]]]
        assert ours["num_df"] == row["num_df"]
        assert _within_printed(ours["chisq"], row["chisq"], 2) and _within_printed(ours["F"], row["F"], 2)
        for col, printed in (("p_chisq", row["p_chisq"]), ("p", row["p_F"])):
            assert ours[col] < 1e-4 if printed == "<.0001" else _within_printed(ours[col], float(printed), 4)
        assert ours["chisq"] == pytest.approx(ours["num_df"] * ours["F"], rel=1e-12)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_vc_is_the_null_model(fev, method):
    """``vc``: -2LL = nlme::gls without correlation = SAS's iteration 0 of sas_log(_reml)."""
    fit = trialmlm.fit(f"FEV1 ~ {MEAN} + vc(AVISIT | USUBJID)", fev, method=method)
    listing = SAS["sas_log_reml" if method == "REML" else "sas_log"]
    assert -2 * fit.loglik == pytest.approx(GLS[method]["vc"]["m2loglik"], abs=1e-6)
    assert -2 * fit.loglik == pytest.approx(listing["m2ll_iteration0"], abs=1e-6)
    assert fit.covariance_parameters["Residual"] == pytest.approx(GLS[method]["vc"]["residual"], rel=1e-6)
    assert fit.null_model_test is None
    np.testing.assert_allclose(fit.covariance_matrix().to_numpy(), GLS[method]["vc"]["residual"] * np.eye(4),
                               rtol=1e-6)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_un1_against_gls_varident(fev, method):
    fit = trialmlm.fit(f"FEV1 ~ {MEAN} + un1(AVISIT | USUBJID)", fev, method=method)
    ref = GLS[method]["un1"]
    assert -2 * fit.loglik == pytest.approx(ref["m2loglik"], abs=1e-6)
    assert list(fit.covariance_parameters.index) == ["UN(1,1)", "UN(2,2)", "UN(3,3)", "UN(4,4)"]
    # the ML likelihood is flat in UN(2,2) and UN(4,4): nlme stops 2e-5 short of the optimum
    # in them (trialmlm's -2LL is not larger), hence 1e-4 here
    assert -2 * fit.loglik <= ref["m2loglik"] + 1e-8
    np.testing.assert_allclose(fit.covariance_parameters.to_numpy(), ref["variances"],
                               rtol=1e-5 if method == "REML" else 1e-4)
    assert fit.null_model_test.df == 3
    expected = GLS[method]["vc"]["m2loglik"] - ref["m2loglik"]
    assert fit.null_model_test.chisq == pytest.approx(expected, abs=1e-5)


def test_random_intercept_named_and_tested_as_sas(fev):
    """``(1 | USUBJID)`` is SAS's RANDOM INTERCEPT / SUBJECT=USUBJID: parameter ``Intercept``;
    its null model keeps only the residual variance.  With a positive between-subject
    covariance it is the CS model, so the test is sas_cs_reml's: DF 1, Chi-Square 2.50."""
    fit = trialmlm.fit("FEV1 ~ 1 + (1 | USUBJID)", fev)
    assert list(fit.covariance_parameters.index) == ["Intercept", "Residual"]
    test = fit.null_model_test
    assert test.df == SAS["sas_cs_reml"]["null_df"] == 1
    assert _within_printed(test.chisq, SAS["sas_cs_reml"]["null_chisq"], 2)
