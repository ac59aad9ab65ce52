"""Several records of one subject at one visit: the distinguishing columns and a ``where`` fix."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers import advs_like as advs

import trialmlm
from trialmlm import DataError
from trialmlm.data.duplicates import duplicated_visit, explain_duplicates
from trialmlm.data.vocabulary import command_line


def test_time_point_columns_named_with_a_where_that_works():
    rows = advs()
    found = explain_duplicates(rows.loc[rows["AVISITN"] > 0], "USUBJID", "AVISIT")
    assert found.columns == ("ATPTN", "ATPT", "BASETYPE")  # codes first; not AVAL, ADT, ASEQ
    assert (found.subject, found.visit, found.records) == ("01-701-1000", "Week 2", 3)
    assert found.values == ("815", "816", "817")
    assert found.where == "ATPTN == 815" and (found.kept, found.total) == (18, 54)
    fixed = rows.loc[(rows["AVISITN"] > 0) & (rows["ATPTN"] == 815)]
    assert duplicated_visit(fixed, "USUBJID", "AVISIT") is None


def test_most_frequent_value_is_suggested():
    rows = advs()
    rows = rows.loc[(rows["AVISITN"] > 0) & ~((rows["ATPTN"] == 815) & (rows["AVISITN"] == 8))]
    assert explain_duplicates(rows, "USUBJID", "AVISIT").where == "ATPTN == 816"  # 815 misses Week 8


def test_read_message_in_python_and_command_line_words():
    with pytest.raises(DataError) as python:
        trialmlm.read(advs(), response="AVAL", arm="TRTA", population="SAFFL")
    text = str(python.value)
    assert text.startswith("subject '01-701-1000' has 3 records at AVISIT = 'Week 2' in 'data frame' after "
                           "the record selection; ATPTN, ATPT, BASETYPE distinguish them (ATPTN: 815, 816, "
                           "817); keep one record per visit, e.g. where='ATPTN == 815' (keeps ")
    cli = re.escape('e.g. --where "ATPTN == 815" (keeps 18 of')
    with command_line(), pytest.raises(DataError, match=cli):
        trialmlm.read(advs(), response="AVAL", arm="TRTA", population="SAFFL")
    data = trialmlm.read(advs(), response="AVAL", population="SAFFL", where="ATPTN == 815")
    assert len(data) == 18 and set(data["ATPTN"]) == {815}


def test_where_already_given_is_kept_in_the_suggestion():
    with pytest.raises(DataError, match=re.escape("e.g. where='(AVISITN <= 4) and ATPTN == 815'")):
        trialmlm.read(advs(), response="AVAL", where="AVISITN <= 4")


def test_derived_record_beside_the_observed_one_names_dtype():
    rows = advs(3).query("ATPTN == 815").assign(DTYPE="")
    locf = rows.loc[rows["AVISITN"] == 4].assign(DTYPE="LOCF", AVISIT="Week 8", AVISITN=8)
    data = pd.concat([rows, locf], ignore_index=True)
    message = ("DTYPE distinguishes them (DTYPE: blank, 'LOCF'); keep one record per visit, e.g. "
               "where=\"DTYPE not in ('LOCF')\" (keeps 9 of 12 records)")
    with pytest.raises(DataError, match=re.escape(message)):
        trialmlm.read(data, response="AVAL", keep_dtype=["LOCF"])


def test_identical_records_have_no_distinguishing_column():
    rows = advs(2).query("ATPTN == 815 and AVISITN > 0")
    data = pd.concat([rows, rows.assign(ASEQ=rows["ASEQ"] + 100)], ignore_index=True)
    with pytest.raises(DataError, match=r"records at AVISIT = 'Week 2' .* after the record selection; select "
                                        r"one per visit \(analysis_flag=, keep_dtype= or where=\)$"):
        trialmlm.read(data, response="AVAL")
    with command_line(), pytest.raises(DataError, match=r"\(--analysis-flag, --keep-dtype or --where\)$"):
        trialmlm.read(data, response="AVAL")


def test_adam_variables_first_and_partial_columns_left_out():
    """SDTM's VSTPTNUM tells the records apart too but comes after ATPTN, ATPT, BASETYPE; VSPOS
    (SUPINE, STANDING, STANDING) does not tell every record apart and is not named."""
    rows = advs().query("AVISITN > 0")
    rows = rows.assign(VSTPTNUM=rows["ATPTN"] - 814,
                       VSPOS=rows["ATPTN"].map({815: "SUPINE", 816: "STANDING", 817: "STANDING"}))
    assert explain_duplicates(rows, "USUBJID", "AVISIT").columns == ("ATPTN", "ATPT", "BASETYPE")
    assert explain_duplicates(rows.drop(columns=["ATPTN", "ATPT", "BASETYPE"]), "USUBJID",
                              "AVISIT").columns == ("VSTPTNUM",)
