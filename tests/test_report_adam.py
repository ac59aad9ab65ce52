"""``trialmlm analyze`` on ADaM files as a user meets them: the right records, every exclusion
counted, arms in TRTPN order, analysis_results.json equal to the fit, one name per option in
the Python API, the command line and the TOML config, and clear errors for bad selections."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import adam_bds, read_rtf

import trialmlm
from trialmlm.app import cli
from trialmlm.app.config import FIELDS, SECTIONS, SELECTION
from trialmlm.data.io import read_table

PILOT = Path(__file__).parent / "data" / "cdiscpilot01_adcibc.xpt"
SAP = ["--param", "HAMD17", "--response", "CHG", "--arm", "TRT01P", "--population", "EFFFL",
       "--covariates", "BASE", "--ddf", "satterthwaite"]


@pytest.fixture(scope="module")
def adam(tmp_path_factory):
    import pyreadstat

    data, expected = adam_bds()
    folder = tmp_path_factory.mktemp("adam")
    path = folder / "adeff.xpt"
    pyreadstat.write_xport(data, str(path), file_format_version=5, table_name="ADEFF",
                           column_labels={"TRT01P": "Planned Treatment for Period 01",
                                          "EFFFL": "Efficacy Population Flag"})
    data.to_csv(folder / "adeff.csv", index=False)
    return path, expected


@pytest.fixture(scope="module")
def report(adam, tmp_path_factory):
    path, _ = adam
    out = tmp_path_factory.mktemp("report")
    before = path.read_bytes()
    assert cli.main(["analyze", str(path), *SAP, "--out", str(out)]) == 0
    assert path.read_bytes() == before  # the input file is never modified
    return out


def test_analysed_records_and_exclusions(adam, report):
    _, expected = adam
    results = json.loads((report / "analysis_results.json").read_text())
    assert results["schema"] == "trialmlm.app.analysis_results/1"
    rec = results["records"]
    assert rec["read"] == {"records": expected["read"], "subjects": 36}
    excluded = {e["step"]: e["records"] for e in rec["excluded"]}
    assert excluded == {"param": expected["param"], "population": expected["population"],
                        "analysis_flag": expected["analysis_flag"], "dtype": expected["dtype"],
                        "baseline": expected["baseline"], "response": 0, "covariate": 0}
    assert rec["analysed"] == {"records": expected["analysed"], "subjects": 33}
    assert results["fit"]["n_obs"] == expected["analysed"] and results["fit"]["n_subjects"] == 33
    assert results["arms"] == ["Placebo", "Drug Low", "Drug High"]  # TRT01PN order, reference first
    assert [s["arm"] for s in results["subjects"]] == results["arms"]
    assert sum(s["records"] for s in results["subjects"]) == expected["analysed"]
    table = pd.read_csv(report / "t0_records.csv")
    flow = table[table["section"] == "flow"]
    assert flow["records"].iloc[0] + flow["records"].iloc[1:-1].sum() == flow["records"].iloc[-1]
    rtf = read_rtf((report / "t0_records.rtf").read_text(encoding="ascii"))
    words = " ".join(" ".join(r) for r in rtf["rows"])
    for reason in ("not in the population (EFFFL != 'Y')", "derived record (DTYPE = LOCF)",
                   "baseline record (ABLFL = 'Y')", "not an analysis record (ANL01FL != 'Y')"):
        assert reason in words
    assert "Planned Treatment for Period 01" in words  # the SAS label as header


def test_results_file_equals_the_fit(adam, report):
    """analysis_results.json holds the very numbers of the fit on the same records (full precision)."""
    path, _ = adam
    results = json.loads((report / "analysis_results.json").read_text())
    df = trialmlm.read(path, param="HAMD17", response="CHG", population="EFFFL", arm="TRT01P")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df, ddf="satterthwaite")
    assert results["fit"]["minus2_loglik"] == -2 * fit.loglik and results["fit"]["converged"]
    ls = fit.lsmeans("TRT01P", by="AVISIT")
    got = pd.DataFrame(results["lsmeans"])
    assert list(got["arm"]) == list(ls["TRT01P"].astype(str))
    for col in ("estimate", "se", "df", "lower", "upper"):
        np.testing.assert_array_equal(got[col].to_numpy(float), ls[col].to_numpy(float))
    diff = fit.compare("TRT01P", by="AVISIT", reference="Placebo")
    got = pd.DataFrame(results["differences"])
    assert set(got["reference"]) == {"Placebo"} and list(got["visit"]) == list(diff["AVISIT"].astype(str))
    for col in ("estimate", "se", "df", "lower", "upper", "p"):
        np.testing.assert_array_equal(got[col].to_numpy(float), diff[col].to_numpy(float))
    t3 = pd.DataFrame(results["type3"])
    np.testing.assert_array_equal(t3["f"].to_numpy(float), fit.anova()["F"].to_numpy(float))


def test_tables_carry_titles_and_arm_order(report):
    rtf = read_rtf((report / "t2_mmrm.rtf").read_text(encoding="ascii"))
    header = " ".join(rtf["header"])
    assert "Study: TRIAL-01" in header and "Efficacy Population" in header
    assert "Source: adeff.xpt" in " ".join(rtf["footer"])
    arms = [r[1] for r in rtf["rows"][2:] if r[1]]  # after the spanning and the label header rows
    assert arms[:3] == ["Placebo", "Drug Low", "Drug High"]
    html = (report / "t2_mmrm.html").read_text()
    assert "Efficacy Population" in html and "TRIAL-01" in html


def test_same_names_in_api_cli_and_toml():
    """Every selection option is a keyword of trialmlm.read, a field of the config (= TOML key) and
    a command-line option with the same name (dashes for underscores).  The config's fields live in
    sections (data selection, model, ...); FIELDS lists every key by its one flat name."""
    fields = set(FIELDS)
    assert fields == {f.name for _, section in SECTIONS for f in dataclasses.fields(section)}
    read_kwargs = set(inspect.signature(trialmlm.read).parameters)
    parser = argparse.ArgumentParser()
    cli._analysis_arguments(parser)
    options = {a.dest: a.option_strings for a in parser._actions if a.dest != "help"}
    for name in SELECTION:
        assert name in read_kwargs and name in fields, name
        assert f"--{name.replace('_', '-')}" in options[name], name
    # every config field but the data file and the sensitivity switch is a command-line option
    assert fields - {"data", "sensitivity"} == set(options), sorted(fields ^ set(options))


def test_toml_selection_equals_command_line(adam, tmp_path):
    path, _ = adam
    config = tmp_path / "sap.toml"
    config.write_text(f'''[analysis]
data = "{path.as_posix()}"
param = "HAMD17"
response = "CHG"
arm = "TRT01P"
population = "EFFFL"
where = "AVISITN <= 4"
keep_dtype = ["LOCF"]
covariates = ["BASE"]
ddf = "satterthwaite"
decimals = {{HAMD17 = 0}}
study = "TRIAL-01 (final analysis)"
''')
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(["analyze", "--config", str(config), "--out", str(a)]) == 0
    assert cli.main(["analyze", str(path), *SAP, "--where", "AVISITN <= 4", "--keep-dtype", "LOCF",
                     "--decimals", "0", "--study", "TRIAL-01 (final analysis)", "--out", str(b)]) == 0
    ra, rb = (json.loads((d / "analysis_results.json").read_text()) for d in (a, b))
    assert ra["records"] == rb["records"] and ra["lsmeans"] == rb["lsmeans"]
    steps = {e["step"]: e for e in ra["records"]["excluded"]}
    assert steps["where"]["reason"] == "not selected by: AVISITN <= 4" and steps["dtype"]["records"] == 0
    header = read_rtf((a / "t1_summary.rtf").read_text())["header"]
    assert "Study: TRIAL-01 (final analysis)" in " ".join(header)


@pytest.mark.parametrize("extra, message", [
    (["--population", "FASFL"], "--population FASFL: "),
    (["--population", "EFFFL", "--where", "EFFFL == 'N'"], "selects no record"),
    (["--where", "AVISITN <<= 4"], '--where "AVISITN <<= 4": expected'),
    (["--where", "VISITNUM == 4"], "names column 'VISITNUM'"),
    (["--reference", "Active"], "reference arm 'Active' is not a level of 'TRT01P'"),
    (["--arm-order", "Placebo", "Drug Low"], "--arm-order Placebo \"Drug Low\" misses level 'Drug High'"),
    (["--keep-dtype", "WOCF"], "--keep-dtype WOCF: no record"),
    (["--analysis-flag", "ANL02FL"], "--analysis-flag ANL02FL: "),
    (["--covariance", "us,xyz"], "covariance 'xyz' is not one of"),
])
def test_bad_selection_exits_2_with_one_line(adam, tmp_path, capsys, extra, message):
    path, _ = adam
    assert cli.main(["analyze", str(path), *SAP, *extra, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error:") and "\n" not in err and message in err, err
    assert not (tmp_path / "x").exists()


def test_pilot_report_records(tmp_path):
    """The SAS-written CDISC pilot file: 535 post-baseline observed records of 234 subjects."""
    out = tmp_path / "pilot"
    assert cli.main(["analyze", str(PILOT), "--response", "AVAL", "--arm", "TRTP", "--population", "EFFFL",
                     "--covariates", "SITEGR1", "--out", str(out)]) == 0
    results = json.loads((out / "analysis_results.json").read_text())
    assert results["records"]["analysed"] == {"records": 535, "subjects": 234}
    assert results["arms"] == ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
    ref = json.loads((Path(__file__).parent / "reference" / "adam_refs.json").read_text())["mmrm_us"]
    assert abs(results["fit"]["minus2_loglik"] - ref["m2loglik"]) < 1e-6


def test_pilot_locf_ancova_equals_r(tmp_path):
    """The pilot's CIBIC+ analysis, ANCOVA at Week 24 with the LOCF records kept, equals lm + emmeans."""
    out = tmp_path / "ancova"
    assert cli.main(["analyze", str(PILOT), "--response", "AVAL", "--arm", "TRTP", "--population", "EFFFL",
                     "--covariates", "SITEGR1", "--model", "ancova", "--at-visit", "Week 24",
                     "--keep-dtype", "LOCF", "--out", str(out)]) == 0
    results = json.loads((out / "analysis_results.json").read_text())
    ref = json.loads((Path(__file__).parent / "reference" / "adam_refs.json").read_text())["ancova_locf"]
    assert results["records"]["analysed"]["records"] == ref["n_obs"] == 234
    steps = {e["step"]: e for e in results["records"]["excluded"]}
    assert steps["dtype"]["records"] == 0 and "kept: LOCF" in steps["dtype"]["reason"]
    assert results["fit"]["ddf"] == "residual" and results["fit"]["structure"] == "independent"
    got = pd.DataFrame(results["differences"])
    want = pd.DataFrame(ref["differences"])
    for col in ("estimate", "se", "lower", "upper", "p"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-8)
    np.testing.assert_array_equal(got["df"], want["df"])
    ls = pd.DataFrame(results["lsmeans"])
    np.testing.assert_allclose(ls[["estimate", "se"]], pd.DataFrame(ref["lsmeans"])[["estimate", "se"]],
                               rtol=1e-8)
    t3 = pd.DataFrame(results["type3"]).set_index("effect")
    for row in ref["type3"]:
        np.testing.assert_allclose(t3.loc[row["term"], "f"], row["F"], rtol=1e-8)
    rtf = read_rtf((out / "t2_ancova.rtf").read_text(encoding="ascii"))
    assert "Linear model (ANCOVA)" in " ".join(rtf["paragraphs"])


