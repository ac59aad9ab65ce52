"""Approximate-Bayesian multiple imputation with the ICE table and the per-visit ANCOVA, against R rbmi.

Reference values: ``tests/reference/approxbayes_refs.json`` and ``approxbayes_completed.csv`` from
``make_approxbayes_refs.R`` (R 4.2.2, rbmi 1.5.2, mmrm 0.3.18) on rbmi's antidepressant data
(``antidepressant.csv`` of ``make_condmean_refs.R``):

* ``bootstrap``: five ``method_approxbayes`` draws on the "early" ICE table (observed values after
  non-MAR ICEs left out of the fit) with their bootstrap subject ids (rbmi's ``get_draws_mle(...,
  use_samp_ids = TRUE)``), mmrm run to convergence: fitted means and covariance of each draw;
* ``ancova``: rbmi's ``ancova`` on a fixed completed data set with weights counterfactual, equal,
  proportional_em and covariates ``BASVAL + GENDER``, ``BASVAL * GENDER``;
* ``distribution``: ``draws(method_approxbayes(n_samples = 500))`` with the quickstart's ICE table
  (JR), ``impute``, ``analyse(ancova)``, ``pool`` -- pooled results and the 500 per-imputation
  ANCOVA results.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError, DataWarning
from trialmlm.estimands import condmean, delta_template, impute, tipping_point
from trialmlm.estimands.ice import fit_without_excluded, ice_plan
from trialmlm.estimands.imputation import prepare, refit_model, refit_sample
from trialmlm.estimands.rubin import pool
from trialmlm.estimands.visit_ancova import VisitAncova

REF = Path(__file__).parent / "reference"
REFS = json.loads((REF / "approxbayes_refs.json").read_text())
JR = pd.DataFrame(REFS["distribution"]["ice"])


@pytest.fixture(scope="module")
def fitted(antidepressant_fit):
    return antidepressant_fit


def rbmi_parameter(row: pd.Series, kind: str) -> str:
    """rbmi's names: trt_<visit> is PLACEBO - DRUG, lsm_ref_<visit> DRUG, lsm_alt_<visit> PLACEBO."""
    if kind == "trt":
        return f"trt_{row['VISIT']}"
    return f"lsm_{'ref' if row['THERAPY'] == 'DRUG' else 'alt'}_{row['VISIT']}"


# -- deterministic ---------------------------------------------------------------------------
def test_bootstrap_refits_match_rbmi(fitted):
    """Our refit on rbmi's bootstrap samples gives rbmi's fitted means and covariance (1e-6)."""
    boot = REFS["bootstrap"]
    data = prepare(fitted, "VISIT", "THERAPY", "PLACEBO")
    plan = ice_plan(pd.DataFrame(boot["ice"]), data, "PLACEBO")
    assert plan.excluded.sum() > 0
    imputation_fit, data = fit_without_excluded(fitted, data, plan, "THERAPY", "PLACEBO")
    model = refit_model(imputation_fit)
    k = len(data.visits)
    rows = pd.MultiIndex.from_arrays([np.repeat(data.subjects, k), np.tile(data.visits, len(data.subjects))])
    order = rows.get_indexer(pd.MultiIndex.from_arrays([boot["PATIENT"], boot["VISIT"]]))
    labels = pd.Index(model.design.subject_labels.astype(str))
    for sample in boot["samples"]:
        codes = labels.get_indexer(sample["ids"])
        beta, sigmas, converged = refit_sample(imputation_fit, model, codes[codes >= 0])
        assert converged
        np.testing.assert_allclose((data.X_own @ beta)[order], sample["mu"], rtol=1e-6)
        np.testing.assert_allclose(sigmas[0], np.array(sample["sigma"]), rtol=1e-6)


@pytest.mark.parametrize("run", REFS["ancova"], ids=lambda r: f"{r['covariates']}-{r['weights']}")
def test_ancova_matches_rbmi(run):
    """LS means and the treatment difference with SE and residual df (1e-8) for every weighting."""
    completed = pd.read_csv(REF / "approxbayes_completed.csv", dtype={"PATIENT": str, "VISIT": str})
    fit = trialmlm.fit("CHANGE ~ THERAPY*VISIT + BASVAL*VISIT + GENDER + us(VISIT | PATIENT)", completed)
    data = prepare(fit, "VISIT", "THERAPY", "DRUG")
    ancova = VisitAncova(data, [run["covariates"]], data.y, run["weights"], "DRUG")
    stats, converged = ancova(data.y)
    ref = {p: (e, s, d) for p, e, s, d in zip(run["parameter"], run["est"], run["se"], run["df"])}
    labels = [*(rbmi_parameter(r, "lsm") for _, r in ancova.lsmeans_labels.iterrows()),
              *(rbmi_parameter(r, "trt") for _, r in ancova.compare_labels.iterrows())]
    assert sorted(labels) == sorted(ref) and converged
    expected = np.array([ref[p] for p in labels]).T
    np.testing.assert_allclose(stats[0], expected[0], rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(stats[1]), expected[1], rtol=1e-8)
    np.testing.assert_array_equal(stats[2], expected[2])


