"""trialmlm.gee against R geepack::geeglm (tests/reference/gee/geepack_reference.R wrote the
data and geepack.json; geeglm with epsilon = 1e-10), and its bad input."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError, FormulaError, SeparationWarning

REF = Path(__file__).parent / "reference" / "gee"
CASES = json.loads((REF / "geepack.json").read_text())


def r_name(name: str) -> str:
    """formulaic's column name in R's spelling: ``ARM[T.Low]:AVISIT[T.W4]`` -> ``ARMLow:AVISITW4``."""
    return "(Intercept)" if name == "Intercept" else re.sub(r"\[T\.([^\]]*)\]", r"\1", name)


def fit_case(case: dict, **kwargs):
    py = case["python"]
    data = pd.read_csv(REF / py["data"])
    if py.get("offset") == "LOGDAYS":  # the R script's log(DAYS)
        data["LOGDAYS"] = np.log(data["DAYS"])
    return trialmlm.gee(py["formula"], data, family=py["family"], link=py["link"], working=py["working"],
                        subject=py["subject"], visit=py["visit"], offset=py.get("offset"), moments="geepack",
                        tol=1e-12, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_geepack(case):
    fit = fit_case(case)
    assert fit.converged
    names = [r_name(n) for n in fit.names]
    assert sorted(names) == sorted(case["coef"])
    for key, got in (("coef", fit.beta), ("se", np.sqrt(np.diag(fit.cov("robust")))),
                     ("se_naive", np.sqrt(np.diag(fit.cov("model"))))):
        want = np.array([case[key][n] for n in names])
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=key)
    np.testing.assert_allclose(fit.estimate.alpha, np.atleast_1d(case["alpha"]), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.scale, case["scale"], rtol=1e-6)
    qic = fit.qic()
    np.testing.assert_allclose([qic["QIC"], qic["QICu"], qic["quasi_likelihood"]],
                               [case["qic"], case["qicu"], case["quasi"]], rtol=1e-6)


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    return pd.read_csv(REF / "trial.csv")


def test_inference_tables(trial):
    fit = trialmlm.gee("RESP ~ BASE + ARM * AVISIT", trial, working="exchangeable", subject="USUBJID",
                       visit="AVISIT")
    assert isinstance(fit, trialmlm.inference.protocol.Comparisons)
    ls = fit.lsmeans("ARM", by="AVISIT", ilink=True)
    np.testing.assert_allclose(ls["mean"], 1 / (1 + np.exp(-ls["estimate"])))
    np.testing.assert_allclose(ls["mean_se"], ls["mean"] * (1 - ls["mean"]) * ls["se"])
    cmp = fit.compare("ARM", by="AVISIT", reference="Placebo")
    np.testing.assert_allclose(cmp["ratio"], np.exp(cmp["estimate"]))
    assert np.isinf(cmp["df"]).all() and set(fit.anova()["term"]) == {"BASE", "ARM", "AVISIT", "ARM:AVISIT"}
    assert "Analysis Of GEE Parameter Estimates" in fit.summary()


def test_independence_equals_pooled_glm(trial):
    """Independence GEE = the GLM: its score equations X'(y - mu) = 0 hold at the estimate."""
    fit = trialmlm.gee("RESP ~ BASE + ARM + AVISIT", trial, subject="USUBJID", visit="AVISIT")
    X, y = fit.design.X, fit.problem.y
    np.testing.assert_allclose(X.T @ (y - fit.fitted.to_numpy()), 0, atol=1e-8)


def test_row_order_and_subject_labels(trial):
    args = dict(working="ar1", subject="USUBJID", visit="AVISIT")
    fit = trialmlm.gee("RESP ~ BASE + ARM * AVISIT", trial, **args)
    shuffled = trial.sample(frac=1.0, random_state=3).assign(USUBJID=lambda d: "X" + d["USUBJID"].str[::-1])
    other = trialmlm.gee("RESP ~ BASE + ARM * AVISIT", shuffled, **args)
    np.testing.assert_allclose(other.beta, fit.beta, rtol=1e-10)
    np.testing.assert_allclose(other.vcov, fit.vcov, rtol=1e-8)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(RESP=np.where(d.index == 5, "maybe", d["RESP"])), "not a Y/N flag"),
    (lambda d: d.assign(RESP=np.where(d.index == 5, 2, (d["RESP"] == "Y").astype(int))), "must be 0/1"),
    (lambda d: pd.concat([d, d.iloc[[0]]]), "more than one row"),
    (lambda d: d.assign(RESP=np.nan), "no complete rows"),
])
def test_bad_binary_input(trial, change, message):
    with pytest.raises(DataError, match=message):
        trialmlm.gee("RESP ~ ARM", change(trial), subject="USUBJID", visit="AVISIT")


def test_bad_counts_and_trials(trial):
    with pytest.raises(DataError, match="counts"):
        trialmlm.gee("BASE ~ ARM", trial, family="poisson", subject="USUBJID")
    with pytest.raises(DataError, match="between 0 and the trials"):
        trialmlm.gee("DAYS ~ ARM", trial.assign(N=trial["EVENTS"] + 1), subject="USUBJID", trials="N")
    with pytest.raises(FormulaError, match="working="):
        trialmlm.gee("RESP ~ ARM + us(AVISIT | USUBJID)", trial, subject="USUBJID")
    with pytest.raises(DataError, match="working correlation must be"):
        trialmlm.gee("RESP ~ ARM", trial, subject="USUBJID", working="toeplitz")


def test_separation_is_named(trial):
    data = trial.assign(RESP=np.where(trial["ARM"] == "High", "Y", trial["RESP"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trialmlm.gee("RESP ~ ARM", data, subject="USUBJID", visit="AVISIT", maxiter=60)
    assert any(issubclass(w.category, SeparationWarning) and "ARM" in str(w.message) for w in caught)


def test_sas_moments_divide_by_n_minus_p(trial):
    """moments='sas': phi = sum r^2/(N - p); the exchangeable alpha with N* - p pairs."""
    fit = trialmlm.gee("RESP ~ ARM", trial, working="exchangeable", subject="USUBJID", visit="AVISIT")
    e = (fit.problem.y - fit.fitted.to_numpy()) / np.sqrt(fit.fitted.to_numpy() * (1 - fit.fitted.to_numpy()))
    n, p = e.size, fit.beta.size
    np.testing.assert_allclose(fit.scale, np.sum(e ** 2) / (n - p), rtol=1e-10)
    wide = fit.problem.clusters.wide(e)
    mask = fit.problem.clusters.wide(np.ones(n))
    pairs = (np.sum(mask.sum(1) ** 2 - mask.sum(1)) / 2)
    total = (np.sum(wide.sum(1) ** 2) - np.sum(wide ** 2)) / 2
    np.testing.assert_allclose(fit.alpha.iloc[0], total / ((pairs - p) * fit.scale), rtol=1e-8)
