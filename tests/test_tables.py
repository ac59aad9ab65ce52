"""trialmlm.tables: numbers equal the fit's, formats follow the SAS conventions, and the
RTF / HTML / CSV renderings hold exactly the table's cells (read back with independent
parsers: the small RTF tokenizer in helpers.py and the standard library's html.parser)."""

from __future__ import annotations

from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import read_rtf

import trialmlm
from trialmlm import estimands, missing, tables
from trialmlm.errors import DataError
from trialmlm.tables import Table

SPECIAL = ["a & b", "x < y > z", "{braced}", "back\\slash", "5 \u00b5g", "\u2265 10", "\u0394=1",
           "\U0001d6fd astral", 'quote " and \'']


class _HTMLCells(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.header, self.body, self.foot, self.caption = [], [], [], ""
        self._cell, self._where, self._section = None, None, None

    def handle_starttag(self, tag, attrs):
        if tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self.body.append([])
        elif tag in ("td", "th", "caption"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th", "caption") and self._cell is not None:
            text = "".join(self._cell)
            if tag == "caption":
                self.caption = text
            elif self._section == "thead":
                self.header.append(text)
            elif self._section == "tbody":
                self.body[-1].append(text)
            else:
                self.foot.append(text)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_html(text: str) -> _HTMLCells:
    parser = _HTMLCells()
    parser.feed(text)
    parser.close()
    return parser


def check_renderings(table: Table, tmp_path) -> None:
    """RTF, HTML and CSV hold exactly the table (RTF cells up to the line breaks the layout adds)."""
    rtf_text = tables.to_rtf(table, tmp_path / "t.rtf").read_text(encoding="ascii")
    assert rtf_text.startswith("{\\rtf1") and rtf_text.rstrip().endswith("}")
    parsed = read_rtf(rtf_text)
    spans = [[label for label, _, _ in table.groups]] if table.groups else []
    assert parsed["words"]["row"] == len(spans) + len(table.rows) + 1
    assert parsed["words"]["trhdr"] == len(spans) + 1 and parsed["words"]["lndscpsxn"] == 1
    assert parsed["words"]["trowd"] == parsed["words"]["row"]
    words = [[" ".join(c.split()) for c in r] for r in (*spans, table.columns, *table.rows)]
    assert [[" ".join(c.split()) for c in r] for r in parsed["rows"]] == words  # wrapped at spaces only
    assert parsed["paragraphs"][0] == table.title
    assert parsed["paragraphs"][1:] == list(table.footnotes)
    page = read_html(tables.to_html(table))
    header = ([label or table.columns[start] for label, start, _ in table.groups]
              + [c for label, start, stop in table.groups if label for c in table.columns[start:stop]])
    assert page.caption == table.title and page.header == (header or list(table.columns))
    assert page.body == [list(r) for r in table.rows] and page.foot == list(table.footnotes)
    full = tables.write_html(table, tmp_path / "t.html").read_text(encoding="ascii")
    assert full.startswith("<!DOCTYPE html>") and read_html(full).body == page.body
    back = pd.read_csv(tables.to_csv(table, tmp_path / "t.csv"), keep_default_na=False,
                       na_values=[""])
    pd.testing.assert_frame_equal(back, table.data, check_dtype=False)


def test_table_checks_its_shape():
    with pytest.raises(DataError, match="row 0 has 1 cells, the header 2"):
        Table("t", ["a", "b"], [["x"]], pd.DataFrame())
    with pytest.raises(DataError, match="align"):
        Table("t", ["a"], [["x"]], pd.DataFrame(), align=("x",))


def test_special_characters_are_escaped_in_rtf_and_html(tmp_path):
    data = pd.DataFrame({"text": SPECIAL})
    table = Table("Title & {\u00b5} <\u2265>", ["Header\n(\u00b5g/L)", "x"],
                  [[s, s[::-1]] for s in SPECIAL], data, ("Note: p \u2264 0.05 & {x} \\ y",))
    check_renderings(table, tmp_path)
    rtf_text = (tmp_path / "t.rtf").read_text(encoding="ascii")
    assert "\\u181 ?" in rtf_text and "\\u8805 ?" in rtf_text and "\\{braced\\}" in rtf_text
    assert "back\\\\slash" in rtf_text and "\\u-10187 ?\\u-8451 ?" in rtf_text  # UTF-16 surrogates
    html_text = tables.to_html(table)
    assert "a &amp; b" in html_text and "x &lt; y &gt; z" in html_text and "&#181;" in html_text
    assert "&#8805;" in html_text and "<br>" in html_text and html_text.isascii()


# -- tables of data -----------------------------------------------------------------------
def test_summary_table_numbers_and_format(demo_trial, tmp_path):
    table = tables.summary_table(demo_trial, "TRT", "AVISIT", "CHG", unit="points",
                                 labels={"TRT": "Treatment", "AVISIT": "Visit"})
    check_renderings(table, tmp_path)
    grouped = demo_trial.groupby(["AVISIT", "TRT"])["CHG"]
    expected = pd.DataFrame({"n": grouped.count(), "mean": grouped.mean(), "sd": grouped.std(),
                             "median": grouped.median(), "min": grouped.min(), "max": grouped.max()})
    got = table.data.set_index(["visit", "arm"])
    pd.testing.assert_frame_equal(got, expected.rename_axis(["visit", "arm"]), check_dtype=False)
    assert table.columns[:4] == ("Visit", "Treatment", "n", "Mean\n(points)")
    first = expected.iloc[0]  # data have 3 decimals, so d = 1: mean 2, SD 3, min/max 1
    assert table.rows[0] == ("V1", "ACT", "80", f"{first['mean']:.2f}", f"{first['sd']:.3f}",
                             f"{first['median']:.2f}", f"{first['min']:.1f}, {first['max']:.1f}")
    assert table.rows[1][0] == ""  # the visit label is shown once per visit


def test_summary_table_lists_empty_cells(demo_trial):
    df = demo_trial[~((demo_trial.TRT == "ACT") & (demo_trial.AVISIT == "V5"))]
    table = tables.summary_table(df, "TRT", "AVISIT", "CHG", decimals=1)
    row = table.data.query("visit == 'V5' and arm == 'ACT'").iloc[0]
    assert row.n == 0 and np.isnan(row["mean"])
    assert table.rows[-2][2:] == ("0", "", "", "", "")


def test_missing_data_tables_format_the_missing_outputs(demo_trial, tmp_path):
    out = tables.missing_data_tables(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT", time="TIME")
    assert list(out) == ["patterns", "dropout", "time_to_dropout"]
    for name, table in out.items():
        (tmp_path / name).mkdir()
        check_renderings(table, tmp_path / name)
    pat = missing.patterns(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT")
    np.testing.assert_array_equal(out["patterns"].data["n"], pat["n"])
    assert out["patterns"].columns[1] == "Pattern\n(V1 V2 V3 V4 V5)"
    assert out["patterns"].rows[1][-1] == "11.3"  # 9/80 = 11.25 %, rounded half up as SAS
    drop = missing.dropout_table(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT")
    np.testing.assert_array_equal(out["dropout"].data["n_dropout"], drop["n_dropout"])
    km = missing.time_to_dropout(demo_trial, "USUBJID", "AVISIT", "CHG", "TRT", time="TIME")
    np.testing.assert_allclose(out["time_to_dropout"].data["survival"], km.survival["survival"])
    notes = " ".join(out["time_to_dropout"].footnotes)
    # times are whole weeks (d = 0): the median and its limits are printed as times are
    assert "CTRL NE (8, NE)" in notes and f"p = {km.logrank.p.iloc[0]:.4f}" in notes
    assert out["time_to_dropout"].rows[-1][2] == "8"


def test_dropout_table_with_reasons(demo_trial, tmp_path):
    df = demo_trial.assign(DCSREAS=np.where(demo_trial.USUBJID.str[-1].isin(list("13579")),
                                            "Adverse event", "Lack of efficacy"))
    drop = missing.dropout_table(df, "USUBJID", "AVISIT", "CHG", "TRT", reason="DCSREAS")
    table = tables.dropout_by_visit_table(drop)
    check_renderings(table, tmp_path)
    assert {"dropout_adverse_event", "dropout_lack_of_efficacy"} <= set(table.data.columns)
    assert table.columns[-2:] == ("Reason:\nAdverse event", "Reason:\nLack of efficacy")


# -- tables of a fit ----------------------------------------------------------------------
def test_mmrm_table_equals_lsmeans_and_compare(demo_fit, demo_trial, tmp_path):
    table = tables.mmrm_table(demo_fit, "TRT", "AVISIT", reference="CTRL")
    check_renderings(table, tmp_path)
    ls = demo_fit.lsmeans("TRT", by="AVISIT")
    cmp = demo_fit.compare("TRT", by="AVISIT", reference="CTRL")
    data = table.data
    np.testing.assert_allclose(data.lsmean, ls.estimate)
    np.testing.assert_allclose(data.lsmean_se, ls.se)
    np.testing.assert_allclose(data[["lsmean_lower", "lsmean_upper"]], ls[["lower", "upper"]])
    act = data[data.arm == "ACT"].reset_index(drop=True)
    for col in ("estimate", "se", "df", "lower", "upper"):
        name = "difference" if col == "estimate" else f"difference_{col}"
        np.testing.assert_allclose(act[name], cmp[col])
    np.testing.assert_allclose(act.p, cmp.p)
    assert data.loc[data.arm == "CTRL", "difference"].isna().all()
    observed = demo_trial.dropna(subset=["CHG"]).groupby(["AVISIT", "TRT"]).size()
    np.testing.assert_array_equal(data.n, observed.to_numpy())
    # data with 3 decimals, so d = 1: LS mean and difference 2 decimals, SE 3
    r, c = ls.iloc[0], cmp.iloc[0]
    assert table.rows[0] == (
        "V1", "ACT", "80", f"{r.estimate:.2f} ({r.se:.3f})", f"({r.lower:.2f}, {r.upper:.2f})",
        f"{c.estimate:.2f} ({c.se:.3f})", f"({c.lower:.2f}, {c.upper:.2f})", f"{c.p:.4f}")
    assert table.rows[1][5:] == ("", "", "")
    notes = " ".join(table.footnotes)
    for word in ("REML", "Satterthwaite", "unstructured (UN)", "covariates: BASE, SEX", "USUBJID"):
        assert word in notes


def test_mmrm_table_options_reach_the_fit_and_the_footnotes(demo_fit):
    table = tables.mmrm_table(demo_fit, "TRT", reference="CTRL", ddf="kenward-roger", alpha=0.1, decimals=1)
    kr = demo_fit.compare("TRT", by="AVISIT", reference="CTRL", ddf="kenward-roger", alpha=0.1)
    np.testing.assert_allclose(table.data.dropna(subset=["difference"]).difference_upper, kr.upper)
    assert "Kenward-Roger" in " ".join(table.footnotes) and "90% CI" in table.columns
    assert table.rows[0][3] == f"{table.data.lsmean[0]:.2f} ({table.data.lsmean_se[0]:.3f})"
    with pytest.raises(DataError, match="reference 'PBO'"):
        tables.mmrm_table(demo_fit, "TRT", reference="PBO")


def test_type3_table(demo_fit, tmp_path):
    table = tables.type3_table(demo_fit)
    check_renderings(table, tmp_path)
    a = demo_fit.anova()
    np.testing.assert_allclose(table.data.f, a.F)
    np.testing.assert_allclose(table.data.den_df, a.den_df)
    assert table.columns == ("Effect", "Num DF", "Den DF", "F Value", "Pr > F")
    assert table.rows[0] == ("BASE", "1", f"{a.den_df.iloc[0]:.1f}", f"{a.F.iloc[0]:.2f}", "<.0001")


def test_covariance_table_parameters_and_fit_statistics(demo_fit, tmp_path):
    table = tables.covariance_table(demo_fit)
    check_renderings(table, tmp_path)
    cov = demo_fit.covariance_parameters_table()
    par = table.data[table.data.section == "covariance parameter"]
    np.testing.assert_allclose(par.estimate, cov.estimate)
    np.testing.assert_allclose(par.se, cov.se)
    fit_stats = table.data[table.data.section == "fit statistic"].set_index("parameter").estimate
    np.testing.assert_allclose(fit_stats.to_numpy(),
                               [-2 * demo_fit.loglik, demo_fit.aic, demo_fit.aicc, demo_fit.bic])
    assert table.rows[0] == ("UN(1,1)", f"{cov.estimate.iloc[0]:.4f}", f"{cov.se.iloc[0]:.4f}",
                             f"{cov.z.iloc[0]:.2f}", "<.0001")
    assert ("-2 Res Log Likelihood", f"{-2 * demo_fit.loglik:.1f}", "", "", "") in table.rows


def test_covariance_table_random_effects_ml():
    sleep = pd.read_csv(Path(__file__).parent / "reference" / "sleepstudy.csv")
    fit = trialmlm.fit("Reaction ~ Days + (1 + Days | Subject)", sleep, method="ML")
    table = tables.covariance_table(fit)
    assert table.rows[-4][0] == "-2 Log Likelihood"
    notes = " ".join(table.footnotes)
    assert "Random effects (1 + Days | Subject)" in notes and "Estimation: ML" in notes


# -- sensitivity table: the assembly of fit.compare, impute().compare() and tipping_point() --------
SAMPLE = Path(__file__).parents[1] / "sample_data" / "depression_trial.csv"
PBO, LOW, HIGH = "Placebo", "Drug 10 mg - Placebo", "Drug 20 mg - Placebo"


@pytest.fixture(scope="module")
def depression():
    """The 3-arm sample trial (placebo, 10 mg, 20 mg): two contrasts; 5 imputations each."""
    df = trialmlm.read(SAMPLE, param="HAMD17")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df)
    options = dict(reference=PBO, n_samples=5, seed=11)
    mis = [estimands.impute(fit, method=m, **options) for m in ("mar", "jump_to_reference")]
    return fit, mis, estimands.tipping_point(fit, **options), options


def _row(data, analysis, contrast):
    rows = data[(data["analysis"] == analysis) & (data["contrast"] == contrast)]
    assert len(rows) == 1, (analysis, contrast)
    return rows.iloc[0]


def test_sensitivity_table_one_row_per_analysis_and_contrast(depression, tmp_path):
    fit, mis, tp, _ = depression
    table = tables.sensitivity_table(fit, mis, tp, unit="points")
    check_renderings(table, tmp_path)
    data = table.data
    assert list(data.columns) == ["analysis", "contrast", "visit", "delta", "estimate", "se", "df", "lower",
                                  "upper", "p", "primary_p", "tipping"]
    analyses = ["MMRM (primary, MAR)", "MI, MAR", "MI, jump to reference", "Tipping point (MAR + delta)"]
    assert list(data["contrast"]) == [LOW] * 4 + [HIGH] * 4 and list(data["analysis"]) == analyses * 2
    assert (data["visit"] == "Week 8").all() and tp.visit == "Week 8"
    numbers = ["estimate", "se", "df", "lower", "upper", "p"]
    primary = fit.compare("TRT01P", by="AVISIT", reference=PBO).query("AVISIT == 'Week 8'")
    for mi, name in zip([None, *mis], analyses):
        source = primary if mi is None else mi.compare().query("AVISIT == 'Week 8'")
        for contrast in (LOW, HIGH):
            want = source.loc[source["contrast"] == contrast, numbers].iloc[0]
            got = _row(data, name, contrast)
            np.testing.assert_allclose(got[numbers].to_numpy(float), want.to_numpy(float), rtol=1e-12)
            assert np.isnan(got["delta"]) and pd.isna(got["tipping"])
    for contrast in (LOW, HIGH):
        p_primary = primary.loc[primary["contrast"] == contrast, "p"].iloc[0]
        assert np.allclose(data.loc[data["contrast"] == contrast, "primary_p"], p_primary, rtol=0, atol=0)
        assert p_primary < 0.05 and tp.status(contrast) == "tips"
        delta = tp.tipping_deltas[contrast]
        got = _row(data, analyses[-1], contrast)
        want = tp.table[(tp.table["contrast"] == contrast) & (tp.table["delta"] == delta)].iloc[0]
        np.testing.assert_allclose(got[["delta", *numbers]].to_numpy(float),
                                   want[["delta", *numbers]].to_numpy(float), rtol=1e-12)
        before = tp.table[(tp.table["contrast"] == contrast) & (tp.table["delta"] < delta)]
        assert want["p"] >= 0.05 and (before["p"] < 0.05).all()  # the first delta with p >= alpha
        assert got["tipping"] == f"tips at delta = {delta:g}"
    assert table.columns == ("Contrast", "Analysis", "Delta", "Estimate (SE)\n(points)", "95% CI", "p-value",
                             "Primary\np-value (MAR)", "Tipping point")
    r = _row(data, "MI, MAR", HIGH)
    assert table.rows[5] == ("", "MI, MAR", "", f"{r.estimate:.1f} ({r.se:.2f})",
                             f"({r.lower:.1f}, {r.upper:.1f})", f"{r.p:.4f}", f"{r.primary_p:.4f}", "")
    assert table.rows[0][0] == LOW and table.rows[4][0] == HIGH


def test_sensitivity_table_contrast_that_never_tips(depression):
    fit, mis, _, options = depression
    tp = estimands.tipping_point(fit, [0.0, 0.25, 0.5], **{**options, "seed": 12})  # 10 mg: p 0.027 to 0.036
    data = tables.sensitivity_table(fit, mis[:1], tp).data
    rows = data[data["analysis"] == "Tipping point (MAR + delta)"].set_index("contrast")
    assert list(rows.index) == [LOW, HIGH]
    for contrast in (LOW, HIGH):
        assert tp.tipping_deltas[contrast] is None and tp.status(contrast) == "does not tip"
        assert rows.at[contrast, "tipping"] == "does not tip within the range (deltas 0 to 0.5)"
        last = tp.table[(tp.table["contrast"] == contrast) & (tp.table["delta"] == 0.5)].iloc[0]
        assert rows.at[contrast, "delta"] == 0.5
        np.testing.assert_allclose(rows.loc[contrast, ["estimate", "p"]].to_numpy(float),
                                   last[["estimate", "p"]].to_numpy(float), rtol=1e-12)


def test_sensitivity_table_primary_not_significant(depression):
    fit, _, _, options = depression
    # Week 2: 10 mg p = 0.12 (not significant), 20 mg p = 0.009
    tp = estimands.tipping_point(fit, [0, 1, 2, 3], visit="Week 2", **options)
    table = tables.sensitivity_table(fit, (), tp)
    data = table.data
    assert list(data["analysis"]) == ["MMRM (primary, MAR)", "Tipping point (MAR + delta)"] * 2
    low = _row(data, "Tipping point (MAR + delta)", LOW)
    assert tp.primary_p[LOW] >= 0.05 and tp.status(LOW) == "not significant"
    assert low["tipping"] == "not significant under MAR; no tipping point"
    assert low[["delta", "estimate", "se", "p"]].isna().all() and low["primary_p"] == tp.primary_p[LOW]
    assert table.rows[1][3:6] == ("", "", "") and table.rows[1][-1] == low["tipping"]
    high = _row(data, "Tipping point (MAR + delta)", HIGH)
    assert tp.primary_p[HIGH] < 0.05 and high["tipping"] != low["tipping"]
    assert (data["visit"] == "Week 2").all()


def test_sensitivity_table_errors(depression):
    fit, mis, tp, options = depression
    with pytest.raises(DataError, match="at least one multiple imputation or tipping point"):
        tables.sensitivity_results(fit)
    with pytest.raises(DataError, match="computed at alpha = 0.05"):
        tables.sensitivity_results(fit, mis, tp, alpha=0.1)
    with pytest.raises(DataError, match="both 'MI, MAR'"):
        tables.sensitivity_results(fit, [mis[0], mis[0]])
    other = estimands.impute(fit, **{**options, "reference": "Drug 10 mg"})
    with pytest.raises(DataError, match="differ in reference"):
        tables.sensitivity_results(fit, [mis[0], other])


def test_several_tables_in_one_rtf_and_html(demo_fit, tmp_path):
    parts = [tables.type3_table(demo_fit), tables.covariance_table(demo_fit)]
    text = tables.to_rtf(parts, tmp_path / "both.rtf").read_text(encoding="ascii")
    parsed = read_rtf(text)
    assert parsed["words"]["pagebb"] == 1 and parsed["words"]["trhdr"] == 2
    assert parsed["words"]["row"] == sum(len(t.rows) + 1 for t in parts)
    html_page = tables.write_html(parts, tmp_path / "both.html").read_text(encoding="ascii")
    assert html_page.count("<table") == 2


# -- page titles and footnotes ------------------------------------------------------------
TITLES = tables.Titles(study="S-01 {x} \\ \u00b5", population="Efficacy population", source="adadas.xpt",
                       program="trialmlm 0.1.0 analyze", run_at=datetime(2024, 5, 1, 14, 3, 59),
                       header=("Primary endpoint",), footer=("Data cut 2024-04-30 & locked",))


def test_titles_lines():
    assert TITLES.header_lines == ("Study: S-01 {x} \\ \u00b5", "Efficacy population", "Primary endpoint")
    assert TITLES.footer_lines == ("Data cut 2024-04-30 & locked",
                                   "Source: adadas.xpt; program: trialmlm 0.1.0 analyze")
    assert TITLES.run_text == "Run: 2024-05-01 14:03"
    only = tables.Titles(program="trialmlm", run_at=date(2024, 5, 1), header="one line")
    assert only.header_lines == ("one line",) and only.footer_lines == ("Program: trialmlm",)
    assert only.run_text == "Run: 2024-05-01"
    assert tables.Titles(run_at="01MAY2024").run_text == "Run: 01MAY2024"
    assert tables.Titles().header_lines == () and tables.Titles().run_text == ""


def test_rtf_titles_on_every_page_with_page_fields(demo_fit, tmp_path):
    parts = [tables.type3_table(demo_fit), tables.covariance_table(demo_fit), tables.type3_table(demo_fit)]
    text = tables.to_rtf(parts, tmp_path / "t.rtf", titles=TITLES).read_text(encoding="ascii")
    parsed = read_rtf(text)
    # one header and one footer group for the section: the reader repeats them on every page
    assert parsed["words"]["header"] == 1 and parsed["words"]["footer"] == 1
    assert parsed["words"]["pagebb"] == len(parts) - 1 and "page" not in parsed["words"]
    assert parsed["header"] == ["Study: S-01 {x} \\ \u00b5\tPage {PAGE} of {NUMPAGES}", "Efficacy population",
                                "Primary endpoint"]
    assert parsed["footer"] == ["Data cut 2024-04-30 & locked",
                                "Source: adadas.xpt; program: trialmlm 0.1.0 analyze\tRun: 2024-05-01 14:03"]
    assert "{\\field{\\*\\fldinst PAGE}" in text and "{\\field{\\*\\fldinst NUMPAGES}" in text
    assert "S-01 \\{x\\} \\\\ \\u181 ?" in text  # user text escaped
    # the tables themselves are unchanged
    assert parsed["paragraphs"][0] == parts[0].title
    assert parsed["rows"][0] == list(parts[0].columns)
    assert parsed["words"]["row"] == sum(len(t.rows) + 1 for t in parts)
    # header and footer lines fit in the top and bottom margins (0.5 inch + 4 / 3 lines of 8 pt)
    assert "\\headery720\\footery720" in text and "\\margt1520\\margb1320" in text


def test_rtf_without_titles_is_unchanged(demo_fit):
    table = tables.type3_table(demo_fit)
    text = tables.rtf_document(table)
    assert text == tables.rtf_document(table, titles=None)
    assert "\\header" not in text and "\\margt1080\\margb1080" in text
    with pytest.raises(TypeError, match="Titles"):
        tables.rtf_document(table, titles="Study 1")


def test_html_titles(demo_fit, tmp_path):
    parts = [tables.type3_table(demo_fit), tables.covariance_table(demo_fit)]
    page = tables.write_html(parts, tmp_path / "t.html", titles=TITLES).read_text(encoding="ascii")

    class Blocks(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.lines, self.block = {"header": [], "footer": []}, None

        def handle_starttag(self, tag, attrs):
            if tag in ("header", "footer"):
                self.block = tag
            elif tag == "p" and self.block:
                self.lines[self.block].append("")

        def handle_endtag(self, tag):
            if tag in ("header", "footer"):
                self.block = None

        def handle_data(self, data):
            if self.block:
                self.lines[self.block][-1] += data + "|"

    blocks = Blocks()
    blocks.feed(page)
    assert blocks.lines["header"] == ["Study: S-01 {x} \\ \u00b5|", "Efficacy population|",
                                      "Primary endpoint|"]
    assert blocks.lines["footer"] == ["Data cut 2024-04-30 & locked|",
                                      "Source: adadas.xpt; program: trialmlm 0.1.0 analyze|"
                                      "Run: 2024-05-01 14:03|"]
    assert "Page" not in page and "&amp; locked" in page and "&#181;" in page
    assert page.index("<header") < page.index("<table") < page.index("</table>", page.index("Covariance")) \
        < page.index("<footer")
    assert read_html(page).body == [list(r) for r in parts[0].rows] + [list(r) for r in parts[1].rows]
    assert tables.html_document(parts[0]) == tables.html_document(parts[0], titles=None)
    assert "<header" not in tables.html_document(parts[0])


def test_spanning_headers_in_html_and_the_tables_that_use_them(demo_fit, tmp_path):
    table = tables.mmrm_table(demo_fit, "TRT", "AVISIT", reference="CTRL")
    assert table.spans == ("", "", "", "LS Mean", "LS Mean", "Difference vs CTRL", "Difference vs CTRL",
                           "Difference vs CTRL")
    assert table.groups == [("", 0, 1), ("", 1, 2), ("", 2, 3), ("LS Mean", 3, 5),
                            ("Difference vs CTRL", 5, 8)]
    check_renderings(table, tmp_path)
    page = tables.to_html(table)
    assert '<th scope="colgroup" colspan="2" class="span"><span>LS Mean</span></th>' in page
    assert '<th scope="colgroup" colspan="3" class="span"><span>Difference vs CTRL</span></th>' in page
    assert page.count('rowspan="2"') == 3  # AVISIT, TRT, n: one cell over both header rows
    assert "LS Mean: Estimate (SE)" in table.frame.columns  # the text form names the span too
    stacked = tables.stack_tables([("A", table), ("B", table)], "Group")
    assert stacked.spans == ("", *table.spans) and stacked.groups[-1] == ("Difference vs CTRL", 6, 9)


def test_span_groups_and_checks():
    assert tables.span_groups(["", "", ""]) == [] and tables.span_groups([]) == []
    assert tables.span_groups(["a", "a", "", "a", "b", "b"]) == [("a", 0, 2), ("", 2, 3), ("a", 3, 4),
                                                                  ("b", 4, 6)]
    with pytest.raises(DataError, match="spans must give a label"):
        Table("t", ["a", "b"], [["x", "y"]], pd.DataFrame(), spans=("s",))
    assert Table("t", ["a", "b"], [["x", "y"]], pd.DataFrame()).spans == ("", "")


def test_rtf_footnotes_are_as_wide_as_their_centred_table():
    import re

    from trialmlm.tables.render import MARGIN, PAGE_WIDTH

    table = Table("Narrow", ["Arm", "n"], [["Placebo", "10"]], pd.DataFrame(),
                  footnotes=("A note longer than the table.",))
    text = tables.rtf_document(table)
    right = max(int(x) for x in re.findall(r"\\cellx(\d+)", text))
    inset = (PAGE_WIDTH - 2 * MARGIN - right) // 2
    assert inset > 0 and rf"\li{inset}\ri{inset}" in text
