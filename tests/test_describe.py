"""The covariance model in words (trialmlm/engine/describe.py): one description for summary(), the
report and the table footnotes (issue 12)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import tables
from trialmlm.engine.describe import describe_covariance

NESTED = Path(__file__).parent / "reference" / "nested.csv"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(NESTED)
    return d.assign(VISIT=d["WEEK"].map(lambda w: f"Week {w}"))


def _fit(formula: str, data: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trialmlm.fit(formula, data)


CASES = [
    ("Y ~ ARM * VISIT + us(VISIT | USUBJID)",
     "Residual covariance: unstructured (UN) over VISIT within USUBJID", "UN (us)"),
    ("Y ~ ARM * VISIT + us(VISIT | ARM / USUBJID)",
     "Residual covariance: unstructured (UN) over VISIT within USUBJID, separate for each level of ARM "
     "(GROUP=ARM)", "UN (us) / GROUP=ARM"),
    ("Y ~ ARM * VISIT + ar1(VISIT | USUBJID) + (1 | SITE)",
     "Random effects (1 | SITE) with one variance; residual covariance: first-order autoregressive (AR(1)) "
     "over VISIT within USUBJID", "RANDOM (Intercept | SITE): G UN; REPEATED: AR(1) (ar1)"),
    ("Y ~ ARM * WEEK + (1 | SITE) + (1 + WEEK | USUBJID)",
     "Random effects (1 | SITE) with one variance, (1 + WEEK | USUBJID) with unstructured G (UN); residual "
     "covariance: independent with one variance within USUBJID",
     "RANDOM (Intercept | SITE): G UN; RANDOM (Intercept + WEEK | USUBJID): G UN; "
     "REPEATED: VC (independent)"),
    ("Y ~ ARM * WEEK + (1 + WEEK || USUBJID)",
     "Random effects (1 + WEEK || USUBJID) with diagonal G (VC); residual covariance: independent with one "
     "variance within USUBJID", "RANDOM (Intercept + WEEK | USUBJID): G VC; REPEATED: VC (independent)"),
    ("Y ~ ARM * WEEK + (1 + WEEK | USUBJID) + ar1(WEEK | ARM / USUBJID)",
     "Random effects (1 + WEEK | USUBJID) with unstructured G (UN); residual covariance: first-order "
     "autoregressive (AR(1)) over WEEK within USUBJID, separate for each level of ARM (GROUP=ARM)",
     "RANDOM (Intercept + WEEK | USUBJID): G UN; REPEATED: AR(1) (ar1) / GROUP=ARM"),
    ("Y ~ ARM + WEEK", "Linear model (ANCOVA): independent residuals with one variance",
     "Diagonal (independent rows, one variance: linear model)"),
]


@pytest.mark.parametrize("formula, sentence, sas", CASES, ids=[c[0] for c in CASES])
def test_one_description_read_by_summary_and_footnotes(data, formula, sentence, sas):
    fit = _fit(formula, data)
    description = describe_covariance(fit)
    assert str(description) == sentence
    assert description.sas() == sas
    assert f"{sentence}." in tables.covariance_table(fit).footnotes
    assert sas in fit.summary()


def test_mmrm_table_with_a_residual_structure_and_an_outer_factor(data):
    """Issue 12: AttributeError: 'AR1' object has no attribute 'diagonal'."""
    fit = _fit("Y ~ ARM * VISIT + ar1(VISIT | USUBJID) + (1 | SITE)", data)
    table = tables.mmrm_table(fit, "ARM", "VISIT")
    assert len(table.rows) == 2 * data["VISIT"].nunique()
    assert ("Random effects (1 | SITE) with one variance; residual covariance: first-order autoregressive "
            "(AR(1)) over VISIT within USUBJID.") in table.footnotes


def test_linear_model_is_described_as_ols(data):
    """Issue 19, finding 8: the ANCOVA was described as "REML, newton-raphson" with "AIC/AICC/BIC
    count 1 parameters; BIC uses the N subjects read".  REML and OLS coincide for the linear model:
    sigma^2 = RSS / (n - rank X)."""
    from trialmlm.engine.describe import describe_estimation

    rows = data[data["VISIT"] == data["VISIT"].iloc[0]]
    fit = _fit("Y ~ ARM", rows)
    ols = "ordinary least squares (OLS; REML and OLS coincide for the linear model)"
    assert describe_estimation(fit) == describe_estimation(fit, optimizer=True) == ols
    rss = float(((fit.design.y - fit.design.X @ fit.beta) ** 2).sum())
    assert fit.covariance_parameters_table()["estimate"].iloc[0] == pytest.approx(
        rss / (fit.n_obs - fit.n_fixed), rel=1e-8)
    text = fit.summary()
    assert ols in text
    assert "Optimizer" not in text and "newton-raphson" not in text
    notes = " ".join(tables.covariance_table(fit).footnotes)
    assert f"Estimation: {ols};" in notes
    n = fit.n_obs - fit.n_fixed
    assert (f"AIC/AICC/BIC count 1 covariance parameter (the residual variance), not the {fit.n_fixed} "
            "fixed effects (under REML, SAS counts covariance parameters only); BIC uses n - p "
            "(observations minus fixed effects).") in notes
    assert fit.bic == pytest.approx(-2 * fit.loglik + np.log(n))
    ml = trialmlm.fit("Y ~ ARM", rows, method="ML")
    assert describe_estimation(ml).startswith("maximum likelihood (ML)")
    assert (f"count {ml.n_fixed + 1} parameters: 1 covariance parameter (the residual variance) and "
            f"{ml.n_fixed} fixed effects") in " ".join(tables.covariance_table(ml).footnotes)


def test_mixed_model_estimation_text(data):
    from trialmlm.engine.describe import describe_estimation

    fit = _fit("Y ~ ARM * VISIT + us(VISIT | USUBJID)", data)
    assert describe_estimation(fit) == "REML"
    assert describe_estimation(fit, optimizer=True) == (f"REML, {fit.optimizer}, converged after "
                                                        f"{fit.n_iter} iterations")
    assert "Optimizer" in fit.summary()
    assert (f"AIC/AICC/BIC count {fit.n_covariance_parameters} covariance parameters, not the "
            f"{fit.n_fixed} fixed effects") in " ".join(tables.covariance_table(fit).footnotes)
