"""The negative binomial GLMM (trialmlm/glimmix/conditional.py, gradient.py, fitting.py with
family="negbin"): NB2, Var(y | b) = mu + k mu^2, log link, random intercept, k estimated jointly.

References: tests/reference/glmm_negbin/make_negbin_refs.R (README.md there).  ``polished`` is the
maximum of an independent R implementation of the Laplace / adaptive Gauss-Hermite log-likelihood
reached from the peer's estimate (lme4 ``glmer.nb`` for Laplace, GLMMadaptive ``mixed_model(...,
family = negative.binomial(), nAGQ = 5, 11)``), with SEs from its Richardson Hessian in
(beta, log sd, log k): the target, since lme4's Laplace takes the expected-information weights in
log|H| (the R script reproduces glmer.nb's logLik that way) and GLMMadaptive stops at k to ~3e-5
relative.  GLMMadaptive's log-likelihood at its own estimate is compared directly."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import BoundaryWarning, FormulaError
from trialmlm.genmod.families import get_family
from trialmlm.glimmix import glmm
from trialmlm.glimmix.conditional import Conditional
from trialmlm.glimmix.gradient import subject_gradients
from trialmlm.glimmix.problem import Problem
from trialmlm.glimmix.quadrature import subject_loglik

REF = Path(__file__).parent / "reference" / "glmm_negbin"
REFS = json.loads((REF / "negbin_refs.json").read_text())
EPIL = Path(__file__).parent / "reference" / "glmm" / "epil.csv"
MODELS = {"epil": ("y ~ lbase * trt + lage + V4 + (1 | subject)", None),
          "trial": ("y ~ trt * visit + (1 | subject)", "logdays")}
FITS = {"laplace": ("laplace", None), "agq5": ("quad", 5), "agq11": ("quad", 11)}


def data(name: str) -> pd.DataFrame:
    if name == "epil":
        return pd.read_csv(EPIL)
    frame = pd.read_csv(REF / "nb_trial.csv")
    return frame.assign(trt=pd.Categorical(frame["trt"], ["PBO", "ACT"]), visit=frame["visit"].astype(str))


def fit(name: str, key: str):
    formula, offset = MODELS[name]
    method, n_points = FITS[key]
    return glmm(formula, data(name), family="negbin", method=method, n_points=n_points, offset=offset)


@pytest.mark.parametrize("name", ["epil", "trial"])
@pytest.mark.parametrize("key", ["laplace", "agq5", "agq11"])
def test_matches_the_maximum_of_the_reference_likelihood(name, key):
    ref = REFS[name]["fits"][key]["polished"]
    result = fit(name, key)
    assert result.converged
    assert result.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    np.testing.assert_allclose(result.beta, list(ref["fixef"].values()), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(result.vcov)), list(ref["se_fixef"].values()), rtol=1e-4)
    table = result.covariance_parameters
    assert list(table["parameter"]) == ["UN(1,1)", "Scale"]
    np.testing.assert_allclose(table["estimate"], [ref["variance"], ref["k"]], rtol=1e-5)
    np.testing.assert_allclose(table["se"], [ref["se_variance"], ref["se_k"]], rtol=1e-4)
    assert result.scale == pytest.approx(ref["k"], rel=1e-5)
    assert result.n_parameters == len(ref["estimate"])
    assert result.aic == pytest.approx(-2 * ref["loglik"] + 2 * len(ref["estimate"]), abs=2e-6)


@pytest.mark.parametrize("name", ["epil", "trial"])
@pytest.mark.parametrize("key", ["agq5", "agq11"])
def test_loglik_at_glmmadaptive_estimate_is_its_loglik(name, key):
    peer = REFS[name]["fits"][key]["glmmadaptive"]
    formula, offset = MODELS[name]
    template = glmm(formula, data(name), family="nb", method="quad", n_points=FITS[key][1], offset=offset)
    problem = template.problem
    at_peer = replace(problem, conditional=problem.conditional.with_log_k(np.log(peer["k"])))
    L = np.array([[np.sqrt(peer["variance"])]])
    ll = subject_loglik(at_peer, np.array(list(peer["fixef"].values())), L, FITS[key][1])[0].sum()
    assert ll == pytest.approx(peer["loglik"], abs=1e-6)


def problem(q: int) -> Problem:
    rng = np.random.default_rng(11)
    m, visits = 40, 5
    n = m * visits
    X = np.column_stack([np.ones(n), rng.normal(size=n), np.tile(np.arange(visits), m) / 4])
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + 3.0), n).astype(float)
    return Problem(X, X[:, [0, 2][:q]], 0.1 * rng.normal(size=n), np.repeat(np.arange(m), visits), m,
                   Conditional.of(get_family("negbin"), "log", y, np.ones(n)), True)


@pytest.mark.parametrize("q", [1, 2])
@pytest.mark.parametrize("n_points", [1, 3, 5])
def test_gradient_in_beta_theta_and_log_k_is_derivative_of_loglik(q, n_points):
    pr = problem(q)
    x = np.array([0.9, 0.2, 0.1, np.log(0.8), 0.3, np.log(0.5)][: 3 + pr.n_covariance] + [np.log(0.6)])

    def loglik(z):
        fixed = pr.at(z[3:])
        return subject_loglik(fixed, z[:3], fixed.cholesky(z[3:]), n_points)[0].sum()

    ll, gradient, _ = subject_gradients(pr, x[:3], x[3:], n_points)
    assert gradient.shape == (pr.n_subjects, x.size)
    assert ll.sum() == pytest.approx(loglik(x), abs=1e-10)
    h = 1e-5
    numeric = np.array([(loglik(x + h * e) - loglik(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(gradient.sum(axis=0), numeric, rtol=1e-6, atol=1e-6)


def test_dispersion_derivatives_are_derivatives_in_log_k():
    """d/d log k of log f, the score and the observed weight (conditional.py) vs central differences."""
    y = np.array([0.0, 1.0, 4.0, 12.0])
    eta = np.array([-1.0, 0.3, 1.2, 2.5])
    base = Conditional.of(get_family("negbin"), "log", y, np.ones(4))

    def parts(log_k):
        c = base.with_log_k(log_k)
        return np.stack([c.log_density(eta), *c.derivatives(eta)])

    h = 1e-6
    numeric = (parts(np.log(0.4) + h) - parts(np.log(0.4) - h)) / (2 * h)
    np.testing.assert_allclose(np.stack(base.with_log_k(np.log(0.4)).dispersion_derivatives(eta)), numeric,
                               rtol=1e-7, atol=1e-9)


def test_likelihood_ratio_of_g_re_estimates_k():
    """The G = 0 fit is the negative binomial GLM with k re-estimated: MASS::glm.nb's logLik."""
    result = fit("epil", "laplace")
    table = result.likelihood_ratio()
    assert table["loglik_reduced"].iloc[0] == pytest.approx(REFS["epil"]["glm_nb"]["loglik"], abs=1e-6)
    assert table["df"].iloc[0] == 1


