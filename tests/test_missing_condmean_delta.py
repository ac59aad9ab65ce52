"""Delta adjustment of conditional mean imputation (``condmean(delta=)``, ``delta_template``), against R rbmi.

Reference values: ``tests/reference/condmean_delta_refs.json`` from ``make_condmean_delta_refs.R``
(R 4.2.2, rbmi 1.5.2, mmrm 0.3.18 run to convergence): the antidepressant data with the quickstart's
JR ICE table, ``analyse(ancova, delta = ...)`` with a constant delta on the imputed values of DRUG
and with ``delta_template(delta = c(0.5, 1, 1.5, 2), dlag = c(1, 1, 0.5, 0.25))``.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_missing_condmean import RTOL, check_against

from trialmlm.errors import DataError
from trialmlm.estimands import condmean, delta_template

REF = Path(__file__).parent / "reference"
REFS = json.loads((REF / "condmean_delta_refs.json").read_text())
DLAG = REFS["scenarios"]["dlag"]


@pytest.fixture(scope="module")
def fitted(antidepressant_fit):
    return antidepressant_fit


@pytest.fixture(scope="module")
def ice():
    return pd.DataFrame(REFS["ice"])


@pytest.fixture(scope="module")
def template(fitted, ice):
    return delta_template(fitted, ice=ice, reference="PLACEBO", delta=DLAG["delta"], dlag=DLAG["dlag"])


def test_template_matches_rbmi(template):
    ref = pd.DataFrame(DLAG["template"])
    merged = template.astype({"PATIENT": str, "VISIT": str}).merge(
        ref, on=["PATIENT", "VISIT"], suffixes=("", "_rbmi"), validate="one_to_one")
    assert len(merged) == len(ref) == 172 * 4 and (merged["delta"] != 0).sum() > 0
    for column in ("is_mar", "is_missing", "is_post_ice"):
        assert (merged[column] == merged[f"{column}_rbmi"]).all(), column
    assert (merged["strategy"].fillna("-") == merged["strategy_rbmi"].fillna("-")).all()
    np.testing.assert_allclose(merged["delta"], merged["delta_rbmi"], rtol=1e-12)


def test_constant_delta_matches_rbmi(fitted, ice):
    scenario = REFS["scenarios"]["constant"]
    frame = delta_template(fitted, ice=ice, reference="PLACEBO")
    assert (frame["delta"] == 0).all()
    shifted_arm = frame["is_missing"] & (frame["THERAPY"] == scenario["arm"])
    frame["delta"] = np.where(shifted_arm, scenario["delta"], 0.0)
    result = condmean(fitted, ice=ice, reference="PLACEBO", delta=frame)
    check_against(result, scenario["pooled"], RTOL)
    plain = condmean(fitted, ice=ice, reference="PLACEBO")
    shifted = result.completed - plain.completed
    np.testing.assert_allclose(shifted.ravel(), frame["delta"], atol=1e-12)


def test_dlag_delta_matches_rbmi(fitted, ice, template):
    result = condmean(fitted, ice=ice, reference="PLACEBO", delta=template)
    check_against(result, DLAG["pooled"], RTOL)
    assert delta_template(result, delta=DLAG["delta"], dlag=DLAG["dlag"]).equals(template)


def test_lag_scale_by_hand(fitted):
    """Event at the third of four visits: 0, 0, l1 d3, l1 d3 + l2 d4 (observed values: missing_only=False)."""
    subject = "1503"
    ice = pd.DataFrame({"PATIENT": [subject], "VISIT": ["6"], "strategy": ["MAR"]})
    frame = delta_template(fitted, ice=ice, delta=[1, 2, 3, 4], dlag=[10, 100, 1000, 0], missing_only=False)
    rows = frame[frame["PATIENT"] == subject]
    np.testing.assert_array_equal(rows["delta"], [0, 0, 30, 430])
    np.testing.assert_array_equal(rows["is_post_ice"], [False, False, True, True])
    assert (frame.loc[frame["PATIENT"] != subject, "delta"] == 0).all()
    assert (delta_template(fitted, ice=ice, delta=[1, 2, 3, 4], dlag=[10, 100, 1000, 0])["delta"] == 0).all()


def test_errors(fitted, ice):
    good = pd.DataFrame({"PATIENT": ["1503"], "VISIT": ["4"], "delta": [1.0]})
    cases = [
        (good.assign(PATIENT="nobody"), "subject 'nobody' is not in the data"),
        (good.assign(VISIT="9"), "visit '9' is not a level of 'VISIT'"),
        (good.assign(delta=np.inf), "'delta' must be finite"),
        (good.assign(delta="a lot"), "'delta' must be finite"),
        (good.drop(columns="delta"), "no column 'delta'"),
        (pd.concat([good, good]), "more than one row for visit '4'"),
        ([1.0], "delta must be a number, a mapping visit -> number or a DataFrame"),
        ("a lot", "delta must be a number, a mapping visit -> number or a DataFrame"),
    ]
    for delta, message in cases:
        with pytest.raises(DataError, match=message):
            condmean(fitted, delta=delta)
    for kwargs, message in [({"delta": [1, 2, 3, 4]}, "dlag is missing"),
                            ({"delta": [1, 2, 3], "dlag": [1, 1, 1, 1]}, "delta must be 4 numbers"),
                            ({"delta": [1, 2, 3, np.nan], "dlag": [1, 1, 1, 1]}, "delta must be finite"),
                            ({"delta": [1, 2, 3, 4], "dlag": ["x", 1, 1, 1]}, "dlag must be 4 numbers"),
                            ({"missing_only": "yes"}, "missing_only must be True or False")]:
        with pytest.raises(DataError, match=message):
            delta_template(fitted, ice=ice, reference="PLACEBO", **kwargs)
    with pytest.raises(DataError, match="reference"):
        delta_template(fitted, ice=ice)
