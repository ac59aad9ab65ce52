"""Estimands in the report: the ICE table from an ICE file, an ADaM flag, a date or dropout
(:func:`trialmlm.estimands.ice_table`), tables 7a/7b and analysis_results.json, and the
errors of bad estimand settings.

The numbers of each estimand are those of :func:`trialmlm.estimands.condmean`, validated
against R rbmi in ``test_missing_condmean.py``; here the ICE derivation is checked against
the rbmi quickstart's (``make_condmean_refs.R``) and the report against the API.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import adam_bds

import trialmlm
from trialmlm.app import cli
from trialmlm.errors import DataError
from trialmlm.estimands import condmean, ice_table

REF = Path(__file__).parent / "reference"
KEYS = dict(subject="USUBJID", visit="AVISIT", response="CHG")


def test_dropout_ice_equals_the_rbmi_quickstart():
    """The quickstart's data_ice: first missing visit of each dropout (patient 3618, whose only
    gap is intermittent, removed by hand there; here no row because it is seen at the last visit)."""
    data = pd.read_csv(REF / "antidepressant.csv", dtype={"PATIENT": str, "VISIT": str})
    reference = pd.DataFrame(json.loads((REF / "condmean_refs.json").read_text())["scenarios"]["JR"]["ice"])
    got = ice_table(data, subject="PATIENT", visit="VISIT", response="CHANGE", strategy="JR")
    pd.testing.assert_frame_equal(got.sort_values("PATIENT").reset_index(drop=True),
                                  reference.sort_values("PATIENT").reset_index(drop=True))


def _trial() -> pd.DataFrame:
    """Four visits; a: dropout after W2 (post-ICE flagged and dated), b: off treatment from W2 but
    observed at W3-W4, c: observed throughout, d: event after its last visit, e: event before W1."""
    visits = ["W1", "W2", "W3", "W4"]
    rows = []
    for s, chg, flag, event in [
        ("a", [1, 2, None, None], ["", "", "Y", "Y"], "2020-02-15"),
        ("b", [1, 2, 3, 4], ["", "Y", "Y", "Y"], "2020-01-20"),
        ("c", [1, 2, 3, 4], ["", "", "", ""], None),
        ("d", [1, 2, 3, 4], ["", "", "", ""], "2020-06-01"),
        ("e", [None, 2, 3, None], ["Y", "Y", "Y", "Y"], "2019-12-01"),
    ]:
        for v, y, f in zip(visits, chg, flag):
            rows.append({"USUBJID": s, "AVISIT": v, "CHG": y, "PDFL": f,
                         "ADT": pd.Timestamp(f"2020-0{visits.index(v) + 1}-01"),
                         "TRTEDT": pd.Timestamp(event) if event else pd.NaT})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("how, expected", [
    ({}, {"a": "W3", "e": None}),  # dropout: e is observed at W3, missing at W4 -> W4
    ({"flag": "PDFL"}, {"a": "W3", "b": "W2", "e": "W1"}),
    ({"event_date": "TRTEDT"}, {"a": "W3", "b": "W2", "e": "W1"}),
])
def test_ice_rules(how, expected):
    data = _trial()
    before = data.copy()
    got = ice_table(data, **KEYS, strategy="JR", **how)
    if not how:
        expected = {"a": "W3", "e": "W4"}
    assert dict(zip(got["USUBJID"], got["AVISIT"])) == expected
    assert (got["strategy"] == "JR").all()
    pd.testing.assert_frame_equal(data, before)


def test_ice_dates_as_sas_numbers_and_text():
    data = _trial()
    sas = data.assign(ADT=(data["ADT"] - pd.Timestamp("1960-01-01")).dt.days,
                      TRTEDT=(data["TRTEDT"] - pd.Timestamp("1960-01-01")).dt.days)
    text = data.assign(ADT=data["ADT"].dt.strftime("%Y-%m-%d"), TRTEDT=data["TRTEDT"].dt.strftime("%Y-%m-%d"))
    expected = ice_table(data, **KEYS, event_date="TRTEDT")
    for other in (sas, text):
        pd.testing.assert_frame_equal(ice_table(other, **KEYS, event_date="TRTEDT"), expected)


@pytest.mark.parametrize("change, how, message", [
    (lambda d: d, {"flag": "PDFL", "event_date": "TRTEDT"}, "not both"),
    (lambda d: d, {"flag": "NOPE"}, "NOPE"),
    (lambda d: d, {"strategy": "XX"}, "unknown"),
    (lambda d: d.assign(ADT=d["ADT"].where(d.index != 1)), {"event_date": "TRTEDT"},
     "'ADT' is missing on row 1"),
    (lambda d: d.assign(TRTEDT=d["TRTEDT"].where(d.index != 0, pd.Timestamp("2020-03-03"))),
     {"event_date": "TRTEDT"}, "more than one value of 'TRTEDT'"),
    (lambda d: d.assign(TRTEDT="soon"), {"event_date": "TRTEDT"}, "not a date"),
])
def test_ice_rule_errors(change, how, message):
    with pytest.raises(DataError, match=message):
        ice_table(change(_trial()), **KEYS, **how)


@pytest.fixture(scope="module")
def adam(tmp_path_factory):
    """adam_bds with dates, the dropouts' treatment end (TRTEDT) between Weeks 2 and 4, an ICE
    file of the dropouts (CSV and XPT), and a post-discontinuation flag PDFL on the observed
    Week 8 records of other subjects (off treatment but still followed)."""
    import pyreadstat

    data, _ = adam_bds()
    data = data.assign(ADT=pd.Timestamp("2021-01-04") + pd.to_timedelta(data["AVISITN"] * 7, unit="D"))
    dropouts = data.loc[data["DTYPE"] == "LOCF", "USUBJID"].unique()
    data["TRTEDT"] = np.where(data["USUBJID"].isin(dropouts), pd.Timestamp("2021-01-25"), pd.NaT)
    data["TRTEDT"] = pd.to_datetime(data["TRTEDT"])
    number = data["USUBJID"].str[-3:].astype(int)
    data["PDFL"] = np.where((number % 4 == 1) & (data["AVISITN"] == 8), "Y", "")  # off treatment, observed
    folder = tmp_path_factory.mktemp("ice")
    path = folder / "adeff.csv"
    data.to_csv(path, index=False)
    ice = pd.DataFrame({"USUBJID": dropouts, "AVISIT": "Week 4",
                        "strategy": np.where(np.arange(len(dropouts)) % 2, "JR", "CIR")})
    ice.to_csv(folder / "ice.csv", index=False)
    pyreadstat.write_xport(ice, str(folder / "ice.xpt"), file_format_version=5, table_name="ICE")
    return folder, data, ice


SAP = ["--param", "HAMD17", "--population", "EFFFL", "--covariates", "BASE", "--reference", "Placebo"]


def _analyze(folder: Path, name: str, *extra: str) -> Path:
    out = folder / name
    assert cli.main(["analyze", str(folder / "adeff.csv"), *SAP, "--out", str(out), *extra]) == 0
    return out


def _fit(data: pd.DataFrame):
    df = trialmlm.read(data, param="HAMD17", population="EFFFL", response="CHG", arm="TRT01P",
                       arm_order=["Placebo", "Drug Low", "Drug High"])
    return df, trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df)


def test_report_estimands_equal_the_api(adam):
    folder, data, ice = adam
    out = _analyze(folder, "file", "--ice", str(folder / "ice.csv"), "--estimands", "TABLE", "MAR")
    table = pd.read_csv(out / "t7_estimands.csv")
    df, fit = _fit(data)
    ice_in = ice[ice["USUBJID"].isin(df["USUBJID"])]
    for name, rows in (("TABLE", ice_in), ("MAR", ice_in.assign(strategy="MAR"))):
        expected = condmean(fit, ice=rows, reference="Placebo", covariates=["BASE"]).compare()
        expected = expected[expected["AVISIT"] == "Week 8"]
        got = table[table["estimand"] == name]
        np.testing.assert_allclose(got[["estimate", "se", "lower", "upper", "p"]].to_numpy(),
                                   expected[["estimate", "se", "lower", "upper", "p"]].to_numpy(), rtol=1e-10)
        assert list(got["contrast"]) == ["Drug Low - Placebo", "Drug High - Placebo"]
    counts = pd.read_csv(out / "t7_ice.csv")
    assert counts.loc[counts["estimand"] == "TABLE", "with_ice"].sum() == len(ice_in)
    results = json.loads((out / "analysis_results.json").read_text())
    assert [e["estimand"] for e in results["estimands"]] == ["TABLE", "MAR"]
    assert results["estimands"][0]["ice_source"] == "ICE file ice.csv"
    last = [r for r in results["estimands"][0]["differences"] if r["visit"] == "Week 8"]
    np.testing.assert_array_equal([r["estimate"] for r in last],
                                  table.loc[table["estimand"] == "TABLE", "estimate"])
    page = (out / "index.html").read_text()
    assert "Table 7a" in page and "TABLE, MAR by condmean; intercurrent events: ICE file ice.csv" in page


def test_ice_sources_agree(adam):
    """The dropouts' ICE at Week 4 from the XPT file, the treatment end date and dropout itself."""
    folder, data, ice = adam
    tables = []
    for name, extra in [("xpt", ["--ice", str(folder / "ice.xpt")]), ("date", ["--ice-date", "TRTEDT"]),
                        ("dropout", [])]:
        out = _analyze(folder, name, *extra, "--estimands", "JR")
        tables.append(pd.read_csv(out / "t7_estimands.csv"))
    for other in tables[1:]:
        np.testing.assert_allclose(other["estimate"], tables[0]["estimate"], rtol=1e-12)


