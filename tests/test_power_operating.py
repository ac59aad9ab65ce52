"""Power and operating characteristics by simulation (trialmlm.power.simulate_power).

Reference: the analytic power of Lu, Luo & Chen (2008), validated against R longpower
``power.mmrm`` in test_power_analytic.py; the Monte-Carlo SEs are the formulas of Morris,
White & Crowther (2019, table 6), computed here independently of the package.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trialmlm import estimands
from trialmlm.errors import DataError, FormulaError
from trialmlm.power import Analysis, TrialDesign, power_curve, power_mmrm, simulate_power
from trialmlm.power.operating import summarise

VISITS = ["Week 2", "Week 4", "Week 8", "Week 12"]
CORR = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
RETENTION = [1, 0.9, 0.8, 0.7]
MMRM = Analysis("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", treatment="Active", reference="Placebo")


def small_design(n=20, effect=0.5):
    return TrialDesign(n, VISITS, {"Placebo": [0, 0, 0, 0], "Active": [effect] * 4}, covariance=CORR,
                       dropout=RETENTION)


def test_simulated_power_agrees_with_lu_luo_chen():
    """200 trials of longpower's power.mmrm example (CS 0.25, retention 1/.9/.8/.7, delta 0.5,
    87 per arm): rejection rate within 3 MC SE of the analytic 80 %; no bias; the SD of the
    estimates is the analytic SE; coverage 95 %; all within 3 MC SE."""
    analytic = power_mmrm(delta=0.5, power=0.8, correlation=CORR, retention=RETENTION, sd=1)
    n = analytic.sample_size[0]
    res = simulate_power(small_design(n), MMRM, n_sim=200, seed=2024, workers=2)
    s = res.summary.set_index("measure")
    power = analytic.table.loc[0, "power"]
    assert abs(s.loc["power", "estimate"] - power) < 3 * np.sqrt(power * (1 - power) / 200)
    assert abs(s.loc["bias", "estimate"]) < 3 * s.loc["bias", "mc_se"]
    expected_se = np.sqrt(analytic.unit_variance / (2 * n))
    assert abs(s.loc["empirical SE", "estimate"] - expected_se) < 3 * s.loc["empirical SE", "mc_se"]
    assert abs(s.loc["coverage", "estimate"] - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 200)
    assert s.loc["convergence", "estimate"] == 1 and res.true_effect == 0.5 and res.power == s.iloc[0, 0]


def test_results_do_not_depend_on_the_executor():
    design = small_design()
    one = simulate_power(design, MMRM, n_sim=12, seed=7, workers=1)
    two = simulate_power(design, MMRM, n_sim=12, seed=7, workers=2, chunk_size=1)
    with ThreadPoolExecutor(3) as ex:
        threads = simulate_power(design, MMRM, n_sim=12, seed=7, executor=ex, chunk_size=5)
    pd.testing.assert_frame_equal(one.replicates, two.replicates)
    pd.testing.assert_frame_equal(one.replicates, threads.replicates)
    again = simulate_power(design, MMRM, n_sim=12, seed=one.seed, workers=1)
    pd.testing.assert_frame_equal(one.replicates, again.replicates)
    fresh = simulate_power(design, MMRM, n_sim=3, workers=1)
    rerun = simulate_power(design, MMRM, 3, fresh.seed, workers=1)
    pd.testing.assert_frame_equal(fresh.replicates, rerun.replicates)


def test_dask_local_cluster_gives_the_same_results():
    distributed = pytest.importorskip("distributed")
    design = small_design()
    local = simulate_power(design, MMRM, n_sim=8, seed=3, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = simulate_power(design, MMRM, n_sim=8, seed=3, executor=client.get_executor(), workers=2)
    pd.testing.assert_frame_equal(local.replicates, remote.replicates)


def test_monte_carlo_standard_errors():
    """summarise() against the formulas of Morris, White & Crowther (2019, table 6)."""
    rng = np.random.default_rng(1)
    est = 1 + rng.normal(0, 0.5, 50)
    se = 0.5 + rng.uniform(-0.05, 0.05, 50)
    p = 2 * stats.norm.sf(np.abs(est / se))
    table = pd.DataFrame({"estimate": est, "se": se, "p": p, "lower": est - 1.96 * se,
                          "upper": est + 1.96 * se, "converged": [True] * 48 + [False] * 2})
    table["reject"] = table["p"] < 0.05
    table["covered"] = (table["lower"] <= 1) & (table["upper"] >= 1)
    s = summarise(table, 1.0).set_index("measure")
    e, n = est[:48], 48
    r = np.mean(table["reject"][:48])
    np.testing.assert_allclose(s.loc["power"], [r, np.sqrt(r * (1 - r) / n), n])
    np.testing.assert_allclose(s.loc["bias"], [e.mean() - 1, e.std(ddof=1) / np.sqrt(n), n])
    sd = e.std(ddof=1)
    np.testing.assert_allclose(s.loc["empirical SE"], [sd, sd / np.sqrt(2 * (n - 1)), n])
    np.testing.assert_allclose(s.loc["mean SE"], [se[:48].mean(), se[:48].std(ddof=1) / np.sqrt(n), n])
    mse = np.mean((e - 1) ** 2)
    mse_se = np.sqrt(np.sum(((e - 1) ** 2 - mse) ** 2) / (n * (n - 1)))
    np.testing.assert_allclose(s.loc["RMSE"], [np.sqrt(mse), mse_se / (2 * np.sqrt(mse)), n])
    np.testing.assert_allclose(s.loc["convergence"], [0.96, np.sqrt(0.96 * 0.04 / 50), 50])


def test_null_design_reports_type_one_error_and_slopes():
    """A random-slope design under the null: the first measure is the type I error; the slope
    contrast's true value is the slope difference of linear means."""
    g = [[4.0, 0.5], [0.5, 1.0]]
    design = TrialDesign(30, {"V0": 0, "V1": 1, "V2": 2, "V3": 3},
                         {"Placebo": {"intercept": 0, "slope": -1}, "Active": {"intercept": 0, "slope": -1}},
                         random_effects={"G": g, "residual": 1})
    slopes = Analysis("AVAL ~ TRT01P * TIME + (1 + TIME | USUBJID)", treatment="Active", reference="Placebo",
                      slope="TIME")
    res = simulate_power(design, slopes, n_sim=10, seed=1, workers=1)
    assert res.summary["measure"].iloc[0] == "type I error" and res.true_effect == 0
    shifted = TrialDesign(30, {"V0": 0, "V1": 1, "V2": 2, "V3": 3},
                          {"Placebo": {"intercept": 0, "slope": -1},
                           "Active": {"intercept": 1, "slope": -1.5}},
                          random_effects={"G": g, "residual": 1})
    assert np.isclose(slopes.true_effect(shifted), -0.5)


