r"""Number formats of tables and figures: how many decimals, and how to round.

Every number trialmlm prints — in a table, a footnote or a figure annotation — goes
through :func:`fmt_number` (or :func:`fmt_p` for p-values), with decimals chosen by
:func:`decimals_for`, the usual convention of clinical study report tables (TFLs):

======================================================  =================
quantity                                                decimals
======================================================  =================
raw data precision :math:`d`                            ``decimals=``, else the data's
                                                        own when every value has
                                                        :math:`\le 2` decimals, else 1
minimum, maximum (and other raw data values, times)     :math:`d`
mean, median, LS mean, difference, confidence limits    :math:`d + 1`
SD, SE                                                  :math:`d + 2`
p-value                                                 4, ``<.0001`` below 0.0001
======================================================  =================

Rounding is half away from zero on the decimal value, as SAS formats do (11.25 -> 11.3;
Python's binary ``round``/``format`` give 11.2 because 11.25 - 0.05 is stored below the half).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from ..errors import DataError

MAX_OWN_DECIMALS = 2  # data with more decimals than this are shown with DEFAULT_DECIMALS
DEFAULT_DECIMALS = 1
NOISE = 1e-7  # relative: float noise (0.1 + 0.2) and float32 / short SAS lengths (12.35 as 12.3500004)
SIGNIFICANT = 15  # digits a double always holds exactly (DBL_DIG); read before rounding
NOT_ESTIMABLE = "NE"
MINUS = "\u2212"  # the minus sign of typeset figures


@dataclass(frozen=True)
class Decimals:
    """Decimals of each kind of statistic, from the raw-data precision ``data`` = :math:`d`.

    Attributes
    ----------
    data : :math:`d`, for raw values: minimum, maximum, observed times.
    mean : :math:`d + 1`, for means, medians, LS means, differences, confidence limits.
    sd : :math:`d + 2`, for standard deviations and standard errors.
    """

    data: int

    @property
    def mean(self) -> int:
        return self.data + 1

    @property
    def sd(self) -> int:
        return self.data + 2


def decimals_for(values=None, decimals: int | None = None) -> Decimals:
    r"""The decimals rule: :math:`d` = ``decimals`` if given, else the data's precision.

    The data's precision is the fewest decimals :math:`k \le 2` with
    :math:`|\mathrm{round}(x, k) - x| \le 10^{-7}\max(1, |x|)` for every finite value
    :math:`x`; data needing more than 2 decimals (or no finite values) get :math:`d = 1`.
    The tolerance absorbs float noise (``0.1 + 0.2``, ``12.300000000000001``) and values
    stored in single precision or short SAS lengths; it is far below any real third decimal.

    Parameters
    ----------
    values : the raw data (any array-like; non-numeric and missing values are ignored).
    decimals : an explicit :math:`d` (an integer >= 0) that overrides the data.

    Returns
    -------
    :class:`Decimals` with :math:`d`, :math:`d + 1` (means) and :math:`d + 2` (SDs).
    """
    if decimals is not None:
        if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or decimals < 0:
            raise DataError(f"decimals must be an integer >= 0, got {decimals!r}")
        return Decimals(int(decimals))
    x = np.ravel(np.asarray([] if values is None else values, dtype=object))
    x = np.asarray(pd.to_numeric(pd.Series(x), errors="coerce"), dtype=float)
    x = x[np.isfinite(x)]
    if x.size:
        tolerance = NOISE * np.maximum(1.0, np.abs(x))
        for d in range(MAX_OWN_DECIMALS + 1):
            if np.all(np.abs(np.round(x, d) - x) <= tolerance):
                return Decimals(d)
    return Decimals(DEFAULT_DECIMALS)


def fmt_number(value, decimals: int, missing: str = "", minus: str = "-") -> str:
    """``value`` with ``decimals`` fixed decimals, halves rounded away from zero (SAS).

    The value is first read at 15 significant digits, so float noise from arithmetic
    (a mean of 11.249999999999998 for 11.25) rounds as the decimal number it stands for:
    11.25 -> 11.3, -11.25 -> -11.3.  ``missing`` for NaN / None, ``NE`` (not estimable) for
    infinity, no negative zero; ``minus`` replaces the sign (figures pass U+2212).
    """
    if value is None or pd.isna(value):
        return missing
    value = float(value)
    if not np.isfinite(value):
        return NOT_ESTIMABLE
    step = Decimal(1).scaleb(-max(int(decimals), 0))
    text = f"{Decimal(f'{value:.{SIGNIFICANT}g}').quantize(step, rounding=ROUND_HALF_UP):f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", minus)


def fmt_p(p) -> str:
    """p-value as SAS PVALUE6.4: ``<.0001`` below 0.0001, else 4 decimals (so 0.99996 is
    ``1.0000``, as SAS prints it); empty when missing."""
    if p is None or pd.isna(p):
        return ""
    return "<.0001" if float(p) < 1e-4 else fmt_number(p, 4)


def p_statement(p) -> str:
    """``p = 0.0123`` or ``p < .0001`` (for running text: footnotes, legends)."""
    text = fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def fmt_ci(lower, upper, decimals: int, minus: str = "-") -> str:
    """``(lower, upper)``; empty when both are missing, ``NE`` for a missing limit."""
    if pd.isna(lower) and pd.isna(upper):
        return ""
    return (f"({fmt_number(lower, decimals, NOT_ESTIMABLE, minus)}, "
            f"{fmt_number(upper, decimals, NOT_ESTIMABLE, minus)})")


def fmt_estimate_se(estimate, se, decimals: int, se_decimals: int | None = None) -> str:
    """``estimate (SE)``, the SE with ``se_decimals`` (default one more); empty when the
    estimate is missing."""
    if pd.isna(estimate):
        return ""
    se_decimals = decimals + 1 if se_decimals is None else se_decimals
    return f"{fmt_number(estimate, decimals)} ({fmt_number(se, se_decimals, NOT_ESTIMABLE)})"
