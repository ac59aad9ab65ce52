"""The estimand pipeline (:mod:`trialmlm.estimands.pipeline`): rbmi's four verbs give the numbers
of the shortcuts bit for bit on the same seeds (the shortcuts are checked against R rbmi in
test_missing_condmean.py, test_missing_bootstrap.py and test_missing_approxbayes.py)."""

import itertools

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError
from trialmlm.estimands import bmlmi, condmean, impute, tipping_point
from trialmlm.estimands.methods import METHODS, method
from trialmlm.estimands.pipeline import BMLMI, Ancova, ApproxBayes, CondMean, ImputationModel, Mmrm


@pytest.fixture(scope="module")
def demo_fit(demo_trial):
    return trialmlm.fit("CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)", demo_trial)


@pytest.fixture(scope="module")
def jr(demo_fit):
    """Subjects without an ICE row jump to reference after dropout (as impute(method='jump_to_reference'))."""
    return ImputationModel(demo_fit, arm="TRT", reference="CTRL", default_strategy="jump_to_reference")


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_approx_bayes_is_impute(demo_fit, jr):
    short = impute(demo_fit, method="jump_to_reference", n_imputations=3, reference="CTRL", arm="TRT",
                   seed=11, analysis="ancova", delta=1.5, progress=False)
    piped = jr.draws(ApproxBayes(3), seed=11, progress=False).impute().analyse(Ancova(), delta=1.5).pool()
    assert np.array_equal(short.estimates, piped.estimates) and np.array_equal(short.imputed, piped.imputed)
    same(short.compare(), piped.compare())
    same(short.lsmeans(), piped.lsmeans())


def test_approx_bayes_mmrm_analysis_and_update(demo_fit, jr):
    short = impute(demo_fit, method="jump_to_reference", n_imputations=2, reference="CTRL", seed=3,
                   progress=False)
    piped = jr.draws(ApproxBayes(2), seed=3, progress=False).impute(references="CTRL").analyse(Mmrm()).pool()
    same(short.compare(), piped.compare())
    dropouts = short.data.subjects[pd.notna(short.plan.ice_visit)]
    table = pd.DataFrame({"USUBJID": dropouts[:3], "strategy": "MAR"})  # three dropouts become MAR
    draws = jr.draws(ApproxBayes(2), seed=3, progress=False)
    updated = draws.impute(update_strategy=table).analyse(Mmrm()).pool()
    assert not short.compare().equals(updated.compare())
    same(short.update_strategy(table, progress=False).compare(), updated.compare())


@pytest.mark.parametrize("kind", ["jackknife", "bootstrap"])
def test_condmean_is_the_pipeline(demo_fit, kind):
    n, seed = (None, None) if kind == "jackknife" else (3, 5)
    short = condmean(demo_fit, arm="TRT", reference="CTRL", type=kind, n_samples=n, seed=seed, progress=False)
    model = ImputationModel(demo_fit, arm="TRT", reference="CTRL")
    piped = model.draws(CondMean(kind, n), seed=seed, progress=False).impute().analyse().pool()
    assert np.array_equal(short.estimates, piped.estimates)
    assert np.array_equal(short.replicates, piped.replicates)
    same(short.compare(), piped.compare())


def test_bmlmi_is_the_pipeline(demo_fit):
    short = bmlmi(demo_fit, arm="TRT", reference="CTRL", B=3, D=2, seed=9, progress=False)
    model = ImputationModel(demo_fit, arm="TRT", reference="CTRL")
    piped = model.draws(BMLMI(3, 2), seed=9, progress=False).impute().analyse(Ancova()).pool()
    assert np.array_equal(short.estimates, piped.estimates)
    same(short.lsmeans(), piped.lsmeans())


def test_numeric_delta_for_condmean_is_the_table_it_stands_for(demo_fit):
    """delta=2 on the missing visits after the ICE of the non-reference arm == that delta table."""
    model = ImputationModel(demo_fit, arm="TRT", reference="CTRL")
    frame = trialmlm.estimands.delta_template(demo_fit, reference="CTRL", arm="TRT")
    on = frame["is_missing"] & frame["is_post_ice"] & (frame["TRT"] != "CTRL")
    frame["delta"] = np.where(on, 2.0, 0.0)
    short = condmean(demo_fit, arm="TRT", reference="CTRL", delta=frame, progress=False)
    piped = model.draws(CondMean()).impute().analyse(delta=2.0).pool()
    same(short.compare(), piped.compare())


