"""``trialmlm analyze --covariance-select`` and ``--lsmeans-weights``: the report's Table 4b,
its Model row, analysis_results.json and Table 2 equal the API's select_covariance and
lsmeans with the same weights; the options' checks name the problem.

The numbers themselves are checked against R mmrm/emmeans and SAS in
tests/test_covariance_selection.py and tests/test_grid_weights.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError
from trialmlm.app import cli
from trialmlm.app.config import make_config

SAMPLE = Path(__file__).parents[1] / "sample_data" / "depression_trial.csv"
ARMS = ["--arm-order", "Placebo", "Drug 10 mg", "Drug 20 mg"]
OPTIONS = ["--param", "HAMD17", "--covariates", "BASE", "SEX", *ARMS, "--covariance-select", "aicc", "us",
           "toeph", "ar1h", "cs", "--lsmeans-weights", "proportional"]
FORMULA = "CHG ~ BASE + SEX + TRT01P * AVISIT + us(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("covsel") / "report"
    assert cli.main(["analyze", str(SAMPLE), *OPTIONS, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def direct():
    data = trialmlm.read(SAMPLE, param="HAMD17", arm_order=ARMS[1:])
    return trialmlm.select_covariance(FORMULA, data, "aicc", ["us", "toeph", "ar1h", "cs"],
                                      ddf="kenward-roger")


def test_selection_table_lists_every_candidate(report, direct):
    table = pd.read_csv(report / "t4_selection.csv", keep_default_na=False)
    expected = direct.covariance_attempts_table()
    assert table["structure"].tolist() == ["us", "toeph", "ar1h", "cs"]
    # the report reads the file itself (records in its own order): equal to the last digits
    np.testing.assert_allclose(table["value"].astype(float), expected["value"].astype(float), rtol=1e-12)
    np.testing.assert_allclose(table["minus2_loglik"].astype(float), expected["minus2_loglik"].astype(float),
                               rtol=1e-12)
    assert table["n_parameters"].tolist() == [15, 9, 6, 2]
    assert table["used"].tolist() == expected["used"].tolist() and table["used"].sum() == 1
    html = (report / "t4_selection.html").read_text()
    assert "Table 4b. Covariance structure selection by AICC, pre-specified" in html
    assert "AICC (Smaller is Better)" in html and "chosen" in html
    assert "Table 4a. Covariance parameter estimates" in (report / "t4_covariance.html").read_text()


def test_results_and_index_name_the_chosen_structure(report, direct):
    results = json.loads((report / "analysis_results.json").read_text())
    chosen = direct.settings.structure
    assert results["fit"]["structure"] == chosen
    assert results["fit"]["aicc"] == pytest.approx(direct.aicc, rel=1e-12)
    assert [a["criterion"] for a in results["fit"]["covariance_attempts"]] == ["aicc"] * 4
    assert results["settings"]["covariance_select"] == ["aicc", "us", "toeph", "ar1h", "cs"]
    index = (report / "index.html").read_text()
    assert f"<th>Covariance selection (AICC, Table 4b)</th><td>{chosen} chosen, the smallest AICC of" in index
    assert f"{chosen}(AVISIT | USUBJID)" in index
    assert "<th>LS-means weights</th><td>proportional</td>" in index


def test_table2_uses_the_weights(report, direct):
    table = pd.read_csv(report / "t2_mmrm.csv", float_precision="round_trip")
    keys = ["AVISIT", "TRT01P"]
    ours = direct.lsmeans("TRT01P", by="AVISIT", weights="proportional").astype({k: str for k in keys})
    both = table.merge(ours, left_on=["visit", "arm"], right_on=keys, validate="one_to_one")
    assert len(both) == len(table) == 15
    np.testing.assert_allclose(both["lsmean"], both["estimate"], rtol=1e-12)
    equal = direct.lsmeans("TRT01P", by="AVISIT").astype({k: str for k in keys})
    both = table.merge(equal, left_on=["visit", "arm"], right_on=keys)
    assert np.all(np.abs(both["lsmean"] - both["estimate"]) > 1e-3)  # SEX is unbalanced: weights matter
    results = json.loads((report / "analysis_results.json").read_text())
    assert [r["estimate"] for r in results["lsmeans"]] == table["lsmean"].tolist()
    html = (report / "t2_mmrm.html").read_text()
    assert "by the observed frequencies of their combinations (SAS OM" in html


@pytest.mark.parametrize("values, message", [
    (dict(covariance_select=["aicc", "us", "cs"], covariance="us"),
     "give covariance .* or covariance_select"),
    (dict(covariance_select=["aik", "us", "cs"]), "criterion must be one of aic, aicc, bic, got 'aik'"),
    (dict(covariance_select="aicc,us"), "needs a criterion and two or more structures"),
    (dict(covariance_select=["bic", "us", "toepx"]), "covariance 'toepx' is not one of"),
    (dict(covariance_select=["aic", "us", "cs"], model="ancova"), "chooses the residual structure of "
                                                                  "model='mmrm' or 'slopes'"),
    (dict(lsmeans_weights="OM"),
     "lsmeans_weights must be one of equal, proportional, outer, cells, got 'OM'"),
    (dict(lsmeans_weights="outer", endpoint="binary", response="CRIT1FL"), "continuous endpoint"),
])
def test_bad_options(values, message):
    with pytest.raises(DataError, match=message):
        make_config(data="x.csv", **values)


def test_toml_and_command_line_give_one_config(tmp_path):
    toml = tmp_path / "sap.toml"
    toml.write_text('covariance_select = "aicc,us,toeph"\nlsmeans_weights = "outer"\n')
    config = make_config(data="x.csv", **cli.load_config(toml))
    assert config.covariance_select == ("aicc", "us", "toeph") and config.structures == ("us", "toeph")
    assert config.lsmeans_weights == "outer"
    args = cli._parser().parse_args(["analyze", "x.csv", "--covariance-select", "aicc", "us", "toeph",
                                     "--lsmeans-weights", "outer"])
    assert cli._config(args, {}) == config
