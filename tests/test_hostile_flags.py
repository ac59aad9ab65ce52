"""Hostile input for flags, ``where`` and estimand settings (issue 20): every Y/N flag is read
by one rule (:func:`trialmlm.data.flags.flag_is_yes`), never partly; ``where`` has a depth and a
length limit; estimand settings that cannot work are refused in the estimand's words before
any fitting.  Each error names the argument or column; no caller's data is modified.
"""

from __future__ import annotations

import copy
import importlib
import re

import numpy as np
import pandas as pd
import pytest
from helpers import adam_bds

import trialmlm
from trialmlm.data.flags import flag_is_yes
from trialmlm.errors import DataError
from trialmlm.estimands import ice_table

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
    from trialmlm.app import cli

    path = tmp_path / "adeff.csv"
    bds.to_csv(path, index=False)
    before = path.read_bytes()
    code = cli.main(["analyze", str(path), "--out", str(tmp_path / "report"), "--param", "HAMD17",
                     "--population", "EFFFL", "--where", DEEP[case]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"trialmlm: error: --where: {LIMIT[case]}")  # as typed
    assert path.read_bytes() == before


# -- estimand settings that cannot work: the estimand's words, before any fitting -----------------
FORMULA = "CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def demo_fit(demo_trial):
    return trialmlm.fit(FORMULA, demo_trial)


def _no_refit(monkeypatch):
    """Make any refit of the imputation model an error (the checks must come first); every
    refit goes through trialmlm.engine.refit."""
    import trialmlm.engine.refit

    def refit(*args, **kwargs):
        raise AssertionError("the imputation model was refitted before the check")
    monkeypatch.setattr(trialmlm.engine.refit, "estimate", refit)


def test_ice_table_removing_every_observed_value_is_named(demo_fit, demo_trial, monkeypatch):
    _no_refit(monkeypatch)
    ice = pd.DataFrame({"USUBJID": demo_trial["USUBJID"].unique(), "AVISIT": "V1", "strategy": "JR"})
    before = ice.copy()
    with pytest.raises(DataError, match=r"^the ICE table removes every observed value from the imputation "
                                        r"model: JR from V1 \(the first visit\) for 160 subjects; values "
                                        r"observed at or after a non-MAR intercurrent event"):
        trialmlm.estimands.condmean(demo_fit, ice=ice, reference="CTRL")
    pd.testing.assert_frame_equal(ice, before)


def test_ice_table_removing_an_arm_is_named(demo_fit, demo_trial, monkeypatch):
    _no_refit(monkeypatch)
    active = demo_trial.loc[demo_trial["TRT"] == "ACT", "USUBJID"].unique()
    ice = pd.DataFrame({"USUBJID": active, "AVISIT": "V1", "strategy": "CR"})
    with pytest.raises(DataError, match=r"removes every observed value of TRT = 'ACT' from the imputation "
                                        r"model: CR from V1 \(the first visit\) for 80 subjects"):
        trialmlm.estimands.bmlmi(demo_fit, ice=ice, reference="CTRL", B=2, seed=1)


def test_jackknife_with_one_subject_in_an_arm_is_named(demo_trial, monkeypatch):
    active = demo_trial.loc[demo_trial["TRT"] == "ACT", "USUBJID"].unique()
    data = demo_trial[(demo_trial["TRT"] == "CTRL") | (demo_trial["USUBJID"] == active[0])]
    fit = trialmlm.fit(FORMULA, data)
    before = copy.deepcopy(data)
    module = importlib.import_module("trialmlm.estimands.condmean")  # the module, not the function
    monkeypatch.setattr(module, "run_tasks", lambda *a, **k: pytest.fail("the jackknife ran"))
    with pytest.raises(DataError, match=r"^too few subjects for the jackknife: .* every arm of 'TRT' "
                                        r"needs at least 2 subjects; 'ACT' has 1$"):
        trialmlm.estimands.condmean(fit, reference="CTRL")
    pd.testing.assert_frame_equal(data, before)


def test_per_visit_ancova_with_too_few_subjects_is_named(demo_trial):
    """Four subjects (two per arm, both sexes), ANCOVA on BASE and SEX: 4 coefficients."""
    first = demo_trial.groupby("USUBJID").first()
    complete = demo_trial.groupby("USUBJID")["CHG"].count() == 5
    keep = [first[(first["TRT"] == t) & (first["SEX"] == s) & complete].index[0]
            for t in ("CTRL", "ACT") for s in ("M", "F")]
    fit = trialmlm.fit("CHG ~ BASE + SEX + TRT + AVISIT + cs(AVISIT | USUBJID)",
                       demo_trial[demo_trial["USUBJID"].isin(keep)])
    with pytest.raises(DataError, match=r"^too few subjects for the per-visit ANCOVA CHG ~ TRT \+ BASE \+ "
                                        r"SEX: its 4 coefficients need at least 5 subjects .*have 4"):
        trialmlm.estimands.condmean(fit, reference="CTRL", covariates=["BASE", "SEX"],
                                  type="bootstrap", n_samples=2, seed=1)
    # one covariate fewer: 3 coefficients, 4 subjects, an ANCOVA with 1 residual df (no refusal)
    result = trialmlm.estimands.condmean(fit, reference="CTRL", covariates=["BASE"], type="bootstrap",
                                       n_samples=2, seed=1, progress=False)
    assert np.isfinite(result.estimates).all()


def test_one_bootstrap_sample_is_refused_before_any_fitting(demo_fit, monkeypatch):
    module = importlib.import_module("trialmlm.estimands.condmean")  # the module, not the function
    monkeypatch.setattr(module, "setup", lambda *a, **k: pytest.fail("fitted before the check"))
    with pytest.raises(DataError, match=r"^n_samples must be an integer of at least 2, got 1"):
        trialmlm.estimands.condmean(demo_fit, type="bootstrap", n_samples=1, reference="CTRL")


# -- the same through trialmlm analyze: exit 2, one line, before the primary MMRM --------------------
SAMPLE = "sample_data/depression_trial.csv"


@pytest.fixture
def no_fit(monkeypatch):
    from trialmlm.app import report

    monkeypatch.setattr(report, "_fit_models", lambda *a, **k: pytest.fail("the MMRM was fitted"))


def _analyze(tmp_path, capsys, data: pd.DataFrame, *options) -> str:
    from trialmlm.app import cli

    path = tmp_path / "adeff.csv"
    data.to_csv(path, index=False)
    before = path.read_bytes()
    arms = ["Placebo", *sorted(set(data["TRT01P"]) - {"Placebo"})]  # the file has no TRT01PN
    code = cli.main(["analyze", str(path), "--out", str(tmp_path / "report"), "--param", "HAMD17",
                     "--arm", "TRT01P", "--reference", "Placebo", "--arm-order", *arms,
                     "--covariates", "BASE", *options])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("trialmlm: error: "), err
    assert path.read_bytes() == before
    return err[len("trialmlm: error: "):].strip()


@pytest.fixture(scope="module")
def depression() -> pd.DataFrame:
    from pathlib import Path

    return pd.read_csv(Path(__file__).parents[1] / SAMPLE)


def test_cli_every_subject_jr_from_the_first_visit(tmp_path, capsys, depression, no_fit):
    subjects = depression["USUBJID"].unique()
    ice = tmp_path / "ice.csv"
    pd.DataFrame({"USUBJID": subjects, "AVISIT": "Week 1"}).to_csv(ice, index=False)
    message = _analyze(tmp_path, capsys, depression, "--ice", str(ice), "--estimands", "JR")
    assert message.startswith("the ICE table removes every observed value from the imputation model: JR "
                              "from Week 1 (the first visit) for ")


def test_cli_jackknife_on_two_subjects(tmp_path, capsys, depression, no_fit):
    two = [depression.loc[depression["TRT01P"] == arm, "USUBJID"].iloc[0]
           for arm in ("Placebo", "Drug 10 mg")]
    message = _analyze(tmp_path, capsys, depression[depression["USUBJID"].isin(two)], "--estimands", "JR")
    assert message.startswith("too few subjects for the jackknife")
    assert "'Placebo' has 1" in message and "'Drug 10 mg' has 1" in message


@pytest.mark.parametrize("method", ["bootstrap", "approxbayes", "bmlmi"])
def test_cli_one_imputation_names_the_option(tmp_path, capsys, depression, no_fit, method):
    message = _analyze(tmp_path, capsys, depression, "--estimands", "JR", "--estimand-method", method,
                       "--imputations", "1")
    assert message == (f"imputations (--imputations) must be at least 2 for estimand_method {method} "
                       "(--estimand-method), got 1")
