"""trialmlm.data.adsl: the ADSL merge of trialmlm.read(adsl=) and trialmlm analyze --adsl.

Every expected count below is counted by hand from the small data built here (or, for the
report, with pandas from the files the test writes), never from trialmlm's own output.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.app.cli import main
from trialmlm.data.adsl import merge_adsl
from trialmlm.data.io import read_table
from trialmlm.errors import DataError, DataWarning
from trialmlm.tables import records_table

SAMPLE = Path(__file__).parents[1] / "sample_data" / "depression_trial.csv"


def _bds() -> pd.DataFrame:
    """Four subjects of study S1, three post-baseline visits each (12 records); subject
    '004' is not in ADSL; AGE and TRT01P are BDS copies of ADSL variables."""
    rows = []
    for subject, arm, age in (("001", "Placebo", 50), ("002", "Drug", 61), ("003", "Drug", 47),
                              ("004", "Placebo", 39)):
        for n in (1, 2, 3):
            rows.append({"STUDYID": "S1", "USUBJID": subject, "AVISIT": f"Week {n}", "AVISITN": n,
                         "CHG": float(n + int(subject)), "TRT01P": arm, "AGE": age})
    return pd.DataFrame(rows)


def _adsl() -> pd.DataFrame:
    """Subjects 001-003 and 005 (no BDS records); EFFFL, EOSSTT, SITEGR1 only here."""
    return pd.DataFrame({"STUDYID": "S1", "USUBJID": ["001", "002", "003", "005"],
                         "TRT01P": ["Placebo", "Drug", "Drug", "Drug"], "TRT01PN": [0, 1, 1, 1],
                         "AGE": [50.0, 61.0, 47.0, 70.0], "EFFFL": ["Y", "Y", "N", "Y"],
                         "EOSSTT": ["COMPLETED", "DISCONTINUED", "COMPLETED", "COMPLETED"],
                         "SITEGR1": ["701", "703", "701", "703"]})


def _read(bds, adsl, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return trialmlm.read(bds, adsl=adsl, response="CHG", **options)


def test_merge_by_studyid_and_usubjid_adds_the_adsl_variables():
    df = _read(_bds(), _adsl(), arm="TRT01P")
    merge = df.attrs["records"].adsl
    assert merge.keys == ("STUDYID", "USUBJID")
    assert merge.added == ("TRT01PN", "EFFFL", "EOSSTT", "SITEGR1")
    assert list(df.columns[:7]) == list(_bds().columns)  # BDS columns first, unchanged
    assert df.loc[df["USUBJID"] == "002", "EOSSTT"].tolist() == ["DISCONTINUED"] * 3
    assert df.loc[df["USUBJID"] == "003", "SITEGR1"].tolist() == ["701"] * 3
    assert list(df["TRT01P"].cat.categories) == ["Placebo", "Drug"]  # arm order by TRT01PN from ADSL
    # 4 BDS subjects: 3 in ADSL, '004' not (its 3 records excluded); ADSL's '005' has no record
    assert (merge.adsl_subjects, merge.merged_subjects, merge.missing_subjects, merge.unused_subjects) == \
        (4, 3, 1, 1)
    assert merge.conflicts == ()  # AGE 50 vs 50.0: the same number


def test_studyid_is_part_of_the_key():
    adsl = _adsl()
    adsl.loc[0, "STUDYID"] = "S2"  # subject 001 of another study: not the BDS subject 001 of S1
    df = _read(_bds(), adsl)
    assert sorted(df["USUBJID"].unique()) == ["002", "003"]
    merge = df.attrs["records"].adsl
    assert (merge.missing_subjects, merge.unused_subjects) == (2, 2)  # 001, 004; S2/001, 005


def test_usubjid_alone_without_studyid_in_adsl():
    df = _read(_bds(), _adsl().drop(columns="STUDYID"))
    assert df.attrs["records"].adsl.keys == ("USUBJID",)
    assert df["USUBJID"].nunique() == 3


def test_subjects_missing_from_adsl_are_excluded_and_counted():
    with pytest.warns(DataWarning, match=r"1 subject of 'data frame' \(3 records, e.g. '004'\) not in ADSL"):
        df = trialmlm.read(_bds(), adsl=_adsl(), response="CHG")
    counts = df.attrs["records"]
    step = [e for e in counts.exclusions if e.step == "adsl"]
    assert [(e.records, e.subjects) for e in step] == [(3, 1)]
    assert (counts.records, counts.subjects) == (9, 3)
    table = records_table(counts).data
    rows = table.set_index("step")
    assert rows.loc["adsl", ["records", "subjects"]].tolist() == [-3, -1]
    merge = table.loc[table["section"] == "adsl"].set_index("step")
    assert merge.loc["adsl_subjects", "subjects"] == 4
    assert merge.loc["merged", "subjects"] == 3
    assert merge.loc["not_in_adsl", ["records", "subjects"]].tolist() == [3, 1]
    assert merge.loc["without_records", "subjects"] == 1
    assert "conflict" not in merge.index


def test_bds_value_kept_on_conflict_counted_and_warned():
    adsl = _adsl()
    adsl.loc[1, "AGE"] = 62.0  # subject 002: BDS 61 on 3 records
    adsl.loc[2, "TRT01P"] = "Drug "  # trailing blank: the same text
    bds = _bds()
    bds.loc[(bds["USUBJID"] == "001") & (bds["AVISITN"] == 3), "TRT01P"] = "Drug"  # one record of 001
    with pytest.warns(DataWarning) as caught:
        df = trialmlm.read(bds, adsl=adsl, response="CHG")
    text = " ".join(str(w.message) for w in caught)
    assert "the BDS values are kept: TRT01P: 1 subject, 1 record (e.g. '001': BDS 'Drug', ADSL 'Placebo')" \
        in text
    assert "AGE: 1 subject, 3 records (e.g. '002': BDS 61, ADSL 62)" in text
    assert df.loc[df["USUBJID"] == "002", "AGE"].tolist() == [61] * 3
    conflicts = {c.variable: (c.records, c.subjects) for c in df.attrs["records"].adsl.conflicts}
    assert conflicts == {"TRT01P": (1, 1), "AGE": (3, 1)}
    merge = records_table(df.attrs["records"]).data.query("step == 'conflict'")
    assert merge[["reason", "records", "subjects"]].values.tolist() == [
        ["TRT01P differs from ADSL (BDS value kept)", 1, 1], ["AGE differs from ADSL (BDS value kept)", 3, 1]]


def test_values_compared_tolerantly_number_and_text():
    bds = _bds().assign(SITEGR1=lambda d: d["USUBJID"].map({"001": 701, "002": 703, "003": 701, "004": 1}))
    adsl = _adsl().assign(AGE=lambda d: d["AGE"] * (1 + 1e-15))  # IBM-float rounding of a transport file
    df = _read(bds, adsl)  # SITEGR1 701 (CSV numbers) vs "701" (SAS text): equal
    assert df.attrs["records"].adsl.conflicts == ()


def test_duplicate_adsl_keys_are_an_error_naming_the_subject():
    adsl = pd.concat([_adsl(), _adsl().iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError, match=r"ADSL 'data frame' has several records for subject '002' \(keys "
                                        r"STUDYID, USUBJID\)"):
        trialmlm.read(_bds(), adsl=adsl)


def test_missing_key_column_is_an_error_naming_file_and_column(tmp_path):
    path = tmp_path / "adsl.csv"
    _adsl().drop(columns="USUBJID").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'.*adsl.csv' has no column 'USUBJID' \(subject\), the key of the "
                                        r"ADSL merge \(adsl=\)"):
        trialmlm.read(_bds(), adsl=path)


def test_no_subject_in_adsl_is_an_error_with_an_example_of_each_key():
    adsl = _adsl().assign(USUBJID=lambda d: "S1-" + d["USUBJID"])
    with pytest.raises(DataError, match=r"no subject of 'data frame' is in ADSL .* e.g. 'S1 / 001' in the "
                                        r"BDS, 'S1 / S1-001' in ADSL"):
        trialmlm.read(_bds(), adsl=adsl)


def test_population_flag_only_in_adsl():
    df = _read(_bds(), _adsl(), population="EFFFL")
    assert sorted(df["USUBJID"].unique()) == ["001", "002"]  # 003 EFFFL = N, 004 not in ADSL
    steps = {e.step: (e.records, e.subjects) for e in df.attrs["records"].exclusions}
    assert steps["adsl"] == (3, 1) and steps["population"] == (3, 1)


def test_arm_and_class_variable_from_adsl_only():
    df = _read(_bds().drop(columns="TRT01P"), _adsl(), arm="TRT01P", class_variables=["SITEGR1"],
               where="EOSSTT == 'COMPLETED'")
    assert sorted(df["USUBJID"].unique()) == ["001", "003"]
    assert list(df["TRT01P"].cat.categories) == ["Placebo", "Drug"]
    assert list(df["SITEGR1"].cat.categories) == ["701"]


def test_sas_transport_adsl_with_labels(tmp_path):
    import pyreadstat

    path = tmp_path / "adsl.xpt"
    pyreadstat.write_xport(_adsl(), str(path), file_format_version=5, table_name="ADSL",
                           column_labels=["Study Identifier", "Unique Subject Identifier",
                                          "Planned Treatment", "Planned Treatment (N)", "Age",
                                          "Efficacy Population Flag", "End of Study Status",
                                          "Pooled Site Group 1"])
    df = _read(_bds(), path, population="EFFFL")
    assert df.attrs["labels"]["EFFFL"] == "Efficacy Population Flag"
    assert df.attrs["records"].adsl.source == "adsl.xpt"
    reasons = [e.reason for e in df.attrs["records"].exclusions if e.step == "adsl"]
    assert reasons == ["subject not in ADSL (adsl.xpt)"]  # the file's name, not its path
    assert df.attrs["records"].adsl.conflicts == ()  # AGE 50 (BDS int) vs 50.0 (XPT double)
    assert sorted(df["USUBJID"].unique()) == ["001", "002"]


def test_duplicated_index_of_a_data_frame():
    bds = _bds().set_axis([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    df = _read(bds, _adsl())
    assert df["EOSSTT"].tolist() == ["COMPLETED"] * 3 + ["DISCONTINUED"] * 3 + ["COMPLETED"] * 3


def test_merge_adsl_directly_keeps_the_bds_index():
    bds = _bds().iloc[3:]
    counts = trialmlm.data.adam.RecordCounts("bds", len(bds), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        merged, counts = merge_adsl(bds, counts, _adsl(), subject="USUBJID", source="bds")
    assert list(merged.index) == list(range(3, 9))
    assert counts.exclusions[-1].step == "adsl" and counts.adsl.unused_subjects == 2  # 001 and 005


@pytest.fixture(scope="module")
def adsl_pair(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    """The first 90 subjects of the sample trial as a BDS CSV without the subject-level
    variables, and an XPT ADSL with EFFFL (every 10th subject N), EOSSTT (DISCONTINUED
    with a DCSREAS) and TRT01PN; subjects 8 and 9 left out of ADSL."""
    folder = tmp_path_factory.mktemp("adsl_pair")
    data = pd.read_csv(SAMPLE)
    first = data["USUBJID"].drop_duplicates().iloc[:90]
    data = data.loc[data["USUBJID"].isin(first)]
    subjects = data.drop_duplicates("USUBJID").reset_index(drop=True)
    adsl = pd.DataFrame({
        "STUDYID": subjects["STUDYID"], "USUBJID": subjects["USUBJID"], "TRT01P": subjects["TRT01P"],
        "TRT01PN": subjects["TRT01P"].map({"Placebo": 0.0, "Drug 10 mg": 10.0, "Drug 20 mg": 20.0}),
        "AGE": subjects["AGE"].astype(float),
        "EFFFL": np.where(np.arange(len(subjects)) % 10 == 3, "N", "Y"),
        "EOSSTT": np.where(subjects["DCSREAS"].notna(), "DISCONTINUED", "COMPLETED")})
    adsl.loc[5, "AGE"] += 1
    adsl = adsl.drop(index=[7, 8])
    import pyreadstat

    pyreadstat.write_xport(adsl, str(folder / "adsl.xpt"), file_format_version=5, table_name="ADSL")
    data.drop(columns=["DCSREAS"]).to_csv(folder / "adeff.csv", index=False)
    return folder / "adeff.csv", folder / "adsl.xpt", data


@pytest.fixture(scope="module")
def adsl_report(adsl_pair, tmp_path_factory):
    """``trialmlm analyze`` from a TOML config with ``adsl`` (absolute paths), population and
    ICE subjects only in ADSL; the report folder and the run's stderr."""
    bds, adsl, _ = adsl_pair
    folder = tmp_path_factory.mktemp("adsl_report")
    config = folder / "analysis.toml"
    config.write_text(f'data = "{bds}"\nadsl = "{adsl}"\nparam = "HAMD17"\npopulation = "EFFFL"\n'
                      'covariates = ["BASE"]\nice_where = "EOSSTT == \'DISCONTINUED\'"\n'
                      'estimands = ["MAR"]\n')
    out = folder / "report"
    assert main(["analyze", "--config", str(config), "--out", str(out)]) == 0
    return out


