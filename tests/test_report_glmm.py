"""``trialmlm analyze --endpoint binary --model glmm`` on the bundled ADEFF responder file (SAS XPT),
as a user runs it: the fixed effects, covariance parameter, typical-patient probabilities and
population-averaged effects equal ``trialmlm.glmm`` and ``trialmlm.glimmix.marginal_effects`` on
the same records (the report adds no arithmetic of its own), Table 7's three odds ratios are the
GLMM's (as Table 2 and Table 3) and a GEE's of the same records, the options reach the fit, a
separated visit exits with status 3, and options the GLMM does not take are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.app import cli
from trialmlm.app.config import make_config
from trialmlm.errors import DataError
from trialmlm.glimmix import marginal_effects

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
XPT = SAMPLE / "responder_trial.xpt"
SAP = ["--endpoint", "binary", "--model", "glmm", "--response", "CRIT1FL", "--population", "EFFFL",
       "--covariates", "BASE", "--where", "AVISITN >= 2"]
VISITS = ["Week 2", "Week 4", "Week 6", "Week 8"]
FORMULA = "CRIT1FL ~ BASE + TRT01P * AVISIT + (1 | USUBJID)"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("glmm") / "report"
    assert cli.main(["analyze", str(XPT), *SAP, "--quadrature-points", "15", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def direct(responder_sap_records):
    return trialmlm.glmm(FORMULA, responder_sap_records, n_points=15)


def test_tables_and_figures_written(report):
    for name in ("t1_responders", "t2_glmm", "t3_margins", "t4_glmm_parameters", "t4_covariance",
                 "t7_odds_ratios"):
        for ext in ("csv", "html", "rtf"):
            assert (report / f"{name}.{ext}").exists(), f"{name}.{ext}"
    for name in ("f2_proportions", "f3_subject_curves", "f4_margins"):
        assert (report / f"{name}.png").exists()
    assert not (report / "t4_gee_parameters.csv").exists()


def test_fixed_effects_and_variance_equal_direct_fit(report, direct):
    expected = direct.coef_table()
    table = pd.read_csv(report / "t4_glmm_parameters.csv")
    assert table["term"].tolist() == expected["term"].tolist()
    for col in ("estimate", "se", "df", "t", "p"):
        np.testing.assert_allclose(table[col], expected[col], rtol=1e-10)
    assert table["df"].tolist()[:2] == [279.0, 695.0]  # containment: subjects - 1 for the intercept
    cov = pd.read_csv(report / "t4_covariance.csv")
    np.testing.assert_allclose(cov["estimate"], direct.covariance_parameters["estimate"], rtol=1e-10)
    results = json.loads((report / "analysis_results.json").read_text())
    assert results["fit"]["n_points"] == 15 and results["fit"]["method"] == "quad"
    assert results["fit"]["minus2_loglik"] == pytest.approx(-2 * direct.loglik, abs=1e-8)


def test_typical_patient_and_population_averaged_tables(report, direct):
    t2 = pd.read_csv(report / "t2_glmm.csv")
    probs = direct.lsmeans("TRT01P", by="AVISIT", ilink=True)
    np.testing.assert_allclose(t2["probability"], probs["mean"], rtol=1e-10)
    effects = marginal_effects(direct, "TRT01P", by="AVISIT", contrast=("diff", "logrr", "logor"))
    t3 = pd.read_csv(report / "t3_margins.csv")
    diff = effects.table.loc[effects.table["contrast"] == "diff", "estimate"].to_numpy()
    np.testing.assert_allclose(t3.loc[t3["measure"] == "risk_difference", "estimate"], diff, rtol=1e-10)


def test_three_odds_ratios(report):
    """Table 7: the GLMM's typical-patient odds ratio is Table 2's, its population-averaged one
    Table 3's, and both population-averaged ones lie nearer 1 than the typical patient's
    (the random-intercept variance is 5.9 here)."""
    t7 = pd.read_csv(report / "t7_odds_ratios.csv")
    t2 = pd.read_csv(report / "t2_glmm.csv").dropna(subset=["odds_ratio"])
    t3 = pd.read_csv(report / "t3_margins.csv")
    conditional = t7.loc[t7["model"] == "GLMM conditional"]
    np.testing.assert_allclose(conditional["odds_ratio"], t2["odds_ratio"], rtol=1e-10)
    np.testing.assert_allclose(conditional["lower"], t2["odds_ratio_lower"], rtol=1e-10)
    marginal = t7.loc[t7["model"] == "GLMM marginal"]
    np.testing.assert_allclose(marginal["odds_ratio"], t3.loc[t3["measure"] == "odds_ratio", "estimate"],
                               rtol=1e-10)
    gee = t7.loc[t7["model"] == "GEE"]
    log = {m: np.log(t7.loc[t7["model"] == m, "odds_ratio"].to_numpy()) for m in t7["model"].unique()}
    assert np.all(np.abs(log["GLMM marginal"]) < np.abs(log["GLMM conditional"]))
    assert np.all(np.abs(log["GEE"]) < np.abs(log["GLMM conditional"]))
    assert len(gee) == len(marginal) == len(conditional) == 2 * len(VISITS)


def test_laplace_and_df_options_reach_the_fit(tmp_path, responder_sap_records):
    out = tmp_path / "laplace"
    assert cli.main(["analyze", str(XPT), *SAP, "--method", "LAPLACE", "--ddf", "between-within",
                     "--out", str(out)]) == 0
    direct = trialmlm.glmm(FORMULA, responder_sap_records, method="laplace")
    table = pd.read_csv(out / "t4_glmm_parameters.csv")
    np.testing.assert_allclose(table["estimate"], direct.coef_table()["estimate"], rtol=1e-10)
    np.testing.assert_allclose(table["df"], direct.coef_table(df="between-within")["df"])
    assert json.loads((out / "analysis_results.json").read_text())["fit"]["n_points"] == 1


def test_separation_exits_3(tmp_path, capsys):
    out = tmp_path / "sep"
    argv = ["analyze", str(XPT), "--endpoint", "binary", "--model", "glmm", "--response", "CRIT1FL",
            "--population", "EFFFL", "--out", str(out)]
    assert cli.main(argv) == 3  # no responder at Week 1 in any arm
    err = capsys.readouterr().err.strip()
    assert "no usable GLMM fit" in err and "separation in Week 1, Placebo: 0 of" in err and not out.exists()


@pytest.mark.parametrize("options, message", [
    ({"method": "REML"}, "method of model='glmm' must be 'QUAD' or 'LAPLACE'"),
    ({"ddf": "kenward-roger"}, "ddf of model='glmm' must be one of containment, between-within"),
    ({"covariance": "exchangeable"}, "model='glmm' has no covariance structure"),
    ({"method": "LAPLACE", "quadrature_points": 7}, "quadrature_points"),
    ({"quadrature_points": 0}, "quadrature_points must be at least 1"),
])
def test_options_the_glmm_does_not_take_are_named(options, message):
    with pytest.raises(DataError, match=message):
        make_config(data=str(XPT), endpoint="binary", model="glmm", response="CRIT1FL", **options)
