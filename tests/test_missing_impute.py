"""Multiple imputation: strategies against closed forms, Rubin's rules against R mice, MI against MMRM.

Reference values: ``tests/reference/rubin_refs.json`` from ``make_rubin_refs.R``
(R 4.2.2, mice 3.15.0 ``pool.scalar``).  The strategies are checked against the
closed-form conditional means of Carpenter, Roger & Kenward (2013) / Wolbers et al.
(2022) on hand-built two- and three-visit examples.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import estimands
from trialmlm.errors import DataError
from trialmlm.estimands import delta_steps, impute, tipping_point
from trialmlm.estimands.imputation import ImputationData, impute_visits
from trialmlm.estimands.rubin import pool
from trialmlm.estimands.strategies import STRATEGIES
from trialmlm.missing.patterns import last_observed

REF = Path(__file__).parent / "reference"
FORMULA = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
PBO = "Placebo"
VISITS = ["Week 1", "Week 2", "Week 4", "Week 6", "Week 8"]


@pytest.fixture(scope="module")
def trial():
    """The sample depression trial: 3 arms x 100, weeks 1-8, MAR dropout, intermittent gaps."""
    return trialmlm.read(Path(__file__).parents[1] / "sample_data" / "depression_trial.csv", param="HAMD17")


@pytest.fixture(scope="module")
def fitted(trial):
    return trialmlm.fit(FORMULA, trial)


# -- strategies: closed forms ------------------------------------------------------------
def _toy(y, own_group=None, ref_group=None):
    """Subjects of the active arm with means beta[0:K] (own) and beta[K:2K] (reference)."""
    y = np.asarray(y, dtype=float)
    n, k = y.shape
    observed = np.isfinite(y)
    last = np.where(observed.any(axis=1), k - np.argmax(observed[:, ::-1], axis=1), 0)
    eye = np.eye(k)
    X_own = np.tile(np.hstack([eye, np.zeros((k, k))]), (n, 1))
    X_ref = np.tile(np.hstack([np.zeros((k, k)), eye]), (n, 1))
    zeros = np.zeros(n, dtype=int)
    return ImputationData("ID", "VISIT", "ARM", "Y", np.arange(n), list(range(k)), ["ACT", "PBO"],
                          pd.DataFrame(), y, observed, last, zeros,
                          zeros if own_group is None else own_group,
                          zeros if ref_group is None else ref_group, X_own, X_ref)


MU_A = np.array([1.0, -2.0, -4.0])
MU_R = np.array([0.5, -0.5, -1.0])
BETA = np.concatenate([MU_A, MU_R])
SIG = np.array([[4.0, 2.0, 1.2], [2.0, 5.0, 2.5], [1.2, 2.5, 6.0]])


def test_two_visit_closed_forms():
    """Dropout after visit 1 (y1 observed): E[y2 | y1] under each strategy, common covariance."""
    s = SIG[:2, :2]
    data = _toy([[3.0, np.nan]])
    beta = np.concatenate([MU_A[:2], MU_R[:2]])
    slope, y1 = s[1, 0] / s[0, 0], 3.0
    expected = {
        "mar": MU_A[1] + slope * (y1 - MU_A[0]),
        "jump_to_reference": MU_R[1] + slope * (y1 - MU_A[0]),
        "copy_reference": MU_R[1] + slope * (y1 - MU_R[0]),
        "copy_increments_in_reference": MU_A[0] + MU_R[1] - MU_R[0] + slope * (y1 - MU_A[0]),
        "last_mean_carried_forward": MU_A[0] + slope * (y1 - MU_A[0]),
    }
    for name, value in expected.items():
        got = impute_visits(data, (STRATEGIES[name],), beta, [s], None)
        assert got[0, 1] == pytest.approx(value, rel=1e-12), name


def test_arm_specific_covariance_j2r():
    """GROUP= by arm: J2R uses the reference's regression slope and conditional variance."""
    own, ref = SIG[:2, :2], np.array([[3.0, 1.0], [1.0, 2.0]])
    data = _toy([[3.0, np.nan]], own_group=np.array([0]), ref_group=np.array([1]))
    beta = np.concatenate([MU_A[:2], MU_R[:2]])
    got = impute_visits(data, (STRATEGIES["jump_to_reference"],), beta, [own, ref], None)
    assert got[0, 1] == pytest.approx(MU_R[1] + ref[1, 0] / ref[0, 0] * (3.0 - MU_A[0]), rel=1e-12)
    joint = STRATEGIES["jump_to_reference"].covariance(own, ref, 1)
    conditional = joint[1, 1] - joint[1, 0] ** 2 / joint[0, 0]
    assert conditional == pytest.approx(ref[1, 1] - ref[1, 0] ** 2 / ref[0, 0], rel=1e-12)
    assert STRATEGIES["copy_reference"].covariance(own, ref, 1) is ref
    assert STRATEGIES["mar"].covariance(own, ref, 1) is own