def test_power_curve_over_n_and_effects():
    design = small_design()
    curve = power_curve(design, MMRM, n_sim=6, seed=1, n_per_arm=[10, 40], workers=1)
    assert list(curve["n_per_arm"].unique()) == [10, 40] and len(curve) == 14
    effects = power_curve(design, MMRM, n_sim=6, seed=1, effects=[0, 1.0], workers=1)
    first = effects.groupby("effect")["measure"].first()
    assert list(first) == ["type I error", "power"]
    # the same seeds at each point: the estimates move by the effect exactly
    bias = effects[effects["measure"] == "bias"]["estimate"].to_numpy()
    np.testing.assert_allclose(bias[0], bias[1], atol=1e-8)


def test_missing_impute_takes_an_executor():
    design = TrialDesign(40, VISITS, {"Placebo": [0, 0, 0, 0], "Active": [0.5] * 4}, covariance=CORR,
                         dropout=RETENTION, covariates={"BASE": {"mean": 10, "sd": 2, "effect": 0.3}})
    from trialmlm import fit
    fitted = fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", design.simulate(5))
    a = estimands.impute(fitted, n_samples=4, reference="Placebo", seed=2)
    with ThreadPoolExecutor(2) as ex:
        b = estimands.impute(fitted, n_samples=4, reference="Placebo", seed=2, executor=ex)
        t = estimands.tipping_point(fitted, deltas=[0, 1], n_samples=3, reference="Placebo", seed=2,
                                  executor=ex)
    np.testing.assert_array_equal(a.estimates, b.estimates)
    u = estimands.tipping_point(fitted, deltas=[0, 1], n_samples=3, reference="Placebo", seed=2,
                                workers=2)
    pd.testing.assert_frame_equal(t.table, u.table)


