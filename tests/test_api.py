"""fit(): result object, bad input, missing data handling, aliasing."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError, FormulaError

F_US = "CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)"
F_AR1 = "CHG ~ BASE + SEX + TRT * AVISIT + ar1(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def fit_us(demo_trial):
    return trialmlm.fit(F_US, demo_trial)


def test_result_contents(fit_us, demo_trial):
    assert fit_us.n_subjects == 160
    assert fit_us.n_obs == demo_trial["CHG"].notna().sum()
    assert fit_us.n_obs_dropped == demo_trial["CHG"].isna().sum()
    assert fit_us.converged and fit_us.optimizer.startswith("newton")
    assert list(fit_us.covariance_parameters.index[:3]) == ["UN(1,1)", "UN(2,1)", "UN(2,2)"]
    cov = fit_us.covariance_matrix()
    assert list(cov.index) == ["V1", "V2", "V3", "V4", "V5"]
    np.testing.assert_allclose(np.diag(fit_us.correlation_matrix()), 1.0)
    table = fit_us.covariance_parameters_table()
    assert list(table.columns) == ["estimate", "se", "z", "p"]
    assert (table["se"] > 0).all()
    coef = fit_us.coef_table(ddf="residual")
    assert list(coef.columns) == ["estimate", "se", "df", "t", "p", "lower", "upper"]
    assert (coef["df"] == fit_us.n_obs - fit_us.n_fixed).all()
    np.testing.assert_allclose(coef["estimate"], fit_us.coef)
    np.testing.assert_allclose(coef["se"] ** 2, np.diag(fit_us.vcov))
    text = fit_us.summary()
    for heading in ("Model Information", "Fit Statistics", "Covariance Parameter Estimates",
                    "Solution for Fixed Effects", "-2 Res Log Likelihood", "UN(5,5)"):
        assert heading in text


def test_covariance_parameter_se_is_inverse_hessian(fit_us):
    """2 H^-1 of -2 log L; checked against a finite-difference Hessian of the objective."""

    lik = fit_us.likelihood
    phi = fit_us.phi
    hess = np.zeros((phi.size, phi.size))
    for k in range(phi.size):
        h = 1e-5 * max(1, abs(phi[k]))
        e = np.zeros_like(phi)
        e[k] = h
        hess[:, k] = (lik.evaluate(phi + e, 1).grad - lik.evaluate(phi - e, 1).grad) / (2 * h)
    np.testing.assert_allclose(fit_us.phi_cov, 2 * np.linalg.inv(hess), rtol=1e-4)


def test_fitted_residuals_predict(fit_us, demo_trial):
    used = demo_trial["CHG"].notna()
    fitted = fit_us.fitted()
    assert list(fitted.index) == list(demo_trial.index[used])
    np.testing.assert_allclose(fit_us.residuals() + fitted, demo_trial.loc[used, "CHG"])
    pred = fit_us.predict(demo_trial)
    np.testing.assert_allclose(pred[used], fitted)
    assert pred.notna().all()  # the mean model does not need the response
    one = fit_us.predict(pd.DataFrame({"BASE": [30.0], "SEX": ["F"], "TRT": ["ACT"], "AVISIT": ["V5"]}))
    beta = fit_us.coef
    expected = beta["Intercept"] + 30 * beta["BASE"] + beta["AVISIT[T.V5]"]
    assert one.iloc[0] == pytest.approx(expected)
    with pytest.raises(DataError, match="level 'PBO' of column 'TRT'"):
        fit_us.predict(pd.DataFrame({"BASE": [30.0], "SEX": ["F"], "TRT": ["PBO"], "AVISIT": ["V5"]}))


def test_result_is_immutable(fit_us):
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit_us.loglik = 0.0
    with pytest.raises(ValueError):
        fit_us.beta[0] = 1.0
    c = fit_us.coef
    c.iloc[0] = 99.0
    assert fit_us.coef.iloc[0] != 99.0


def test_caller_frame_not_modified(demo_trial):
    before = demo_trial.copy()
    trialmlm.fit(F_AR1, demo_trial)
    pd.testing.assert_frame_equal(demo_trial, before)


@pytest.mark.parametrize(
    "formula, error, message",
    [
        ("CHG ~ BASE + TRTX + us(AVISIT | USUBJID)", FormulaError, "column 'TRTX'.*did you mean 'TRT'"),
        ("CHG ~ BASE + unn(AVISIT | USUBJID)", FormulaError, "unknown covariance structure 'unn'"),
        ("CHG ~ BASE + TRTX", FormulaError, "column 'TRTX'"),  # the linear model
        ("CHG ~ BASE + us(AVISIT | USUBJID) + ar1(AVISIT | USUBJID)", FormulaError, "2 covariance terms"),
        ("CHG ~ BASE + (1 | USUBJID) + us(AVISIT | USUBJID)", FormulaError, "cannot be identified"),
        ("CHG ~ BASE + (1 | TRT) + ar1(AVISIT | TRT / USUBJID)", FormulaError, "per-group residual"),
        ("CHG ~ BASE + (1 | USUBJID) + (0 + TIME | USUBJID)", FormulaError, "one term per grouping factor"),
        ("CHG ~ BASE + TRT | USUBJID", FormulaError, "neither a covariance term"),
        ("CHG ~ BASE + us(AVISIT | USUBJ)", FormulaError, "column 'USUBJ'"),
        ("CHG ~ BASE + us(AVISIT, TIME | USUBJID)", FormulaError, "one visit variable"),
        ("log(CHG) ~ BASE + us(AVISIT | USUBJID)", FormulaError, "single column name"),
        ("TRT ~ BASE + us(AVISIT | USUBJID)", DataError, "response 'TRT' must be numeric"),
        ("CHG ~ BASE + sp_exp(AVISIT | USUBJID)", DataError, "coordinate 'AVISIT'.*numeric"),
    ],
)
def test_bad_formulas(demo_trial, formula, error, message):
    with pytest.raises(error, match=message):
        trialmlm.fit(formula, demo_trial)


def test_too_few_subjects_for_us():
    rng = np.random.default_rng(1)
    few = pd.DataFrame([(f"S{i}", f"V{v}", rng.normal()) for i in range(5) for v in range(1, 6)],
                       columns=["ID", "AVISIT", "Y"])
    with pytest.raises(DataError, match="us over 5 visits needs more than 5 subjects; there are 5"):
        trialmlm.fit("Y ~ AVISIT + us(AVISIT | ID)", few)
    with pytest.raises(DataError, match="15 covariance parameters and 5 fixed effects but only 20"):
        trialmlm.fit("Y ~ AVISIT + us(AVISIT | ID)", few.iloc[:20])


def test_us_pair_never_observed_together():
    rows = [(f"S{i}", v, float(i % 7 + j)) for i in range(40) for j, v in enumerate(("A", "B", "C"))
            if not (v == "C" and i < 20) and not (v == "B" and i >= 20)]
    d = pd.DataFrame(rows, columns=["ID", "V", "Y"])
    with pytest.raises(DataError, match="visits 'B' and 'C'.*never observed in the same subject"):
        trialmlm.fit("Y ~ V + us(V | ID)", d)


def test_bad_method_and_weights(demo_trial):
    with pytest.raises(DataError, match="method must be 'REML' or 'ML'"):
        trialmlm.fit(F_AR1, demo_trial, method="MIVQUE0")
    with pytest.raises(DataError, match="weights column 'W' must be positive"):
        trialmlm.fit(F_AR1, demo_trial.assign(W=0.0), weights="W")
    with pytest.raises(FormulaError, match="column 'WT'"):
        trialmlm.fit(F_AR1, demo_trial, weights="WT")
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        trialmlm.fit(F_AR1, demo_trial.to_dict())


def test_group_requires_level_and_names_levels(demo_trial):
    fit = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | TRT / USUBJID)", demo_trial)
    # SAS's GROUP= order and names: Variance, AR(1)
    assert list(fit.covariance_parameters.index[:2]) == ["Variance TRT=ACT", "AR(1) TRT=ACT"]
    with pytest.raises(DataError, match="pass group= one of ACT, CTRL"):
        fit.covariance_matrix()
    with pytest.raises(DataError, match="group 'PBO' is not a level"):
        fit.covariance_matrix("PBO")
    d = demo_trial.copy()
    d.loc[0, "TRT"] = "ACT" if d.loc[0, "TRT"] == "CTRL" else "CTRL"
    with pytest.raises(DataError, match="subject 'SUBJ-001' appears in more than one level of group 'TRT'"):
        trialmlm.fit("CHG ~ BASE + ar1(AVISIT | TRT / USUBJID)", d)


def test_heterogeneous_visit_without_data_in_a_group(demo_trial):
    d = demo_trial[~((demo_trial["TRT"] == "ACT") & (demo_trial["AVISIT"] == "V5"))]
    with pytest.raises(DataError, match="visit 'V5' of 'AVISIT' has no observation in group TRT='ACT'"):
        trialmlm.fit("CHG ~ BASE + TRT * AVISIT + ar1h(AVISIT | TRT / USUBJID)", d)


def test_non_convergence_is_reported(demo_trial, monkeypatch):
    from trialmlm.engine import estimate as api

    real = api.maximise
    monkeypatch.setattr(api, "maximise",
                        lambda lik, start, **kw: real(lik, start, max_iter=1, tolerance=1e-30, **kw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = trialmlm.fit(F_US, demo_trial)
    assert not fit.converged
    assert any(issubclass(w.category, trialmlm.ConvergenceWarning) for w in caught)
    assert "NOT converged" in fit.summary()