def test_ice_flag_with_observed_post_ice_values(adam):
    """Subjects flagged off treatment at Week 8 but observed: under JR their Week 8 values are left
    out of the imputation model and counted in Table 7b."""
    folder, data, _ = adam
    out = _analyze(folder, "flag", "--ice-flag", "PDFL", "--estimands", "JR")
    df, fit = _fit(data)
    rows = ice_table(df, **KEYS, flag="PDFL", strategy="JR")
    assert set(rows["AVISIT"]) == {"Week 8"} and len(rows) == df.loc[df["PDFL"] == "Y", "USUBJID"].nunique()
    expected = condmean(fit, ice=rows, reference="Placebo", covariates=["BASE"]).compare()
    expected = expected[expected["AVISIT"] == "Week 8"]
    got = pd.read_csv(out / "t7_estimands.csv")
    np.testing.assert_allclose(got["estimate"], expected["estimate"], rtol=1e-10)
    counts = pd.read_csv(out / "t7_ice.csv")
    assert counts["excluded"].sum() == len(rows) == counts["with_ice"].sum()
    assert "record flag PDFL" in (out / "t7_ice.html").read_text()


def test_default_estimands(adam):
    folder, data, ice = adam
    out = _analyze(folder, "default_file", "--ice", str(folder / "ice.csv"))
    assert list(pd.read_csv(out / "t7_estimands.csv")["estimand"].unique()) == ["TABLE"]
    out = _analyze(folder, "default_flag", "--ice-flag", "PDFL")
    assert list(pd.read_csv(out / "t7_estimands.csv")["estimand"].unique()) == ["MAR", "JR"]


