"""Classification variables (trialmlm/data/classes.py, issue 19 finding 7): numeric codes made
factors in numeric order by ``trialmlm.read(class_variables=...)``, and the one-line warning
about an ADaM grouping variable read from a CSV file as numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.data.classes import MAX_CODES, as_class, grouping_name, integer_codes
from trialmlm.errors import DataError, DataWarning


def _long(sites) -> pd.DataFrame:
    n = len(sites)
    return pd.DataFrame({"USUBJID": [f"S{i:03d}" for i in range(n)], "AVISIT": "Week 1",
                         "SITEGR1": sites, "TRT01PN": np.arange(n) % 2, "AVAL": np.arange(n, dtype=float)})


def test_numeric_codes_become_levels_in_numeric_order():
    data = _long([710.0, 90.0, 701.0, np.nan, 703.0, 90.0])
    before = data.copy()
    out = as_class(data, ["SITEGR1"])
    assert list(out["SITEGR1"].cat.categories) == [90, 701, 703, 710]  # not string order ("90" > "710")
    assert out["SITEGR1"].isna().tolist() == [False, False, False, True, False, False]
    assert out["SITEGR1"].tolist()[:3] == [710, 90, 701]  # integer levels, not 710.0
    pd.testing.assert_frame_equal(data, before)  # a new frame; the caller's is left alone


def test_text_and_categorical_levels():
    out = as_class(_long(["b", "a", "c", "a"]).assign(ARM=pd.Categorical(["x", "y", "x", "y"],
                                                                          categories=["y", "x"])),
                   ["SITEGR1", "ARM"])
    assert list(out["SITEGR1"].cat.categories) == ["a", "b", "c"]
    assert list(out["ARM"].cat.categories) == ["y", "x"]  # a Categorical keeps its order


def test_read_class_variables_of_a_data_frame(tmp_path):
    data = _long([703, 701, 710, 701, 703, 710, 701, 710])
    before = data.copy()
    df = trialmlm.read(data, class_variables=["SITEGR1"])
    assert isinstance(df["SITEGR1"].dtype, pd.CategoricalDtype)
    assert list(df["SITEGR1"].cat.categories) == [701, 703, 710]
    pd.testing.assert_frame_equal(data, before)
    fit = trialmlm.fit("AVAL ~ SITEGR1", df)
    assert int(fit.anova().loc["SITEGR1", "num_df"]) == 2  # 3 levels - 1


def test_unknown_class_column_is_a_named_error(tmp_path):
    path = tmp_path / "x.csv"
    _long([701, 703]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"class variable 'SITEGRP' is not a column of '.*x.csv'; "
                                        r"its columns are USUBJID, AVISIT, SITEGR1, TRT01PN, AVAL"):
        trialmlm.read(path, class_variables=["SITEGRP"])


def test_csv_warns_about_site_codes_read_as_numbers(tmp_path):
    path = tmp_path / "x.csv"
    _long([701, 703, 710, 701]).to_csv(path, index=False)
    with pytest.warns(DataWarning) as caught:
        trialmlm.read(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1 and "\n" not in messages[0]  # SITEGR1 only: TRT01PN is numeric in ADaM
    assert messages[0].startswith("CSV column SITEGR1 holds numeric codes (3 values: 701, 703, 710)")
    assert "class_variables=['SITEGR1']" in messages[0] and "C(SITEGR1)" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        trialmlm.read(path, class_variables=["SITEGR1"])  # declared: no warning
        trialmlm.read(_long([701, 703, 710, 701]))  # a data frame has its types: no warning


def test_parquet_keeps_text_codes(tmp_path):
    path = tmp_path / "x.parquet"
    _long(["701", "703", "710", "701"]).to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        df = trialmlm.read(path)
    assert df["SITEGR1"].dtype == object


@pytest.mark.parametrize("values, codes", [
    ([701, 703, 701], [701, 703]),
    ([1.0, 2.0, np.nan], [1, 2]),
    ([1.5, 2.0], None),  # not integers
    (list(range(MAX_CODES + 1)), None),  # too many distinct values for codes
    (list(range(MAX_CODES)), list(range(MAX_CODES))),
    (["701", "703"], None),  # text is not read as numbers
    ([True, False], None),
])
def test_integer_codes_rule(values, codes):
    assert integer_codes(pd.Series(values)) == codes


@pytest.mark.parametrize("name, character, companion", [
    ("SITEGR1", True, True), ("sitegr2", True, True), ("REGION1", True, True), ("STRAT1", True, True),
    ("AGEGR1", True, True), ("RACEGR2", True, True), ("TRTPN", False, True), ("TRT01PN", False, True),
    ("TRTAN", False, True), ("ARMN", False, True), ("AGEGR1N", False, True), ("BASE", False, False),
    ("AGE", False, False), ("SITEID", False, False), ("AVISITN", False, False),
])
def test_grouping_names(name, character, companion):
    assert grouping_name(name, companions=False) is character
    assert grouping_name(name) is companion
