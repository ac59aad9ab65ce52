"""Retrieved-dropout imputation models and user-defined strategies, against R rbmi.

Reference values: ``tests/reference/retrieved_refs.json`` from ``make_retrieved_refs.R`` (R 4.2.2,
rbmi 1.5.2, mmrm 0.3.18 run to convergence): ``draws(method_condmean(type = "jackknife"))``,
``impute(references = c(Control = "Control", Intervention = "Control"))``,
``analyse(ancova, covariates = "outcome_bl")``, ``pool()``.

* ``retrieved``: rbmi's vignette "retrieved_dropout" (``retrieved_dropout.csv``, simulated by
  ``simulate_data`` with the vignette's seed): basic MAR, RD1 (``time_since_ice1*group``) and RD2
  (``ind_ice1*group*visit``), no ICE table.
* ``advanced``: rbmi's vignette "advanced" (``advanced_ice.csv``): its ICE table with the
  user-defined strategy ``strategy_AVG`` of the vignette for the Intervention arm (MAR for
  Control), and ``W75`` (0.25 own + 0.75 reference mean after the ICE, reference covariance).
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError
from trialmlm.estimands import condmean, delta_template, impute, tipping_point
from trialmlm.estimands.ice import ice_plan, update_plan
from trialmlm.estimands.imputation import check_imputable, covariance_matrices, impute_visits, prepare
from trialmlm.estimands.strategies import Moments

REF = Path(__file__).parent / "reference"
REFS = json.loads((REF / "retrieved_refs.json").read_text())
RTOL = 1e-6
BASE = "change ~ group + visit + outcome_bl*visit + group*visit"
MODELS = {"basic_MAR": BASE, "RD1": f"{BASE} + time_since_ice1*group",
          "RD2": f"{BASE} + ind_ice1*group*visit"}
COV = " + us(visit | id)"


def average(own: Moments, ref: Moments, index_mar: np.ndarray):
    """rbmi's strategy_AVG: after the ICE the average of the own-arm and reference means."""
    return np.where(index_mar, own.mu, (own.mu + ref.mu) / 2), own.sigma


def weighted(own: Moments, ref: Moments, index_mar: np.ndarray):
    """W75: after the ICE 0.25 own + 0.75 reference mean, the reference covariance."""
    return np.where(index_mar, own.mu, 0.25 * own.mu + 0.75 * ref.mu), ref.sigma


USER = {"AVG": average, "W75": weighted}


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name, dtype={"id": str, "visit": str})


@pytest.fixture(scope="module")
def rd():
    return read("retrieved_dropout.csv")


@pytest.fixture(scope="module")
def advanced():
    return read("advanced_ice.csv")


@pytest.fixture(scope="module")
def rd_fits(rd):
    return {name: trialmlm.fit(formula + COV, rd) for name, formula in MODELS.items()}


@pytest.fixture(scope="module")
def rd_results(rd_fits):
    return {name: condmean(fit, reference="Control", arm="group", covariates=["outcome_bl"])
            for name, fit in rd_fits.items()}


@pytest.fixture(scope="module")
def advanced_fit(advanced):
    return trialmlm.fit(f"{BASE}{COV}", advanced)


@pytest.fixture(scope="module")
def advanced_results(advanced_fit):
    return {name: condmean(advanced_fit, ice=ice_of(name), reference="Control", arm="group",
                           covariates=["outcome_bl"], strategies=USER) for name in REFS["advanced"]}


def ice_of(name: str) -> pd.DataFrame:
    return pd.DataFrame(REFS["advanced"][name]["ice"])


def check_against(result, scenario: dict) -> None:
    """rbmi's trt_<visit> is Intervention - Control, lsm_ref Control, lsm_alt Intervention."""
    pooled = {p["parameter"]: p for p in scenario["pooled"]}
    for _, row in result.compare(reference="Control").iterrows():
        ref = pooled[f"trt_{row['visit']}"]
        np.testing.assert_allclose([row["estimate"], row["se"], row["lower"], row["upper"], row["p"]],
                                   [ref[k] for k in ("est", "se", "lci", "uci", "pval")], rtol=RTOL)
    for _, row in result.lsmeans().iterrows():
        ref = pooled[f"lsm_{'ref' if row['group'] == 'Control' else 'alt'}_{row['visit']}"]
        np.testing.assert_allclose([row["estimate"], row["se"], row["lower"], row["upper"]],
                                   [ref[k] for k in ("est", "se", "lci", "uci")], rtol=RTOL)
    completed = pd.DataFrame(scenario["completed"])
    got = result.completed_data().astype({"id": str, "visit": str})
    merged = got.merge(completed, on=["id", "visit"], suffixes=("", "_rbmi"), validate="one_to_one")
    assert len(merged) == len(completed) == len(got)
    scale = merged.loc[~merged["imputed"], "change"].std()
    np.testing.assert_allclose(merged["change"], merged["change_rbmi"].astype(float), rtol=RTOL,
                               atol=RTOL * scale)


