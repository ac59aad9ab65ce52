"""trialmlm.read: file formats, ADaM BDS conventions, every error, visit order from AVISITN.

Files are written in a temporary folder: CSV and parquet with pandas, SAS transport (v5)
with pyreadstat (the ``test`` extra).  No tool here writes a sas7bdat file that SAS or
pandas reads correctly (ReadStat's writer, used by pyreadstat and haven, makes files that
pandas misreads), so the sas7bdat reader is tested on ``tests/data/iris.sas7bdat``, a file
written by SAS 9.4 and shipped as an example with R haven (MIT licence).
"""

from __future__ import annotations

import inspect
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError
from trialmlm.data.vocabulary import command_line
from trialmlm.missing import dropout_table, patterns

DATA = Path(__file__).parent / "data"
# AVISITN order differs from alphabetical and natural order of the labels
VISITS = {"Baseline": 0, "Day 8": 1, "Week 2": 2, "Month 1": 4, "End of Treatment": 8}
POST = [v for v in VISITS if v != "Baseline"]


def bds(n_subjects: int = 8, seed: int = 1) -> pd.DataFrame:
    """A small ADaM BDS data set: two parameters, a baseline row not flagged for analysis."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_subjects):
        arm = ("Placebo", "Active")[i % 2]
        base = float(rng.integers(20, 30))
        dropped = i % 4 == 3  # leaves after Week 2
        for paramcd, param in (("HAMD17", "HAMD-17 Total Score"), ("MADRS", "MADRS Total Score")):
            for visit, number in VISITS.items():
                if dropped and number > 2:
                    continue
                aval = base if number == 0 else base - number - float(rng.normal(0, 3))
                rows.append({"USUBJID": f"S{i:02d}", "TRT01P": arm, "TRT01A": arm, "PARAMCD": paramcd,
                             "PARAM": param, "AVISIT": visit, "AVISITN": number, "AVAL": aval,
                             "BASE": base, "CHG": np.nan if number == 0 else aval - base,
                             "ANL01FL": None if number == 0 else "Y",
                             "DCSREAS": "Adverse Event" if dropped else None})
    # file order must not decide the visit order
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture()
def csv(tmp_path) -> Path:
    path = tmp_path / "adeff.csv"
    bds().to_csv(path, index=False)
    return path


def write_csv(tmp_path, df, name="x.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


# -- formats ---------------------------------------------------------------------------------


def test_csv_bds_conventions(csv):
    df = trialmlm.read(csv, param="HAMD17")
    raw = bds()
    expected = raw[(raw["PARAMCD"] == "HAMD17") & (raw["ANL01FL"] == "Y")]
    assert len(df) == len(expected) and list(df.index) == list(range(len(df)))
    assert set(df["PARAMCD"]) == {"HAMD17"} and set(df["ANL01FL"]) == {"Y"}
    assert isinstance(df["AVISIT"].dtype, pd.CategoricalDtype) and df["AVISIT"].cat.ordered
    assert list(df["AVISIT"].cat.categories) == POST  # AVISITN order; Baseline removed by ANL01FL
    assert list(df.columns) == list(raw.columns)  # everything passes through
    assert set(df["TRT01P"]) == {"Placebo", "Active"}
    assert df.groupby("USUBJID")["DCSREAS"].first().isna().sum() == 6  # completers: missing
    # rows keep their values: compare with the file filtered by hand
    merged = df.merge(expected.assign(AVISIT=expected["AVISIT"].astype(str)), on=["USUBJID", "AVISIT"],
                      suffixes=("", "_x"))
    assert len(merged) == len(df)
    np.testing.assert_allclose(merged["AVAL"], merged["AVAL_x"])


def test_param_matches_param_label(csv):
    by_label = trialmlm.read(csv, param="MADRS Total Score")
    assert set(by_label["PARAMCD"]) == {"MADRS"}
    pd.testing.assert_frame_equal(by_label, trialmlm.read(csv, param="MADRS"))


def test_analysis_flag_none_keeps_every_row(csv):
    df = trialmlm.read(csv, param="HAMD17", analysis_flag=None, keep_baseline=True)
    assert "Baseline" in df["AVISIT"].cat.categories
    assert df["AVISIT"].cat.categories[0] == "Baseline"  # AVISITN 0
    assert len(df) == (bds()["PARAMCD"] == "HAMD17").sum()


def test_other_analysis_flag(tmp_path):
    df = bds().assign(ANL02FL=lambda d: np.where(d["AVISITN"] >= 2, "Y", None))
    out = trialmlm.read(write_csv(tmp_path, df), param="HAMD17", analysis_flag="ANL02FL")
    assert list(out["AVISIT"].cat.categories) == ["Week 2", "Month 1", "End of Treatment"]


def test_without_flag_parameter_or_visit_order(tmp_path):
    """A plain long file: no ANL01FL, no PARAMCD, no AVISITN -> rows and dtypes unchanged."""
    raw = bds()
    raw = raw[raw["PARAMCD"] == "HAMD17"].drop(columns=["ANL01FL", "PARAMCD", "PARAM", "AVISITN"])
    df = trialmlm.read(write_csv(tmp_path, raw), response="AVAL", keep_baseline=True)
    assert len(df) == len(raw) and df["AVISIT"].dtype == object
    # without ABLFL, the visit named "Baseline" holds the baseline records
    post = trialmlm.read(write_csv(tmp_path, raw), response="AVAL")
    assert len(post) == (raw["AVISIT"] != "Baseline").sum()
    assert post.attrs["records"].exclusions[-1].reason == "baseline record (AVISIT = 'Baseline')"


def test_parquet_matches_csv(tmp_path, csv):
    pytest.importorskip("pyarrow")
    path = tmp_path / "adeff.parquet"
    bds().to_parquet(path, index=False)
    pd.testing.assert_frame_equal(trialmlm.read(path, param="HAMD17"), trialmlm.read(csv, param="HAMD17"))


def test_parquet_categorical_visit_is_reordered(tmp_path):
    """A Categorical stored in parquet with another order is re-ordered by AVISITN."""
    pytest.importorskip("pyarrow")
    raw = bds()
    raw["AVISIT"] = pd.Categorical(raw["AVISIT"], categories=sorted(VISITS))
    path = tmp_path / "adeff.parquet"
    raw.to_parquet(path, index=False)
    assert list(trialmlm.read(path, param="HAMD17")["AVISIT"].cat.categories) == POST


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    path = tmp_path / "adeff.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(DataError, match=r"adeff\.parquet.*needs pyarrow.*trialmlm\[parquet\]"):
        trialmlm.read(path)


def test_xpt_matches_csv(tmp_path, csv):
    pyreadstat = pytest.importorskip("pyreadstat")
    raw = bds()
    path = tmp_path / "adeff.xpt"
    pyreadstat.write_xport(raw, str(path), file_format_version=5, table_name="ADEFF")
    df = trialmlm.read(path, param="HAMD17")
    ref = trialmlm.read(csv, param="HAMD17")
    assert isinstance(df["USUBJID"].iloc[0], str)  # bytes decoded
    assert df["DCSREAS"].isna().sum() == ref["DCSREAS"].isna().sum()  # SAS blanks -> missing
    pd.testing.assert_frame_equal(df, ref, check_dtype=False)


def test_xpt_keeps_last_row_ending_in_blanks(tmp_path):
    """Short records whose last row ends in blank-padded text: pandas alone drops that row."""
    pyreadstat = pytest.importorskip("pyreadstat")
    df = pd.DataFrame({"USUBJID": ["S1", "S1", "S2"], "AVISIT": ["Week 1", "Week 2", "Week 1"],
                       "AVAL": [1.5, np.nan, 2.0], "DCSREAS": ["", "", "Adverse Event"],
                       "SITE": ["Zürich", "Zürich", "B"]})
    path = tmp_path / "short.xpt"
    pyreadstat.write_xport(df, str(path), file_format_version=5)
    out = trialmlm.read(path)
    assert len(out) == 3 and out["SITE"].tolist() == ["Zürich", "Zürich", "B"]  # UTF-8 decoded
    assert out["DCSREAS"].isna().tolist() == [True, True, False]






def test_sas7bdat(tmp_path):
    df = trialmlm.read(DATA / "iris.sas7bdat", subject=None, visit=None)
    assert df.shape == (150, 5)
    # the file stores Species with length 6 (SAS truncated it), as pyreadstat and haven also read
    assert df["Species"].iloc[0] == "setosa" and set(df["Species"]) == {"setosa", "versic", "virgin"}
    np.testing.assert_allclose(df["Sepal_Length"].iloc[:3], [5.1, 4.9, 4.7])
    with pytest.raises(DataError, match=r"iris\.sas7bdat' has no column 'USUBJID' \(subject\).*Sepal_Length"):
        trialmlm.read(DATA / "iris.sas7bdat")


def test_corrupt_sas_file(tmp_path):
    path = tmp_path / "bad.sas7bdat"
    path.write_bytes(b"not a SAS file" * 100)
    with pytest.raises(DataError, match=r"cannot read '.*bad\.sas7bdat' as SAS sas7bdat"):
        trialmlm.read(path)


# -- errors --------------------------------------------------------------------------------


def test_unreadable_csv(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("USUBJID,SITE\nS1,Z\u00fcrich\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"cannot read '.*latin\.csv' as CSV"):
        trialmlm.read(path, visit=None)
    assert trialmlm.read(path, visit=None, encoding="latin-1")["SITE"].iloc[0] == "Z\u00fcrich"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"cannot read '.*empty\.csv' as CSV"):
        trialmlm.read(empty)


def test_wrong_sas_encoding(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    path = tmp_path / "utf8.xpt"
    frame = pd.DataFrame({"USUBJID": ["S1"], "SITE": ["\u00e9\u00e9\u00e9"]})
    pyreadstat.write_xport(frame, str(path), file_format_version=5)
    with pytest.raises(DataError, match=r"cannot read '.*utf8\.xpt' as SAS xport \(text encoding 'ascii'\)"):
        trialmlm.read(path, visit=None, encoding="ascii")


def test_xpt_version_8(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    path = tmp_path / "v8.xpt"
    pyreadstat.write_xport(bds(), str(path), file_format_version=8)
    v5 = tmp_path / "v5.xpt"
    pyreadstat.write_xport(bds(), str(v5), file_format_version=5)
    pd.testing.assert_frame_equal(trialmlm.read(path, param="HAMD17"), trialmlm.read(v5, param="HAMD17"))


def test_unknown_extension(tmp_path):
    path = tmp_path / "adeff.xlsx"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"adeff\.xlsx.*unknown extension '\.xlsx'.*\.csv, \.parquet"):
        trialmlm.read(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"'.*nothere\.csv' does not exist"):
        trialmlm.read(tmp_path / "nothere.csv")


@pytest.mark.parametrize("column, role, kwargs", [
    ("USUBJID", "subject", {}),
    ("AVISIT", "visit", {}),
    ("CHG", "response", {"response": "CHG"}),
])
def test_missing_required_column(tmp_path, column, role, kwargs):
    path = write_csv(tmp_path, bds().drop(columns=column))
    with pytest.raises(DataError, match=rf"no column '{column}' \({role}\); its columns are .*TRT01P"):
        trialmlm.read(path, param="HAMD17", **kwargs)


def test_custom_column_names(tmp_path):
    raw = bds().rename(columns={"USUBJID": "ID", "AVISIT": "VISIT", "AVISITN": "VISITNUM"})
    df = trialmlm.read(write_csv(tmp_path, raw), param="HAMD17", subject="ID", visit="VISIT",
                       visit_order="VISITNUM")
    assert list(df["VISIT"].cat.categories) == POST


def test_several_parameters_need_param(csv):
    with pytest.raises(DataError, match=r"2 parameters \(PARAMCD: HAMD17, MADRS\); choose one with param=$"):
        trialmlm.read(csv)
    with command_line(), pytest.raises(DataError, match=r"MADRS\); choose one with --param$"):
        trialmlm.read(csv)


def test_several_parameters_by_label_only(tmp_path):
    path = write_csv(tmp_path, bds().drop(columns="PARAMCD"))
    with pytest.raises(DataError, match=r"2 parameters \(PARAM: HAMD-17 Total Score, MADRS Total Score\)"):
        trialmlm.read(path)


def test_param_selects_nothing(csv):
    expected = r"param='FVC' selects no rows of .*; PARAMCD values are HAMD17, MADRS$"
    with pytest.raises(DataError, match=expected):
        trialmlm.read(csv, param="FVC")
    with command_line(), pytest.raises(DataError, match=r"^--param FVC selects no rows of "):
        trialmlm.read(csv, param="FVC")


def test_param_without_parameter_columns(tmp_path):
    path = write_csv(tmp_path, bds().drop(columns=["PARAMCD", "PARAM"]))
    with pytest.raises(DataError, match=r"param='HAMD17' given but .* has neither PARAMCD nor PARAM"):
        trialmlm.read(path, param="HAMD17")


def test_analysis_flag_column_missing(csv):
    with pytest.raises(DataError, match=r"analysis_flag='ANL02FL': .* has no such column"):
        trialmlm.read(csv, param="HAMD17", analysis_flag="ANL02FL")


def test_analysis_flag_selects_nothing(tmp_path):
    path = write_csv(tmp_path, bds().assign(ANL01FL=None))
    with pytest.raises(DataError, match=r"no record of .* has ANL01FL = 'Y'.*analysis_flag=None"):
        trialmlm.read(path, param="HAMD17")


def test_visit_with_two_numbers(tmp_path):
    raw = bds()
    raw.loc[(raw["AVISIT"] == "Month 1") & (raw["USUBJID"] == "S01"), "AVISITN"] = 5
    with pytest.raises(DataError, match=r"visit 'Month 1' of .* has several AVISITN values \(4, 5\)"):
        trialmlm.read(write_csv(tmp_path, raw), param="HAMD17")


def test_two_visits_one_number(tmp_path):
    raw = bds()
    raw.loc[raw["AVISIT"] == "Month 1", "AVISITN"] = 2
    with pytest.raises(DataError, match=r"visits 'Week 2', 'Month 1' of .* share AVISITN = 2"):
        trialmlm.read(write_csv(tmp_path, raw), param="HAMD17")


def test_visit_without_number(tmp_path):
    raw = bds()
    raw.loc[raw["AVISIT"] == "Month 1", "AVISITN"] = np.nan
    with pytest.raises(DataError, match=r"visit 'Month 1' of .* has no AVISITN value"):
        trialmlm.read(write_csv(tmp_path, raw), param="HAMD17")


def test_visit_order_not_numeric(tmp_path):
    raw = bds().assign(AVISITN=lambda d: "N" + d["AVISITN"].astype(str))
    with pytest.raises(DataError, match=r"'AVISITN' \(visit order\) of .* must be numeric"):
        trialmlm.read(write_csv(tmp_path, raw), param="HAMD17")


def test_response_not_numeric(tmp_path):
    raw = bds().assign(AVAL=lambda d: d["AVAL"].round(1).astype(str) + " pts")
    with pytest.raises(DataError, match=r"response 'AVAL' of .* must be numeric"):
        trialmlm.read(write_csv(tmp_path, raw), param="HAMD17", response="AVAL")


# -- the rest of trialmlm follows the AVISITN order ------------------------------------------


@pytest.fixture(scope="module")
def ordered_fit_data(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("io") / "adeff.csv"
    bds(n_subjects=60, seed=7).to_csv(path, index=False)
    return trialmlm.read(path, param="HAMD17", response="CHG")


def test_fit_uses_avisitn_order(ordered_fit_data):
    """Natural sort would give 'Day 8, End of Treatment, Month 1, Week 2'."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", ordered_fit_data)
    assert fit.converged
    assert list(fit.covariance_matrix().index) == POST
    assert list(fit.design.class_levels["AVISIT"]) == POST
    visit_coefs = [c for c in fit.coef_names if c.startswith("AVISIT[")]
    assert visit_coefs == [f"AVISIT[T.{v}]" for v in POST[1:]]  # first AVISITN level is reference
    lsm = fit.lsmeans("AVISIT")
    assert list(lsm["AVISIT"]) == POST
    # the same fit on the plain-string column orders the visits differently
    plain = ordered_fit_data.assign(AVISIT=ordered_fit_data["AVISIT"].astype(str))
    other = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", plain)
    assert list(other.covariance_matrix().index) == ["Day 8", "End of Treatment", "Month 1", "Week 2"]
    assert other.loglik == pytest.approx(fit.loglik, abs=1e-6)  # same model, other labels order


