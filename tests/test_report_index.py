"""index.html of a report comes from the Jinja2 template ``trialmlm/app/templates/index.html.j2``:
every text is escaped by the engine, the HTML fragments of the tables are not."""

from __future__ import annotations

from markupsafe import Markup

from trialmlm.app.report import _template

SECTION = dict(header="Study X<1>; Efficacy Population.", model=[("Data", "a<b>.csv")],
               tables=[("t1_summary", Markup("<table><tr><td>1</td></tr></table>"))],
               figures=[("f1_spaghetti", "Figure 1. Profiles", "records with 'DTYPE' < blank"),
                        ("f7_residuals", "Figure 7. Residuals & fit", "Efficacy Population: 9 subjects.")],
               heading=None, anchor=None, error=None)


def _page(sections=(SECTION,), **changes) -> str:
    values = dict(title="CHG <by> arm & visit", css=Markup("p { }"), results="analysis_results.json",
                  versions=[("numpy", "2.0")], links=[("trajectory & slopes", "sub/index.html?a=1&b=2")],
                  formats=("png", "svg"), sections=list(sections))
    return _template("index.html.j2").render(**{**values, **changes})


def test_texts_are_escaped_by_the_engine():
    page = _page()
    assert "<title>CHG &lt;by&gt; arm &amp; visit</title>" in page
    assert "<tr><th>Data</th><td>a&lt;b&gt;.csv</td></tr>" in page
    assert '<a href="sub/index.html?a=1&amp;b=2">trajectory &amp; slopes</a>' in page
    assert "<br>records with &#39;DTYPE&#39; &lt; blank</figcaption>" in page
    assert '<p class="header">Study X&lt;1&gt;; Efficacy Population.</p>' in page


def test_tables_figures_and_files_are_listed():
    page = _page()
    assert ('<section id="t1_summary"><p class="files">t1_summary: '
            '<a href="t1_summary.rtf">RTF</a> | <a href="t1_summary.html">HTML</a> | '
            '<a href="t1_summary.csv">CSV</a></p><table><tr><td>1</td></tr></table></section>') in page
    assert ('<figure id="f7_residuals"><figcaption><strong>Figure 7. Residuals &amp; fit</strong> '
            '(<a href="f7_residuals.png">PNG</a>, <a href="f7_residuals.svg">SVG</a>)<br>Efficacy '
            'Population: 9 subjects.</figcaption><img src="f7_residuals.png" '
            'alt="Figure 7. Residuals &amp; fit"></figure>') in page
    assert "Software: numpy 2.0. All tables in one file" in page
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</html>\n")


def test_figures_link_only_the_formats_written():
    page = _page(formats=("svg",))
    assert ('<figcaption><strong>Figure 7. Residuals &amp; fit</strong> (<a href="f7_residuals.svg">SVG</a>)'
            '<br>Efficacy Population: 9 subjects.</figcaption><img src="f7_residuals.svg"') in page
    assert ".png" not in page


def test_several_sections_have_contents_headings_and_errors():
    first = {**SECTION, "heading": "HAMD17: <total>", "anchor": "HAMD17",
             "tables": [("HAMD17_t1_summary", Markup("<table></table>"))]}
    failed = {**SECTION, "heading": "BAD", "anchor": "BAD", "error": "no usable fit of Y < 1", "model": []}
    page = _page(sections=(first, failed))
    assert '<li><a href="#HAMD17">HAMD17: &lt;total&gt;</a></li>' in page
    assert '<li><a href="#BAD">BAD</a> (no usable fit)</li>' in page
    assert '<section class="parameter" id="HAMD17">\n<h2>1. HAMD17: &lt;total&gt;</h2>' in page
    assert '<p class="error">no usable fit of Y &lt; 1</p>' in page and "<h3>Tables</h3>" in page
    assert '<a href="analysis_results.json">analysis_results.json</a> (parameters.HAMD17)' in page
    assert page.count("<h3>Model</h3>") == 1  # not for the parameter without a fit
