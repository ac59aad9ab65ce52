"""trialmlm.gee(family="negbin") against R: k = 1/theta of MASS::glm.nb, the GEE with k fixed from
geeM::geem(family = MASS::negative.binomial(theta)) (moment estimators with divisors N - p and
pairs - p, SAS's); tests/reference/gee_families/make_gee_families_refs.R wrote gee_families.json.
Bad input: negative or non-integer counts, a link other than log, no overdispersion (k = 0)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import BoundaryWarning, DataError

REF = Path(__file__).parent / "reference" / "gee_families"
NEGBIN = json.loads((REF / "gee_families.json").read_text())["negbin"]
FORMULA = "EVENTS ~ BASE + ARM + AVISIT"


def r_name(name: str) -> str:
    return "(Intercept)" if name == "Intercept" else re.sub(r"\[T\.([^\]]*)\]", r"\1", name)


def counts(file: str = "../gee/trial.csv") -> pd.DataFrame:
    data = pd.read_csv(REF / file)
    return data.assign(LOGDAYS=np.log(data["DAYS"]))


def fit_nb(data: pd.DataFrame, working: str, **kwargs):
    return trialmlm.gee(FORMULA, data, family="nb", working=working, subject="USUBJID", visit="AVISIT",
                        offset="LOGDAYS", tol=1e-12, **kwargs)


@pytest.mark.parametrize("case", ["independence", "exchangeable", "ar1_complete"])
def test_matches_glm_nb_and_geem(case):
    ref = NEGBIN[case]
    working = case.removesuffix("_complete")
    fit = fit_nb(counts(ref.get("data", "../gee/trial.csv")), working)
    assert fit.converged
    np.testing.assert_allclose(fit.problem.family.k, ref.get("k", NEGBIN["k"]), rtol=1e-6)
    names = [r_name(n) for n in fit.names]
    for key, got in (("coef", fit.beta), ("se", np.sqrt(np.diag(fit.cov("robust")))),
                     ("se_naive", np.sqrt(np.diag(fit.cov("model"))))):
        np.testing.assert_allclose(got, [ref[key][n] for n in names], rtol=1e-6, atol=1e-10, err_msg=key)
    np.testing.assert_allclose(fit.scale, ref["scale"], rtol=1e-6)
    if "alpha" in ref:
        np.testing.assert_allclose(fit.estimate.alpha, [ref["alpha"]], rtol=1e-6)


def test_independence_estimates_are_glm_nb():
    fit = fit_nb(counts(), "independence")
    names = [r_name(n) for n in fit.names]
    np.testing.assert_allclose(fit.beta, [NEGBIN["glm_nb_coef"][n] for n in names], rtol=1e-6)
    np.testing.assert_allclose(1 / fit.problem.family.k, NEGBIN["theta"], rtol=1e-6)


def test_family_names_and_variance():
    data = counts()
    a = fit_nb(data, "exchangeable")
    b = trialmlm.gee(FORMULA, data, family="negbin", working="exchangeable", subject="USUBJID",
                     visit="AVISIT", offset="LOGDAYS", tol=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)
    k = a.problem.family.k
    mu = np.array([0.5, 2.0])
    np.testing.assert_allclose(a.problem.family.variance(mu), mu + k * mu**2)
    assert np.isfinite(a.qic()["QIC"])


@pytest.mark.parametrize("value", [-1, 1.5])
def test_counts_must_be_non_negative_integers(value):
    data = counts()
    data["EVENTS"] = data["EVENTS"].astype(float)
    data.loc[data.index[3], "EVENTS"] = value
    with pytest.raises(DataError, match="EVENTS.*counts"):
        fit_nb(data, "exchangeable")


def test_log_link_only():
    with pytest.raises(DataError, match="negbin.*log"):
        fit_nb(counts(), "independence", link="identity")


def test_no_overdispersion_is_poisson_with_a_warning():
    rng = np.random.default_rng(3)
    n = 60
    data = pd.DataFrame({"USUBJID": np.repeat(np.arange(n), 3), "AVISIT": np.tile(["V1", "V2", "V3"], n),
                         "ARM": np.repeat(rng.choice(["A", "B"], n), 3),
                         "BASE": np.repeat(rng.normal(size=n), 3)})
    data["EVENTS"] = rng.binomial(4, 0.5, size=len(data))  # underdispersed counts
    data["LOGDAYS"] = 0.0
    with pytest.warns(BoundaryWarning, match="k is estimated at 0"):
        fit = fit_nb(data, "exchangeable")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        poisson = trialmlm.gee(FORMULA, data, family="poisson", working="exchangeable", subject="USUBJID",
                               visit="AVISIT", offset="LOGDAYS", tol=1e-12)
    assert fit.problem.family.k == 0
    np.testing.assert_allclose(fit.beta, poisson.beta, rtol=1e-10)
