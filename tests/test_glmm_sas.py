"""trialmlm.glmm vs SAS PROC GLIMMIX output to the printed digit (tests/reference/glmm_sas/README.md).

The SAS values are the "Solutions for Fixed Effects" tables of PROC GLIMMIX (release not stated)
published by the PHUSE/PSI CAMIS project for the respiratory trial (SAS sample ``genmex5`` = geepack
``respiratory``): ``outcome = trtp avisitn trtp*avisitn``, binary logit, random intercept per subject,
``METHOD=QUAD(QPOINTS=5)`` (estimates printed to 5 decimals) and ``METHOD=LAPLACE`` (4 decimals);
standard errors to 4 decimals.  Tolerance = half a unit in the last printed digit plus, for the
estimates, ``SAS_STOP``: GLIMMIX stops (GCONV=1e-8) short of the maximum; its printed estimates lie up
to 2.8e-5 from the maximum where rounding is negligible (quadrature, lme4 ``glmer`` agrees with the
engine to 1e-6, ``make_sas_check.R``), and their log-likelihood is 1e-8 to 2e-8 below it.  Standard
errors get ``SAS_SE`` for SAS's forward-difference Hessian taken at that stopping point."""

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.glimmix import glmm

REF = Path(__file__).parent / "reference" / "glmm_sas"
PRINTED = json.loads((REF / "sas_printed.json").read_text())["fits"]
FORMULA = "outcome ~ trtp * avisitn + (1 | usubjid)"
SAS_STOP = 5e-5
SAS_SE = 1e-5


def respiratory() -> pd.DataFrame:
    """SAS ``class trtp(ref="P") avisitn(ref='1')``: placebo and visit 1 are the reference levels."""
    data = pd.read_csv(REF / "respiratory.csv")
    return data.assign(trtp=pd.Categorical(data["trtp"], categories=["P", "A"]),
                       avisitn=pd.Categorical(data["avisitn"], categories=[1, 2, 3, 4]))


@functools.cache
def fitted(method: str, n_points: int | None):
    """One fit per method for the whole module (results are immutable)."""
    return glmm(FORMULA, respiratory(), method=method, n_points=n_points)


@pytest.mark.parametrize(("label", "method", "n_points", "decimals"), [
    ("glimmix_quad5", "quad", 5, 5),
    ("glimmix_laplace", "laplace", None, 4),
])
def test_fixed_effects_match_glimmix_printed_digits(label, method, n_points, decimals):
    fit = fitted(method, n_points)
    table = fit.coef_table()
    printed = PRINTED[label]
    assert fit.converged
    assert (fit.n_obs, fit.n_subjects) == (444, 111)
    np.testing.assert_allclose(table["estimate"], printed["estimate"], rtol=0,
                               atol=0.5 * 10.0 ** -decimals + SAS_STOP)
    np.testing.assert_allclose(table["se"], printed["se"], rtol=0, atol=0.5e-4 + SAS_SE)


@pytest.mark.parametrize(("label", "plain"), [
    ("glimmix_quad5", "glimmix_quad5_ddfm_none"),
    ("glimmix_laplace", "glimmix_laplace_ddfm_none"),
])
def test_printed_tables_agree_across_ddfm(label, plain):
    """The DDFM=BW and DDFM=NONE runs print the same estimates and standard errors (only df, p
    differ), so one fit serves both; guards the transcription of sas_printed.json."""
    for key in ("effects", "estimate", "se"):
        assert PRINTED[label][key] == PRINTED[plain][key]


@pytest.mark.parametrize(("label", "method", "n_points"), [("ghq5", "quad", 5), ("laplace", "laplace", None)])
def test_same_fit_matches_glmer_where_sas_prints_nothing(label, method, n_points):
    """The random-intercept variance and -2 log likelihood are not in the published SAS tables:
    lme4 ``glmer`` on the same data and model (``glmer_check.json``) is the reference for them."""
    ref = json.loads((REF / "glmer_check.json").read_text())["fits"][label]
    fit = fitted(method, n_points)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert fit.G[0, 0] == pytest.approx(ref["variance"], rel=1e-5)
    np.testing.assert_allclose(fit.coef_table()["estimate"], ref["fixef"], rtol=0, atol=1e-5)
