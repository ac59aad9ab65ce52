"""Hostile input over the power, design and simulation surfaces (issue 20): each case ends in a
:class:`trialmlm.DataError` naming the argument as the caller wrote it (the keyword in the
API, the TOML key or the CLI option), or in a correct result; never a raw numpy / Python
error, an overflow or a silently wrong number.

The correct results are checked against the closed forms of :mod:`trialmlm.power.result`
and against R longpower's ``power.mmrm`` (the 174.0 of the example in docs/power.md,
tests/reference/power_refs.json).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import trialmlm
from trialmlm import estimands
from trialmlm.app import cli
from trialmlm.errors import DataError
from trialmlm.power import (
    Analysis,
    Covariate,
    LogisticDropout,
    TrialDesign,
    power_mmrm,
    power_mmrm_ar1,
    power_slope,
    simulate_power,
    simulate_trial,
)
from trialmlm.power.report import load_power_config
from trialmlm.runner import run_tasks

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
    monkeypatch.setattr("trialmlm.estimands.approxbayes._run", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(DataError, match=r"deltas must be (finite, within \+-1e\+50|numbers), got"):
        estimands.tipping_point(demo_fit, deltas=deltas, reference="CTRL", n_imputations=2, seed=1)


def test_tipping_point_deltas_beyond_what_rounding_keeps_are_named(demo_fit, monkeypatch):
    """1e20 passed the +-1e50 range but gave a pooled SE of 6e17: the bound is 1e4 SDs of the
    response at the visit."""
    monkeypatch.setattr("trialmlm.estimands.approxbayes._run", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(DataError, match=r"deltas must lie within \+-[0-9.e+]+ \(10000 SDs of the response at "
                                        r"'V5', SD [0-9.]+\): beyond that the pooled SE is lost to rounding"):
        estimands.tipping_point(demo_fit, deltas=[0, 1e20], reference="CTRL", n_imputations=2, seed=1)


# -- the trial design: numbers, covariates, dropout, residual settings ------------------------
VISITS = ["W1", "W2"]
MEANS = {"P": [0.0, 0.0], "A": [1.0, 2.0]}
AR1_COV = ("ar1", {"AR(1)": 0.5, "Residual": 4.0})


@pytest.mark.parametrize("kwargs, message", [
    (dict(means={"P": ["0", "0"], "A": [1, 2]}), r"means of arm 'P' must be numbers, got \['0', '0'\]"),
    (dict(means={"P": {"intercept": "0", "slope": 1}, "A": [1, 2]}),
     "means of arm 'P': intercept must be a number, got '0'"),
    (dict(means=pd.DataFrame([["0", "0"], ["1", "2"]], index=["P", "A"], columns=VISITS)),
     "means of arm 'P' must be numbers"),
    (dict(visits={"W1": "0", "W2": "1"}), r"visits \(the times\) must be numbers"),
    (dict(visits="W1,W2"), "visits must be a list of labels or a mapping label -> time, got 'W1,W2'"),
    (dict(covariance=("ar1", {"AR(1)": "0.5", "Residual": 4})),
     "parameter 'AR\\(1\\)' of structure 'ar1' must be a number, got '0.5'"),
    (dict(covariance=("ar1", ["0.5", 4])), "the parameters of structure 'ar1' must be numbers"),
    (dict(covariance=[["4", "2"], ["2", "4"]]), "covariance of arm 'P' must be a matrix of numbers"),
    (dict(covariance=None, random_effects={"G": np.eye(2), "residual": "1"}),
     r"random_effects\['residual'\] must be a number, got '1'"),
    (dict(covariance=None, random_effects=[np.eye(2), 1]), "random_effects must be a mapping"),
    (dict(n_per_arm="10"), "n_per_arm of arm 'P' must be a whole number >= 1, got '10'"),
    (dict(dropout=["1", "0.5"]), r"dropout \(retention\) of arm 'P' must be numbers"),
    (dict(dropout=LogisticDropout(intercept="-2")), "LogisticDropout.intercept of arm 'P' must be a number, "
                                                   "got '-2'"),
    (dict(dropout=LogisticDropout(intercept={"P": -2, "A": "x"})), "LogisticDropout.intercept of arm 'A'"),
    (dict(dropout=LogisticDropout(intercept=-2, last="1")), "LogisticDropout.last must be a number, got '1'"),
    (dict(dropout=LogisticDropout(intercept=-2, current=np.inf)), "LogisticDropout.current must be finite"),
    (dict(covariates={"BASE": Covariate(mean="1", sd=1)}), r"covariates\['BASE'\].mean must be a number"),
    (dict(covariates={"BASE": {"mean": 1, "sd": "1"}}), r"covariates\['BASE'\].sd must be a number"),
    (dict(covariates={"BASE": {"mean": 1, "sd": -1}}), r"covariates\['BASE'\].sd must be >= 0"),
    (dict(covariates={"BASE": {"mean": 1, "sd": 1, "effect": ["1", 2]}}),
     r"covariates\['BASE'\].effect must be numbers"),
    (dict(covariates=[Covariate(mean=1, sd=1)]),
     r"covariates must be a mapping name -> Covariate \(or a mapping of its fields mean, sd, effect\)"),
    (dict(covariates={"BASE": {"mean": 1, "sd": 1, "slope": 2}}),
     r"covariates\['BASE'\]: unknown key\(s\) slope; known: effect, mean, sd"),
    (dict(covariates={"BASE": {"mean": 1}}),
     r"covariates\['BASE'\]: missing sd \(fields: mean, sd, effect\)"),
    (dict(covariates={"BASE": 3}), r"covariates\['BASE'\] must be a Covariate or a mapping of its fields"),
], ids=lambda v: None if isinstance(v, str) else str(sorted(v)))
def test_bad_design_is_named(kwargs, message):
    args = dict(n_per_arm=10, visits=VISITS, means=MEANS, covariance=AR1_COV)
    args.update(kwargs)
    with pytest.raises(DataError, match=message):
        TrialDesign(**args)


def test_design_with_numbers_is_unchanged_by_the_checks():
    design = TrialDesign(n_per_arm={"P": 3, "A": 4}, visits={"W1": 0.0, "W2": 2.0},
                         means={"P": {"intercept": 1, "slope": 0.5}, "A": [np.float32(1), 2]},
                         covariance=AR1_COV, dropout=LogisticDropout(intercept=np.int64(-3), last=0.1),
                         covariates={"BASE": {"mean": 10, "sd": 2, "effect": [1, 0.5]}})
    np.testing.assert_allclose(design.mean_table.to_numpy(), [[1, 2], [1, 2]])
    assert design.arrays.logistic[1] == 0.1 and design.arrays.covariates[0][2] == 2.0
    np.testing.assert_allclose(design.covariance_matrix("A").to_numpy(), 4 * np.array([[1, 0.5], [0.5, 1]]))


@pytest.mark.parametrize("seed", [-1, "1", 1.5, True])
def test_bad_seed_of_a_simulated_trial(seed):
    """numpy's SeedSequence errors ('expected non-negative integer') came through raw."""
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        simulate_trial(5, VISITS, MEANS, AR1_COV, seed=seed)
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        TrialDesign(n_per_arm=5, visits=VISITS, means=MEANS, covariance=AR1_COV).simulate(seed)