def test_ancova_at_every_visit(tmp_path):
    out = tmp_path / "each"
    assert cli.main(["analyze", str(PILOT), "--response", "AVAL", "--arm", "TRTP", "--population", "EFFFL",
                     "--model", "ancova", "--out", str(out)]) == 0
    results = json.loads((out / "analysis_results.json").read_text())
    assert [f["visit"] for f in results["fit"]] == ["Week 8", "Week 16", "Week 24"]
    assert sum(f["n_obs"] for f in results["fit"]) == results["records"]["analysed"]["records"] == 535
    df = trialmlm.read(PILOT, response="AVAL", population="EFFFL", arm="TRTP")
    week16 = trialmlm.fit("AVAL ~ TRTP", df[df["AVISIT"] == "Week 16"])
    got = [r for r in results["differences"] if r["visit"] == "Week 16"]
    want = week16.compare("TRTP", reference="Placebo")
    np.testing.assert_array_equal([r["estimate"] for r in got], want["estimate"].to_numpy())
    table = pd.read_csv(out / "t2_ancova.csv")
    assert list(dict.fromkeys(table["visit"])) == ["Week 8", "Week 16", "Week 24"]


REF = Path(__file__).parent / "reference"
FALLBACK = ["--arm", "TRT", "--covariates", "BASE", "--covariance", "us,toeph,ar1h,cs"]


