"""trialmlm.tables.formats: the decimals rule and the one rounding function, in tables and figures.

Expected strings follow the SAS conventions they implement: w.d formats round the decimal
value half away from zero (SAS 9.4 Formats and Informats: Reference, "w.d Format"), and
PVALUE6.4 prints ``<.0001`` below 0.0001 (same reference, "PVALUEw.d Format").  Python's
own ``format``/``round`` round the binary value (11.25 is stored as 11.25 exactly but
``f"{11.25:.1f}"`` gives "11.2": round half to even), which is why the strings are written
out here rather than computed with ``format``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
import pytest

from trialmlm import plots, tables
from trialmlm.errors import DataError
from trialmlm.tables.formats import (
    Decimals,
    decimals_for,
    fmt_ci,
    fmt_estimate_se,
    fmt_number,
    fmt_p,
    p_statement,
)

matplotlib.use("Agg")


# -- the decimals rule ----------------------------------------------------------------------
@pytest.mark.parametrize("values, d", [
    ([1, 2, 30], 0),                                  # integer data
    ([1.0, -2.0, np.nan], 0),                         # integers stored as floats, missing ignored
    ([0.5, 1.25, -3], 2),                             # at most 2 decimals: the data's own
    ([0.1 + 0.2, 12.300000000000001, 4], 1),          # float noise counts as 1 decimal
    ([np.float32(12.35), np.float32(0.1)], 2),        # single precision (SAS LENGTH 4, float32)
    ([0.14, -1.165, 2], 1),                           # 3 decimals: more than 2 -> 1
    ([1 / 3], 1),
    ([], 1), (None, 1), ([np.nan, "x"], 1),           # nothing to go by -> 1
    (pd.Series([10.25, 3.5]), 2),
])
def test_data_precision(values, d):
    assert decimals_for(values) == Decimals(d)


def test_explicit_decimals_win_and_are_checked():
    assert decimals_for([0.125], 3) == Decimals(3) and decimals_for([1.5], 0).data == 0
    assert decimals_for([1, 2], np.int64(2)).data == 2
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(DataError, match="decimals must be an integer >= 0"):
            decimals_for([1.0], bad)


def test_decimals_of_each_statistic():
    d = decimals_for([1.5, 2.25])
    assert (d.data, d.mean, d.sd) == (2, 3, 4)  # min/max d, mean/CI d + 1, SD/SE d + 2


# -- one rounding function --------------------------------------------------------------------
def test_halves_round_away_from_zero():
    assert fmt_number(11.25, 1) == "11.3" and fmt_number(-11.25, 1) == "-11.3"
    assert fmt_number(2.675, 2) == "2.68" and fmt_number(1.005, 2) == "1.01"
    assert fmt_number(0.125, 2) == "0.13" and fmt_number(2.5, 0) == "3"
    # float noise from arithmetic: the mean of 10.0, 10.1, 12.2, 12.3 is 11.15 (stored 11.149999999999999)
    mean = np.mean([10.0, 10.1, 12.2, 12.3])
    assert f"{mean:.1f}" == "11.1" and fmt_number(mean, 1) == "11.2"
    assert fmt_number(0.1 + 0.2, 1) == "0.3"


def test_special_values():
    assert fmt_number(-0.0004, 3) == "0.000"  # no negative zero
    assert fmt_number(np.inf, 2) == "NE" and fmt_number(-np.inf, 2) == "NE"
    assert fmt_number(np.nan, 2) == "" and fmt_number(None, 2, missing="-") == "-"
    assert fmt_number(2, 0) == "2" and fmt_number(1234567.891, 2) == "1234567.89"
    assert fmt_number(-1.25, 1, minus="\u2212") == "\u22121.3"
    assert fmt_ci(-1.98137, 0.013655, 2) == "(-1.98, 0.01)" and fmt_ci(np.nan, np.nan, 2) == ""
    assert fmt_ci(1.0, np.inf, 1) == "(1.0, NE)"
    assert fmt_estimate_se(-0.983856, 0.505024, 3, 4) == "-0.984 (0.5050)"
    assert fmt_estimate_se(np.nan, 0.5, 1) == ""


def test_p_values_as_sas_pvalue64():
    assert fmt_p(4.3e-10) == "<.0001" and fmt_p(0.0000999) == "<.0001"
    assert fmt_p(0.0001) == "0.0001" and fmt_p(0.053180) == "0.0532" and fmt_p(0.00005) == "<.0001"
    assert fmt_p(0.99996) == "1.0000" and fmt_p(1.0) == "1.0000"  # SAS prints 1.0000, not >.9999
    assert fmt_p(np.nan) == "" and fmt_p(None) == ""
    assert p_statement(1e-6) == "p < .0001" and p_statement(0.04) == "p = 0.0400"


# -- the same numbers in tables and figures -----------------------------------------------------
@dataclass(frozen=True)
class _TippingPoint:
    table: pd.DataFrame
    tipping_delta: float
    alpha: float = 0.05
    visit: str = "V5"


def _texts(ax) -> list[str]:
    """The axes' texts with the alignment padding removed."""
    return [re.sub(r"\(\s+", "(", " ".join(t.get_text().split())) for t in ax.texts]


