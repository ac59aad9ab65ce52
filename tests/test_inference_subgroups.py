"""Subgroup analyses (:mod:`trialmlm.inference.subgroups`) against R mmrm + emmeans.

tests/reference/make_subgroups_refs.R fits, on the HAMD17 records of the bundled ADaM pair
(tests/reference/subgroups_adam.csv), ``CHG ~ BASE + TRT01P * AVISIT + S + S:TRT01P + S:AVISIT +
S:TRT01P:AVISIT + us(AVISIT | USUBJID)`` for S = SEX (2 levels) and RACE (3 levels) with
Satterthwaite and Kenward-Roger df (mmrm vcov "Kenward-Roger-Linear", SAS's DDFM=KR for us), and
writes the emmeans differences from Placebo at Week 24 (adjust = "none"), the F test of the
interaction at Week 24 (L-matrix, mmrm::df_md) and the type III test of S:TRT01P:AVISIT (mmrm's type
III hypothesis by mmrm::df_md; its F also from car::Anova).  The multi-row Satterthwaite df depends
on the basis of L's rows; both sides use an orthonormal basis (the script says why).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.errors import DataError, DataWarning
from trialmlm.plots.subgroups import forest_rows

REF = Path(__file__).parent / "reference"
REFS = json.loads((REF / "subgroups_refs.json").read_text())
FORMULA = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)"
DDF = {"Satterthwaite": "satterthwaite", "Kenward-Roger": "kenward-roger"}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "subgroups_adam.csv")


@pytest.fixture(scope="module")
def results(data):
    """subgroups() of each df method on SEX and RACE."""
    out = {}
    for method, ddf in DDF.items():
        fit = trialmlm.fit(FORMULA, data, ddf=ddf)
        out[method] = trialmlm.subgroups(fit, data, ["SEX", "RACE"], arm="TRT01P", reference="Placebo",
                                         at_visit="Week 24")
    return out


@pytest.mark.parametrize("method", list(DDF))
@pytest.mark.parametrize("subgroup", ["SEX", "RACE"])
def test_one_model_differences_equal_emmeans(results, method, subgroup):
    ref = pd.DataFrame(REFS[method][subgroup]["differences"])
    ours = results[method].table
    ours = ours.loc[ours["variable"] == subgroup].reset_index(drop=True)
    ours = ours.set_index(["level", "contrast"]).loc[list(zip(ref["level"], ref["contrast"]))]
    assert (ours["note"] == "").all()
    for col in ("estimate", "se", "t"):
        np.testing.assert_allclose(ours[col].to_numpy(), ref[col].to_numpy(), rtol=1e-5, err_msg=col)
    for col in ("lower", "upper"):  # a limit near 0: 1e-5 of the SE
        np.testing.assert_allclose(ours[col].to_numpy(), ref[col].to_numpy(), rtol=1e-5,
                                   atol=1e-5 * ref["se"].min(), err_msg=col)
    np.testing.assert_allclose(ours["df"].to_numpy(), ref["df"].to_numpy(), rtol=1e-3)
    np.testing.assert_allclose(ours["p"].to_numpy(), ref["p"].to_numpy(), rtol=1e-4)
    loglik = REFS[method][subgroup]["logLik"]
    np.testing.assert_allclose(results[method].fits[subgroup].loglik, loglik, atol=1e-6)


@pytest.mark.parametrize("method", list(DDF))
@pytest.mark.parametrize("subgroup", ["SEX", "RACE"])
def test_interaction_tests_equal_mmrm(results, method, subgroup):
    tests = results[method].interactions.set_index(["variable", "test"])
    at = tests.loc[(subgroup, "at visit")]
    ref = REFS[method][subgroup]["at_visit"]
    assert at["num_df"] == ref["num_df"] == 2 * (2 if subgroup == "RACE" else 1)
    np.testing.assert_allclose([at["F"], at["p"]], [ref["F"], ref["p"]], rtol=1e-5)
    np.testing.assert_allclose(at["den_df"], ref["den_df"], rtol=1e-3)
    over = tests.loc[(subgroup, "over visits")]
    ref = REFS[method][subgroup]["type3"]
    assert over["num_df"] == ref["num_df"] == 5 * 2 * (2 if subgroup == "RACE" else 1)
    np.testing.assert_allclose([over["F"], over["p"]], [ref["F"], ref["p"]], rtol=1e-5)
    np.testing.assert_allclose(over["den_df"], ref["den_df"], rtol=1e-3)
    np.testing.assert_allclose(over["F"], ref["car_F"], rtol=1e-5)  # car::Anova: the same hypothesis


def test_overall_row_is_the_analysis_fit(results, data):
    """The first rows: the analysis model's own differences at the visit, n per arm."""
    r = results["Satterthwaite"]
    top = r.table.loc[r.table["variable"] == "All subjects"]
    fit = trialmlm.fit(FORMULA, data)
    own = fit.compare("TRT01P", by="AVISIT", reference="Placebo")
    own = own.loc[own["AVISIT"] == "Week 24"]
    np.testing.assert_allclose(top["estimate"].to_numpy(), own["estimate"].to_numpy(), rtol=1e-12)
    n = data.groupby("TRT01P")["USUBJID"].nunique()
    assert top["n_arm"].tolist() == [n[a] for a in top["arm"]]
    assert (top["n_reference"] == n["Placebo"]).all()