@pytest.mark.parametrize("call, match", [
    (lambda d: simulate_power(d, MMRM, n_sim=0, seed=1), "n_sim must be a whole number >= 1"),
    (lambda d: simulate_power(d, MMRM, n_sim=2.5, seed=1), "n_sim must be a whole number >= 1"),
    (lambda d: simulate_power(d, MMRM, n_sim=5, seed=1, alpha=1.5),
     "alpha must be a number strictly between 0 and 1"),
    (lambda d: simulate_power(d, MMRM, n_sim=5, seed=-1), "seed must be a non-negative integer"),
    (lambda d: simulate_power(d, MMRM, n_sim=5, seed=1, workers=0), "workers must be a positive integer"),
    (lambda d: simulate_power(d, MMRM, n_sim=5, seed=1, chunk_size=0),
     "chunk_size must be a positive integer"),
    (lambda d: simulate_power(d, Analysis(MMRM.formula, "Low", "Placebo"), n_sim=5, seed=1),
     "treatment 'Low' is not an arm of the design"),
    (lambda d: simulate_power(d, Analysis(MMRM.formula, "Active", "Pbo"), n_sim=5, seed=1),
     "reference 'Pbo' is not an arm of the design"),
    (lambda d: simulate_power(d, Analysis(MMRM.formula, "Active", "Placebo", at="Week 99"), n_sim=5, seed=1),
     "at='Week 99' is not a visit"),
    (lambda d: power_curve(d, MMRM, 5, 1), "exactly one of n_per_arm= and effects="),
    (lambda d: power_curve(d, MMRM, 5, 1, effects=[0.1], alpha=0),
     "alpha must be a number strictly between 0 and 1"),
    (lambda d: power_curve(small_design(effect=0), MMRM, 5, 1, effects=[0.1]),
     "treatment effect, which is 0"),
    (lambda d: Analysis(MMRM.formula, "Active", "Active"), "the same arm"),
    (lambda d: Analysis(MMRM.formula, "Active", "Placebo", ddf="nope"), "nope"),
])
def test_bad_input_before_any_work(call, match, monkeypatch):
    monkeypatch.setattr("trialmlm.power.operating.run_tasks", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(DataError, match=match):
        call(small_design())


def test_bad_formula_is_a_formula_error(monkeypatch):
    with pytest.raises(FormulaError):
        Analysis("AVAL ~ TRT01P * AVISIT + nonsense(AVISIT | USUBJID)", "Active", "Placebo")
    monkeypatch.setattr("trialmlm.power.operating.run_tasks", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(FormulaError, match="column 'CHG'"):  # the simulated frame has AVAL only
        simulate_power(small_design(), Analysis(MMRM.formula.replace("AVAL", "CHG"), "Active", "Placebo"),
                       5, 1)


def test_multiple_imputation_analysis():
    """An Analysis by multiple imputation (jump to reference): each trial's imputations seeded
    from the trial's own seed, so the table is reproducible and independent of the workers."""
    import trialmlm

    design = TrialDesign(n_per_arm=25, visits=["W1", "W2", "W3"],
                         means={"Placebo": [0.0, 0.0, 0.0], "Drug": [-1.0, -2.0, -3.0]},
                         covariance=("ar1", {"AR(1)": 0.5, "Residual": 9.0}), dropout=[0.95, 0.85, 0.75])
    analysis = Analysis("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", treatment="Drug",
                        reference="Placebo", imputation="jump_to_reference", n_imputations=4)
    one = simulate_power(design, analysis, 4, seed=11, workers=1, progress=False)
    two = simulate_power(design, analysis, 4, seed=11, workers=2, progress=False)
    pd.testing.assert_frame_equal(one.replicates, two.replicates)
    # replicate 0 by hand: the trial from the replicate's seed, the imputations from its child
    seed = np.random.SeedSequence(np.random.SeedSequence(11).entropy).spawn(4)[0]
    frame = design.simulate(seed)
    fit = trialmlm.fit(analysis.formula, frame)
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, 0))
    mi = estimands.impute(fit, method="jump_to_reference", n_samples=4, reference="Placebo", arm="TRT01P",
                        seed=int(child.generate_state(1)[0]))
    row = mi.compare("TRT01P", by="AVISIT", reference="Placebo")
    row = row[(row["AVISIT"] == "W3") & (row["TRT01P"] == "Drug")].iloc[0]
    assert one.replicates["estimate"].iloc[0] == pytest.approx(row["estimate"], rel=1e-12)
    with pytest.raises(DataError, match="imputation 'j2r' is not one of"):
        Analysis(analysis.formula, treatment="Drug", reference="Placebo", imputation="j2r")
