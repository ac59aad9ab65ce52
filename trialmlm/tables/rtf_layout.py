r"""Column widths and line breaks of an RTF table from measured text widths.

The RTF declares Courier New.  Its advance width is 1229/2048 em for every glyph, regular
and bold (a monospace font; Liberation Mono, which LibreOffice substitutes for it, has the
same metrics), so a text of :math:`n` characters at :math:`s` points is

.. math:: w = n \cdot \tfrac{1229}{2048} \cdot 20 s \ \text{twips}.

Layout, as SAS ODS RTF does it: a column is as wide as its widest cell (lines as given), or
as its header label if that is wider: on one line, or wrapped at the best space into two
lines if it is more than six characters wider than the cells; when the
table is wider than the page, header labels wrap further first (at spaces, down to the
widest body cell), each column giving up width in proportion to what it can give; then
left-aligned text cells wrap (down to their longest word), one character at a time from the
column where that adds the fewest lines to the table (:func:`squeeze`: a long note column
wraps before a short label column is broken into a word per line); only if the
longest words alone exceed the page are all widths scaled down proportionally.  A column is
never narrower than the longest word of its header and cells, so no word is split.  A spanning
header (:attr:`Table.spans <trialmlm.tables.Table.spans>`) is one cell as wide as the columns
it spans; where its label needs more room than they take, each of them widens by an equal
share of the shortfall (on one line as a column label, else wrapped into two; never narrower
than its longest word).  The
renderer writes the breaks itself (``\line``, :func:`wrap_at_spaces`), so Word and
LibreOffice need not wrap: a parenthesised short token such as ``(SE)`` stays on the line of
the word before it, and a hyphenated word (``Follow-up``) is never broken at its hyphen.
"""

from __future__ import annotations

from collections.abc import Sequence

COURIER_ADVANCE = 1229 / 2048  # em, every glyph of Courier New (regular and bold)
SLACK_CHARS = 1  # one character of slack: at exactly the text's width LibreOffice wraps
HEADER_OVERHANG = 6  # a header label wider than its cells by more characters takes two lines
GLUED_MAX = 6  # a "(...)" token up to this many characters stays with the word before it


