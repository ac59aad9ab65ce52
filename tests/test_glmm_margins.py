"""trialmlm.glimmix.margins: population-averaged means of GLMMs and their delta-method SEs against R
(tests/reference/glmm_margins/make_margins_refs.R: lme4 glmer, R integrate() over b ~ N(0, G), also
as a two-dimensional integral for the random intercept + slope, numDeriv Jacobians and the
numDeriv Hessian of glmer's deviance function in trialmlm's (beta, log-Cholesky) parametrisation),
and GLMMadaptive's deterministic marginal coefficients (tests/reference/glmm, set B)."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import trialmlm
from trialmlm.engine.design import build_design
from trialmlm.engine.formula import parse_formula
from trialmlm.errors import DataError
from trialmlm.genmod.links import get_link
from trialmlm.glimmix.margins import (
    averaged_means,
    conditional_vs_marginal,
    marginal_effects,
    marginal_means,
    normal_average,
)

GLMM_REF = Path(__file__).parent / "reference" / "glmm"
REFS = json.loads((Path(__file__).parent / "reference" / "glmm_margins" / "margins_refs.json").read_text())
FITS = REFS["fits"]
TIMES = REFS["times"]

FORMULAS = {"toenail_ri_agq25": ("y ~ treatment * time + (1 | id)", "toenail", "binomial", 25),
            "toenail_ris_laplace": ("y ~ treatment * time + (1 + time | id)", "toenail", "binomial", 1),
            "epil_agq25": ("y ~ lbase * trt + lage + V4 + (1 | subject)", "epil", "poisson", 25)}
AT = {"toenail_ri_agq25": {"time": TIMES}, "toenail_ris_laplace": {"time": [0, 3, 12]},
      "epil_agq25": {"V4": [0, 1]}}
SPEC = {"toenail": "treatment", "epil": "trt"}


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(GLMM_REF / f"{name}.csv")


def _key(name: str) -> str:
    """R's and trialmlm's coefficient names alike: '(Intercept)', 'trt[T.progabide]' -> 'trtprogabide'."""
    return re.sub(r"[\[\]()]|T\.", "", name)


_CACHE = {}


def fitted(label: str):
    if label not in _CACHE:
        formula, name, family, n_points = FORMULAS[label]
        method = "laplace" if n_points == 1 else "quad"
        _CACHE[label] = trialmlm.glmm(formula, data(name), family=family, method=method,
                                 n_points=None if n_points == 1 else n_points)
    return _CACHE[label]


def with_r_parameters(label: str):
    """Our fit with R's beta, theta and covariance of (beta, theta) put in (same parameters)."""
    fit, ref = fitted(label), FITS[label]
    order = [list(map(_key, ref["beta"])).index(_key(n)) for n in fit.names]
    p = len(order)
    perm = np.r_[order, p + np.arange(np.size(ref["theta"]))]
    V = np.array(ref["parameter_vcov"])[np.ix_(perm, perm)]
    beta = np.array(list(ref["beta"].values()))[order]
    return replace(fit, beta=beta, theta=np.atleast_1d(ref["theta"]), parameter_vcov=V, vcov=V[:p, :p])


@pytest.mark.parametrize("label", list(FORMULAS))
def test_means_and_ses_match_r_given_the_same_parameters(label):
    fit = with_r_parameters(label)
    table = marginal_means(fit, SPEC[FORMULAS[label][1]], at=AT[label])
    ref = FITS[label]
    scale = max(1.0, max(ref["mu_bar"]))  # rates (epil) relative to their size
    np.testing.assert_allclose(table["estimate"], ref["mu_bar"], rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=1e-4)
    if "mu_bar_2d" in ref:  # the one-dimensional reduction against R's two-dimensional integral
        np.testing.assert_allclose(table["estimate"], ref["mu_bar_2d"], atol=1e-8)
    if "closed_form" in ref:
        np.testing.assert_allclose(table["estimate"], ref["closed_form"], rtol=1e-10)


@pytest.mark.parametrize("label", ["toenail_ri_agq25", "toenail_ris_laplace"])
def test_marginal_contrasts_match_r(label):
    fit = with_r_parameters(label)
    effects = marginal_effects(fit, "treatment", at=AT[label])
    ref = FITS[label]["contrasts"]
    expected = pd.DataFrame({"contrast": [n.rstrip("0123456789") for n in ref["names"]],
                             "estimate": ref["estimate"], "se": ref["se"]})
    expected["time"] = np.repeat(AT[label]["time"], 3)
    table = effects.table.merge(expected, on=["contrast", "time"], suffixes=("", "_r"))
    assert len(table) == 3 * len(AT[label]["time"])
    np.testing.assert_allclose(table["estimate"], table["estimate_r"], atol=1e-8)
    np.testing.assert_allclose(table["se"], table["se_r"], rtol=1e-4)
    logor = effects.table[effects.table["contrast"] == "logor"]
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(logor["lower"], logor["estimate"] - z * logor["se"])  # log-scale limits