def test_rubin_pooling_matches_rbmi_pool():
    """Rubin's rules with Barnard-Rubin df on rbmi's 500 per-imputation ANCOVA results (1e-8)."""
    dist = REFS["distribution"]
    for ref in dist["pooled"]:
        each = dist["per_imputation"][ref["parameter"]]
        got = pool(np.array(each["est"])[:, None], np.array(each["se"])[:, None] ** 2,
                   np.array(each["df"])[:, None]).iloc[0]
        np.testing.assert_allclose([got["estimate"], got["se"], got["lower"], got["upper"], got["p"]],
                                   [ref[k] for k in ("est", "se", "lci", "uci", "pval")], rtol=1e-8)


def test_ancova_weights_and_errors(fitted):
    """Equal weights with one numeric covariate are the counterfactual ones; bad options are named."""
    data = prepare(fitted, "VISIT", "THERAPY", "PLACEBO")
    completed = np.nan_to_num(data.y)
    cf = VisitAncova(data, ["BASVAL"], completed)(completed)[0]
    eq = VisitAncova(data, ["BASVAL"], completed, "equal")(completed)[0]
    np.testing.assert_allclose(cf, eq, rtol=1e-12)
    with pytest.raises(DataError, match="weights must be one of"):
        VisitAncova(data, ["BASVAL"], completed, "om")
    with pytest.raises(DataError, match="'AGE' are not variables"):
        VisitAncova(data, ["AGE"], completed)
    with pytest.raises(DataError, match="visit 'VISIT' cannot be an ANCOVA covariate"):
        VisitAncova(data, ["VISIT"], completed)


# -- in distribution --------------------------------------------------------------------------
def test_distribution_matches_rbmi(fitted):
    """M = 500 with the quickstart's JR ICE table and rbmi's ANCOVA: pooled estimates within 0.1 SE
    of rbmi's and SEs within 5 % (rbmi: set.seed(2718), n_samples = 500)."""
    mi = impute(fitted, ice=JR, reference="PLACEBO", analysis="ancova", covariates=["BASVAL"],
                n_imputations=500, seed=2718, workers=2)
    pooled = {p["parameter"]: p for p in REFS["distribution"]["pooled"]}
    rows = [(rbmi_parameter(r, "trt"), -1.0, r) for _, r in mi.compare().iterrows()]  # DRUG - PLACEBO
    rows += [(rbmi_parameter(r, "lsm"), 1.0, r) for _, r in mi.lsmeans().iterrows()]
    assert len(rows) == len(pooled) == 12
    for name, sign, row in rows:
        ref = pooled[name]
        assert abs(sign * row["estimate"] - ref["est"]) < 0.1 * ref["se"], name
        assert abs(row["se"] / ref["se"] - 1) < 0.05, name


# -- ICE table, update_strategy, delta tables, tipping point -----------------------------------
@pytest.fixture(scope="module")
def jr(fitted):
    return impute(fitted, ice=JR, reference="PLACEBO", analysis="ancova", n_imputations=6, seed=5)


def test_subjects_without_a_row_follow_method(fitted, jr):
    """method= gives each subject without a row an ICE after its last observation: the quickstart's
    ICE table is exactly that for JR, so both runs impute the same values."""
    by_method = impute(fitted, method="jump_to_reference", reference="PLACEBO", analysis="ancova",
                       n_imputations=6, seed=5)
    np.testing.assert_array_equal(by_method.imputed, jr.imputed)
    summary = jr.ice_summary().set_index(["THERAPY", "strategy"])
    assert summary.loc[("DRUG", "JR"), "with_ice"] == (JR["strategy"] == "JR").sum() - \
        summary.loc[("PLACEBO", "JR"), "with_ice"]
    assert jr.analysis_model == "ancova" and jr.covariates == ("BASVAL",) and jr.weights == "counterfactual"


