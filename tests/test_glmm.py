"""trialmlm.glmm vs lme4 glmer (tests/reference/glmm_own/make_glmm_refs.R): Laplace and adaptive
Gauss-Hermite quadrature (nAGQ 5, 11, 25) for a random intercept on lme4's cbpp (events/trials)
and a simulated Poisson trial with a log-exposure offset; random intercept + slope by Laplace.
lme4 reports for nAGQ > 1 the log-likelihood less the saturated model's (the script records
it), so the full log-likelihood is compared with lme4's plus that term."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import BoundaryWarning, DataError, FormulaError
from trialmlm.glimmix import glmm

REF = Path(__file__).parent / "reference" / "glmm_own"
REFS = json.loads((REF / "glmm_refs.json").read_text())


def cbpp() -> pd.DataFrame:
    return pd.read_csv(REF / "cbpp.csv")


def poisson() -> pd.DataFrame:
    return pd.read_csv(REF / "poisson_trial.csv")


def binary() -> pd.DataFrame:
    return pd.read_csv(REF / "binary_slopes.csv")


def check(fit, key: str, saturated: str, est_rtol=1e-4, ll_atol=1e-5) -> None:
    ref = REFS["fits"][key]
    table = fit.coef_table()
    np.testing.assert_allclose(table["estimate"], ref["estimate"], rtol=est_rtol, atol=1e-6)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=est_rtol)
    shift = REFS["saturated_loglik"][saturated] if ref["nAGQ"] > 1 else 0.0
    assert fit.loglik == pytest.approx(ref["loglik"] + shift, abs=ll_atol)
    covariance = np.atleast_1d(ref["covariance"])  # VarCorr order: variances, then the covariance
    np.testing.assert_allclose(fit.covariance_parameters["estimate"], covariance[[0, 2, 1][:covariance.size]],
                               rtol=est_rtol, atol=1e-6)
    assert fit.n_parameters == ref["n_parameters"]
    assert fit.converged


@pytest.mark.parametrize("n_points", [1, 5, 11, 25])
def test_cbpp_random_intercept_matches_glmer(n_points):
    fit = glmm("incidence ~ period + (1 | herd)", cbpp(), trials="size", n_points=n_points)
    check(fit, f"cbpp_agq{n_points}", "cbpp")
    ref = REFS["fits"][f"cbpp_agq{n_points}"]
    modes = pd.Series(np.ravel(ref["modes"]), index=[int(h) for h in ref["modes_subject"]])
    np.testing.assert_allclose(fit.modes.iloc[:, 0], modes[fit.modes.index], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("n_points", [1, 5, 11, 25])
def test_poisson_offset_random_intercept_matches_glmer(n_points):
    fit = glmm("COUNT ~ TRT * AVISIT + (1 | USUBJID)", poisson(), family="poisson",
                        offset="LOGEXP", n_points=n_points)
    check(fit, f"poisson_agq{n_points}", "poisson")


def test_laplace_method_is_one_point():
    fit = glmm("incidence ~ period + (1 | herd)", cbpp(), trials="size", method="laplace")
    assert fit.settings.n_points == 1
    check(fit, "cbpp_agq1", "cbpp")


def test_random_intercept_and_slope_laplace_matches_glmer():
    fit = glmm("CRIT1FL ~ TRT * WEEK + (1 + WEEK | USUBJID)", binary(), method="laplace")
    check(fit, "slopes_laplace", "binary")
    assert list(fit.covariance_parameters["parameter"]) == ["UN(1,1)", "UN(2,1)", "UN(2,2)"]


def test_points_increase_until_stable():
    fit = glmm("CRIT1FL ~ TRT * WEEK + (1 | USUBJID)", binary())
    assert fit.settings.n_points >= 7
    ref = REFS["fits"]["binary_intercept_agq11"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(fit.coef_table()["estimate"], ref["estimate"], rtol=1e-4)


def test_statistics_and_table_columns():
    fit = glmm("incidence ~ period + (1 | herd)", cbpp(), trials="size", method="laplace")
    ref = REFS["fits"]["cbpp_agq1"]
    assert fit.aic == pytest.approx(ref["aic"], abs=1e-5)
    assert fit.bic == pytest.approx(ref["bic"], abs=1e-5)
    assert list(fit.coef_table().columns) == ["term", "estimate", "se", "df", "t", "p", "lower", "upper"]


def test_boundary_variance_reported_as_zero():
    data = cbpp().assign(size=lambda d: d["size"] * 0 + 20, incidence=lambda d: np.arange(len(d)) % 2 + 3)
    with pytest.warns(BoundaryWarning, match="boundary 0"):
        fit = glmm("incidence ~ 1 + (1 | herd)", data, trials="size", method="laplace")
    assert fit.covariance_parameters["estimate"].iloc[0] == 0.0
    assert np.isfinite(fit.coef_table()["se"]).all()


def test_bad_input_named():
    data = binary().assign(CRIT1FL=lambda d: d["CRIT1FL"] * 2)
    with pytest.raises(DataError, match="CRIT1FL"):
        glmm("CRIT1FL ~ WEEK + (1 | USUBJID)", data)
    with pytest.raises(DataError, match="the GLMM takes family"):
        glmm("CRIT1FL ~ WEEK + (1 | USUBJID)", binary(), link="identity")
    with pytest.raises(FormulaError, match="one random-effect term"):
        glmm("CRIT1FL ~ WEEK", binary())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="method"):
            glmm("CRIT1FL ~ WEEK + (1 | USUBJID)", binary(), method="pql")
