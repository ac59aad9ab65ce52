"""LS-means weights of the reference grid (trialmlm.inference.grid.WEIGHTS) against R emmeans.

References: tests/reference/covariance_selection_refs.json ("weights"), written by
make_covariance_selection_refs.R (R 4.2.2, mmrm 0.3.18 run to convergence, emmeans 1.8.4):
``FEV1 ~ ARMCD * AVISIT + SEX * RACE + us(AVISIT | USUBJID)`` (REML) on the 537 rows of R
mmrm's FEV data with FEV1 (unbalanced SEX x RACE cells: 121/94/73 women, 79/102/68 men),
``emmeans(fit, ~ ARMCD | AVISIT, weights = w)`` and ``~ ARMCD`` (averaged over AVISIT,
SEX and RACE) with their TRT - PBO contrasts, for w = "equal", "proportional", "outer",
"cells"; Satterthwaite df.  trialmlm is given all 800 rows: its frequencies count the rows
used in the fit, as emmeans counts the rows of the data it was given.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import DataError

REFERENCE = Path(__file__).parent / "reference"
REFS = json.loads((REFERENCE / "covariance_selection_refs.json").read_text())["weights"]
FORMULA = "FEV1 ~ ARMCD * AVISIT + SEX * RACE + us(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def fev():
    return pd.read_csv(REFERENCE / "fev_data.csv")


@pytest.fixture(scope="module")
def fit(fev):
    return trialmlm.fit(FORMULA, fev, ddf="satterthwaite")


def _check(ours: pd.DataFrame, theirs: list[dict], keys: list[str]) -> None:
    ref = pd.DataFrame(theirs)
    assert len(ours) == len(ref)
    if keys:
        both = ours.merge(ref, on=keys, suffixes=("", "_r"), validate="one_to_one")
    else:
        both = ours.reset_index(drop=True).join(ref.add_suffix("_r"))
    assert len(both) == len(ref)
    np.testing.assert_allclose(both["estimate"], both["estimate_r"], rtol=1e-5)
    np.testing.assert_allclose(both["se"], both["se_r"], rtol=1e-5)
    np.testing.assert_allclose(both["df"], both["df_r"], rtol=0, atol=1e-3)


@pytest.mark.parametrize("weights", ["equal", "proportional", "outer", "cells"])
def test_weights_equal_emmeans(fit, weights):
    ref = REFS["results"][weights]
    _check(fit.lsmeans("ARMCD", by="AVISIT", weights=weights), ref["by_visit"], ["ARMCD", "AVISIT"])
    _check(fit.lsmeans("ARMCD", weights=weights), ref["overall"], ["ARMCD"])
    differences = fit.compare("ARMCD", by="AVISIT", weights=weights)
    _check(differences.rename(columns={"ARMCD": "arm"}), ref["by_visit_differences"], ["AVISIT"])
    overall = fit.compare("ARMCD", weights=weights)
    _check(overall, ref["overall_differences"], [])


def test_weightings_differ_where_the_interaction_of_the_averaged_factors_enters(fit):
    """With SEX * RACE, outer (product of margins) and proportional (joint frequencies)
    differ (emmeans: 40.4379 and 40.4654 for PBO overall); equal and cells as well."""
    overall = {w: fit.lsmeans("ARMCD", weights=w)["estimate"].to_numpy() for w in REFS["results"]}
    values = np.array(list(overall.values()))
    assert np.all(np.abs(np.diff(values, axis=0)) > 1e-3)


def test_outer_equals_proportional_for_additive_factors(fev):
    """Without the SEX x RACE interaction each factor enters through its own margin, which
    the outer product and the joint frequencies share: the LS means are the same."""
    additive = trialmlm.fit("FEV1 ~ ARMCD * AVISIT + SEX + RACE + us(AVISIT | USUBJID)", fev)
    pd.testing.assert_frame_equal(additive.lsmeans("ARMCD", by="AVISIT", weights="outer"),
                                  additive.lsmeans("ARMCD", by="AVISIT", weights="proportional"),
                                  check_exact=False, rtol=1e-12)


def test_unknown_weights_name_the_choices(fit):
    with pytest.raises(DataError, match="weights must be one of 'equal', 'proportional', 'outer', 'cells', "
                                        "got 'OM'"):
        fit.lsmeans("ARMCD", weights="OM")