def test_missing_data_tools_use_avisitn_order(ordered_fit_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # absent rows (dropout) must not trigger pandas warnings
        tab = patterns(ordered_fit_data, "USUBJID", "AVISIT", "CHG", arm="TRT01P")
    assert list(tab.columns[-4:]) == POST
    assert set(tab["pattern"]) == {"XXXX", "XX.."}  # dropout after Week 2 reads as monotone
    drop = dropout_table(ordered_fit_data, "USUBJID", "AVISIT", "CHG", arm="TRT01P", reason="DCSREAS")
    assert list(drop["AVISIT"].unique()) == POST
    at_month1 = drop[drop["AVISIT"] == "Month 1"]
    assert at_month1["n_dropout"].sum() == 15 and at_month1["Adverse Event"].sum() == 15


def test_docs_describe_every_option():
    doc = (Path(__file__).parents[1] / "docs" / "data.md").read_text()
    for name in inspect.signature(trialmlm.read).parameters:
        assert f"`{name}" in doc or f"{name}=" in doc, f"docs/data.md does not describe {name}"
    assert "data.md" in (Path(__file__).parents[1] / "docs" / "index.md").read_text()


def test_sas_zeros_and_special_missing_values(tmp_path):
    """Stored zeros stay 0 (pandas' XPORT reader returns 5.4e-79); .A and ._ are missing."""
    pyreadstat = pytest.importorskip("pyreadstat")
    path = tmp_path / "special.xpt"
    frame = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4"], "AVAL": [0.0, np.nan, np.nan, -0.0]})
    pyreadstat.write_xport(frame, str(path), file_format_version=5)
    raw = bytearray(path.read_bytes())
    missing = b"\x2e" + b"\x00" * 7  # SAS '.' in IBM floating point: the first byte names the kind
    first = raw.find(missing)
    second = raw.find(missing, first + 8)
    raw[first], raw[second] = ord("A"), ord("_")  # .A and ._
    path.write_bytes(bytes(raw))
    df = trialmlm.read(path, visit=None)
    assert df["AVAL"].iloc[0] == 0 and df["AVAL"].iloc[3] == 0
    assert df["AVAL"].iloc[1:3].isna().all()
    assert (df["AVAL"] == 0).sum() == 2
