"""trialmlm.glmm with a vector random effect (intercept + slope) by adaptive Gauss-Hermite
quadrature (product rule) vs GLMMadaptive (tests/reference/glmm/make_glmmadaptive_refs.R, set B
of its README): the ``polished`` maximum for estimates, G and the log-likelihood, GLMMadaptive's
``se_fixef`` and ``se_G_chol_params`` (SEs of the log-Cholesky parameters, trialmlm's theta)
for the standard errors.

GLMMadaptive's SEs were computed at its own estimate, which for Contraception lies 7e-5 from
the maximum; the Contraception SEs therefore agree to 4e-4 relative only (3.5e-4: the log-SD
of the random intercept; 2.6e-4: age^2), the epilepsy ones to 1e-4 with 11 and 15 points.
With 7 points GLMMadaptive centres and scales its grid by a few Newton steps rather than at
the converged mode (README), which moves its SEs by up to 3.2e-4 relative from those of the
exactly adaptive rule."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.glimmix import glmm

REF = Path(__file__).parent / "reference" / "glmm"
REFS = json.loads((REF / "glmmadaptive_refs.json").read_text())["fits"]


def compare(fit, ref: dict, ll_atol: float, se_rtol: float) -> None:
    polished = ref["polished"]
    np.testing.assert_allclose(fit.beta, list(polished["fixef"].values()), rtol=1e-5)
    np.testing.assert_allclose(fit.G, polished["G"], rtol=1e-5, atol=1e-6)  # G(1,2) is 0.0034
    assert fit.loglik == pytest.approx(polished["loglik"], abs=ll_atol)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), list(ref["se_fixef"].values()), rtol=se_rtol)
    se_theta = np.sqrt(np.diag(fit.parameter_vcov))[fit.beta.size:]
    np.testing.assert_allclose(se_theta, list(ref["se_G_chol_params"].values()), rtol=se_rtol)
    assert fit.converged and fit.settings.n_points == ref["nAGQ"]


@pytest.mark.parametrize("n_points, se_rtol", [(7, 5e-4), (11, 1e-4), (15, 1e-4)])
def test_epilepsy_random_intercept_and_slope(n_points, se_rtol):
    data = pd.read_csv(REF / "epil.csv").assign(Visit=lambda d: (2 * d["period"] - 5) / 10)
    fit = glmm("y ~ lbase * trt + lage + Visit + (1 + Visit | subject)", data, family="poisson",
               n_points=n_points)
    compare(fit, REFS[f"epil_ris_agq{n_points}"], ll_atol=1e-6, se_rtol=se_rtol)
    assert list(fit.covariance_parameters["parameter"]) == ["UN(1,1)", "UN(2,1)", "UN(2,2)"]


def test_contraception_random_intercept_and_urban_slope():
    data = pd.read_csv(REF / "contraception.csv").assign(age2=lambda d: d["age"] ** 2)
    fit = glmm("use ~ age + age2 + urban + livch + (1 + urban | district)", data, n_points=11)
    compare(fit, REFS["contraception_ris_agq11"], ll_atol=1e-6, se_rtol=4e-4)
