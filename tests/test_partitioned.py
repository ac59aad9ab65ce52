"""A fit from a Dask DataFrame or a Parquet dataset (:mod:`trialmlm.engine.partitioned`) is the fit of
the same rows as a pandas DataFrame.

Reference: the in-memory fit of the same data, itself validated against SAS and R mmrm in
test_reference_mmrm.py, test_sas_fev.py and test_inference_*.py; the partitioned path
adds the same sums in another order, so every number agrees to 1e-10 (relative).  The
partitions run on a Dask LocalCluster (threads, one worker), several partitionings each.
"""

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.engine import partitioned
from trialmlm.errors import DataError, FormulaError
from trialmlm.power import Covariate, LogisticDropout, TrialDesign

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

T = 4
DESIGN = TrialDesign(
    n_per_arm=40, visits=[f"Week {2 * j}" for j in range(1, T + 1)],
    means={"Placebo": np.zeros(T), "Low": -0.3 * np.arange(1, T + 1), "High": -0.5 * np.arange(1, T + 1)},
    covariance=("us", [4, 2, 5, 1.5, 2.5, 6, 1, 2, 3, 8]),
    dropout=LogisticDropout(intercept=-2.5, last=0.1),
    covariates={"BASE": Covariate(mean=20, sd=4, effect=0.3)})
FORMULA = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
RTOL = 1e-10


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    frame = DESIGN.simulate(7)
    rng = np.random.default_rng(7)
    frame["W"] = rng.uniform(0.5, 2.0, len(frame))
    frame.loc[frame.index[[3, 50]], "CHG"] = np.nan  # rows dropped alike
    return frame


def by_subject(frame: pd.DataFrame, n: int):
    """``n`` partitions of whole subjects (sorted by an integer subject key)."""
    key = pd.Series(pd.factorize(frame["USUBJID"], sort=True)[0], index=frame.index, name="key")
    return dd.from_pandas(frame.set_index(key), npartitions=n, sort=True)


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=RTOL, atol=1e-12)


def assert_same_fit(a, b):
    close(a.loglik, b.loglik)
    close(a.beta, b.beta)
    close(a.phi, b.phi)
    close(a.phi_cov, b.phi_cov)
    close(a.vcov, b.vcov)
    assert (a.n_obs, a.n_subjects, a.n_subjects_read, a.n_obs_dropped) == \
        (b.n_obs, b.n_subjects, b.n_subjects_read, b.n_obs_dropped)
    assert a.design.dropped_by_column == b.design.dropped_by_column
    assert a.coef_names == b.coef_names and a.aliased == b.aliased
    close([a.aic, a.aicc, a.bic, a.null_model_test.chisq], [b.aic, b.aicc, b.bic, b.null_model_test.chisq])
    kr = ("kenward-roger", "kenward-roger-linear") if a.method == "REML" else ()
    for ddf in ("satterthwaite", "residual", "between-within", "containment") + kr:
        close(a.coef_table(ddf=ddf), b.coef_table(ddf=ddf))
        close(a.compare("TRT01P", by="AVISIT", ddf=ddf).iloc[:, 3:],
              b.compare("TRT01P", by="AVISIT", ddf=ddf).iloc[:, 3:])
        for htype in (1, 2, 3, "joint"):
            close(a.anova(ddf=ddf, type=htype), b.anova(ddf=ddf, type=htype))
    for weights in ("equal", "proportional"):
        close(a.lsmeans("TRT01P", weights=weights).iloc[:, 1:],
              b.lsmeans("TRT01P", weights=weights).iloc[:, 1:])
    L = np.zeros((2, a.n_fixed))
    L[0, 2], L[1, 3] = 1.0, 1.0
    close(a.contrast(L, joint=True), b.contrast(L, joint=True))


@pytest.mark.parametrize("n", [1, 3, 8])
def test_dask_fit_equals_the_in_memory_fit(client, data, n):
    assert_same_fit(trialmlm.fit(FORMULA, by_subject(data, n)), trialmlm.fit(FORMULA, data))


def test_hash_partitioning_by_subject_and_ml_weights_groups(client, data):
    formula = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | TRT01P / USUBJID)"
    frame = dd.from_pandas(data, npartitions=5).shuffle(on="USUBJID", npartitions=4)
    a = trialmlm.fit(formula, frame, method="ML", weights="W")
    b = trialmlm.fit(formula, data, method="ML", weights="W")
    assert_same_fit(a, b)
    assert a.group_labels == b.group_labels


