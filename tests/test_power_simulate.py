"""Simulated trials (trialmlm.power.simulate_trial, TrialDesign, from_fit).

Checks against the inputs, not against earlier output: sample moments of large simulations
agree with the design's means (within 4 SE) and covariance (within 4.5 SE per element);
dropout frequencies with the retention or the logistic model; trialmlm.fit and
missing.dropout_model recover the parameters; the simulated MMRM power and SE agree with
Lu, Luo & Chen's formula (validated against R longpower in test_power_analytic.py).
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import trialmlm
from trialmlm import missing
from trialmlm.errors import DataError
from trialmlm.power import LogisticDropout, TrialDesign, from_fit, power_mmrm, simulate_trial
from trialmlm.power.design import structure_matrix

VISITS = ["Week 2", "Week 4", "Week 8", "Week 12"]
MEANS = {"Placebo": [-1.0, -2.0, -3.0, -4.0], "Active": [-1.5, -3.0, -4.5, -6.0]}
UN = {"UN(1,1)": 4.0, "UN(2,1)": 2.0, "UN(2,2)": 5.0, "UN(3,1)": 1.5, "UN(3,2)": 3.0, "UN(3,3)": 6.0,
      "UN(4,1)": 1.0, "UN(4,2)": 2.5, "UN(4,3)": 4.0, "UN(4,4)": 8.0}
SIGMA = np.array([[4, 2, 1.5, 1], [2, 5, 3, 2.5], [1.5, 3, 6, 4], [1, 2.5, 4, 8.0]])


def _wide(df, col="AVAL"):
    return df.pivot(index="USUBJID", columns="AVISIT", values=col)


def test_structure_matrices_from_the_registry():
    t = np.array([0.0, 1, 3, 4])
    assert np.allclose(structure_matrix("us", UN, t), SIGMA)
    lag = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    assert np.allclose(structure_matrix("ar1", {"AR(1)": 0.6, "Residual": 3}, t), 3 * 0.6**lag)
    assert np.allclose(structure_matrix("ar1", [0.6, 3], t), 3 * 0.6**lag)
    dist = np.abs(np.subtract.outer(t, t))
    assert np.allclose(structure_matrix("sp_exp", {"SP(EXP)": 2.0, "Residual": 3}, t), 3 * np.exp(-dist / 2))


def test_moments_of_a_large_simulation():
    n = 20000
    df = simulate_trial(n, VISITS, MEANS, covariance=("us", UN), seed=11)
    assert list(df.columns) == ["USUBJID", "TRT01P", "TRT01PN", "AVISIT", "AVISITN", "TIME", "AVAL"]
    assert df["AVISIT"].cat.ordered and list(df["TRT01P"].cat.categories) == ["Placebo", "Active"]
    sd = np.sqrt(np.diag(SIGMA))
    for arm, mu in MEANS.items():
        y = _wide(df[df["TRT01P"] == arm])[VISITS].to_numpy()
        assert np.all(np.abs(y.mean(axis=0) - mu) < 4 * sd / np.sqrt(n))
        se = np.sqrt((np.outer(sd**2, sd**2) + SIGMA**2) / n)
        assert np.all(np.abs(np.cov(y, rowvar=False) - SIGMA) < 4.5 * se)


def test_same_seed_same_data():
    design = TrialDesign(30, VISITS, MEANS, covariance=("ar1", [0.5, 4]),
                         dropout=LogisticDropout(-2, last=0.1))
    pd.testing.assert_frame_equal(design.simulate(7), design.simulate(7))
    pd.testing.assert_frame_equal(design.simulate(np.random.SeedSequence(3).spawn(2)[1]),
                                  design.simulate(np.random.SeedSequence(3).spawn(2)[1]))
    assert not design.simulate(7)["AVAL"].equals(design.simulate(8)["AVAL"])


def test_mcar_retention():
    n = 20000
    retention = {"Placebo": [1, 0.9, 0.75, 0.6], "Active": [0.95, 0.9, 0.85, 0.8]}
    df = simulate_trial(n, VISITS, MEANS, covariance=("us", UN), dropout=retention, seed=2)
    for arm, r in retention.items():
        obs = _wide(df[df["TRT01P"] == arm])[VISITS].notna().to_numpy()
        se = np.sqrt(np.multiply(r, np.subtract(1, r)) / n)
        assert np.all(np.abs(obs.mean(axis=0) - r) <= 4 * se)
        assert np.all(obs[:, 1:] <= obs[:, :-1])  # monotone


def test_logistic_mar_dropout_recovered_by_the_dropout_model():
    """trialmlm.missing.dropout_model (validated against R glm) recovers the simulated MAR model."""
    design = TrialDesign(3000, VISITS, MEANS, covariance=("us", UN),
                         dropout=LogisticDropout({"Placebo": -2.0, "Active": -2.5}, last=0.3))
    assert design.dropout.mechanism == "MAR"
    df = design.simulate(4)
    coef = missing.dropout_model(df, "USUBJID", "AVISIT", "AVAL", arm="TRT01P").coefficients
    last = coef.loc["last_response"]
    arm_term = next(t for t in coef.index if t.startswith("TRT01P[T."))
    arm_effect = 0.5 if arm_term == "TRT01P[T.Placebo]" else -0.5  # Placebo - Active intercepts
    assert abs(last["estimate"] - 0.3) < 4 * last["se"]
    assert abs(coef.loc[arm_term, "estimate"] - arm_effect) < 4 * coef.loc[arm_term, "se"]


def test_mnar_dropout_hazard():
    """MNAR with a constant intercept: the first visit's hazard is E expit(a + c y_2)."""
    design = TrialDesign(20000, VISITS, MEANS, covariance=("us", UN),
                         dropout=LogisticDropout(-1.5, current=-0.4))
    assert design.dropout.mechanism == "MNAR"
    df = design.simulate(9)
    wide = _wide(df[df["TRT01P"] == "Placebo"])[VISITS]
    rng = np.random.default_rng(0)
    y2 = -2.0 + np.sqrt(5.0) * rng.standard_normal(10**6)
    expected = expit(-1.5 - 0.4 * y2).mean()
    assert abs(wide["Week 4"].isna().mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / 20000)
    observed_mean = wide["Week 4"].mean()
    assert observed_mean > -2.0 + 0.5  # low values drop out more: the observed mean is biased upwards


