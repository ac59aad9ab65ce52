"""Column widths and line breaks of RTF tables (trialmlm.tables.rtf_layout), checked on the
headers and cells of the report tables where words used to be broken (responder report
Table 5b and Table 2, demo report Table 6 and Table 2), and of spanning headers."""

import re
from itertools import accumulate
from pathlib import Path

import pandas as pd
import pytest
from helpers import read_rtf
from hypothesis import given
from hypothesis import strategies as st

from trialmlm import tables
from trialmlm.tables.render import BODY_SIZE, CELL_PAD, MARGIN, PAGE_WIDTH
from trialmlm.tables.rtf_layout import (
    column_widths,
    longest_unit,
    text_area,
    text_width,
    wrap_at_spaces,
)

USABLE = PAGE_WIDTH - 2 * MARGIN
MONO = Path("/usr/share/fonts/truetype/liberation2")

DROPOUT = (  # responder report, Table 5b
    ("Planned Treatment for Period 01", "Analysis Visit", "Expected", "Observed", "Dropped out",
     "Cumulative % dropped out", "Reason: Adverse Event", "Reason: Lack of Efficacy",
     "Reason: Lost to Follow-up", "Reason: Withdrawal by Subject"),
    [("Placebo", "Week 2", "97", "94", "0", "0.0", "0", "0", "0", "0"),
     ("Drug 10 mg", "Week 4", "97", "79", "13", "13.4", "1", "8", "1", "3")],
    "llcccccccc")
SENSITIVITY = (  # demo report, Table 6
    ("Contrast", "Analysis", "Delta", "Estimate (SE)", "95% CI", "p-value", "Primary\np-value (MAR)",
     "Tipping point"),
    [("Drug 10 mg - Placebo", "MMRM (primary, MAR)", "", "-1.9 (0.86)", "(-3.6, -0.2)", "0.0294",
      "0.0294", ""),
     ("", "MI, copy increments in reference", "", "-1.8 (0.86)", "(-3.5, -0.1)", "0.0380", "0.0294", ""),
     ("", "Tipping point (MAR + delta)", "2", "-1.5 (0.87)", "(-3.2, 0.2)", "0.0830", "0.0294",
      "tips at delta = 2")],
    "llcccccl")
MMRM = (  # demo report, Table 2
    ("AVISIT", "TRT01P", "n", "LS Mean (SE)", "95% CI", "Difference vs Placebo (SE)", "95% CI", "p-value"),
    [("Week 1", "Drug 10 mg", "100", "-3.2 (0.34)", "(-3.9, -2.5)", "-0.9 (0.48)", "(-1.8, 0.0)", "0.0603")],
    "llcccccc")
GEE = (  # responder report, Table 2
    ("Analysis Visit", "Planned Treatment for Period 01", "Probability (SE)", "95% CI",
     "Odds ratio\nvs Placebo", "95% CI", "p-value"),
    [("Week 2", "Drug 10 mg", "0.096 (0.0295)", "(0.052, 0.171)", "2.34", "(0.73, 7.49)", "0.1522")],
    "llccccc")
REPORT_TABLES = {"dropout": DROPOUT, "sensitivity": SENSITIVITY, "mmrm": MMRM, "gee": GEE}


