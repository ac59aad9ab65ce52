"""Several parameters in one run (trialmlm.app.parameters, trialmlm.app.parameter_report): each
parameter's numbers equal those of its own single-parameter run, whatever the order, the
processes or the executor; per-parameter TOML settings; a parameter without a usable fit."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.app import cli
from trialmlm.app.parameter_report import numbered, run_parameters
from trialmlm.app.parameters import make_configs
from trialmlm.errors import DataError

SAMPLE = Path(__file__).parents[1] / "sample_data"
RUN = ["--arm-order", "Placebo", "Drug 10 mg", "Drug 20 mg", "--covariates", "BASE"]


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> Path:
    """The depression trial's HAMD-17 as three parameters (PARAMN 2, 3, 1): HAMD17 itself, a
    severity score (CGIS: CHG / 4 with noise, 1 decimal) and a scale on its own scale (SCALE2)."""
    df = pd.read_csv(SAMPLE / "depression_trial.csv")
    rng = np.random.default_rng(26)
    cgis = df.assign(PARAMCD="CGIS", PARAM="CGI Severity (points)",
                     CHG=(df["CHG"] / 4 + rng.normal(0, 0.5, len(df))).round(1),
                     BASE=(df["BASE"] / 5).round(1))
    scale = df.assign(PARAMCD="SCALE2", PARAM="Secondary scale (mm)",
                      CHG=2 * df["CHG"] + rng.integers(-3, 4, len(df)))
    out = tmp_path_factory.mktemp("three") / "three.csv"
    frame = pd.concat([df.assign(PARAMN=2), scale.assign(PARAMN=3), cgis.assign(PARAMN=1)])
    frame.to_csv(out, index=False)
    return out


@pytest.fixture(scope="module")
def singles(three, tmp_path_factory) -> dict:
    """Each parameter's single-parameter report folder."""
    out = tmp_path_factory.mktemp("singles")
    for code in ("HAMD17", "SCALE2", "CGIS"):
        assert cli.main(["analyze", str(three), "--param", code, *RUN, "--out", str(out / code)]) == 0
    return {code: out / code for code in ("HAMD17", "SCALE2", "CGIS")}


