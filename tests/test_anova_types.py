"""SAS's type 1, 2 and 3 tests (PROC MIXED HTYPE=1,2,3) against lmerTest's SAS comparisons.

References: tests/reference/make_anova_types_refs.R (R 4.2.2, lme4 1.1.31, lmerTest 3.1.3,
pbkrtest 0.5.2) wrote anova_types_refs.json; its ``sas`` entries are the SAS PROC MIXED
values hard-coded in lmerTest's tests/test_compare_sas.R.  The models and data (carrots,
ham: lmerTest's data sets; glm101: the GLM SAS 101 example) are those of that file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError

REF = Path(__file__).parent / "reference"
REFS = json.loads((REF / "anova_types_refs.json").read_text())["models"]
CLASS = {"carrots": ["Consumer", "Frequency", "Gender", "Age", "Homesize", "Work", "Income", "Product"],
         "ham": ["Consumer", "Product", "Information", "Gender"], "glm101": ["a", "b", "f"]}
DATA = {"a": "carrots", "b": "carrots", "c": "glm101", "d": "carrots", "e": "ham", "f": "carrots"}
#: lmerTest orders type 1 terms by degree (R's terms()); SAS, and trialmlm, as the formula
#: writes them, with a*b*c expanded as a, b, a:b, c, a:c, b:c, a:b:c.  Model f's type 1
#: reference is matched by writing its terms in R's order.
R_ORDER = {"a": "Preference ~ sens2 + Frequency + Income + sens2:Frequency + sens2:Income + Frequency:Income"
                " + sens2:Frequency:Income + (1 + sens2 | Consumer)",
           "f": "Preference ~ sens2 + Homesize + sens1 + sens2:Homesize + sens2:sens1 + Homesize:sens1"
                " + sens2:Homesize:sens1 + (1 | Product)"}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv", dtype={c: str for c in CLASS[name]})


@pytest.fixture(scope="module")
def fits():
    out = {}
    for key, model in REFS.items():
        data = _data(DATA[key[0]])
        out[key] = trialmlm.fit(model["formula"], data, ddf="satterthwaite")
        if key[0] in R_ORDER:
            out[key + "_r_order"] = trialmlm.fit(R_ORDER[key[0]], data)
    return out


def _same_term(a: str, b: str) -> bool:
    return set(a.split(":")) == set(b.split(":"))


def _in_order(table: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    """The rows of ``table`` for ``terms`` (R's names; ``A:B`` matches ``B:A``), in that order."""
    return table.loc[[next(t for t in table.index if _same_term(t, term)) for term in terms]]


def _compare(got: pd.DataFrame, ref: dict, f_rtol: float = 1e-5) -> None:
    got = _in_order(got, ref["term"])
    for i, term in enumerate(ref["term"]):
        row = got.iloc[i]
        assert row["num_df"] == ref["NumDF"][i], term
        np.testing.assert_allclose(row["den_df"], ref["DenDF"][i], rtol=1e-3, err_msg=term)
        np.testing.assert_allclose(row["F"], ref["F"][i], rtol=f_rtol, err_msg=term)
        np.testing.assert_allclose(row["p"], ref["p"][i], rtol=1e-4, atol=1e-12, err_msg=term)


@pytest.mark.parametrize("key", list(REFS))
@pytest.mark.parametrize("htype", [1, 2, 3])
def test_types_match_lmertest(fits, key, htype):
    fit = fits[key + "_r_order"] if htype == 1 and key[0] in R_ORDER else fits[key]
    np.testing.assert_allclose(fits[key].loglik, REFS[key]["logLik_REML"], atol=1e-6)
    _compare(fit.anova(type=htype), REFS[key]["anova"]["satterthwaite"][f"type{htype}"])


@pytest.mark.parametrize("key", ["b_carrots_noint_sens2_homesize", "e_ham_product_by_age"])
@pytest.mark.parametrize("htype", [2, 3])
def test_types_with_kenward_roger_match_lmertest(fits, key, htype):
    """(glm101's batch variance is at the boundary: pbkrtest keeps it in the KR correction,
    trialmlm, as SAS, treats it as known; see test_boundary.py.)"""
    _compare(fits[key].anova(type=htype, ddf="kenward-roger"),
             REFS[key]["anova"]["kenward_roger"][f"type{htype}"])


def test_empty_cells_get_sas_numerator_df_and_p(fits):
    """carrots, sens2*Frequency*Income: empty Frequency x Income cells.  SAS: numerator df
    1/4/3/4/3/6/6, p 2e-5, 0.15512, 0.06939, 0.08223, 0.52459, 0.03119, 0.48344, den df 83."""
    ref = REFS["a_carrots_sens2_freq_income"]
    terms, sas = ref["anova"]["satterthwaite"]["type3"]["term"], ref["sas"]
    table = _in_order(fits["a_carrots_sens2_freq_income"].anova(), terms)
    assert table["num_df"].tolist() == [1, 4, 3, 4, 3, 6, 6]
    np.testing.assert_allclose(table["p"], sas["anova_type3_p"], rtol=1e-3, atol=1e-5)
    assert (table["den_df"].round() == 83).all()


def test_no_intercept_model_tests_both_means(fits):
    """0 + sens2 + Homesize: Homesize tests both means = 0 (SAS: 2 df, F 4169.87; type 1 of
    sens2 56.5394, type 3 54.8206)."""
    fit, sas = fits["b_carrots_noint_sens2_homesize"], REFS["b_carrots_noint_sens2_homesize"]["sas"]
    np.testing.assert_allclose(fit.anova(type=1)["F"], sas["anova_type1_F"], rtol=1e-5)
    np.testing.assert_allclose(fit.anova(type=3)["F"], sas["anova_type3_F"], rtol=1e-5)
    assert fit.anova().loc["Homesize", "num_df"] == 2


@pytest.mark.parametrize("key, htype", [("c_glm101_a_by_b", 2), ("d_carrots_sens2_by_homesize", 2),
                                        ("e_ham_product_by_age", 2), ("f_carrots_sens2_homesize_sens1", 2),
                                        ("f_carrots_sens2_homesize_sens1", 3)])
def test_published_sas_f_values(fits, key, htype):
    sas = REFS[key]["sas"][f"anova_type{htype}_F"]
    table = _in_order(fits[key].anova(type=htype), REFS[key]["anova"]["satterthwaite"]["type2"]["term"])
    np.testing.assert_allclose(table["F"], sas, rtol=1e-4)


def test_type2_does_not_depend_on_term_order():
    data = _data("glm101")
    ab = trialmlm.fit("y ~ a * b + (1 | f)", data).anova(type=2)
    ba = trialmlm.fit("y ~ b * a + (1 | f)", data).anova(type=2)
    np.testing.assert_allclose(ab.loc[["a", "b"], "F"], ba.loc[["a", "b"], "F"], rtol=1e-10)


def test_type1_follows_the_formula_order():
    """Sequential: the first term is unadjusted, the last equals its type 2/3 test."""
    data = _data("glm101")
    fit = trialmlm.fit("y ~ b + a + (1 | f)", data)
    np.testing.assert_allclose(fit.anova(type=1).loc["a", "F"], fit.anova(type=3).loc["a", "F"], rtol=1e-10)
    assert list(fit.anova(type=1).index) == ["b", "a"]


@pytest.mark.parametrize("bad", [4, 0, "III", None, 2.5, True])
def test_unknown_type_is_named(fits, bad):
    with pytest.raises(DataError, match="anova type must be 1, 2, 3 or 'joint'"):
        fits["c_glm101_a_by_b"].anova(type=bad)
