r"""Render :class:`Table` objects to RTF, HTML and CSV.

RTF is written by hand (RTF 1.x specification, Microsoft 2008) rather than through a
library: a regulatory table needs only a handful of control words — ``\trowd``,
``\cellx``, ``\intbl``, ``\cell``, ``\row``, ``\trhdr`` (header row repeated on every
page), ``\lndscpsxn`` (landscape), a font table and ``\b`` — and hand-writing keeps
trialmlm free of another dependency and the output byte-for-byte predictable (the
layout SAS ODS RTF produces: Courier New 9 pt body, bold title, rules above and below
the header and under the last row, footnotes in 8 pt).  Text is escaped for RTF
(``\\``, ``\{``, ``\}``) and every non-ASCII character is written as ``\uN ?`` (UTF-16
code units, signed), so files open the same in Word and LibreOffice whatever the
code page.

HTML is a ``<table>`` with ``<caption>``, ``<thead>``, ``<tbody>`` and the footnotes in
``<tfoot>``; text is escaped with :func:`html.escape` and non-ASCII characters are
written as numeric references, so the file is plain ASCII.  CSV holds the tidy data
(:attr:`Table.data`), not the formatted strings.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from .table import Table

# Page: US letter landscape (15840 x 12240 twips), 0.75 inch margins.
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = 15840, 12240, 1080
BODY_SIZE, TITLE_SIZE, NOTE_SIZE = 18, 20, 16  # half-points
CHAR_TWIPS = 108  # width of one Courier New character at 9 pt (0.6 em)
CELL_PAD = 72  # \trgaph: half the space between cells
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


def _widths(table: Table) -> list[int]:
    """Right edges (\\cellx) of the columns: natural widths, shrunk to fit the page."""
    chars = []
    for j, head in enumerate(table.columns):
        cells = [r[j] for r in table.rows]
        longest = max([len(line) for line in head.split("\n")] + [len(c) for c in cells] + [3])
        chars.append(longest)
    widths = [c * CHAR_TWIPS + 2 * CELL_PAD for c in chars]
    usable = PAGE_WIDTH - 2 * MARGIN
    if sum(widths) > usable:
        widths = [w * usable // sum(widths) for w in widths]
    edges, total = [], 0
    for w in widths:
        total += w
        edges.append(total)
    return edges


def _row(cells: Sequence[str], edges: list[int], align: Sequence[str], header: bool = False,
         top: bool = False, bottom: bool = False) -> str:
    borders = (r"\clbrdrt" + RULE if top else "") + (r"\clbrdrb" + RULE if bottom else "")
    borders += r"\clvertalb" if header else ""
    defs = "".join(f"{borders}\\cellx{e}" for e in edges)
    start = rf"\trowd\trgaph{CELL_PAD}\trleft0\trqc" + (r"\trhdr" if header else "") + r"\trkeep" + defs
    body = "".join(
        rf"\pard\plain\intbl{_ALIGN['c' if header else a]}\f0\fs{BODY_SIZE}"
        + (r"\b " if header else " ") + rtf_escape(c) + (r"\b0" if header else "") + r"\cell"
        for c, a in zip(cells, align))
    return start + "\n" + body + r"\row" + "\n"


def _rtf_table(table: Table) -> str:
    edges = _widths(table)
    parts = [rf"\pard\plain\qc\sb0\sa120\f0\fs{TITLE_SIZE}\b " + rtf_escape(table.title) + r"\b0\par" + "\n"]
    parts.append(_row(table.columns, edges, table.align, header=True, top=True, bottom=True))
    last = len(table.rows) - 1
    for i, row in enumerate(table.rows):
        parts.append(_row(row, edges, table.align, bottom=i == last))
    for note in table.footnotes:
        parts.append(rf"\pard\plain\ql\sb60\f0\fs{NOTE_SIZE} " + rtf_escape(note) + r"\par" + "\n")
    return "".join(parts)


def rtf_document(tables: Table | Sequence[Table]) -> str:
    """The RTF text of one table, or of several separated by page breaks."""
    tables = [tables] if isinstance(tables, Table) else list(tables)
    head = (r"{\rtf1\ansi\ansicpg1252\deff0\uc1" + "\n"
            r"{\fonttbl{\f0\fmodern\fcharset0 Courier New;}{\f1\froman\fcharset0 Times New Roman;}}" + "\n"
            rf"\paperw{PAGE_WIDTH}\paperh{PAGE_HEIGHT}\margl{MARGIN}\margr{MARGIN}\margt{MARGIN}"
            rf"\margb{MARGIN}\landscape" + "\n"
            rf"\sectd\lndscpsxn\pgwsxn{PAGE_WIDTH}\pghsxn{PAGE_HEIGHT}" + "\n")
    body = (r"\page" + "\n").join(_rtf_table(t) for t in tables)
    return head + body + "}\n"


def to_rtf(tables: Table | Sequence[Table], path) -> Path:
    """Write one table (or several, one per page) to an RTF file; returns the path."""
    path = Path(path)
    path.write_text(rtf_document(tables), encoding="ascii")
    return path


def _html_text(text: str) -> str:
    escaped = html.escape(str(text), quote=True).replace("\n", "<br>")
    return escaped.encode("ascii", "xmlcharrefreplace").decode("ascii")


def to_html(table: Table) -> str:
    """An HTML ``<table>`` fragment (ASCII; non-ASCII as numeric character references)."""
    n = len(table.columns)
    style = {"l": "left", "c": "center", "r": "right"}
    lines = ['<table class="trialmlm-table">', f"<caption>{_html_text(table.title)}</caption>", "<thead>",
             "<tr>" + "".join(f'<th scope="col">{_html_text(c)}</th>' for c in table.columns) + "</tr>",
             "</thead>", "<tbody>"]
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
table.trialmlm-table td { padding: 0.15em 0.8em; white-space: pre; }
table.trialmlm-table tbody tr:last-child td { border-bottom: 1.5px solid black; }
table.trialmlm-table tfoot td { font-size: 9pt; white-space: normal; text-align: left; padding-top: 0.3em; }
"""


def html_document(tables: Table | Sequence[Table], title: str | None = None) -> str:
    """A complete HTML page holding one or several tables."""
    tables = [tables] if isinstance(tables, Table) else list(tables)
    name = title if title is not None else tables[0].title
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_html_text(name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(to_html(t) for t in tables) + "\n</body>\n</html>\n")


def write_html(tables: Table | Sequence[Table], path, title: str | None = None) -> Path:
    """Write one or several tables as an HTML page; returns the path."""
    path = Path(path)
    path.write_text(html_document(tables, title), encoding="ascii")
    return path


def to_csv(table: Table, path) -> Path:
    """Write the table's tidy data (:attr:`Table.data`, not the formatted text) as CSV."""
    path = Path(path)
    table.data.to_csv(path, index=False)
    return path
