"""One result API (trialmlm/inference/protocol.py): a fit and a multiple-imputation result answer
``lsmeans`` and ``compare`` with the same keywords, defaults, validation and columns (issue 12).

The pooled numbers are Rubin's rules (tested against R mice in test_missing_impute.py) applied
to the fit's MMRM on each completed data set; here they are checked against that composition
done by hand with ``trialmlm.fit`` on ``completed_data(m)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm import estimands
from trialmlm.errors import DataError
from trialmlm.estimands.rubin import pool
from trialmlm.inference.protocol import Comparisons

SAMPLE = Path(__file__).parents[1] / "sample_data" / "depression_trial.csv"
FORMULA = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
PBO = "Placebo"


@pytest.fixture(scope="module")
def fit():
    return trialmlm.fit(FORMULA, trialmlm.read(SAMPLE, param="HAMD17"))


@pytest.fixture(scope="module")
def mi(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimands.impute(fit, method="jump_to_reference", reference=PBO, n_imputations=4, seed=5)


def test_both_results_implement_the_protocol(fit, mi):
    assert isinstance(fit, Comparisons) and isinstance(mi, Comparisons)
    assert list(mi.compare("TRT01P").columns) == [*fit.compare("TRT01P").columns, "fmi"]
    ls = fit.lsmeans("TRT01P", by="AVISIT")
    assert list(mi.lsmeans("TRT01P", by="AVISIT").columns) == [*ls.columns, "fmi"]


def test_compare_with_a_factor_pools_the_analyses_of_the_completed_data(mi):
    """Issue 12: mi.compare("TRT01P") raised TypeError: str / int."""
    got = mi.compare("TRT01P", by="AVISIT", pairwise=True)
    tables = []
    for m in range(mi.n_imputations):
        completed = mi.completed_data(m).drop(columns="imputed")
        tables.append(trialmlm.fit(FORMULA, completed).compare("TRT01P", by="AVISIT", pairwise=True))
    est, se, df = (np.stack([t[c].to_numpy() for t in tables]) for c in ("estimate", "se", "df"))
    want = pool(est, se**2, df)
    assert list(got["contrast"]) == list(tables[0]["contrast"])
    for column in ("estimate", "se", "df", "p", "lower", "upper", "fmi"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-6, err_msg=column)


def test_the_default_request_is_the_one_computed_while_imputing(mi):
    """compare() without arguments (the arm by visit against the imputation's reference) and
    the same request spelt out, which analyses the completed data again, agree."""
    stored = mi.compare()
    again = mi.compare("TRT01P", by="AVISIT", reference=PBO, weights="equal")
    pd.testing.assert_frame_equal(stored, again, rtol=1e-7)
    default = mi.compare("TRT01P")  # by=None and the first level as reference, as fit.compare
    assert list(default["contrast"]) == ["Drug 20 mg - Drug 10 mg", "Placebo - Drug 10 mg"]


def test_adjustments_apply_to_the_pooled_p_values(mi):
    plain = mi.compare(reference=PBO)
    holm = mi.compare(reference=PBO, adjust="bonferroni")
    families = plain.groupby("AVISIT", sort=False).size().to_numpy()
    np.testing.assert_allclose(holm["p"], np.minimum(1, plain["p"] * np.repeat(families, families)))
    with pytest.raises(DataError, match="adjust='dunnett' needs the joint distribution"):
        mi.compare(reference=PBO, adjust="dunnett")


@pytest.mark.parametrize("call, message", [
    (lambda r: r.compare("TRT01P", reference="Nope"), r"reference 'Nope' is not a level of 'TRT01P'"),
    (lambda r: r.compare("ARMX"), r"'ARMX' is not a factor of the mean model"),
    (lambda r: r.lsmeans("TRT01P", by="VISITX"), r"'VISITX' is not a factor of the mean model"),
    (lambda r: r.compare("TRT01P", adjust="tukey"), r"adjust='tukey' \(Tukey-Kramer\) is for all pairs"),
    (lambda r: r.compare("TRT01P", alpha=1.5), r"alpha must be a number strictly between 0 and 1"),
])
def test_same_validation(fit, mi, call, message):
    for result in (fit, mi):
        with pytest.raises(DataError, match=message):
            call(result)


def test_unknown_keyword_is_named(mi):
    with pytest.raises(DataError, match=r"compare\(\) has no keyword 'refrence'"):
        mi.compare("TRT01P", refrence=PBO)
    with pytest.raises(DataError, match=r"lsmeans\(\) has no keyword 'bye'"):
        mi.lsmeans("TRT01P", bye="AVISIT")