@pytest.mark.parametrize("name", list(MODELS))
def test_retrieved_dropout_matches_rbmi(rd_results, name):
    check_against(rd_results[name], REFS["retrieved"][name])


def test_retrieved_dropout_imputes_post_discontinuation_visits(rd, rd_results):
    """The data have missing values after discontinuation, and the RD2 model imputes them with the
    status-specific mean: its imputations there differ from those of the basic MAR model."""
    post = (rd["ind_ice1"] == 1) & rd["change"].isna()
    assert post.sum() >= 40
    keys = rd.loc[post, ["id", "visit"]]

    def imputed(name):
        frame = rd_results[name].completed_data().astype({"id": str, "visit": str})
        return keys.merge(frame, on=["id", "visit"])["change"].to_numpy()

    assert np.abs(imputed("RD2") - imputed("basic_MAR")).max() > 0.5
    assert rd_results["RD2"].data.time_varying == ("ind_ice1",)
    assert rd_results["RD1"].data.time_varying == ("time_since_ice1",)


def test_status_as_a_factor(rd, rd_results):
    """The on/off-treatment status as a class variable (ADaM-style "on"/"off") spans the same
    model as the 0/1 indicator: the same imputations and results as RD2."""
    status = rd.assign(ONTRT=np.where(rd["ind_ice1"] == 1, "off", "on")).drop(columns="ind_ice1")
    fit = trialmlm.fit(f"{BASE} + ONTRT*group*visit{COV}", status)
    got = condmean(fit, reference="Control", arm="group", covariates=["outcome_bl"])
    assert got.data.time_varying == ("ONTRT",)
    np.testing.assert_allclose(got.completed, rd_results["RD2"].completed, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.compare()["se"], rd_results["RD2"].compare()["se"], rtol=1e-5)


@pytest.mark.parametrize("name", list(REFS["advanced"]))
def test_user_defined_strategies_match_rbmi(advanced_results, name):
    check_against(advanced_results[name], REFS["advanced"][name])


def test_user_strategy_in_summary_and_template(advanced_fit, advanced_results):
    summary = advanced_results["AVG"].ice_summary().set_index(["group", "strategy"])
    assert list(summary.index) == [("Control", "MAR"), ("Intervention", "MAR"), ("Intervention", "AVG")]
    assert summary.loc[("Intervention", "AVG"), "with_ice"] == (ice_of("AVG")["strategy"] == "AVG").sum()
    assert summary.loc[("Intervention", "AVG"), "excluded"] > 0
    assert summary.loc["Control", "excluded"].sum() == 0
    template = delta_template(advanced_fit, ice=ice_of("AVG"), reference="Control", arm="group",
                              strategies=USER)
    assert set(template["strategy"].dropna()) == {"MAR", "AVG"}


def test_update_plan_to_a_user_strategy(advanced_fit):
    """update_plan keeps the plan's user strategies (rbmi's update_strategy with strategies=)."""
    visit = check_imputable(advanced_fit)
    data = prepare(advanced_fit, visit, "group", "Control")
    plan = ice_plan(ice_of("AVG"), data, "Control", USER)
    table = ice_of("W75")
    updated = update_plan(plan, table[["id", "strategy"]], data, "Control")
    fresh = ice_plan(table, data, "Control", USER)
    assert (updated.labels == fresh.labels).all() and (updated.n_mar == fresh.n_mar).all()
    assert [s.label for s in updated.strategies] == ["MAR", "W75"]