@pytest.mark.parametrize("covariance", [["us", "toeph"], "ar1h"])
def test_parquet_dataset_path(client, data, tmp_path, covariance):
    by_subject(data, 3).to_parquet(tmp_path / "trial")
    fit = trialmlm.fit(FORMULA, str(tmp_path / "trial"), covariance=covariance, ddf="kenward-roger")
    assert_same_fit(fit, trialmlm.fit(FORMULA, data, covariance=covariance, ddf="kenward-roger"))


@pytest.mark.filterwarnings("ignore:.*not estimable:trialmlm.errors.DataWarning")  # the empty cell's
def test_empty_cell_is_aliased_alike(client, data):
    frame = data[~((data["TRT01P"] == "High") & (data["AVISIT"] == "Week 8"))]
    a, b = trialmlm.fit(FORMULA, by_subject(frame, 4)), trialmlm.fit(FORMULA, frame)
    assert "TRT01P[T.High]:AVISIT[T.Week 8]" in a.aliased
    assert_same_fit(a, b)
    close(a.design.null_space @ a.design.null_space.T, b.design.null_space @ b.design.null_space.T)


@pytest.fixture
def no_reduction(monkeypatch):
    """Fail if any partition is reduced: bad input must be refused before."""
    def forbidden(*args):
        raise AssertionError("a partition was reduced")
    monkeypatch.setattr(partitioned, "_reduce", forbidden)


def test_missing_column_is_a_data_error(client, data, no_reduction):
    with pytest.raises(DataError, match="column 'BASELINE' .* is not a column of the partitioned data"):
        trialmlm.fit(FORMULA.replace("BASE", "BASELINE"), by_subject(data, 3))


def test_subject_spread_over_partitions(client, data, no_reduction):
    ordered = data.sort_values(["USUBJID", "AVISIT"], kind="stable")
    cut = int(np.flatnonzero(ordered["USUBJID"].to_numpy() == ordered["USUBJID"].iloc[100])[0]) + 1
    frame = dd.concat([dd.from_pandas(ordered.iloc[:50], npartitions=1),
                       dd.from_pandas(ordered.iloc[50:cut], npartitions=1),
                       dd.from_pandas(ordered.iloc[cut:], npartitions=1)])
    subject = ordered["USUBJID"].iloc[100]
    with pytest.raises(DataError, match=f"subject '{subject}' has rows in partitions 1 and 2; .*repartition"):
        trialmlm.fit(FORMULA, frame)


def test_level_of_a_late_partition_outside_the_frozen_encoding(client, data, no_reduction):
    first = trialmlm.fit(FORMULA, data[data["TRT01P"] != "High"])
    frame = by_subject(data, 3)  # the High arm's subjects (SIM-081 to SIM-120) fill the last partition
    with pytest.raises(DataError, match="level 'High' of column 'TRT01P' in partition 2 is not in the froz"):
        trialmlm.fit(FORMULA, frame, encoding=first.design.encoding)


def test_duplicate_visit_and_transform(client, data):
    with pytest.raises(FormulaError, match="transform"):
        trialmlm.fit("CHG ~ np.exp(BASE) + TRT01P * AVISIT + us(AVISIT | USUBJID)", by_subject(data, 2))
    doubled = pd.concat([data, data.iloc[:1]]).sort_values("USUBJID", kind="stable")
    with pytest.raises(DataError, match="has more than one row at AVISIT"):
        trialmlm.fit(FORMULA, by_subject(doubled, 2))


@pytest.mark.parametrize("kind", ["empirical", "empirical-bias-reduced", "empirical-jackknife"])
def test_sandwich_by_a_second_pass(client, data, kind):
    formula = "CHG ~ BASE + TRT01P * AVISIT + toeph(AVISIT | USUBJID)"
    a = trialmlm.fit(formula, by_subject(data, 3), vcov=kind, weights="W")
    b = trialmlm.fit(formula, data, vcov=kind, weights="W")
    close(a.vcov, b.vcov)
    for ddf in ("between-within", "residual"):
        close(a.compare("TRT01P", by="AVISIT", ddf=ddf).iloc[:, 3:],
              b.compare("TRT01P", by="AVISIT", ddf=ddf).iloc[:, 3:])


def test_what_needs_the_rows_is_refused(client, data):
    with pytest.raises(DataError, match="Bell & McCaffrey"):
        trialmlm.fit(FORMULA, by_subject(data, 2), vcov="empirical", ddf="satterthwaite")
    fit = trialmlm.fit(FORMULA, by_subject(data, 2))
    with pytest.raises(DataError, match="needs the data rows"):
        fit.residuals()


def test_fit_from_partitions_pickles(client, data):
    import pickle

    fit = pickle.loads(pickle.dumps(trialmlm.fit(FORMULA, by_subject(data, 2), vcov="empirical")))
    close(fit.vcov, trialmlm.fit(FORMULA, data, vcov="empirical").vcov)