def test_text_width_is_courier_new_metrics():
    # Courier New: 1229/2048 em per glyph; 9 pt = 180 twips/em -> 108.0 twips per character
    assert text_width("x", 18) == 109 and text_width("x" * 10, 18) == 1081
    assert text_width("Follow-up", 18) == -(-9 * 1229 * 180 // 2048) == 973
    assert text_width("", 18) == 0


@pytest.mark.parametrize("style", ["Regular", "Bold"])
def test_text_width_matches_the_metric_compatible_font_file(style):
    """Liberation Mono (what LibreOffice uses for Courier New) measured by its TTF advance widths."""
    font_file = MONO / f"LiberationMono-{style}.ttf"
    if not font_file.exists():
        pytest.skip(f"{font_file} not installed")
    image_font = pytest.importorskip("PIL.ImageFont")
    font = image_font.truetype(str(font_file), size=2048)  # 1 px = 1 font unit
    for text in ["Reason: Lost to Follow-up", "-0.9 (0.48)", "Planned Treatment for Period 01"]:
        measured_twips = font.getlength(text) / 2048 * 9 * 20  # em -> twips at 9 pt
        assert text_width(text, BODY_SIZE) == pytest.approx(measured_twips, abs=1)


@pytest.mark.parametrize("name", sorted(REPORT_TABLES))
def test_every_column_is_at_least_its_longest_word(name):
    header, rows, align = REPORT_TABLES[name]
    widths = column_widths(header, rows, align, USABLE, BODY_SIZE, CELL_PAD)
    assert sum(widths) <= USABLE
    for j, width in enumerate(widths):
        words = [w for c in (header[j], *(r[j] for r in rows)) for w in c.split()]
        longest = max(text_width(w, BODY_SIZE) for w in words)
        assert text_area(width, BODY_SIZE, CELL_PAD) >= longest, header[j]


@pytest.mark.parametrize("name", sorted(REPORT_TABLES))
def test_rtf_cells_are_wrapped_only_at_spaces_and_fit_their_column(name, tmp_path):
    header, rows, align = REPORT_TABLES[name]
    table = tables.Table("T", header, rows, pd.DataFrame(), align=tuple(align))
    parsed = read_rtf(tables.rtf_document(table))
    widths = column_widths(header, rows, align, USABLE, BODY_SIZE, CELL_PAD)
    for original, written in zip((header, *rows), parsed["rows"]):
        for j, (text, cell) in enumerate(zip(original, written)):
            assert " ".join(cell.split()) == " ".join(text.split())  # same words, none split
            area = text_area(widths[j], BODY_SIZE, CELL_PAD)
            assert all(text_width(line, BODY_SIZE) <= area for line in cell.split("\n"))  # no reader wrap


def test_headers_take_two_lines_and_keep_short_parenthesised_tokens():
    header, rows, align = MMRM
    widths = column_widths(header, rows, align, USABLE, BODY_SIZE, CELL_PAD)
    area = text_area(widths[5], BODY_SIZE, CELL_PAD)
    assert wrap_at_spaces(header[5], area, BODY_SIZE) == "Difference vs\nPlacebo (SE)"
    assert wrap_at_spaces("Drug 10 mg - Placebo", text_width("Drug 10 mg", BODY_SIZE), BODY_SIZE) \
        == "Drug 10 mg\n- Placebo"
    assert wrap_at_spaces("Primary\np-value (MAR)", text_width("p-value", BODY_SIZE), BODY_SIZE) \
        == "Primary\np-value (MAR)"  # given breaks kept; a unit wider than the line stays whole


def test_a_table_wider_than_the_page_wraps_text_before_scaling():
    header = tuple(f"Column header number {j}" for j in range(8))
    rows = [tuple(f"a long text cell in column {j}" for j in range(8))]
    widths = column_widths(header, rows, "l" * 8, USABLE, BODY_SIZE, CELL_PAD)
    assert sum(widths) <= USABLE
    for j, width in enumerate(widths):
        assert text_area(width, BODY_SIZE, CELL_PAD) >= longest_unit(header[j] + " " + rows[0][j], BODY_SIZE)
    numbers = [tuple(f"{j}.{'1' * 40}" for j in range(8))]  # words alone exceed the page: scaled
    assert sum(column_widths(header, numbers, "c" * 8, USABLE, BODY_SIZE, CELL_PAD)) <= USABLE


@given(st.lists(st.text(alphabet="abc-()", min_size=1, max_size=12), min_size=1, max_size=12),
       st.integers(min_value=1, max_value=40))
def test_wrap_at_spaces_keeps_words_whole(words, chars):
    text = " ".join(words)
    width = text_width("x" * chars, BODY_SIZE)
    lines = wrap_at_spaces(text, width, BODY_SIZE).split("\n")
    assert " ".join(lines).split() == text.split()
    assert all(text_width(line, BODY_SIZE) <= max(width, longest_unit(line, BODY_SIZE)) for line in lines)


SPANNED = tables.Table(  # demo report, Table 2 with its spanning headers
    "T", ("AVISIT", "TRT01P", "n", "Estimate (SE)", "95% CI", "Estimate (SE)", "95% CI", "p-value"),
    MMRM[1], pd.DataFrame(), align=tuple(MMRM[2]),
    spans=("", "", "", "LS Mean", "LS Mean", "Difference vs Placebo", "Difference vs Placebo",
           "Difference vs Placebo"))


def _cell_edges(rtf: str) -> list[list[int]]:
    """The \\cellx right edges of each table row (one list per \\trowd)."""
    return [[int(x) for x in re.findall(r"\\cellx(\d+)", row)] for row in rtf.split(r"\trowd")[1:]]


def test_span_row_cells_end_where_the_spanned_columns_end():
    rtf = tables.rtf_document(SPANNED)
    span_row, label_row, *body = _cell_edges(rtf)
    widths = column_widths(SPANNED.columns, SPANNED.rows, SPANNED.align, USABLE, BODY_SIZE, CELL_PAD,
                           SPANNED.groups)
    edges = list(accumulate(widths))
    assert label_row == edges and all(row == edges for row in body)
    # blank cells over AVISIT, TRT01P and n; LS Mean = columns 3-4; Difference = columns 5-7
    assert span_row == [edges[0], edges[1], edges[2], edges[4], edges[7]]
    assert span_row[3] - span_row[2] == widths[3] + widths[4]
    assert span_row[4] - span_row[3] == sum(widths[5:8])
    parsed = read_rtf(rtf)
    assert parsed["rows"][0] == ["", "", "", "LS Mean", "Difference vs Placebo"]
    assert parsed["words"]["trhdr"] == 2  # both header rows repeat on every page
    assert rtf.count(r"\brdrb") == 2  # one rule under each span, inside its cell


def test_a_span_label_wider_than_its_columns_widens_them_without_breaking_words():
    header, rows = ("Arm", "Est", "CI"), [("A", "1.0", "(0, 2)")]
    label = "Difference from the reference arm Placebo"
    groups = tables.span_groups(("", label, label))
    plain = column_widths(header, rows, "lcc", USABLE, BODY_SIZE, CELL_PAD)
    wide = column_widths(header, rows, "lcc", USABLE, BODY_SIZE, CELL_PAD, groups)
    assert wide[0] == plain[0] and wide[1] > plain[1] and wide[2] > plain[2]
    area = text_area(wide[1] + wide[2], BODY_SIZE, CELL_PAD)  # the span's one cell
    # far wider than its columns: two lines, as a column label would take
    assert wrap_at_spaces(label, area, BODY_SIZE) == "Difference from the\nreference arm Placebo"
    fitting = tables.span_groups(("", "Diff", "Diff"))
    short = column_widths(header, rows, "lcc", USABLE, BODY_SIZE, CELL_PAD, fitting)
    assert short == plain  # a label that fits leaves the widths alone
    narrow = column_widths(header, rows, "lcc", text_width("x" * 30, BODY_SIZE), BODY_SIZE, CELL_PAD, groups)
    area = text_area(narrow[1] + narrow[2], BODY_SIZE, CELL_PAD)
    assert longest_unit(label, BODY_SIZE) <= area  # squeezed by the page: wraps at spaces only
    lines = wrap_at_spaces(label, area, BODY_SIZE).split("\n")
    assert len(lines) > 1 and " ".join(lines) == label


def test_the_column_whose_wrapping_adds_fewest_lines_gives_up_width_first():
    """ADADAS (CDISC pilot) Table 6: with two 20-character arm names the table is wider than the
    page; the tipping-point note wraps instead of the analysis labels (in the report the
    proportional squeeze broke "MI, copy / increments / in / reference" into four lines)."""
    header = ("Contrast", "Analysis", "Estimate (SE)", "95% CI", "p-value", "Primary\np-value (MAR)",
              "Tipping point")
    note = "not significant under MAR; no tipping point"
    rows = []
    for contrast in ("Xanomeline Low Dose - Placebo", "Xanomeline High Dose - Placebo"):
        rows += [(contrast, "MMRM (primary, MAR)", "-0.60 (1.014)", "(-2.60, 1.40)", "0.5535", "0.5535", ""),
                 ("", "MI, copy increments in reference", "-0.10 (0.992)", "(-2.06, 1.86)", "0.9165",
                  "0.5535", ""),
                 ("", "Tipping point (MAR + delta)", "", "", "", "0.5535", note)]
    usable = text_width("x" * 120, BODY_SIZE)
    widths = column_widths(header, rows, "llccccl", usable, BODY_SIZE, CELL_PAD)
    assert sum(widths) <= usable
    lines = [max(wrap_at_spaces(c, text_area(w, BODY_SIZE, CELL_PAD), BODY_SIZE).count("\n") + 1
                 for c, w in zip(row, widths)) for row in rows]
    assert lines == [2, 2, 2] * 2  # proportional squeeze: 2, 3, 2