def test_separate_models_equal_per_level_fits(data):
    """Consistency property (not a reference): method="separate" gives, per level, the
    analysis model fitted to that level's records alone."""
    r = trialmlm.subgroups(FORMULA, data, "SEX", arm="TRT01P", reference="Placebo", method="separate")
    for level in ("F", "M"):
        own = trialmlm.fit(FORMULA, data.loc[data["SEX"] == level]).compare("TRT01P", by="AVISIT",
                                                                            reference="Placebo")
        own = own.loc[own["AVISIT"] == "Week 24"]  # the last visit (levels in natural order)
        rows = r.table.loc[(r.table["variable"] == "SEX") & (r.table["level"] == level)]
        np.testing.assert_allclose(rows["estimate"].to_numpy(), own["estimate"].to_numpy(), rtol=1e-10)
        np.testing.assert_allclose(rows["se"].to_numpy(), own["se"].to_numpy(), rtol=1e-10)
    assert r.at_visit == "Week 24" and set(r.interactions["variable"]) == {"SEX"}


def test_small_cell_is_ne_with_reason(data):
    """AGEGR1 >= 65 has 2 subjects in Drug 20 mg: NE with the count, named in a DataWarning."""
    with pytest.warns(DataWarning, match=r"AGEGR1 = >=65, Drug 20 mg Extended Release - Placebo: 2 subjects"):
        r = trialmlm.subgroups(FORMULA, data, "AGEGR1", arm="TRT01P", reference="Placebo", at_visit="Week 24")
    old = r.table.loc[r.table["level"] == ">=65"].set_index("arm")
    row = old.loc["Drug 20 mg Extended Release"]
    assert row["note"] == "NE: 2 subjects in Drug 20 mg Extended Release (fewer than 5)"
    assert np.isnan(row["estimate"]) and row["n_arm"] == 2
    other = old.loc["Drug 10 mg"]
    assert other["note"] == "" and np.isfinite(other["estimate"])


def test_not_estimable_level_is_named(data):
    """No Placebo subject of level M observed at Week 24: that level's differences are NE."""
    drop = (data["SEX"] == "M") & (data["TRT01P"] == "Placebo") & (data["AVISIT"] == "Week 24")
    with pytest.warns(DataWarning, match="no subject of Placebo observed at Week 24"):
        r = trialmlm.subgroups(FORMULA, data.loc[~drop], "SEX", arm="TRT01P", reference="Placebo",
                               at_visit="Week 24")
    rows = r.table.loc[r.table["level"] == "M"]
    assert rows["note"].str.startswith("NE: no subject of Placebo observed at Week 24").all()
    at = r.interactions.set_index("test").loc["at visit"]
    assert at["num_df"] == 0 and np.isnan(at["F"])


def test_level_without_subjects_in_an_arm_is_refused(data):
    keep = ~((data["RACE"] == "ASIAN") & (data["TRT01P"] == "Placebo"))
    with pytest.raises(DataError, match=r"RACE = 'ASIAN' has no subject in arm TRT01P = 'Placebo'"):
        trialmlm.subgroups(FORMULA, data.loc[keep], "RACE", arm="TRT01P", reference="Placebo")


def test_bad_arguments(data):
    with pytest.raises(DataError, match="no column 'REGION9'"):
        trialmlm.subgroups(FORMULA, data, "REGION9", arm="TRT01P")
    with pytest.raises(DataError, match="method must be one of"):
        trialmlm.subgroups(FORMULA, data, "SEX", arm="TRT01P", method="pooled")
    with pytest.raises(DataError, match="at_visit 'Week 99'"):
        trialmlm.subgroups(FORMULA, data, "SEX", arm="TRT01P", at_visit="Week 99")


def test_forest_rows_and_plot(results):
    """Headers per variable with the interaction p at the visit; a level's name on its first
    contrast only; the figure draws one CI line per estimable row."""
    r = results["Satterthwaite"]
    rows = forest_rows(r)
    headers = rows.loc[rows["kind"] == "variable"]
    assert headers["text"].tolist() == ["SEX", "RACE"]
    np.testing.assert_allclose(headers["p"].to_numpy(), [r.interaction_p()["SEX"], r.interaction_p()["RACE"]])
    assert rows["text"].tolist()[:2] == ["All subjects", ""]
    assert len(rows) == 2 + 2 + 2 * 2 + 3 * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = r.forest_plot()
    texts = [t.get_text() for t in ax.texts]
    assert "   BLACK OR AFRICAN AMERICAN" in texts and "Interaction p" in texts
    assert sum(line.get_linewidth() == 1.6 and len(line.get_xdata()) == 2 for line in ax.lines) == 2 + 10
