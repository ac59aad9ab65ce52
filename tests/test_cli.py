"""The command line as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialmlm.cli import main


def test_demo_writes_tables(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    for name in ("summary.txt", "fixed_effects.csv", "covariance_parameters.csv", "covariance_matrix.csv"):
        assert (tmp_path / name).stat().st_size > 0
    cov = pd.read_csv(tmp_path / "covariance_matrix.csv", index_col=0)
    assert list(cov.columns) == ["V1", "V2", "V3", "V4", "V5"]
    assert "UN(1,1)" in (tmp_path / "summary.txt").read_text()
    assert "wrote 4 files" in capsys.readouterr().out


def test_fit_with_groups(tmp_path):
    csv = tmp_path / "d.csv"
    pd.read_csv(Path(__file__).parents[1] / "sample_data" / "demo_trial.csv").to_csv(csv, index=False)
    code = main(["fit", str(csv), "--formula", "CHG ~ TRT * AVISIT + ar1(AVISIT | TRT / USUBJID)",
                 "--out", str(tmp_path / "o")])
    assert code == 0
    assert (tmp_path / "o" / "covariance_matrix_ACT.csv").exists()


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.csv"), "--formula", "Y ~ x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error: data file") and "\n" not in err
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
    assert sorted(p.name for p in out.iterdir()) == ["covariance_parameters.csv", "fixed_effects.csv",
                                                     "random_effects.csv", "random_effects_covariance.csv",
                                                     "summary.txt"]
    blups = pd.read_csv(out / "random_effects.csv")
    assert list(blups.columns) == ["USUBJID", "term", "estimate", "se"] and len(blups) == 2 * 160