def test_several_random_effect_terms_are_refused():
    frame = data("trial").assign(site=lambda d: d["subject"] % 6)
    with pytest.raises(FormulaError, match="negative binomial GLMM takes one random-effect term"):
        glmm("y ~ trt + (1 | site) + (1 | subject)", frame, family="negbin", method="laplace")


def test_no_overdispersion_holds_k_at_0_and_is_the_poisson_glmm():
    """Poisson counts (tests/reference/glmm_own/poisson_trial.csv): k falls below 1e-6, is held at 0
    with a BoundaryWarning, and the fit is lme4 glmer's Poisson GLMM (make_glmm_refs.R, nAGQ = 1)."""
    own = Path(__file__).parent / "reference" / "glmm_own"
    ref = json.loads((own / "glmm_refs.json").read_text())["fits"]["poisson_agq1"]
    with pytest.warns(BoundaryWarning, match="dispersion k is at its boundary 0"):
        result = glmm("COUNT ~ TRT * AVISIT + (1 | USUBJID)", pd.read_csv(own / "poisson_trial.csv"),
                      family="negbin", offset="LOGEXP", method="laplace")
    assert result.scale == 0 and result.scale_se == 0
    assert result.converged
    assert result.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    np.testing.assert_allclose(result.beta, ref["estimate"][:result.beta.size], rtol=1e-4, atol=1e-6)
    assert result.n_parameters == ref["n_parameters"]