def test_user_strategy_in_random_draws(advanced_fit):
    """impute_visits with a generator (approximate Bayes) draws from a user strategy's joint
    distribution: a function written as JR with one covariance gives the built-in JR's draws."""
    def jump(own, ref, index_mar):
        return np.where(index_mar, own.mu, ref.mu), own.sigma

    visit = check_imputable(advanced_fit)
    data = prepare(advanced_fit, visit, "group", "Control")
    ice = ice_of("AVG")
    plan = ice_plan(ice.replace({"AVG": "MYJR"}), data, "Control", {"MYJR": jump})
    builtin = ice_plan(ice.replace({"AVG": "JR"}), data, "Control")
    data = replace(data, n_mar=plan.n_mar)
    sigmas = covariance_matrices(advanced_fit.structures, advanced_fit.likelihood, advanced_fit.phi)
    draws = [impute_visits(data, p.strategies, advanced_fit.beta, sigmas, np.random.default_rng(3), p.codes)
             for p in (plan, builtin)]
    np.testing.assert_allclose(draws[0], draws[1], rtol=1e-12)
    assert not np.allclose(draws[0], impute_visits(data, plan.strategies, advanced_fit.beta, sigmas, None,
                                                   plan.codes))


def test_user_strategy_in_impute(advanced_fit):
    """impute(strategies=) and tipping_point(strategies=): a JR written as a function gives the
    built-in JR's imputations and pooled results (same seed)."""
    def jump(own, ref, index_mar):
        return np.where(index_mar, own.mu, ref.mu), own.sigma

    ice = ice_of("AVG")
    options = dict(reference="Control", arm="group", n_imputations=3, seed=5, analysis="ancova",
                   covariates=["outcome_bl"])
    mine = impute(advanced_fit, ice=ice.replace({"AVG": "MYJR"}), strategies={"MYJR": jump}, **options)
    builtin = impute(advanced_fit, ice=ice.replace({"AVG": "JR"}), **options)
    np.testing.assert_allclose(mine.imputed, builtin.imputed, rtol=1e-12)
    pd.testing.assert_frame_equal(mine.compare(), builtin.compare(), rtol=1e-12)
    tips = [tipping_point(advanced_fit, deltas=[0, 1], ice=i, **options, **extra).table
            for i, extra in ((ice.replace({"AVG": "MYJR"}), {"strategies": {"MYJR": jump}}),
                             (ice.replace({"AVG": "JR"}), {}))]
    pd.testing.assert_frame_equal(*tips, rtol=1e-12)


def _run(fit, strategies, ice=None):
    return condmean(fit, ice=ice_of("AVG") if ice is None else ice, reference="Control", arm="group",
                    covariates=["outcome_bl"], strategies=strategies)


@pytest.mark.parametrize("function, message", [
    (lambda own, ref, m: own.mu, "must return \\(mu, sigma\\)"),
    (lambda own, ref, m: (own.mu[:-1], own.sigma), "mean of shape \\(5,\\); it needs 6 values"),
    (lambda own, ref, m: (own.mu, own.sigma[:, :-1]), "covariance of shape \\(6, 5\\)"),
    (lambda own, ref, m: (own.mu, own.sigma + np.triu(np.ones((6, 6)), 1)), "not symmetric"),
    (lambda own, ref, m: (own.mu, -own.sigma), "not positive definite"),
    (lambda own, ref, m: (own.mu * np.nan, own.sigma), "non-finite values for subject"),
    (lambda own, ref, m: (own.mu, own.sigma * (1 + own.mu[0] ** 2)), "different covariances"),
])
def test_user_strategy_results_checked(advanced_fit, function, message):
    with pytest.raises(DataError, match=f"'BAD'.*{message}"):
        _run(advanced_fit, {"BAD": function}, ice_of("AVG").replace({"AVG": "BAD"}))


@pytest.mark.parametrize("strategies, message", [
    ({"JR": average}, "'JR' is built in"),
    ({"AVG": 3}, "'AVG' must be a function"),
    ({"": average}, "non-empty strings"),
    ([average], "must be a mapping"),
    (None, "strategy 'AVG' is unknown.*strategies="),
])
def test_bad_strategy_definitions(advanced_fit, strategies, message):
    with pytest.raises(DataError, match=message):
        _run(advanced_fit, strategies)


def test_user_strategy_needs_reference(advanced_fit):
    with pytest.raises(DataError, match="AVG needs reference="):
        condmean(advanced_fit, ice=ice_of("AVG"), arm="group", covariates=["outcome_bl"], strategies=USER)


