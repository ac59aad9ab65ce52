"""The formatted table: a frozen title / header / body / footnotes, plus its tidy data.

Number formats follow the usual SAS-listing conventions of clinical study reports:

* data decimals :math:`d` — the fewest decimals that represent every value of the
  response exactly (at most 4), unless given;
* means, medians, LS means, differences and confidence limits: :math:`d + 1`;
* standard deviations and standard errors: :math:`d + 2`;
* minimum and maximum: :math:`d`;
* p-values: 4 decimals, ``<.0001`` below 0.0001 (SAS PVALUE6.4);
* confidence intervals as ``(lower, upper)``; estimates with SE as ``estimate (SE)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from ..errors import DataError

MAX_DATA_DECIMALS = 4
NOT_ESTIMABLE = "NE"


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
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    data: pd.DataFrame = field(repr=False, compare=False)
    footnotes: tuple[str, ...] = ()
    align: tuple[str, ...] = ()

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

    @property
    def frame(self) -> pd.DataFrame:
        """The formatted body as a DataFrame of strings (header labels as columns)."""
        return pd.DataFrame(list(self.rows), columns=[c.replace("\n", " ") for c in self.columns])

    def __str__(self) -> str:
        lines = [self.title, "", self.frame.to_string(index=False)]
        return "\n".join(lines + [""] + list(self.footnotes))


# -- number formatting ---------------------------------------------------------------------
def data_decimals(values, max_decimals: int = MAX_DATA_DECIMALS) -> int:
    """Fewest decimals (0 ... ``max_decimals``) that represent every finite value exactly."""
    x = np.asarray(pd.to_numeric(pd.Series(np.ravel(values)), errors="coerce"), dtype=float)
    x = x[np.isfinite(x)]
    for d in range(max_decimals + 1):
        if np.all(np.abs(np.round(x, d) - x) <= 1e-9 * np.maximum(1.0, np.abs(x))):
            return d
    return max_decimals


def fmt_number(value, decimals: int, missing: str = "") -> str:
    """Fixed decimals, halves rounded away from zero as SAS does (11.25 -> 11.3, where
    Python's binary rounding gives 11.2); ``missing`` for NaN, ``NE`` for infinity, no
    negative zero."""
    if value is None or pd.isna(value):
        return missing
    value = float(value)
    if not np.isfinite(value):
        return NOT_ESTIMABLE
    step = Decimal(1).scaleb(-max(decimals, 0))
    text = f"{Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP):f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text


def fmt_p(p) -> str:
    """p-value as SAS PVALUE6.4: ``<.0001`` or 4 decimals."""
    if p is None or pd.isna(p):
        return ""
    return "<.0001" if float(p) < 1e-4 else fmt_number(p, 4)


def fmt_ci(lower, upper, decimals: int) -> str:
    """``(lower, upper)``; empty when both are missing."""
    if pd.isna(lower) and pd.isna(upper):
        return ""
    return f"({fmt_number(lower, decimals, NOT_ESTIMABLE)}, {fmt_number(upper, decimals, NOT_ESTIMABLE)})"


def fmt_estimate_se(estimate, se, decimals: int, se_decimals: int | None = None) -> str:
    """``estimate (SE)``; empty when the estimate is missing."""
    if pd.isna(estimate):
        return ""
    se_decimals = decimals + 1 if se_decimals is None else se_decimals
    return f"{fmt_number(estimate, decimals)} ({fmt_number(se, se_decimals, NOT_ESTIMABLE)})"


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