def test_fit_recovers_the_design():
    df = simulate_trial(600, VISITS, MEANS, covariance=("us", UN), dropout=[1, 0.95, 0.9, 0.85], seed=5)
    fit = trialmlm.fit("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", df)
    diff = fit.compare("TRT01P", by="AVISIT", reference="Placebo").set_index("AVISIT")
    truth = np.subtract(MEANS["Active"], MEANS["Placebo"])
    assert np.all(np.abs(diff.loc[VISITS, "estimate"] - truth) < 4 * diff.loc[VISITS, "se"])
    est = fit.covariance_parameters_table()
    z = (est.loc[list(UN), "estimate"] - pd.Series(UN)) / est.loc[list(UN), "se"]
    assert np.all(np.abs(z) < 4.5)


def test_slope_design_with_random_effects_and_baseline():
    g = [[4.0, 0.6], [0.6, 1.0]]
    design = TrialDesign(400, {"W0": 0, "W1": 1, "W2": 2, "W4": 4},
                         {"Placebo": {"intercept": 0, "slope": -1},
                          "Active": {"intercept": 0, "slope": -1.6}},
                         random_effects={"G": g, "residual": 2.0},
                         covariates={"BASE": {"mean": 20, "sd": 4, "effect": 0.5}})
    df = design.simulate(21)
    assert design.response == "CHG" and np.allclose(df["AVAL"], df["BASE"] + df["CHG"])
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * TIME + (1 + TIME | USUBJID)", df)
    coef = fit.coef_table()
    for term, value in [("TRT01P[T.Active]:TIME", -0.6), ("BASE", 0.5), ("TIME", -1.0)]:
        assert abs(coef.loc[term, "estimate"] - value) < 4 * coef.loc[term, "se"], term
    assert np.allclose(fit.random_effects_covariance.to_numpy(), g, atol=0.6)
    assert fit.residual_variance == pytest.approx(2.0, rel=0.1)


