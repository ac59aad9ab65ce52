"""One table from several of the same shape, e.g. an ANCOVA table per visit as one table by visit."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..errors import DataError
from .table import Table, blank_repeats, plain


def stack_tables(parts: Sequence[tuple[object, Table]], header: str, title: str | None = None,
                 column: str = "visit") -> Table:
    """Rows of each ``(label, table)`` in turn, with ``label`` in a new first column.

    The tables must have the same columns; the title and footnotes are the first table's
    unless ``title`` is given (footnotes of later tables that differ are appended).  The
    tidy data gain the column ``column`` (default ``visit``) holding the labels.
    """
    if not parts:
        raise DataError("stack_tables needs at least one table")
    first = parts[0][1]
    bad = [label for label, t in parts if t.columns != first.columns]
    if bad:
        raise DataError(f"stack_tables: the table for {bad[0]!r} has other columns than the first one")
    labels = [label for label, t in parts for _ in t.rows]
    body = [r for _, t in parts for r in t.rows]
    rows = [(shown, *row) for shown, row in zip(blank_repeats(labels), body)]
    data = pd.concat([t.data.assign(**{column: label}) for label, t in parts], ignore_index=True)
    data = plain(data[[column, *[c for c in data.columns if c != column]]])
    notes = list(first.footnotes)
    notes += [n for _, t in parts[1:] for n in t.footnotes if n not in notes]
    return Table(title or first.title, (header, *first.columns), rows, data, tuple(notes),
                 ("l", *first.align), ("", *first.spans))
