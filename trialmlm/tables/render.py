r"""Render :class:`Table` objects to RTF, HTML and CSV.

RTF is written by hand (RTF 1.x specification, Microsoft 2008) rather than through a
library: a regulatory table needs only a handful of control words — ``\trowd``,
``\cellx``, ``\intbl``, ``\cell``, ``\row``, ``\trhdr`` (header row repeated on every
page), ``\lndscpsxn`` (landscape), a font table and ``\b`` — and hand-writing keeps
trialmlm free of another dependency and the output byte-for-byte predictable (the
layout SAS ODS RTF produces: Courier New 9 pt body, bold title, rules above and below
the header and under the last row, footnotes in 8 pt).  Column widths come from the measured
widths of the text in Courier New and every line break is written here, at spaces only
(:mod:`trialmlm.tables.rtf_layout`), so no reader breaks a word.  rtflite (the Python port of
r2rtf) was considered: it takes column widths as given relative widths and measures text only
to paginate, and it would add polars and pydantic.  Text is escaped for RTF
(``\\``, ``\{``, ``\}``) and every non-ASCII character is written as ``\uN ?`` (UTF-16
code units, signed), so files open the same in Word and LibreOffice whatever the
code page.

Page titles and footnotes (:class:`~trialmlm.tables.Titles`) go into the section's
``{\header ...}`` and ``{\footer ...}`` groups, which Word and LibreOffice repeat on every
page; "Page x of y" is ``Page {\field{\*\fldinst PAGE}...} of {\field{\*\fldinst
NUMPAGES}...}``, numbered by the reader when it lays out the pages (tables of several
pages and several tables, one per page, alike).  The top and bottom margins grow by the
lines' height so that the body never runs into them.

HTML is a ``<table>`` with ``<caption>``, ``<thead>``, ``<tbody>`` and the footnotes in
``<tfoot>``; text is escaped with :func:`html.escape` and non-ASCII characters are
written as numeric references, so the file is plain ASCII.  CSV holds the tidy data
(:attr:`Table.data`), not the formatted strings.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

from .rtf_layout import column_widths, text_area, wrap_at_spaces
from .table import Table
from .titles import Titles

# Page: US letter landscape (15840 x 12240 twips), 0.75 inch margins.
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = 15840, 12240, 1080
BODY_SIZE, TITLE_SIZE, NOTE_SIZE = 18, 20, 16  # half-points
CELL_PAD = 72  # \trgaph: half the space between cells
HEADER_Y = 720  # \headery, \footery: page edge to header / footer text (0.5 inch)
NOTE_LINE = 200  # height of an 8 pt line (with leading)
RULE = r"\brdrs\brdrw10"
_ALIGN = {"l": r"\ql", "c": r"\qc", "r": r"\qr"}


def rtf_escape(text: str) -> str:
    r"""RTF text: ``\ { }`` escaped, line breaks as ``\line``, non-ASCII as ``\uN ?``.

    ``N`` is the signed 16-bit UTF-16 code unit (two for characters beyond U+FFFF) and
    ``?`` the one-character fallback skipped by readers (``\uc1``); the space delimiting
    ``N`` is part of the control word (some readers, e.g. pandoc 2, drop the character
    after ``\uN?``).
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append(r"\line ")
        elif ch == "\t":
            out.append(r"\tab ")
        elif 32 <= code < 127:
            out.append(ch)
        elif code < 32:
            continue
        else:
            units = ch.encode("utf-16-be")
            for i in range(0, len(units), 2):
                u = int.from_bytes(units[i:i + 2], "big")
                out.append(f"\\u{u - 65536 if u >= 32768 else u} ?")
    return "".join(out)


def _edges(table: Table) -> list[int]:
    """Right edges (\\cellx) of the columns, from :func:`column_widths`."""
    widths = column_widths(table.columns, table.rows, table.align, PAGE_WIDTH - 2 * MARGIN, BODY_SIZE,
                           CELL_PAD, table.groups)
    return list(accumulate(widths))