def test_from_fit():
    df = simulate_trial(200, VISITS, MEANS, covariance=("us", UN), seed=8)
    fit = trialmlm.fit("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", df)
    design = from_fit(fit, "TRT01P", effect=[-0.5, -1, -1.5, -2], n_per_arm=50, reference="Placebo")
    ls = fit.lsmeans("TRT01P", by="AVISIT")
    ref = ls[ls["TRT01P"] == "Placebo"].set_index("AVISIT").loc[VISITS, "estimate"].to_numpy()
    assert np.allclose(design.mean_table.loc["Placebo"], ref)
    assert np.allclose(design.mean_table.loc["Active"], ref + [-0.5, -1, -1.5, -2])
    assert np.allclose(design.covariance_matrix("Active"), fit.covariance_matrix())
    assert design.simulate(1)["USUBJID"].nunique() == 100
    with pytest.raises(DataError, match="reference 'Nope'"):
        from_fit(fit, "TRT01P", effect=1, n_per_arm=5, reference="Nope")


def test_simulated_power_agrees_with_lu_luo_chen():
    """100 trials of the longpower example (CS 0.25, retention 1/.9/.8/.7, delta 0.5, 87 per arm):
    the MMRM's rejection rate is within 3 MC SE of the analytic 80 %, the SD of the estimates
    within 3 SE of the analytic SE."""
    corr = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
    analytic = power_mmrm(delta=0.5, power=0.8, correlation=corr, retention=[1, 0.9, 0.8, 0.7], sd=1)
    n = analytic.sample_size[0]
    design = TrialDesign(n, VISITS, {"Placebo": [0, 0, 0, 0], "Active": [0.5] * 4}, covariance=corr,
                         dropout=[1, 0.9, 0.8, 0.7])
    est, reject = [], []
    for seed in np.random.SeedSequence(2024).spawn(100):
        fit = trialmlm.fit("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", design.simulate(seed))
        row = fit.compare("TRT01P", by="AVISIT", reference="Placebo").set_index("AVISIT").loc["Week 12"]
        est.append(row["estimate"])
        reject.append(row["p"] < 0.05)
    power = analytic.table.loc[0, "power"]
    expected_se = np.sqrt(analytic.unit_variance / (2 * n))
    assert abs(np.mean(reject) - power) < 3 * np.sqrt(power * (1 - power) / 100)
    assert abs(np.std(est, ddof=1) / expected_se - 1) < 3 / np.sqrt(2 * 99)


@pytest.mark.parametrize("kwargs, match", [
    (dict(means={"P": [1, 2, 3]}), "means of arm 'P' must be 4 finite numbers"),
    (dict(means=pd.DataFrame([[1, 2, 3, 4]], index=["P"], columns=["w", "x", "y", "z"])), "columns of means"),
    (dict(means={"P": {"intercept": 1}}), "keys intercept and slope"),
    (dict(covariance=-SIGMA), "not positive definite"),
    (dict(covariance=("ar1", {"AR(1)": 1.5, "Residual": 1})), "not positive definite"),
    (dict(covariance=("unknown", [1])), "unknown covariance structure"),
    (dict(covariance=("ar1", [0.5])), "takes 2 parameters"),
    (dict(covariance=None), "exactly one of covariance= and random_effects="),
    (dict(random_effects={"G": np.eye(2), "residual": 1}), "exactly one of covariance= and random_effects="),
    (dict(dropout=[1, 0.9, 1.2, 0.5]), r"must lie in \[0, 1\]; visit 3"),
    (dict(dropout=[1, 0.8, 0.9, 0.5]), "must not increase"),
    (dict(dropout={"P": [1, 1, 1, 1], "X": [1, 1, 1, 1]}), "dropout must give every arm"),
    (dict(n_per_arm=0), "whole number >= 1"),
    (dict(n_per_arm=2.5), "whole number >= 1"),
    (dict(n_per_arm={"P": 3}), "missing: A"),
    (dict(visits=["a", "a", "b", "c"]), "distinct"),
    (dict(covariates={"BASE": {"mean": 1, "sd": 1, "effect": [1, 2]}}), "one number or one per visit"),
])
def test_bad_design(kwargs, match):
    args = dict(n_per_arm=10, visits=["a", "b", "c", "d"], means={"P": [0, 0, 0, 0], "A": [1, 1, 1, 1]},
                covariance=SIGMA)
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        TrialDesign(**args)


def test_docs_examples_run():
    """The Python blocks of docs/power.md run as written and give the numbers they state."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "power.md").read_text()
    namespace = {}
    exec(compile("\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S)), "docs/power.md", "exec"),
         namespace)
    assert namespace["res"].sample_size == (208, 208)
    assert namespace["trial"]["USUBJID"].nunique() == 240
