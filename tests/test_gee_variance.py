"""Small-sample corrected sandwiches of trialmlm.genmod.variance against R geesmv 1.3 and the
direct matrix formulas of tests/reference/gee_published/make_small_sample_refs.R (written to
small_sample_refs.json), at geesmv's own (gee) estimates and at geepack geeglm's, and the
degrees of freedom of trialmlm.genmod.ztests against R saws (tests/reference/gee_small/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.genmod.degrees import DF_METHODS
from trialmlm.genmod.scoring import evaluate
from trialmlm.genmod.variance import VARIANCES

PUBLISHED = Path(__file__).parent / "reference" / "gee_published"
REFS = json.loads((PUBLISHED / "small_sample_refs.json").read_text())
CASES = ["six_exch", "six_ar1", "epil_exch", "epil_ar1"]
OURS = {"lz": "robust", "md": "md", "kc_principal": "kc", "fg": "fg", "mbn": "mbn"}


def fit_case(name: str, **kwargs):
    """The case's model with geepack's moment estimators; Six Cities' city as a kingston
    indicator (R's reference level portage)."""
    working = "exchangeable" if name.endswith("exch") else "ar1"
    if name.startswith("six"):
        data = pd.read_csv(PUBLISHED / "six_cities.csv")
        data["kingston"] = (data["city"] == "kingston").astype(float)
        return trialmlm.gee("wheeze ~ kingston + age + smoke", data, family="binomial", working=working,
                            subject="case", visit="age", moments="geepack", tol=1e-12, **kwargs)
    data = pd.read_csv(PUBLISHED / "epil.csv")
    return trialmlm.gee("y ~ trt + lbase + lage + V4", data, family="poisson", working=working,
                        subject="subject", visit="period", moments="geepack", tol=1e-12, **kwargs)


@pytest.fixture(scope="module", params=CASES)
def case(request):
    return request.param, REFS[request.param], fit_case(request.param)


@pytest.mark.parametrize("at, key", [("gee", "direct_at_gee"), ("geeglm", "direct_at_geeglm")])
def test_corrections_at_given_estimates(case, at, key):
    """Every correction evaluated at the stored beta and alpha equals R's full matrix to 1e-6."""
    _, ref, fit = case
    beta = np.array(list(ref[at]["coefficients"].values()))
    est = evaluate(fit.problem, beta, [ref[at]["alpha"]])
    for theirs, ours in OURS.items():
        np.testing.assert_allclose(VARIANCES[ours].compute(fit.problem, est), np.array(ref[key][theirs]),
                                   rtol=1e-6, atol=0, err_msg=theirs)


def test_geesmv_diagonals(case):
    """geesmv's own variances (diagonals) at gee's estimates: LZ, MD, FG, MBN equal; its KC
    differs from the principal root (module docstring of trialmlm.genmod.variance)."""
    name, ref, fit = case
    est = evaluate(fit.problem, np.array(list(ref["gee"]["coefficients"].values())), [ref["gee"]["alpha"]])
    for theirs in ("lz", "md", "fg", "mbn"):
        got = np.diag(VARIANCES[OURS[theirs]].compute(fit.problem, est))
        np.testing.assert_allclose(got, list(ref["geesmv"][theirs].values()), rtol=1e-6, err_msg=theirs)
    kc = np.diag(VARIANCES["kc"].compute(fit.problem, est))
    assert not np.allclose(kc, list(ref["geesmv"]["kc"].values()), rtol=1e-3)


def test_corrections_at_own_fit(case):
    """The engine with geepack's moments, converged, is within geeglm's default convergence
    (epsilon 1e-4, used by the R script: its beta is off by ~3e-6) of geeglm's beta and
    alpha, so fit.cov(name) agrees with R's corrected covariances at geeglm's estimates to 1e-3."""
    _, ref, fit = case
    np.testing.assert_allclose(fit.beta, list(ref["geeglm"]["coefficients"].values()), rtol=1e-4, atol=1e-5)
    for theirs, ours in OURS.items():
        np.testing.assert_allclose(fit.cov(ours), np.array(ref["direct_at_geeglm"][theirs]), rtol=1e-3,
                                   atol=1e-6, err_msg=theirs)


def test_corrections_are_batched_by_pattern():
    """With intermittent missing visits (several cluster patterns) a correction equals the
    same formula computed subject by subject."""
    data = pd.read_csv(PUBLISHED / "epil.csv")
    data = data.drop(index=data.index[(data["subject"] % 5 == 0) & (data["period"] == 2)])
    fit = trialmlm.gee("y ~ trt + lbase + lage + V4", data, family="poisson", working="exchangeable",
                       subject="subject", visit="period")
    est, problem = fit.estimate, fit.problem
    bread = np.linalg.inv(est.H)
    R = problem.correlation(est.alpha)
    f, rt, _ = problem.standardised(problem.linear_predictor(est.beta))
    Dt = f[:, None] * problem.X
    meat = np.zeros_like(bread)
    for i in range(problem.clusters.n_subjects):
        rows = np.flatnonzero(problem.clusters.subject == i)
        L = np.linalg.cholesky(R[np.ix_(problem.clusters.position[rows], problem.clusters.position[rows])])
        D, r = np.linalg.solve(L, Dt[rows]), np.linalg.solve(L, rt[rows])
        u = D.T @ np.linalg.solve(np.eye(len(rows)) - D @ bread @ D.T, r)
        meat += np.outer(u, u)
    np.testing.assert_allclose(fit.cov("md"), bread @ meat @ bread, rtol=1e-10)


def test_unknown_variance_is_named():
    with pytest.raises(trialmlm.errors.DataError, match="vcov must be one of robust, model, md, kc, fg, mbn"):
        fit_case("epil_exch", vcov="hc3")


SAWS = json.loads((Path(__file__).parent / "reference" / "gee_small" / "saws_refs.json").read_text())


@pytest.mark.parametrize("name", ["six_exch", "epil_exch"])
@pytest.mark.parametrize("method, vcov", [("d5", "fg"), ("d3", "robust")])
def test_fay_graubard_df_matches_saws(name, method, vcov):
    """R saws's df (and SE) at gee's estimates, for each coefficient and one contrast."""
    ref = SAWS[name]
    fit = fit_case(name)
    est = evaluate(fit.problem, np.array(list(ref["coefficients"].values())), [ref["alpha"]])
    rows = ref["saws"][method]
    L = np.array([r["test"] for r in rows], dtype=float)
    got = DF_METHODS["fg"].rows(fit.problem, est, vcov, L)
    np.testing.assert_allclose(got, [r["df"] for r in rows], rtol=1e-6)
    cov = VARIANCES[vcov].compute(fit.problem, est)
    se = np.sqrt(np.einsum("ri,ij,rj->r", L, cov, L))
    np.testing.assert_allclose(se, [r["se"] for r in rows], rtol=1e-6)
