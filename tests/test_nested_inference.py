"""Kenward-Roger and sandwich inference with several grouping factors.

Against R (tests/reference/make_nested_refs.R -> nested_refs.json):

* Kenward-Roger: pbkrtest 0.5.2 on the lmer fits ``(1 | SITE) + (1 | USUBJID)``,
  ``(1 | SITE) + (1 + WEEK | USUBJID)`` (nested.csv) and ``(1 | RATER) + (1 | USUBJID)``
  (crossed.csv): ``vcovAdj(fit)``, ``get_Lb_ddf(fit, L)`` per coefficient,
  ``KRmodcomp(fit, L)`` for 2- and 3-row hypotheses, lmerTest's
  ``anova(fit, type = 3, ddf = "Kenward-Roger")`` and emmeans (``lmer.df =
  "kenward-roger"``) LS means of ARM at WEEK 16 and at the mean WEEK, PBO - ACT and
  emtrends slopes.  pbkrtest uses the expected information, so these fits get
  ``W = 2 [tr(P V_h P V_j)]^-1`` (helpers.with_expected_information).  Adjusted covariance
  and SEs 1e-5 relative, df 1e-4, F 1e-5.
* Sandwich: clubSandwich 0.5.8 ``vcovCR(lme_fit, cluster = nested$SITE, type = "CR0" /
  "CR2" / "CR3")`` on the nlme fits of ``~ 1 | SITE/USUBJID``, ``list(SITE = ~ 1,
  USUBJID = ~ 1 + WEEK)`` and ``~ 1 | SITE/USUBJID`` + ``corAR1``; SEs 1e-6 relative.

Without an external reference (AR(1) residuals: KR's second-derivative term; weights;
three factors; a site random slope) the Woodbury and cluster code is checked against
dense evaluations of the same formulas.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import dense_covariance, dense_gls, with_expected_information

import trialmlm
from trialmlm.errors import DataError

REFERENCE = Path(__file__).parent / "reference"
CASES = {c["name"]: c for c in json.loads((REFERENCE / "nested_refs.json").read_text())["cases"]}
COEF = {"(Intercept)": "Intercept", "ARMPBO": "ARM[T.PBO]", "WEEK": "WEEK", "ARMPBO:WEEK": "ARM[T.PBO]:WEEK"}
KR_CASES = ["nested_ri_reml", "nested_slope_reml", "crossed_ri_reml"]
SANDWICH_CASES = ["nested_ri_reml", "nested_slope_reml", "nested_ar1_reml"]
KINDS = [("empirical", "CR0"), ("empirical-bias-reduced", "CR2"), ("empirical-jackknife", "CR3")]


def _data(csv: str, weighted: bool = False) -> pd.DataFrame:
    d = pd.read_csv(REFERENCE / csv)
    return d.assign(W=1.0 + (np.arange(len(d)) % 3) / 2) if weighted else d


@pytest.fixture(scope="module")
def fits():
    names = sorted(set(KR_CASES + SANDWICH_CASES))
    return {n: trialmlm.fit(CASES[n]["formula"], _data(CASES[n]["data"])) for n in names}


@pytest.fixture(scope="module")
def expected(fits):
    """The Kenward-Roger cases with pbkrtest's expected information."""
    return {n: with_expected_information(fits[n]) for n in KR_CASES}


def _kr(name: str) -> dict:
    case = CASES[name]
    return case["lmer"]["kenward_roger"] if "lmer" in case else case["kenward_roger"]