@pytest.mark.parametrize("extra, message", [
    (["--estimands", "XX"], "estimands: 'XX' is not one of"),
    (["--ice-flag", "PDFL", "--ice-date", "TRTEDT"], "one source of intercurrent events"),
    (["--estimands", "TABLE"], "no ICE file"),
    (["--estimands", "JR", "--model", "ancova"], "need model='mmrm'"),
    (["--estimand-method", "magic", "--estimands", "JR"], "estimand_method must be one of"),
    (["--ice", "missing.csv"], "does not exist"),
    (["--ice", "ice.csv", "--ice-where", "TRT01PN == 1"], "an ICE file lists its subjects"),
    (["--ice-where", "TRT01PN =="], '--ice-where "TRT01PN ==": expected a column name'),
    (["--ice-date", "TRTEDT", "--ice-where", "XX == 1"], '--ice-where "XX == 1" names column \'XX\''),
])
def test_bad_estimand_settings_exit_2(adam, capsys, extra, message):
    folder, _, _ = adam
    assert cli.main(["analyze", str(folder / "adeff.csv"), *SAP, "--out", str(folder / "bad"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (folder / "bad").exists()


def test_ice_where_error_names_the_config_file_key(adam, capsys):
    """ice_where from the TOML file is named as its key there; typed on the command line, as --ice-where."""
    folder, _, _ = adam
    config = folder / "bad_where.toml"
    config.write_text('[analysis]\nparam = "HAMD17"\npopulation = "EFFFL"\nice_date = "TRTEDT"\n'
                      'ice_where = "TRT01PN =="\n')
    argv = ["analyze", str(folder / "adeff.csv"), "--config", str(config), "--out", str(folder / "bad")]
    assert cli.main(argv) == 2
    assert 'error: ice_where = "TRT01PN ==" (config file): expected a column name' in capsys.readouterr().err
    assert cli.main([*argv, "--ice-where", "TRT01PN >"]) == 2  # the option typed wins over the file
    assert 'error: --ice-where "TRT01PN >": expected' in capsys.readouterr().err


def test_ice_file_with_unknown_subject_or_visit(adam, capsys, tmp_path):
    folder, _, ice = adam
    for change, message in [(dict(USUBJID="TRIAL-01-000"), "not among the analysed subjects"),
                            (dict(AVISIT="Week 99"), "Week 99")]:
        path = tmp_path / "ice.csv"
        ice.assign(**change).to_csv(path, index=False)
        assert cli.main(["analyze", str(folder / "adeff.csv"), *SAP, "--out", str(tmp_path / "out"),
                         "--ice", str(path)]) == 2
        assert message in capsys.readouterr().err


def test_toml_estimands_equal_command_line(adam):
    folder, _, _ = adam
    config = folder / "estimands.toml"
    config.write_text(f'[analysis]\ndata = "{folder / "adeff.csv"}"\nparam = "HAMD17"\npopulation = "EFFFL"\n'
                      f'covariates = ["BASE"]\nreference = "Placebo"\nice = "{folder / "ice.xpt"}"\n'
                      f'estimands = "TABLE,JR"\nout = "{folder / "toml"}"\n')
    assert cli.main(["analyze", "--config", str(config)]) == 0
    command_line = _analyze(folder, "cli", "--ice", str(folder / "ice.xpt"), "--estimands", "TABLE", "JR")
    pd.testing.assert_frame_equal(pd.read_csv(folder / "toml" / "t7_estimands.csv"),
                                  pd.read_csv(command_line / "t7_estimands.csv"))


@pytest.mark.parametrize("method", ["bootstrap", "approxbayes", "bmlmi"])
def test_every_estimand_method(adam, method):
    """Each method of the report equals its API call with the report's imputations and seed."""
    from trialmlm.estimands import bmlmi, impute

    folder, data, ice = adam
    out = _analyze(folder, method, "--ice", str(folder / "ice.csv"), "--estimands", "JR",
                   "--estimand-method", method, "--imputations", "20", "--seed", "7")
    df, fit = _fit(data)
    rows = ice[ice["USUBJID"].isin(df["USUBJID"])].assign(strategy="JR")
    common = dict(ice=rows, reference="Placebo", covariates=["BASE"])
    result = {"bootstrap": lambda: condmean(fit, type="bootstrap", n_samples=20, seed=7, **common),
              "approxbayes": lambda: impute(fit, n_samples=20, seed=7, analysis="ancova", **common),
              "bmlmi": lambda: bmlmi(fit, B=20, D=2, seed=7, **common)}[method]()
    expected = result.compare()
    expected = expected[expected["AVISIT"] == "Week 8"]
    got = pd.read_csv(out / "t7_estimands.csv")
    np.testing.assert_allclose(got[["estimate", "lower", "upper", "p"]].to_numpy(),
                               expected[["estimate", "lower", "upper", "p"]].to_numpy(), rtol=1e-10)
    assert "seed 7" in (out / "t7_estimands.html").read_text()


def test_ice_where_limits_derived_events(adam):
    """--ice-where: treatment end dates count as intercurrent events only for the subjects selected
    (here the Drug Low arm), as for completers' end-of-treatment dates in a real SAP."""
    folder, data, _ = adam
    out = _analyze(folder, "where", "--ice-date", "TRTEDT", "--ice-where", "TRT01PN == 1",
                   "--estimands", "JR")
    df, fit = _fit(data)
    rows = ice_table(df, **KEYS, event_date="TRTEDT", strategy="JR")
    rows = rows[rows["USUBJID"].isin(df.loc[df["TRT01PN"] == 1, "USUBJID"])]
    assert 0 < len(rows) < len(ice_table(df, **KEYS, event_date="TRTEDT"))
    expected = condmean(fit, ice=rows, reference="Placebo", covariates=["BASE"]).compare()
    np.testing.assert_allclose(pd.read_csv(out / "t7_estimands.csv")["estimate"],
                               expected.loc[expected["AVISIT"] == "Week 8", "estimate"], rtol=1e-10)
    assert "TRT01PN == 1" in (out / "t7_ice.html").read_text()
