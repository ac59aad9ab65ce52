"""Vectorised inference quantities against naive dense-matrix evaluations of their formulas.

The references in test_inference_mmrm.py / test_inference_r.py pin the numbers to R; these
tests pin the pattern-wise vectorised code to the textbook formulas on small data, for
nonlinear structures, weights and per-group matrices where no external reference exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import dense_covariance, dense_gls

import trialmlm


@pytest.fixture(scope="module")
def small(trial3):
    keep = trial3["USUBJID"].isin(trial3["USUBJID"].unique()[:45])
    return trial3.loc[keep].reset_index(drop=True)


CASES = [
    ("CHG ~ BASE + TRT * AVISIT + toeph(AVISIT | USUBJID)", None),
    ("CHG ~ BASE + TRT * AVISIT + adh(AVISIT | USUBJID)", "WT"),
    ("CHG ~ BASE + TRT * AVISIT + ar1h(AVISIT | TRT / USUBJID)", None),
    ("CHG ~ BASE + TRT * AVISIT + sp_exp(TIME | USUBJID)", "WT"),
    ("CHG ~ BASE + TRT * AVISIT + csh(AVISIT | USUBJID)", None),
]


@pytest.mark.parametrize("formula, weights", CASES)
def test_kenward_roger_adjusted_covariance(small, formula, weights):
    fit = trialmlm.fit(formula, small, weights=weights)
    X, V, dV, d2V, Vi, C = dense_gls(fit)
    W = fit.phi_cov
    k = W.shape[0]
    P = [-X.T @ Vi @ dV[h] @ Vi @ X for h in range(k)]
    total_full = np.zeros_like(C)
    total_lin = np.zeros_like(C)
    for h in range(k):
        for j in range(k):
            Q = X.T @ Vi @ dV[h] @ Vi @ dV[j] @ Vi @ X
            R = X.T @ Vi @ d2V[h, j] @ Vi @ X
            base = W[h, j] * (Q - P[h] @ C @ P[j])
            total_lin += base
            total_full += base - 0.25 * W[h, j] * R
    np.testing.assert_allclose(fit.kenward_roger_vcov(False), C + 2 * C @ total_full @ C, rtol=1e-7,
                               atol=1e-10)
    np.testing.assert_allclose(fit.kenward_roger_vcov(True), C + 2 * C @ total_lin @ C, rtol=1e-7,
                               atol=1e-10)


@pytest.mark.parametrize("formula, weights", CASES[:3])
def test_sandwich_estimators(small, formula, weights):
    fit = trialmlm.fit(formula, small, weights=weights)
    d = fit.design
    X, e = d.X, d.y - d.X @ fit.beta
    V, _, _ = dense_covariance(fit)
    C = fit.beta_cov
    meats = {k: np.zeros_like(C) for k in ("empirical", "empirical-bias-reduced", "empirical-jackknife")}
    for s in range(d.subject_labels.size):
        r = np.flatnonzero(d.subject == s)
        Vi = np.linalg.inv(V[np.ix_(r, r)])
        L = np.linalg.cholesky(V[np.ix_(r, r)])
        Xt, et = np.linalg.solve(L, X[r]), np.linalg.solve(L, e[r])
        H = Xt @ C @ Xt.T
        D = L.T  # D'D = V_i
        w, v = np.linalg.eigh(D @ (V[np.ix_(r, r)] - X[r] @ C @ X[r].T) @ D.T)
        A2 = D.T @ v @ np.diag(w ** -0.5) @ v.T @ D  # Pustejovsky & Tipton (2018) CR2
        for kind, u in (("empirical", Xt.T @ et),
                        ("empirical-bias-reduced", X[r].T @ Vi @ A2 @ e[r]),
                        ("empirical-jackknife", Xt.T @ np.linalg.inv(np.eye(r.size) - H) @ et)):
            meats[kind] += np.outer(u, u)
        if s == 0:  # CR0 in the original scale: X' V^-1 e
            np.testing.assert_allclose(Xt.T @ et, X[r].T @ Vi @ e[r], rtol=1e-10, atol=1e-12)
    for kind, meat in meats.items():
        np.testing.assert_allclose(fit.empirical_vcov(kind), C @ meat @ C, rtol=1e-8, atol=1e-12)


def test_satterthwaite_df_from_finite_differences(small):
    """df = 2 (l'Cl)^2 / (g' W g) with g = d(l'Cl)/dphi by finite differences of the likelihood."""

    fit = trialmlm.fit(CASES[0][0], small)
    lik = fit.likelihood
    l = np.zeros(fit.n_fixed)
    l[[1, 3, 8]] = [1.0, -0.5, 2.0]
    g = np.zeros(fit.n_covariance_parameters)
    for h in range(g.size):
        step = np.zeros_like(g)
        step[h] = 1e-6 * max(1.0, abs(fit.phi[h]))
        g[h] = (l @ lik.evaluate(fit.phi + step).cov_beta @ l
                - l @ lik.evaluate(fit.phi - step).cov_beta @ l) / (2 * step[h])
    expected = 2 * (l @ fit.beta_cov @ l) ** 2 / (g @ fit.phi_cov @ g)
    got = fit.contrast(l[None, :])["df"].iloc[0]
    assert got == pytest.approx(expected, rel=1e-5)


def test_type_three_tests(small):
    fit = trialmlm.fit("CHG ~ BASE + REGION + TRT * AVISIT + ar1h(AVISIT | USUBJID)", small)
    table = fit.anova()
    assert list(table.index) == ["BASE", "REGION", "TRT", "AVISIT", "TRT:AVISIT"]
    assert list(table.columns) == ["num_df", "den_df", "F", "p", "chisq", "p_chisq"]
    assert list(table["num_df"]) == [1, 2, 2, 5, 10]
    coef = fit.coef_table()
    assert table.loc["BASE", "F"] == pytest.approx(coef.loc["BASE", "t"] ** 2, rel=1e-10)
    assert table.loc["BASE", "den_df"] == pytest.approx(coef.loc["BASE", "df"], rel=1e-10)
    inter = [c for c in fit.coef_names if ":" in c]
    joint = fit.contrast(pd.DataFrame(np.eye(len(inter)), columns=inter), joint=True)
    assert table.loc["TRT:AVISIT", "F"] == pytest.approx(joint["F"].iloc[0], rel=1e-8)
    assert table.loc["TRT:AVISIT", "den_df"] == pytest.approx(joint["den_df"].iloc[0], rel=1e-8)
    # TRT main effect: equal-weight average over visits of the arm differences
    diffs = fit.compare("TRT")
    assert len(diffs) == 2
    kr = fit.anova(ddf="kenward-roger")
    assert (kr["num_df"] == table["num_df"]).all()


def test_bonferroni_holm_dunnett(trial3):
    fit = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | USUBJID)", trial3)
    raw = fit.compare("TRT", by="AVISIT", reference="PBO")
    bonf = fit.compare("TRT", by="AVISIT", reference="PBO", adjust="bonferroni")
    np.testing.assert_allclose(bonf["p"], np.minimum(1, 2 * raw["p"]))
    assert (bonf["upper"] - bonf["lower"] > raw["upper"] - raw["lower"]).all()
    holm = fit.compare("TRT", by="AVISIT", reference="PBO", adjust="holm")
    first = raw[raw["AVISIT"] == "W16"]["p"].to_numpy()
    expected = np.sort(first) * np.array([2, 1])
    expected = np.maximum.accumulate(np.minimum(expected, 1))
    np.testing.assert_allclose(np.sort(holm[holm["AVISIT"] == "W16"]["p"]), expected)
    dun = fit.compare("TRT", by="AVISIT", reference="PBO", adjust="dunnett")
    assert (dun["p"] >= raw["p"] - 1e-4).all() and (dun["p"] <= bonf["p"] + 1e-4).all()