def test_three_visits_intermittent_gap_and_no_observation():
    """Gap at visit 2 then dropout after 3 is all MAR; nothing observed gives the reference mean."""
    data = _toy([[2.0, np.nan, -3.0], [np.nan, np.nan, np.nan], [1.0, np.nan, np.nan]])
    for name in ("jump_to_reference", "copy_increments_in_reference"):
        got = impute_visits(data, (STRATEGIES[name],), BETA, [SIG], None)
        o, m = [0, 2], [1]
        mar = MU_A[m] + SIG[np.ix_(m, o)] @ np.linalg.solve(SIG[np.ix_(o, o)], data.y[0, o] - MU_A[o])
        assert got[0, 1] == pytest.approx(mar[0], rel=1e-12)
        np.testing.assert_allclose(got[1], MU_R, rtol=1e-12)
    # CIR after visit 1: mean path mu_a1 + (mu_r - mu_r1) at visits 2, 3
    got = impute_visits(data, (STRATEGIES["copy_increments_in_reference"],), BETA, [SIG], None)
    path = MU_A[0] + MU_R[1:] - MU_R[0]
    cond = path + SIG[1:, :1] @ np.linalg.solve(SIG[:1, :1], [1.0 - MU_A[0]])
    np.testing.assert_allclose(got[2, 1:], cond, rtol=1e-12)


def test_draws_have_the_conditional_covariance():
    data = _toy(np.tile([[3.0, np.nan, np.nan]], (40000, 1)))
    got = impute_visits(data, (STRATEGIES["mar"],), BETA, [SIG], np.random.default_rng(5))[:, 1:]
    cond = SIG[1:, 1:] - SIG[1:, :1] @ SIG[:1, 1:] / SIG[0, 0]
    mean = MU_A[1:] + SIG[1:, 0] / SIG[0, 0] * (3.0 - MU_A[0])
    assert np.all(np.abs(got.mean(axis=0) - mean) < 4 * np.sqrt(np.diag(cond) / 40000))
    np.testing.assert_allclose(np.cov(got.T), cond, rtol=0.03)


# -- Rubin's rules against R mice -------------------------------------------------------------
def test_rubin_rules_match_mice():
    cases = json.loads((REF / "rubin_refs.json").read_text())["cases"]
    for case in cases:
        q, u = np.array(case["Q"])[:, None], np.array(case["U"])[:, None]
        got = pool(q, u, np.full_like(q, case["dfcom"]))
        assert got["estimate"][0] == pytest.approx(case["qbar"], rel=1e-12)
        assert got["se"][0] ** 2 == pytest.approx(case["t"], rel=1e-12)
        if case["b"] > 0:
            assert got["df"][0] == pytest.approx(case["df"], rel=1e-10)
            assert got["fmi"][0] == pytest.approx(case["fmi"], rel=1e-10)
        else:  # mice floors lambda at 1e-4; the exact limit is nu_obs
            nu = case["dfcom"]
            assert got["df"][0] == pytest.approx((nu + 1) / (nu + 3) * nu, rel=1e-12)
            assert got["df"][0] == pytest.approx(case["df"], rel=2e-4)


# -- MI from a fitted MMRM ------------------------------------------------------------------
@pytest.fixture(scope="module")
def mar(fitted):
    return impute(fitted, n_imputations=100, reference=PBO, seed=11)


def test_mar_imputation_reproduces_mmrm(fitted, mar):
    """Under MAR, MI with the same MMRM estimates what the direct MMRM does (up to Monte-Carlo error)."""
    direct = fitted.compare("TRT01P", by="AVISIT", reference=PBO)
    pooled = mar.compare()
    assert list(pooled["contrast"]) == list(direct["contrast"])
    e = mar.estimates[:, 0, len(mar.lsmeans_labels):]
    mc_se = e.std(axis=0, ddof=1) / np.sqrt(mar.n_imputations)
    # the direct and MI estimators differ by O(SE / sqrt(n)) besides Monte-Carlo error
    assert np.all(np.abs(pooled["estimate"] - direct["estimate"]) < 4 * mc_se + 0.1 * direct["se"])
    np.testing.assert_allclose(pooled["se"], direct["se"], rtol=0.1)
    assert np.all(pooled["df"] > 10) and np.all(pooled["fmi"].between(0, 1))
    # complete first visit: nothing to impute there
    assert pooled["fmi"].iloc[0] < 0.05


