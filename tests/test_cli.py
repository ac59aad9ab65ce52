"""The command line as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