@pytest.mark.parametrize("name", KR_CASES)
def test_kenward_roger_adjusted_covariance_and_df(expected, name):
    fit, ref = expected[name], _kr(name)
    names = [COEF[n] for n in ref["names"]]
    ours = pd.DataFrame(fit.kenward_roger_vcov(), index=fit.coef_names, columns=fit.coef_names)
    va = np.array(ref["vcov_adjusted"])
    np.testing.assert_allclose(ours.loc[names, names].to_numpy(), va, rtol=1e-5,
                               atol=1e-5 * np.abs(np.diag(va)).max())
    table = fit.coef_table(ddf="kenward-roger")
    for rows in (ref["coef"], ref["coef_lmertest"]):
        for row in rows:
            got = table.loc[COEF[row["name"]]]
            assert got["estimate"] == pytest.approx(row["estimate"], rel=1e-6, abs=1e-6 * row["se"])
            assert got["se"] == pytest.approx(row["se"], rel=1e-5)
            assert got["df"] == pytest.approx(row["df"], rel=1e-4)
    # linear in the variances and covariances: KR(LINEAR) is the same here
    np.testing.assert_allclose(fit.kenward_roger_vcov(linear=True), fit.kenward_roger_vcov(), rtol=1e-12)


@pytest.mark.parametrize("name", KR_CASES)
def test_kenward_roger_joint_f_tests(expected, name):
    fit = expected[name]
    for ref in _kr(name)["joint"]:
        L = [{COEF[c]: 1.0} for c in ref["coefficients"]]
        got = fit.contrast(L, ddf="kenward-roger", joint=True).iloc[0]
        assert got["num_df"] == ref["num_df"]
        assert got["F"] == pytest.approx(ref["F"], rel=1e-5)
        assert got["den_df"] == pytest.approx(ref["den_df"], rel=1e-4)
        assert got["p"] == pytest.approx(ref["p"], rel=1e-4)


@pytest.mark.parametrize("name", KR_CASES)
def test_kenward_roger_type_three_tests(expected, name):
    ours = expected[name].anova(ddf="kenward-roger")
    ref = pd.DataFrame(_kr(name)["anova_type3"]).set_index("term")
    assert sorted(ours.index) == sorted(ref.index)
    ref = ref.loc[ours.index]
    np.testing.assert_array_equal(ours["num_df"], ref["num_df"])
    np.testing.assert_allclose(ours["F"], ref["F"], rtol=1e-5)
    np.testing.assert_allclose(ours["den_df"], ref["den_df"], rtol=1e-4)


def _compare(ours: pd.DataFrame, ref: list, keys: list[str]):
    merged = ours.merge(pd.DataFrame(ref), on=keys, suffixes=("", "_ref"))
    assert len(merged) == len(ref) > 0
    np.testing.assert_allclose(merged["estimate"], merged["estimate_ref"], rtol=1e-6,
                               atol=1e-6 * merged["se_ref"].max())
    np.testing.assert_allclose(merged["se"], merged["se_ref"], rtol=1e-5)
    np.testing.assert_allclose(merged["df"], merged["df_ref"], rtol=1e-4)


@pytest.mark.parametrize("name", KR_CASES)
def test_kenward_roger_lsmeans_match_emmeans(expected, name):
    fit, em = expected[name], _kr(name)["emmeans"]
    assert fit.design.fixed_frame["WEEK"].mean() == pytest.approx(em["mean_week_value"], rel=1e-12)
    kr = {"ddf": "kenward-roger"}
    _compare(fit.lsmeans("ARM", at={"WEEK": 16}, **kr), em["week16"], ["ARM"])
    _compare(fit.compare("ARM", reference="ACT", at={"WEEK": 16}, **kr), em["week16_differences"],
             ["contrast"])
    _compare(fit.lsmeans("ARM", **kr), em["mean_week"], ["ARM"])
    _compare(fit.compare("ARM", reference="ACT", **kr), em["mean_week_differences"], ["contrast"])
    _compare(fit.lsmeans("ARM", slope="WEEK", **kr), em["slopes"], ["ARM"])


def test_kenward_roger_observed_information(fits, expected):
    """SAS's default (observed information) moves the df by up to 7 % here, the SEs by less
    than 1e-3."""
    obs = fits["nested_slope_reml"].coef_table(ddf="kenward-roger")
    exp = expected["nested_slope_reml"].coef_table(ddf="kenward-roger")
    assert np.abs(obs["se"] / exp["se"] - 1).max() < 1e-3
    assert 1e-3 < np.abs(obs["df"] / exp["df"] - 1).max() < 0.1
    default = trialmlm.fit(CASES["nested_slope_reml"]["formula"], _data("nested.csv"), ddf="kenward-roger")
    pd.testing.assert_frame_equal(default.coef_table(), obs, rtol=1e-10)


