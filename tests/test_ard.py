"""ard.csv / ard.json (trialmlm.app.ard): one row per statistic, the same doubles as the
report's CSV tables and analysis_results.json, a missing statistic only with a warning."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.app import cli
from trialmlm.app.ard import COLUMNS, ard_rows

REFERENCE = Path(__file__).parent / "reference"
KEYS = ["analysis_id", "visit", "variable", "variable_level", "context", "stat_name"]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("ard") / "report"
    assert cli.main(["analyze", str(REFERENCE / "demo_trial.csv"), "--arm", "TRT", "--arm-order", "CTRL",
                     "ACT", "--covariates", "BASE", "--covariance-select", "bic", "us", "ar1h", "cs",
                     "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def ard(report):
    return _read(report / "ard.csv")


def _stats(ard: pd.DataFrame, context: str, stat_name: str) -> pd.DataFrame:
    return ard.loc[(ard["context"] == context) & (ard["stat_name"] == stat_name)]


def test_columns_and_one_row_per_statistic(report, ard):
    assert tuple(ard.columns) == COLUMNS
    assert not ard.duplicated(KEYS).any()
    missing = ard["stat"].isna()
    assert ard.loc[missing, "warning"].notna().all()  # a missing stat says why
    document = json.loads((report / "ard.json").read_text())
    assert document["columns"] == list(COLUMNS) and document["left_out"] == []
    assert len(document["rows"]) == len(ard)
    results = json.loads((report / "analysis_results.json").read_text())
    estimates = [r["stat"] for r in document["rows"]
                 if r["context"] == "lsmeans" and r["stat_name"] == "estimate"]
    assert estimates == [r["estimate"] for r in results["lsmeans"]]  # the very doubles
    assert {r["context"] for r in document["rows"]} == {
        "records", "subjects", "lsmeans", "difference", "type3", "fit_statistics", "covariance_selection"}


def test_lsmeans_and_differences_equal_table2(report, ard):
    table = _read(report / "t2_mmrm.csv")
    for context, prefix, level in (("lsmeans", "lsmean", table["arm"]),
                                   ("difference", "difference", table["contrast"])):
        rows = table.loc[level.notna()]
        for column, stat_name in (("", "estimate"), ("_se", "std.error"), ("_df", "df"),
                                  ("_lower", "conf.low"), ("_upper", "conf.high")):
            stats = _stats(ard, context, stat_name)
            got = stats.set_index(["group1_level", "variable_level"])["stat"].astype(float)
            want = rows.set_index(["visit", level.name])[f"{prefix}{column}"]
            assert len(got) == len(want) and stats["variable"].eq("TRT").all()
            assert got.loc[want.index].tolist() == want.tolist(), (context, stat_name)
    p = _stats(ard, "difference", "p.value").set_index("group1_level")["stat"].astype(float)
    assert p.loc[table.loc[table["p"].notna(), "visit"]].tolist() == table["p"].dropna().tolist()


def test_type3_fit_statistics_and_records_equal_their_tables(report, ard):
    type3 = _read(report / "t3_type3.csv")
    for column, stat_name in (("f", "statistic"), ("p", "p.value"), ("den_df", "den.df"),
                              ("num_df", "num.df")):
        got = _stats(ard, "type3", stat_name).set_index("variable")["stat"].astype(float)
        assert got.loc[type3["effect"]].tolist() == type3[column].astype(float).tolist()
    fit = _read(report / "t4_covariance.csv").set_index("parameter")["estimate"]
    stats = _stats(ard, "fit_statistics", "BIC")
    assert stats["stat"].astype(float).tolist() == [fit["BIC (Smaller is Better)"]]
    aic = _stats(ard, "fit_statistics", "AIC")["stat"].astype(float).tolist()
    assert aic == [fit["AIC (Smaller is Better)"]]
    records = _read(report / "t0_records.csv")
    flow = records.loc[records["section"] == "flow"]
    got = _stats(ard, "records", "n_records")["stat"].astype(int).tolist()
    assert got == flow["records"].astype(int).abs().tolist()  # Table 0 prints exclusions negative
    selection = _read(report / "t4_selection.csv")
    criterion = _stats(ard, "covariance_selection", "BIC").set_index("variable_level")["stat"].astype(float)
    assert criterion.loc[selection["structure"]].tolist() == selection["value"].tolist()


def test_non_estimable_is_a_row_with_a_warning(report):
    document = json.loads((report / "analysis_results.json").read_text())
    broken = copy.deepcopy(document)
    broken["lsmeans"][0]["estimate"] = None
    broken["fit"]["covariance_attempts"][0].update(value=None, reason="did not converge after 50 iterations")
    table, left_out = ard_rows(broken)
    row = table.loc[(table["context"] == "lsmeans") & (table["stat_name"] == "estimate")].iloc[0]
    assert pd.isna(row["stat"]) and row["warning"].startswith("not estimable")
    assert len(table) == len(ard_rows(document)[0])  # the row is kept, not dropped
    selection = table.loc[table["context"] == "covariance_selection"]
    assert selection["warning"].dropna().tolist() == ["did not converge after 50 iterations"]
    assert np.isfinite(table["stat"].dropna().astype(float)).all()


def test_entries_without_a_section_are_counted_as_left_out(report):
    document = json.loads((report / "analysis_results.json").read_text())
    document["responders"] = [{"visit": "V1", "arm": "ACT", "responders": 3, "n": 10}]
    assert ard_rows(document)[1] == ["responders"]


def test_estimand_rows_carry_the_estimand_and_its_method(report):
    document = json.loads((report / "analysis_results.json").read_text())
    difference = {**document["differences"][-1], "estimate": 1.25}
    document["estimands"] = [{"estimand": "JR", "handling": "jump to reference", "method": "condmean",
                              "ice_source": "dropout", "lsmeans": document["lsmeans"][:2],
                              "differences": [difference],
                              "ice": [{"arm": "ACT", "subjects": 80, "with_ice": 12, "imputed": 20,
                                       "excluded": 0}]}]
    table, left_out = ard_rows(document)
    rows = table.loc[table["analysis_id"].str.startswith("CHG_estimand_JR")]
    assert set(rows["analysis_id"]) == {"CHG_estimand_JR_lsmeans", "CHG_estimand_JR_difference",
                                        "CHG_estimand_JR_ice"}
    assert rows["analysis_method"].eq("condmean imputation, jump to reference").all()
    estimate = rows.loc[(rows["context"] == "difference") & (rows["stat_name"] == "estimate")]
    assert estimate["stat"].tolist() == [1.25] and estimate["variable_level"].tolist() == ["ACT - CTRL"]
    assert rows.loc[rows["context"] == "intercurrent_events", "stat"].tolist() == [80, 12, 20, 0]
    assert left_out == [] and not table.duplicated(KEYS).any()