def test_covariance_fallback_in_the_report(tmp_path):
    """A visit with CHG = 0 for everyone: us, toeph, ar1h are singular, cs is used and said so."""
    out = tmp_path / "cs"
    assert cli.main(["analyze", str(REF / "fallback_constant_visit.csv"), *FALLBACK, "--out", str(out)]) == 0
    results = json.loads((out / "analysis_results.json").read_text())
    attempts = results["fit"]["covariance_attempts"]
    assert [a["structure"] for a in attempts] == ["us", "toeph", "ar1h", "cs"]
    assert [a["used"] for a in attempts] == [False, False, False, True]
    assert all("singular" in a["reason"] for a in attempts[:3]) and results["fit"]["structure"] == "cs"
    direct = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + cs(AVISIT | USUBJID)",
                          trialmlm.read(REF / "fallback_constant_visit.csv", arm="TRT"), ddf="kenward-roger")
    assert results["fit"]["minus2_loglik"] == -2 * direct.loglik


def test_no_usable_fit_exits_3(tmp_path, capsys):
    data = str(REF / "fallback_exact.csv")
    ordered = [*FALLBACK, "--arm-order", "ACT", "CTRL"]  # the file has no TRTN: no warning line
    assert cli.main(["analyze", data, *ordered, "--out", str(tmp_path / "x")]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error: no usable fit of") and "\n" not in err
    for structure in ("us: ", "toeph: ", "ar1h: ", "cs: "):
        assert structure in err
    assert "--allow-nonconvergence" in err and not (tmp_path / "x").exists()
    single = ["analyze", data, "--arm", "TRT", "--covariates", "BASE", "--out", str(tmp_path / "y")]
    assert cli.main(single) == 3  # one structure, not usable
    # written anyway on request, every table saying so
    out = tmp_path / "z"
    assert cli.main(["analyze", data, *FALLBACK, "--allow-nonconvergence", "--out", str(out)]) == 0
    for name in ("t0_records", "t2_mmrm", "t4_covariance"):
        notes = read_rtf((out / f"{name}.rtf").read_text(encoding="ascii"))["paragraphs"]
        assert any(p.startswith("WARNING: the model fit is not usable") for p in notes), name
    assert json.loads((out / "analysis_results.json").read_text())["fit"]["converged"] is False


def test_csv_and_xpt_give_the_same_analysis(adam, report, tmp_path):
    path, _ = adam
    out = tmp_path / "csv"
    assert cli.main(["analyze", str(path.with_suffix(".csv")), *SAP, "--out", str(out)]) == 0
    a, b = (json.loads((d / "analysis_results.json").read_text()) for d in (report, out))
    assert a["records"]["excluded"] == b["records"]["excluded"] and a["arms"] == b["arms"]
    for key in ("lsmeans", "differences"):
        np.testing.assert_allclose(pd.DataFrame(a[key])[["estimate", "se"]],
                                   pd.DataFrame(b[key])[["estimate", "se"]], rtol=1e-12)


# -- issue 19, finding 7: site codes read as numbers, --class -----------------------------------
PILOT_SAP = ["--response", "AVAL", "--arm", "TRTP", "--population", "EFFFL", "--covariates", "SITEGR1"]


@pytest.fixture(scope="module")
def pilot_copies(tmp_path_factory):
    """The pilot file as CSV (SITEGR1 "701", "703", ... read back as the numbers 701, 703, ...)
    and as Parquet (SITEGR1 text, as in the XPT file)."""
    data = read_table(PILOT)
    assert data["SITEGR1"].dtype == object
    folder = tmp_path_factory.mktemp("pilot_copies")
    data.to_csv(folder / "adcibc.csv", index=False)
    data.to_parquet(folder / "adcibc.parquet")
    assert pd.api.types.is_integer_dtype(pd.read_csv(folder / "adcibc.csv")["SITEGR1"])
    return folder


@pytest.fixture(scope="module")
def pilot_xpt_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("pilot_xpt")
    assert cli.main(["analyze", str(PILOT), *PILOT_SAP, "--out", str(out)]) == 0
    return json.loads((out / "analysis_results.json").read_text())


def test_numeric_site_codes_without_class_warn(pilot_copies, tmp_path, capsys):
    """Before: site fitted as one continuous slope (type III 1 df), now with a one-line warning."""
    out = tmp_path / "csv"
    assert cli.main(["analyze", str(pilot_copies / "adcibc.csv"), *PILOT_SAP, "--out", str(out)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "SITEGR1" in line]
    assert len(warned) == 1, warned
    assert warned[0].startswith("trialmlm: warning: covariate SITEGR1 holds numeric codes (11 values: 701, "
                                "703, 704, ...)") and "--class SITEGR1" in warned[0]
    t3 = pd.DataFrame(json.loads((out / "analysis_results.json").read_text())["type3"]).set_index("effect")
    assert t3.loc["SITEGR1", "num_df"] == 1


@pytest.mark.parametrize("copy, extra", [
    ("adcibc.csv", ["--class", "SITEGR1"]),
    ("adcibc.csv", ["--class-variables", "SITEGR1"]),
    ("adcibc.csv", ["--covariates", "C(SITEGR1)"]),
    ("adcibc.parquet", []),
    ("adcibc.csv", "toml"),
])
def test_numeric_site_codes_with_class_equal_the_xpt_analysis(pilot_copies, pilot_xpt_report, tmp_path,
                                                              capsys, copy, extra):
    """SITEGR1 as numbers + --class (or C(SITEGR1), or TOML class = [...]) gives the analysis of
    the XPT file, where SITEGR1 is text: type III with 11 - 1 = 10 df for site, LS means and
    differences to the last digit."""
    out = tmp_path / "out"
    data = str(pilot_copies / copy)
    if extra == "toml":
        config = tmp_path / "sap.toml"
        config.write_text(f'[analysis]\ndata = "{Path(data).as_posix()}"\nresponse = "AVAL"\narm = "TRTP"\n'
                          'population = "EFFFL"\ncovariates = ["SITEGR1"]\nclass = ["SITEGR1"]\n')
        args = ["analyze", "--config", str(config)]
    else:
        args = ["analyze", data, *PILOT_SAP, *extra]
    assert cli.main([*args, "--out", str(out)]) == 0
    assert "SITEGR1 holds numeric codes" not in capsys.readouterr().err
    got = json.loads((out / "analysis_results.json").read_text())
    want = pilot_xpt_report
    t3, t3_want = (pd.DataFrame(r["type3"]).set_index("effect") for r in (got, want))
    t3.index = t3.index.str.replace("C(SITEGR1)", "SITEGR1", regex=False)
    assert t3.loc["SITEGR1", "num_df"] == 10  # 11 site groups
    pd.testing.assert_frame_equal(t3, t3_want, rtol=1e-10)
    assert got["records"] == want["records"]
    numbers = {"lsmeans": ["estimate", "se", "df"], "differences": ["estimate", "se", "df", "p"]}
    for key, columns in numbers.items():
        a, b = pd.DataFrame(got[key]), pd.DataFrame(want[key])
        assert a["arm"].tolist() == b["arm"].tolist() and len(a) == 9 - 3 * (key == "differences")
        np.testing.assert_allclose(a[columns], b[columns], rtol=1e-10)


def test_class_column_that_does_not_exist(tmp_path, capsys):
    out = tmp_path / "x"
    assert cli.main(["analyze", str(PILOT), *PILOT_SAP, "--class", "SITEGRP", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error: class variable 'SITEGRP' is not a column of") and "\n" not in err
    assert "its columns are STUDYID, SITEID, SITEGR1," in err and not out.exists()


# -- issue 19, finding 8: an LOCF analysis describes the observed records ----------------------
def _notes(path: Path) -> list[str]:
    return read_rtf(path.read_text(encoding="ascii"))["paragraphs"]


@pytest.fixture(scope="module")
def locf_ancova(tmp_path_factory):
    out = tmp_path_factory.mktemp("locf")
    assert cli.main(["analyze", str(PILOT), "--response", "AVAL", "--arm", "TRTP", "--model", "ancova",
                     "--keep-dtype", "LOCF", "--out", str(out)]) == 0
    return out


def test_locf_ancova_data_tables_show_the_observed_dropout(locf_ancova):
    """The pilot's 730 records: 705 analysis records, 168 of them LOCF.  The ANCOVAs use all 705;
    Tables 1 and 5a-5c describe the 537 observed ones (before: 100 % complete, 0 dropouts,
    log-rank chi-square 0.00, p = 1.0000)."""
    out = locf_ancova
    results = json.loads((out / "analysis_results.json").read_text())
    assert results["records"]["analysed"]["records"] == 705 == sum(f["n_obs"] for f in results["fit"])
    note = ("The analysis used 168 LOCF-derived records (DTYPE = LOCF); this table describes the 537 "
            "observed records (DTYPE blank) of 236 subjects.")
    for name in ("t1_summary", "t5_patterns", "t5_dropout", "t5_km"):
        assert note in _notes(out / f"{name}.rtf"), name
    assert not any("LOCF" in n for n in _notes(out / "t2_ancova.rtf"))  # the model's own tables: no
    summary = pd.read_csv(out / "t1_summary.csv")
    week24 = summary[summary["visit"] == "Week 24"].set_index("arm")["n"]
    assert week24.tolist() == [66, 47, 40]  # observed; with the LOCF records 80 / 81 / 75
    dropout = pd.read_csv(out / "t5_dropout.csv")
    last = dropout[dropout["visit"] == "Week 24"].set_index("arm")
    assert last["cumulative_dropout_percent"].round(1).tolist() == [17.5, 42.0, 46.7]
    assert dropout["n_dropout"].sum() == 14 + 34 + 35
    km = pd.read_csv(out / "t5_km.csv")
    assert km.loc[km["visit"] == "Week 24", "survival"].round(4).tolist() == [0.825, 0.5802, 0.5333]
    assert "Log-rank test: chi-square 17.07 on 2 df, p = 0.0002." in _notes(out / "t5_km.rtf")
    page = (out / "index.html").read_text()
    assert page.count("this figure describes the 537 observed records") == 4  # f1, f2, f5, f6


def test_locf_log_rank_equals_lifelines_on_the_observed_records(locf_ancova):
    """The log-rank test of Table 5c recomputed from the file: time to dropout = the first visit
    after a subject's last observed (DTYPE blank) record, with lifelines directly."""
    from lifelines.statistics import multivariate_logrank_test

    raw = read_table(PILOT)
    obs = raw[(raw["ANL01FL"] == "Y") & raw["DTYPE"].isna() & (raw["AVISITN"] > 0) & raw["AVAL"].notna()]
    last = obs.groupby("USUBJID").agg(last=("AVISITN", "max"), arm=("TRTP", "first"))
    time = last["last"].map({8.0: 16.0, 16.0: 24.0, 24.0: 24.0})
    test = multivariate_logrank_test(time, last["arm"], (last["last"] < 24).astype(int))
    assert round(test.test_statistic, 2) == 17.07 and round(test.p_value, 4) == 0.0002


def test_locf_ancova_model_table_says_ols(locf_ancova):
    """Before: "Estimation: REML, newton-raphson, converged after 3 iterations" (per visit) and
    "AIC/AICC/BIC count 1 parameters; BIC uses the 236 subjects read."."""
    page = (locf_ancova / "index.html").read_text()
    assert ("<th>Estimation</th><td>ordinary least squares (OLS; REML and OLS coincide for the linear "
            "model)</td>") in page
    assert "newton-raphson" not in page
    notes = " ".join(_notes(locf_ancova / "t4_covariance.rtf"))
    assert ("AIC/AICC/BIC count 1 covariance parameter (the residual variance), not the 3 fixed effects "
            "(under REML, SAS counts covariance parameters only); BIC uses n - p (observations minus fixed "
            "effects).") in notes
    assert notes.count("AIC/AICC/BIC count") == 1  # one sentence for the three visits' ANCOVAs
    assert "Estimation: ordinary least squares" in " ".join(_notes(locf_ancova / "t2_ancova.rtf"))


def test_mmrm_on_derived_records_warns_on_every_table(adam, tmp_path, capsys):
    path, expected = adam
    out = tmp_path / "mmrm_locf"
    assert cli.main(["analyze", str(path), *SAP, "--keep-dtype", "LOCF", "--out", str(out)]) == 0
    n = expected["dtype"]  # the LOCF records of the population, kept
    warned = [line for line in capsys.readouterr().err.splitlines() if "LOCF" in line]
    assert warned == [f"trialmlm: warning: the mmrm model uses {n} LOCF-derived records (DTYPE = LOCF), "
                      "which an MMRM normally must not see (MAR-based models handle the missing values "
                      "themselves); leave out keep_dtype"]
    note = (f"WARNING: the model used {n} LOCF-derived records (DTYPE = LOCF), which an MMRM normally must "
            "not see (MAR-based models handle the missing values themselves).")
    for table in sorted(out.glob("t*.rtf")):
        if table.name != "tables.rtf":
            assert note in _notes(table), table.name
    results = json.loads((out / "analysis_results.json").read_text())
    assert results["fit"]["n_obs"] == expected["analysed"] + n  # the model did use them