def test_reference_based_means_match_conditional_mean_imputation(fitted):
    """J2R / CR / CIR: the MI estimate is the analysis of the conditional-mean completed data
    (Wolbers et al. 2022) up to Monte-Carlo and parameter-draw error."""
    from trialmlm.estimands.approxbayes import Analysis, _sigmas
    from trialmlm.estimands.imputation import prepare

    data = prepare(fitted, "AVISIT", "TRT01P", PBO)
    first = impute_visits(data, (STRATEGIES["mar"],), fitted.beta, _sigmas(fitted), None)
    analysis = Analysis(fitted, data, PBO, first)
    n_ls = len(analysis.lsmeans_labels)
    for name in ("jump_to_reference", "copy_reference", "copy_increments_in_reference"):
        completed = impute_visits(data, (STRATEGIES[name],), fitted.beta, _sigmas(fitted), None)
        target = analysis(completed)[0][0, n_ls:]
        mi = impute(fitted, method=name, n_imputations=60, reference=PBO, seed=2)
        e = mi.estimates[:, 0, n_ls:]
        mc_se = e.std(axis=0, ddof=1) / np.sqrt(mi.n_imputations)
        assert np.all(np.abs(e.mean(axis=0) - target) < 4 * mc_se + 0.05), name
    # the reference-based effects are pulled towards the reference
    j2r = impute(fitted, method="jump_to_reference", n_imputations=20, reference=PBO, seed=2).compare()
    mar = fitted.compare("TRT01P", by="AVISIT", reference=PBO)
    assert abs(j2r["estimate"].iloc[-1]) < abs(mar["estimate"].iloc[-1])


def test_lsmeans_pooled(mar):
    ls = mar.lsmeans()
    assert list(ls.columns[:2]) == ["TRT01P", "AVISIT"]
    assert len(ls) == 15 and ls["se"].gt(0).all()
    means = ls.set_index(["TRT01P", "AVISIT"])["estimate"]
    cmp = mar.compare().set_index(["TRT01P", "AVISIT"])["estimate"]
    for arm in ["Drug 10 mg", "Drug 20 mg"]:
        for v in VISITS:
            assert cmp[arm, v] == pytest.approx(means[arm, v] - means[PBO, v], rel=1e-9, abs=1e-12)


def test_completed_data(mar, trial):
    d = mar.completed_data(0)
    assert len(d) == trial["USUBJID"].nunique() * len(VISITS)
    assert d["CHG"].notna().all()
    observed = trial.dropna(subset=["CHG"]).set_index(["USUBJID", "AVISIT"])["CHG"].astype(float)
    kept = d.loc[~d["imputed"]].set_index(["USUBJID", "AVISIT"])["CHG"]
    kept.index = kept.index.set_levels(kept.index.levels[1].astype(str), level=1)
    observed.index = observed.index.set_levels(observed.index.levels[1].astype(str), level=1)
    pd.testing.assert_series_equal(kept.sort_index(), observed.sort_index(), check_names=False)
    with pytest.raises(DataError, match="imputation 100 does not exist"):
        mar.completed_data(100)


def test_delta_shifts_only_imputed_values_after_dropout(fitted):
    base = impute(fitted, n_imputations=3, reference=PBO, seed=4)
    shifted = impute(fitted, method="delta", delta=2.5, delta_arms=["Drug 20 mg"], n_imputations=3,
                     reference=PBO, seed=4)
    diff = shifted.imputed - base.imputed
    dropout = last_observed(base.data.observed) + 1  # the visit after the last observation
    after = np.arange(len(VISITS))[None, :] >= dropout[:, None]
    high = (np.asarray(base.data.arms)[base.data.arm_codes] == "Drug 20 mg")[:, None]
    assert after.any() and (after & ~high).any()
    expected = np.broadcast_to(np.where(after & high, 2.5, 0.0), diff.shape)
    np.testing.assert_allclose(diff, expected, atol=1e-12)
    per_visit = impute(fitted, method="delta", delta={"Week 8": 1.0}, n_imputations=3, reference=PBO, seed=4)
    d2 = per_visit.imputed - base.imputed
    assert np.all(d2[:, :, :4] == 0) and np.all(np.isin(np.round(d2[:, :, 4], 12), [0.0, 1.0]))


