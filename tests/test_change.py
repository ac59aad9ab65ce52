"""LS means of cLDA fits as a SAP reports them (trialmlm/inference/change.py): LS means per arm
and visit, the change from baseline and arm - Placebo after baseline.

Reference values: R mmrm 0.3.18, ``df_1d`` of the cLDA fits of tests/reference/make_clda_refs.R
(clda_refs.json), Satterthwaite df for every case and Kenward-Roger (mmrm ``method =
"Kenward-Roger"``, ``vcov = "Kenward-Roger-Linear"``, SAS DDFM=KR for UN) for the us cases.
The fits and data are those of tests/test_clda.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import CLDA_REFS, clda_data, clda_fits

import trialmlm
from trialmlm import DataError
from trialmlm.inference.change import change_lsmeans

REFS = CLDA_REFS
VISITS, ARMS = REFS["visits"], REFS["arms"]
TABLES = [(name, key) for name, case in REFS["cases"].items()
          for key in ("satterthwaite", "kenward_roger") if key in case]


@pytest.fixture(scope="module")
def fits():
    return clda_fits()


def _check(table: pd.DataFrame, rows: list[dict]) -> None:
    ref = pd.DataFrame(rows)
    assert list(zip(table["TRT01P"].astype(str), table["AVISIT"].astype(str))) == \
        list(zip(ref["arm"], ref["visit"]))
    np.testing.assert_allclose(table["estimate"], ref["estimate"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=1e-5)
    np.testing.assert_allclose(table["df"], ref["df"], rtol=1e-3)


@pytest.mark.parametrize("name, key", TABLES)
def test_lsmeans_per_arm_and_visit(fits, name, key):
    fit, ref = fits[name], REFS["cases"][name][key]
    table = fit.lsmeans("TRT01P", by="AVISIT", ddf=key.replace("_", "-"))
    _check(table, ref["lsmeans"])
    baseline = table[table["AVISIT"] == "Baseline"]
    assert baseline["estimate"].nunique() == 1 and baseline["se"].nunique() == 1


@pytest.mark.parametrize("name, key", TABLES)
def test_change_from_baseline(fits, name, key):
    fit, ref = fits[name], REFS["cases"][name][key]
    table = change_lsmeans(fit, ddf=key.replace("_", "-"))
    assert list(table.columns) == ["TRT01P", "AVISIT", "estimate", "se", "df", "lower", "upper"]
    _check(table, ref["change"])
    lsm = fit.lsmeans("TRT01P", by="AVISIT", ddf=key.replace("_", "-"))
    at = lsm.set_index(["TRT01P", "AVISIT"])["estimate"]
    expected = [at[(a, v)] - at[(a, "Baseline")] for a, v in zip(table["TRT01P"], table["AVISIT"])]
    np.testing.assert_allclose(table["estimate"], expected, rtol=1e-12)


@pytest.mark.parametrize("name, key", TABLES)
def test_differences_after_baseline(fits, name, key):
    fit, ref = fits[name], REFS["cases"][name][key]
    table = fit.compare("TRT01P", by="AVISIT", ddf=key.replace("_", "-"))
    _check(table, ref["differences"])
    assert set(table["AVISIT"]) == set(VISITS[1:])
    assert (table["contrast"] == table["TRT01P"].astype(str) + " - Placebo").all()
    # the difference at a visit is tau: the coefficient of that arm and visit
    coef = [fit.coef[f"TRT01P[T.{a}]:AVISIT[{v}]"] for a, v in zip(table["TRT01P"], table["AVISIT"])]
    np.testing.assert_allclose(table["estimate"], coef, rtol=1e-12)


def test_compare_leaves_out_the_constrained_baseline(fits):
    """At baseline the arms are equal by construction: no pair, also with pairwise and adjust."""
    fit = fits["dep_us"]
    assert "Baseline" not in set(fit.compare("TRT01P", by="AVISIT")["AVISIT"])
    pairs = fit.compare("TRT01P", by="AVISIT", pairwise=True, adjust="tukey")
    assert len(pairs) == 3 * 5 and "Baseline" not in set(pairs["AVISIT"])
    dunnett = fit.compare("TRT01P", by="AVISIT", reference="Drug 10 mg", adjust="dunnett", alpha=0.1)
    assert set(dunnett["contrast"]) == {"Placebo - Drug 10 mg", "Drug 20 mg - Drug 10 mg"}
    assert (dunnett["p"] >= fit.compare("TRT01P", by="AVISIT", reference="Drug 10 mg")["p"]).all()


def test_a_fit_without_clda_is_refused():
    d = clda_data("dep")
    fit = trialmlm.fit("AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)", d)
    with pytest.raises(DataError, match=r"no clda\(ARM, VISIT\) term"):
        change_lsmeans(fit)