def test_tipping_point_is_analyse_over_deltas(demo_fit, jr):
    short = tipping_point(demo_fit, deltas=[0, 1, 2], method="jump_to_reference", n_imputations=2,
                          reference="CTRL", arm="TRT", seed=4, progress=False)
    piped = jr.draws(ApproxBayes(2), seed=4, progress=False).impute().tipping_point(Mmrm(), deltas=[0, 1, 2])
    same(short.table, piped.table)


def test_methods_are_values_in_one_registry():
    assert set(METHODS) == {"approxbayes", "condmean", "bmlmi"}
    assert method("bmlmi", 4, 3) == BMLMI(4, 3) and BMLMI(4, 3).n_samples == 4
    assert CondMean("bootstrap", 5).n_samples == ApproxBayes(5).n_samples == 5
    with pytest.raises(DataError, match="n_samples must be an integer of at least 2"):
        ApproxBayes(1)
    with pytest.raises(DataError, match="type must be one of"):
        CondMean("bca")
    with pytest.raises(DataError, match="imputation method must be one of"):
        method("bayes")


def test_misplaced_values_are_named(demo_fit):
    model = ImputationModel(demo_fit, arm="TRT", reference="CTRL")
    with pytest.raises(DataError, match="analysis must be Ancova"):
        model.draws(CondMean()).impute().analyse("ancova")
    with pytest.raises(DataError, match="differs from the model's reference"):
        model.draws(CondMean()).impute(references="ACT")
    with pytest.raises(DataError, match="method must be one of"):
        model.draws("condmean")


def test_every_result_answers_the_same_keywords(demo_fit, jr):
    """pooling= and completed_data(m=0) on every result kind; a pooling the method lacks is named."""
    mi = jr.draws(ApproxBayes(2), seed=1, progress=False).impute().analyse(Ancova()).pool()
    cm = ImputationModel(demo_fit, arm="TRT", reference="CTRL").draws(CondMean()).impute().analyse().pool()
    for result in (mi, cm):
        same(result.compare(pooling=None), result.compare())
        assert result.completed_data().shape == result.completed_data(0).shape
    with pytest.raises(DataError, match="pooled by Rubin's rules"):
        mi.compare(pooling="normal")
    with pytest.raises(DataError, match="one completed data set"):
        cm.completed_data(1)


# -- Mmrm() under the maximum-likelihood methods --------------------------------------------------------
@pytest.fixture(scope="module")
def full_fit(demo_trial):
    """Own coefficients at every visit: conditional mean imputation reproduces the MMRM (EM fixed point)."""
    return trialmlm.fit("CHG ~ BASE * AVISIT + TRT * AVISIT + us(AVISIT | USUBJID)", demo_trial)


@pytest.mark.parametrize("kind", ["jackknife", "bootstrap"])
def test_condmean_mmrm_reproduces_the_fit(full_fit, kind):
    """No ICE, MAR: the MMRM refitted to the conditional-mean completed data gives the fit's own
    LS-mean differences (to 1e-6)."""
    n, seed = (None, None) if kind == "jackknife" else (3, 2)
    model = ImputationModel(full_fit, arm="TRT", reference="CTRL")
    result = model.draws(CondMean(kind, n), seed=seed, progress=False).impute().analyse(Mmrm()).pool()
    own = full_fit.compare("TRT", by="AVISIT", reference="CTRL")
    np.testing.assert_allclose(result.compare()["estimate"], own["estimate"], rtol=1e-6, atol=1e-8)
    pooling = None if kind == "jackknife" else "normal"
    assert result.covariates == () and np.isfinite(result.compare(pooling=pooling)["se"]).all()
    again = model.draws(CondMean(kind, n), seed=seed, progress=False).impute().analyse(Mmrm()).pool()
    assert np.array_equal(result.replicates, again.replicates)


