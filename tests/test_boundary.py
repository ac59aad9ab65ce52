"""Variance components estimated at 0 (trialmlm.engine.boundary) against lme4 on Dyestuff2.

References: tests/reference/make_dyestuff_refs.R (R 4.2.2, lme4 1.1.31, lmerTest 3.1.3)
wrote dyestuff_refs.json from lme4's Dyestuff2 (batch variance at 0, a singular fit) and
Dyestuff (an interior fit).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import BoundaryWarning

REF = Path(__file__).parent / "reference"
FITS = json.loads((REF / "dyestuff_refs.json").read_text())["fits"]


@pytest.fixture(scope="module")
def dyestuff2():
    return pd.read_csv(REF / "dyestuff2.csv")


@pytest.mark.parametrize("method, key", [("REML", "lmer_reml"), ("ML", "lmer_ml")])
def test_zero_batch_variance_is_reported_as_zero_as_lme4(dyestuff2, method, key):
    ref = FITS["Dyestuff2"][key]
    with pytest.warns(BoundaryWarning, match="Intercept estimated at 0"):
        fit = trialmlm.fit("Yield ~ 1 + (1 | Batch)", dyestuff2, method=method)
    assert fit.boundary == ("Intercept",) and fit.converged
    np.testing.assert_allclose(fit.loglik, ref["logLik"], atol=1e-6)
    table = fit.covariance_parameters_table()
    assert table.loc["Intercept", "estimate"] == 0.0
    assert table.loc["Intercept", ["se", "z", "p"]].isna().all()
    np.testing.assert_allclose(table.loc["Residual", "estimate"], ref["var_residual"], rtol=1e-6)
    coef = fit.coef_table()
    np.testing.assert_allclose(coef["estimate"], ref["fixef"], rtol=1e-10)
    np.testing.assert_allclose(coef["se"], ref["se"], rtol=1e-6)
    np.testing.assert_allclose(coef["df"], ref["satterthwaite"]["df"], rtol=1e-6)
    np.testing.assert_allclose(fit.random_effects()["Batch"].to_numpy(), 0.0, atol=1e-12)
    # SAS counts the covariance parameters not on the boundary (+ the fixed effects for ML);
    # lme4 counts the batch variance too (and the fixed effect under REML)
    d = 1 + (1 if method == "ML" else 0)
    np.testing.assert_allclose(fit.aic, ref["minus2logLik"] + 2 * d, atol=1e-6)
    assert fit.null_model_test is None  # one estimated covariance parameter left
    assert "NOTE: Estimated G matrix is not positive definite" in fit.summary()


def test_interior_fit_has_no_boundary():
    ref = FITS["Dyestuff"]["lmer_reml"]
    fit = trialmlm.fit("Yield ~ 1 + (1 | Batch)", pd.read_csv(REF / "dyestuff.csv"))
    assert fit.boundary == ()
    np.testing.assert_allclose(fit.loglik, ref["logLik"], atol=1e-6)
    np.testing.assert_allclose(fit.covariance_parameters.to_numpy(), [ref["var_batch"], ref["var_residual"]],
                               rtol=1e-5)


def test_held_parameters_are_not_moved_to_the_boundary(dyestuff2):
    fit = trialmlm.fit("Yield ~ 1 + (1 | Batch)", dyestuff2, fixed={"Intercept": 1e-3})
    assert fit.boundary == () and fit.covariance_parameters["Intercept"] == 1e-3
