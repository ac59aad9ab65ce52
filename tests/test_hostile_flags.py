"""Hostile input for flags, ``where`` and estimand settings (issue 20): every Y/N flag is read
by one rule (:func:`trialmlm.flags.flag_is_yes`), never partly; ``where`` has a depth and a
length limit; estimand settings that cannot work are refused in the estimand's words before
any fitting.  Each error names the argument or column; no caller's data is modified.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
from helpers import adam_bds

import trialmlm
from trialmlm.errors import DataError
from trialmlm.flags import flag_is_yes
from trialmlm.missing import ice_table

SAP = dict(param="HAMD17", response="CHG", population="EFFFL", arm="TRT01P")


@pytest.fixture(scope="module")
def bds() -> pd.DataFrame:
    return adam_bds()[0]


def _read_unchanged(data: pd.DataFrame, **options):
    """``trialmlm.read`` of ``data``, checking that ``data`` is not modified."""
    before = copy.deepcopy(data)
    try:
        return trialmlm.read(data, **options)
    finally:
        pd.testing.assert_frame_equal(data, before)


# -- one reading of Y/N flags ----------------------------------------------------------------
SPELLINGS = {
    "Y/N": ("Y", "N"), "lower case, blanks": (" y ", "n"), "Yes/No": ("Yes", "No"),
    "True/False": (True, False), "1/0": (1, 0), "'1'/'0'": ("1", "0"), "Y/blank": ("Y", ""),
    "Y/missing": ("Y", None),
}


@pytest.mark.parametrize("yes, no", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_flag_spelling_selects_the_same_subjects(bds, yes, no):
    expected = _read_unchanged(bds, **SAP)
    data = bds.assign(EFFFL=np.where(bds["EFFFL"] == "Y", pd.Series([yes] * len(bds), dtype=object),
                                     pd.Series([no] * len(bds), dtype=object)))
    got = _read_unchanged(data, **SAP)
    assert got["USUBJID"].tolist() == expected["USUBJID"].tolist()
    assert got.attrs["records"] == expected.attrs["records"]


def test_mixed_y_and_yes_keeps_both(bds):
    """The issue's case: "Y" and "Yes" in one population flag; all flagged subjects are kept."""
    data = bds.copy()
    some = data["USUBJID"].isin(data["USUBJID"].unique()[::2]) & (data["EFFFL"] == "Y")
    data.loc[some, "EFFFL"] = "Yes"
    got = _read_unchanged(data, **SAP)
    assert got["USUBJID"].tolist() == _read_unchanged(bds, **SAP)["USUBJID"].tolist()


@pytest.mark.parametrize("column, options, named", [
    ("EFFFL", SAP, "population flag EFFFL"),
    ("ANL01FL", {**SAP, "population": None}, "analysis_flag ANL01FL"),
    ("ABLFL", {**SAP, "population": None}, "baseline flag ABLFL"),
])
def test_a_value_that_is_no_flag_is_refused_with_the_values_found(bds, column, options, named):
    data = bds.copy()
    data.loc[data.index[:3], column] = "Maybe"
    with pytest.raises(DataError, match=named) as err:
        _read_unchanged(data, **options)
    message = str(err.value)
    assert "not a Y/N flag: 'Maybe'; a flag is Y/N, Yes/No, True/False or 1/0" in message
    assert "'Maybe' (3)" in message and re.search(r"Values found \(records\): .*'Y' \(\d+\)", message)


def test_numeric_flag_other_than_0_1_is_refused():
    with pytest.raises(DataError, match=r"EFFFL holds a value that is not a Y/N flag: 2; "
                                        r".*: 1 \(1\), 0 \(1\), 2 \(1\), missing \(1\)"):
        flag_is_yes(pd.Series([1, 0, 2, np.nan]), "EFFFL")


def _flagged_trial() -> pd.DataFrame:
    """Three visits; odd subjects flagged from V2 on (a post-ICE record flag), even never."""
    rows = [{"USUBJID": f"S{i:02d}", "AVISIT": f"V{v}", "CHG": float(i + v),
             "PDFL": "Y" if i % 2 and v >= 2 else "N"} for i in range(10) for v in (1, 2, 3)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("yes, no", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_ice_flag_spellings_find_the_same_events(yes, no):
    data = _flagged_trial()
    expected = ice_table(data, flag="PDFL", strategy="JR")
    assert len(expected) == 5 and set(expected["AVISIT"]) == {"V2"}
    spelled = data.assign(PDFL=[yes if f == "Y" else no for f in data["PDFL"]])
    before = spelled.copy()
    pd.testing.assert_frame_equal(ice_table(spelled, flag="PDFL", strategy="JR"), expected)
    pd.testing.assert_frame_equal(spelled, before)


def test_ice_flag_that_is_no_flag_is_refused():
    data = _flagged_trial().assign(PDFL=lambda d: d["PDFL"].replace({"Y": "discontinued"}))
    with pytest.raises(DataError, match=r"ICE flag PDFL \(flag=\) holds a value that is not a Y/N flag: "
                                        r"'discontinued'.*'N' \(20\), 'discontinued' \(10\)"):
        ice_table(data, flag="PDFL", strategy="JR")


# -- where: depth and length limits ----------------------------------------------------------
DEEP = {
    "3000 parentheses": "(" * 3000 + "AVISITN <= 24" + ")" * 3000,
    "3000 not": "not " * 3000 + "AVISITN <= 24",
    "2000 not": "not " * 2000 + "AVISITN <= 24",
    "101 parentheses": "(" * 101 + "AVISITN <= 24" + ")" * 101,
    "long or-chain": " or ".join(["AVISITN <= 24"] * 1000),
}
DEPTH, LENGTH = "nested more than 100 levels deep", "longer than 10,000 characters"
LIMIT = {"3000 parentheses": DEPTH, "3000 not": LENGTH, "2000 not": DEPTH, "101 parentheses": DEPTH,
         "long or-chain": LENGTH}


@pytest.mark.parametrize("case", DEEP)
def test_where_limits_are_named_errors(bds, case):
    with pytest.raises(DataError, match=f"^where: {LIMIT[case]}"):
        _read_unchanged(bds, **SAP, where=DEEP[case])


def test_where_at_the_limits_is_read(bds):
    expected = _read_unchanged(bds, **SAP, where="AVISITN <= 24")
    for text in ("(" * 100 + "AVISITN <= 24" + ")" * 100, "not " * 100 + "AVISITN <= 24"):
        assert len(_read_unchanged(bds, **SAP, where=text)) == len(expected)


@pytest.mark.parametrize("case", ["3000 parentheses", "2000 not"])
def test_cli_where_limits_exit_2_with_one_line(tmp_path, capsys, bds, case):
    from trialmlm import cli

    path = tmp_path / "adeff.csv"
    bds.to_csv(path, index=False)
    before = path.read_bytes()
    code = cli.main(["analyze", str(path), "--out", str(tmp_path / "report"), "--param", "HAMD17",
                     "--population", "EFFFL", "--where", DEEP[case]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"trialmlm: error: where: {LIMIT[case]}")
    assert path.read_bytes() == before
