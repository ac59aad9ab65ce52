"""trialmlm.glmm with several random-effect terms (trialmlm/glimmix/multilevel.py, multilevel_fit.py)
vs lme4 glmer by the Laplace approximation (tests/reference/glmm_multilevel/make_multilevel_refs.R):
lme4's VerbAgg (respondents crossed with items), a simulated nested trial (subjects within
sites: random intercepts, and a random intercept + slope per subject; binary and Poisson with
an offset) and lme4's cbpp with an observation-level random effect.  The reference SEs are
from the Richardson-extrapolated Hessian of glmer's deviance in (theta, beta) (numDeriv)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import BoundaryWarning, FormulaError
from trialmlm.glimmix import glmm

REF = Path(__file__).parent / "reference" / "glmm_multilevel"
REFS = json.loads((REF / "multilevel_refs.json").read_text())

CASES = {
    "verbagg": ("verbagg.csv", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", {}),
    "nested_ri": ("nested_trial.csv", "CRIT1FL ~ TRT * AVISIT + (1 | SITE) + (1 | USUBJID)", {}),
    "nested_slope": ("nested_trial.csv", "CRIT1FL ~ TRT * AVISIT + (1 | SITE) + (1 + WEEK | USUBJID)", {}),
    "nested_poisson": ("nested_trial.csv", "COUNT ~ TRT * AVISIT + (1 | SITE) + (1 | USUBJID)",
                       {"family": "poisson", "offset": "LOGEXP"}),
    "cbpp_obs": ("cbpp_obs.csv", "incidence ~ period + (1 | herd) + (1 | obs)", {"trials": "size"}),
}


@pytest.fixture(scope="module")
def fits():
    out = {}
    for key, (csv, formula, options) in CASES.items():
        out[key] = glmm(formula, pd.read_csv(REF / csv), method="laplace", **options)
    return out


@pytest.mark.parametrize("key", list(CASES))
def test_matches_glmer_laplace(fits, key):
    fit, ref = fits[key], REFS["fits"][key]
    table = fit.coef_table()
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(table["estimate"], ref["fixef"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(table["se"], ref["se_fixef_numderiv"], rtol=1e-4)
    assert fit.n_parameters == ref["n_par"]
    assert fit.aic == pytest.approx(ref["aic"], abs=2e-5)
    cov = fit.covariance_parameters
    for term in ref["terms"]:
        G = np.array(term["G"], ndmin=2)
        rows, cols = np.tril_indices(G.shape[0])
        mine = cov.loc[cov["subject"] == term["factor"], "estimate"].to_numpy()
        np.testing.assert_allclose(mine, G[rows, cols], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("key", list(CASES))
def test_modes_per_grouping_factor_match_ranef(fits, key):
    fit, ref = fits[key], REFS["fits"][key]
    for term in ref["terms"]:
        mine = fit.modes.loc[term["factor"]].dropna(axis=1, how="all")
        mine.index = mine.index.astype(str)
        expected = np.array(term["modes"], ndmin=2).T
        np.testing.assert_allclose(mine.loc[term["levels"]].to_numpy(), expected, rtol=1e-3, atol=1e-4)


def test_random_names_and_blocks(fits):
    fit = fits["nested_slope"]
    assert fit.random_names == ("SITE:Intercept", "USUBJID:Intercept", "USUBJID:WEEK")
    assert fit.blocks == (("SITE", 1), ("USUBJID", 2))
    assert fit.G[0, 1] == fit.G[0, 2] == 0.0
    cov = fit.covariance_parameters
    assert cov["parameter"].tolist() == ["UN(1,1)", "UN(1,1)", "UN(2,1)", "UN(2,2)"]
    assert cov["subject"].tolist() == ["SITE", "USUBJID", "USUBJID", "USUBJID"]
    assert list(fit.modes.index.names) == ["group", "level"]
    assert fit.modes.loc["SITE"].shape == (20, 2) and fit.modes.loc["USUBJID"].shape == (300, 2)


def test_quadrature_needs_one_term():
    data = pd.read_csv(REF / "cbpp_obs.csv")
    with pytest.raises(FormulaError, match="quadrature needs one random-effect term; use method='laplace'"):
        glmm("incidence ~ period + (1 | herd) + (1 | obs)", data, trials="size", method="quad")


def test_block_factor_matches_dense_algebra():
    from trialmlm.glimmix.multilevel import BlockFactor

    rng = np.random.default_rng(3)
    L, q, R = 7, 2, 4
    B = rng.normal(size=(L * q + R, L * q + R))
    H = B @ B.T + np.eye(L * q + R)
    for i in range(L):  # H11 block diagonal
        for j in range(L):
            if i != j:
                H[i * q:(i + 1) * q, j * q:(j + 1) * q] = 0.0
    H += (L * q + R) * np.eye(L * q + R)
    h11 = np.array([H[i * q:(i + 1) * q, i * q:(i + 1) * q] for i in range(L)])
    h12 = H[:L * q, L * q:].reshape(L, q, R)
    factor = BlockFactor(h11, h12, H[L * q:, L * q:])
    b = rng.normal(size=L * q + R)
    assert factor.log_det == pytest.approx(np.linalg.slogdet(H)[1], rel=1e-12)
    np.testing.assert_allclose(factor.solve(b), np.linalg.solve(H, b), rtol=1e-10)



@pytest.mark.parametrize("family, link, formula", [
    ("binomial", "logit", "CRIT1FL ~ TRT + WEEK + (1 | SITE) + (1 + WEEK | USUBJID)"),
    ("poisson", "log", "COUNT ~ TRT + WEEK + (1 + WEEK | SITE) + (1 | USUBJID)"),
])
def test_analytic_gradient_matches_central_differences(family, link, formula):
    from trialmlm.engine.design import build_design
    from trialmlm.engine.formula import parse_formula
    from trialmlm.genmod.families import get_family
    from trialmlm.glimmix.conditional import Conditional
    from trialmlm.glimmix.multilevel import LaplaceProblem, design_terms

    data = pd.read_csv(REF / "nested_trial.csv")
    parsed = parse_formula(formula)
    design = build_design(data, parsed, None, False)
    fam = get_family(family)
    y, w = fam.check(design.y, None, parsed.response, design.row_index)
    offset = np.zeros_like(y) if family == "binomial" else data["LOGEXP"].to_numpy()[design.row_position]
    problem = LaplaceProblem(design.X, offset, design_terms(design, parsed), Conditional.of(fam, link, y, w))
    p = design.n_fixed
    x = np.concatenate([np.random.default_rng(0).normal(0, 0.3, p), np.full(problem.n_theta, -0.5)])
    analytic = problem.gradient(x[:p], x[p:], problem.mode(x[:p], x[p:]))
    numeric = [(problem.mode(x[:p] + e[:p], x[p:] + e[p:]).loglik
                - problem.mode(x[:p] - e[:p], x[p:] - e[p:]).loglik) / 2e-5 for e in 1e-5 * np.eye(x.size)]
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-5)


def test_variance_at_boundary_is_held_at_zero_and_gives_the_one_term_fit():
    # VerbAgg's first 2,000 rows: 7 items, whose variance goes to 0; the model is then (1 | id) alone,
    # which the single-term engine fits by its own (per-subject) Laplace approximation
    data = pd.read_csv(REF / "verbagg.csv").head(2000)
    with pytest.warns(BoundaryWarning, match="item:Intercept"):
        fit = glmm("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", data, method="laplace")
    one = glmm("r2 ~ Anger + Gender + btype + situ + (1 | id)", data, method="laplace")
    assert fit.converged and fit.G[1, 1] == 0.0 and fit.theta[1] == -np.inf
    assert fit.loglik == pytest.approx(one.loglik, abs=1e-8)
    np.testing.assert_allclose(fit.beta, one.beta, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.diag(fit.vcov), np.diag(one.vcov), rtol=1e-4)
    assert fit.G[0, 0] == pytest.approx(one.G[0, 0], rel=1e-6)
    assert fit.n_parameters == one.n_parameters
