"""Shared fixtures: reference data sets committed under tests/reference/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

import trialmlm

# CI runs the same hypothesis examples every time (a red CI must be reproducible); local runs
# keep drawing new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REFERENCE = Path(__file__).parent / "reference"
ANTIDEPRESSANT_FORMULA = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT + us(VISIT | PATIENT)"


@pytest.fixture(scope="session")
def demo_trial() -> pd.DataFrame:
    """Public simulated two-arm trial (160 subjects, V1-V5, monotone + intermittent gaps)."""
    return pd.read_csv(REFERENCE / "demo_trial.csv")


@pytest.fixture(scope="session")
def demo_fit(demo_trial):
    """``CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)`` on the demo trial (REML)."""
    return trialmlm.fit("CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)", demo_trial)


@pytest.fixture(scope="session")
def antidepressant() -> pd.DataFrame:
    """rbmi's antidepressant trial as its quickstart expands it (172 subjects x visits 4-7)."""
    return pd.read_csv(REFERENCE / "antidepressant.csv", dtype={"PATIENT": str, "VISIT": str})


@pytest.fixture(scope="session")
def antidepressant_fit(antidepressant):
    """The rbmi quickstart's imputation model on it (REML, ``us``; ``ANTIDEPRESSANT_FORMULA``)."""
    return trialmlm.fit(ANTIDEPRESSANT_FORMULA, antidepressant)


@pytest.fixture(scope="session")
def trial3() -> pd.DataFrame:
    """Simulated three-arm trial of make_gls_refs.R (heavy dropout, unequal times, weights)."""
    return pd.read_csv(REFERENCE / "trial3.csv")


@pytest.fixture(scope="session")
def mmrm_reference() -> dict:
    """R mmrm 0.3.18 values for ten structures (shared/reference, script demo_trial_mmrm.R)."""
    return json.loads((REFERENCE / "demo_trial_mmrm.json").read_text())


@pytest.fixture(scope="session")
def gls_reference() -> dict:
    """R nlme::gls values (script make_gls_refs.R)."""
    return json.loads((REFERENCE / "gls_refs.json").read_text())


@pytest.fixture(scope="session")
def responder_sap_records() -> pd.DataFrame:
    """The bundled ADEFF responder file's records of the README's SAP, selected by plain pandas:
    EFFFL, AVISITN >= 2, ANL01FL, no DTYPE, no baseline; CRIT1FL as 1/0; visits and arms as
    ordered categories (the report's encoding)."""
    path = Path(__file__).resolve().parents[1] / "sample_data" / "responder_trial.csv"
    d = pd.read_csv(path, dtype={"SITEID": str}, keep_default_na=False, na_values=[""])
    d = d.loc[(d["EFFFL"] == "Y") & (d["AVISITN"] >= 2) & (d["ANL01FL"] == "Y") & d["DTYPE"].isna()
              & (d["ABLFL"] != "Y")].copy()
    d["CRIT1FL"] = d["CRIT1FL"].map({"Y": 1.0, "N": 0.0})
    visits = ["Week 2", "Week 4", "Week 6", "Week 8"]
    d["AVISIT"] = pd.Categorical(d["AVISIT"], categories=visits, ordered=True)
    d["TRT01P"] = pd.Categorical(d["TRT01P"], categories=["Placebo", "Drug 10 mg", "Drug 20 mg"])
    return d.reset_index(drop=True)