def test_11_25_is_11_3_in_tables_and_figures():
    """One difference of 11.25 (10.05, 12.45) with data decimals d = 0: the table and the
    forest plot both show 11.3 (10.1, 12.5); the tipping point Delta = 11.25 at d = 1 is 11.3."""
    diff = pd.DataFrame({"AVISIT": ["V5"], "TRT": ["ACT"], "contrast": ["ACT - PBO"], "estimate": [11.25],
                         "se": [0.605], "df": [50.0], "t": [18.6], "p": [0.00004], "lower": [10.05],
                         "upper": [12.45]})
    d = decimals_for(None, 0)  # the cells of mmrm_table and sensitivity_table
    cells = (fmt_estimate_se(11.25, 0.605, d.mean, d.sd), fmt_ci(10.05, 12.45, d.mean), fmt_p(0.00004))
    assert cells == ("11.3 (0.61)", "(10.1, 12.5)", "<.0001")
    ax = plots.difference_forest(diff, decimals=0)
    assert "11.3 (10.1, 12.5)" in _texts(ax) and "<.0001" in _texts(ax)

    grid = pd.DataFrame({"delta": [0.0, 11.25, 22.5], "estimate": [3.0, 1.0, -1.0], "se": 1.0,
                         "lower": [1.0, -1.0, -3.0], "upper": [5.0, 3.0, 1.0], "p": [0.003, 0.3, 0.3]})
    ax = plots.tipping_point_plot(_TippingPoint(grid, 11.25), decimals=1)
    assert "Tipping point \u0394 = 11.3" in _texts(ax)
    ax = plots.tipping_point_plot(_TippingPoint(grid, 11.25))  # the grid's own 2 decimals
    assert "Tipping point \u0394 = 11.25" in _texts(ax)

    observed = pd.DataFrame({"AVISIT": "V1", "TRT": "ACT", "CHG": [11.25, 11.25, 13.0]})
    summary = tables.summary_table(observed, "TRT", "AVISIT", "CHG", decimals=1)
    assert summary.rows[0][-1] == "11.3, 13.0"  # min, max with d = 1
    assert summary.rows[0][3] == "11.83"  # mean 11.8333 with d + 1 = 2


def test_forest_and_mmrm_table_show_the_same_strings(demo_fit):
    table = tables.mmrm_table(demo_fit, "TRT", "AVISIT", reference="CTRL")
    ax = plots.difference_forest(demo_fit, "TRT", reference="CTRL")
    texts = _texts(ax)
    for row in table.rows:
        if row[5]:  # a difference row: "estimate (SE)", CI, p
            estimate = row[5].split(" (")[0]
            assert f"{estimate} {row[6]}".replace("-", "\u2212") in texts
            assert row[7] in texts
