"""The df functions of trialmlm/inference/ddf.py: one signature, the definitions of the
module docstring.  Their values against SAS and R are checked in test_sandwich_df.py
(between-within, sandwich Satterthwaite: SAS listings, R mmrm, clubSandwich),
test_inference_r.py and test_reference_mmrm.py (Satterthwaite, Kenward-Roger: R mmrm,
lmerTest, pbkrtest), test_random_reference.py and test_nested_inference.py (containment,
outer grouping factors); test_methods.py covers the registry that dispatches to them.
"""

from __future__ import annotations

import numpy as np
import pytest

import trialmlm
from trialmlm import DataError
from trialmlm.inference import cache
from trialmlm.inference.ddf import (
    DF,
    between_within_df,
    containment_df,
    kenward_roger_df,
    residual_df,
    satterthwaite_df,
)
from trialmlm.inference.methods import DDF, degrees_of_freedom

FORMULA = "CHG ~ BASE + TRT * AVISIT + {}(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def fit(demo_trial):
    return trialmlm.fit(FORMULA.format("ar1"), demo_trial)


def _rows(fit, *names):
    L = np.zeros((len(names), fit.n_fixed))
    for i, name in enumerate(names):
        L[i, fit.coef_names.index(name)] = 1.0
    return L


def test_residual(fit):
    df = residual_df(fit, _rows(fit, "Intercept", "TRT[T.CTRL]"), True, "model")
    assert isinstance(df, DF) and df.scale == 1.0
    np.testing.assert_array_equal(df.rows, [fit.n_obs - fit.n_fixed] * 2)
    assert df.joint == fit.n_obs - fit.n_fixed


def test_containment_without_random_effects_is_residual(fit):
    L = _rows(fit, "BASE", "AVISIT[T.V3]")
    contained = containment_df(fit, L, True, "model")
    np.testing.assert_array_equal(contained.rows, residual_df(fit, L, True, "model").rows)


def test_between_within_takes_the_smallest_df_of_the_columns_involved(fit):
    """Under ar1 the between-subject columns (intercept, BASE, TRT) get N_s - rank(X_b), the
    others n - N_s - (rank X - rank X_b); a row mixing both gets the smaller."""
    n_s, n, p = fit.n_subjects, fit.n_obs, fit.n_fixed
    between, within = n_s - 3, n - n_s - (p - 3)
    df = between_within_df(fit, _rows(fit, "BASE", "AVISIT[T.V3]"), True, "model")
    np.testing.assert_array_equal(df.rows, [between, within])
    assert df.joint == min(between, within)
    mixed = _rows(fit, "TRT[T.CTRL]") + _rows(fit, "TRT[T.CTRL]:AVISIT[T.V2]")
    assert between_within_df(fit, mixed, False, "model").rows[0] == min(between, within)


def test_satterthwaite_one_row_joint_is_the_row_df(fit):
    L = _rows(fit, "TRT[T.CTRL]")
    df = satterthwaite_df(fit, L, True, "model")
    assert df.joint == df.rows[0] and 10 < df.rows[0] < fit.n_obs
    assert np.isnan(satterthwaite_df(fit, _rows(fit, "BASE", "TRT[T.CTRL]"), False, "model").joint)


def test_satterthwaite_with_a_sandwich_reads_the_cached_df_terms(fit):
    L = _rows(fit, "TRT[T.CTRL]", "TRT[T.CTRL]:AVISIT[T.V5]")
    df = satterthwaite_df(fit, L, True, "empirical")
    assert cache.sandwich_df_terms(fit, "empirical") is cache.sandwich_df_terms(fit, "empirical")
    assert not np.allclose(df.rows, satterthwaite_df(fit, L, True, "model").rows)
    assert np.isfinite(df.joint)


def test_kenward_roger_rows_are_satterthwaite_and_joint_is_scaled(fit):
    """Kenward & Roger: for one row m = 2/(a'Wa), the Satterthwaite df of the unadjusted C."""
    L = _rows(fit, "TRT[T.CTRL]:AVISIT[T.V2]", "TRT[T.CTRL]:AVISIT[T.V5]")
    kr = kenward_roger_df(fit, L, True, "model")
    np.testing.assert_allclose(kr.rows, satterthwaite_df(fit, L, False, "model").rows, rtol=1e-12)
    assert kr.scale != 1.0 and np.isfinite(kr.joint)


def test_kenward_roger_needs_reml(demo_trial):
    ml = trialmlm.fit(FORMULA.format("ar1"), demo_trial, method="ML")
    with pytest.raises(DataError, match="Kenward-Roger degrees of freedom are defined for REML fits only"):
        kenward_roger_df(ml, _rows(ml, "BASE"), True, "model")


@pytest.mark.parametrize("name", list(DDF))
def test_registry_dispatches_to_the_function(fit, name):
    L = _rows(fit, "BASE", "TRT[T.CTRL]")
    got, direct = degrees_of_freedom(fit, L, name), DDF[name].df(fit, L, True, "model")
    np.testing.assert_array_equal(got.rows, direct.rows)
    assert (got.joint, got.scale) == (direct.joint, direct.scale)
