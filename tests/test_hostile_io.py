"""Hostile input to the files trialmlm reads and writes (issue 20): output folders, SAS files,
Parquet datasets, Ctrl-C at start-up.  Each case ends in one named error that names the
file, argument or option, before any work, and leaves every input as it was: input files
byte-identical, no file deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import trialmlm
from trialmlm.app import cli, context
from trialmlm.data.io import read_table
from trialmlm.errors import DataError

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "sample_data" / "depression_trial.csv"
XPT = Path(__file__).parent / "data" / "cdiscpilot01_adcibc.xpt"
SAS7BDAT = Path(__file__).parent / "data" / "iris.sas7bdat"
DEMO = Path(__file__).parent / "reference" / "demo_trial.csv"
FORMULA = "CHG ~ BASE + TRT * AVISIT + us(AVISIT | USUBJID)"
QUICK = ["--param", "HAMD17", "--covariates", "BASE", "--ddf", "satterthwaite", "--reference", "Placebo"]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with the hash of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_work(monkeypatch):
    """The data must not be read: the output folder is checked first."""
    monkeypatch.setattr(context, "read", lambda *a, **k: pytest.fail("the data were read"))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("trialmlm: error: ") and "\n" not in err, err
    return err


# -- output folders -------------------------------------------------------------------------------
@pytest.fixture
def study(tmp_path, monkeypatch):
    """tmp_path/study/adeff.csv with an ICE file and a TOML file beside it; cwd tmp_path/work."""
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "adeff.csv").write_bytes(SAMPLE.read_bytes())
    (folder / "ice.csv").write_text("USUBJID,AVISIT\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return folder


@pytest.mark.parametrize("out, extra, named", [
    ("{study}", ["--overwrite"], "would replace the data file '{study}/adeff.csv'"),
    ("{study}", [], "would replace the data file"),
    ("{study}/..", ["--overwrite"], "would replace the data file"),  # an ancestor of the input
    (".", ["--overwrite"], "output folder '.' is the working directory or holds it"),
    ("..", ["--overwrite"], "output folder '..' would replace the data file"),
])
def test_analyze_never_replaces_an_input_or_the_working_directory(study, capsys, no_work, out, extra, named):
    before = snapshot(study.parent)
    code = cli.main(["analyze", str(study / "adeff.csv"), *QUICK, "--out", out.format(study=study), *extra])
    assert code == 2
    assert named.format(study=study) in one_line_error(capsys)
    assert snapshot(study.parent) == before


def test_the_ice_and_config_files_are_inputs(study, tmp_path, capsys, no_work):
    elsewhere = tmp_path / "data"
    elsewhere.mkdir()
    (elsewhere / "adeff.csv").write_bytes(SAMPLE.read_bytes())
    before = snapshot(tmp_path)
    args = ["analyze", str(elsewhere / "adeff.csv"), *QUICK, "--ice", str(study / "ice.csv"),
            "--out", str(study)]
    assert cli.main([*args, "--overwrite"]) == 2
    assert f"would replace the ICE file (ice) '{study}/ice.csv'" in one_line_error(capsys)
    config = study / "a.toml"
    config.write_text(f'[analysis]\ndata = "{(elsewhere / "adeff.csv").as_posix()}"\nparam = "HAMD17"\n')
    before = snapshot(tmp_path)
    assert cli.main(["analyze", "--config", str(config), "--out", str(study), "--overwrite"]) == 2
    assert f"would replace the config file (--config) '{config}'" in one_line_error(capsys)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["analyze", "power", "simulate"])
def test_a_file_on_the_way_to_out(tmp_path, capsys, no_work, command):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    config = tmp_path / "design.toml"
    config.write_text("[design]\nn_per_arm = 10\n")
    args = {"analyze": ["analyze", str(SAMPLE), *QUICK, "--out", str(afile / "rep")],
            "power": ["power", "--config", str(config), "--out", str(afile / "rep")],
            "simulate": ["simulate", "--config", str(config), "--out", str(afile / "trial.csv")]}[command]
    assert cli.main(args) == 2
    assert f"'{afile}' is a file, not a folder" in one_line_error(capsys)
    assert afile.read_text() == "keep me"


def test_power_and_simulate_check_out_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "design.toml"
    config.write_text("[design]\nn_per_arm = 10\n")
    monkeypatch.setattr("trialmlm.power.report.load_power_config", lambda *a: pytest.fail("work started"))
    assert cli.main(["power", "--config", str(config), "--out", ".", "--overwrite"]) == 2
    assert "would replace the config file (--config)" in one_line_error(capsys)
    assert cli.main(["simulate", "--config", str(config), "--out", str(config)]) == 2
    assert f"output file '{config}' is the config file (--config)" in one_line_error(capsys)
    assert cli.main(["simulate", "--config", str(config), "--out", str(tmp_path)]) == 2
    assert "is a folder" in one_line_error(capsys)
    assert config.read_text() == "[design]\nn_per_arm = 10\n"


def test_overwrite_never_replaces_a_folder_holding_other_files(tmp_path, capsys, no_work):
    out = tmp_path / "results"
    out.mkdir()
    (out / "adsl.sas7bdat").write_bytes(b"the sponsor's data")
    assert cli.main(["analyze", str(SAMPLE), *QUICK, "--out", str(out), "--overwrite"]) == 2
    assert "holds files that trialmlm did not write (adsl.sas7bdat)" in one_line_error(capsys)
    assert (out / "adsl.sas7bdat").read_bytes() == b"the sponsor's data"


# -- SAS files ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size, why", [
    (145_237, "145,237 bytes, not a whole number of 80-byte transport records"),
    (145_200, "145,200 bytes, its last observation is cut short"),  # cut at a record boundary
    (0, "0 bytes, an empty file"),
])
def test_truncated_transport_file(tmp_path, size, why):
    path = tmp_path / "adcibc.xpt"
    path.write_bytes(XPT.read_bytes()[:size])
    before = path.read_bytes()
    with pytest.raises(DataError, match=f"SAS file '.*adcibc.xpt' is truncated or corrupt: {why}"):
        trialmlm.read(path, visit=None)
    assert path.read_bytes() == before
    assert len(read_table(XPT)) == 730  # the whole file: every record


@pytest.mark.parametrize("size, why", [
    (130_972, "130,972 bytes, its header describes 131,072"),
    (100, "100 bytes, shorter than a sas7bdat header"),
])
def test_truncated_sas7bdat(tmp_path, size, why):
    path = tmp_path / "iris.sas7bdat"
    path.write_bytes(SAS7BDAT.read_bytes()[:size])
    with pytest.raises(DataError, match=f"SAS file '.*iris.sas7bdat' is truncated or corrupt: {why}"):
        trialmlm.read(path, visit=None)


def test_corrupt_sas7bdat_names_the_bytes(tmp_path):
    path = tmp_path / "bad.sas7bdat"
    path.write_bytes(b"not a SAS file" * 100)
    with pytest.raises(DataError, match=r"cannot read '.*bad\.sas7bdat' as SAS sas7bdat: .*\(the file has "
                                        r"1,400 bytes\)"):
        trialmlm.read(path, visit=None)


# -- Parquet datasets -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def halves():
    """The demo trial in two halves of whole subjects."""
    data = pd.read_csv(DEMO)
    first = data["USUBJID"].isin(sorted(data["USUBJID"].unique())[:50])
    return data[first].reset_index(drop=True), data[~first].reset_index(drop=True)


def dataset(folder: Path, first: pd.DataFrame, second: pd.DataFrame) -> Path:
    folder.mkdir()
    first.to_parquet(folder / "part.0.parquet", index=False)
    second.to_parquet(folder / "part.1.parquet", index=False)
    return folder


@pytest.mark.parametrize("text_in", [0, 1], ids=["text-first", "numbers-first"])
def test_files_disagreeing_on_a_type(tmp_path, halves, text_in):
    parts = list(halves)
    parts[text_in] = parts[text_in].assign(BASE=parts[text_in]["BASE"].astype(str))
    folder = dataset(tmp_path / "trial", *parts)
    before = snapshot(folder)
    kinds = [re.escape("numbers (double)"), re.escape("text (string)")]
    if text_in == 0:
        kinds.reverse()
    with pytest.raises(DataError, match=rf"column 'BASE' of Parquet dataset '.*trial' holds different types "
                                        rf"in different files: {kinds[0]} in part.0.parquet; {kinds[1]} "
                                        r"in part.1.parquet"):
        trialmlm.fit(FORMULA, folder)
    assert snapshot(folder) == before


def test_a_null_typed_column_is_missing(tmp_path, halves):
    import pyarrow as pa
    import pyarrow.parquet as pq

    first, second = halves
    folder = tmp_path / "trial"
    folder.mkdir()
    table = pa.Table.from_pandas(first.drop(columns="CHG"), preserve_index=False)
    pq.write_table(table.append_column("CHG", pa.nulls(len(first))), folder / "part.0.parquet")
    assert pq.read_schema(folder / "part.0.parquet").field("CHG").type == pa.null()
    second.to_parquet(folder / "part.1.parquet", index=False)
    fit = trialmlm.fit(FORMULA, folder, ddf="residual")
    alone = trialmlm.fit(FORMULA, second, ddf="residual")  # the first file's rows have no response
    assert fit.n_subjects == alone.n_subjects and fit.loglik == pytest.approx(alone.loglik, abs=1e-8)


def test_a_corrupt_file_is_named(tmp_path, halves):
    folder = dataset(tmp_path / "trial", *halves)
    (folder / "part.1.parquet").write_bytes(b"PAR1 cut short")
    with pytest.raises(DataError, match=r"Parquet file '.*part\.1\.parquet' of dataset '.*trial' cannot be "
                                        r"read \(corrupt or not Parquet\): .*magic bytes"):
        trialmlm.fit(FORMULA, folder)


def test_a_csv_path_where_a_dataset_is_expected(tmp_path):
    with pytest.raises(DataError, match=r"data='.*demo_trial\.csv' is a CSV file, but a path given as data "
                                        r"means a Parquet dataset .*read the file first with trialmlm\.read"):
        trialmlm.fit(FORMULA, str(DEMO))


def test_an_empty_dataset_folder(tmp_path):
    (tmp_path / "trial").mkdir()
    with pytest.raises(DataError, match=r"Parquet dataset folder '.*trial' holds no Parquet files"):
        trialmlm.fit(FORMULA, tmp_path / "trial")


# -- Ctrl-C at start-up ---------------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
@pytest.mark.parametrize("moment", ["numpy", "pandas", "scipy", "trialmlm.api", "trialmlm.app.report"])
def test_ctrl_c_while_starting_is_one_line(tmp_path, moment):
    """SIGINT while the command line imports its modules, right after ``moment`` was imported
    (read from ``-X importtime``, no timing): exit code 130 and one line on stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "trialmlm", "analyze", str(SAMPLE),
                              *QUICK, "--out", str(tmp_path / "r")], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in child.stderr:
        if re.search(rf"\|\s+{re.escape(moment)}$", line.rstrip()):
            break
    else:
        pytest.fail(f"{moment} was not imported")
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=120)
    err = [ln for ln in rest.splitlines() if not ln.startswith("import time:")]
    assert child.returncode == 130, rest
    assert err == ["trialmlm: interrupted; nothing was written"], rest
    assert not (tmp_path / "r").exists()