@pytest.mark.parametrize("name", SANDWICH_CASES)
@pytest.mark.parametrize("kind, key", KINDS)
def test_sandwich_by_site_matches_clubsandwich(fits, name, kind, key):
    fit, ref = fits[name], CASES[name]["sandwich"][key]
    names = [COEF[n] for n in ref["names"]]
    ours = pd.DataFrame(fit.empirical_vcov(kind), index=fit.coef_names, columns=fit.coef_names)
    ours = ours.loc[names, names].to_numpy()
    np.testing.assert_allclose(np.sqrt(np.diag(ours)), ref["se"], rtol=1e-6)
    expected = np.array(ref["matrix"])
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6 * np.abs(np.diag(expected)).max())
    table = fit.coef_table(vcov=kind, ddf="residual")
    np.testing.assert_allclose(table.loc[names, "se"], ref["se"], rtol=1e-6)


# -- dense evaluations of the formulas (no external reference) ------------------------------
DENSE = [
    ("Y ~ ARM * WEEK + (1 | SITE) + (1 | USUBJID) + ar1(WEEK | USUBJID)", "nested.csv", None),
    ("Y ~ ARM * WEEK + (1 + WEEK || SITE) + (1 | USUBJID)", "nested.csv", "W"),
    ("Y ~ ARM * WEEK + (1 | SITE) + (1 + WEEK | USUBJID) + ar1(WEEK | USUBJID)", "nested.csv", "W"),
    ("Y ~ ARM * WEEK + (1 | RATER) + (1 + WEEK | SITE) + (1 | USUBJID)", "crossed.csv", "W"),
]


@pytest.fixture(scope="module")
def dense_fits():
    return [trialmlm.fit(f, _data(csv, weighted=True), weights=w) for f, csv, w in DENSE]


@pytest.mark.parametrize("index", range(len(DENSE)))
def test_kenward_roger_terms_equal_dense_formulas(dense_fits, index):
    """sum_hj W_hj (Q_hj - R_hj / 4) from the Woodbury code against the dense n x n formula,
    and the adjusted covariance C + 2C(... - sum W_hj P_h C P_j)C with analytic P_h."""
    fit = dense_fits[index]
    X, V, dV, d2V, Vi, C = dense_gls(fit)
    W = fit.phi_cov
    Xt = Vi @ X
    U = np.einsum("hab,bp->hap", dV, Xt)  # V_h V^-1 X
    P = -np.einsum("ap,haq->hpq", Xt, U)
    np.testing.assert_allclose(-P, fit.jac_info, rtol=1e-9, atol=1e-12 * np.abs(P).max())
    Y = np.tensordot(W, U, axes=([1], [0]))
    Q = np.einsum("hap,ab,hbq->pq", U, Vi, Y)
    R = Xt.T @ np.tensordot(W, d2V, axes=([0, 1], [0, 1])) @ Xt
    lik = fit.likelihood
    tol = {"rtol": 1e-9, "atol": 1e-9 * np.abs(Q).max()}
    np.testing.assert_allclose(lik.kenward_roger_terms(fit.phi, W, True), Q, **tol)
    np.testing.assert_allclose(lik.kenward_roger_terms(fit.phi, W, False), Q - 0.25 * R, **tol)
    pcp = np.einsum("hj,hpa,ab,jbq->pq", W, P, C, P)
    for linear, total in ((True, Q), (False, Q - 0.25 * R)):
        expected = C + 2 * C @ (total - pcp) @ C
        np.testing.assert_allclose(fit.kenward_roger_vcov(linear), expected, rtol=1e-8,
                                   atol=1e-8 * np.abs(np.diag(C)).max())


