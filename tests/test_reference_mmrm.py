"""Against R mmrm 0.3.18 on demo_trial.csv (tests/reference/demo_trial_mmrm.R).

Tolerances.  Our log-likelihood evaluated at mmrm's reported covariance matrix equals
mmrm's log-likelihood to 1e-8 — the likelihood itself is exact.  mmrm's optimiser,
however, stops short of the maximum: our maximum is higher by up to 3.0e-6 (toeph) and
the R nlme::gls fit of the same us model (gls_refs.json, us_demo_reml, polished to the
optimum) agrees with ours to 1e-9 while differing from mmrm's by 6.8e-7.  We therefore
require (a) the exact likelihood at mmrm's parameters to 1e-8, (b) our maximum to be no
lower than mmrm's and at most 5e-6 above it, and (c) covariance entries within 2e-4
relative of mmrm's (the parameter error that a 3e-6 likelihood gap implies); the strict
1e-6 / 1e-5 tolerances are applied against the converged nlme references in
test_reference_gls.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import trialmlm

STRUCTS = ["us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh", "sp_exp"]


def phi_from_matrix(name: str, cov: np.ndarray) -> np.ndarray:
    """SAS parameters of a structured matrix, read off the matrix itself."""
    n = cov.shape[0]
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return {
        "us": lambda: cov[np.tril_indices(n)],
        "cs": lambda: np.array([cov[0, 1], cov[0, 0] - cov[0, 1]]),
        "csh": lambda: np.append(np.diag(cov), corr[0, 1]),
        "ar1": lambda: np.array([corr[0, 1], cov[0, 0]]),
        "ar1h": lambda: np.append(np.diag(cov), corr[0, 1]),
        "toep": lambda: np.append(cov[0, 1:], cov[0, 0]),
        "toeph": lambda: np.append(np.diag(cov), corr[0, 1:]),
        "ad": lambda: np.append(np.diag(corr, 1), cov[0, 0]),
        "adh": lambda: np.append(np.diag(cov), np.diag(corr, 1)),
    }[name]()


@pytest.fixture(scope="module")
def fits(demo_trial, mmrm_reference):
    return {s: trialmlm.fit(mmrm_reference["cases"][s]["formula"], demo_trial) for s in STRUCTS}


@pytest.mark.parametrize("name", STRUCTS)
def test_loglik_aic_bic(fits, mmrm_reference, name):
    ref = mmrm_reference["cases"][name]
    fit = fits[name]
    assert fit.converged
    assert -1e-9 <= fit.loglik - ref["loglik"] <= 5e-6
    assert fit.aic - ref["AIC"] == pytest.approx(-2 * (fit.loglik - ref["loglik"]), abs=1e-9)
    assert fit.bic - ref["BIC"] == pytest.approx(-2 * (fit.loglik - ref["loglik"]), abs=1e-9)


@pytest.mark.parametrize("name", [s for s in STRUCTS if s != "sp_exp"])
def test_likelihood_exact_at_mmrm_parameters(fits, mmrm_reference, name):
    ref = mmrm_reference["cases"][name]
    fit = fits[name]
    phi = phi_from_matrix(name, np.array(ref["covariance"]["matrix"]))
    lik = fit.likelihood
    assert -0.5 * lik.evaluate(phi).value == pytest.approx(ref["loglik"], abs=1e-8)


@pytest.mark.parametrize("name", [s for s in STRUCTS if s != "sp_exp"])
def test_covariance_matrix(fits, mmrm_reference, name):
    ref = mmrm_reference["cases"][name]["covariance"]
    cov = fits[name].covariance_matrix()
    assert list(cov.index) == ref["levels"]
    ref_m = np.array(ref["matrix"])
    np.testing.assert_allclose(cov.to_numpy(), ref_m, rtol=0, atol=2e-4 * np.abs(ref_m).max())


def test_ml_loglik_us(demo_trial, mmrm_reference):
    ref = mmrm_reference["cases"]["us"]
    fit = trialmlm.fit(ref["formula"], demo_trial, method="ML")
    assert -1e-9 <= fit.loglik - ref["loglik_ml"] <= 1e-6