def test_time_varying_covariate_needs_every_visit(rd):
    """A visit without a row: its status cannot be inferred from the subject's other visits."""
    post = rd.loc[(rd["ind_ice1"] == 1) & rd["change"].isna()].iloc[0]
    gap = rd.drop(index=post.name)
    before = gap.copy()
    fit = trialmlm.fit(MODELS["RD2"] + COV, gap)
    with pytest.raises(DataError, match=f"'ind_ice1' changes between the visits of subject .* time-varying.*"
                                        f"subject '{post['id']}' has none at visit = '{post['visit']}'"):
        condmean(fit, reference="Control", arm="group", covariates=["outcome_bl"])
    pd.testing.assert_frame_equal(gap, before)


def test_empty_cell_is_named(rd):
    """No observed post-discontinuation value of Control at visit 1: the RD2 model cannot estimate
    that cell (rbmi stops too: mmrm refuses the rank-deficient design); the cell is named."""
    assert REFS["empty_cell_error"] == "Fitting MMRM to original dataset failed"
    assert "rank 19" in REFS["mmrm_errors"]["empty_cell"]
    cell = (rd["group"] == "Control") & (rd["visit"] == "1") & (rd["ind_ice1"] == 1)
    empty = rd.assign(change=rd["change"].mask(cell))
    fit = trialmlm.fit(MODELS["RD2"] + COV, empty)
    assert fit.design.aliased
    with pytest.raises(DataError, match="no observed data to estimate the mean at group = 'Control', "
                                        "visit = '1', ind_ice1 = 1"):
        condmean(fit, reference="Control", arm="group", covariates=["outcome_bl"])
    # RD1 has one status parameter per arm: estimable without that cell
    fit = trialmlm.fit(MODELS["RD1"] + COV, empty)
    assert not fit.design.aliased
    condmean(fit, reference="Control", arm="group", covariates=["outcome_bl"])


def test_status_collinear_with_visit(rd, rd_results):
    """Everyone off treatment from visit 3 on: the status columns are aliased with the visit's, the
    means stay estimable, and RD2 is the basic MAR model."""
    fit = trialmlm.fit(MODELS["RD2"] + COV, rd.assign(ind_ice1=(rd["visit"].astype(int) >= 3).astype(int)))
    assert fit.design.aliased
    got = condmean(fit, reference="Control", arm="group", covariates=["outcome_bl"])
    np.testing.assert_allclose(got.completed, rd_results["basic_MAR"].completed, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.compare()["se"], rd_results["basic_MAR"].compare()["se"], rtol=1e-5)


def test_only_the_means_a_strategy_uses_must_be_estimable(rd_fits, rd):
    """JR for the Intervention discontinuations leaves their off-treatment values out of the RD2 fit,
    so Intervention x off-treatment cells are empty; JR imputes from Control there and runs, while
    AVG also uses the own arm's mean after the ICE and is refused with the cell named."""
    off = rd.loc[(rd["ind_ice1"] == 1) & (rd["group"] == "Intervention")]
    first = off.groupby("id", as_index=False).first()
    ice = first[["id", "visit"]].assign(strategy="JR")
    got = condmean(rd_fits["RD2"], ice=ice, reference="Control", arm="group", covariates=["outcome_bl"])
    assert got.ice_summary().set_index("strategy").loc["JR", "excluded"] > 0
    with pytest.raises(DataError, match="no observed data to estimate the mean at group = 'Intervention', "
                                        "visit = '.', ind_ice1 = 1.*AVG imputation"):
        condmean(rd_fits["RD2"], ice=ice.assign(strategy="AVG"), reference="Control", arm="group",
                 covariates=["outcome_bl"], strategies=USER)


def test_cell_of_one_subject_fails_in_the_jackknife(rd):
    """A cell observed in one subject only: the full-data model is estimable, but the jackknife
    refit without that subject is not (rbmi stops as well)."""
    cell = (rd["group"] == "Control") & (rd["visit"] == "1") & (rd["ind_ice1"] == 1) & rd["change"].notna()
    keep = rd.index[cell][0]
    errors = REFS["mmrm_errors"]
    assert errors["single_subject"] == rd.loc[keep, "id"] and errors["single_full_data"] == "no error"
    assert "rank 19" in errors["single_without_subject"]
    sparse = rd.assign(change=rd["change"].mask(cell & (rd.index != keep)))
    fit = trialmlm.fit(MODELS["RD2"] + COV, sparse)
    with pytest.raises(DataError, match=f"without subject '{rd.loc[keep, 'id']}' \\(jackknife\\) cannot be "
                                        "estimated"):
        condmean(fit, reference="Control", arm="group", covariates=["outcome_bl"])
