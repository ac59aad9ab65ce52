"""Random intercept / slope models against R (tests/reference/make_random_refs.R).

nlme::lme (REML, ML; corExp, corAR1 residuals; diagonal G via pdDiag) for the
log-likelihood (1e-6), G and residual parameters, fixed effects and SEs, BLUPs (1e-5
relative); lme4 + lmerTest for Satterthwaite df and type III tests; pbkrtest for
Kenward-Roger (with W swapped to the expected information pbkrtest uses, as in
test_inference_r.py).  ``irregular_exp``: sigma^2 and the range of the exponential residual are
correlated at 0.994 (SE of sigma^2 5.3 on 9.0), so that case's covariance parameters are
compared at 1e-4 relative; its log-likelihood still at 1e-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import with_expected_information

import trialmlm
from trialmlm.errors import DataError

REFERENCE = Path(__file__).parent / "reference"
REF = json.loads((REFERENCE / "random_refs.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


def _data(case) -> pd.DataFrame:
    d = pd.read_csv(REFERENCE / case["data"], dtype={"Subject": str, "ID": str, "USUBJID": str})
    if "AVISIT" in d:
        d = d.dropna(subset=["CHG"])
    return d


@pytest.fixture(scope="module")
def fits():
    return {n: trialmlm.fit(c["formula"], _data(c), method=c["method"]) for n, c in CASES.items()}


def _coef_name(name: str) -> str:
    from test_reference_gls import _r_to_formulaic

    levels = {"ARM": ["ACT", "PBO"], "Sex": ["Female", "Male"], "TRT": ["HIGH", "LOW", "PBO"],
              "AVISIT": ["W1", "W2", "W4", "W8", "W12", "W16"]}
    return _r_to_formulaic(name, levels)


@pytest.mark.parametrize("name", list(CASES))
def test_loglik_covariance_fixed_effects(fits, name):
    fit, case = fits[name], CASES[name]
    assert fit.converged
    assert fit.n_obs == case["n_obs"] and fit.n_subjects == case["n_subjects"]
    assert fit.loglik == pytest.approx(case["loglik"], abs=1e-6)
    rtol = 1e-4 if name.startswith("irregular_exp") else 1e-5
    g = np.array(case["G"]["matrix"])
    np.testing.assert_allclose(fit.random_effects_covariance.to_numpy(), g, rtol=rtol,
                               atol=rtol * np.abs(g).max())
    res = case["residual"]
    if "correlation" in res:
        params = fit.residual_parameters
        assert params["Residual"] == pytest.approx(res["sigma2"], rel=rtol)
        if "SP(EXP)" in params:  # nlme corExp's range is SAS SP(EXP)'s theta
            assert params["SP(EXP)"] == pytest.approx(res["correlation"]["range"], rel=rtol)
        else:
            assert params["AR(1)"] == pytest.approx(res["correlation"]["rho"], rel=rtol)
    else:
        assert fit.residual_variance == pytest.approx(res["sigma2"], rel=rtol)
    table = fit.coef_table()
    for row in case["fixed_effects"]:
        ours = table.loc[_coef_name(row["name"])]
        assert abs(ours["estimate"] - row["estimate"]) <= rtol * max(abs(row["estimate"]), row["se"])
        # nlme scales ML vcov by n/(n-p) (REML-type sigma); SAS uses (X'V^-1X)^-1 at the ML fit
        se = row["se"] * (np.sqrt((fit.n_obs - fit.n_fixed) / fit.n_obs) if case["method"] == "ML" else 1)
        assert ours["se"] == pytest.approx(se, rel=rtol)


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("irregular_exp")])
def test_exponential_residual_as_sp_pow(name):
    """The same model with SAS SP(POW): rho = exp(-1 / range) of nlme's corExp."""
    case = CASES[name]
    fit = trialmlm.fit(case["formula"].replace("sp_exp(", "sp_pow("), _data(case), method=case["method"])
    assert fit.loglik == pytest.approx(case["loglik"], abs=1e-6)
    rho = case["residual"]["correlation"]["rho"]
    assert fit.residual_parameters["SP(POW)"] == pytest.approx(rho, rel=1e-4)


