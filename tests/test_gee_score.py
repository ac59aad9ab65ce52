"""Generalized score type 3 tests of trialmlm.genmod.score against the independent R
computation of tests/reference/gee_small/make_score_refs.R (geeglm for the restricted fits,
the documented formula for the statistic), and the t/F plumbing of the result tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError

REF = Path(__file__).parent / "reference"
SCORE = json.loads((REF / "gee_small" / "score_refs.json").read_text())


@pytest.fixture(scope="module")
def respiratory():
    data = pd.read_csv(REF / "gee_published" / "respiratory.csv")
    data["subject"] = data["center"] * 1000 + data["id"]
    data["VISIT"] = data["visit"].astype(str)
    return trialmlm.gee("outcome ~ treatment + sex + age + baseline + VISIT", data, working="exchangeable",
                        subject="subject", visit="VISIT", moments="geepack", tol=1e-12)


def test_score_type3_matches_r(respiratory):
    table = respiratory.anova(test="score").set_index("term")
    assert table["converged"].all()
    for r_term, term in (("treatment", "treatment"), ("sex", "sex"), ("age", "age"), ("baseline", "baseline"),
                         ("visit", "VISIT")):
        want = SCORE["terms"][r_term]
        assert table.loc[term, "df"] == want["df"]
        np.testing.assert_allclose(table.loc[term, "chi_square"], want["chi_square"], rtol=1e-6, err_msg=term)
        np.testing.assert_allclose(table.loc[term, "p"], want["p"], rtol=1e-5, err_msg=term)


def test_score_and_wald_agree_roughly(respiratory):
    """Both test the same hypotheses; they differ in finite samples but not in order of magnitude."""
    score = respiratory.anova(test="score")["chi_square"].to_numpy()
    wald = respiratory.anova()["chi_square"].to_numpy()
    assert np.all(np.abs(np.log(score / wald)) < 0.5)


def test_df_columns_are_consistent(respiratory):
    K, p = 111, respiratory.beta.size
    coef = respiratory.coef_table(vcov="md", df="clusters")
    assert (coef["df"] == K - p).all()
    wald = respiratory.anova(vcov="md", df="clusters")
    assert (wald["den_df"] == K - p).all()
    np.testing.assert_allclose(wald["F"], wald["chi_square"] / wald["df"])
    from scipy import stats
    np.testing.assert_allclose(wald["p"], stats.f.sf(wald["F"], wald["df"], K - p))
    ls = respiratory.lsmeans("treatment", vcov="fg", df="fg")
    assert np.all(np.isfinite(ls["df"])) and np.all(ls["df"] < K)
    cmp = respiratory.compare("treatment", reference="P", vcov="fg", df="fg")
    half = stats.t.ppf(0.975, cmp["df"]) * cmp["se"]
    np.testing.assert_allclose(cmp["upper"] - cmp["estimate"], half)
    assert np.isinf(respiratory.coef_table()["df"]).all() and "den_df" not in respiratory.anova()


def test_bad_options_are_named(respiratory):
    with pytest.raises(DataError, match="test must be one of wald, score"):
        respiratory.anova(test="lr")
    with pytest.raises(DataError, match="df must be one of none, clusters, fg"):
        respiratory.coef_table(df="kr")
    with pytest.raises(DataError, match="defined for vcov 'fg' or 'robust'"):
        respiratory.coef_table(vcov="md", df="fg")
