"""trialmlm.gee against SAS PROC GENMOD's printed GEE table, to the printed digit.

Reference: tests/reference/gee_published/sas_printed_skin.json (README section E): the skin
cancer Poisson GEE with unstructured working correlation,
``model y = year trt*year / dist=poisson link=log; repeated subject=id / within=yearcat type=un``.
Each value is compared after rounding to the number of decimals SAS printed.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

import trialmlm

REF = Path(__file__).parent / "reference" / "gee_published"
TERMS = {"Intercept": "Intercept", "year": "year", "year*trt": "trt:year"}


@pytest.fixture(scope="module")
def printed():
    return json.loads((REF / "sas_printed_skin.json").read_text())


@pytest.fixture(scope="module")
def skin():
    return pd.read_csv(REF / "skin.csv")


def fitted_rows(skin, moments):
    """Coefficient table of the SAS call, rows in the printed order, columns as printed."""
    fit = trialmlm.gee("y ~ year + trt:year", skin, family="poisson", working="unstructured",
                       subject="id", visit="year", moments=moments)
    table = fit.coef_table().set_index("term")
    return {sas: table.loc[name, ["estimate", "se", "lower", "upper", "t", "p"]].to_numpy(float)
            for sas, name in TERMS.items()}


def test_skin_data_are_the_published_data(skin):
    assert skin.shape == (7081, 9)
    assert skin["id"].nunique() == 1683
    assert skin["y"].sum() == 1918
    assert (skin["trt"] == 1).sum() == 3557


def test_skin_unstructured_matches_sas_printed_table(skin, printed):
    rows = fitted_rows(skin, "sas")
    for sas, values in printed["rows"].items():
        for got, want, decimals in zip(rows[sas], values, printed["decimals"]):
            if want is None:  # printed "<.0001"
                assert got < 1e-4
            else:
                assert round(got, decimals) == pytest.approx(want, abs=1e-12), sas


def test_skin_geepack_moments_miss_printed_digits(skin, printed):
    """The printed digits tell the divisors apart: geepack's (N, pairs) round differently."""
    rows = fitted_rows(skin, "geepack")
    assert round(rows["Intercept"][0], 4) != printed["rows"]["Intercept"][0]
    assert round(rows["year"][5], 4) != printed["rows"]["year"][5]
    assert round(rows["year*trt"][5], 4) != printed["rows"]["year*trt"][5]
