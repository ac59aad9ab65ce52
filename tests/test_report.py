"""The whole path as a user meets it: ``trialmlm demo`` / ``trialmlm analyze`` into a folder.

Checks that every table and figure file is there and non-empty, that the RTF files parse
(tests/helpers.py's independent reader), that index.html shows every figure and table,
and that the numbers in the MMRM table are the fit's own LS means and differences.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import read_rtf

import trialmlm
from trialmlm.app.cli import main

SAMPLE = Path(__file__).parents[1] / "sample_data" / "depression_trial.csv"
TABLES = ["t0_records", "t1_summary", "t2_mmrm", "t3_type3", "t4_covariance", "t5_patterns", "t5_dropout",
          "t5_km",
          "t6_sensitivity"]
FIGURES = ["f1_spaghetti", "f2_observed_means", "f3_lsmeans", "f4_differences", "f5_missing_patterns",
           "f6_km_dropout", "f7_residuals", "f8_tipping_point"]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.tables = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "table" and "trialmlm-table" in (attrs.get("class") or ""):
            self.tables += 1


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--out", str(out), "--imputations", "4", "--deltas", "0", "3", "6",
                 "--workers", "1"])
    assert code == 0
    return out


def test_every_file_is_written(demo):
    for name in TABLES:
        for ext in ("rtf", "html", "csv"):
            assert (demo / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"
    for name in FIGURES:  # PNG only by default (SVG with --figures png,svg)
        assert (demo / f"{name}.png").stat().st_size > 1000, f"{name}.png"
        assert (demo / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not (demo / f"{name}.svg").exists()
    assert (demo / "tables.rtf").stat().st_size > 0


def test_rtf_files_are_rtf(demo):
    for name in TABLES:
        text = (demo / f"{name}.rtf").read_text(encoding="ascii")
        assert text.startswith("{\\rtf1") and text.rstrip().endswith("}")
        parsed = read_rtf(text)  # asserts balanced braces
        body = pd.read_csv(demo / f"{name}.csv")
        assert len(parsed["rows"]) >= len(body) + 1, name  # header + body rows
    combined = read_rtf((demo / "tables.rtf").read_text(encoding="ascii"))
    assert any("Table 6." in p for p in combined["paragraphs"])


def test_index_shows_every_figure_and_table(demo):
    page = _Links()
    page.feed((demo / "index.html").read_text(encoding="utf-8"))
    assert sorted(page.images) == sorted(f"{f}.png" for f in FIGURES)
    assert not [link for link in page.links if link.endswith(".svg")]  # links only the files written
    for name in TABLES:
        for ext in ("rtf", "html", "csv"):
            assert f"{name}.{ext}" in page.links
    assert page.tables == len(TABLES)
    text = (demo / "index.html").read_text(encoding="utf-8")
    assert "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)" in text
    assert f"numpy {np.__version__}" in text and "kenward-roger" in text


def test_mmrm_table_numbers_equal_the_fit(demo):
    df = trialmlm.read(SAMPLE, param="HAMD17")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df, ddf="kenward-roger")
    table = pd.read_csv(demo / "t2_mmrm.csv")
    ls = fit.lsmeans("TRT01P", by="AVISIT")
    merged = table.merge(ls, left_on=["visit", "arm"], right_on=["AVISIT", "TRT01P"])
    assert len(merged) == 15
    np.testing.assert_allclose(merged["lsmean"], merged["estimate"], rtol=1e-12)
    np.testing.assert_allclose(merged["lsmean_se"], merged["se"], rtol=1e-12)
    diff = fit.compare("TRT01P", by="AVISIT", reference="Placebo")
    merged = table.dropna(subset=["difference"]).merge(diff, left_on=["visit", "arm"],
                                                       right_on=["AVISIT", "TRT01P"])
    assert len(merged) == 10
    np.testing.assert_allclose(merged["difference"], merged["estimate"], rtol=1e-12)
    np.testing.assert_allclose(merged["p_x"], merged["p_y"], rtol=1e-10)
    html = (demo / "t2_mmrm.html").read_text(encoding="ascii")
    week8 = diff.loc[(diff.AVISIT == "Week 8") & (diff.TRT01P == "Drug 20 mg")].iloc[0]
    # data are whole numbers: LS means and differences with 1 decimal, SE with 2 (SAS convention)
    assert f"{week8['estimate']:.1f} ({week8['se']:.2f})" in html
    # spanning headers: "LS Mean" over 2 columns, "Difference vs Placebo" over 3, in RTF and HTML
    assert 'colspan="2" class="span"><span>LS Mean</span>' in html
    assert 'colspan="3" class="span"><span>Difference vs Placebo</span>' in html
    rtf = read_rtf((demo / "t2_mmrm.rtf").read_text(encoding="ascii"))
    assert rtf["rows"][0] == ["", "", "", "LS Mean", "Difference vs Placebo"]
    assert rtf["rows"][1][3:] == ["Estimate (SE)", "95% CI", "Estimate (SE)", "95% CI", "p-value"]


def test_sensitivity_table_has_every_analysis(demo):
    table = pd.read_csv(demo / "t6_sensitivity.csv")
    analyses = ["MMRM (primary, MAR)", "MI, MAR", "MI, jump to reference", "MI, copy reference",
                "MI, copy increments in reference", "Tipping point (MAR + delta)"]
    contrasts = ["Drug 10 mg - Placebo", "Drug 20 mg - Placebo"]
    assert list(table["analysis"]) == analyses * 2 and list(table["contrast"]) == [c for c in contrasts
                                                                                  for _ in analyses]
    df = trialmlm.read(SAMPLE, param="HAMD17")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df, ddf="kenward-roger")
    week8 = fit.compare("TRT01P", by="AVISIT", reference="Placebo").query("AVISIT == 'Week 8'")
    primary = table[table["analysis"] == analyses[0]]
    np.testing.assert_allclose(primary["estimate"], week8["estimate"], rtol=1e-10)
    np.testing.assert_allclose(table["primary_p"], np.repeat(week8["p"].to_numpy(), len(analyses)),
                               rtol=1e-10)
    tipping = table[table["analysis"] == analyses[-1]]
    # the demo's settings: --imputations 4 --deltas 0 3 6, seed 2026
    tp = trialmlm.estimands.tipping_point(fit, [0, 3, 6], reference="Placebo", n_samples=4, seed=2026)
    summary = tp.summary()
    assert list(tipping["tipping"]) == list(summary["tipping"])
    np.testing.assert_allclose(tipping[["delta", "estimate", "p"]], summary[["delta", "estimate", "p"]],
                               rtol=1e-10)
    assert table.loc[table["analysis"] != analyses[-1], "tipping"].isna().all()


def test_analyze_with_a_toml_config(tmp_path, capsys):
    config = tmp_path / "analysis.toml"
    config.write_text(f'[analysis]\ndata = "{SAMPLE.as_posix()}"\nparam = "HAMD17"\nreference = "Placebo"\n'
                      'covariates = ["BASE"]\ncovariance = "toep"\nddf = "satterthwaite"\n')
    out = tmp_path / "toep"
    assert main(["analyze", "--config", str(config), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert not (out / "t6_sensitivity.csv").exists()  # sensitivity only on request
    footnotes = (out / "t2_mmrm.html").read_text(encoding="ascii")
    assert "Toeplitz" in footnotes and "Satterthwaite" in footnotes


@pytest.mark.parametrize("args, message", [
    (["analyze", "nope.csv"], "does not exist"),
    (["analyze", str(SAMPLE), "--param", "HAMD17", "--arm", "TRT"], "has no column 'TRT' (arm)"),
    (["analyze", str(SAMPLE), "--param", "XYZ"], "XYZ"),
    (["analyze", str(SAMPLE), "--param", "HAMD17", "--reference", "Pbo"],
     "reference arm 'Pbo' is not a level"),
    (["analyze"], "give a data file or --config FILE"),
])
def test_user_errors_are_one_line(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error:") and "\n" not in err and message in err


def test_unknown_config_key(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('data = "x.csv"\nresponce = "CHG"\n')
    assert main(["analyze", "--config", str(config)]) == 2
    assert "unknown key(s) responce" in capsys.readouterr().err


def test_demo_trajectory_report(demo):
    sub = demo / "trajectory"
    assert 'href="trajectory/index.html"' in (demo / "index.html").read_text(encoding="utf-8")
    page = _Links()
    page.feed((sub / "index.html").read_text(encoding="utf-8"))
    figures = ["f1_spaghetti", "f2_observed_means", "f3_trajectories", "f4_shrinkage", "f5_missing_patterns",
               "f6_km_dropout", "f7_residuals"]
    assert sorted(page.images) == sorted(f"{f}.png" for f in figures)
    for name in figures:
        assert (sub / f"{name}.png").stat().st_size > 1000
    df = trialmlm.read(SAMPLE.with_name("long_term_trial.csv"), param="FVC", keep_baseline=True)
    fit = trialmlm.fit("AVAL ~ TRT01P * TIME + (1 + TIME | USUBJID)", df, ddf="kenward-roger")
    slopes = pd.read_csv(sub / "t2_slopes.csv").set_index("arm")
    expected = fit.lsmeans("TRT01P", slope="TIME").set_index("TRT01P")
    np.testing.assert_allclose(slopes.loc[expected.index, "lsmean"], expected["estimate"], rtol=1e-10)
    diff = fit.compare("TRT01P", reference="Placebo", slope="TIME").iloc[0]
    assert slopes.loc["Drug 150 mg", "difference"] == pytest.approx(diff["estimate"], rel=1e-10)
    assert slopes.loc["Drug 150 mg", "p"] == pytest.approx(diff["p"], rel=1e-8)
    assert read_rtf((sub / "tables.rtf").read_text(encoding="ascii"))["rows"]