def test_own_fit_agrees_with_r_to_the_precision_of_the_estimates():
    """Our own estimates and information (finite differences, 1e-5 / 1e-4) carry into the means."""
    fit, ref = fitted("toenail_ri_agq25"), FITS["toenail_ri_agq25"]
    table = marginal_means(fit, "treatment", at={"time": TIMES})
    np.testing.assert_allclose(table["estimate"], ref["mu_bar"], atol=2e-6)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=2e-4)


def test_predictive_margin_over_rows_matches_r():
    fit, ref = with_r_parameters("epil_agq25"), FITS["epil_agq25_rows"]
    table = marginal_means(fit, "trt", average="rows")
    np.testing.assert_allclose(table["estimate"], ref["mu_bar"], rtol=1e-9)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=1e-4)
    assert list(table["trt"]) == ["placebo", "progabide"]


def test_grid_and_rows_agree_without_other_covariates():
    fit = fitted("toenail_ri_agq25")
    grid = marginal_means(fit, "treatment", at={"time": [0, 12]})
    rows = marginal_means(fit, "treatment", at={"time": [0, 12]}, average="rows")
    np.testing.assert_allclose(rows[["estimate", "se"]], grid[["estimate", "se"]], rtol=1e-12)


def _normal_expectation(f, middle: float) -> float:
    """E f(e), e ~ N(0, 1), by scipy quad split at ``middle``."""
    return sum(integrate.quad(lambda e: f(e) * stats.norm.pdf(e), a, b, epsabs=1e-15, epsrel=1e-13,
                              limit=500)[0] for a, b in ((-np.inf, middle), (middle, np.inf)))


@pytest.mark.parametrize("s", [0.0, 0.3, 1.5, 4.57, 28.0])
@pytest.mark.parametrize("eta", [-3.0, -0.4, 0.0, 2.5])
def test_normal_average_is_exact_to_1e10(s, eta):
    mean, d_eta, d_s = normal_average(get_link("logit"), np.array([eta]), np.array([s]))
    middle = -eta / s if s > 0 else 0.0  # split where the logistic turns

    def slope(e):
        return special.expit(eta + s * e) * special.expit(-(eta + s * e))

    expected = _normal_expectation(lambda e: special.expit(eta + s * e), middle)
    assert mean[0] == pytest.approx(expected, abs=1e-10)
    assert d_eta[0] == pytest.approx(_normal_expectation(slope, middle), abs=1e-10)
    assert d_s[0] == pytest.approx(_normal_expectation(lambda e: e * slope(e), middle), abs=1e-10)
    rate, _, _ = normal_average(get_link("log"), np.array([eta]), np.array([min(s, 3.0)]))
    assert rate[0] == pytest.approx(np.exp(eta + min(s, 3.0) ** 2 / 2), rel=1e-12)  # closed form


def test_jacobian_matches_central_differences():
    fit = fitted("toenail_ris_laplace")
    link = get_link("logit")
    X = np.array([[1.0, 0, 0, 0], [1, 1, 3, 3], [1, 0, 12, 0], [1, 1, 12, 12]])
    Z = X[:, [0, 2]]
    W = np.array([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 1]])
    x = np.r_[fit.beta, fit.theta]
    p = fit.beta.size
    _, J = averaged_means(link, X, Z, W, fit.beta, fit.theta)
    numeric = np.zeros_like(J)
    for j in range(x.size):
        h = 1e-6 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        numeric[:, j] = (averaged_means(link, X, Z, W, up[:p], up[p:])[0]
                         - averaged_means(link, X, Z, W, down[:p], down[p:])[0]) / (2 * h)
    # atol: the central difference of an entry that is 0 (the mean at slope 0 does not depend on the
    # slope's SD) is rounding of values of order 1 over 2h, up to eps / h = 2e-10
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-9)


def test_glmmadaptive_marginal_coefficients():
    """GLMMadaptive's marginal coefficients (deterministic quadrature version, README set B) are the
    least-squares fit of logit(mu_bar_i) on X over the rows: our row means reproduce them to 1e-6.
    Their fitted probabilities expit(x'beta_marg) are not mu_bar_i (logit(mu_bar) is not linear in x
    when s_i varies: urban enters Z), so those are not compared."""
    ref = json.loads((GLMM_REF / "glmmadaptive_refs.json").read_text())
    fit_ref = ref["fits"]["contraception_ris_agq11"]["polished"]
    frame = data("contraception")
    parsed = parse_formula("use ~ age + I(age ** 2) + urban + livch + (1 + urban | district)")
    design = build_design(frame, parsed, None, False)
    columns = np.asarray(design.encoding.columns)[design.encoding.kept]
    names = [_key(n).replace(" ** 2", "^2") for n in columns]
    beta = np.array([fit_ref["fixef"][next(k for k in fit_ref["fixef"] if _key(k) == n)] for n in names])
    G = np.array(fit_ref["G"])
    L = np.linalg.cholesky(G)
    theta = np.array([np.log(L[0, 0]), L[1, 0], np.log(L[1, 1])])
    X = design.X
    mu, _ = averaged_means(get_link("logit"), X, design.Z, np.eye(X.shape[0]), beta, theta)
    marginal = np.linalg.lstsq(X, special.logit(mu), rcond=None)[0]
    expected = ref["marginal_coefs"]["quadrature"]["betas"]
    np.testing.assert_allclose(marginal, [expected[next(k for k in expected if _key(k) == n)] for n in names],
                               atol=1e-6)


