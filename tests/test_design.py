"""trialmlm.engine.design: columns checked, incomplete rows dropped and counted, factors encoded
once (level order, aliasing), visits ordered, one row per subject and visit.

The expected values are independent of the code under test: counts from pandas, the
rank of the design from numpy, and fits that must not change when only the encoding does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError, DataWarning
from trialmlm.engine.design import alias_columns, natural_key

F_US = "CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)"
F_AR1 = "CHG ~ BASE + SEX + TRT * AVISIT + ar1(AVISIT | USUBJID)"


def test_natural_key_sorts_numbers_inside_strings():
    values = ["V10", "V2", "Week 1.5", "Week 1", 3, 2.5, "V1"]
    assert sorted(values, key=natural_key) == [2.5, 3, "V1", "V2", "V10", "Week 1", "Week 1.5"]


def test_alias_columns_keep_a_basis_of_the_column_space():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(20, 3))
    X = np.column_stack([a, a[:, 0] - 2 * a[:, 2], np.zeros(20), rng.normal(size=20)])
    keep = alias_columns(X)
    np.testing.assert_array_equal(keep, [True, True, True, False, False, True])
    assert np.linalg.matrix_rank(X[:, keep]) == np.linalg.matrix_rank(X) == keep.sum()


def test_missing_covariate_rows_dropped_and_counted(demo_trial):
    d = demo_trial.copy()
    d.loc[d.index[:7], "BASE"] = np.nan
    fit = trialmlm.fit(F_AR1, d)
    expected_used = (d["CHG"].notna() & d["BASE"].notna()).sum()
    assert fit.n_obs == expected_used
    assert fit.n_obs_dropped == len(d) - expected_used
    assert "BASE: 7" in fit.summary()


def test_aliased_columns_are_dropped_not_crashing(demo_trial):
    d = demo_trial.copy()
    d["BASE2"] = 2 * d["BASE"] + 1
    fit = trialmlm.fit("CHG ~ BASE + BASE2 + TRT * AVISIT + ar1(AVISIT | USUBJID)", d)
    ref = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | USUBJID)", d)
    assert fit.aliased == ("BASE2",)
    assert "BASE2" not in fit.coef.index
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-8)
    assert "Aliased" in fit.summary()


def test_categorical_order_and_bool_factors(demo_trial):
    d = demo_trial.copy()
    d["TRT"] = pd.Categorical(d["TRT"], categories=["CTRL", "ACT"])
    d["MALE"] = d["SEX"] == "M"
    fit = trialmlm.fit("CHG ~ BASE + MALE + TRT * AVISIT + ar1(AVISIT | USUBJID)", d)
    assert "TRT[T.ACT]" in fit.coef.index and "MALE[T.True]" in fit.coef.index
    base = trialmlm.fit(F_AR1, demo_trial)
    assert fit.loglik == pytest.approx(base.loglik, abs=1e-7)  # recoding does not change REML


def test_c_forces_factor(demo_trial):
    d = demo_trial.copy()
    d["VISN"] = d["AVISIT"].str[1:].astype(int)
    fit = trialmlm.fit("CHG ~ BASE + TRT * C(VISN) + ar1(AVISIT | USUBJID)", d)
    ref = trialmlm.fit("CHG ~ BASE + TRT * AVISIT + ar1(AVISIT | USUBJID)", d)
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-7)


def test_natural_visit_order():
    rng = np.random.default_rng(0)
    rows = [(f"S{i}", f"WEEK{w}", rng.normal()) for i in range(30) for w in (2, 10, 4)]
    d = pd.DataFrame(rows, columns=["ID", "VIS", "Y"])
    fit = trialmlm.fit("Y ~ VIS + ar1(VIS | ID)", d)
    assert list(fit.covariance_matrix().index) == ["WEEK2", "WEEK4", "WEEK10"]


def test_duplicate_visit_names_subject_and_visit(demo_trial):
    d = pd.concat([demo_trial, demo_trial.iloc[[3]]], ignore_index=True)
    with pytest.raises(DataError, match="subject 'SUBJ-001' has more than one row at AVISIT = 'V4'"):
        trialmlm.fit(F_AR1, d.assign(CHG=d["CHG"].fillna(0.0)))


def test_empty_after_dropping(demo_trial):
    with pytest.raises(DataError, match="no complete rows.*CHG: 800"):
        trialmlm.fit(F_AR1, demo_trial.assign(CHG=np.nan))


def test_unobserved_visit_level_is_left_out_with_warning(demo_trial):
    d = demo_trial.copy()
    d["AVISIT"] = pd.Categorical(d["AVISIT"], categories=["V1", "V2", "V3", "V4", "V5", "V6"])
    with pytest.warns(DataWarning, match="visit level\\(s\\) V6 of 'AVISIT'"):
        fit = trialmlm.fit(F_US, d)
    assert list(fit.covariance_matrix().index) == ["V1", "V2", "V3", "V4", "V5"]
    ref = trialmlm.fit(F_US, demo_trial)
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-8)


@pytest.mark.parametrize("formula", ["CHG ~ BASE * TRT + AVISIT + TRT:AVISIT",  # from the table of levels
                                     "CHG ~ np.log(BASE + 100) + TRT * AVISIT"])  # a transform: from X
def test_products_with_x_equal_those_of_the_matrix(demo_trial, formula):
    design = trialmlm.fit(f"{formula} + us(AVISIT | USUBJID)", demo_trial).design
    X = design.X
    rng = np.random.default_rng(2)
    beta, v = rng.normal(size=X.shape[1]), rng.normal(size=X.shape[0])
    w = rng.uniform(0.1, 2.0, X.shape[0])
    assert (design.table_rows() is None) == ("log" in formula)
    np.testing.assert_allclose(design.linear_predictor(beta), X @ beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(design.crossprod(v), X.T @ v, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(design.weighted_gram(w), X.T @ (w[:, None] * X), rtol=1e-12, atol=1e-10)
