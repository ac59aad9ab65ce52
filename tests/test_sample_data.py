"""The bundled sample trials: the generator reproduces the shipped files, the files keep the
design documented in sample_data/README.md, and the models they are meant for recover the
true parameters of sample_data/make_sample_data.py within sampling error."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.missing import dropout_table, patterns

SAMPLE = Path(__file__).parents[1] / "sample_data"
SCRIPT = SAMPLE / "make_sample_data.py"
DEP, LT = SAMPLE / "depression_trial.csv", SAMPLE / "long_term_trial.csv"


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


def test_generator_reproduces_shipped_files(tmp_path):
    """The command line writes byte-identical files, twice (fixed seed, rounded values)."""
    for run in ("a", "b"):
        out = tmp_path / run
        subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], check=True, capture_output=True)
        for shipped in (DEP, LT):
            assert (out / shipped.name).read_bytes() == shipped.read_bytes(), (
                f"{shipped.name} differs from the generator's output: run "
                "python sample_data/make_sample_data.py and commit the files")


def test_readme_documents_every_column():
    readme = (SAMPLE / "README.md").read_text()
    for path in (DEP, LT):
        section = readme.split(f"## `{path.name}`")[1].split("\n## ")[0]
        for col in pd.read_csv(path, nrows=1).columns:
            assert re.search(rf"^\| {col} +\|", section, re.M), f"README.md: no row for {col} of {path.name}"
    assert str(gen.SEED) in readme


@pytest.fixture(scope="module")
def depression() -> pd.DataFrame:
    return trialmlm.read(DEP, param="HAMD17", response="CHG")


@pytest.fixture(scope="module")
def long_term() -> pd.DataFrame:
    return trialmlm.read(LT, param="FVC", response="AVAL", keep_baseline=True)  # AVAL from time 0


def test_depression_design(depression):
    raw = pd.read_csv(DEP)
    subjects = raw.groupby("USUBJID").first()
    assert subjects["TRT01P"].value_counts().to_dict() == {a: 100 for a in gen.DEP_ARMS}
    assert (subjects["TRT01P"] == subjects["TRT01A"]).all() and subjects["SITEID"].nunique() == 10
    assert list(depression["AVISIT"].cat.categories) == [f"Week {w}" for w in gen.DEP_WEEKS]
    # the baseline and re-test rows are in the file but not flagged for analysis
    base = raw[raw["AVISIT"] == "Baseline"]
    assert len(base) == 300 and (base["ABLFL"] == "Y").all() and base["ANL01FL"].isna().all()
    assert (base["AVAL"] == base["BASE"]).all() and base["CHG"].isna().all()
    retests = raw[(raw["AVISIT"] != "Baseline") & raw["ANL01FL"].isna()]
    assert len(retests) > 0 and not depression.duplicated(["USUBJID", "AVISIT"]).any()
    assert (depression["CHG"] == depression["AVAL"] - depression["BASE"]).all()
    assert depression["AVAL"].between(0, 52).all() and depression["BASE"].between(20, 34).all()
    assert depression.groupby("AVISIT", observed=True)["ADY"].agg(["min", "max"]).apply(
        lambda r: r["max"] - r["min"] <= 4, axis=1).all()


def test_without_analysis_flag_the_retests_are_duplicates():
    with pytest.raises(trialmlm.DataError, match=r"subject '.*' has 2 records at AVISIT = '.*' in "
                       r"'.*depression_trial\.csv' after the record selection"):
        trialmlm.read(DEP, analysis_flag=None)


def test_depression_missing_data(depression):
    pat = patterns(depression, "USUBJID", "AVISIT", "CHG", arm="TRT01P")
    assert set(pat["type"]) == {"complete", "monotone", "intermittent"}  # week 1 always observed
    drop = dropout_table(depression, "USUBJID", "AVISIT", "CHG", arm="TRT01P", reason="DCSREAS")
    week8 = drop[drop["AVISIT"] == "Week 8"].set_index("TRT01P")
    by_arm = drop.groupby("TRT01P")[["Lack of Efficacy", "Adverse Event"]].sum()
    assert week8["cumulative_dropout_percent"].between(15, 30).all()
    assert by_arm["Lack of Efficacy"].idxmax() == "Placebo"
    assert by_arm["Adverse Event"].idxmax() == "Drug 20 mg"
    # DCSREAS is given exactly for the subjects who drop out (observed at Week 8 = completers)
    subjects = depression.groupby("USUBJID").agg(reason=("DCSREAS", "first"),
                                                 last=("AVISIT", lambda v: v.astype(str).iloc[-1]))
    assert (subjects["reason"].isna() == (subjects["last"] == "Week 8")).all()


def test_depression_mmrm_recovers_truth(depression):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", depression)
    assert fit.converged
    diff = fit.compare("TRT01P", by="AVISIT", reference="Placebo")
    truth = {arm: np.subtract(gen.DEP_MEAN_CHG[arm], gen.DEP_MEAN_CHG["Placebo"]) for arm in gen.DEP_ARMS[1:]}
    for _, row in diff.iterrows():
        true = truth[row["TRT01P"]][list(gen.DEP_WEEKS).index(int(row["AVISIT"].split()[1]))]
        assert abs(row["estimate"] - true) < 3 * row["se"], row.to_dict()
    week8 = diff[diff["AVISIT"] == "Week 8"]
    assert (week8["upper"] < 0).all()  # both doses beat placebo at week 8
    sd = np.sqrt(np.diag(fit.covariance_matrix().to_numpy()))
    true_sd = np.sqrt(np.array(gen.DEP_RESID_SD) ** 2 + gen.DEP_SITE_SD ** 2)
    np.testing.assert_allclose(sd, true_sd, rtol=0.2)


def test_long_term_design_and_slope_model(long_term):
    subjects = long_term.groupby("USUBJID").first()
    assert subjects["TRT01P"].value_counts().to_dict() == {a: 75 for a in gen.LT_ARMS}
    assert (long_term.loc[long_term["AVISIT"] == "Baseline", "TIME"] == 0).all()
    months = [f"Month {m}" for m in gen.LT_MONTHS[1:]]
    assert list(long_term["AVISIT"].cat.categories) == ["Baseline", *months]
    planned = long_term["AVISITN"] / 12
    assert (long_term["TIME"] - planned).abs().max() < 22 / 365.25 + 0.01
    dropped = subjects["DCSREAS"].notna().groupby(subjects["TRT01P"]).mean()
    assert dropped.between(0.05, 0.35).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = trialmlm.fit("AVAL ~ TRT01P * TIME + (1 + TIME | USUBJID)", long_term)
    assert fit.converged
    slope = fit.compare("TRT01P", slope="TIME", reference="Placebo").iloc[0]
    true = gen.LT_SLOPE["Drug 150 mg"] - gen.LT_SLOPE["Placebo"]
    assert abs(slope["estimate"] - true) < 3 * slope["se"]
    G = fit.random_effects_covariance.to_numpy()
    np.testing.assert_allclose(np.sqrt(np.diag(G)), gen.LT_G_SD, rtol=0.25)
    assert np.sqrt(fit.residual_variance) == pytest.approx(gen.LT_RESID_SD, rel=0.1)


PAIR_SCRIPT = SAMPLE / "make_adam_pair.py"


@pytest.fixture(scope="module")
def adam_pair_files(tmp_path_factory):
    """The ADaM pair as shipped and as the generator writes it again."""
    from trialmlm.data.io import read_table

    out = tmp_path_factory.mktemp("pair")
    subprocess.run([sys.executable, str(PAIR_SCRIPT), "--out", str(out)], check=True, capture_output=True)
    return {name: (read_table(SAMPLE / f"{name}.xpt"), read_table(out / f"{name}.xpt"))
            for name in ("adsl", "adeff")}


def test_adam_pair_generator_reproduces_shipped_files(adam_pair_files):
    """Same values, types and labels (the XPT header's creation time differs)."""
    for name, (shipped, again) in adam_pair_files.items():
        pd.testing.assert_frame_equal(shipped, again, obj=f"{name}.xpt")
        assert shipped.attrs["labels"] == again.attrs["labels"]


def test_adam_pair_holds_what_the_readme_says(adam_pair_files):
    adsl, adeff = adam_pair_files["adsl"][0], adam_pair_files["adeff"][0]
    hamd = adeff[adeff["PARAMCD"] == "HAMD17"]
    assert (len(adsl), len(adeff), len(hamd)) == (300, 3586, 2044)
    assert adsl["USUBJID"].is_unique and set(adeff["USUBJID"]) == set(adsl["USUBJID"])
    assert adsl.groupby("TRT01P")["TRT01PN"].first().to_dict() == {
        "Placebo": 0, "Drug 10 mg": 10, "Drug 20 mg Extended Release": 20}
    assert [(adsl[c] == "N").sum() for c in ("ITTFL", "SAFFL", "EFFFL")] == [3, 3, 8]
    assert adsl["EOSSTT"].value_counts().to_dict() == {"COMPLETED": 226, "DISCONTINUED": 74}
    assert ((adsl["EOSSTT"] == "COMPLETED") & (adsl["EOTSTT"] == "DISCONTINUED")).sum() == 10
    assert sorted(adsl["SITEGR1"].unique()) == ["701", "703", "704", "705", "708", "900"]
    assert (hamd["DTYPE"] == "LOCF").sum() == 226
    assert (hamd["ANL01FL"].isna().sum(), hamd["AVAL"].isna().sum()) == (23, 17)
    assert not {"EFFFL", "EOSSTT", "DCDECOD", "TRTEDT"} & set(adeff.columns)
    vas = adeff[(adeff["PARAMCD"] == "SLEEPVAS") & (adeff["AVISIT"] == "Week 4")]
    assert vas.groupby("USUBJID")["ATPTN"].apply(lambda t: sorted(t) == [1, 2]).all()
    assert adam_pair_files["adsl"][0].attrs["labels"]["EOSSTT"] == "End of Study Status"
    for key in ("20261207", "TMLM-401", "`SLEEPVAS`"):
        assert key in (SAMPLE / "README.md").read_text()


def test_adam_pair_effect_at_week_24(adam_pair_files):
    """The MMRM of the README shows the drug better than placebo at week 24 (true -2.2 and -3.2)."""
    df = trialmlm.read(SAMPLE / "adeff.xpt", adsl=SAMPLE / "adsl.xpt", param="HAMD17", response="CHG",
                       population="EFFFL", arm="TRT01P", reference="Placebo")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df)
    week24 = fit.compare("TRT01P", by="AVISIT", reference="Placebo").query("AVISIT == 'Week 24'")
    assert week24["estimate"].between(-4.5, -1.0).all() and (week24["upper"] < 0).all()
