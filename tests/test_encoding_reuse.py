"""Re-using a fit's mean-model encoding (``trialmlm.fit(..., encoding=)``, the simulated
trials of :class:`trialmlm.power.Analysis`) gives the numbers of a fresh fit.

Reference: the same fit without ``encoding=`` (formulaic evaluating the formula anew),
itself validated against SAS/R in the other test modules; the brief asks for equality to
1e-12 (the paths compute the same products, so the numbers are in fact identical).
"""

import numpy as np
import pandas as pd
import pytest
from formulaic import model_matrix

import trialmlm
from trialmlm.power import Analysis, Covariate, LogisticDropout, TrialDesign

T = 4
DESIGN = TrialDesign(
    n_per_arm=15, visits=[f"Week {2 * j}" for j in range(1, T + 1)],
    means={"Placebo": np.zeros(T), "Low": -0.3 * np.arange(1, T + 1), "High": -0.5 * np.arange(1, T + 1)},
    covariance=("us", [4, 2, 5, 1.5, 2.5, 6, 1, 2, 3, 8]),
    dropout=LogisticDropout(intercept=-2.5, last=0.1),
    covariates={"BASE": Covariate(mean=20, sd=4, effect=0.3)})
FORMULA = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
pytestmark = pytest.mark.filterwarnings("ignore:1 difference\\(s\\) not estimable")


def empty_cell(frame: pd.DataFrame) -> pd.DataFrame:
    """No High patient at Week 4: the High x Week 4 column is aliased."""
    return frame[~((frame["TRT01P"] == "High") & (frame["AVISIT"] == "Week 4"))]


def missing_arm(frame: pd.DataFrame) -> pd.DataFrame:
    """No Low patient at all: the arm's levels differ from the first trial's."""
    return frame[frame["TRT01P"] != "Low"]


def assert_same_fit(a, b):
    assert a.design.encoding.columns == b.design.encoding.columns
    assert a.design.aliased == b.design.aliased
    np.testing.assert_array_equal(a.design.X, b.design.X)
    np.testing.assert_allclose(a.design.null_space @ a.design.null_space.T,
                               b.design.null_space @ b.design.null_space.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(a.compare("TRT01P", by="AVISIT", ddf="kenward-roger"),
                                  b.compare("TRT01P", by="AVISIT", ddf="kenward-roger"),
                                  rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("change", [None, empty_cell, missing_arm])
def test_fit_with_an_earlier_encoding_is_the_fresh_fit(change):
    first = trialmlm.fit(FORMULA, DESIGN.simulate(1))
    frame = DESIGN.simulate(2)
    frame = frame if change is None else change(frame)
    reused = trialmlm.fit(FORMULA, frame, encoding=first.design.encoding)
    assert_same_fit(reused, trialmlm.fit(FORMULA, frame))
    if change is None:
        assert reused.design.encoding is first.design.encoding
    if change is empty_cell:
        assert "TRT01P[T.High]:AVISIT[T.Week 4]" in reused.design.aliased
        assert reused.design.encoding.spec is first.design.encoding.spec


def test_simulated_trials_match_fresh_analyses():
    analysis = Analysis(FORMULA, treatment="High", reference="Placebo", ddf="kenward-roger")
    frames = [DESIGN.simulate(seed) for seed in range(4)]
    frames[2] = empty_cell(frames[2])
    frames[3] = missing_arm(frames[3])
    for frame in frames + frames[:1]:
        reused = analysis.estimate(frame)
        fresh = Analysis(FORMULA, treatment="High", reference="Placebo", ddf="kenward-roger").estimate(frame)
        np.testing.assert_allclose(reused[:6], fresh[:6], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mean", ["BASE * AVISIT + BASE:TRT01P:AGE + TRT01P * AVISIT",
                                  "0 + BASE + TRT01P:AVISIT", "1 + BASE", "TRT01P + I(BASE ** 2)"])
def test_matrix_of_the_frozen_encoding_is_formulaics(mean):
    frame = DESIGN.simulate(5)
    frame["AGE"] = np.random.default_rng(5).normal(50, 10, len(frame))
    frame.loc[frame.index[:3], "BASE"] = np.nan
    encoding = trialmlm.fit(f"CHG ~ {mean} + us(AVISIT | USUBJID)", frame).design.encoding
    assert (encoding.table is None) == ("I(" in mean)
    x = encoding.full_matrix(frame)
    prepared = encoding.prepare(frame)
    complete = prepared.notna().all(axis=1).to_numpy()
    expected = np.asarray(model_matrix(encoding.spec, prepared[complete]), dtype=float)
    np.testing.assert_array_equal(x[complete], expected)
    assert np.isnan(x[~complete]).all()
