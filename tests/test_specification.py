"""The model specification answers what kind of model a fit is (issue 21)."""

from __future__ import annotations

import pytest

from trialmlm import DataError
from trialmlm.engine.formula import parse_formula
from trialmlm.engine.specification import ModelSpec


@pytest.mark.parametrize("formula, kind, random, subject_random, nested", [
    ("CHG ~ TRT * AVISIT + us(AVISIT | USUBJID)", "marginal", False, False, False),
    ("CHG ~ TRT * WEEK + (1 + WEEK | USUBJID)", "random", True, True, False),
    ("CHG ~ TRT * WEEK + (1 | USUBJID) + ar1(AVISIT | USUBJID)", "both", True, True, False),
    ("CHG ~ TRT * AVISIT + (1 | SITE) + us(AVISIT | USUBJID)", "both", True, False, True),
    ("CHG ~ TRT + BASE", "linear", False, False, False),
])
def test_kind_of_formula(formula, kind, random, subject_random, nested):
    spec = ModelSpec.of(parse_formula(formula))
    assert (spec.kind, spec.random_effects, spec.subject_random, spec.nested) == \
        (kind, random, subject_random, nested)
    assert spec.marginal == (kind == "marginal") and spec.linear == (kind == "linear")
    assert spec.source == "rows" and not spec.from_sums


def test_covariance_term_answers():
    spec = ModelSpec.of(parse_formula("Y ~ TRT + sp_exp(X, Z | ID)"))
    assert spec.spatial and spec.positions == ("X", "Z") and spec.repeated == "X" and spec.group is None
    spec = ModelSpec.of(parse_formula("Y ~ TRT * AVISIT + us(AVISIT | TRT / ID)"), from_sums=True)
    assert not spec.spatial and spec.repeated == "AVISIT" and spec.group == "TRT" and spec.from_sums
    with pytest.raises(DataError, match="residuals needs the rows"):
        spec.require_rows("residuals")


def test_fit_spec_is_its_model_spec(demo_fit):
    assert demo_fit.spec == demo_fit.model.spec
    assert demo_fit.spec.kind == "marginal" and demo_fit.spec.repeated == "AVISIT"
