"""A fit refits itself (issue 21): ``fit.refit(...)`` re-uses the parsed model.

No reference numbers of their own: each test checks ``refit`` against
:func:`trialmlm.fit` of the same data, whose numbers the reference tests tie to R and SAS.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
import trialmlm.engine.formula
from trialmlm import BoundaryWarning, DataError
from trialmlm.engine.refit import fit_model, subset_model

FORMULA = "CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)"


def _assert_same_fit(a, b) -> None:
    """Bit-identical estimates, settings and LS means."""
    assert a.settings == b.settings
    for name in ("phi", "phi_cov", "beta", "beta_cov", "jac_info"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.loglik, a.converged, a.n_iter, a.warnings) == (b.loglik, b.converged, b.n_iter, b.warnings)
    assert a.covariance_attempts == b.covariance_attempts
    pd.testing.assert_frame_equal(a.lsmeans("AVISIT"), b.lsmeans("AVISIT"), check_exact=True)


def test_refit_of_the_same_data_is_the_fit(demo_trial, demo_fit):
    _assert_same_fit(demo_fit.refit(data=demo_trial), demo_fit)
    _assert_same_fit(demo_fit.refit(), demo_fit)


def test_refit_with_a_new_response_is_a_fresh_fit(demo_trial, demo_fit):
    rng = np.random.default_rng(21)
    new = demo_trial["CHG"] + rng.normal(0, 2, len(demo_trial))  # missing where CHG is missing
    fresh = trialmlm.fit(FORMULA, demo_trial.assign(CHG=new))
    _assert_same_fit(demo_fit.refit(response=new), fresh)
    _assert_same_fit(demo_fit.refit(response=new.to_numpy()), fresh)
    _assert_same_fit(demo_fit.refit(data=demo_trial.assign(CHG=new)), fresh)


def test_refit_with_other_missing_responses_is_a_fresh_fit(demo_trial, demo_fit):
    new = demo_trial["CHG"].where(demo_trial.index % 7 != 0)
    _assert_same_fit(demo_fit.refit(response=new), trialmlm.fit(FORMULA, demo_trial.assign(CHG=new)))


def test_subset_model_is_the_model_of_the_other_subjects(demo_trial, demo_fit):
    """The jackknife's model (sums downdated) fits as the model built on the other subjects' rows:
    estimates to rounding (1e-10), the same iterations."""
    model = demo_fit.model
    n = model.design.subject_labels.size
    for left_out in ([0], [5, n - 1]):
        kept = np.setdiff1d(np.arange(n), left_out)
        fast = fit_model(subset_model(model, kept), "residual", "model", start=demo_fit.phi)
        resampled = model.with_design(model.design.resample(kept))
        slow = fit_model(resampled, "residual", "model", start=demo_fit.phi)
        for name in ("phi", "beta", "beta_cov", "phi_cov"):
            np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-10, atol=1e-12)
        assert fast.loglik == pytest.approx(slow.loglik, abs=1e-9)
        assert (fast.n_iter, fast.converged, fast.n_obs) == (slow.n_iter, slow.converged, slow.n_obs)


def test_refit_keeps_start_fixed_and_method(demo_trial):
    fit = trialmlm.fit(FORMULA, demo_trial, method="ML", fixed={"UN(1,1)": 30.0})
    again = fit.refit()
    _assert_same_fit(again, fit)
    assert again.settings.fixed == (("UN(1,1)", 30.0),) and again.method == "ML"


def test_warm_start_is_not_recorded(demo_trial, demo_fit):
    warm = demo_fit.refit(start=demo_fit.phi)
    assert warm.settings == demo_fit.settings
    np.testing.assert_allclose(warm.phi, demo_fit.phi, rtol=1e-6)


def test_refit_rejects_data_and_response_together(demo_trial, demo_fit):
    with pytest.raises(DataError, match="not both"):
        demo_fit.refit(data=demo_trial, response=demo_trial["CHG"])
    with pytest.raises(DataError, match="one value per row"):
        demo_fit.refit(response=np.zeros(3))


def test_fallback_fit_refits_its_structure(demo_trial):
    fit = trialmlm.fit(FORMULA, demo_trial, covariance=["ar1h", "cs"])
    alone = trialmlm.fit(FORMULA.replace("us(", "ar1h("), demo_trial)
    _assert_same_fit(fit.refit(), alone)


def test_covariance_term_is_parsed_once_per_fit(demo_trial, monkeypatch):
    calls = []
    parse = trialmlm.engine.formula._covariance_term
    monkeypatch.setattr(trialmlm.engine.formula, "_covariance_term", lambda *a: calls.append(a) or parse(*a))
    fit = trialmlm.fit(FORMULA, demo_trial, covariance=["toeph", "ar1h", "cs"])
    assert len(calls) == 1
    assert fit.settings.formula == FORMULA.replace("us(", "toeph(")
    fit.refit(response=demo_trial["CHG"] * 2)
    assert len(calls) == 1


def test_warnings_point_at_the_caller():
    """Warnings name the line that called fit or refit, however deep the fit was made."""
    data = pd.read_csv(Path(__file__).parent / "reference" / "dyestuff2.csv")
    with pytest.warns(BoundaryWarning) as record:
        fit = trialmlm.fit("Yield ~ 1 + (1 | Batch)", data)
    assert record[0].filename == __file__
    with pytest.warns(BoundaryWarning) as record:
        fit.refit()
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.refit(warn=False)
