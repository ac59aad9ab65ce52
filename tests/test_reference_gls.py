"""Against R nlme::gls (tests/reference/make_gls_refs.R -> gls_refs.json).

Each case states its gls call in ``r_call``.  The R script polishes every fit to the
optimum (checked by a Newton step), so the strict tolerances apply: log-likelihood 1e-6
absolute, covariance entries, estimates and SEs 1e-5 relative.

ML standard errors: nlme's ``vcov`` for ML fits scales by the REML-type residual
variance, sigma^2 * n / (n - p); SAS's Cov(beta) = (X'V^-1X)^-1 at the ML estimate of V.
SAS's definition is the target, so nlme's ML SEs are rescaled by sqrt((n - p) / n).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm

REFERENCE = Path(__file__).parent / "reference"


def _r_to_formulaic(name: str, levels: dict) -> str:
    """'TRTLOW:AVISITW2' -> 'TRT[T.LOW]:AVISIT[T.W2]'."""
    if name == "(Intercept)":
        return "Intercept"
    parts = []
    for part in name.split(":"):
        for var, lv in levels.items():
            if part.startswith(var) and part[len(var):] in map(str, lv):
                part = f"{var}[T.{part[len(var):]}]"
                break
        parts.append(part)
    return ":".join(parts)


def _cases():
    return json.loads((REFERENCE / "gls_refs.json").read_text())["cases"]


@pytest.fixture(scope="module")
def fits():
    out = {}
    for case in _cases():
        data = pd.read_csv(REFERENCE / case["data"])
        out[case["name"]] = trialmlm.fit(case["formula"], data, method=case["method"],
                                         weights=case["weights"])
    return out


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_loglik_and_covariance(fits, case):
    fit = fits[case["name"]]
    assert fit.converged
    assert fit.n_obs == case["n_obs"]
    assert fit.loglik == pytest.approx(case["loglik"], abs=1e-6)
    cov = case["covariance"]
    groups = {None: cov} if "matrix" in cov else cov
    for group, ref in groups.items():
        mat = fit.covariance_matrix(group)
        ref_m = np.array(ref["matrix"])
        if "time" in ref:  # spatial: the matrix is over the distinct TIME values
            assert list(mat.index) == ref["time"]
        elif "levels" in ref:
            assert [str(v) for v in mat.index] == ref["levels"]
        np.testing.assert_allclose(mat.to_numpy(), ref_m, rtol=0, atol=1e-5 * np.abs(ref_m).max())


@pytest.mark.parametrize(
    "case",
    [c for c in _cases() if c["name"] not in ("us_group_reml", "ar1_group_reml", "us_demo_reml")],
    ids=lambda c: c["name"],
)
def test_fixed_effects_and_standard_errors(fits, case):
    fit = fits[case["name"]]
    table = fit.coef_table()
    names = [_r_to_formulaic(c["name"], fit.design.class_levels) for c in case["coef"]]
    assert sorted(names) == sorted(table.index)
    est = np.array([c["estimate"] for c in case["coef"]])
    se = np.array([c["se"] for c in case["coef"]])
    if case["method"] == "ML":
        se = se * np.sqrt((fit.n_obs - fit.n_fixed) / fit.n_obs)
    # estimates near zero are compared on the scale of their standard error
    gap = np.abs(table.loc[names, "estimate"].to_numpy() - est)
    assert np.all(gap <= 1e-5 * np.maximum(np.abs(est), se)), gap / np.maximum(np.abs(est), se)
    np.testing.assert_allclose(table.loc[names, "se"], se, rtol=1e-5)


def test_group_loglik_is_sum_of_arms(fits):
    case = next(c for c in _cases() if c["name"] == "us_group_reml")
    assert sum(case["loglik_by_arm"].values()) == pytest.approx(fits["us_group_reml"].loglik, abs=1e-6)