@pytest.mark.parametrize("name", list(CASES))
def test_blups_and_prediction_error(fits, name):
    fit, case = fits[name], CASES[name]
    ours = fit.random_effects()[fit.settings.subject]
    ref = pd.DataFrame(case["blups"])
    terms = {t: n for t, n in zip(case["G"]["terms"], fit.random_effects_covariance.columns)}
    got = np.array([ours.loc[r.subject, terms[r.term]] for r in ref.itertuples()])
    scale = np.abs(ref["estimate"]).max()
    np.testing.assert_allclose(got, ref["estimate"], rtol=0, atol=1e-5 * scale * (10 if "exp" in name else 1))
    if "blup_variances" in case:
        pev = fit._random_predictions.pev
        index = {s: i for i, s in enumerate(fit.design.subject_labels)}
        for row in case["blup_variances"][:10]:
            np.testing.assert_allclose(pev[index[row["subject"]]], np.array(row["pev"]), rtol=1e-4)


@pytest.mark.parametrize("name", ["sleep_us_reml", "ortho_reml", "irregular_ri_reml"])
def test_lmer_satterthwaite_and_kenward_roger(fits, name):
    fit, lmer = fits[name], CASES[name]["lmer"]
    sat = fit.coef_table()
    for row in lmer["coef_satterthwaite"]:
        assert sat.loc[_coef_name(row["name"]), "df"] == pytest.approx(row["df"], rel=1e-4)
    anova = fit.anova()
    for row in lmer["anova_type3_satterthwaite"]:
        assert anova.loc[row["term"], "F"] == pytest.approx(row["F"], rel=1e-5)
        assert anova.loc[row["term"], "den_df"] == pytest.approx(row["den_df"], rel=1e-4)
    kr = with_expected_information(fit).coef_table(ddf="kenward-roger")
    for row in lmer["coef_kenward_roger"]:
        assert kr.loc[_coef_name(row["name"]), "se"] == pytest.approx(row["se"], rel=1e-5)
        assert kr.loc[_coef_name(row["name"]), "df"] == pytest.approx(row["df"], rel=1e-4)


def test_containment_df(fits):
    """SAS DDFM=CONTAIN by its definition, with dense ranks of [X Z].

    sleepstudy: Days and Intercept are contained in Days*Subject and Intercept*Subject, each
    contributing 36 - 19 = 17 (equal to the Kenward-Roger df of this balanced design).
    """
    sleep = fits["sleep_us_reml"].coef_table(ddf="containment")
    assert list(sleep["df"]) == [17.0, 17.0]
    kr = fits["sleep_us_reml"].coef_table(ddf="kenward-roger")["df"]
    assert list(kr) == pytest.approx([17, 17], rel=1e-5)
    fit = fits["irregular_ri_reml"]
    d = fit.design
    Z = np.zeros((d.y.size, d.subject_labels.size))
    Z[np.arange(d.y.size), d.subject] = 1.0
    rank_xz = np.linalg.matrix_rank(np.hstack([d.X, Z]))
    table = fit.coef_table(ddf="containment")
    contribution = rank_xz - np.linalg.matrix_rank(d.X)
    assert table.loc["Intercept", "df"] == contribution
    assert table.loc["TIME", "df"] == d.y.size - rank_xz
    assert table.loc["BASE", "df"] == d.y.size - rank_xz