@pytest.fixture(scope="module")
def combined(three, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("combined") / "r"
    codes = ["HAMD17", "SCALE2", "CGIS"]
    assert cli.main(["analyze", str(three), "--param", *codes, *RUN, "--out", str(out)]) == 0
    return out


def _results(folder: Path) -> dict:
    return json.loads((folder / "analysis_results.json").read_text())


NUMBERS = ("records", "subjects", "arms", "fit", "lsmeans", "differences", "type3")


def test_three_parameters_equal_three_single_runs(singles, combined):
    results = _results(combined)
    assert results["schema"] == "trialmlm.app.analysis_results.parameters/1"
    assert list(results["parameters"]) == ["HAMD17", "SCALE2", "CGIS"]
    for code, folder in singles.items():
        single, entry = _results(folder), results["parameters"][code]
        for key in NUMBERS:
            assert entry[key] == single[key], (code, key)
        assert {k: v for k, v in entry["settings"].items() if k not in ("out", "param")} == \
               {k: v for k, v in single["settings"].items() if k not in ("out", "param")}
        for table in ("t0_records", "t1_summary", "t2_mmrm", "t3_type3", "t4_covariance", "t5_km"):
            assert (combined / f"{code}_{table}.csv").read_text() == (folder / f"{table}.csv").read_text()
    ard = pd.read_csv(combined / "ard.csv")  # every parameter's rows, in report order
    pd.testing.assert_frame_equal(ard, pd.concat([pd.read_csv(f / "ard.csv") for f in singles.values()],
                                                 ignore_index=True))


def test_one_report_numbers_tables_by_section(combined):
    page = (combined / "index.html").read_text()
    assert page.count('<section class="parameter"') == 3 and '<h2>Contents</h2>' in page
    assert 'href="#SCALE2"' in page and "Table 2.2. Secondary scale (mm), change from baseline" in page
    assert "Table 3.0. Records used" in page and "Figure 1.3. LS means" in page
    assert 'href="CGIS_t2_mmrm.rtf"' in page and 'src="CGIS_f3_lsmeans.png"' in page
    rtf = (combined / "tables.rtf").read_text(encoding="ascii")
    assert rtf.count("Table 1.2. ") == 1 and rtf.count("Table 3.2. ") == 1
    assert numbered("Table 5a. Missing-data patterns", 2) == "Table 2.5a. Missing-data patterns"
    assert numbered("Records", 2) == "Records"


def test_param_all_in_paramn_order(three, singles, tmp_path, capsys):
    out = tmp_path / "all"
    assert cli.main(["analyze", str(three), "--param", "all", *RUN, "--out", str(out)]) == 0
    results = _results(out)
    assert list(results["parameters"]) == ["CGIS", "HAMD17", "SCALE2"]  # PARAMN 1, 2, 3
    assert results["parameters"]["CGIS"]["lsmeans"] == _results(singles["CGIS"])["lsmeans"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("CGIS: CHG ~ BASE + TRT01P * AVISIT") and "converged" in lines[0]
    with pytest.raises(DataError, match="give it alone"):
        make_configs({"data": str(three)}, overrides={"param": ["all", "CGIS"]})


def test_toml_per_parameter_settings(three, tmp_path):
    config = tmp_path / "sap.toml"
    config.write_text(f"""
[analysis]
data = "{three}"
param = ["HAMD17", "CGIS"]
covariates = ["BASE"]
arm_order = ["Placebo", "Drug 10 mg", "Drug 20 mg"]

[[parameter]]
param = "CGIS"
covariates = []
covariance = "cs"
decimals = 2
title = "CGI-S"
""")
    out = tmp_path / "toml"
    assert cli.main(["analyze", "--config", str(config), "--out", str(out)]) == 0
    cgis = _results(out)["parameters"]["CGIS"]
    assert cgis["settings"]["covariance"] == ["cs"] and cgis["settings"]["decimals"] == 2
    assert cgis["fit"]["formula"] == "CHG ~ TRT01P * AVISIT + cs(AVISIT | USUBJID)"
    single = tmp_path / "single"
    assert cli.main(["analyze", str(three), "--param", "CGIS", "--arm-order", "Placebo", "Drug 10 mg",
                     "Drug 20 mg", "--covariance", "cs", "--decimals", "2", "--out", str(single)]) == 0
    assert cgis["differences"] == _results(single)["differences"]
    assert (out / "CGIS_t2_mmrm.csv").read_text() == (single / "t2_mmrm.csv").read_text()
    assert "<h2>2. CGI-S</h2>" in (out / "index.html").read_text()
    assert _results(out)["parameters"]["HAMD17"]["settings"]["covariance"] is None
    # the command line overrides the file and the parameter tables
    again = tmp_path / "again"
    assert cli.main(["analyze", "--config", str(config), "--covariance", "toep", "--out", str(again)]) == 0
    assert _results(again)["parameters"]["CGIS"]["settings"]["covariance"] == ["toep"]
    config.write_text(config.read_text() + '\n[[parameter]]\nparam = "HAMD17"\nout = "x"\n')
    with pytest.raises(DataError, match=r"\[\[parameter\]\] 2: unknown key\(s\) out"):
        cli._configs(cli._parser().parse_args(["analyze", "--config", str(config)]), {})


def test_parameter_without_usable_fit_is_reported_and_exits_3(three, tmp_path, capsys):
    df = pd.read_csv(three)
    bad = df.loc[df["PARAMCD"] == "CGIS"].assign(PARAMCD="BAD", PARAMN=4)
    bad.loc[bad["AVISIT"] == "Week 1", "CHG"] = 0.0  # a constant visit: singular residual covariance
    path = tmp_path / "bad.csv"
    pd.concat([df, bad]).to_csv(path, index=False)
    out = tmp_path / "r"
    assert cli.main(["analyze", str(path), "--param", "CGIS", "BAD", *RUN, "--out", str(out)]) == 3
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("trialmlm: error:")]
    assert len(errors) == 1 and errors[0].startswith("trialmlm: error: BAD: no usable fit of")
    assert "CGIS: CHG ~ BASE" in captured.out
    results = _results(out)["parameters"]
    assert "error" not in results["CGIS"] and results["BAD"]["error"].startswith("no usable fit of")
    assert results["BAD"]["settings"]["param"] == "BAD"
    page = (out / "index.html").read_text()
    assert '<p class="error">no usable fit of CHG ~ BASE' in page
    assert '<a href="#BAD">BAD</a> (no usable fit)' in page
    assert (out / "CGIS_t2_mmrm.csv").exists() and not list(out.glob("BAD_*"))


def test_parallel_equals_serial(three, combined, tmp_path):
    values = {"data": str(three), "param": ["HAMD17", "SCALE2", "CGIS"], "covariates": ["BASE"],
              "arm_order": ["Placebo", "Drug 10 mg", "Drug 20 mg"]}
    pool = run_parameters(make_configs(values, overrides={"out": str(tmp_path / "pool"), "workers": 2}))
    with ThreadPoolExecutor(2) as executor:
        threads = run_parameters(make_configs(values, overrides={"out": str(tmp_path / "threads")}),
                                 executor=executor)
    serial = _results(combined)["parameters"]
    for report in (pool, threads):
        assert not report.failed
        for code, entry in _results(report.out)["parameters"].items():
            for key in NUMBERS:
                assert entry[key] == serial[code][key], (code, key)
            csv = (report.out / f"{code}_t2_mmrm.csv").read_text()
            assert csv == (combined / f"{code}_t2_mmrm.csv").read_text()
    assert _results(pool.out)["parameters"]["CGIS"]["settings"]["workers"] == 2
