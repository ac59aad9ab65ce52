"""Several grouping factors against R (tests/reference/make_nested_refs.R).

Subjects nested in sites (nested.csv): nlme::lme ``random = ~ 1 | SITE/USUBJID`` (REML, ML),
``list(SITE = ~ 1, USUBJID = ~ 1 + WEEK)`` and ``~ 1 | SITE/USUBJID`` with
``corAR1(form = ~ VISN | SITE/USUBJID)``; lme4 + lmerTest for Satterthwaite df.  Raters
crossed with subjects (crossed.csv): lme4 ``(1 | RATER) + (1 | USUBJID)`` + lmerTest.
Log-likelihood 1e-6 absolute; variance components, fixed effects, SEs and BLUPs 1e-5
relative; Satterthwaite df 1e-4 relative.  The BLUP prediction errors are checked against
dense formulas (the likelihood's gradient and Hessian: tests/test_multilevel.py).
Kenward-Roger and sandwich inference: tests/test_nested_inference.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError, FormulaError

REFERENCE = Path(__file__).parent / "reference"
REF = json.loads((REFERENCE / "nested_refs.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}
COEF = {"(Intercept)": "Intercept", "ARMPBO": "ARM[T.PBO]", "WEEK": "WEEK", "ARMPBO:WEEK": "ARM[T.PBO]:WEEK"}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / CASES[name]["data"])


@pytest.fixture(scope="module")
def fits():
    return {n: trialmlm.fit(c["formula"], _data(n), method=c["method"]) for n, c in CASES.items()}


def _components(case) -> dict:
    """Expected covariance parameters under trialmlm's names."""
    vc = case["variance_components"]
    if case["name"].startswith("crossed"):
        return {"Intercept RATER": vc["RATER"], "Intercept USUBJID": vc["USUBJID"], "Residual": vc["sigma2"]}
    g = np.array(vc["USUBJID"]["matrix"])
    out = {"Intercept SITE": vc["SITE"]["variance"], "Residual": vc["sigma2"]}
    rows, cols = np.tril_indices(g.shape[0])
    if g.shape[0] == 1:  # one random term: SAS's RANDOM INTERCEPT name
        out["Intercept USUBJID"] = g[0, 0]
    else:
        out.update({f"UN({a + 1},{b + 1}) USUBJID": g[a, b] for a, b in zip(rows, cols)})
    if "ar1_rho" in vc:
        out["AR(1)"] = vc["ar1_rho"]
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_loglik_covariance_fixed_effects(fits, name):
    fit, case = fits[name], CASES[name]
    assert fit.converged
    assert fit.n_obs == case["n_obs"] and fit.n_subjects == case["n_subjects"]
    assert fit.loglik == pytest.approx(case["loglik"], abs=1e-6)
    params = fit.covariance_parameters
    expected = _components(case)
    assert sorted(params.index) == sorted(expected)
    for key, value in expected.items():
        assert params[key] == pytest.approx(value, rel=1e-5, abs=1e-5 * max(map(abs, expected.values())))
    table = fit.coef_table()
    for row in case["fixed_effects"]:
        ours = table.loc[COEF[row["name"]]]
        assert abs(ours["estimate"] - row["estimate"]) <= 1e-5 * max(abs(row["estimate"]), row["se"])
        # nlme scales ML vcov by n/(n-p) (REML-type sigma); SAS uses (X'V^-1X)^-1 at the ML fit
        se = row["se"] * (np.sqrt((fit.n_obs - fit.n_fixed) / fit.n_obs) if case["method"] == "ML" else 1)
        assert ours["se"] == pytest.approx(se, rel=1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_blups_of_every_factor(fits, name):
    fit, case = fits[name], CASES[name]
    ours = fit.random_effects()
    assert list(ours) == list(case["blups"])
    for factor, rows in case["blups"].items():
        ref = pd.DataFrame(rows)
        got = np.array([ours[factor].loc[level, COEF.get(term, term)]
                        for level, term in zip(ref[factor], ref["term"])])
        scale = np.abs(ref["estimate"]).max()
        np.testing.assert_allclose(got, ref["estimate"], rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("name", ["nested_ri_reml", "nested_slope_reml", "crossed_ri_reml"])
def test_lmertest_satterthwaite(fits, name):
    case = CASES[name]
    rows = case["lmer"]["coef_satterthwaite"] if "lmer" in case else case["fixed_effects"]
    table = fits[name].coef_table()
    for row in rows:
        ours = table.loc[COEF[row["name"]]]
        assert ours["df"] == pytest.approx(row["df"], rel=1e-4)
        assert ours["p"] == pytest.approx(row["p"], rel=1e-4)


def test_covariance_parameter_se_match_numderiv(fits):
    """SEs of (site variance, vech G, sigma^2) from R's numerical Hessian of the REML loglik."""
    fit, case = fits["nested_slope_reml"], CASES["nested_slope_reml"]
    se = fit.covariance_parameters_table()["se"]
    names = ["Intercept SITE", "UN(1,1) USUBJID", "UN(2,1) USUBJID", "UN(2,2) USUBJID", "Residual"]
    np.testing.assert_allclose(se[names], case["checks"]["theta_se"], rtol=1e-4)


def _with_weights(csv: str) -> pd.DataFrame:
    d = pd.read_csv(REFERENCE / csv)
    return d.assign(W=1.0 + (np.arange(len(d)) % 3) / 2)


def _dense(fit):
    """Dense V and the random-effects design [Z_o Z_d] with block-diagonal G (rows in fit order)."""
    d = fit.design
    n = d.y.size
    blocks, gs = [], []
    for level, (_, _, g, _) in zip(d.outer, fit._factors()):
        z = np.zeros((n, level.labels.size, level.Z.shape[1]))
        z[np.arange(n), level.codes] = level.Z
        blocks.append(z.reshape(n, -1))
        gs.append(np.kron(np.eye(level.labels.size), g))
    if d.Z is not None:
        z = np.zeros((n, d.subject_labels.size, d.Z.shape[1]))
        z[np.arange(n), d.subject] = d.Z
        blocks.append(z.reshape(n, -1))
        gs.append(np.kron(np.eye(d.subject_labels.size), fit._g()))
    from scipy.linalg import block_diag

    return np.hstack(blocks), block_diag(*gs)


def test_weighted_crossed_likelihood_equals_dense(fits):
    """-2 REML loglik of a weighted three-factor model from the dense V = ZGZ' + W^-1/2 R W^-1/2."""
    data = _with_weights("crossed.csv")
    fit = trialmlm.fit("Y ~ ARM * WEEK + (1 | RATER) + (1 | SITE) + (1 + WEEK | USUBJID)", data, weights="W")
    d = fit.design
    Z, G = _dense(fit)
    V = Z @ G @ Z.T + np.diag(fit.residual_variance / d.weights)
    Vi = np.linalg.inv(V)
    A = d.X.T @ Vi @ d.X
    beta = np.linalg.solve(A, d.X.T @ Vi @ d.y)
    r = d.y - d.X @ beta
    n, p = d.X.shape
    m2ll = (n - p) * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + np.linalg.slogdet(A)[1] + r @ Vi @ r
    assert -2 * fit.loglik == pytest.approx(m2ll, abs=1e-8)
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-9)


def test_prediction_errors_match_mixed_model_equations(fits):
    """BLUP SEs and conditional-prediction SEs against the inverse of Henderson's equations."""
    fit = fits["nested_slope_reml"]
    d = fit.design
    Z, G = _dense(fit)
    s2 = fit.residual_variance
    X = d.X
    mme = np.block([[X.T @ X, X.T @ Z], [Z.T @ X, Z.T @ Z + s2 * np.linalg.inv(G)]]) / s2
    joint = np.linalg.inv(mme)
    p = X.shape[1]
    se = fit.random_effects(se=True)
    n_site = d.outer[0].labels.size
    np.testing.assert_allclose(se["SITE"]["se"], np.sqrt(np.diag(joint)[p:p + n_site]), rtol=1e-8)
    np.testing.assert_allclose(se["USUBJID"]["se"], np.sqrt(np.diag(joint)[p + n_site:]), rtol=1e-8)
    u = np.linalg.solve(mme, np.concatenate([X.T @ d.y, Z.T @ d.y]) / s2)
    data = _data("nested_slope_reml")
    pred = fit.predict(data.iloc[:5], conditional=True, se=True)
    rows = np.argsort(d.row_position)[:5]
    w = np.hstack([X, Z])[rows]
    np.testing.assert_allclose(pred["estimate"], w @ u, rtol=1e-9)
    np.testing.assert_allclose(pred["se"], np.sqrt(np.einsum("ni,ij,nj->n", w, joint, w)), rtol=1e-8)
    np.testing.assert_allclose(fit.predict(conditional=True).iloc[:5], pred["estimate"], rtol=1e-12)


def test_new_levels_predicted_at_zero(fits):
    fit = fits["nested_ri_reml"]
    new = _data("nested_ri_reml").iloc[:2].assign(SITE="S99", USUBJID="NEW")
    with pytest.warns(trialmlm.errors.DataWarning, match="SITE .S99."), \
            pytest.warns(trialmlm.errors.DataWarning, match="USUBJID .NEW."):
        got = fit.predict(new, conditional=True)
    np.testing.assert_allclose(got, fit.predict(new), rtol=1e-12)


def test_subject_is_the_factor_with_most_levels(fits):
    fit = trialmlm.fit("Y ~ ARM * WEEK + (1 | USUBJID) + (1 | SITE)", _data("nested_ri_reml"))
    assert fit.settings.subject == "USUBJID"
    assert fit.loglik == pytest.approx(fits["nested_ri_reml"].loglik, abs=1e-9)


def test_containment_df_by_rank_contributions(fits):
    """SAS DDFM=CONTAIN, rank contributions in order: SITE 12 - 1 = 11 for the intercept,
    USUBJID*WEEK for WEEK; ARM is contained in no random effect (n - rank[X Z])."""
    fit = fits["nested_slope_reml"]
    Z, _ = _dense(fit)
    X = fit.design.X
    n_site = fit.design.outer[0].labels.size
    r_x = np.linalg.matrix_rank(X)
    r_site = np.linalg.matrix_rank(np.hstack([X, Z[:, :n_site]]))
    r_int = np.linalg.matrix_rank(np.hstack([X, Z[:, :n_site], Z[:, n_site::2]]))
    r_all = np.linalg.matrix_rank(np.hstack([X, Z]))
    table = fit.coef_table(ddf="containment")["df"]
    assert table["Intercept"] == min(r_site - r_x, r_int - r_site) == 11
    assert table["WEEK"] == r_all - r_int
    assert table["ARM[T.PBO]"] == table["ARM[T.PBO]:WEEK"] == fit.n_obs - r_all


def test_names_summary_and_variance_partition(fits):
    fit, case = fits["nested_slope_reml"], CASES["nested_slope_reml"]
    g = fit.random_effects_covariance
    assert list(g.index) == ["SITE: Intercept", "USUBJID: Intercept", "USUBJID: WEEK"]
    assert g.iloc[0, 1] == 0.0
    text = fit.summary()
    assert "Intercept SITE" in text and "Levels of SITE" in text and "RANDOM (Intercept | SITE)" in text
    vc = case["variance_components"]
    tau2, gs, s2 = vc["SITE"]["variance"], np.array(vc["USUBJID"]["matrix"]), vc["sigma2"]
    part = fit.variance_partition(at={"WEEK": [0, 4]}).set_index("WEEK")
    for t in (0, 4):
        z = np.array([1.0, t])
        total = tau2 + z @ gs @ z + s2
        assert part.loc[t, "SITE"] == pytest.approx(tau2, rel=1e-5)
        assert part.loc[t, "total"] == pytest.approx(total, rel=1e-5)
        assert part.loc[t, "icc_SITE"] == pytest.approx(tau2 / total, rel=1e-5)
        assert part.loc[t, "icc_USUBJID"] == pytest.approx((tau2 + z @ gs @ z) / total, rel=1e-5)
    crossed = fits["crossed_ri_reml"].variance_partition().iloc[0]  # RATER is crossed: not in the ICC
    assert crossed["icc_USUBJID"] == pytest.approx(crossed["USUBJID"] / crossed["total"])


@pytest.mark.parametrize("call, message", [
    (lambda f: f.coef_table(ddf="between-within"), "between-within df are not available.*SITE"),
    (lambda f: f.shrinkage(), "one grouping factor only"),
])
def test_unsupported_inference_is_refused(fits, call, message):
    with pytest.raises(DataError, match=message):
        call(fits["nested_ri_reml"])


@pytest.mark.parametrize("formula, data, error, message", [
    ("Y ~ WEEK + (1 | SITE) + (1 | USUBJID)", lambda d: d.assign(SITE="S01"), DataError,
     "'SITE' has a single level"),
    ("Y ~ WEEK + (1 | SITE) + (1 | USUBJID)", lambda d: d.assign(SITE=d["USUBJID"]), DataError,
     "every level of 'SITE' holds exactly one subject"),
    ("Y ~ WEEK + (1 | SITE) + ar1(WEEK | ARM / USUBJID)", lambda d: d, FormulaError, "per-group residual"),
    ("Y ~ WEEK + (1 | SITE) + (1 | USUBJID) + cs(WEEK | USUBJID)", lambda d: d, FormulaError,
     "cannot be identified"),
    ("Y ~ WEEK + (1 | SITE/USUBJID)", lambda d: d, FormulaError, r"\(1 \| SITE\) \+ \(1 \| USUBJID\)"),
    ("Y ~ WEEK + (1 | SITE) + (WEEK | SITE) + (1 | USUBJID)", lambda d: d, FormulaError,
     "several random-effect terms for 'SITE'"),
    ("Y ~ WEEK + (1 | CENTRE) + (1 | USUBJID)", lambda d: d, FormulaError, "column 'CENTRE'"),
])
def test_bad_multilevel_models(formula, data, error, message):
    with pytest.raises(error, match=message):
        trialmlm.fit(formula, data(_data("nested_ri_reml")))


def test_site_with_residual_structure_only():
    """(1 | SITE) + ar1(...): no subject random effects; SITE's BLUPs only."""
    fit = trialmlm.fit("Y ~ ARM * WEEK + (1 | SITE) + ar1(WEEK | USUBJID)", _data("nested_ri_reml"))
    assert fit.converged
    assert list(fit.random_effects()) == ["SITE"]
    assert list(fit.random_effects_covariance.index) == ["SITE: Intercept"]
    assert list(fit.covariance_parameters.index) == ["AR(1)", "Residual", "Intercept SITE"]
    pred = fit.predict(conditional=True, se=True)
    assert np.all(np.isfinite(pred["se"]))