def _span_row(table: Table, edges: list[int]) -> str:
    r"""The spanning header row above the column labels (a repeated header row, ``\trhdr``):
    one cell per :attr:`Table.groups` entry, its right edge that of the last column it spans
    (so its width is the sum of theirs), blank over a column without a span.  A label is
    centred and underlined by a paragraph border indented by the cell padding
    (``\li``/``\ri``), so that the rules of two neighbouring spans stay apart."""
    right = [edges[stop - 1] for _, _, stop in table.groups]
    defs = "".join(rf"\clbrdrt{RULE}\clvertalb\cellx{e}" for e in right)
    start = rf"\trowd\trgaph{CELL_PAD}\trleft0\trqc\trhdr\trkeep" + defs
    cells = []
    for (label, _, _), left, e in zip(table.groups, [0, *right], right):
        text = rtf_escape(wrap_at_spaces(label, text_area(e - left, BODY_SIZE, CELL_PAD), BODY_SIZE))
        rule = rf"\li{CELL_PAD}\ri{CELL_PAD}\brdrb{RULE}\brsp20" if label else ""
        cells.append(rf"\pard\plain\intbl\qc{rule}\f0\fs{BODY_SIZE}\b {text}\b0\cell")
    return start + "\n" + "".join(cells) + r"\row" + "\n"


def _row(cells: Sequence[str], edges: list[int], align: Sequence[str], header: bool = False,
         top: bool = False, bottom: bool = False) -> str:
    borders = (r"\clbrdrt" + RULE if top else "") + (r"\clbrdrb" + RULE if bottom else "")
    borders += r"\clvertalb" if header else ""
    defs = "".join(f"{borders}\\cellx{e}" for e in edges)
    areas = [text_area(e - s, BODY_SIZE, CELL_PAD) for s, e in zip([0, *edges], edges)]
    start = rf"\trowd\trgaph{CELL_PAD}\trleft0\trqc" + (r"\trhdr" if header else "") + r"\trkeep" + defs
    body = "".join(
        rf"\pard\plain\intbl{_ALIGN['c' if header else a]}\f0\fs{BODY_SIZE}"
        + (r"\b " if header else " ") + rtf_escape(wrap_at_spaces(c, w, BODY_SIZE))
        + (r"\b0" if header else "") + r"\cell"
        for c, a, w in zip(cells, align, areas))
    return start + "\n" + body + r"\row" + "\n"


