"""Covariance fallback fit(..., covariance=[...]) and the non-convergence signal.

Reference values: tests/reference/fallback_refs.json, written by make_fallback_refs.R
(R 4.2.2, nlme 3.1-162 ``gls``: us = corSymm + varIdent, ar1h = corAR1 + varIdent,
cs = corCompSymm; nlme has no heterogeneous Toeplitz).  On each data set R fails on the
same structures as trialmlm (an error, or a "converged" fit with a zero variance), and
the structure the fallback picks matches R's fit of it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import ConvergenceError, ConvergenceWarning, DataError, FormulaError, TrialMLMError
from trialmlm.engine.results import CovarianceAttempt

REFERENCE = Path(__file__).parent / "reference"
SAP = ["us", "toeph", "ar1h", "cs"]
REFS = json.loads((REFERENCE / "fallback_refs.json").read_text())


def _case(name: str) -> tuple[pd.DataFrame, str, dict]:
    ref = REFS[name]
    return pd.read_csv(REFERENCE / ref["file"]), f"{ref['model']} + us(AVISIT | USUBJID)", ref


def _check_against_r(fit, ref: dict) -> None:
    np.testing.assert_allclose(-2 * fit.loglik, ref["minus2_loglik"], rtol=0, atol=1e-6)
    params = ref["covariance_parameters"]
    np.testing.assert_allclose(fit.covariance_parameters[list(params)], list(params.values()), rtol=1e-5)
    fitted = np.array(ref["fitted"])
    np.testing.assert_allclose(fit.fitted(), fitted, rtol=1e-5, atol=1e-5 * np.abs(fitted).max())


def _assert_same_fit(a, b) -> None:
    """Bit-identical estimates, settings and LS means."""
    assert a.settings == b.settings
    for name in ("phi", "phi_cov", "beta", "beta_cov"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.loglik == b.loglik and a.converged == b.converged and a.n_iter == b.n_iter
    pd.testing.assert_frame_equal(a.lsmeans("AVISIT"), b.lsmeans("AVISIT"), check_exact=True)


@pytest.fixture(scope="module")
def few_subjects():
    data, formula, ref = _case("few_subjects")
    return data, formula, ref, trialmlm.fit(formula, data, covariance=SAP)


def test_few_subjects_fall_back_to_ar1h(few_subjects):
    """5 subjects, 5 visits: us is not estimable (R: no convergence), toeph runs into a
    singular matrix without converging, ar1h is used and equals R's corAR1 + varIdent fit."""
    data, formula, ref, fit = few_subjects
    assert "error" in ref["us"] and "error" not in ref["ar1h"]
    assert fit.settings.structure == "ar1h" and fit.converged
    assert fit.settings.formula == formula.replace("us(", "ar1h(")
    us, toeph, ar1h = fit.covariance_attempts
    assert us == CovarianceAttempt("us", False, False, "us over 5 visits needs more than 5 subjects; there "
                                   "are 5 (use a structured covariance such as toeph or ar1h)", False)
    assert toeph.structure == "toeph" and not toeph.converged and not toeph.used
    assert toeph.reason.startswith("did not converge after")
    assert ar1h == CovarianceAttempt("ar1h", True, True, "", True)
    _check_against_r(fit, ref["ar1h"])


def test_fallback_fit_is_the_fit_of_that_structure_alone(few_subjects):
    data, formula, _, fit = few_subjects
    alone = trialmlm.fit(formula.replace("us(", "ar1h("), data)
    _assert_same_fit(fit, alone)
    assert alone.covariance_attempts == (CovarianceAttempt("ar1h", True, True, "", True),)
    _assert_same_fit(fit, trialmlm.fit(formula, data, covariance="ar1h"))


def test_attempts_table_and_summary(few_subjects):
    fit = few_subjects[3]
    table = fit.covariance_attempts_table()
    assert list(table.columns) == ["structure", "converged", "positive_definite", "reason", "used"]
    assert table["structure"].tolist() == ["us", "toeph", "ar1h"]
    assert table["used"].tolist() == [False, False, True]
    text = fit.summary()
    assert "Covariance Structures Tried" in text
    assert "ar1h   used" in text and "us     not used: us over 5 visits" in text


