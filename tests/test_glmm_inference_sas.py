"""GLMMResults' inference vs SAS PROC GLIMMIX printed output (tests/reference/glmm_sas/README.md: PHUSE/PSI
CAMIS, respiratory trial, ``METHOD=QUAD(QPOINTS=5)``, random intercept per subject): DDFM=BW df,
EMPIRICAL (classical) standard errors, t and p with and without DDFM=NONE, and ``lsmeans trtp*avisitn /
cl ilink oddsratio diff`` with EMPIRICAL and DDFM=BW.  Tolerance: half a unit in the last printed digit
plus what GLIMMIX's early stop (GCONV, up to 2.8e-5 in the estimates; ``test_glmm_sas.py``) moves a
quantity: ``STOP`` for SEs and probabilities, ``STOP_T`` for t statistics and p-values (an estimate
moved by 5e-5 moves t by up to 1e-4), 3e-4 relative for odds ratios."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialmlm.glimmix import glmm

REF = Path(__file__).parent / "reference" / "glmm_sas"
PRINTED = json.loads((REF / "sas_printed.json").read_text())
STOP = 2e-5
STOP_T = 1e-4


@pytest.fixture(scope="module")
def fit():
    data = pd.read_csv(REF / "respiratory.csv")
    data = data.assign(trtp=pd.Categorical(data["trtp"], categories=["P", "A"]),
                       avisitn=pd.Categorical(data["avisitn"], categories=[1, 2, 3, 4]))
    return glmm("outcome ~ trtp * avisitn + (1 | usubjid)", data, method="quad", n_points=5)


def half(decimals: int) -> float:
    return 0.5 * 10.0 ** -decimals


@pytest.mark.parametrize(("label", "vcov", "df"), [
    ("glimmix_quad5", "model", "between-within"),
    ("glimmix_quad5_ddfm_none", "model", "none"),
    ("glimmix_quad5_empirical", "empirical", "between-within"),
    ("glimmix_quad5_empirical_ddfm_none", "empirical", "none"),
])
def test_solution_table_matches_glimmix(fit, label, vcov, df):
    printed = PRINTED["fits"][label]
    table = fit.coef_table(vcov=vcov, df=df)
    # DDFM=BW: 111 subjects - rank(intercept, trtp) = 109 between; 444 - 111 - (8 - 2) = 327 within
    expected_df = [np.inf] * 8 if df == "none" else [109, 109, 327, 327, 327, 327, 327, 327]
    np.testing.assert_array_equal(table["df"], expected_df)
    np.testing.assert_allclose(table["se"], printed["se"], rtol=0, atol=half(4) + STOP)
    t_decimals = 4 if vcov == "empirical" else 2
    np.testing.assert_allclose(table["t"], printed["t"], rtol=3e-4, atol=half(t_decimals) + STOP_T)
    np.testing.assert_allclose(table["p"], printed["p"], rtol=0, atol=half(4) + STOP_T)


def test_lsmeans_ilink_and_odds_ratios_match_glimmix(fit):
    rows = pd.DataFrame(PRINTED["lsmeans_quad5_empirical"]["rows"],
                        columns=PRINTED["lsmeans_quad5_empirical"]["columns"])
    ls = fit.lsmeans("trtp", by="avisitn", ilink=True, vcov="empirical", df="between-within")
    ls = ls.assign(t=ls["estimate"] / ls["se"]).set_index(["trtp", "avisitn"])
    ls = ls.loc[list(zip(rows["trtp"], rows["avisitn"]))]
    np.testing.assert_array_equal(ls["df"], rows["df"])  # SAS: the df of the effect trtp*avisitn (within)
    np.testing.assert_allclose(ls["t"], rows["t"], rtol=3e-4, atol=half(2))
    for ours, theirs in [("mean", "mu"), ("mean_lower", "lower_mu"), ("mean_upper", "upper_mu")]:
        np.testing.assert_allclose(ls[ours], rows[theirs], rtol=0, atol=half(4) + STOP, err_msg=ours)
    # the standard errors of the probabilities are printed to 4 significant digits
    digits = 3 - np.floor(np.log10(rows["se_mu"].to_numpy()))
    assert np.all(np.abs(ls["mean_se"].to_numpy() - rows["se_mu"]) <= 0.5 * 10.0 ** -digits + STOP)
    odds = pd.DataFrame(PRINTED["odds_ratios_quad5_empirical"]["rows"],
                        columns=PRINTED["odds_ratios_quad5_empirical"]["columns"])
    diff = fit.compare("trtp", by="avisitn", vcov="empirical", df="between-within")
    assert list(diff["contrast"]) == ["A - P"] * 4
    np.testing.assert_array_equal(diff["df"], odds["df"])
    np.testing.assert_allclose(diff["t"], odds["t"], rtol=3e-4, atol=half(2))
    np.testing.assert_allclose(diff["p"], odds["p"], rtol=0, atol=half(4) + STOP_T)
    for ours, theirs in [("ratio", "odds_ratio"), ("ratio_lower", "lower_or"), ("ratio_upper", "upper_or")]:
        np.testing.assert_allclose(diff[ours], odds[theirs], rtol=3e-4, atol=half(3), err_msg=ours)
