"""ADaM record selection (trialmlm.data.adam, through trialmlm.read): populations, analysis flags,
derived records, baseline records, arm order, counts — on a constructed BDS file (CSV and
SAS transport) and on a real SAS-written ADaM file of the CDISC pilot, checked against an
independent selection and fit in R (tests/reference/make_adam_refs.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import adam_bds

import trialmlm
from trialmlm import DataError
from trialmlm.data.adam import arm_order, population_flags
from trialmlm.data.vocabulary import command_line
from trialmlm.errors import DataWarning

HERE = Path(__file__).parent
PILOT = HERE / "data" / "cdiscpilot01_adcibc.xpt"
REFS = json.loads((HERE / "reference" / "adam_refs.json").read_text())
SAP = dict(param="HAMD17", response="CHG", population="EFFFL", arm="TRT01P")


@pytest.fixture(scope="module")
def bds():
    return adam_bds()


@pytest.fixture(params=["csv", "xpt"])
def adam_file(request, tmp_path, bds):
    data, _ = bds
    path = tmp_path / f"adeff.{request.param}"
    if request.param == "csv":
        data.to_csv(path, index=False)
    else:
        import pyreadstat

        pyreadstat.write_xport(data, str(path), file_format_version=5, table_name="ADEFF")
    return path


def test_sap_selection_counts_every_record(adam_file, bds):
    data, expected = bds
    before = adam_file.read_bytes()
    df = trialmlm.read(adam_file, **SAP)
    assert adam_file.read_bytes() == before  # the input file is never modified
    counts = df.attrs["records"]
    assert counts.read_records == expected["read"] and counts.read_subjects == expected["subjects"]
    removed = {e.step: e.records for e in counts.exclusions}
    assert removed == {k: expected[k] for k in ("param", "population", "analysis_flag", "dtype", "baseline")}
    assert len(df) == counts.records == expected["analysed"] and counts.subjects == 33
    table = counts.table
    assert table["records"].iloc[0] + table["records"].iloc[1:-1].sum() == table["records"].iloc[-1]
    # exactly the right records: observed, post-baseline, flagged, in the population
    assert set(df["EFFFL"]) == {"Y"} and df["DTYPE"].isna().all() and df["ABLFL"].isna().all()
    assert list(df["AVISIT"].cat.categories) == ["Week 2", "Week 4", "Week 8"]
    assert not df.duplicated(["USUBJID", "AVISIT"]).any()
    assert (df["CHG"] == 0).sum() == ((data["PARAMCD"] == "HAMD17") & (data["CHG"] == 0)
                                      & (data["EFFFL"] == "Y") & data["DTYPE"].isna()
                                      & (data["ANL01FL"] == "Y")).sum() > 0  # zeros stay zeros
    # dropouts are missing after Week 2, not carried forward
    dropped = df[df["USUBJID"] == "TRIAL-01-003"]
    assert list(dropped["AVISIT"].astype(str)) == ["Week 2"]
    # arms in TRT01PN order, not alphabetical
    assert list(df["TRT01P"].cat.categories) == ["Placebo", "Drug Low", "Drug High"]
    assert set(df.loc[df["TRT01P"] == "Placebo", "TRT01PN"]) == {0.0}


def test_keep_dtype_and_baseline(adam_file, bds):
    _, expected = bds
    locf = trialmlm.read(adam_file, **SAP, keep_dtype=["LOCF"])
    assert len(locf) == expected["analysed"] + expected["dtype"]
    assert (locf["DTYPE"] == "LOCF").sum() == expected["dtype"]
    with_base = trialmlm.read(adam_file, param="HAMD17", response="AVAL", population="EFFFL",
                              keep_baseline=True)
    assert list(with_base["AVISIT"].cat.categories) == ["Baseline", "Week 2", "Week 4", "Week 8"]
    assert len(with_base) == expected["analysed"] + expected["baseline"]


def test_where_and_analysis_flag(adam_file, bds):
    df = trialmlm.read(adam_file, **SAP, where="AVISITN <= 4 and TRT01P != 'Drug High'")
    assert set(df["AVISIT"].astype(str)) == {"Week 2", "Week 4"}
    assert set(df["TRT01P"].astype(str)) == {"Placebo", "Drug Low"}
    step = [e for e in df.attrs["records"].exclusions if e.step == "where"][0]
    assert step.reason == "not selected by: AVISITN <= 4 and TRT01P != 'Drug High'" and step.records > 0
    # without the analysis flag the window duplicates are two records at one visit
    with pytest.raises(DataError, match=r"subject 'TRIAL-01-005' has 2 records at AVISIT = 'Week 4'"):
        trialmlm.read(adam_file, **SAP, analysis_flag=None)


def test_dataframe_input_same_as_file(adam_file, bds):
    data, _ = bds
    from_file = trialmlm.read(adam_file, **SAP)
    from_frame = trialmlm.read(data, **SAP)
    assert from_frame.attrs["records"].table["records"].tolist() == \
        from_file.attrs["records"].table["records"].tolist()
    pd.testing.assert_frame_equal(from_frame[["USUBJID", "CHG"]], from_file[["USUBJID", "CHG"]])


@pytest.mark.parametrize("kwargs, message", [
    ({"population": "FASFL"},
     r"population='FASFL': .* has no such column; its population flags are EFFFL, ITTFL"),
    ({"population": "EFFFL", "where": "EFFFL == 'N'"}, r"where=\"EFFFL == 'N'\" selects no record"),
    ({"where": "AVISITN <"}, r"where='AVISITN <': expected"),
    ({"where": "VISITNUM == 2"}, r"names column 'VISITNUM', which is not in the data"),
    ({"analysis_flag": "ANL02FL"}, r"analysis_flag='ANL02FL': .* has no such column"),
    ({"keep_dtype": ["WOCF"]},
     r"keep_dtype=\['WOCF'\]: no record .* has DTYPE = 'WOCF'; its derived records are LOCF"),
    ({"arm_order": ["Placebo", "Drug Low"]},
     r"arm_order=\['Placebo', 'Drug Low'\] misses level 'Drug High' of 'TRT01P'"),
    ({"arm_order": ["Placebo", "Drug Low", "Drug High", "Drug Max"]}, r"arm_order=\[.*\] names 'Drug Max'"),
])
def test_bad_selection_named(adam_file, kwargs, message):
    with pytest.raises(DataError, match=message):
        trialmlm.read(adam_file, **{**SAP, **kwargs})


def test_population_flag_must_be_subject_level(bds):
    data, _ = bds
    data = data.copy()
    data.loc[(data["USUBJID"] == "TRIAL-01-010").idxmax(), "EFFFL"] = "N"
    with pytest.raises(DataError, match=r"flag EFFFL is not constant within subject 'TRIAL-01-010'"):
        trialmlm.read(data, **{**SAP, "population": "EFFFL"})


def test_population_selecting_nobody(bds):
    data, _ = bds
    with pytest.raises(DataError, match=r"population='EFFFL' selects nobody: .*; its population flags are "
                                        r"EFFFL, ITTFL$"):
        trialmlm.read(data.assign(EFFFL="N"), **SAP)


def test_population_candidates_are_subject_level_flags(bds):
    """ABLFL varies within subject; ANL01FL and ONTRTFL are record-level flags even where every
    record of a subject has the same value; a text column ending in FL is no flag."""
    data, _ = bds
    data = data.assign(ANL01FL="Y", ONTRTFL="Y", SAFFL="Y", COMP24FL=data["EFFFL"], DSDECFL="COMPLETED")
    assert population_flags(data, "USUBJID") == ["EFFFL", "ITTFL", "SAFFL", "COMP24FL"]
    with pytest.raises(DataError, match=r"its population flags are EFFFL, ITTFL \(other subject-level flags: "
                                        r"DTHFL\)$"):
        trialmlm.read(bds[0].assign(DTHFL=""), **{**SAP, "population": "FASFL"})
    flags = r"its population flags are EFFFL, ITTFL, SAFFL, COMP24FL$"
    with pytest.raises(DataError, match=r"^population='FASFL': .* no such column; " + flags):
        trialmlm.read(data, **{**SAP, "population": "FASFL"})
    with command_line(), pytest.raises(DataError, match=r"^--population ABLFL: .*; its population flags"):
        trialmlm.read(data.drop(columns="ABLFL"), **{**SAP, "population": "ABLFL"})
    with pytest.raises(DataError, match=r"flag ABLFL is not constant within subject .*: " + flags):
        trialmlm.read(data, **{**SAP, "population": "ABLFL"})


def test_arm_order_rules(bds):
    data, _ = bds
    assert arm_order(data, "TRT01P") == ["Placebo", "Drug Low", "Drug High"]  # TRT01PN
    with pytest.warns(DataWarning, match=r"^arms of 'TRT01P' in alphabetical order \(Drug High, Drug Low, "
                                         r"Placebo\): the data have no numeric TRT01PN; give the table order "
                                         r"with arm_order=\['Drug High', 'Drug Low', 'Placebo'\]$"):
        assert arm_order(data.drop(columns="TRT01PN"), "TRT01P") == ["Drug High", "Drug Low", "Placebo"]
    assert arm_order(data, "TRT01P", reference="Drug High") == ["Drug High", "Placebo", "Drug Low"]
    given = ["Drug High", "Drug Low", "Placebo"]
    assert arm_order(data, "TRT01P", order=given) == given
    bad = data.assign(TRT01PN=np.where(data["TRT01P"] == "Drug Low", 0.0, data["TRT01PN"]))
    with pytest.raises(DataError, match=r"'TRT01PN' is not one number per level of 'TRT01P'"):
        arm_order(bad, "TRT01P")
    with pytest.raises(DataError, match=r"reference arm 'Active' is not a level of 'TRT01P'"):
        arm_order(data, "TRT01P", reference="Active")


def test_alphabetical_arm_order_hint(bds):
    """One warning, in the order used (reference first), in the caller's words; none when the
    order is given, numbered, or decided by the reference of two arms."""
    data = bds[0].drop(columns="TRT01PN")
    with command_line(), pytest.warns(DataWarning) as caught:
        trialmlm.read(data, **SAP, reference="Placebo")
    assert [str(w.message) for w in caught] == [
        "arms of 'TRT01P' in alphabetical order after the reference (Placebo, Drug High, Drug Low): the data "
        "have no numeric TRT01PN; give the table order with --arm-order Placebo \"Drug High\" \"Drug Low\""]
    two = data.loc[data["TRT01P"] != "Drug Low"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        trialmlm.read(two, **SAP, reference="Placebo")
        trialmlm.read(data, **SAP, arm_order=["Placebo", "Drug Low", "Drug High"])
        trialmlm.read(bds[0], **SAP)
    with pytest.warns(DataWarning, match="alphabetical order"):
        trialmlm.read(two, **SAP)


# -- the real thing: a SAS-written ADaM file ------------------------------------------------------
def test_pilot_xpt_read_as_sas_wrote_it():
    """Zeros, labels, dates; counts of each selection step equal an independent base-R selection."""
    raw = trialmlm.read(PILOT, analysis_flag=None, keep_dtype=["LOCF"], subject=None, visit=None)
    assert (raw["TRTPN"] == 0).sum() == REFS["records"]["zero_trtpn"] == 243  # pandas' reader: 5.4e-79
    assert raw.attrs["labels"]["TRTP"] == "Planned Treatment"
    assert raw["ADT"].dtype.kind == "M" and str(raw["ADT"].iloc[0].date()) == "2014-03-05"
    df = trialmlm.read(PILOT, response="AVAL", population="EFFFL", arm="TRTP")
    steps = {e.step: e for e in df.attrs["records"].exclusions}
    ref = REFS["records"]
    counts = df.attrs["records"]
    assert counts.read_records == ref["read"]["records"] and counts.read_subjects == ref["read"]["subjects"]
    left = ref["read"]["records"]
    for step in ("population", "analysis_flag", "dtype"):
        left -= steps[step].records
        assert left == ref[step]["records"], step
    assert counts.subjects == ref["dtype"]["subjects"]
    assert list(df["TRTP"].cat.categories) == ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
    cells = df.groupby(["TRTP", "AVISIT"], observed=True).size()
    for cell in REFS["by_cell"]:
        assert cells[(cell["arm"], cell["visit"])] == cell["Freq"]


def test_pilot_mmrm_equals_independent_fit():
    """The MMRM on the selected pilot records equals nlme::gls on R's own selection."""
    df = trialmlm.read(PILOT, response="AVAL", population="EFFFL", arm="TRTP")
    fit = trialmlm.fit("AVAL ~ SITEGR1 + TRTP * AVISIT + us(AVISIT | USUBJID)", df)
    ref = REFS["mmrm_us"]
    assert fit.n_obs == ref["n_obs"]
    assert abs(-2 * fit.loglik - ref["m2loglik"]) < 1e-6
    ls = fit.lsmeans("TRTP", by="AVISIT")
    want = pd.DataFrame(ref["lsmeans"])
    got = ls.set_index([ls["TRTP"].astype(str), ls["AVISIT"].astype(str)])
    for r in want.itertuples():
        np.testing.assert_allclose(got.loc[(r.arm, r.visit), ["estimate", "se"]].to_numpy(float),
                                   [r.estimate, r.se], rtol=1e-5)
    diff = fit.compare("TRTP", by="AVISIT", reference="Placebo")
    want = pd.DataFrame(ref["differences"])
    np.testing.assert_allclose(diff["estimate"], want["estimate"], rtol=1e-5)
    np.testing.assert_allclose(diff["se"], want["se"], rtol=1e-5)