def test_conditional_vs_marginal_toenail():
    fit = fitted("toenail_ri_agq25")
    gee = trialmlm.gee("y ~ treatment * time", data("toenail"), family="binomial", working="exchangeable",
                       subject="id", visit="visit")
    table = conditional_vs_marginal(fit, gee, "treatment", at={"time": [12]})
    assert list(table["model"]) == ["GLMM conditional", "GLMM marginal", "GEE"]
    row = dict(zip(table["model"], table.to_dict("records")))
    assert row["GLMM conditional"]["estimate"] == pytest.approx(fit.beta[1] + 12 * fit.beta[3], rel=1e-12)
    effects = marginal_effects(fit, "treatment", at={"time": [12]}, contrast="logor").table
    assert row["GLMM marginal"]["estimate"] == pytest.approx(effects["estimate"].iloc[0], rel=1e-12)
    assert row["GEE"]["estimate"] == pytest.approx(gee.beta[1] + 12 * gee.beta[3], rel=1e-10)
    assert row["GEE"]["se"] == pytest.approx(np.sqrt(np.array([0, 1, 0, 12]) @ gee.cov() @ [0, 1, 0, 12]))
    assert abs(row["GLMM marginal"]["estimate"]) < abs(row["GLMM conditional"]["estimate"])  # attenuated
    np.testing.assert_allclose(table["ratio_upper"], np.exp(table["upper"]))


def test_bad_input_is_named():
    fit = fitted("toenail_ri_agq25")
    with pytest.raises(DataError, match="average"):
        marginal_means(fit, "treatment", average="subjects")
    with pytest.raises(DataError, match="'time'"):
        marginal_effects(fit, "time")
    with pytest.raises(DataError, match="one dimension"):
        marginal_effects(fit, "treatment", at={"time": [0, 12], "id": [1, 2]})
    with pytest.raises(DataError, match="no design"):
        marginal_means(replace(fit, design=None), "treatment")
    several = replace(fit, formula=replace(fit.formula, random_terms=fit.formula.random_terms * 2))
    with pytest.raises(DataError, match="one random-effect term"):
        marginal_means(several, "treatment")
    with pytest.raises(DataError, match="reference 'placebo'"):
        marginal_effects(fit, "treatment", reference="placebo")
    with pytest.raises(DataError, match="odds"):
        marginal_effects(fitted("epil_agq25"), "trt", contrast="logor")


def test_glmm_stays_callable_after_importing_its_modules():
    """``trialmlm.glmm`` is the function after modules of ``trialmlm.glimmix`` are imported (above)."""
    fit = trialmlm.glmm("y ~ treatment * time + (1 | id)", data("toenail"), method="laplace")
    assert fit.loglik == pytest.approx(-627.808935, abs=1e-5)  # glmer, tests/reference/glmm README


def test_visit_factor_by():
    """by= a visit factor: one mean per arm and visit; rows and grid agree (no other covariates);
    the three odds ratios per visit, visit-major."""
    frame = data("toenail").assign(VISIT=lambda d: "V" + d["visit"].astype(str))
    fit = trialmlm.glmm("y ~ treatment * VISIT + (1 | id)", frame, method="laplace")
    grid = marginal_means(fit, "treatment", by="VISIT")
    rows = marginal_means(fit, "treatment", by="VISIT", average="rows")
    assert list(grid.columns[:2]) == ["treatment", "VISIT"] and len(grid) == 14
    np.testing.assert_allclose(rows["estimate"], grid["estimate"], rtol=1e-12)
    gee = trialmlm.gee("y ~ treatment * VISIT", frame, family="binomial", working="exchangeable",
                       subject="id", visit="VISIT")
    table = conditional_vs_marginal(fit, gee, "treatment", by="VISIT")
    assert list(table["VISIT"]) == [f"V{k}" for k in range(1, 8) for _ in range(3)]
    conditional = table[table["model"] == "GLMM conditional"]
    coef = dict(zip(fit.names, fit.beta))
    main = coef["treatment[T.terbinafine]"]
    expected = [main] + [main + coef[f"treatment[T.terbinafine]:VISIT[T.V{k}]"] for k in range(2, 8)]
    np.testing.assert_allclose(conditional["estimate"], expected, rtol=1e-10)