@pytest.mark.parametrize("index", range(3))
def test_sandwich_equals_dense_site_blocks(dense_fits, index):
    """CR0, CR2, CR3 with dense per-site blocks of V (weighted models, AR(1) residuals, a
    diagonal site G with a slope)."""
    fit = dense_fits[index]
    d = fit.design
    X, e = d.X, d.y - d.X @ fit.beta
    V, _, _ = dense_covariance(fit)
    C = fit.beta_cov
    site = d.outer[0].codes
    assert fit.likelihood.n_clusters == d.outer[0].labels.size
    meats = {k: np.zeros_like(C) for k, _ in KINDS}
    for s in range(d.outer[0].labels.size):
        r = np.flatnonzero(site == s)
        Vs = V[np.ix_(r, r)]
        assert np.abs(V[np.ix_(r, np.flatnonzero(site != s))]).max() == 0.0  # independent blocks
        Vi = np.linalg.inv(Vs)
        D = np.linalg.cholesky(Vs).T  # D'D = V_s
        w, v = np.linalg.eigh(D @ (Vs - X[r] @ C @ X[r].T) @ D.T)
        A2 = D.T @ v @ np.diag(w ** -0.5) @ v.T @ D
        for kind, u in (("empirical", X[r].T @ Vi @ e[r]),
                        ("empirical-bias-reduced", X[r].T @ Vi @ A2 @ e[r]),
                        ("empirical-jackknife", X[r].T @ np.linalg.solve(Vs - X[r] @ C @ X[r].T, e[r]))):
            meats[kind] += np.outer(u, u)
    for kind, meat in meats.items():
        np.testing.assert_allclose(fit.empirical_vcov(kind), C @ meat @ C, rtol=1e-8, atol=1e-12)


def test_cluster_chunks_do_not_change_the_sandwich(dense_fits):
    fit = dense_fits[1]
    lik = fit.likelihood
    whole = list(lik.cluster_covariances(fit.phi))
    small = list(lik.cluster_covariances(fit.phi, max_elements=1))
    assert len(whole) == 1 and len(small) == lik.n_clusters
    rows = np.concatenate([r[r >= 0] for r, _ in small])
    np.testing.assert_array_equal(np.sort(rows), np.arange(fit.n_obs))
    for r, v in small:
        (j,) = [j for j in range(whole[0][0].shape[0]) if set(whole[0][0][j]) - {-1} == set(r[0]) - {-1}]
        k = int((r[0] >= 0).sum())
        order = [list(whole[0][0][j]).index(x) for x in r[0][:k]]
        np.testing.assert_array_equal(v[0][:k, :k], whole[0][1][j][np.ix_(order, order)])


# -- what stays refused ----------------------------------------------------------------------
def test_crossed_factors_have_no_sandwich(fits):
    fit = fits["crossed_ri_reml"]
    assert fit.likelihood.n_clusters == 1
    with pytest.raises(DataError, match="vcov='empirical' needs independent clusters.*RATER"):
        fit.coef_table(vcov="empirical")
    with pytest.raises(DataError, match="needs independent clusters"):
        fit.empirical_vcov("empirical-jackknife")
    with pytest.raises(DataError, match="needs independent clusters"):
        trialmlm.fit(CASES["crossed_ri_reml"]["formula"], _data("crossed.csv"), vcov="empirical")


def test_between_within_is_refused_and_sandwich_defaults_to_containment(fits):
    fit = fits["nested_ri_reml"]
    with pytest.raises(DataError, match="between-within df are not available.*SITE"):
        fit.coef_table(ddf="between-within")
    with pytest.raises(DataError, match="between-within df are not available"):
        trialmlm.fit(CASES["nested_ri_reml"]["formula"], _data("nested.csv"), ddf="between-within")
    table = fit.coef_table(vcov="empirical")  # SAS: DDFM=CONTAIN is the default with RANDOM effects
    np.testing.assert_array_equal(table["df"], fit.coef_table(ddf="containment")["df"])
    robust = trialmlm.fit(CASES["nested_ri_reml"]["formula"], _data("nested.csv"), vcov="empirical")
    assert robust.settings.ddf == "containment"
    np.testing.assert_allclose(robust.coef_table()["se"], table["se"], rtol=1e-12)
    with pytest.raises(DataError, match="cannot be combined"):
        fit.coef_table(ddf="kenward-roger", vcov="empirical")