def test_slope_lsmeans():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(60):
        arm = ["A", "B"][i % 2]
        times = np.sort(rng.choice([0.0, 1, 2, 4, 7, 10], size=5, replace=False))
        for t in times:
            rows.append((f"S{i}", arm, t, 1 + (0.5 if arm == "B" else 0.2) * t + rng.normal()))
    d = pd.DataFrame(rows, columns=["ID", "ARM", "T", "Y"])
    fit = trialmlm.fit("Y ~ ARM * T + sp_exp(T | ID)", d)
    slopes = fit.lsmeans("ARM", slope="T")
    b = fit.coef
    np.testing.assert_allclose(slopes["estimate"], [b["T"], b["T"] + b["ARM[T.B]:T"]])
    diff = fit.compare("ARM", slope="T")
    assert diff["estimate"].iloc[0] == pytest.approx(b["ARM[T.B]:T"])
    assert diff["se"].iloc[0] == pytest.approx(np.sqrt(fit.vcov.loc["ARM[T.B]:T", "ARM[T.B]:T"]))


def test_non_estimable_lsmeans_are_nan(demo_trial):
    d = demo_trial.copy()
    d["ARMVIS"] = d["TRT"] + "_" + d["AVISIT"]
    fit = trialmlm.fit("CHG ~ TRT + ARMVIS + ar1(AVISIT | USUBJID)", d)
    assert fit.aliased
    with pytest.warns(trialmlm.DataWarning, match=r"LS mean\(s\) not estimable.*TRT=ACT"):
        ls = fit.lsmeans("TRT", by="ARMVIS")
    assert ls["estimate"].isna().any() and ls["estimate"].notna().any()


