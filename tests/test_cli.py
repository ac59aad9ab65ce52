"""The command line as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from helpers import advs_like

from trialmlm.app.cli import main
from trialmlm.app.report_folder import MARKER


def test_fit_with_groups(tmp_path):
    csv = tmp_path / "d.csv"
    pd.read_csv(Path(__file__).parents[1] / "sample_data" / "demo_trial.csv").to_csv(csv, index=False)
    code = main(["fit", str(csv), "--formula", "CHG ~ TRT * AVISIT + ar1(AVISIT | TRT / USUBJID)",
                 "--out", str(tmp_path / "o")])
    assert code == 0
    assert (tmp_path / "o" / "covariance_matrix_ACT.csv").exists()


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.csv"), "--formula", "Y ~ V + us(V | ID)"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error:") and "does not exist" in err and "\n" not in err
    csv = tmp_path / "d.csv"
    pd.DataFrame({"Y": [1.0], "V": ["a"], "ID": ["s"]}).to_csv(csv, index=False)
    assert main(["fit", str(csv), "--formula", "Y ~ V + xx(V | ID)"]) == 2
    assert "unknown covariance structure 'xx'" in capsys.readouterr().err


def test_fit_random_slopes(tmp_path):
    csv = tmp_path / "d.csv"
    pd.read_csv(Path(__file__).parents[1] / "sample_data" / "demo_trial.csv").to_csv(csv, index=False)
    out = tmp_path / "r"
    formula = "CHG ~ TRT * TIME + (1 + TIME | USUBJID)"
    assert main(["fit", str(csv), "--formula", formula, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "covariance_parameters.csv", "fixed_effects.csv",
                                                     "random_effects.csv", "random_effects_covariance.csv",
                                                     "summary.txt"]  # the folder's marker: report_folder
    blups = pd.read_csv(out / "random_effects.csv")
    assert list(blups.columns) == ["USUBJID", "term", "estimate", "se"] and len(blups) == 2 * 160


# -- data-selection messages in the command line's words -------------------------------------------
def _analyze_advs(tmp_path, capsys, data: pd.DataFrame, *options) -> tuple[int, list[str]]:
    path = tmp_path / "advs.csv"
    data.to_csv(path, index=False)
    code = main(["analyze", str(path), "--out", str(tmp_path / "report"), "--response", "AVAL",
                 "--arm", "TRTA", "--covariates", *options])
    return code, capsys.readouterr().err.splitlines()


def test_duplicate_message_names_time_points_and_where(tmp_path, capsys):
    code, err = _analyze_advs(tmp_path, capsys, advs_like(), "--population", "SAFFL")
    assert code == 2 and len(err) == 1
    assert ("ATPTN, ATPT, BASETYPE distinguish them (ATPTN: 815, 816, 817); keep one record per visit, "
            "e.g. --where \"ATPTN == 815\" (keeps 18 of 54 records)") in err[0]
    code, err = _analyze_advs(tmp_path, capsys, advs_like(), "--where", "AVISITN <= 4")
    assert code == 2 and err[0].endswith('; keep one record per visit, e.g. --where "(AVISITN <= 4) and '
                                         'ATPTN == 815" (keeps 12 of 36 records)')


def test_param_and_population_named_as_options(tmp_path, capsys):
    two = pd.concat([advs_like(), advs_like().assign(PARAMCD="DIABP")], ignore_index=True)
    code, err = _analyze_advs(tmp_path, capsys, two)
    assert code == 2 and err == ["trialmlm: error: '" + str(tmp_path / "advs.csv") + "' holds 2 parameters "
                                 "(PARAMCD: DIABP, SYSBP); choose one with --param"]
    code, err = _analyze_advs(tmp_path, capsys, advs_like(), "--population", "ITTFL")
    assert code == 2 and err == ["trialmlm: error: --population ITTFL: 'advs.csv' has no such column; its "
                                 "population flags are SAFFL, EFFFL"]  # not ABLFL, ANL01FL
    code, err = _analyze_advs(tmp_path, capsys, advs_like().assign(DTHFL="N"), "--population", "FASFL")
    assert code == 2 and err[0].endswith("SAFFL, EFFFL (other subject-level flags: DTHFL)")


def test_alphabetical_arms_warn_with_arm_order(tmp_path, capsys, monkeypatch):
    from trialmlm.app import report
    from trialmlm.errors import DataError

    def stop(*args, **kwargs):
        raise DataError("stopped before the fit")

    monkeypatch.setattr(report, "_model_records", stop)  # after reading and ordering the arms
    options = ("--where", "ATPTN == 815", "--reference", "Placebo")
    code, err = _analyze_advs(tmp_path, capsys, advs_like(), *options)
    assert code == 2 and err == [
        "trialmlm: warning: arms of 'TRTA' in alphabetical order after the reference (Placebo, Xanomeline "
        "High Dose, Xanomeline Low Dose): the data have no numeric TRTAN; give the table order with "
        "--arm-order Placebo \"Xanomeline High Dose\" \"Xanomeline Low Dose\"",
        "trialmlm: error: stopped before the fit"]


def test_the_parser_module_imports_neither_pandas_nor_formulaic():
    """`trialmlm --help` stays fast: the command line's module loads the heavy libraries only
    when a command runs (a top-level formula import once pulled in formulaic and pandas: 0.8 s)."""
    import subprocess
    import sys

    code = "import sys, trialmlm.app.cli; print(sorted({'pandas', 'formulaic'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
