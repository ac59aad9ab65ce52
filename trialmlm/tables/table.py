"""The formatted table: a frozen title / header / body / footnotes, plus its tidy data.

Numbers are formatted by :mod:`trialmlm.tables.formats` (the decimals rule and the one rounding
function shared with the figures); confidence intervals as ``(lower, upper)``, estimates
with SE as ``estimate (SE)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import DataError


@dataclass(frozen=True)
class Table:
    """A table ready to render (:func:`to_rtf`, :func:`to_html`, :func:`to_csv`).

    Attributes
    ----------
    title : the table title.
    columns : header text of each column; ``"\\n"`` breaks a header over lines.
    rows : body rows, each a tuple of already formatted strings (one per column).
    data : the tidy DataFrame the rows were formatted from (snake_case columns); this is
        what :func:`to_csv` writes.
    footnotes : lines printed under the table (model, methods, abbreviations).
    align : ``"l"``, ``"c"`` or ``"r"`` per column (default: first two left, rest centred).
    spans : spanning header label of each column, ``""`` for none (default: none); consecutive
        columns with the same label share one header cell above their own labels (SAS ODS /
        r2rtf spanning headers, e.g. "LS Mean" over "Estimate (SE)" and "95% CI"), see
        :func:`span_groups`.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    data: pd.DataFrame = field(repr=False, compare=False)
    footnotes: tuple[str, ...] = ()
    align: tuple[str, ...] = ()
    spans: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "columns", tuple(str(c) for c in self.columns))
        object.__setattr__(self, "rows", tuple(tuple(str(c) for c in r) for r in self.rows))
        object.__setattr__(self, "footnotes", tuple(str(f) for f in self.footnotes))
        n = len(self.columns)
        bad = [i for i, r in enumerate(self.rows) if len(r) != n]
        if bad:
            raise DataError(f"table '{self.title}': row {bad[0]} has {len(self.rows[bad[0]])} cells, "
                            f"the header {n}")
        align = tuple(self.align) or tuple("l" if i < 2 else "c" for i in range(n))
        if len(align) != n or any(a not in "lcr" for a in align):
            raise DataError(f"table '{self.title}': align must give 'l', 'c' or 'r' for each of {n} columns")
        object.__setattr__(self, "align", align)
        spans = tuple(str(s) for s in self.spans) or ("",) * n
        if len(spans) != n:
            raise DataError(f"table '{self.title}': spans must give a label (or '') for each of {n} columns")
        object.__setattr__(self, "spans", spans)

    @property
    def groups(self) -> list[tuple[str, int, int]]:
        """The spanning header cells: :func:`span_groups` of :attr:`spans`."""
        return span_groups(self.spans)

    @property
    def frame(self) -> pd.DataFrame:
        """The formatted body as a DataFrame of strings (header labels as columns)."""
        names = [f"{s}: {c}" if s else c for s, c in zip(self.spans, self.columns)]
        return pd.DataFrame(list(self.rows), columns=[c.replace("\n", " ") for c in names])

    def __str__(self) -> str:
        lines = [self.title, "", self.frame.to_string(index=False)]
        return "\n".join(lines + [""] + list(self.footnotes))


def span_groups(spans) -> list[tuple[str, int, int]]:
    """The header cells above the column labels, left to right, as ``(label, start, stop)``
    (columns ``start`` to ``stop - 1``): a run of consecutive equal non-empty labels is one
    cell, every column without a label (``""``) a blank cell of its own; empty when no
    column has a label."""
    spans = list(spans)
    if not any(spans):
        return []
    groups: list[tuple[str, int, int]] = []
    for j, label in enumerate(spans):
        if label and groups and groups[-1][0] == label and groups[-1][2] == j:
            groups[-1] = (label, groups[-1][1], j + 1)
        else:
            groups.append((label, j, j + 1))
    return groups


def blank_repeats(values) -> list[str]:
    """Labels with repeats of the previous row blanked (group labels shown once)."""
    out, previous = [], object()
    for v in values:
        out.append("" if v == previous else str(v))
        previous = v
    return out


def display_label(labels, name) -> str:
    """``labels[name]`` if given (e.g. ``{"TRT": "Treatment"}``), else the column name."""
    return str((labels or {}).get(name, name))


def with_unit(header: str, unit: str | None) -> str:
    """Header with its unit on a second line."""
    return f"{header}\n({unit})" if unit else header


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Tidy frame with Categorical columns as plain objects (so CSV round-trips)."""
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(object)
    return out.reset_index(drop=True)