def test_seed_sequences_and_generators_are_still_seeds():
    design = TrialDesign(n_per_arm=5, visits=VISITS, means=MEANS, covariance=AR1_COV)
    a = design.simulate(np.random.SeedSequence(3))
    b = design.simulate(np.random.default_rng(np.random.SeedSequence(3)))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, design.simulate(3))


# -- executors: one check for every caller, before any work -----------------------------------
EXECUTOR = (r"executor must be a concurrent.futures.Executor \(e.g. a dask.distributed Client's "
            r"get_executor\(\)\), got 'dask'")


def test_executor_as_text_in_simulate_power(monkeypatch):
    """'str' object has no attribute 'submit', after the first trial had been analysed."""
    monkeypatch.setattr("trialmlm.power.operating.run_tasks", lambda *a, **k: pytest.fail("work started"))
    design = TrialDesign(n_per_arm=5, visits=VISITS, means=MEANS, covariance=AR1_COV)
    analysis = Analysis("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", treatment="A", reference="P")
    with pytest.raises(DataError, match=EXECUTOR):
        simulate_power(design, analysis, 2, seed=1, executor="dask")


@pytest.mark.parametrize("call", [
    lambda f: estimands.condmean(f, arm="TRT", reference="CTRL", executor="dask"),
    lambda f: estimands.impute(f, n_imputations=2, seed=1, arm="TRT", executor="dask"),
    lambda f: estimands.tipping_point(f, deltas=[0, 1], reference="CTRL", n_imputations=2, seed=1,
                                    executor="dask"),
    lambda f: estimands.bmlmi(f, arm="TRT", reference="CTRL", B=2, D=2, executor="dask"),
    lambda f: run_tasks(lambda c, t: t, None, [1, 2], executor="dask"),
], ids=["condmean", "impute", "tipping_point", "bmlmi", "run_tasks"])
def test_executor_as_text_elsewhere(demo_fit, call, monkeypatch):
    """Named before any work: no setup or refit of the imputation model."""
    module = sys.modules["trialmlm.estimands.condmean"]  # the package exports the function under that name
    monkeypatch.setattr(module, "setup", lambda *a, **k: pytest.fail("work started"))
    monkeypatch.setattr(sys.modules["trialmlm.estimands.bmlmi"], "setup", lambda *a, **k: pytest.fail("work"))
    monkeypatch.setattr("trialmlm.estimands.approxbayes._setup", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(DataError, match=EXECUTOR):
        call(demo_fit)


# -- `trialmlm power` / `simulate` with a TOML file: the key named, exit 2, one line -----------
CONFIG = """
[design]
n_per_arm = 10
visits = ["W1", "W2"]
means = { P = [0.0, 0.0], A = [1.0, 2.0] }
covariance = { structure = "ar1", parameters = { "AR(1)" = 0.5, Residual = 4.0 } }
covariates = { BASE = { mean = 10.0, sd = 2.0, effect = 0.5 } }

[analysis]
formula = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
treatment = "A"
reference = "P"

[simulation]
n_sim = 2
seed = 1
"""


@pytest.mark.parametrize("edit, options, message", [
    (("seed = 1", 'seed = 1\nalpha = "0.05"'), [],
     "[simulation] alpha must be a number strictly between 0 and 1, got '0.05'"),
    (("seed = 1", "seed = 1\ntargets = [1.5]"), [],
     "[simulation] targets: each target must be a number strictly between 0 and 1, got 1.5"),
    (("seed = 1", "seed = 1\ntargets = 0.8"), [], "[simulation] targets: must be a non-empty list, got 0.8"),
    (("seed = 1", "seed = 1\nworkers = 0"), [],
     "[simulation] workers: workers must be a positive integer, got 0"),
    ((), ["--workers", "0"], "--workers: workers must be a positive integer, got 0"),
    ((), ["--seed", "-1"], "--seed: seed must be a non-negative integer or None, got -1"),
    ((), ["--n-sim", "0"], "--n-sim: n_sim must be a whole number >= 1, got 0"),
    (("seed = 1", "seed = -5"), [], "[simulation] seed: seed must be a non-negative integer"),
    (("seed = 1", "seed = 1\nn_per_arm = [10, 0]"), [],
     "[simulation] n_per_arm: n_per_arm of arm 'P' must be a whole number >= 1, got 0"),
    (("effect = 0.5", "effect = 0.5, slope = 1"), [],
     "[design.covariates.BASE]: unknown key(s) slope; known: effect, mean, sd"),
    (("effect = 0.5 } }", "effect = 0.5 } }\ndropout = { intercept = -2, lst = 0.5 }"), [],
     "[design.dropout]: unknown key(s) lst; known: current, intercept, last"),
    (("effect = 0.5 } }", 'effect = 0.5 } }\ndropout = { intercept = "-2" }'), [],
     "LogisticDropout.intercept of arm 'P' must be a number, got '-2'"),
    (('"AR(1)" = 0.5', '"AR(1)" = "0.5"'), [], "parameter 'AR(1)' of structure 'ar1' must be a number"),
    (("parameters =", "params ="), [],
     "[design.covariance]: unknown key(s) params; known: parameters, structure"),
    (("n_per_arm = 10\n", ""), [], "[design]: missing n_per_arm (fields: n_per_arm, visits, means"),
    (('reference = "P"', 'reference = "P"\nformula2 = "x"'), [], "[analysis]: unknown key(s) formula2"),
], ids=["alpha-text", "targets", "targets-number", "workers-0", "cli-workers-0", "cli-seed", "cli-n-sim",
        "seed", "n_per_arm", "covariate-field", "dropout-field", "dropout-text", "parameter-text",
        "covariance-key", "design-missing", "analysis-key"])
def test_bad_power_config_exits_2_with_one_line(tmp_path, capsys, edit, options, message, monkeypatch):
    monkeypatch.setattr("trialmlm.power.operating.run_tasks", lambda *a, **k: pytest.fail("work started"))
    path = tmp_path / "design.toml"
    path.write_text(CONFIG.replace(*edit) if edit else CONFIG)
    assert cli.main(["power", "--config", str(path), "--out", str(tmp_path / "out"), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trialmlm: error:") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_simulate_command_names_an_unknown_covariate_field(tmp_path, capsys):
    path = tmp_path / "design.toml"
    path.write_text(CONFIG.replace("effect = 0.5", "effect = 0.5, slope = 1"))
    assert cli.main(["simulate", "--config", str(path), "--out", str(tmp_path / "trial.csv")]) == 2
    assert "[design.covariates.BASE]: unknown key(s) slope" in capsys.readouterr().err
    assert not (tmp_path / "trial.csv").exists()


def test_a_good_config_still_reads(tmp_path):
    path = tmp_path / "design.toml"
    path.write_text(CONFIG.replace("seed = 1", "seed = 1\nworkers = 2\ntargets = [0.9]"))
    design, analysis, settings = load_power_config(path, {"n_sim": 5, "workers": None, "seed": None})
    assert settings["n_sim"] == 5 and settings["workers"] == 2 and settings["targets"] == [0.9]
    assert design.response == "CHG" and analysis.treatment == "A"


def test_simulate_command_names_a_negative_seed(tmp_path, capsys):
    path = tmp_path / "design.toml"
    path.write_text(CONFIG)
    out = tmp_path / "trial.csv"
    assert cli.main(["simulate", "--config", str(path), "--out", str(out), "--seed", "-1"]) == 2
    assert "--seed: seed must be a non-negative integer or None, got -1" in capsys.readouterr().err
    assert not out.exists()