def test_read_of_a_parquet_file_with_an_all_missing_response(tmp_path, demo_trial):
    """A response stored with Arrow's null type (every value missing) reads as missing numbers
    (it was refused as 'dtype object')."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(demo_trial.assign(CHG=None), preserve_index=False)
    assert table.schema.field("CHG").type == pa.null()
    pq.write_table(table, tmp_path / "null.parquet")
    data = trialmlm.read(tmp_path / "null.parquet", response="CHG")
    assert data["CHG"].dtype == float and data["CHG"].isna().all()


def test_fit_command_never_replaces_an_input_or_a_foreign_folder(tmp_path, demo_trial, capsys):
    """`trialmlm fit --out afile/rep` was a FileExistsError; `--out` the data's folder now
    refused before any work, and the folder it writes holds the marker of a report."""
    from trialmlm.app.cli import main

    study = tmp_path / "study"
    study.mkdir()
    csv = study / "trial.csv"
    demo_trial.to_csv(csv, index=False)
    before = csv.read_bytes()
    formula = "CHG ~ TRT * AVISIT + ar1(AVISIT | USUBJID)"
    assert main(["fit", str(csv), "--formula", formula, "--out", str(study)]) == 2
    assert "would replace the data file" in capsys.readouterr().err
    assert main(["fit", str(csv), "--formula", formula, "--out", str(csv / "rep")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert csv.read_bytes() == before
    out = tmp_path / "rep"
    assert main(["fit", str(csv), "--formula", formula, "--out", str(out)]) == 0
    assert main(["fit", str(csv), "--formula", formula, "--out", str(out)]) == 0  # its own folder: replaced
    assert (out / "summary.txt").exists()
