"""trialmlm.data.where: the safe selection language (grammar, missing values, errors, no code run)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from trialmlm import DataError
from trialmlm.data.vocabulary import command_line, from_config_file
from trialmlm.data.where import parse_where

DATA = pd.DataFrame({
    "AVISITN": [0.0, 8.0, 16.0, np.nan, 24.0],
    "EFFFL": ["Y", "Y", "N", None, " "],
    "AVISIT": pd.Categorical(["Baseline", "Week 8", "Week 16", "Week 16", "Week 24"]),
    "SITEGR1": ["701", "702", "900", "701", "702"],
    "ADY": [1, 50, 120, 110, 170],
})


@pytest.mark.parametrize("text, expected", [
    ("AVISITN >= 8", [0, 1, 1, 0, 1]),
    ("AVISITN > 0 and AVISITN <= 16", [0, 1, 1, 0, 0]),
    ("AVISITN != 8", [1, 0, 1, 1, 1]),  # missing satisfies !=, as not (AVISITN == 8)
    ("not AVISITN == 8", [1, 0, 1, 1, 1]),
    ("EFFFL == 'Y'", [1, 1, 0, 0, 0]),
    ("EFFFL ne \"Y\"", [0, 0, 1, 1, 1]),  # SAS mnemonic; blank text is missing
    ("SITEGR1 in ('701', '702')", [1, 1, 0, 1, 1]),
    ("SITEGR1 NOT IN ('900')", [1, 1, 0, 1, 1]),
    ("AVISIT = 'Week 16' or ADY < 10", [1, 0, 1, 1, 0]),
    ("(AVISIT = 'Week 16' or ADY < 10) and EFFFL = 'Y'", [1, 0, 0, 0, 0]),
    ("ADY > AVISITN * 1", None),  # arithmetic is not part of the language: "cannot read"
    ("ADY >= AVISITN", [1, 1, 1, 0, 1]),  # column against column
    ("AVISITN in (8, 24)", [0, 1, 0, 0, 1]),
    ("EFFFL = 'it''s'", [0, 0, 0, 0, 0]),  # doubled quote inside a quoted text
])
def test_selection(text, expected):
    if expected is None:
        with pytest.raises(DataError, match="cannot read"):
            parse_where(text)
        return
    np.testing.assert_array_equal(parse_where(text).mask(DATA), np.array(expected, dtype=bool))


def test_negation_is_complement_with_missing_values():
    for text in ("AVISITN < 16", "EFFFL == 'Y'", "SITEGR1 in ('701')"):
        inside = parse_where(text).mask(DATA)
        np.testing.assert_array_equal(parse_where(f"not ({text})").mask(DATA), ~inside)


def test_columns_listed():
    assert parse_where("A == 1 and (B in ('x') or not C != A)").columns == ("A", "B", "C")


@pytest.mark.parametrize("text, message", [
    ("AVISITN >", r"expected a column name, a quoted text or a number at character 10, found 'end of text'"),
    ("AVISITN == 8 AVISIT", r"expected 'and', 'or' or the end at character 14, found 'AVISIT'"),
    ("(AVISITN == 8", r"expected '\)' at character 14"),
    ("AVISITN == 8; import os", r"cannot read '; import os' at character 13"),
    ("__import__('os').system('echo hi')", r"cannot read"),
    ("__import__('os')", r"expected a comparison"),
    ("SITEGR1 in ()", r"expected a quoted text or a number"),
    ("", r"where must be a non-empty text"),
    # semantic errors name the column
    ("VISIT == 'Week 8'", r"names column 'VISIT', which is not in the data"),
    ("avisitn == 8", r"names column 'avisitn'.*did you mean 'AVISITN'"),
    ("AVISITN == '8'", r"column 'AVISITN' is numeric but is compared with '8' \(text\)"),
    ("SITEGR1 == 701", r"column 'SITEGR1' is text but is compared with 701.0 \(numeric\)"),
    ("SITEGR1 in (701)", r"column 'SITEGR1' is text"),
    ("'a' == 'a'", r"a comparison must name a column"),
])
def test_errors_name_the_position_or_the_column(text, message):
    with pytest.raises(DataError, match=message):
        parse_where(text).mask(DATA)


@pytest.mark.parametrize("keyword, option", [("where", "--where"), ("ice_where", "--ice-where"),
                                             ("responder", "--responder")])
def test_errors_name_the_option_as_the_caller_typed_it(keyword, option):
    """The same parse and column errors name where=, --ice-where or the config file's key."""
    python, typed = f"{keyword}='AVISITN >'", f'{option} "AVISITN >"'
    in_file = f'{keyword} = "AVISITN >" (config file)'
    with pytest.raises(DataError, match=r"^" + re.escape(python) + ": expected a column name"):
        parse_where("AVISITN >", keyword)
    with command_line():
        with pytest.raises(DataError, match=r"^" + re.escape(typed) + ": expected a column name"):
            parse_where("AVISITN >", keyword)
        with pytest.raises(DataError, match=r"^" + re.escape(typed.replace("AVISITN >", "XX == 1"))
                           + " names column 'XX'"):
            parse_where("XX == 1", keyword).mask(DATA)
        from_config_file([keyword])
        with pytest.raises(DataError, match=r"^" + re.escape(in_file) + ": expected a column name"):
            parse_where("AVISITN >", keyword)
        empty = r"^" + re.escape(keyword) + r" \(config file\) must be a non-empty"
        with pytest.raises(DataError, match=empty):
            parse_where(" ", keyword)
    with pytest.raises(DataError, match=r"^" + re.escape(python) + ": expected"):  # the file's keys end
        parse_where("AVISITN >", keyword)                                               # with the block
