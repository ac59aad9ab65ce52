"""``trialmlm analyze --model clda`` on the depression sample trial, as a user runs it: the
response defaults to AVAL and the baseline records (ABLFL = Y, ANL01FL blank) are kept; Table 2
(LS means per arm and visit, differences after baseline), Table 2b (LS means of the change from
baseline) and analysis_results.json carry R mmrm's Kenward-Roger numbers of the same cLDA
(tests/reference/make_clda_refs.R, case dep_us; the report's default df are Kenward-Roger)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import CLDA_REFS

from trialmlm.app import cli
from trialmlm.app.config import make_config
from trialmlm.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data" / "depression_trial.csv"
REF = CLDA_REFS["cases"]["dep_us"]["kenward_roger"]
ARMS = CLDA_REFS["arms"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("clda") / "report"
    assert cli.main(["analyze", str(DATA), "--param", "HAMD17", "--model", "clda", "--arm-order", *ARMS,
                     "--out", str(out)]) == 0
    return out


def _match(table: pd.DataFrame, rows: list[dict], est: str, se: str, df: str) -> None:
    ref = pd.DataFrame(rows).rename(columns={"estimate": "estimate_r", "se": "se_r", "df": "df_r"})
    merged = table.merge(ref, on=["visit", "arm"])
    assert len(merged) == len(ref)
    np.testing.assert_allclose(merged[est], merged["estimate_r"], rtol=1e-5)
    np.testing.assert_allclose(merged[se], merged["se_r"], rtol=1e-5)
    np.testing.assert_allclose(merged[df], merged["df_r"], rtol=1e-3)


def test_defaults_of_the_kind():
    config = make_config(data=str(DATA), model="clda")
    assert (config.response, config.keep_baseline) == ("AVAL", True)
    assert config.formula == "AVAL ~ clda(TRT01P, AVISIT) + us(AVISIT | USUBJID)"
    assert make_config(data=str(DATA), model="clda", response="CHG", covariates=("SEX",)).formula == \
        "CHG ~ SEX + clda(TRT01P, AVISIT) + us(AVISIT | USUBJID)"
    with pytest.raises(DataError, match="imputation_model|sensitivity"):
        make_config(data=str(DATA), model="clda", sensitivity=True)


def test_table_2_lsmeans_and_differences(report):
    t2 = pd.read_csv(report / "t2_clda.csv")
    assert len(t2) == 18 and t2["n"].sum() == 1607
    _match(t2, REF["lsmeans"], "lsmean", "lsmean_se", "lsmean_df")
    after = t2.dropna(subset=["difference"])
    assert set(after["visit"]) == set(CLDA_REFS["visits"][1:])  # none at baseline
    _match(after, REF["differences"], "difference", "difference_se", "difference_df")


def test_table_2b_change_from_baseline(report):
    t2b = pd.read_csv(report / "t2b_change.csv")
    assert list(t2b.columns) == ["visit", "arm", "n", "estimate", "se", "df", "lower", "upper"]
    _match(t2b, REF["change"], "estimate", "se", "df")
    rtf = (report / "t2b_change.rtf").read_text()
    assert "Table 2b. HAMD-17 Total Score" in rtf and "cLDA: the baseline is a repeated measurement" in rtf


def test_analysis_results(report):
    results = json.loads((report / "analysis_results.json").read_text())
    assert results["settings"]["model"] == "clda" and results["settings"]["keep_baseline"] is True
    _match(pd.DataFrame(results["change_lsmeans"]), REF["change"], "estimate", "se", "df")
    type3 = {r["effect"]: r for r in results["type3"]}
    joint = type3["clda(TRT01P, AVISIT)"]
    assert joint["num_df"] == 10
    assert joint["f"] == pytest.approx(REF["joint"]["F"], rel=1e-5)
    assert joint["den_df"] == pytest.approx(REF["joint"]["den_df"], rel=1e-3)
