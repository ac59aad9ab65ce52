"""MCAR diagnostics: dropout model, Little's test, completers-vs-dropouts trajectories.

Reference values come from tests/reference/make_mcar_refs.R (R 4.2.2): ``glm(family =
binomial)`` on person-visit tables built in R from the raw long data, and Little's d2
from lavaan 0.6-14's EM estimates (checked there against an independent EM).  Anderson's
(1957) closed form checks the EM for monotone two-visit data; the person-visit table and
the cohort table are also checked by hand on small data.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialmlm import DataError
from trialmlm.errors import DataWarning
from trialmlm.missing import completers_vs_dropouts, dropout_model, little_mcar_test
from trialmlm.missing.dropout_model import person_visit_table
from trialmlm.missing.mcar import em_mvnorm

REFERENCE = Path(__file__).parent / "reference"
REFS = json.loads((REFERENCE / "mcar_refs.json").read_text())
KEYS = ["USUBJID", "AVISIT", "CHG"]


@pytest.fixture(scope="module")
def mcar_trial() -> pd.DataFrame:
    """make_mcar_refs.R: 3 unbalanced arms, MAR dropout, gaps, absent rows after dropout."""
    return pd.read_csv(REFERENCE / "mcar_trial.csv")


def _data(name: str) -> pd.DataFrame:
    if name == "mcar":
        return pd.read_csv(REFERENCE / "mcar_trial.csv")
    if name == "mcar_no_w2":  # subjects last observed at W1 (the W2 dropouts) left out
        d = pd.read_csv(REFERENCE / "mcar_trial.csv")
        pos = d["AVISIT"].map({"W1": 1, "W2": 2, "W4": 3, "W8": 4, "W12": 5})
        last = pos.where(d["CHG"].notna()).groupby(d["USUBJID"]).max()
        return d[~d["USUBJID"].isin(last.index[last == 1])]
    return pd.read_csv(REFERENCE / f"{name}.csv")


# --- dropout model -------------------------------------------------------------------------
GLM_CASES = {
    "mcar_full": ("mcar", {"arm": "TRT", "baseline": "BASE", "covariates": ("SEX",)}),
    "mcar_no_w2_dropout": ("mcar_no_w2", {"arm": "TRT"}),
    "mcar_minimal": ("mcar", {}),
    "trial3_arm_base": ("trial3", {"arm": "TRT", "baseline": "BASE"}),
    "demo_arm": ("demo_trial", {"arm": "TRT"}),
}


def _fit(case):
    data, kw = GLM_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return dropout_model(_data(data), *KEYS, **kw)


@pytest.mark.parametrize("case", list(GLM_CASES))
def test_dropout_model_matches_r_glm(case):
    ref = REFS["dropout_model"][case]
    res = _fit(case)
    coef = res.coefficients
    assert list(coef.index) == ref["terms"]
    for col in ["estimate", "se", "z", "lower", "upper"]:
        np.testing.assert_allclose(coef[col], ref[col], rtol=1e-6, atol=1e-12, err_msg=col)
    np.testing.assert_allclose(coef["p"], ref["p"], rtol=1e-6)
    # R's reported SEs use the IRLS weights of its last iteration; at the final fitted values
    np.testing.assert_allclose(coef["se"], ref["se_final_weights"], rtol=1e-9)
    np.testing.assert_allclose(coef["estimate"], ref["estimate"], rtol=1e-9, atol=1e-12)
    assert res.loglik == pytest.approx(ref["loglik"], rel=1e-10)
    assert res.loglik_reduced == pytest.approx(ref["loglik_reduced"], rel=1e-10)
    lr = res.lr_test.iloc[0]
    assert lr["statistic"] == pytest.approx(ref["lr_statistic"], rel=1e-6)
    assert lr["p"] == pytest.approx(ref["lr_p"], rel=1e-6)
    assert lr["df"] == ref["lr_df"] == 1
    assert len(res.data) == ref["n_rows"] and res.data["dropout"].sum() == ref["n_dropout"]
    left_out = res.n_at_risk.loc[~res.n_at_risk["used"], "AVISIT"].tolist()
    assert left_out == ref["left_out_visits"]


@pytest.mark.parametrize("case", list(GLM_CASES))
def test_person_visit_table_matches_r(case):
    """Rows, last responses and outcomes equal those of the table built in R."""
    r = pd.read_csv(REFERENCE / "mcar_dropout_data.csv")
    r = r[r["case"] == case].drop(columns="case")
    mine = _fit(case).data
    mine = mine.assign(AVISIT=mine["AVISIT"].astype(str))[["USUBJID", "AVISIT", "last_response", "dropout"]]
    merged = r.merge(mine, on=["USUBJID", "AVISIT"], how="outer", suffixes=("_r", ""), indicator=True)
    assert (merged["_merge"] == "both").all()
    np.testing.assert_array_equal(merged["dropout"], merged["dropout_r"])
    np.testing.assert_array_equal(merged["last_response"], merged["last_response_r"])


def test_visit_without_dropout_is_left_out_with_a_warning():
    with pytest.warns(DataWarning, match="W2"):
        res = dropout_model(_data("mcar_no_w2"), *KEYS, arm="TRT")
    risk = res.n_at_risk.set_index("AVISIT")
    assert not risk.loc["W2", "used"] and risk.loc["W2", "n_dropout"] == 0
    assert "W2" not in set(res.data["AVISIT"])


VISITS = ["V1", "V2", "V3", "V4"]


def _long(values: dict, arms: dict | None = None, absent=()) -> pd.DataFrame:
    rows = []
    for s, ys in values.items():
        for v, y in zip(VISITS, ys):
            if (s, v) in absent:
                continue
            rows.append({"ID": s, "ARM": (arms or {}).get(s, "A"), "VIS": v, "Y": y})
    return pd.DataFrame(rows)


NAN = np.nan
HAND = {
    "s1": [1.0, 2.0, 3.0, 4.0],      # complete
    "s2": [1.5, 2.5, NAN, NAN],      # drops out at V3
    "s3": [0.5, NAN, 3.5, NAN],      # gap at V2, drops out at V4
    "s4": [NAN, 2.2, 3.3, 4.4],      # not observed at V1
    "s5": [NAN, NAN, NAN, NAN],      # never observed
    "s6": [0.7, NAN, NAN, NAN],      # drops out at V2, later rows absent
}


def test_person_visit_table_by_hand():
    d = _long(HAND, absent={("s6", "V3"), ("s6", "V4")}).sample(frac=1.0, random_state=1)
    t = person_visit_table(d, "ID", "VIS", "Y")
    got = [(r.ID, r.VIS, r.last_response, r.last_visit, r.dropout) for r in t.itertuples()]
    assert got == [
        ("s1", "V2", 1.0, "V1", 0), ("s1", "V3", 2.0, "V2", 0), ("s1", "V4", 3.0, "V3", 0),
        ("s2", "V2", 1.5, "V1", 0), ("s2", "V3", 2.5, "V2", 1),
        ("s3", "V3", 0.5, "V1", 0), ("s3", "V4", 3.5, "V3", 1),   # no row at the gap; y(V1) carried
        ("s4", "V3", 2.2, "V2", 0), ("s4", "V4", 3.3, "V3", 0),   # nothing before the first response
        ("s6", "V2", 0.7, "V1", 1),
    ]


def _separated() -> pd.DataFrame:
    # dropouts (at V2) all have a last response above 5, every stayer one below
    values = {f"d{i}": [6.0 + i, NAN, NAN, NAN] for i in range(4)}
    values.update({f"c{i}": [float(i % 4), 1.0, 2.0, 1.5] for i in range(8)})
    return _long(values)


@pytest.mark.filterwarnings("ignore::trialmlm.errors.DataWarning")
def test_dropout_model_errors(mcar_trial):
    with pytest.raises(DataError, match="column 'BASELINE'"):
        dropout_model(mcar_trial, *KEYS, baseline="BASELINE")
    with pytest.raises(DataError, match="more than one row at AVISIT"):
        dropout_model(pd.concat([mcar_trial, mcar_trial.iloc[[3]]]), *KEYS)
    with pytest.raises(DataError, match="'CHG' is not numeric"):
        dropout_model(mcar_trial.assign(CHG=mcar_trial["CHG"].astype(str)), *KEYS)
    complete = _long({f"s{i}": [1.0 * i, 2.0, 3.0, 4.0 - i] for i in range(5)})
    with pytest.raises(DataError, match="no subject drops out"):
        dropout_model(complete, "ID", "VIS", "Y")
    with pytest.raises(DataError, match="separated along .*last_response"):
        dropout_model(_separated(), "ID", "VIS", "Y")
    with pytest.raises(DataError, match="single level .*'A'"):
        dropout_model(_separated(), "ID", "VIS", "Y", arm="ARM")
    varying = mcar_trial.assign(BASE=mcar_trial["BASE"] + np.arange(len(mcar_trial)))
    with pytest.raises(DataError, match="more than one value of 'BASE'"):
        dropout_model(varying, *KEYS, baseline="BASE")
    with pytest.raises(DataError, match="baseline column 'SEX' is not numeric"):
        dropout_model(mcar_trial, *KEYS, baseline="SEX")
    with pytest.raises(DataError, match="'BASE2' .*aliased"):
        dropout_model(mcar_trial.assign(BASE2=2 * mcar_trial["BASE"]), *KEYS, baseline="BASE",
                      covariates=["BASE2"])
    with pytest.raises(DataError, match="'dropout' cannot be a predictor"):
        dropout_model(mcar_trial.assign(dropout=1.0), *KEYS, covariates=["dropout"])
    no_arm = mcar_trial.assign(TRT=mcar_trial["TRT"].where(mcar_trial["USUBJID"] != "P003"))
    with pytest.raises(DataError, match="subject 'P003' has no value of 'TRT'"):
        dropout_model(no_arm, *KEYS, arm="TRT")


def test_missing_covariate_leaves_subject_out_with_warning(mcar_trial):
    d = mcar_trial.assign(BASE=mcar_trial["BASE"].where(mcar_trial["USUBJID"] != "P001"))
    with pytest.warns(DataWarning, match="1 subject.*'BASE'.*P001"):
        res = dropout_model(d, *KEYS, baseline="BASE")
    assert "P001" not in set(res.data["USUBJID"])


# --- Little's test -------------------------------------------------------------------------
LITTLE_CASES = {"mcar": ("mcar", ()), "mcar_base": ("mcar", ("BASE",)), "trial3": ("trial3", ()),
                "demo": ("demo_trial", ())}


@pytest.mark.parametrize("case", list(LITTLE_CASES))
def test_little_matches_lavaan_em(case):
    ref = REFS["little"][case]
    data, cov = LITTLE_CASES[case]
    res = little_mcar_test(_data(data), *KEYS, covariates=cov)
    assert res.converged
    assert res.statistic == pytest.approx(ref["statistic"], rel=1e-8)
    assert res.df == ref["df"] and res.n_patterns == ref["n_patterns"]
    assert res.n_subjects == ref["n_subjects"]
    assert res.p == pytest.approx(ref["p"], rel=1e-8)
    assert list(res.mean.index) == ref["variables"]
    np.testing.assert_allclose(res.mean, ref["mean"], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(res.covariance, ref["covariance"], rtol=1e-9, atol=1e-10)
    assert res.patterns["n"].sum() == res.n_subjects
    assert res.patterns["contribution"].sum() == pytest.approx(res.statistic, rel=1e-12)


def _monotone_two_visit(seed: int, n: int = 40, m: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.multivariate_normal([1.0, 3.0], [[2.0, 1.2], [1.2, 3.0]], size=n)
    y[m:, 1] = np.nan
    return y


def test_em_equals_anderson_closed_form():
    """Monotone two-visit data (Anderson 1957): mu1, s11 from all n; the regression of y2 on
    y1 from the m complete cases; ML divisors throughout."""
    y = _monotone_two_visit(7)
    n, m = len(y), 25
    c = y[:m]
    mu1, s11 = y[:, 0].mean(), y[:, 0].var()
    c_mean = c.mean(axis=0)
    c_cov = np.cov(c.T, bias=True)
    beta = c_cov[0, 1] / c_cov[0, 0]
    resid = c_cov[1, 1] - beta**2 * c_cov[0, 0]
    mu2 = c_mean[1] + beta * (mu1 - c_mean[0])
    expected_mu = np.array([mu1, mu2])
    expected_sigma = np.array([[s11, beta * s11], [beta * s11, resid + beta**2 * s11]])
    mu, sigma, _, ok = em_mvnorm(y)
    assert ok
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-10)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-10)
    # d2 by hand: pattern XX (m subjects) and X. (n - m subjects)
    dev = c_mean - expected_mu
    d2 = m * dev @ np.linalg.solve(expected_sigma, dev)
    d2 += (n - m) * (y[m:, 0].mean() - mu1) ** 2 / s11
    long = pd.DataFrame({"ID": np.repeat(np.arange(n), 2), "VIS": np.tile(["V1", "V2"], n),
                         "Y": y.reshape(-1)})
    res = little_mcar_test(long, "ID", "VIS", "Y")
    assert res.statistic == pytest.approx(d2, rel=1e-9)
    assert res.df == 1 and res.n_patterns == 2


def test_little_errors(mcar_trial):
    with pytest.raises(DataError, match="column 'AGE'"):
        little_mcar_test(mcar_trial, *KEYS, covariates=["AGE"])
    complete = _long({f"s{i}": [1.0 * i, 2.0 + i % 3, 3.0, 4.0 - i] for i in range(6)})
    with pytest.raises(DataError, match="same observed/missing pattern"):
        little_mcar_test(complete, "ID", "VIS", "Y")
    apart = _long({"a": [1.0, 2.0, NAN, 1.0], "b": [2.0, 1.0, NAN, 3.0], "c": [NAN, 2.0, 3.0, 2.0],
                   "d": [NAN, 1.0, 5.0, 1.0], "e": [3.0, 3.0, NAN, 0.0]})
    with pytest.raises(DataError, match="no subject is observed at both 'V1' and 'V3'"):
        little_mcar_test(apart, "ID", "VIS", "Y")
    with pytest.raises(DataError, match="covariate 'SEX' is not numeric"):
        little_mcar_test(mcar_trial, *KEYS, covariates=["SEX"])
    with pytest.raises(DataError, match="'CHG' is not numeric"):
        little_mcar_test(mcar_trial.assign(CHG="x"), *KEYS)


# --- completers vs dropouts ----------------------------------------------------------------
def test_cohorts_by_hand():
    arms = {"s1": "A", "s2": "A", "s3": "B", "s4": "A", "s5": "B", "s6": "A", "s7": "A"}
    values = dict(HAND, s7=[2.5, 4.5, NAN, 5.0])   # second completer in A, gap at V3
    tab = completers_vs_dropouts(_long(values, arms), "ID", "VIS", "Y", arm="ARM")
    assert list(tab.columns) == ["ARM", "cohort", "VIS", "n", "mean", "sd", "se", "lower", "upper"]
    a = tab[tab["ARM"] == "A"].set_index(["cohort", "VIS"])
    # completers of arm A: s1, s4, s7 (s4 is not observed at V1, s7 not at V3)
    assert a.loc[("Completers", "V1"), "n"] == 2
    # V2: s1 = 2.0, s4 = 2.2, s7 = 4.5 -> mean 2.9, sd sqrt(((-.9)^2 + (-.7)^2 + 1.6^2) / 2)
    row = a.loc[("Completers", "V2")]
    sd = np.sqrt((0.81 + 0.49 + 2.56) / 2)
    assert row["mean"] == pytest.approx(2.9) and row["sd"] == pytest.approx(sd)
    assert row["se"] == pytest.approx(sd / np.sqrt(3))
    assert row["lower"] == pytest.approx(2.9 - 4.302652729911275 * sd / np.sqrt(3))  # t(0.975, 2)
    assert row["upper"] == pytest.approx(2.9 + 4.302652729911275 * sd / np.sqrt(3))
    assert a.loc[("Dropout after V2", "V2"), "mean"] == 2.5            # s2
    assert np.isnan(a.loc[("Dropout after V2", "V2"), "sd"])           # n = 1
    assert a.loc[("Dropout after V1", "V1"), "mean"] == 0.7            # s6
    b = tab[tab["ARM"] == "B"]
    assert list(b["cohort"].astype(str)) == ["Dropout after V3", "Dropout after V3"]   # s3; s5 never seen
    assert list(b["VIS"]) == ["V1", "V3"]
    assert list(tab["cohort"].cat.categories) == ["Dropout after V1", "Dropout after V2", "Dropout after V3",
                                                  "Completers"]


def test_cohorts_match_groupby(mcar_trial):
    tab = completers_vs_dropouts(mcar_trial, *KEYS, arm="TRT")
    order = {"W1": 0, "W2": 1, "W4": 2, "W8": 3, "W12": 4}
    seen = mcar_trial.dropna(subset=["CHG"]).assign(pos=lambda d: d["AVISIT"].map(order))
    last = seen.groupby("USUBJID")["pos"].transform("max")
    names = np.array(list(order))
    seen["cohort"] = np.where(last == 4, "Completers", "Dropout after " + names[last])
    ref = seen.groupby(["TRT", "cohort", "AVISIT"])["CHG"].agg(["size", "mean", "std"])
    got = tab.assign(cohort=tab["cohort"].astype(str)).set_index(["TRT", "cohort", "AVISIT"])
    assert len(got) == len(ref)
    ref = ref.loc[got.index]
    np.testing.assert_array_equal(got["n"], ref["size"])
    np.testing.assert_allclose(got["mean"], ref["mean"], rtol=1e-12)
    np.testing.assert_allclose(got["sd"], ref["std"], rtol=1e-12)
    without_arm = completers_vs_dropouts(mcar_trial, *KEYS)
    assert list(without_arm.columns) == ["cohort", "AVISIT", "n", "mean", "sd", "se", "lower", "upper"]
    assert without_arm["n"].sum() == mcar_trial["CHG"].notna().sum()


def test_cohort_errors(mcar_trial):
    with pytest.raises(DataError, match="column 'ARM'"):
        completers_vs_dropouts(mcar_trial, *KEYS, arm="ARM")
    with pytest.raises(DataError, match="more than one value of 'TRT'"):
        completers_vs_dropouts(mcar_trial.assign(TRT=np.arange(len(mcar_trial)) % 2), *KEYS, arm="TRT")


# --- properties: row order, subject labels, location-scale of the response ----------------
def _shuffle_relabel(d: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = d["USUBJID"].unique()
    new = dict(zip(ids, [f"Z{k:04d}" for k in rng.permutation(len(ids))]))
    return d.assign(USUBJID=d["USUBJID"].map(new)).sample(frac=1.0, random_state=seed)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1))
def test_invariant_to_row_order_and_subject_labels(mcar_trial, seed):
    other = _shuffle_relabel(mcar_trial, seed)
    a = dropout_model(mcar_trial, *KEYS, arm="TRT", baseline="BASE")
    b = dropout_model(other, *KEYS, arm="TRT", baseline="BASE")
    pd.testing.assert_frame_equal(a.coefficients, b.coefficients, rtol=1e-9)
    assert a.lr_test["statistic"].iloc[0] == pytest.approx(b.lr_test["statistic"].iloc[0], rel=1e-9)
    la, lb = little_mcar_test(mcar_trial, *KEYS), little_mcar_test(other, *KEYS)
    assert la.statistic == pytest.approx(lb.statistic, rel=1e-9)
    pd.testing.assert_frame_equal(la.covariance, lb.covariance, rtol=1e-9)
    ca = completers_vs_dropouts(mcar_trial, *KEYS, arm="TRT")
    cb = completers_vs_dropouts(other, *KEYS, arm="TRT")
    pd.testing.assert_frame_equal(ca, cb, rtol=1e-12)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shift=st.floats(-50, 50), scale=st.floats(0.1, 20))
def test_tests_invariant_to_location_and_scale(mcar_trial, shift, scale):
    """d2 and the LR statistic do not depend on the units of the response."""
    other = mcar_trial.assign(CHG=shift + scale * mcar_trial["CHG"])
    a, b = dropout_model(mcar_trial, *KEYS, arm="TRT"), dropout_model(other, *KEYS, arm="TRT")
    assert a.lr_test["statistic"].iloc[0] == pytest.approx(b.lr_test["statistic"].iloc[0], rel=1e-7)
    assert a.coefficients.loc["last_response", "z"] == pytest.approx(
        b.coefficients.loc["last_response", "z"], rel=1e-7)
    assert little_mcar_test(mcar_trial, *KEYS).statistic == pytest.approx(
        little_mcar_test(other, *KEYS).statistic, rel=1e-7)


def test_em_not_converged_warns(mcar_trial):
    from trialmlm.errors import ConvergenceWarning
    with pytest.warns(ConvergenceWarning, match="did not reach"):
        res = little_mcar_test(mcar_trial, *KEYS, max_iter=3)
    assert not res.converged and res.iterations == 3
