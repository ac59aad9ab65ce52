"""The subgroup part of a report (:mod:`trialmlm.app.subgroup_report`, ``--subgroups``) on the
bundled ADaM pair: Table 8, Figure 9 and ``analysis_results.json`` hold the numbers of
:func:`trialmlm.subgroups` on the report's own fit; the options and errors in CLI words."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.app.cli import main
from trialmlm.app.config import make_config
from trialmlm.errors import DataError, DataWarning
from trialmlm.tables import fmt_p
from trialmlm.tables.subgroup_tables import subgroup_table

DATA = Path(__file__).parent.parent / "sample_data"
COMMON = [str(DATA / "adeff.xpt"), "--adsl", str(DATA / "adsl.xpt"), "--param", "HAMD17",
          "--population", "EFFFL", "--covariates", "BASE"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("subgroups") / "report"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        assert main(["analyze", *COMMON, "--subgroups", "SEX", "AGEGR1", "REGION1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def direct():
    """trialmlm.subgroups on the report's model (Kenward-Roger, reference Placebo)."""
    df = trialmlm.read(DATA / "adeff.xpt", adsl=DATA / "adsl.xpt", param="HAMD17", population="EFFFL")
    fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", df, ddf="kenward-roger")
    with pytest.warns(DataWarning, match="AGEGR1 = >=65"):
        return trialmlm.subgroups(fit, df, ["SEX", "AGEGR1", "REGION1"], arm="TRT01P", reference="Placebo")


def test_report_files_and_json_hold_the_subgroup_numbers(report, direct):
    for name in ("t8_subgroups.rtf", "t8_subgroups.html", "t8_subgroups.csv", "f9_subgroups.png"):
        assert (report / name).is_file()
    entry = json.loads((report / "analysis_results.json").read_text())["subgroups"]
    assert entry["visit"] == "Week 24" and entry["reference"] == "Placebo" and entry["method"] == "one-model"
    got = pd.DataFrame(entry["differences"])
    assert got[["variable", "level", "contrast"]].values.tolist() == \
        direct.table[["variable", "level", "contrast"]].values.tolist()
    np.testing.assert_allclose(got["estimate"].astype(float), direct.table["estimate"], rtol=1e-10)
    assert got["n_arm"].tolist() == direct.table["n_arm"].tolist()
    interactions = pd.DataFrame(entry["interactions"])
    np.testing.assert_allclose(interactions["p"], direct.interactions["p"], rtol=1e-10)
    ne = got.loc[got["note"] != ""]
    assert ne[["variable", "level", "contrast"]].values.tolist() == \
        [["AGEGR1", ">=65", "Drug 20 mg Extended Release - Placebo"]]
    assert ne["estimate"].isna().all()  # NaN written as null, with the reason beside it


def test_table_8_rows(report, direct):
    csv = pd.read_csv(report / "t8_subgroups.csv", keep_default_na=False)
    assert len(csv) == 2 + 3 * 2 * 2
    html = (report / "t8_subgroups.html").read_text()
    assert "Table 8. HAMD-17 Total Score, change from baseline: differences from Placebo by subgroup at " \
           "Week 24" in html
    p_sex = direct.interaction_p()["SEX"]
    assert fmt_p(p_sex) in html
    assert "AGEGR1 = &gt;=65, Drug 20 mg Extended Release - Placebo: NE: 2 subjects in Drug 20 mg " \
           "Extended Release (fewer than 5)." in html
    index = (report / "index.html").read_text()
    assert "f9_subgroups.png" in index and "Figure 9. Treatment differences by subgroup" in index


def test_table_layout(direct):
    """Each variable's label and each level once, the overall effect first without a level."""
    rows = [r[:3] for r in subgroup_table(direct).rows]
    assert rows[:3] == [("All subjects", "", "Drug 10 mg - Placebo"),
                        ("", "", "Drug 20 mg Extended Release - Placebo"),
                        ("Sex", "F", "Drug 10 mg - Placebo")]
    assert [r[1] for r in rows if r[1]] == ["F", "M", "<65", ">=65", "EUROPE", "NORTH AMERICA"]
    labels = ["All subjects", "Sex", "Pooled Age Group 1", "Geographic Region 1"]
    assert [r[0] for r in rows if r[0]] == labels


def test_subgroups_need_the_mmrm_and_a_column(tmp_path, capsys):
    with pytest.raises(DataError, match="subgroups .--subgroups. .* need model='mmrm'"):
        make_config(data="x.csv", model="ancova", subgroups=["SEX"])
    assert make_config(data="x.csv", subgroups="SEX").subgroups == ("SEX",)
    code = main(["analyze", *COMMON, "--subgroups", "REGION9", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "no column for subgroup REGION9" in capsys.readouterr().err
