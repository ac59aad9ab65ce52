"""Hostile input over the power, design and simulation surfaces (issue 20): each case ends in a
:class:`trialmlm.DataError` naming the argument as the caller wrote it (the keyword in the
API, the TOML key or the CLI option), or in a correct result; never a raw numpy / Python
error, an overflow or a silently wrong number.

The correct results are checked against the closed forms of :mod:`trialmlm.power.result`
and against R longpower's ``power.mmrm`` (the 174.0 of the example in docs/power.md,
tests/reference/power_refs.json).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import trialmlm
from trialmlm import missing
from trialmlm.errors import DataError
from trialmlm.power import power_mmrm, power_mmrm_ar1, power_slope

R = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
RETENTION = [1, 0.9, 0.8, 0.7]
MMRM = dict(correlation=R, retention=RETENTION, sd=1)
AR1 = dict(rho=0.5, retention=RETENTION, sd=1)
SLOPE = dict(times=[0, 0.5, 1, 1.5], var_intercept=55, var_slope=24, cov_intercept_slope=29, var_residual=10)


# -- analytic power: the correlation, the solved value, the range of delta ----------------------
def test_a_covariance_matrix_is_not_a_correlation():
    """4 R has diagonal 4: it used to give n_total 695.9 (4 times longpower's 174.0)."""
    assert power_mmrm(delta=0.5, power=0.8, **MMRM).n_total == pytest.approx(173.984, abs=1e-3)
    with pytest.raises(DataError, match=r"correlation must be a correlation matrix \(unit diagonal\), got "
                                        r"the diagonal \[4.0, 4.0, 4.0, 4.0\].*sd = s\[-1\]"):
        power_mmrm(delta=0.5, power=0.8, **{**MMRM, "correlation": 4 * R})
    with pytest.raises(DataError, match="correlation_b must be a correlation matrix"):
        power_mmrm(delta=0.5, power=0.8, correlation_b=2 * R, **MMRM)


def test_solved_alpha_outside_0_1_does_not_exist():
    with pytest.raises(DataError, match=r"no alpha in \(0, 1\) gives power 0.8 with n_total = 2 and "
                                        r"delta = 0.5 \(two-sided; the equation gives alpha = 1.41"):
        power_mmrm(n_total=2, delta=0.5, power=0.8, alpha=None, **MMRM)
    res = power_mmrm(n_total=200, delta=0.5, power=0.8, alpha=None, **MMRM)  # a solvable one still is
    assert res.alpha == pytest.approx(2 * norm.sf(0.5 * np.sqrt(200 / res.unit_variance) - norm.ppf(0.8)))


@pytest.mark.parametrize("solve", ["n_total", "delta"])
def test_power_below_the_level_is_not_reachable(solve):
    """Power(n) >= alpha/2 for every n: a target of 0.01 used to give a spurious n_total."""
    given = dict(n_total=100, delta=0.5, power=0.01, alpha=0.05)
    given[solve] = None
    with pytest.raises(DataError, match=rf"no {solve} gives power 0.01: with alpha = 0.05 \(two-sided\) the "
                                        r"power is at least 0.025"):
        power_mmrm(**given, **MMRM)


@pytest.mark.parametrize("delta", [1e-200, 1e200, -1e200, 1e-51, float("inf")])
def test_delta_outside_the_range_the_arithmetic_survives(delta):
    """1e-200 gave n_total = inf and an OverflowError in .sample_size; 1e200 an OverflowError."""
    with pytest.raises(DataError, match=r"delta must be a non-zero number, 1e-50 <= \|delta\| <= 1e\+50 "
                                        r"\(the treatment effect\), got"):
        power_mmrm(delta=delta, power=0.8, **MMRM)


@pytest.mark.parametrize("delta", [1e-50, -1e-50, 1e50])
def test_delta_at_the_ends_of_the_range_gives_finite_results(delta):
    res = power_mmrm(delta=delta, power=0.8, **MMRM)
    assert np.isfinite(res.n_total) and res.n_total > 0
    assert res.n_total == pytest.approx(res.unit_variance * (norm.isf(0.025) + norm.ppf(0.8)) ** 2 / delta**2)
    assert all(n >= 1 for n in res.sample_size) and np.isfinite(res.table["se"].iloc[0])


@pytest.mark.parametrize("sd", [1e200, 1e-200, 0, -1])
def test_sd_outside_the_range(sd):
    with pytest.raises(DataError, match=r"sd must be a positive number, 1e-50 <= sd <= 1e\+50"):
        power_mmrm(delta=0.5, power=0.8, **{**MMRM, "sd": sd})


def test_extreme_inputs_that_pass_each_check_are_still_named():
    """Each number in range, their combination beyond float: an error, never inf."""
    with pytest.raises(DataError, match="n_total cannot be represented"):
        power_mmrm(delta=1e-50, power=0.8, correlation=R, retention=[1, 0.5, 0.5, 1e-110], sd=1e50)


# -- numbers given as text: refused, never converted -------------------------------------------
@pytest.mark.parametrize("function, kwargs, message", [
    (power_mmrm, dict(delta="0.5", power=0.8, **MMRM), "delta must be a non-zero number, .*got '0.5'"),
    (power_mmrm, dict(n_total="100", delta=0.5, power=None, **MMRM),
     "n_total must be a positive number, .*got '100'"),
    (power_mmrm, dict(delta=0.5, power="0.8", **MMRM), "power must be a number strictly between 0 and 1, "
                                                      "got '0.8'"),
    (power_mmrm, dict(delta=0.5, power=0.8, alpha="0.05", **MMRM), "alpha must be a number strictly"),
    (power_mmrm, dict(delta=0.5, power=0.8, **{**MMRM, "sd": "1"}),
     "sd must be a positive number, .*got '1'"),
    (power_mmrm, dict(delta=0.5, power=0.8, allocation="1", **MMRM), "allocation must be a positive number"),
    (power_mmrm, dict(delta=0.5, power=0.8, **{**MMRM, "retention": ["1", "0.9", "0.8", "0.7"]}),
     r"retention must be numbers, got \['1'"),
    (power_mmrm, dict(delta=0.5, power=0.8, **{**MMRM, "correlation": R.astype(str)}),
     "correlation must be a matrix of numbers"),
    (power_mmrm_ar1, dict(delta=0.5, power=0.8, **{**AR1, "rho": "0.5"}),
     r"rho must be a number in \(-1, 1\), got '0.5'"),
    (power_mmrm_ar1, dict(delta=0.5, power=0.8, times="0,1,2,3", **AR1),
     "times must be numbers, got '0,1,2,3'"),
    (power_mmrm_ar1, dict(delta=0.5, power=0.8, times=[0, 1, 2], **AR1), "times must be 4 increasing"),
    (power_slope, dict(delta=1.5, power=0.8, **{**SLOPE, "var_intercept": "55"}),
     "var_intercept must be a number, got '55'"),
    (power_slope, dict(delta=1.5, power=0.8, **{**SLOPE, "times": "0,1,2"}), "times must be numbers"),
    (power_slope, dict(delta=1.5, power=0.8, arm_b={"var_slope": "30"}, **SLOPE),
     r"arm_b\['var_slope'\] must be a number, got '30'"),
    (power_slope, dict(delta=1.5, power=0.8, **{**SLOPE, "var_slope": 1e200}),
     r"var_slope must be finite, within \+-1e\+50"),
    (power_slope, dict(delta=1.5, power=0.8, arm_b=[1, 2], **SLOPE),
     r"arm_b must be a mapping name -> value of arm b \(var_intercept, .*got \[1, 2\]"),
    (power_slope, dict(delta=1.5, power=0.8, method="edland", arm_b={"retention": [1, "0.9", 0.8, 0.7]},
                       **SLOPE), r"arm_b\['retention'\] must be numbers"),
], ids=["delta", "n_total", "power", "alpha", "sd", "allocation", "retention", "correlation", "rho",
        "times-ar1", "times-count", "var_intercept", "times-slope", "arm_b-text", "var_slope-huge",
        "arm_b-list", "arm_b-retention"])
def test_text_and_wrong_shapes_are_named(function, kwargs, message):
    with pytest.raises(DataError, match=message):
        function(**kwargs)


# -- tipping-point shifts: the same finite range as the data ------------------------------------
@pytest.fixture(scope="module")
def demo_fit(demo_trial):
    return trialmlm.fit("CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)", demo_trial)


@pytest.mark.parametrize("deltas", [[0, 1e300], [0, -1e51], ["0", 1]])
def test_tipping_point_deltas_beyond_the_data_range_are_named(demo_fit, deltas, monkeypatch):
    """[0, 1e300] reported the 1e300 row as "does not tip" with NaN estimate, SE and p."""
    monkeypatch.setattr("trialmlm.missing.sensitivity._run", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(DataError, match=r"deltas must be (finite, within \+-1e\+50|numbers), got"):
        missing.tipping_point(demo_fit, deltas=deltas, reference="CTRL", n_imputations=2, seed=1)
