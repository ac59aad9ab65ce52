"""Formula parsing: response, mean model, covariance term."""

from __future__ import annotations

import pytest

from trialmlm.engine.formula import CovarianceTerm, parse_formula
from trialmlm.errors import FormulaError


def test_parse_basic():
    f = parse_formula("FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)")
    assert f.response == "FEV1"
    assert f.fixed == "RACE + SEX + ARMCD * AVISIT"
    assert f.covariance == CovarianceTerm("us", ("AVISIT",), "USUBJID", None)


def test_parse_group_spatial_and_nested_parentheses():
    f = parse_formula("Y ~ TRT * (BASE + AVISIT) + ar1h(AVISIT | TRT / USUBJID)")
    assert f.fixed == "TRT * (BASE + AVISIT)"
    assert f.covariance.group == "TRT" and f.covariance.subject == "USUBJID"
    g = parse_formula("Y ~ C(DOSE) + sp_exp(X, Y2 | ID)")
    assert g.covariance.positions == ("X", "Y2") and g.fixed == "C(DOSE)"
    assert str(g.covariance) == "sp_exp(X, Y2 | ID)"


def test_covariance_term_first_and_intercept_only():
    f = parse_formula("Y ~ cs(V | ID)")
    assert f.fixed == "1"
    assert parse_formula("Y ~ cs(V | ID) + 0 + A").fixed == "0 + A"


def test_linear_model_has_no_subject():
    f = parse_formula("CHG ~ TRTP + SITEGR1 + BASE")
    assert f.linear and f.subject is None and f.covariance is None and f.random_terms == ()
    assert f.fixed == "TRTP + SITEGR1 + BASE"
    assert parse_formula("CHG ~ 1").linear
    assert not parse_formula("Y ~ A + (1 | ID)").linear and not parse_formula("Y ~ cs(V | ID)").linear


@pytest.mark.parametrize(
    "text, message",
    [
        ("Y + us(V | ID)", "must be a string 'response ~ terms'"),
        ("Y ~ A + us(V | A / B / ID)", "GROUP / SUBJECT"),
        ("Y ~ A + us(V)", r"us\(VISIT \| SUBJECT\)"),
        ("Y ~ A + us(V | ID", "unbalanced"),
        ("Y ~ A + us(V + 1 | ID)", "must be a column name"),
    ],
)
def test_errors(text, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(text)


def test_with_structure_replaces_only_the_covariance_term():
    f = parse_formula("CHG ~ us + BASE + (1 | SITE) +  us(AVISIT | TRT / USUBJID)")
    g = f.with_structure("toeph")
    assert g.text == "CHG ~ us + BASE + (1 | SITE) +  toeph(AVISIT | TRT / USUBJID)"
    assert g.covariance == CovarianceTerm("toeph", ("AVISIT",), "USUBJID", "TRT")
    assert (g.fixed, g.random_terms) == (f.fixed, f.random_terms)
    with pytest.raises(FormulaError, match="unknown covariance structure 'toepx'"):
        f.with_structure("toepx")
    with pytest.raises(FormulaError, match="no covariance term"):
        parse_formula("CHG ~ TIME + (1 | USUBJID)").with_structure("cs")
