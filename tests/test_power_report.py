"""``trialmlm power --config design.toml``: the report equals the API's numbers; bad configs exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trialmlm.app import cli
from trialmlm.power import Analysis, power_mmrm, simulate_power
from trialmlm.power.report import load_power_config

CONFIG = """
[design]
n_per_arm = 30
visits = ["Week 4", "Week 8", "Week 12"]
means = { Placebo = [0.0, -1.0, -2.0], Drug = [-1.0, -3.0, -5.0] }
covariance = { structure = "ar1", parameters = { "AR(1)" = 0.6, Residual = 36.0 } }
dropout = [0.95, 0.9, 0.85]

[analysis]
formula = "AVAL ~ TRT01P * AVISIT + us(AVISIT | USUBJID)"
treatment = "Drug"
reference = "Placebo"
ddf = "kenward-roger"

[simulation]
n_sim = 12
seed = 7
n_per_arm = [20, 30]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("power")
    (folder / "design.toml").write_text(CONFIG)
    assert cli.main(["power", "--config", str(folder / "design.toml"), "--out", str(folder / "out"),
                     "--workers", "1"]) == 0
    return folder


def test_every_file(report):
    out = report / "out"
    for name in ("t1_sample_size", "t2_operating", "t3_power_curve"):
        for ext in ("rtf", "html", "csv"):
            assert (out / f"{name}.{ext}").stat().st_size > 0
    assert (out / "f1_power_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "f1_power_curve.svg").exists()  # PNG only by default, as trialmlm analyze
    page = (out / "index.html").read_text()
    assert "Table 2." in page and 'href="f1_power_curve.png"' in page and ".svg" not in page


def test_numbers_equal_the_api(report):
    design, analysis, settings = load_power_config(report / "design.toml")
    assert isinstance(analysis, Analysis) and settings["n_sim"] == 12
    oc = simulate_power(design, analysis, 12, 7, workers=1, progress=False)
    table = pd.read_csv(report / "out" / "t2_operating.csv")
    np.testing.assert_allclose(table["estimate"].to_numpy(float), oc.summary["estimate"].to_numpy(float))
    # the analytic sample size: Lu, Luo & Chen with the design's AR(1) correlation and retention
    rho = 0.6 ** np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
    direct = power_mmrm(delta=-3.0, power=0.9, sd=6.0, correlation=rho, retention=[0.95, 0.9, 0.85])
    size = pd.read_csv(report / "out" / "t1_sample_size.csv").set_index("power")
    assert size.loc[0.9, "n_total_exact"] == pytest.approx(direct.n_total, rel=1e-12)
    assert size.loc[0.9, "n_per_arm"] == max(direct.sample_size)
    results = json.loads((report / "out" / "power_results.json").read_text())
    assert [p["n_per_arm"] for p in results["power_curve"]] == [20, 30]
    assert results["power_curve"][1]["estimate"] == oc.power


def test_figure_formats_from_the_file_or_the_command_line(tmp_path, capsys):
    path = tmp_path / "svg.toml"
    path.write_text(CONFIG.replace("n_sim = 12", 'n_sim = 4\nfigures = "svg"').replace("[20, 30]", "[20]"))
    assert load_power_config(path)[2]["figures"] == ["svg"]
    assert load_power_config(path, {"figures": "png,svg,png"})[2]["figures"] == ["png", "svg"]
    out = tmp_path / "out"
    assert cli.main(["power", "--config", str(path), "--out", str(out), "--workers", "1"]) == 0
    assert (out / "f1_power_curve.svg").read_text().lstrip().startswith("<?xml")
    assert not (out / "f1_power_curve.png").exists()
    assert '<img src="f1_power_curve.svg"' in (out / "index.html").read_text()
    # the written settings reproduce the formats
    assert json.loads((out / "power_results.json").read_text())["config"]["simulation"]["figures"] == ["svg"]
    argv = ["power", "--config", str(path), "--out", str(tmp_path / "bad"), "--figures", "png,pdf"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "error: --figures: must be png and/or svg, e.g. --figures png,svg; got png,pdf" in err
    path.write_text(CONFIG.replace("n_sim = 12", "n_sim = 12\nfigures = 5"))
    assert cli.main(["power", "--config", str(path), "--out", str(tmp_path / "bad")]) == 2
    assert "[simulation] figures: must be a format, a comma-separated text or a list, got 5" in \
        capsys.readouterr().err


@pytest.mark.parametrize("edit, message", [
    (("n_per_arm = 30", "n_per_arm = 0"), "n_per_arm"),
    (("dropout = [0.95, 0.9, 0.85]", "dropout = [0.9, 0.95, 0.85]"), "retention"),
    (('reference = "Placebo"', 'reference = "Pbo"'), "Pbo"),
    (("n_sim = 12", "n_sim = 12\nrepeats = 3"), "unknown key(s) repeats"),
    (("[analysis]", "[analyses]"), "no [analysis] table"),
])
def test_bad_config_exits_2(tmp_path, capsys, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace(*edit))
    assert cli.main(["power", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error:") and message in err, err
    assert not (tmp_path / "out").exists()


def test_simulate_command_writes_the_designs_trial(tmp_path, capsys):
    config = tmp_path / "design.toml"
    config.write_text(CONFIG)
    design, _, _ = load_power_config(config)
    assert cli.main(["simulate", "--config", str(config), "--out", str(tmp_path / "trial.csv"),
                     "--seed", "5"]) == 0
    got = pd.read_csv(tmp_path / "trial.csv")
    want = design.simulate(5)
    np.testing.assert_allclose(got["AVAL"].to_numpy(float), want["AVAL"].to_numpy(float), equal_nan=True)
    assert list(got["USUBJID"]) == list(want["USUBJID"])
    assert cli.main(["simulate", "--config", str(config), "--out", str(tmp_path / "trial.xpt"),
                     "--seed", "5"]) == 0
    import trialmlm

    xpt = trialmlm.read(tmp_path / "trial.xpt", response="AVAL", arm="TRT01P")
    np.testing.assert_allclose(xpt["AVAL"].to_numpy(float), want["AVAL"].to_numpy(float), equal_nan=True)
    assert list(xpt["TRT01P"].cat.categories) == ["Placebo", "Drug"]  # by TRT01PN
    assert cli.main(["simulate", "--config", str(config), "--out", str(tmp_path / "trial.xlsx")]) == 2
    assert "write a .csv or .xpt file" in capsys.readouterr().err


def test_index_json_and_rtf_describe_the_run(report):
    """index.html: the design in words, each table's links, the numbered figure; every RTF has the
    header and footer lines; power_results.json holds the config, and running it again gives the
    same numbers."""
    out = report / "out"
    page = (out / "index.html").read_text()
    for text in ("Power and sample size: design.toml", "Placebo (30), Drug (30)",
                 "Week 4, Week 8, Week 12", 'href="t2_operating.rtf"',
                 "Figure 1. Simulated power by sample size per arm",
                 'href="power_results.json"', "AVAL ~ TRT01P * AVISIT"):
        assert text in page, text
    rtf = (out / "t2_operating.rtf").read_text()
    assert "Power and sample size: design.toml" in rtf and "trialmlm" in rtf and "power" in rtf
    results = json.loads((out / "power_results.json").read_text())
    assert results["config"]["design"]["n_per_arm"] == 30 and results["config"]["simulation"]["seed"] == 7
    again = report / "again"
    assert cli.main(["power", "--config", str(out / "power_results.json"), "--out", str(again)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again / "t2_operating.csv"),
                                  pd.read_csv(out / "t2_operating.csv"))


def test_missing_analytic_table_is_explained(tmp_path):
    """Logistic (MAR) dropout: no Table 1, and index.html and the JSON say why."""
    config = CONFIG.replace("dropout = [0.95, 0.9, 0.85]",
                            "dropout = { intercept = -3.0, last = 0.05, current = 0.0 }")
    (tmp_path / "design.toml").write_text(config)
    assert cli.main(["power", "--config", str(tmp_path / "design.toml"), "--out", str(tmp_path / "out"),
                     "--workers", "1", "--n-sim", "4"]) == 0
    assert not (tmp_path / "out" / "t1_sample_size.csv").exists()
    assert "Table 1 (analytic sample size" in (tmp_path / "out" / "index.html").read_text()
    assert "logistic" in json.loads((tmp_path / "out" / "power_results.json").read_text())["sample_size"]