def test_update_strategy_reuses_the_draws(fitted, jr):
    """update_strategy re-imputes with the stored draws and streams: the same as a new run with the
    updated table and seed, unchanged subjects keep their values."""
    update = JR.assign(strategy=np.where(np.arange(len(JR)) % 2 == 0, "CIR", "JR"))
    updated = jr.update_strategy(update[["PATIENT", "strategy"]])
    fresh = impute(fitted, ice=update, reference="PLACEBO", analysis="ancova", n_imputations=6, seed=5)
    np.testing.assert_allclose(updated.imputed, fresh.imputed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(updated.estimates, fresh.estimates, rtol=1e-12, atol=1e-12)
    changed = np.isin(jr.data.subjects, update.loc[update["strategy"] == "CIR", "PATIENT"])
    np.testing.assert_array_equal(updated.imputed[:, ~changed], jr.imputed[:, ~changed])
    assert not np.allclose(updated.imputed[:, changed], jr.imputed[:, changed])
    assert all(a[0] is b[0] for a, b in zip(updated.draws, jr.draws))
    with pytest.raises(DataError, match="has no row in the ICE table"):
        jr.update_strategy(pd.DataFrame({"PATIENT": ["3618"], "strategy": ["JR"]}))


def test_non_mar_ice_leaves_post_ice_values_out(fitted):
    """An ICE before observed values: with JR they are left out of the imputation model (refit) and
    the imputations are conditioned on them; with MAR they are used."""
    subject = JR["PATIENT"].iloc[0]
    early = pd.DataFrame({"PATIENT": [subject], "VISIT": ["4"], "strategy": ["JR"]})
    mi = impute(fitted, ice=early, reference="PLACEBO", n_imputations=2, seed=1, analysis="ancova")
    assert mi.plan.excluded.sum() == (~np.isnan(mi.data.y[mi.data.subjects == subject])).sum()
    assert mi.ice_summary()["excluded"].sum() == mi.plan.excluded.sum()
    observed = mi.data.observed
    np.testing.assert_array_equal(mi.imputed[:, observed], np.broadcast_to(mi.data.y[observed],
                                                                           (2, observed.sum())))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        mar = impute(fitted, ice=early.assign(strategy="MAR"), n_imputations=2, seed=1, analysis="ancova")
    assert mar.plan.excluded.sum() == 0


def test_delta_table_and_number_agree(fitted, jr):
    """A delta table of 2 on DRUG's missing values after the ICE equals delta=2, delta_arms=['DRUG']."""
    template = delta_template(jr)
    template["delta"] = np.where(template["is_missing"] & template["is_post_ice"]
                                 & (template["THERAPY"] == "DRUG"), 2.0, 0.0)
    by_table = impute(fitted, ice=JR, reference="PLACEBO", analysis="ancova", n_imputations=6, seed=5,
                      delta=template)
    by_number = impute(fitted, ice=JR, reference="PLACEBO", analysis="ancova", n_imputations=6, seed=5,
                       delta=2.0, delta_arms=["DRUG"])
    np.testing.assert_array_equal(by_table.imputed, by_number.imputed)
    expected = np.broadcast_to(by_table.shift, jr.imputed.shape)
    np.testing.assert_allclose(by_table.imputed - jr.imputed, expected, atol=1e-12)
    assert by_table.shift.max() == 2.0 and not by_table.shift[jr.data.observed].any()


def test_tipping_point_on_the_ice_table(fitted):
    """Each delta of the grid is the pooled result of impute(delta=) with the same seed."""
    tp = tipping_point(fitted, [0.0, 3.0], arms=["DRUG"], reference="PLACEBO", ice=JR, analysis="ancova",
                       n_imputations=4, seed=8)
    for d in (0.0, 3.0):
        mi = impute(fitted, ice=JR, reference="PLACEBO", analysis="ancova", n_imputations=4, seed=8,
                    delta=d, delta_arms=["DRUG"])
        last = mi.compare().iloc[[-1]].reset_index(drop=True)
        row = tp.table.loc[tp.table["delta"] == d].reset_index(drop=True)
        pd.testing.assert_frame_equal(row[last.columns[3:]], last[last.columns[3:]], rtol=1e-12)


def test_impute_errors(fitted, jr):
    with pytest.raises(DataError, match="analysis must be one of"):
        impute(fitted, analysis="anova")
    with pytest.raises(DataError, match="weights must be one of"):
        impute(fitted, analysis="ancova", weights="om", n_imputations=2)
    with pytest.raises(DataError, match="options of analysis='ancova'"):
        impute(fitted, weights="equal", n_imputations=2)
    with pytest.raises(DataError, match="options of analysis='ancova'"):
        impute(fitted, covariates=["BASVAL"], n_imputations=2)
    with pytest.raises(DataError, match="'AGE' are not variables"):
        impute(fitted, analysis="ancova", covariates=["AGE"], n_imputations=2)
    with pytest.raises(DataError, match="delta_arms= applies to a numeric delta"):
        impute(fitted, delta=delta_template(jr), delta_arms=["DRUG"], n_imputations=2)
    with pytest.raises(DataError, match="ICE table: subject 'XX' is not in the data"):
        impute(fitted, ice=pd.DataFrame({"PATIENT": ["XX"], "VISIT": ["5"], "strategy": ["JR"]}),
               reference="PLACEBO", n_imputations=2)
    with pytest.raises(DataError, match="ICE strategy JR needs reference="):
        impute(fitted, ice=JR, n_imputations=2)
    with pytest.raises(DataError, match="per-visit ANCOVA .* by visit only"):
        jr.lsmeans("THERAPY")
    with pytest.raises(DataError, match="weights must be one of"):
        condmean(fitted, ice=JR, reference="PLACEBO", weights="om")