def test_conditional_predictions(fits):
    """x'beta + z'b_i with nlme's fixed effects and BLUPs (sleepstudy)."""
    fit, case = fits["sleep_us_reml"], CASES["sleep_us_reml"]
    data = _data(case)
    beta = {r["name"]: r["estimate"] for r in case["fixed_effects"]}
    blup = pd.DataFrame(case["blups"]).pivot(index="subject", columns="term", values="estimate")
    expected = (beta["(Intercept)"] + beta["Days"] * data["Days"]
                + blup.loc[data["Subject"], "(Intercept)"].to_numpy()
                + blup.loc[data["Subject"], "Days"].to_numpy() * data["Days"])
    got = fit.predict(data, conditional=True)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(fit.predict(conditional=True), got, rtol=1e-12)  # rows used, same order
    population = fit.predict(data.iloc[:1].assign(Days=0), se=True)
    assert population["se"].iloc[0] == pytest.approx(fit.coef_table().loc["Intercept", "se"], rel=1e-12)
    # conditional se against the inverse of Henderson's mixed model equations (dense)
    d = fit.design
    n_s = d.subject_labels.size
    Z = np.zeros((d.y.size, 2 * n_s))
    Z[np.arange(d.y.size), 2 * d.subject] = d.Z[:, 0]
    Z[np.arange(d.y.size), 2 * d.subject + 1] = d.Z[:, 1]
    G = np.kron(np.eye(n_s), fit.random_effects_covariance.to_numpy())
    s2 = fit.residual_variance
    mme = np.block([[d.X.T @ d.X, d.X.T @ Z], [Z.T @ d.X, Z.T @ Z + s2 * np.linalg.inv(G)]]) / s2
    joint = np.linalg.inv(mme)
    conditional = fit.predict(data.iloc[:3], conditional=True, se=True)
    for row, (days, subj) in enumerate(zip(data["Days"].iloc[:3], data["Subject"].iloc[:3])):
        i = list(d.subject_labels).index(subj)
        w = np.zeros(2 + 2 * n_s)
        w[:2] = [1.0, days]
        w[2 + 2 * i:4 + 2 * i] = [1.0, days]
        assert conditional["se"].iloc[row] == pytest.approx(np.sqrt(w @ joint @ w), rel=1e-8)


def test_variance_partition(fits):
    fit, case = fits["sleep_us_reml"], CASES["sleep_us_reml"]
    g, s2 = np.array(case["G"]["matrix"]), case["residual"]["sigma2"]
    part = fit.variance_partition(at={"Days": [0, 9]}).set_index("Days")
    for t in (0, 9):
        z = np.array([1.0, t])
        assert part.loc[t, "between"] == pytest.approx(z @ g @ z, rel=1e-5)
        assert part.loc[t, "within"] == pytest.approx(s2, rel=1e-5)
        assert part.loc[t, "icc"] == pytest.approx(z @ g @ z / (z @ g @ z + s2), rel=1e-5)


def test_shrinkage_random_intercept(fits):
    """Random intercept, independent residuals: 1 - BLUP/OLS = sigma^2 / (sigma^2 + n_i sigma_b^2)."""
    fit, case = fits["irregular_ri_reml"], CASES["irregular_ri_reml"]
    sb2, s2 = case["G"]["matrix"][0][0], case["residual"]["sigma2"]
    table = fit.shrinkage()
    expected = s2 / (s2 + table["n_obs"] * sb2)
    np.testing.assert_allclose(table["shrinkage"], expected, rtol=1e-5)


def test_stable_return_types(fits):
    """Issue 12: random_effects() is always a dict by grouping factor; residual_variance always
    a float (sigma^2 I only), residual_parameters always a Series (nlme values as above)."""
    one, structured = fits["sleep_us_reml"], fits["trial3_ri_ar1_reml"]
    assert list(one.random_effects()) == ["Subject"] and list(one.random_effects(se=True)) == ["Subject"]
    assert isinstance(one.residual_variance, float)
    assert one.residual_parameters.to_dict() == {"Residual": one.residual_variance}
    assert list(structured.residual_parameters.index) == ["AR(1)", "Residual"]
    with pytest.raises(DataError, match=r"have a structure \(AR\(1\), Residual\).*residual_parameters"):
        _ = structured.residual_variance