def test_inference_errors(trial3):
    from trialmlm import DataError

    fit = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | USUBJID)", trial3)
    with pytest.raises(DataError, match="'ARM' is not a factor of the mean model"):
        fit.lsmeans("ARM")
    with pytest.raises(DataError, match="reference 'CTRL' is not a level of 'TRT'"):
        fit.compare("TRT", reference="CTRL")
    with pytest.raises(DataError, match="ddf must be one of"):
        fit.lsmeans("TRT", ddf="kr")
    with pytest.raises(DataError, match="cannot be combined with vcov='empirical'"):
        fit.compare("TRT", ddf="kenward-roger", vcov="empirical")
    with pytest.raises(DataError, match="cannot be combined with vcov='empirical'"):
        trialmlm.fit("CHG ~ TRT + ar1(AVISIT | USUBJID)", trial3, ddf="kenward-roger", vcov="empirical")
    # without an explicit ddf a sandwich gets between-within df, as SAS EMPIRICAL does
    sandwich = fit.compare("TRT", vcov="empirical")
    assert (sandwich["df"] == fit.compare("TRT", ddf="between-within")["df"]).all()
    assert trialmlm.fit("CHG ~ TRT + ar1(AVISIT | USUBJID)", trial3, vcov="empirical").settings.ddf \
        == "between-within"
    with pytest.raises(DataError, match="unknown coefficient 'TRT'"):
        fit.contrast({"TRT": 1.0})
    with pytest.raises(DataError, match="slope='TRT' must be a numeric covariate"):
        fit.lsmeans("TRT", slope="TRT")
    with pytest.raises(DataError, match="vcov must be one of"):
        trialmlm.fit("CHG ~ TRT + ar1(AVISIT | USUBJID)", trial3, vcov="robust")


def test_between_within_df(demo_trial):
    """Schluchter & Elashoff: between = N_s - 1 - p_between, within = n - N_s - p_within; the
    intercept is between-subject (SAS)."""
    formula = "CHG ~ BASE + SEX + TRT * AVISIT + {}(AVISIT | USUBJID)"
    fit = trialmlm.fit(formula.format("ar1"), demo_trial)
    n_s, n = fit.n_subjects, fit.n_obs
    between, within = n_s - 1 - 3, n - n_s - 8  # BASE, SEX, TRT | 4 visit + 4 interaction columns
    table = fit.coef_table(ddf="between-within")
    assert table.loc["BASE", "df"] == between and table.loc["TRT[T.CTRL]", "df"] == between
    assert table.loc["AVISIT[T.V2]", "df"] == within and table.loc["Intercept", "df"] == between
    assert (fit.compare("TRT", by="AVISIT", ddf="between-within")["df"] == between).all()  # min rule
    us = trialmlm.fit(formula.format("us"), demo_trial).coef_table(ddf="between-within")
    assert (us["df"] == between).all()  # SAS: all effects get the between df under TYPE=UN