def _rtf_table(table: Table, new_page: bool = False) -> str:
    r"""Title, header row, body rows and footnotes (indented to the width of the centred table);
    ``new_page``: the title starts a page
    (``\pagebb``: LibreOffice drops a ``\page`` that follows a table spanning pages)."""
    edges = _edges(table)
    start = r"\pard\plain\qc" + (r"\pagebb" if new_page else "")
    parts = [rf"{start}\sb0\sa120\f0\fs{TITLE_SIZE}\b " + rtf_escape(table.title) + r"\b0\par" + "\n"]
    if table.groups:
        parts.append(_span_row(table, edges))
    parts.append(_row(table.columns, edges, table.align, header=True, top=not table.groups, bottom=True))
    last = len(table.rows) - 1
    for i, row in enumerate(table.rows):
        parts.append(_row(row, edges, table.align, bottom=i == last))
    inset = max(0, (PAGE_WIDTH - 2 * MARGIN - edges[-1]) // 2)  # notes as wide as the centred table
    for note in table.footnotes:
        parts.append(rf"\pard\plain\ql\li{inset}\ri{inset}\sb60\f0\fs{NOTE_SIZE} " + rtf_escape(note)
                     + r"\par" + "\n")
    return "".join(parts)


def _check_titles(titles) -> None:
    if titles is not None and not isinstance(titles, Titles):
        raise TypeError(f"titles must be a trialmlm.tables.Titles, got {type(titles).__name__}")


def _rtf_line(left: str, right: str = "") -> str:
    """One 8 pt paragraph: ``left`` (RTF text) and ``right`` at a right tab on the margin."""
    tab = rf"\tqr\tx{PAGE_WIDTH - 2 * MARGIN}"
    return (rf"\pard\plain\ql{tab}\f0\fs{NOTE_SIZE} " + left + (r"\tab " + right if right else "")
            + r"\par" + "\n")


def _rtf_titles(titles: Titles) -> str:
    r"""The ``{\header}`` and ``{\footer}`` groups: titles with Page x of y, footnotes with the run."""
    page = r"Page {\field{\*\fldinst PAGE}{\fldrslt 1}} of {\field{\*\fldinst NUMPAGES}{\fldrslt 1}}"
    head = [rtf_escape(x) for x in titles.header_lines] or [""]
    header = _rtf_line(head[0], page) + "".join(_rtf_line(x) for x in head[1:])
    feet = [rtf_escape(x) for x in titles.footer_lines] or [""]
    run = rtf_escape(titles.run_text)
    footer = "".join(_rtf_line(x) for x in feet[:-1]) + _rtf_line(feet[-1], run)
    return r"{\header " + "\n" + header + "}\n" + r"{\footer " + "\n" + footer + "}\n"


def rtf_document(tables: Table | Sequence[Table], titles: Titles | None = None) -> str:
    """The RTF text of one table, or of several, each starting a page; ``titles`` adds
    the page titles and footnotes (:class:`~trialmlm.tables.Titles`) to every page."""
    _check_titles(titles)
    tables = [tables] if isinstance(tables, Table) else list(tables)
    top = bottom = MARGIN
    sections = ""
    if titles is not None:
        top = max(MARGIN, HEADER_Y + (max(len(titles.header_lines), 1) + 1) * NOTE_LINE)
        bottom = max(MARGIN, HEADER_Y + (max(len(titles.footer_lines), 1) + 1) * NOTE_LINE)
        sections = rf"\headery{HEADER_Y}\footery{HEADER_Y}" + "\n" + _rtf_titles(titles)
    head = (r"{\rtf1\ansi\ansicpg1252\deff0\uc1" + "\n"
            r"{\fonttbl{\f0\fmodern\fcharset0 Courier New;}{\f1\froman\fcharset0 Times New Roman;}}" + "\n"
            rf"\paperw{PAGE_WIDTH}\paperh{PAGE_HEIGHT}\margl{MARGIN}\margr{MARGIN}\margt{top}"
            rf"\margb{bottom}\landscape" + "\n"
            rf"\sectd\lndscpsxn\pgwsxn{PAGE_WIDTH}\pghsxn{PAGE_HEIGHT}" + "\n" + sections)
    body = "".join(_rtf_table(t, new_page=i > 0) for i, t in enumerate(tables))
    return head + body + "}\n"


def to_rtf(tables: Table | Sequence[Table], path, titles: Titles | None = None) -> Path:
    """Write one table (or several, one per page) to an RTF file, with the page
    ``titles`` if given; returns the path."""
    path = Path(path)
    path.write_text(rtf_document(tables, titles), encoding="ascii")
    return path


def _html_text(text: str) -> str:
    escaped = html.escape(str(text), quote=True).replace("\n", "<br>")
    return escaped.encode("ascii", "xmlcharrefreplace").decode("ascii")


def _html_header(table: Table) -> list[str]:
    """The header row(s): with spans (:attr:`Table.groups`) a first row of spanning cells
    (``colspan``) and of the labels of columns without a span (``rowspan="2"``), then the
    labels of the spanned columns."""
    if not table.groups:
        return ["<tr>" + "".join(f'<th scope="col">{_html_text(c)}</th>' for c in table.columns) + "</tr>"]
    top, below = [], []
    for label, start, stop in table.groups:
        if label:
            top.append(f'<th scope="colgroup" colspan="{stop - start}" class="span">'
                       f"<span>{_html_text(label)}</span></th>")
            below += [f'<th scope="col">{_html_text(c)}</th>' for c in table.columns[start:stop]]
        else:
            top.append(f'<th scope="col" rowspan="2">{_html_text(table.columns[start])}</th>')
    return ["<tr>" + "".join(top) + "</tr>", '<tr class="below-span">' + "".join(below) + "</tr>"]


def to_html(table: Table) -> str:
    """An HTML ``<table>`` fragment (ASCII; non-ASCII as numeric character references)."""
    n = len(table.columns)
    style = {"l": "left", "c": "center", "r": "right"}
    lines = ['<table class="trialmlm-table">', f"<caption>{_html_text(table.title)}</caption>", "<thead>",
             *_html_header(table), "</thead>", "<tbody>"]
    for row in table.rows:
        lines.append("<tr>" + "".join(f'<td style="text-align:{style[a]}">{_html_text(c)}</td>'
                                      for c, a in zip(row, table.align)) + "</tr>")
    lines.append("</tbody>")
    if table.footnotes:
        lines.append("<tfoot>")
        lines += [f'<tr><td colspan="{n}">{_html_text(f)}</td></tr>' for f in table.footnotes]
        lines.append("</tfoot>")
    lines.append("</table>")
    return "\n".join(lines)


CSS = """
body { font-family: "Courier New", Courier, monospace; font-size: 10pt; margin: 2em; }
table.trialmlm-table { border-collapse: collapse; margin: 0 auto 3em auto; }
table.trialmlm-table caption { font-weight: bold; font-size: 11pt; padding-bottom: 0.6em; }
table.trialmlm-table th { border-top: 1.5px solid black; border-bottom: 1px solid black;
  padding: 0.25em 0.8em; vertical-align: bottom; }
table.trialmlm-table th.span { border-bottom: none; padding-bottom: 0; }
table.trialmlm-table th.span span { display: block; border-bottom: 1px solid black; padding-bottom: 0.2em; }
table.trialmlm-table tr.below-span th { border-top: none; }
table.trialmlm-table td { padding: 0.15em 0.8em; white-space: pre; }
table.trialmlm-table tbody tr:last-child td { border-bottom: 1.5px solid black; }
table.trialmlm-table tfoot td { font-size: 9pt; white-space: normal; text-align: left; padding-top: 0.3em; }
.trialmlm-titles { font-size: 9pt; margin: 0 0 2em 0; }
footer.trialmlm-titles { margin: 2em 0 0 0; }
.trialmlm-titles p { margin: 0; display: flex; justify-content: space-between; }
"""


def _html_titles(titles: Titles) -> tuple[str, str]:
    """``<header>`` (title lines) and ``<footer>`` (footnote lines, the run on the right)."""
    head = "".join(f"<p><span>{_html_text(x)}</span></p>" for x in titles.header_lines)
    feet = [f"<span>{_html_text(x)}</span>" for x in titles.footer_lines] or [""]
    if titles.run_text:
        feet[-1] += f'<span class="run">{_html_text(titles.run_text)}</span>'
    foot = "".join(f"<p>{x}</p>" for x in feet if x)
    return (f'<header class="trialmlm-titles">{head}</header>\n' if head else "",
            f'\n<footer class="trialmlm-titles">{foot}</footer>' if foot else "")


def html_document(tables: Table | Sequence[Table], title: str | None = None,
                  titles: Titles | None = None) -> str:
    """A complete HTML page holding one or several tables.

    ``title`` is the page's ``<title>`` (default: the first table's title); ``titles`` adds
    the page titles (``<header>``) and footnotes (``<footer>``) of
    :class:`~trialmlm.tables.Titles` around the tables (no page numbers: HTML has no pages).
    """
    _check_titles(titles)
    tables = [tables] if isinstance(tables, Table) else list(tables)
    name = title if title is not None else tables[0].title
    header, footer = _html_titles(titles) if titles is not None else ("", "")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_html_text(name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n" + header
            + "\n".join(to_html(t) for t in tables) + footer + "\n</body>\n</html>\n")


def write_html(tables: Table | Sequence[Table], path, title: str | None = None,
               titles: Titles | None = None) -> Path:
    """Write one or several tables as an HTML page (with the page ``titles`` if given);
    returns the path."""
    path = Path(path)
    path.write_text(html_document(tables, title, titles), encoding="ascii")
    return path


def to_csv(table: Table, path) -> Path:
    """Write the table's tidy data (:attr:`Table.data`, not the formatted text) as CSV."""
    path = Path(path)
    table.data.to_csv(path, index=False)
    return path