def test_constant_visit_falls_back_to_cs():
    """A visit with CHG = 0 for everyone (baseline rows kept): the heterogeneous
    structures' likelihood is unbounded (R: us 'false convergence', ar1h 'Coefficient
    matrix not invertible'); cs is used and equals R's corCompSymm fit."""
    data, formula, ref = _case("constant_visit")
    assert "error" in ref["us"] and "error" in ref["ar1h"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither ConvergenceWarnings of the failed attempts nor numpy's
        fit = trialmlm.fit(formula, data, covariance=SAP)
    assert fit.settings.structure == "cs"
    assert [a.structure for a in fit.covariance_attempts] == SAP
    for attempt in fit.covariance_attempts[:3]:
        assert not attempt.converged and not attempt.used
        assert "numerically singular" in attempt.reason
    _check_against_r(fit, ref["cs"])
    _assert_same_fit(fit, trialmlm.fit(formula.replace("us(", "cs("), data))


def test_single_structure_returns_the_failed_fit_with_a_warning():
    """Without a fallback list a failed fit is returned, marked and warned about: the
    unbounded likelihood of us on the constant visit is not 'converged'."""
    data, formula, _ = _case("constant_visit")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow noise
        with pytest.warns(ConvergenceWarning) as record:
            fit = trialmlm.fit(formula, data)
    assert {w.category for w in record} == {ConvergenceWarning}
    assert any("numerically singular" in str(w.message) for w in record)
    assert not fit.converged
    assert any("numerically singular" in w for w in fit.warnings)
    (attempt,) = fit.covariance_attempts
    assert attempt.structure == "us" and attempt.used and not attempt.converged
    assert "numerically singular" in attempt.reason


def test_absurd_likelihood_is_not_converged():
    """No residual noise: R's corCompSymm 'converges' to a residual variance ~1e-12 and
    -2 log L ~ -15000; trialmlm reports such a fit as not converged."""
    data, formula, ref = _case("exact")
    r_cs = ref["cs"]
    assert r_cs["minus2_loglik"] < -1e4 and r_cs["covariance_parameters"]["Residual"] < 1e-10
    with pytest.warns(ConvergenceWarning):
        fit = trialmlm.fit(formula.replace("us(", "cs("), data)
    assert not fit.converged
    assert "numerically singular" in fit.covariance_attempts[0].reason


def test_all_structures_fail_raises_convergence_error():
    data, formula, ref = _case("exact")
    assert "error" in ref["us"] and "error" in ref["ar1h"]
    with pytest.raises(ConvergenceError) as info:
        trialmlm.fit(formula, data, covariance=SAP)
    err = info.value
    assert isinstance(err, TrialMLMError)
    assert [a.structure for a in err.attempts] == SAP
    assert not any(a.used or a.converged for a in err.attempts)
    message = str(err)
    assert message.startswith(f"no covariance structure gave a usable fit of '{formula}'")
    for attempt in err.attempts:
        assert f"  {attempt.structure}: {attempt.reason}" in message


def test_plain_fit_records_one_attempt(demo_fit):
    assert demo_fit.covariance_attempts == (CovarianceAttempt("us", True, True, "", True),)
    assert "Covariance Structures Tried" not in demo_fit.summary()


def test_first_usable_structure_is_used_without_trying_the_rest(demo_trial):
    fit = trialmlm.fit("CHG ~ TRT * AVISIT + cs(AVISIT | USUBJID)", demo_trial, covariance=["us", "cs"])
    assert fit.settings.structure == "us"
    assert fit.covariance_attempts == (CovarianceAttempt("us", True, True, "", True),)


@pytest.mark.parametrize("covariance, error, match", [
    (["us", "cs", "us"], FormulaError, "'us' more than once"),
    ([], FormulaError, "lists no structure"),
    (["us", "toepx"], FormulaError, "unknown covariance structure 'toepx'"),
])
def test_bad_lists(demo_trial, covariance, error, match):
    with pytest.raises(error, match=match):
        trialmlm.fit("CHG ~ TRT * AVISIT + us(AVISIT | USUBJID)", demo_trial, covariance=covariance)


def test_formula_without_covariance_term(demo_trial):
    with pytest.raises(FormulaError, match="no covariance term"):
        trialmlm.fit("CHG ~ TRT * TIME + (1 | USUBJID)", demo_trial, covariance=SAP)


def test_error_of_every_structure_is_raised_as_it_is(demo_trial):
    """A problem of the formula or data, not of the structure (here a missing column),
    keeps its own error class."""
    with pytest.raises(FormulaError, match="column 'NOSUCH'"):
        trialmlm.fit("CHG ~ NOSUCH + AVISIT + us(AVISIT | USUBJID)", demo_trial, covariance=SAP)


def test_single_structure_error_is_raised():
    data, formula, _ = _case("few_subjects")
    with pytest.raises(DataError, match="needs more than 5 subjects"):
        trialmlm.fit(formula, data, covariance=["us"])
