"""trialmlm.glimmix.degrees: SAS GLIMMIX DDFM=CONTAIN / BETWITHIN / RESIDUAL / NONE on designs whose
counts are made by hand (the count is stated in each test)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.errors import DataError
from trialmlm.glimmix import glmm
from trialmlm.glimmix.degrees import DEFAULT_DF, DF_RULES, rank_xz

OWN = Path(__file__).parent / "reference" / "glmm_own"


@pytest.fixture(scope="module")
def cbpp_fit():
    data = pd.read_csv(OWN / "cbpp.csv")
    return glmm("incidence ~ period + (1 | herd)", data, trials="size", method="laplace")


@pytest.fixture(scope="module")
def slopes_fit():
    data = pd.read_csv(OWN / "binary_slopes.csv")
    return glmm("CRIT1FL ~ TRT * WEEK + (1 + WEEK | USUBJID)", data, method="laplace")


def columns(fit, rule):
    return DF_RULES[rule].columns(fit.design, fit.problem)


def test_cbpp_random_intercept_counts(cbpp_fit):
    # n = 56 rows, 15 herds, X = intercept + 3 period columns (rank 4); the herd intercepts span
    # the intercept: rank[X Z] = 15 + 3 = 18.  CONTAIN: intercept (contained in the herd effect)
    # 18 - 4 = 14, period (not contained) n - rank[X Z] = 38.  BW: intercept between 15 - 1 = 14,
    # period within 56 - 15 - 3 = 38.  RESIDUAL 56 - 4 = 52.
    assert rank_xz(cbpp_fit.problem, np.array([0])) == 18
    np.testing.assert_array_equal(columns(cbpp_fit, "containment"), [14, 38, 38, 38])
    np.testing.assert_array_equal(columns(cbpp_fit, "between-within"), [14, 38, 38, 38])
    np.testing.assert_array_equal(columns(cbpp_fit, "residual"), [52] * 4)
    assert np.isinf(columns(cbpp_fit, "none")).all()


def test_random_slopes_counts(slopes_fit):
    # 150 subjects x 5 weeks = 750 rows; X: intercept, TRT, WEEK, TRT:WEEK (rank 4, 2 between-subject).
    # CONTAIN: [X Z_1] = 150 subject intercepts + WEEK, TRT:WEEK left = 152 -> intercept contributes 148;
    # [X Z_1 Z_2] = 300 -> the WEEK slope contributes 148; residual 750 - 300 = 450.  Intercept (in both)
    # and WEEK (in WEEK*USUBJID) get 148, TRT and TRT:WEEK (not contained) 450.
    # BW: between 150 - 2 = 148 (intercept, TRT), within 750 - 150 - (4 - 2) = 598.  RESIDUAL 750 - 4.
    assert list(slopes_fit.names) == ["Intercept", "TRT[T.Placebo]", "WEEK", "TRT[T.Placebo]:WEEK"]
    np.testing.assert_array_equal(columns(slopes_fit, "containment"), [148, 450, 148, 450])
    np.testing.assert_array_equal(columns(slopes_fit, "between-within"), [148, 148, 598, 598])
    np.testing.assert_array_equal(columns(slopes_fit, "residual"), [746] * 4)


def test_default_is_containment_and_tables_use_the_rule(slopes_fit):
    assert DEFAULT_DF == "containment"
    np.testing.assert_array_equal(slopes_fit.coef_table()["df"], [148, 450, 148, 450])
    np.testing.assert_array_equal(slopes_fit.coef_table(df="between-within")["df"], [148, 148, 598, 598])
    table = slopes_fit.coef_table(df="none")
    assert np.isinf(table["df"]).all()
    assert list(table.columns) == ["term", "estimate", "se", "df", "t", "p", "lower", "upper"]
    # a contrast gets the smallest df of the columns it involves (the LS mean of a treatment: 148 under BW)
    ls = slopes_fit.lsmeans("TRT", df="between-within")
    np.testing.assert_array_equal(ls["df"], [148, 148])
    anova = slopes_fit.anova(df="between-within").set_index("term")
    assert anova.loc["TRT", "den_df"] == 148 and anova.loc["WEEK", "den_df"] == 598


def test_unknown_rule_is_named(cbpp_fit):
    with pytest.raises(DataError, match="df must be one of containment, between-within, residual, none"):
        cbpp_fit.coef_table(df="satterthwaite")