def _hand_counts(data: pd.DataFrame) -> dict:
    """The records table of the report, counted with pandas from the sample data."""
    subjects = list(data["USUBJID"].drop_duplicates())
    absent = set(subjects[7:9])
    effective = {s for i, s in enumerate(subjects) if i % 10 != 3}
    in_adsl = data.loc[~data["USUBJID"].isin(absent)]
    population = in_adsl.loc[in_adsl["USUBJID"].isin(effective)]
    analysed = population.loc[population["ANL01FL"] == "Y"]
    return {"read": (len(data), len(subjects)),
            "adsl": (len(data) - len(in_adsl), 2),
            "population": (len(in_adsl) - len(population),
                           in_adsl["USUBJID"].nunique() - population["USUBJID"].nunique()),
            "analysed": (len(analysed), analysed["USUBJID"].nunique()), "analysed_data": analysed}


def test_cli_report_counts_the_merge_by_hand(adsl_pair, adsl_report):
    hand = _hand_counts(adsl_pair[2])
    table = pd.read_csv(adsl_report / "t0_records.csv").set_index("step")
    assert tuple(table.loc["read", ["records", "subjects"]]) == hand["read"]
    assert tuple(-table.loc["adsl", ["records", "subjects"]]) == hand["adsl"]
    assert tuple(-table.loc["population", ["records", "subjects"]]) == hand["population"]
    assert tuple(table.loc["analysed", ["records", "subjects"]]) == hand["analysed"]
    assert table.loc["adsl_subjects", "subjects"] == 88
    assert table.loc["merged", "subjects"] == 88
    assert tuple(table.loc["not_in_adsl", ["records", "subjects"]]) == (hand["adsl"][0], 2)
    assert table.loc["without_records", "subjects"] == 0
    age = adsl_pair[2].drop_duplicates("USUBJID").iloc[5]
    assert table.loc["conflict", "reason"] == "AGE differs from ADSL (BDS value kept)"
    assert table.loc["conflict", "records"] == (adsl_pair[2]["USUBJID"] == age["USUBJID"]).sum()
    results = json.loads((adsl_report / "analysis_results.json").read_text())
    assert Path(results["settings"]["adsl"]) == adsl_pair[1]
    assert results["records"]["adsl"]["conflicts"][0]["variable"] == "AGE"
    index = (adsl_report / "index.html").read_text()
    assert "ADSL adsl.xpt: 88 of 90 subjects merged, 2 not in ADSL (excluded)" in index