def test_seed_reproduces_and_workers_do_not_matter(fitted):
    a = impute(fitted, n_imputations=4, reference=PBO, seed=9)
    b = impute(fitted, n_imputations=4, reference=PBO, seed=9, workers=2)
    np.testing.assert_array_equal(a.estimates, b.estimates)
    c = impute(fitted, n_imputations=4, reference=PBO)
    d = impute(fitted, n_imputations=4, reference=PBO, seed=c.seed)
    np.testing.assert_array_equal(c.estimates, d.estimates)


def test_row_order_does_not_matter(trial, fitted):
    shuffled = trial.sample(frac=1.0, random_state=1)
    a = impute(fitted, n_imputations=3, reference=PBO, seed=1)
    b = impute(trialmlm.fit(FORMULA, shuffled), n_imputations=3, reference=PBO, seed=1)
    np.testing.assert_allclose(a.estimates, b.estimates, rtol=1e-8, atol=1e-10)


def test_tipping_point_uses_common_random_numbers(fitted):
    deltas = [0.0, 1.0, 2.0, 4.0]
    tp = tipping_point(fitted, deltas, reference=PBO, n_imputations=10, seed=3)
    assert list(tp.table["delta"].unique()) == deltas and tp.visit == "Week 8"
    mar = impute(fitted, n_imputations=10, reference=PBO, seed=3).compare()
    week8 = mar.loc[mar["AVISIT"] == "Week 8"].set_index("contrast")
    at0 = tp.table.loc[tp.table["delta"] == 0].set_index("contrast")
    np.testing.assert_allclose(at0["estimate"], week8["estimate"], rtol=1e-12)
    np.testing.assert_allclose(at0["p"], week8["p"], rtol=1e-10)
    shifted = impute(fitted, method="delta", delta=2.0, n_imputations=10, reference=PBO, seed=3).compare()
    at2 = tp.table.loc[tp.table["delta"] == 2].set_index("contrast")
    np.testing.assert_allclose(at2["estimate"], shifted.loc[shifted["AVISIT"] == "Week 8"]
                               .set_index("contrast")["estimate"], rtol=1e-12)
    for contrast, rows in tp.table.groupby("contrast"):
        # a worse outcome after dropout in the active arms moves the difference towards placebo
        assert rows["estimate"].is_monotonic_increasing
        lost = rows.loc[rows["p"] >= 0.05, "delta"]
        assert tp.tipping_deltas[contrast] == (lost.iloc[0] if len(lost) else None)
    with pytest.raises(DataError, match="there are 2 contrasts"):
        _ = tp.tipping_delta
    one = tipping_point(fitted, deltas, arms=["Drug 20 mg"], reference=PBO, n_imputations=3, seed=3)
    assert one.table["contrast"].nunique() == 2  # both contrasts reported, only the high dose shifted


@pytest.mark.parametrize("sd, step, last", [
    (6.2, 1.0, 13.0),      # 2 SD = 12.4: 0, 1, ..., 13
    (5.55, 1.0, 12.0),     # 11.1
    (0.83, 0.2, 1.8),      # 1.66: step 0.1 would need 17 steps
    (4.0, 1.0, 8.0),       # exactly 8: step 0.5 would need 16
    (3.75, 0.5, 7.5),      # exactly 15 steps of 0.5
    (55.0, 10.0, 110.0),
    (1234.5, 200.0, 2600.0),
    (0.004, 0.001, 0.008),
])
def test_delta_steps_round_steps_covering_two_sd(sd, step, last):
    grid = delta_steps(sd)
    np.testing.assert_allclose(grid, np.arange(len(grid)) * step, rtol=0, atol=1e-12 * last)
    assert grid[0] == 0 and grid[-1] == pytest.approx(last) and 8 <= len(grid) - 1 <= 15
    assert grid[-1] >= 2 * sd * (1 - 1e-12) > grid[-2]  # covers 2 SD, one step at most beyond
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert delta_steps(sd, span=1.0)[-1] >= sd


@pytest.mark.parametrize("sd", [0.0, -1.0, np.nan])
def test_delta_steps_needs_a_positive_sd(sd):
    with pytest.raises(DataError, match="positive SD"):
        delta_steps(sd)