def text_width(text: str, size: int) -> int:
    """Width in twips of one line of ``text`` in Courier New at ``size`` half-points:
    ``len(text) * 1229/2048 * 10 * size`` (1 pt = 20 twips), rounded up."""
    return -(-len(text) * 1229 * 10 * size // 2048)


def _units(line: str) -> list[str]:
    """Unbreakable units of one line: words split at spaces, a short ``(...)`` token joined
    to the word before it, a lone dash (``Drug 10 mg - Placebo``) to the word after it."""
    units: list[str] = []
    for word in line.split():
        short_parenthesis = word.startswith("(") and word.endswith(")") and len(word) <= GLUED_MAX
        if units and (units[-1] == "-" or short_parenthesis):
            units[-1] += " " + word
        else:
            units.append(word)
    return units


def longest_unit(text: str, size: int) -> int:
    """Width (twips) of the widest unbreakable unit of ``text`` (0 for blank text)."""
    return max([text_width(u, size) for line in text.split("\n") for u in _units(line)], default=0)


def widest_line(text: str, size: int) -> int:
    """Width (twips) of the widest of the given lines of ``text``."""
    return max(text_width(line, size) for line in text.split("\n"))


def two_line_width(text: str, size: int) -> int:
    """Width (twips) of ``text`` with each given line wrapped at the best space into at most
    two lines: max over given lines of min over split points of the wider half."""
    best = 0
    for line in text.split("\n"):
        units = _units(line)
        halves = [max(text_width(" ".join(units[:k]), size), text_width(" ".join(units[k:]), size))
                  for k in range(1, len(units) + 1)]
        best = max(best, min(halves, default=0))
    return best


def wrap_at_spaces(text: str, width: int, size: int) -> str:
    """``text`` with ``"\\n"`` inserted at spaces so that every line fits ``width`` twips
    (greedy, as a word processor fills lines); given line breaks are kept; a unit wider
    than ``width`` is left whole on its own line."""
    out = []
    for line in text.split("\n"):
        current = ""
        for unit in _units(line):
            trial = f"{current} {unit}" if current else unit
            if current and text_width(trial, size) > width:
                out.append(current)
                current = unit
            else:
                current = trial
        out.append(current)
    return "\n".join(out)


def text_area(width: int, size: int, pad: int) -> int:
    """Width (twips) the lines of a cell ``width`` twips wide may fill: ``width`` less the
    padding on both sides and one character of slack."""
    return width - 2 * pad - text_width("x" * SLACK_CHARS, size)


def _label_width(label: str, room: int, size: int) -> int:
    """Width a header label takes over text ``room`` twips wide: one line, or two lines
    (:func:`two_line_width`) when one line is more than six characters wider than ``room``."""
    line = widest_line(label, size)
    return two_line_width(label, size) if line - room > text_width("x" * HEADER_OVERHANG, size) else line


def _give(widths: list[int], floors: list[int], excess: int) -> list[int]:
    """Widths reduced by up to ``excess`` in total, each in proportion to ``width - floor``."""
    spare = sum(w - f for w, f in zip(widths, floors))
    if spare <= 0 or excess <= 0:
        return widths
    take = min(1.0, excess / spare)
    return [int(w - take * (w - f)) for w, f in zip(widths, floors)]


def _widen(widths: list[int], groups: Sequence[tuple[int, int, int]]) -> list[int]:
    """Widths with each group ``(start, stop, need)`` of columns widened to a total of at
    least ``need``, the shortfall shared equally (rounded up) by its columns."""
    out = list(widths)
    for start, stop, need in groups:
        short = need - sum(out[start:stop])
        if short > 0:
            share = -(-short // (stop - start))
            out[start:stop] = [w + share for w in out[start:stop]]
    return out


def cell_lines(text: str, width: int, size: int, pad: int) -> int:
    """Lines of ``text`` wrapped by :func:`wrap_at_spaces` in a cell ``width`` twips wide."""
    return wrap_at_spaces(text, text_area(width, size, pad), size).count("\n") + 1


def squeeze(widths: list[int], floors: list[int], rows: Sequence[Sequence[str]], usable: int, size: int,
            pad: int) -> list[int]:
    r"""Widths narrowed to at most ``usable`` in total, one character at a time (less at a floor
    or at the last step), each step from the column (above its floor) whose narrowing adds the
    fewest lines to the table; ties go to the widest column.
    The table's lines are :math:`\sum_i \max_j L_{ij}`, with
    :math:`L_{ij}` the lines of cell :math:`(i, j)` of ``rows`` (header included) at width
    :math:`w_j` (:func:`cell_lines`).  Stops at the floors, wider than ``usable`` if they are."""
    step = text_width("x", size)
    widths = list(widths)
    lines = [[cell_lines(c, w, size, pad) for c, w in zip(row, widths)] for row in rows]
    while sum(widths) > usable:
        best = None
        for j, (w, floor) in enumerate(zip(widths, floors)):
            if w <= floor:
                continue
            narrower = max(floor, w - step, w - (sum(widths) - usable))
            column = [cell_lines(row[j], narrower, size, pad) for row in rows]
            added = sum(max([*other[:j], new, *other[j + 1:]]) - max(other)
                        for other, new in zip(lines, column))
            if best is None or (added, -w) < best[0]:
                best = ((added, -w), j, narrower, column)
        if best is None:
            break
        _, j, widths[j], column = best
        for other, new in zip(lines, column):
            other[j] = new
    return widths


def column_widths(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str],
                  usable: int, size: int, pad: int,
                  spans: Sequence[tuple[str, int, int]] = ()) -> list[int]:
    """Width (twips) of each column, text plus ``2 * pad`` and one character of slack, with
    the table at most ``usable`` twips wide (see the module docstring for the order in
    which columns give up width).

    Parameters
    ----------
    header : header label of each column (``"\\n"`` forces a break).
    rows : body cells.
    align : ``"l"``, ``"c"`` or ``"r"``; only left-aligned (text) body cells wrap.
    usable : page width between the margins (twips).
    size : font size (half-points), the same for header and body.
    pad : cell padding on each side (twips, ``\\trgaph``).
    spans : spanning header cells ``(label, start, stop)`` over columns ``start`` to
        ``stop - 1`` (:func:`trialmlm.tables.table.span_groups`); the columns under a label
        are together at least as wide as the label needs.
    """
    extra = -text_area(0, size, pad)
    natural, body_floor, word_floor = [], [], []
    for j, head in enumerate(header):
        cells = [r[j] for r in rows]
        body = max([widest_line(c, size) for c in cells], default=0)
        words = max([longest_unit(c, size) for c in (head, *cells)])
        natural.append(max(_label_width(head, body, size), body, words) + extra)
        wrapped_body = words if align[j] == "l" else max(body, words)
        body_floor.append(max(body, words) + extra)
        word_floor.append(wrapped_body + extra)
    labelled = [(label, start, stop) for label, start, stop in spans if label]
    needs = [extra + _label_width(label, sum(natural[start:stop]) - extra, size)
             for label, start, stop in labelled]
    natural = _widen(natural, [(start, stop, need) for (_, start, stop), need in zip(labelled, needs)])
    fits = [(start, stop, longest_unit(label, size) + extra) for label, start, stop in labelled]
    body_floor, word_floor = _widen(body_floor, fits), _widen(word_floor, fits)
    widths = _give(natural, body_floor, sum(natural) - usable)
    widths = squeeze(widths, word_floor, [header, *rows], usable, size, pad)
    if sum(widths) > usable:
        total = sum(widths)
        widths = [w * usable // total for w in widths]
    return widths
