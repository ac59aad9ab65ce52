"""The registry of inference methods (trialmlm/inference/methods.py): entries, resolve(),
every refused combination's message, labels, the per-fit cache, and ``fit.vcov``.

``fit.vcov`` is checked against R mmrm 0.3.18 (tests/reference/make_vcov_refs.R ->
vcov_refs.json): the depression sample trial, ``CHG ~ BASE + TRT01P * AVISIT +
us(AVISIT | USUBJID)``, REML, ``vcov = "Asymptotic"`` and ``"Empirical"``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError
from trialmlm.inference import cache
from trialmlm.inference.methods import DDF, DDF_METHODS, VCOV, VCOV_METHODS, Scope, labels, resolve
from trialmlm.tables import model_footnotes

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "tests" / "reference"
SANDWICHES = ("empirical", "empirical-bias-reduced", "empirical-jackknife")


# -- the entries --------------------------------------------------------------------------
def test_entries():
    assert DDF_METHODS == ("satterthwaite", "kenward-roger", "kenward-roger-linear", "between-within",
                           "residual", "containment")
    assert VCOV_METHODS == ("model",) + SANDWICHES
    assert {n: m.sas for n, m in DDF.items()} == {
        "satterthwaite": "SATTERTHWAITE", "kenward-roger": "KR", "kenward-roger-linear": "KR(LINEAR)",
        "between-within": "BETWITHIN", "residual": "RESIDUAL", "containment": "CONTAIN"}
    assert {n: m.label for n, m in DDF.items()} == {
        "satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger",
        "kenward-roger-linear": "Kenward-Roger (linear)", "between-within": "between-within",
        "residual": "residual", "containment": "containment"}
    assert {n: m.vcovs for n, m in DDF.items() if m.vcovs != VCOV_METHODS} == {
        "kenward-roger": ("model",), "kenward-roger-linear": ("model",)}
    assert [n for n, m in DDF.items() if not m.outer] == ["between-within"]
    assert [n for n, m in DDF.items() if m.from_covariance] == ["satterthwaite", "kenward-roger",
                                                                "kenward-roger-linear"]
    own = ["kenward-roger", "kenward-roger-linear"]
    assert [n for n, m in DDF.items() if m.covariance is not None] == own
    assert {n: (m.sas, m.mmrm, m.sandwich) for n, m in VCOV.items()} == {
        "model": ("", "Asymptotic", False), "empirical": ("EMPIRICAL", "Empirical", True),
        "empirical-bias-reduced": (None, "Empirical-Bias-Reduced", True),
        "empirical-jackknife": (None, "Empirical-Jackknife", True)}


def _doc_rows() -> dict[str, list[str]]:
    """Rows of docs/adam.md's table "Which df and standard errors", by their first cell."""
    text = (ROOT / "docs" / "adam.md").read_text()
    table = text.split("## Which df and standard errors")[1].split("\n\n")[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return {r[0]: r[1:] for r in rows}


@pytest.mark.parametrize("name", DDF_METHODS)
def test_ddf_documented_with_sas_and_mmrm_names(name):
    sas, mmrm, _ = _doc_rows()[f'`ddf="{name}"`']
    assert sas.startswith(f"`DDFM={DDF[name].sas}`")
    if DDF[name].mmrm is None:
        assert mmrm.startswith("—")
    else:
        assert mmrm == f'`method = "{DDF[name].mmrm}"`'


@pytest.mark.parametrize("name", VCOV_METHODS)
def test_vcov_documented_with_sas_and_mmrm_names(name):
    sas, mmrm, _ = _doc_rows()[f'`vcov="{name}"`']
    m = VCOV[name]
    assert sas == {"": "(default)", None: "—"}.get(m.sas, f"`{m.sas}`")
    assert mmrm == f'`vcov = "{m.mmrm}"`'


def test_doc_table_has_no_other_rows():
    assert set(_doc_rows()) == {f'`ddf="{n}"`' for n in DDF} | {f'`vcov="{n}"`' for n in VCOV}


# -- resolve: defaults ---------------------------------------------------------------------
@pytest.mark.parametrize("scope, vcov, expected", [
    (Scope(), "model", "satterthwaite"),
    (Scope(), "empirical", "between-within"),
    (Scope(outer=("SITE",)), "empirical-bias-reduced", "containment"),
    (Scope(outer=("SITE",)), "model", "satterthwaite"),
    (Scope(linear=True), "model", "residual"),
    (Scope(linear=True), "empirical-jackknife", "residual"),
])
def test_defaults_before_estimation(scope, vcov, expected):
    assert scope.resolve(None, vcov) == (expected, vcov)


@pytest.mark.parametrize("fit_ddf, fit_vcov, ddf, vcov, expected", [
    ("kenward-roger", "model", None, None, ("kenward-roger", "model")),
    ("kenward-roger", "model", None, "empirical", ("between-within", "empirical")),  # SAS EMPIRICAL
    ("satterthwaite", "model", None, "empirical", ("between-within", "empirical")),
    ("satterthwaite", "model", "satterthwaite", "empirical", ("satterthwaite", "empirical")),
    ("satterthwaite", "empirical", None, None, ("satterthwaite", "empirical")),
    ("satterthwaite", "empirical", None, "empirical-jackknife", ("satterthwaite", "empirical-jackknife")),
    ("between-within", "empirical", None, "model", ("between-within", "model")),
    ("residual", "model", None, "empirical", ("residual", "empirical")),
    ("containment", "model", "residual", None, ("residual", "model")),
])
def test_calls_resolve_against_the_fit_settings(fit_ddf, fit_vcov, ddf, vcov, expected):
    assert Scope(ddf=fit_ddf, vcov=fit_vcov).resolve(ddf, vcov) == expected


def test_resolve_of_a_fit_reads_its_settings(demo_trial):
    fit = trialmlm.fit("CHG ~ TRT * AVISIT + cs(AVISIT | USUBJID)", demo_trial, ddf="kenward-roger")
    assert resolve(fit) == ("kenward-roger", "model")
    assert resolve(fit, None, "empirical") == ("between-within", "empirical")
    assert fit._methods("residual", None) == ("residual", "model")


# -- resolve: every refused combination ----------------------------------------------------
def _expected_error(ddf: str, vcov: str, outer: bool, crossed: bool) -> str | None:
    """The rules of docs/inference.md, written out independently of the registry."""
    if ddf.startswith("kenward-roger") and vcov != "model":
        sas = "KR(LINEAR)" if ddf.endswith("linear") else "KR"
        return (f"ddf='{ddf}' adjusts the model-based covariance; it cannot be combined with vcov='{vcov}' "
                f"(as in SAS, where DDFM={sas} and EMPIRICAL exclude each other); use ddf='satterthwaite', "
                "'between-within', 'residual' or 'containment' with a sandwich")
    if crossed and vcov != "model":
        return (f"vcov='{vcov}' needs independent clusters, but RATER crossed with the subjects make the "
                "whole data one block of V; use vcov='model'")
    if outer and ddf == "between-within":
        others = ("'satterthwaite', 'kenward-roger', 'kenward-roger-linear', 'residual' or 'containment'"
                  if vcov == "model" else "'satterthwaite', 'residual' or 'containment'")
        factor = "RATER" if crossed else "SITE"
        return (f"between-within df are not available for models with the outer grouping factor(s) {factor} "
                f"(SAS defines them for one level of subjects); use ddf={others}")
    return None


@pytest.mark.parametrize("where", ["subjects", "nested", "crossed"])
@pytest.mark.parametrize("vcov", VCOV_METHODS)
@pytest.mark.parametrize("ddf", DDF_METHODS)
def test_every_combination(ddf, vcov, where):
    scope = {"subjects": Scope(), "nested": Scope(outer=("SITE",)),
             "crossed": Scope(outer=("RATER",), crossed=True)}[where]
    message = _expected_error(ddf, vcov, where != "subjects", where == "crossed")
    if message is None:
        assert scope.resolve(ddf, vcov) == (ddf, vcov)
    else:
        with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
            scope.resolve(ddf, vcov)


def test_unknown_names():
    names = "satterthwaite, kenward-roger, kenward-roger-linear, between-within, residual, containment"
    with pytest.raises(DataError, match=f"^ddf must be one of {names}; got 'kr'$"):
        Scope().resolve("kr", "model")
    with pytest.raises(DataError, match="^vcov must be one of model, empirical, empirical-bias-reduced, "
                                        "empirical-jackknife; got 'robust'$"):
        Scope().resolve(None, "robust")


def test_fit_refuses_before_reading_the_data():
    """api.fit resolves the names first: a refused pair fails whatever the data."""
    with pytest.raises(DataError, match="cannot be combined with vcov='empirical-jackknife'"):
        trialmlm.fit("Y ~ X + us(V | ID)", pd.DataFrame(), ddf="kenward-roger-linear",
                     vcov="empirical-jackknife")


# -- labels ------------------------------------------------------------------------------------
def test_labels(demo_trial):
    fit = trialmlm.fit("CHG ~ TRT * AVISIT + cs(AVISIT | USUBJID)", demo_trial)
    assert labels(fit) == ("Satterthwaite", "model-based")
    assert labels(fit, "satterthwaite", "empirical") == ("Satterthwaite for the sandwich (Bell & McCaffrey)",
                                                          "sandwich (empirical)")
    assert labels(fit, None, "empirical-jackknife") == ("between-within", "sandwich (empirical-jackknife)")
    assert labels(fit, "kenward-roger-linear") == ("Kenward-Roger (linear)", "model-based")
    footnote = model_footnotes(fit, ddf="containment", vcov="empirical")[-1]
    assert footnote.endswith("denominator degrees of freedom: containment; "
                             "standard errors: sandwich (empirical).")


# -- the per-fit cache -----------------------------------------------------------------------
def test_covariances_are_cached_per_fit_and_read_only(demo_trial):
    """One store per fit (fit.cached): computed once, read-only, and a replaced fit starts empty."""
    fit = trialmlm.fit("CHG ~ TRT * AVISIT + ar1(AVISIT | USUBJID)", demo_trial)
    kr = fit.kenward_roger_vcov()
    assert fit.kenward_roger_vcov() is kr and cache.kenward_roger(fit, False) is kr
    assert fit.empirical_vcov("empirical-bias-reduced") is cache.covariance(fit, "empirical-bias-reduced")
    assert not kr.flags.writeable and not fit.empirical_vcov().flags.writeable
    other = trialmlm.fit("CHG ~ TRT * AVISIT + ar1(AVISIT | USUBJID)", demo_trial.iloc[:-5])
    assert not np.allclose(other.kenward_roger_vcov()[0, 0], kr[0, 0], rtol=1e-12)
    moved = dataclasses.replace(fit, phi_cov=2 * fit.phi_cov)
    assert moved.kenward_roger_vcov() is not kr


# -- fit.vcov follows the fit's vcov= (issue 12) ----------------------------------------------
@pytest.fixture(scope="module")
def depression():
    d = pd.read_csv(ROOT / "sample_data" / "depression_trial.csv")
    return d[d["ANL01FL"] == "Y"]


def test_fit_vcov_follows_the_fit_vcov(depression):
    """Issue 12: with vcov="empirical", fit.vcov gave the model-based SE of the intercept
    (1.797) while coef_table gave the sandwich one (1.981); R mmrm gives both."""
    ref = json.loads((REFERENCE / "vcov_refs.json").read_text())
    fit = trialmlm.fit(ref["formula"], depression, vcov="empirical")
    np.testing.assert_allclose(fit.coef, ref["estimate"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), ref["Empirical"]["se"], rtol=1e-5)
    np.testing.assert_allclose(fit.vcov, ref["Empirical"]["vcov"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(fit.vcov_model, ref["Asymptotic"]["vcov"], rtol=1e-5, atol=1e-9)
    assert np.sqrt(fit.vcov.iloc[0, 0]) == pytest.approx(1.981, abs=5e-4)
    assert np.sqrt(fit.vcov_model.iloc[0, 0]) == pytest.approx(1.797, abs=5e-4)
    np.testing.assert_allclose(fit.coef_table()["se"] ** 2, np.diag(fit.vcov), rtol=1e-12)
    assert list(fit.vcov.index) == fit.coef_names == list(fit.vcov_model.columns)


def test_fit_vcov_with_kenward_roger_is_the_adjusted_one(demo_trial):
    fit = trialmlm.fit("CHG ~ TRT * AVISIT + ar1(AVISIT | USUBJID)", demo_trial, ddf="kenward-roger")
    np.testing.assert_array_equal(fit.vcov, fit.kenward_roger_vcov())
    np.testing.assert_allclose(fit.coef_table()["se"] ** 2, np.diag(fit.vcov), rtol=1e-12)
    np.testing.assert_array_equal(fit.vcov_model, fit.beta_cov)
    assert not np.allclose(fit.vcov, fit.vcov_model, rtol=1e-6)
