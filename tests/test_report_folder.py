"""The report folder is written all at once, a foreign folder is refused (also with --overwrite),
a report written into another is kept as trialmlm's, a config is checked
for types before any work, and Ctrl-C ends the command with one line; figures are written in
the formats asked for (PNG by default) and index.html links only those."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from trialmlm.app import cli, context, report
from trialmlm.app.config import load_config, make_config
from trialmlm.app.report_folder import MARKER
from trialmlm.errors import DataError

SAMPLE = Path(__file__).parents[1] / "sample_data" / "depression_trial.csv"
QUICK = ["analyze", str(SAMPLE), "--param", "HAMD17", "--covariates", "BASE", "--ddf", "satterthwaite",
         "--reference", "Placebo"]


def run(out, *extra) -> int:
    return cli.main([*QUICK, "--out", str(out), *extra])


def test_rerun_replaces_the_whole_report(tmp_path):
    out = tmp_path / "r"
    assert run(out) == 0
    assert (out / MARKER).exists() and (out / "index.html").exists()
    (out / "t9_from_an_old_run.csv").write_text("stale")  # a table of an earlier run, in its marker
    stamp = json.loads((out / MARKER).read_text())
    (out / MARKER).write_text(json.dumps({**stamp, "files": [*stamp["files"], "t9_from_an_old_run.csv"]}))
    assert run(out) == 0
    assert not (out / "t9_from_an_old_run.csv").exists()
    assert not list(tmp_path.glob(".r.*"))  # no temporary folder left


def test_failed_run_leaves_the_previous_report(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    assert run(out) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise DataError("figure failed")

    monkeypatch.setattr("trialmlm.plots.km_dropout", broken)
    assert run(out) == 2
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not list(tmp_path.glob(".r.*"))


def test_first_run_killed_leaves_no_report(tmp_path, monkeypatch):
    out = tmp_path / "new"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("trialmlm.plots.km_dropout", interrupted)
    assert run(out) == 130
    assert not out.exists() and not list(tmp_path.iterdir())


def test_stale_partial_folder_of_a_dead_process_is_removed(tmp_path):
    stale = tmp_path / ".r.partial-999999999"
    stale.mkdir()
    (stale / "index.html").write_text("half")
    assert run(tmp_path / "r") == 0
    assert not stale.exists()


def test_foreign_folder_is_refused_even_with_overwrite(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.docx").write_text("the statistician's own file")
    assert run(out) == 2
    assert "holds files that trialmlm did not write (notes.docx)" in capsys.readouterr().err
    assert run(out, "--overwrite") == 2
    assert "even with --overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.docx"]


def test_a_file_added_to_a_report_is_kept(tmp_path, capsys):
    out = tmp_path / "r"
    assert run(out) == 0
    (out / "review.txt").write_text("comments on the tables")
    assert run(out) == 2 and run(out, "--overwrite") == 2
    assert "(review.txt)" in capsys.readouterr().err
    assert (out / "review.txt").read_text() == "comments on the tables"


def test_report_of_an_earlier_version_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "r"
    assert run(out) == 0
    (out / MARKER).write_text(json.dumps({"generator": "trialmlm", "written": "2026-01-01T00:00:00"}))
    assert run(out) == 2
    assert "earlier trialmlm version" in capsys.readouterr().err
    assert run(out, "--overwrite") == 0
    assert "files" in json.loads((out / MARKER).read_text())


def test_ctrl_c_is_one_line(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "run_analysis", interrupted)
    assert run(tmp_path / "x") == 130
    err = capsys.readouterr().err.strip()
    assert err == "trialmlm: interrupted; nothing was written"


@pytest.mark.parametrize("toml, message", [
    ('alpha = "0.05"', "alpha must be a number between 0 and 1, got '0.05' (str)"),
    ("title = 5", "title must be a text, got 5 (int)"),
    ('seed = "x"', "seed must be an integer, got 'x' (str)"),
    ('sensitivity = "false"', "sensitivity must be true or false, got 'false' (str)"),
    ("covariates = [1, 2]", "covariates must be a column name or a list of column names"),
    ("deltas = [0, \"1\"]", "deltas must be a list of numbers"),
    ("decimals = 1.5", "decimals must be an integer"),
    ("imputations = 0", "imputations must be at least 1"),
    ('ddf = "kr"', "ddf of model='mmrm' must be one of"),
    ('method = "fast"', "method of model='mmrm' must be 'REML' or 'ML'"),
])
def test_config_types_checked_before_any_work(tmp_path, capsys, monkeypatch, toml, message):
    config = tmp_path / "a.toml"
    config.write_text(f'[analysis]\ndata = "{SAMPLE.as_posix()}"\nparam = "HAMD17"\n{toml}\n')
    monkeypatch.setattr(context, "read", lambda *a, **k: pytest.fail("the data were read"))
    assert cli.main(["analyze", "--config", str(config), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


def test_one_covariate_as_text():
    assert make_config(data="x.csv", covariates="BASE").covariates == ("BASE",)
    assert make_config(data="x.csv", covariance="us, toeph").covariance == ("us", "toeph")


def test_marker_is_json_and_lists_the_files(tmp_path):
    assert run(tmp_path / "r") == 0
    stamp = json.loads((tmp_path / "r" / MARKER).read_text())
    assert stamp["generator"] == "trialmlm"
    assert stamp["files"] == sorted(p.name for p in (tmp_path / "r").iterdir() if p.name != MARKER)


def test_a_report_inside_a_report_is_trialmlms(tmp_path):
    out = tmp_path / "r"
    assert run(out) == 0
    assert run(out / "sub") == 0  # as the demo writes its trajectory report
    assert run(out) == 0


def test_report_leaves_the_callers_matplotlib_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend, open_figures = matplotlib.get_backend(), plt.get_fignums()
    assert run(tmp_path / "r") == 0
    assert matplotlib.get_backend() == backend and plt.get_fignums() == open_figures


@pytest.mark.parametrize("option, formats", [((), {"png"}), (("--figures", "png,svg"), {"png", "svg"}),
                                             (("--figures", "svg"), {"svg"})])
def test_figures_in_the_formats_asked_for(tmp_path, option, formats):
    out = tmp_path / "r"
    assert run(out, *option) == 0
    figures = {p.suffix[1:] for p in out.glob("f*_*.*")}
    assert figures == formats
    page = (out / "index.html").read_text(encoding="utf-8")
    assert all((f'.{ext}"' in page) == (ext in formats) for ext in ("png", "svg"))


def test_figures_from_a_config_file(tmp_path):
    config = tmp_path / "a.toml"
    config.write_text(f'data = "{SAMPLE.as_posix()}"\nfigures = ["png", "svg"]\n')
    assert make_config(**load_config(config)).figures == ("png", "svg")
    assert make_config(data=str(SAMPLE), figures="svg,png,svg").figures == ("svg", "png")


@pytest.mark.parametrize("value, message", [
    ("pdf", "figures (--figures) must be png and/or svg, e.g. --figures png,svg; got pdf"),
    ([], "figures (--figures) must be png and/or svg, e.g. --figures png,svg; got nothing"),
    (5, "figures must be a format, a comma-separated text or a list, got 5 (int)"),
])
def test_figures_of_an_unknown_format_are_a_data_error(value, message):
    with pytest.raises(DataError, match=re.escape(message)):
        make_config(data=str(SAMPLE), figures=value)