def test_cli_ice_where_on_eosstt_from_adsl(adsl_pair, adsl_report):
    """The derived ICE (dropout) of the subjects whose ADSL EOSSTT is DISCONTINUED: counted
    by hand, those with a last analysed visit before the last visit, by arm."""
    analysed = _hand_counts(adsl_pair[2])["analysed_data"]
    subjects = analysed.groupby("USUBJID").agg(arm=("TRT01P", "first"), last=("AVISITN", "max"),
                                               reason=("DCSREAS", "first"))
    events = subjects.loc[subjects["reason"].notna() & (subjects["last"] < analysed["AVISITN"].max())]
    expected = events.groupby("arm").size().to_dict()
    results = json.loads((adsl_report / "analysis_results.json").read_text())
    found = {row["arm"]: row["with_ice"] for row in results["estimands"][0]["ice"]}
    assert found == {arm: expected.get(arm, 0) for arm in found}
    assert sum(found.values()) > 0


def test_cli_option_and_errors_in_cli_words(adsl_pair, tmp_path, capsys):
    bds, _, _ = adsl_pair
    broken = tmp_path / "adsl.csv"
    read_table(adsl_pair[1]).drop(columns="USUBJID").to_csv(broken, index=False)
    code = main(["analyze", str(bds), "--adsl", str(broken), "--param", "HAMD17",
                 "--out", str(tmp_path / "r")])
    assert code == 2
    assert "has no column 'USUBJID' (subject), the key of the ADSL merge (--adsl)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    assert "--adsl FILE" in capsys.readouterr().out


def test_report_folder_never_replaces_the_adsl_file(adsl_pair, tmp_path, capsys):
    import shutil

    (tmp_path / "study").mkdir()
    adsl = Path(shutil.copy(adsl_pair[1], tmp_path / "study" / "adsl.xpt"))
    code = main(["analyze", str(adsl_pair[0]), "--adsl", str(adsl), "--out", str(adsl.parent)])
    assert code == 2
    assert "would replace the ADSL file (adsl)" in capsys.readouterr().err
