"""``trialmlm analyze --endpoint binary`` on the bundled ADEFF responder file (SAS XPT), as a user
runs it: the responder counts equal pandas counts on the selected records, the GEE table equals
``trialmlm.gee`` on the same records, the composite strategy's non-responses are exactly the
visits after each subject's intercurrent event, a fit with separation exits with status 3, and
bad responder definitions are named.  Wilson limits against R ``prop.test`` (script in
tests/reference/proportions/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialmlm
from trialmlm.app import cli
from trialmlm.app.config import make_config
from trialmlm.data.responders import responder_status
from trialmlm.errors import DataError
from trialmlm.inference.proportions import responder_rates, wilson_interval

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
XPT = SAMPLE / "responder_trial.xpt"
SAP = ["--endpoint", "binary", "--response", "CRIT1FL", "--population", "EFFFL", "--covariates", "BASE",
       "--where", "AVISITN >= 2"]
VISITS = ["Week 2", "Week 4", "Week 6", "Week 8"]


def _run(tmp, *options) -> tuple[int, Path]:
    out = tmp / "report"
    return cli.main(["analyze", str(XPT), *SAP, *options, "--out", str(out)]), out


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    rc, out = _run(tmp_path_factory.mktemp("observed"))
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def composite(tmp_path_factory):
    rc, out = _run(tmp_path_factory.mktemp("composite"), "--ice-date", "TRTEDT", "--binary-strategy",
                   "nonresponder")
    assert rc == 0
    return out


def test_responders_equal_pandas_counts(observed, responder_sap_records):
    d = responder_sap_records.copy()
    expected = d.groupby(["AVISIT", "TRT01P"], observed=False)["CRIT1FL"].agg(["sum", "count"]).reset_index()
    table = pd.read_csv(observed / "t1_responders.csv")
    assert table["responders"].tolist() == expected["sum"].astype(int).tolist()
    assert table["n"].tolist() == expected["count"].tolist()
    results = json.loads((observed / "analysis_results.json").read_text())
    assert results["records"]["analysed"]["records"] == len(d)
    assert [r["responders"] for r in results["responders"]] == expected["sum"].astype(int).tolist()


def test_gee_table_equals_direct_fit(observed, responder_sap_records):
    direct = trialmlm.gee("CRIT1FL ~ BASE + TRT01P * AVISIT", responder_sap_records, family="binomial",
                          link="logit", working="exchangeable", subject="USUBJID", visit="AVISIT")
    expected = direct.coef_table()
    table = pd.read_csv(observed / "t4_gee_parameters.csv")
    assert table["term"].tolist() == expected["term"].tolist()
    for col, ref in (("estimate", "estimate"), ("se", "se"), ("z", "t"), ("p", "p")):
        np.testing.assert_allclose(table[col], expected[ref], rtol=1e-10)
    results = json.loads((observed / "analysis_results.json").read_text())
    assert results["fit"]["working"] == direct.settings.working
    np.testing.assert_allclose([r["estimate"] for r in results["gee_parameters"]], expected["estimate"],
                               rtol=1e-12)
    probs = direct.lsmeans("TRT01P", by="AVISIT", ilink=True)
    np.testing.assert_allclose(pd.read_csv(observed / "t2_gee.csv")["probability"], probs["mean"], rtol=1e-10)


def _post_event_visits(d: pd.DataFrame) -> set:
    """(subject, visit) at or after the first visit after TRTEDT: the visit after the subject's last
    selected record dated on or before TRTEDT, when that is not the last visit."""
    dated = d.assign(pos=d["AVISIT"].cat.codes, on=pd.to_datetime(d["ADT"]) <= pd.to_datetime(d["TRTEDT"]))
    last = dated.loc[dated["on"]].groupby("USUBJID")["pos"].max()
    last = last.reindex(d["USUBJID"].unique(), fill_value=-1)
    return {(s, VISITS[k]) for s, p in last.items() for k in range(p + 1, len(VISITS))}


def test_composite_nonresponders_are_the_post_event_visits(composite, responder_sap_records):
    d = responder_sap_records.copy()
    expected = _post_event_visits(d)
    results = json.loads((composite / "analysis_results.json").read_text())
    records = results["intercurrent"]["records"]
    assert {(r["subject"], r["visit"]) for r in records} == expected
    assert {r["action"] for r in records} == {"imputed non-response"}
    # the analysed data: every post-event visit a non-response, every other record as observed
    kept = {(s, v) for s, v in zip(d["USUBJID"], d["AVISIT"].astype(str))}
    added = expected - kept
    excluded = {e["step"]: e["records"] for e in results["records"]["excluded"]}
    assert excluded["ice"] == -len(added)
    status = {(s, str(v)): y for s, v, y in zip(d["USUBJID"], d["AVISIT"], d["CRIT1FL"])}
    status.update({key: 0.0 for key in expected})
    frame = pd.DataFrame([(s, v, y) for (s, v), y in status.items()], columns=["USUBJID", "AVISIT", "Y"])
    arms = d.drop_duplicates("USUBJID").set_index("USUBJID")["TRT01P"].astype(str)
    frame["TRT01P"] = frame["USUBJID"].map(arms)
    counts = frame.dropna().groupby(["AVISIT", "TRT01P"])["Y"].agg(["sum", "count"])
    table = pd.read_csv(composite / "t1_responders.csv").set_index(["visit", "arm"])
    for (visit, arm), row in counts.iterrows():
        shown = table.loc[(visit, arm)]
        assert (shown["responders"], shown["n"]) == (row["sum"], row["count"])
    ice = pd.read_csv(composite / "t6_ice.csv")
    assert ice["affected"].sum() == len(expected)
    assert ice["missing"].sum() == len(added)


def test_composite_records_table_and_methods_text(composite):
    html = (composite / "index.html").read_text()
    assert "Added: non-response imputed after an intercurrent event" in html
    assert "composite strategy" in html and "missing completely at random" in html
    for name in ("t1_responders", "t2_gee", "t3_margins", "t4_gee_parameters", "t6_ice", "f2_proportions",
                 "f4_margins"):
        assert f'id="{name}"' in html


def test_observed_strategy_leaves_post_event_records_out(tmp_path, responder_sap_records):
    rc, out = _run(tmp_path, "--ice-date", "TRTEDT", "--binary-strategy", "observed")
    assert rc == 0
    d = responder_sap_records.copy()
    kept = {(s, v) for s, v in zip(d["USUBJID"], d["AVISIT"].astype(str))}
    results = json.loads((out / "analysis_results.json").read_text())
    left_out = {(r["subject"], r["visit"]) for r in results["intercurrent"]["records"]}
    assert left_out == _post_event_visits(d) & kept
    excluded = {e["step"]: e["records"] for e in results["records"]["excluded"]}
    assert excluded["ice"] == len(left_out)


def test_marginal_effects_table(observed):
    table = pd.read_csv(observed / "t3_margins.csv")
    assert set(table["measure"]) == {"risk_difference", "risk_ratio", "odds_ratio"}
    ratios = table.loc[table["measure"] != "risk_difference"]
    assert (ratios["lower"] > 0).all() and (ratios["lower"] < ratios["estimate"]).all()
    assert len(table) == 3 * 2 * len(VISITS)


def test_separation_exits_3(tmp_path, capsys):
    out = tmp_path / "sep"
    argv = ["analyze", str(XPT), "--endpoint", "binary", "--response", "CRIT1FL", "--population", "EFFFL",
            "--out", str(out)]
    assert cli.main(argv) == 3  # no responder at Week 1 in any arm
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "separation in Week 1, Placebo: 0 of" in err
    assert "--allow-nonconvergence" in err and not out.exists()


@pytest.mark.parametrize("options, message", [
    (["--responder", "CHG <="], 'error: --responder "CHG <=": expected a column name'),
    (["--responder", "XCHG <= -4"], 'error: --responder "XCHG <= -4" names column \'XCHG\''),
    (["--responder", "AVALC <= -4"], 'error: --responder "AVALC <= -4": column \'AVALC\' is text'),
    (["--response", "AVAL"], "binary response AVAL holds values that are not a Y/N flag"),
    (["--response", "AVALC"], "binary response AVALC"),
    (["--responder-values", "RESPONSE", "--responder", "PCHG <= -50"], "not both"),
])
def test_bad_responder_definitions_are_named(tmp_path, capsys, options, message):
    argv = ["analyze", str(XPT), "--endpoint", "binary", "--population", "EFFFL", *options,
            "--out", str(tmp_path / "bad")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_responder_options_need_the_binary_endpoint():
    with pytest.raises(DataError, match="needs endpoint='binary'"):
        make_config(data=str(XPT), responder="PCHG <= -50")
    with pytest.raises(DataError, match="analyses a continuous endpoint"):
        make_config(data=str(XPT), endpoint="binary", model="mmrm")
    config = make_config(data=str(XPT), endpoint="binary", responder="PCHG <= -50", covariance="ar1")
    assert config.model == "gee" and config.response == "RESPONDER" and config.structures == ("ar1",)
    assert config.formula == "RESPONDER ~ TRT01P * AVISIT"
    with_ice = make_config(data=str(XPT), endpoint="binary", ice_flag="X")
    assert with_ice.kind.handles_ice and not with_ice.has_estimands
    with pytest.raises(DataError, match="working correlation"):
        make_config(data=str(XPT), endpoint="binary", covariance="toeph")


def test_toml_config_equals_command_line(tmp_path, observed):
    toml = tmp_path / "sap.toml"
    toml.write_text('[analysis]\nendpoint = "binary"\nresponse = "CRIT1FL"\npopulation = "EFFFL"\n'
                    'covariates = ["BASE"]\nwhere = "AVISITN >= 2"\n')
    out = tmp_path / "toml"
    assert cli.main(["analyze", str(XPT), "--config", str(toml), "--out", str(out)]) == 0
    a = pd.read_csv(out / "t4_gee_parameters.csv")
    b = pd.read_csv(observed / "t4_gee_parameters.csv")
    pd.testing.assert_frame_equal(a, b)


def test_responder_status_three_ways():
    d = pd.DataFrame({"FL": ["Y", "N", "", None, "Yes"], "C": ["CR", "PD", "PR", "", "SD"],
                      "CHG": [-5.0, -1.0, np.nan, -4.0, 2.0]})
    np.testing.assert_array_equal(responder_status(d, "FL"), [1, 0, np.nan, np.nan, 1])
    np.testing.assert_array_equal(responder_status(d, "C", values=["CR", "PR"]), [1, 0, 1, np.nan, 0])
    np.testing.assert_array_equal(responder_status(d, expression="CHG <= -4"), [1, 0, np.nan, 1, 0])
    with pytest.raises(DataError, match="every record with a known status is a non-responder"):
        responder_status(d, expression="CHG <= -40")


def test_wilson_limits_equal_r_prop_test():
    ref = pd.read_csv(Path(__file__).parent / "reference" / "proportions" / "wilson.csv")
    for conf, part in ref.groupby("conf"):
        lower, upper = wilson_interval(part["x"], part["n"], alpha=1 - conf)
        np.testing.assert_allclose(lower, part["lower"], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(upper, part["upper"], rtol=1e-10, atol=1e-14)


def test_responder_rates_list_every_cell():
    d = pd.DataFrame({"V": pd.Categorical(["a", "a", "b"], categories=["a", "b"]),
                      "A": pd.Categorical(["x", "y", "x"], categories=["x", "y"]), "Y": [1.0, 0.0, np.nan]})
    rates = responder_rates(d, "A", "V", "Y")
    assert rates[["visit", "arm", "responders", "n"]].values.tolist() == [
        ["a", "x", 1, 1], ["a", "y", 0, 1], ["b", "x", 0, 0], ["b", "y", 0, 0]]