def test_tipping_point_default_deltas_move_towards_the_null(trial, fitted):
    """Lower HAMD is better: the active arms are shifted upwards; with the response negated
    (higher is better) they are shifted downwards; the grid is delta_steps of the Week 8 SD."""
    week8 = trial.loc[(trial["AVISIT"] == "Week 8") & trial["CHG"].notna(), "CHG"]
    grid = delta_steps(week8.std(ddof=1))
    tp = tipping_point(fitted, reference=PBO, n_imputations=3, seed=5)
    flipped = trialmlm.fit(FORMULA, trial.assign(CHG=-trial["CHG"], BASE=-trial["BASE"]))
    tp_flipped = tipping_point(flipped, reference=PBO, n_imputations=3, seed=5)
    for result, sign in ((tp, 1.0), (tp_flipped, -1.0)):
        primary = result.primary_p
        for contrast, rows in result.table.groupby("contrast"):
            np.testing.assert_array_equal(rows["delta"].to_numpy(), sign * grid + 0.0)
            estimate = rows["estimate"].to_numpy()
            assert np.all(np.diff(sign * estimate) > 0)  # towards 0 from the primary direction
            assert primary[contrast] < 0.05 and result.status(contrast) == "tips"
    compare = fitted.compare("TRT01P", by="AVISIT", reference=PBO).query("AVISIT == 'Week 8'")
    assert tp.primary_p == dict(zip(compare["contrast"], compare["p"]))
    assert tp.arm == "TRT01P" and tp.reference == PBO
    assert (compare["estimate"] < 0).all()


