"""Invariants (hypothesis): row order, subject labels, response scale, constant weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trialmlm

SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
STRUCTS = st.sampled_from(["us", "csh", "ar1", "toep", "adh"])


@pytest.fixture(scope="module")
def small(demo_trial):
    keep = demo_trial["USUBJID"].isin(demo_trial["USUBJID"].unique()[:80])
    return demo_trial.loc[keep].reset_index(drop=True)


def _formula(structure: str) -> str:
    return f"CHG ~ BASE + TRT * AVISIT + {structure}(AVISIT | USUBJID)"


def _same(a, b, scale=1.0, shift=0.0):
    assert b.loglik == pytest.approx(a.loglik + shift, abs=1e-7)
    expected = scale**2 * a.covariance_matrix().to_numpy()
    np.testing.assert_allclose(b.covariance_matrix().to_numpy(), expected, rtol=1e-6, atol=1e-9 * scale**2)
    np.testing.assert_allclose(b.coef.to_numpy(), scale * a.coef.to_numpy(), rtol=1e-6,
                               atol=1e-8 * abs(scale))


@SETTINGS
@given(structure=STRUCTS, seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter(small, structure, seed):
    shuffled = small.sample(frac=1.0, random_state=seed)
    _same(trialmlm.fit(_formula(structure), small), trialmlm.fit(_formula(structure), shuffled))


@SETTINGS
@given(structure=STRUCTS, seed=st.integers(0, 2**31 - 1))
def test_subject_labels_do_not_matter(small, structure, seed):
    ids = small["USUBJID"].unique()
    new = dict(zip(ids, np.random.default_rng(seed).permutation([f"P{i:04d}" for i in range(len(ids))])))
    relabelled = small.assign(USUBJID=small["USUBJID"].map(new))
    _same(trialmlm.fit(_formula(structure), small), trialmlm.fit(_formula(structure), relabelled))


@SETTINGS
@given(structure=STRUCTS, scale=st.floats(0.01, 100.0), method=st.sampled_from(["REML", "ML"]))
def test_scaled_response(small, structure, scale, method):
    """y -> c y: beta -> c beta, Sigma -> c^2 Sigma, log L -> log L - (n - p) log c (REML) or n log c."""
    a = trialmlm.fit(_formula(structure), small, method=method)
    b = trialmlm.fit(_formula(structure), small.assign(CHG=small["CHG"] * scale), method=method)
    dof = a.n_obs - (a.n_fixed if method == "REML" else 0)
    _same(a, b, scale=scale, shift=-dof * np.log(scale))


@SETTINGS
@given(structure=STRUCTS, weight=st.floats(0.1, 10.0))
def test_constant_weights_rescale_sigma(small, structure, weight):
    """W = w I: V = Sigma / w is unchanged at the optimum, so Sigma_hat -> w Sigma_hat."""
    a = trialmlm.fit(_formula(structure), small)
    b = trialmlm.fit(_formula(structure), small.assign(W=weight), weights="W")
    assert b.loglik == pytest.approx(a.loglik, abs=1e-7)
    np.testing.assert_allclose(b.covariance_matrix().to_numpy(), weight * a.covariance_matrix().to_numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(b.coef.to_numpy(), a.coef.to_numpy(), rtol=1e-6, atol=1e-9)


def test_intermittent_and_monotone_patterns_are_all_used(demo_trial):
    """Every observed visit enters the likelihood: dropping one intermittent value changes it."""
    fit = trialmlm.fit(_formula("us"), demo_trial)
    obs = demo_trial.dropna(subset=["CHG"])
    pattern = obs.groupby("USUBJID")["AVISIT"].apply(lambda v: "".join(sorted(s[-1] for s in v)))
    assert (pattern == "12345").any() and pattern.str.len().min() < 5
    intermittent = [s for s, p in pattern.items() if p not in {"12345"[:k] for k in range(1, 6)}]
    assert intermittent, "demo data has intermittent gaps"
    dropped = demo_trial.copy()
    row = dropped.index[(dropped["USUBJID"] == intermittent[0]) & dropped["CHG"].notna()][-1]
    dropped.loc[row, "CHG"] = pd.NA
    assert trialmlm.fit(_formula("us"), dropped).n_obs == fit.n_obs - 1


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), random=st.sampled_from(["(1 + TIME | USUBJID)", "(1 | USUBJID)"]))
def test_random_effect_models_ignore_row_order_and_labels(small, seed, random):
    formula = f"CHG ~ BASE + TRT * TIME + {random}"
    ids = small["USUBJID"].unique()
    new = dict(zip(ids, np.random.default_rng(seed).permutation([f"P{i:04d}" for i in range(len(ids))])))
    shuffled = small.sample(frac=1.0, random_state=seed).assign(USUBJID=lambda d: d["USUBJID"].map(new))
    a, b = trialmlm.fit(formula, small), trialmlm.fit(formula, shuffled)
    assert b.loglik == pytest.approx(a.loglik, abs=1e-7)
    np.testing.assert_allclose(b.random_effects_covariance, a.random_effects_covariance, rtol=1e-6)
    blups = b.random_effects()["USUBJID"].rename(index={v: k for k, v in new.items()})
    blups = blups.loc[a.random_effects()["USUBJID"].index]
    np.testing.assert_allclose(blups, a.random_effects()["USUBJID"], rtol=1e-5, atol=1e-8)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.1, 3.0, 1000.0]))
def test_estimands_ignore_row_order_and_labels_and_follow_the_scale(small, seed, scale):
    """Conditional mean + jackknife (deterministic) with a JR ICE table: the same results after
    shuffling the rows and relabelling the subjects; estimates and SEs scale with the response."""
    from trialmlm.estimands import condmean, ice_table

    formula = _formula("us")
    ice = ice_table(small, response="CHG", strategy="JR")
    base = condmean(trialmlm.fit(formula, small), ice=ice, reference="CTRL").compare()
    rng = np.random.default_rng(seed)
    labels = dict(zip(small["USUBJID"].unique(), rng.permutation(small["USUBJID"].nunique()).astype(str)))
    other = small.assign(USUBJID=small["USUBJID"].map(labels), CHG=small["CHG"] * scale,
                         BASE=small["BASE"] * scale).sample(frac=1.0, random_state=seed)
    moved = condmean(trialmlm.fit(formula, other), ice=ice.assign(USUBJID=ice["USUBJID"].map(labels)),
                     reference="CTRL").compare()
    for column in ("estimate", "se", "lower", "upper"):
        np.testing.assert_allclose(moved[column], scale * base[column], rtol=1e-5, atol=1e-8 * scale)
    np.testing.assert_allclose(moved["p"], base["p"], rtol=1e-5, atol=1e-10)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 100.0), htype=st.sampled_from([1, 2, 3]))
def test_anova_types_ignore_row_order_labels_and_response_scale(small, seed, scale, htype):
    """Type 1/2/3 F, df and p do not depend on row order or subject labels, and a scaled
    response leaves them unchanged (every hypothesis L beta = 0 scales with the response)."""
    formula = "CHG ~ BASE + TRT * AVISIT + TRT:BASE + us(AVISIT | USUBJID)"  # a covariate interaction
    ids = small["USUBJID"].unique()
    new = dict(zip(ids, np.random.default_rng(seed).permutation([f"P{i:04d}" for i in range(len(ids))])))
    other = small.sample(frac=1.0, random_state=seed).assign(USUBJID=lambda d: d["USUBJID"].map(new),
                                                             CHG=lambda d: d["CHG"] * scale)
    a = trialmlm.fit(formula, small).anova(type=htype)
    b = trialmlm.fit(formula, other).anova(type=htype)
    np.testing.assert_array_equal(a["num_df"], b["num_df"])
    np.testing.assert_allclose(b[["den_df", "F"]].to_numpy(), a[["den_df", "F"]].to_numpy(), rtol=1e-5)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 100.0))
def test_conditional_predictions_follow_rows_labels_and_scale(small, seed, scale):
    """Conditional predictions move with their rows, ignore subject labels and scale with y."""
    fit = trialmlm.fit(_formula("ar1"), small)
    ids = small["USUBJID"].unique()
    new = dict(zip(ids, np.random.default_rng(seed).permutation([f"P{i:04d}" for i in range(len(ids))])))
    other = small.sample(frac=1.0, random_state=seed).assign(USUBJID=lambda d: d["USUBJID"].map(new),
                                                             CHG=lambda d: d["CHG"] * scale,
                                                             BASE=lambda d: d["BASE"] * scale)
    refit = trialmlm.fit(_formula("ar1"), other)
    a = fit.predict(small, conditional=True, interval="prediction")
    b = refit.predict(other, conditional=True, interval="prediction").loc[small.index]
    np.testing.assert_allclose(b["estimate"], scale * a["estimate"], rtol=1e-5, atol=1e-8 * scale)
    np.testing.assert_allclose(b["se"], scale * a["se"], rtol=1e-5, atol=1e-8 * scale)