def test_bmlmi_mmrm_is_reproducible_and_near_the_fit(full_fit):
    model = ImputationModel(full_fit, arm="TRT", reference="CTRL")
    first = model.draws(BMLMI(3, 2), seed=8, progress=False).impute().analyse(Mmrm()).pool()
    second = model.draws(BMLMI(3, 2), seed=8, progress=False).impute().analyse(Mmrm()).pool()
    assert np.array_equal(first.estimates, second.estimates)
    own = full_fit.compare("TRT", by="AVISIT", reference="CTRL")
    table = first.compare()
    assert (np.abs(table["estimate"] - own["estimate"]) < 3 * own["se"]).all()


# -- a user function as the analysis ---------------------------------------------------------------------
def mean_difference(completed: pd.DataFrame) -> pd.DataFrame:
    """ACT minus CTRL mean of the completed response at each visit, Welch SE, df n1 + n2 - 2."""
    g = completed.groupby(["AVISIT", "TRT"], observed=True)["CHG"]
    mean, var, n = g.mean().unstack(), g.var().unstack(), g.size().unstack()
    return pd.DataFrame({"parameter": [f"diff {v}" for v in mean.index],
                         "estimate": (mean["ACT"] - mean["CTRL"]).to_numpy(),
                         "se": np.sqrt(var["ACT"] / n["ACT"] + var["CTRL"] / n["CTRL"]).to_numpy(),
                         "df": (n["ACT"] + n["CTRL"] - 2).to_numpy()})


def direct_difference(completed: pd.DataFrame) -> np.ndarray:
    y = completed.pivot(index="USUBJID", columns="AVISIT", values="CHG")
    arm = completed.groupby("USUBJID")["TRT"].first().reindex(y.index).to_numpy()
    return y.to_numpy()[arm == "ACT"].mean(axis=0) - y.to_numpy()[arm == "CTRL"].mean(axis=0)


def test_function_analysis_under_rubins_rules(demo_fit, jr):
    result = jr.draws(ApproxBayes(3), seed=5, progress=False).impute().analyse(mean_difference).pool()
    direct = np.mean([direct_difference(result.completed_data(m)) for m in range(3)], axis=0)
    table = result.table()
    assert list(table["parameter"]) == [f"diff V{k}" for k in range(1, 6)] and "fmi" in table
    np.testing.assert_allclose(table["estimate"], direct, rtol=1e-12)
    same(result.pooled, table)
    with pytest.raises(DataError, match="user-function analysis gives its own parameters only"):
        result.compare()


def test_function_analysis_under_the_jackknife_and_bmlmi(demo_fit):
    model = ImputationModel(demo_fit, arm="TRT", reference="CTRL")
    cm = model.draws(CondMean()).impute().analyse(mean_difference).pool()
    np.testing.assert_allclose(cm.table()["estimate"], direct_difference(cm.completed_data()), rtol=1e-12)
    assert np.isinf(cm.table()["df"]).all()
    bm = model.draws(BMLMI(2, 2), seed=3, progress=False).impute().analyse(mean_difference).pool()
    assert bm.table()["estimate"].notna().all()
    with pytest.raises(DataError, match="use pooled or table"):
        cm.lsmeans()
    with pytest.raises(DataError, match="use lsmeans\\(\\) or compare\\(\\)"):
        model.draws(CondMean()).impute().analyse().pool().table()


CALLS = itertools.count()


@pytest.mark.parametrize("fun, message", [
    (lambda d: mean_difference(d).drop(columns="se"), "lacks column\\(s\\) 'se'"),
    (lambda d: mean_difference(d).assign(estimate=np.nan), "non-finite value for parameter 'diff V1'"),
    (lambda d: mean_difference(d).iloc[: 5 - (next(CALLS) > 0)], "must be the same"),  # one fewer later
    (lambda d: mean_difference(d).to_numpy(), "must return a DataFrame"),
])
def test_bad_function_outputs_are_named(jr, fun, message):
    with pytest.raises(DataError, match=message):
        jr.draws(ApproxBayes(3), seed=5, progress=False).impute().analyse(fun).pool()