def test_tipping_point_default_deltas_need_two_observations_at_the_visit(trial):
    week8 = trial["AVISIT"] == "Week 8"
    one = trial.loc[week8 & trial["CHG"].notna()].index[:1]
    sparse = trial.assign(CHG=trial["CHG"].where(~week8 | trial.index.isin(one)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + cs(AVISIT | USUBJID)", sparse)
    with pytest.raises(DataError, match="visit 'Week 8' has 1 observed response"):
        tipping_point(fit, reference=PBO, n_imputations=2, seed=1)


def test_tipping_point_summary_one_row_per_contrast_and_status():
    """Four contrasts, one per case, on a hand-built grid (p given, so the rule alone is tested)."""
    p = {"A - P": [0.01, 0.03, 0.2],     # tips at 2
         "B - P": [0.001, 0.002, 0.01],  # never tips: last row
         "C - P": [0.3, 0.4, 0.5],       # primary not significant: no numbers
         "D - P": [0.06, 0.2, 0.4]}      # primary significant, MI at delta 0 is not
    table = pd.DataFrame([{"delta": d, "contrast": c, "estimate": -3.0 + d + k, "p": p[c][i]}
                          for i, d in enumerate([0.0, 1.0, 2.0]) for k, c in enumerate(p)])
    tipping = {c: next((d for d, q in zip([0.0, 1.0, 2.0], p[c]) if q >= 0.05), None) for c in p}
    primary = {"A - P": 0.02, "B - P": 0.001, "C - P": 0.2, "D - P": 0.04}
    tp = estimands.TippingPoint(table, tipping, 0.05, "W8", "mar", 5, primary, "ARM", "P")
    assert [tp.status(c) for c in p] == ["tips", "does not tip", "not significant", "not significant"]
    summary = tp.summary().set_index("contrast")
    assert list(summary["tipping"]) == ["tips at delta = 2", "does not tip within the range (deltas 0 to 2)",
                                        "not significant under MAR; no tipping point",
                                        "not significant at delta = 0; no tipping point"]
    assert list(summary["delta"].fillna(-1)) == [2.0, 2.0, -1, 0.0]
    assert list(summary["p"].fillna(-1)) == [0.2, 0.01, -1, 0.06]
    assert summary["primary_p"].to_dict() == primary
    with pytest.raises(DataError, match="contrast 'E - P' is not in the tipping point"):
        tp.status("E - P")


# -- errors ------------------------------------------------------------------------------------
def test_errors(fitted, trial):
    with pytest.raises(DataError, match="method must be one of"):
        impute(fitted, method="j2r")
    with pytest.raises(DataError, match="needs reference="):
        impute(fitted, method="jump_to_reference")
    with pytest.raises(DataError, match="n_imputations must be an integer of at least 2"):
        impute(fitted, n_imputations=1)
    with pytest.raises(DataError, match="needs a non-zero delta"):
        impute(fitted, method="delta", reference=PBO)
    with pytest.raises(DataError, match="not a level of 'TRT01P'"):
        impute(fitted, method="copy_reference", reference="PBO")
    with pytest.raises(DataError, match="delta arm"):
        impute(fitted, delta=1.0, delta_arms=["XYZ"], reference=PBO)
    with pytest.raises(DataError, match="not visits of 'AVISIT'"):
        impute(fitted, delta={"Week 9": 1.0}, reference=PBO)
    with pytest.raises(DataError, match="workers must be a positive integer"):
        impute(fitted, n_imputations=2, workers=0)
    with pytest.raises(DataError, match="tipping_point needs reference="):
        tipping_point(fitted, [0, 1])
    with pytest.raises(DataError, match="visit 'Week 7' is not a visit"):
        tipping_point(fitted, [0, 1], visit="Week 7", reference=PBO)
    with pytest.raises(DataError, match="random-effect models are not supported"):
        weeks = trial.assign(WEEK=trial["AVISITN"].astype(float))
        impute(trialmlm.fit("CHG ~ TRT01P * WEEK + (1 + WEEK | USUBJID)", weeks))
    with pytest.raises(DataError, match="random-effect models are not supported"):
        impute(trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + (1 | SITEID) + us(AVISIT | USUBJID)",
                            trial.assign(SITEID=trial["SITEID"].astype(str))))
    with pytest.raises(DataError, match="visit 'AVISIT' as a factor"):
        impute(trialmlm.fit("CHG ~ BASE + TRT01P + ar1(AVISIT | USUBJID)", trial))
    first = trial["USUBJID"].iloc[0]
    never = trial.copy()
    never.loc[never["USUBJID"] == first, "CHG"] = np.nan
    with pytest.raises(DataError, match=f"subject '{first}' has no observed visit"):
        impute(trialmlm.fit(FORMULA, never), method="last_mean_carried_forward")
    nobase = trial.copy()
    nobase.loc[nobase["USUBJID"] == first, "BASE"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_nobase = trialmlm.fit(FORMULA, nobase)
    with pytest.raises(DataError, match=f"subject '{first}' has no value of 'BASE'"):
        impute(fit_nobase, n_imputations=2)
    with pytest.raises(DataError, match="differ by 'SEX', not by the arm"):
        impute(trialmlm.fit("CHG ~ TRT01P * AVISIT + us(AVISIT | SEX / USUBJID)", trial), n_imputations=2)
    with pytest.raises(DataError, match="pass arm= one of"):
        impute(trialmlm.fit("CHG ~ SEX + TRT01P * AVISIT + us(AVISIT | USUBJID)", trial), n_imputations=2)


def test_arm_specific_covariance_fit(trial):
    """GROUP= by arm: each arm's imputation uses its own and the reference's fitted matrix."""
    from trialmlm.estimands.approxbayes import _sigmas
    from trialmlm.estimands.imputation import prepare

    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + ar1h(AVISIT | TRT01P / USUBJID)", trial)
    sigmas = _sigmas(fit)
    for g, arm in enumerate(fit.group_labels):
        np.testing.assert_allclose(sigmas[g], fit.covariance_matrix(arm).to_numpy(), rtol=1e-12)
    data = prepare(fit, "AVISIT", "TRT01P", PBO)
    assert set(data.ref_group) == {fit.group_labels.index(PBO)}
    result = impute(fit, method="jump_to_reference", reference=PBO, n_imputations=3, seed=1).compare()
    assert result["estimate"].notna().all() and result["se"].gt(0).all()


def test_imputation_results_keep_the_arm_and_visit_order():
    """Arms in TRT01PN order (not alphabetical) in MI and tipping-point results."""
    from helpers import adam_bds

    data, _ = adam_bds()
    df = trialmlm.read(data, param="HAMD17", response="CHG", population="EFFFL", arm="TRT01P")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df)
    mi = estimands.impute(fit, reference="Placebo", n_imputations=3, seed=1).compare()
    assert list(mi["TRT01P"].astype(str)[:2]) == ["Drug Low", "Drug High"]
    assert list(dict.fromkeys(mi["AVISIT"].astype(str))) == ["Week 2", "Week 4", "Week 8"]
    tp = estimands.tipping_point(fit, [0, 1], reference="Placebo", n_imputations=3, seed=1)
    assert list(tp.table["contrast"][:2]) == ["Drug Low - Placebo", "Drug High - Placebo"]
