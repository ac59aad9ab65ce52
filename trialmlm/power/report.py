"""``trialmlm power --config design.toml --out DIR``: a trial design into a report folder.

The TOML file has three tables (every key is checked before any simulation runs):

``[design]``
    :class:`~trialmlm.power.TrialDesign`'s fields: ``n_per_arm``, ``visits``, ``means``
    (a table arm -> list of means), ``covariance`` (``{structure = "us" | "ar1" | ...,
    parameters = {...}}`` or a matrix as a list of rows), ``dropout`` (a list of per-visit
    retention, a table arm -> list, or ``{intercept, last, current}`` for logistic
    MAR/MNAR dropout), ``covariates`` (a table name -> ``{mean, sd, effect}``).
``[analysis]``
    :class:`~trialmlm.power.Analysis`'s fields (``formula``, ``treatment``, ``reference``,
    ``ddf``, ``vcov``, ``covariance``, ...).
``[simulation]``
    ``n_sim`` (default 1000), ``seed`` (2026), ``alpha`` (0.05), ``workers`` (default: all
    cores; else a positive integer -- 0 is an error, not "all cores"),
    ``n_per_arm`` (a list: the sample sizes of the power curve), ``targets`` (the powers of
    the analytic sample-size table, default ``[0.8, 0.9]``), ``figures`` (the file formats
    of the figure: ``"png"`` (default), ``"svg"`` or both, a list or ``"png,svg"``; on the
    command line ``--figures png,svg``).

It writes ``t1_sample_size`` (analytic sample size by Lu, Luo & Chen 2008 for the contrast at
the last visit: the design's correlation, standard deviation at the last visit, retention and
difference of means; no covariates), ``t2_operating`` (simulated power or type I error, bias,
SEs, RMSE, coverage, convergence with Monte-Carlo SEs), ``t3_power_curve`` and
``f1_power_curve`` (simulated power over ``n_per_arm`` with the analytic curve; PNG unless
``figures`` says otherwise), each table as RTF (with the header and footer lines of every
table: design file, program, run time), HTML and CSV, ``power_results.json`` and ``index.html``
(the design in a few lines, each table with its links, the figure with its number and caption;
when Table 1 cannot be computed, a line saying why) — into a temporary folder renamed into
place (:mod:`trialmlm.app.report_folder`). ``power_results.json`` holds the ``config`` as read
(the ``[design]`` and ``[analysis]`` tables and the resolved ``[simulation]`` settings):
``trialmlm power --config power_results.json`` runs the same design again.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import tables
from ..app.config import figure_formats, known_keys, load_toml
from ..app.report_folder import report_folder
from ..checks import check_probability, check_seed
from ..errors import DataError
from ..runner import check_workers
from ..tables.formats import fmt_number
from .analysis import Analysis
from .checks import from_fields
from .design import Covariate, LogisticDropout, TrialDesign
from .mmrm import power_mmrm
from .operating import check_n_sim, power_curve, simulate_power

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SIMULATION = {"n_sim": 1000, "seed": 2026, "alpha": 0.05, "workers": None, "n_per_arm": None,
              "targets": [0.8, 0.9], "figures": ["png"]}


def design_from(values: dict) -> TrialDesign:
    """A :class:`TrialDesign` from the ``[design]`` table (module docstring); errors name the
    TOML keys."""
    cov = values.get("covariance")
    if isinstance(cov, dict) and "structure" in cov:
        cov = known_keys("[design.covariance]", cov, ("structure", "parameters"))
        values["covariance"] = (cov["structure"], cov.get("parameters", {}))
    drop = values.get("dropout")
    if isinstance(drop, dict) and "intercept" in drop:
        values["dropout"] = from_fields(LogisticDropout, "[design.dropout]", drop)
    if isinstance(values.get("covariates"), dict):
        values["covariates"] = {k: from_fields(Covariate, f"[design.covariates.{k}]", v)
                                for k, v in values["covariates"].items()}
    return from_fields(TrialDesign, "[design]", dict(values))


def _setting(where: str, check, value):
    """``check(value)``, its DataError prefixed with ``where`` (the TOML key or the option)."""
    try:
        return check(value)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


def _simulation(design: TrialDesign, values: dict, overrides: dict) -> dict:
    """The ``[simulation]`` settings with the command line's ``overrides`` (None: not given),
    each checked under the name the user wrote: ``[simulation] workers`` or ``--workers``."""
    settings = {**SIMULATION, **known_keys("[simulation]", values, SIMULATION)}
    given = {k: v for k, v in overrides.items() if v is not None}
    settings.update(given)

    def where(key: str) -> str:
        return f"--{key.replace('_', '-')}" if key in given else f"[simulation] {key}"

    def listed(check):
        def each(value):
            if not isinstance(value, list) or not value:
                raise DataError(f"must be a non-empty list, got {value!r}")
            return [check(v) for v in value]
        return each

    settings["n_sim"] = _setting(where("n_sim"), check_n_sim, settings["n_sim"])
    settings["seed"] = _setting(where("seed"), check_seed, settings["seed"])
    settings["alpha"] = check_probability(where("alpha"), settings["alpha"])
    if settings["workers"] is not None:
        settings["workers"] = _setting(where("workers"), check_workers, settings["workers"])
    settings["targets"] = _setting(where("targets"), listed(lambda v: check_probability("each target", v)),
                                   settings["targets"])
    if settings["n_per_arm"] is not None:
        _setting(where("n_per_arm"), listed(lambda v: replace(design, n_per_arm=v)), settings["n_per_arm"])
    settings["figures"] = list(_setting(where("figures"), figure_formats, settings["figures"]))
    return settings


def read_power_config(path) -> dict:
    """The ``design``, ``analysis`` and ``simulation`` tables of a TOML file, or the ``config``
    that a report wrote into its ``power_results.json`` (a ``.json`` file)."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return load_toml(path)
    if not path.is_file():
        raise DataError(f"config file '{path}' does not exist")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"config file '{path}' is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
        raise DataError(f"config file '{path}' has no 'config' entry (the power_results.json of trialmlm "
                        "power)")
    return raw["config"]


def load_power_config(path, overrides: dict | None = None) -> tuple[TrialDesign, Analysis, dict]:
    """Design, analysis and simulation settings of a TOML file (or of a report's
    ``power_results.json``), all checked; ``overrides``: ``n_sim``, ``workers``, ``seed``,
    ``figures`` from the command line (None: the file's)."""
    return power_settings(read_power_config(path), path, overrides)


def power_settings(raw: dict, path, overrides: dict | None = None) -> tuple[TrialDesign, Analysis, dict]:
    """:func:`load_power_config` of the tables ``raw`` already read from ``path``."""
    missing = [s for s in ("design", "analysis") if s not in raw]
    if missing:
        raise DataError(f"config file '{path}' has no [{missing[0]}] table")
    known_keys("[config]", raw, ("design", "analysis", "simulation"))
    design = design_from(dict(raw["design"]))
    values = dict(raw["analysis"])
    if isinstance(values.get("covariance"), list):
        values["covariance"] = tuple(values["covariance"])
    analysis = from_fields(Analysis, "[analysis]", values)
    analysis.check(design)
    return design, analysis, _simulation(design, raw.get("simulation", {}), overrides or {})


def write_simulated_trial(config_path, out, seed: int | None = None) -> Path:
    """One trial simulated from the ``[design]`` table of a TOML file, written as CSV
    (``.csv``) or SAS transport v5 (``.xpt``, through pyreadstat); other tables of the file
    are ignored.  The file is written to a temporary name and renamed into place."""
    raw = load_toml(config_path)
    if "design" not in raw:
        raise DataError(f"config file '{config_path}' has no [design] table")
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".xpt"):
        raise DataError(f"--out '{out}': write a .csv or .xpt file")
    design = design_from(dict(raw["design"]))
    frame = design.simulate(_setting("--seed", check_seed, seed))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        if out.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            import pyreadstat

            xpt = frame.assign(**{c: frame[c].astype(str) for c in frame.columns
                                  if isinstance(frame[c].dtype, pd.CategoricalDtype)})
            pyreadstat.write_xport(xpt, str(tmp), file_format_version=5, table_name="ADSIM")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def sample_size_table(design: TrialDesign, analysis: Analysis, alpha: float, targets) -> pd.DataFrame:
    """Lu, Luo & Chen (2008) sample size per arm for each power target: the contrast at the
    last visit, with the design's correlation and retention of both arms and the
    standard deviation of the reference arm at the last visit (covariates ignored)."""
    if analysis.slope is not None or (analysis.at is not None and analysis.at != design.visit_labels[-1]):
        raise DataError("the analytic sample size is for the contrast at the last visit")
    arrays = design.arrays
    if arrays.logistic is not None:
        raise DataError("the analytic sample size needs MCAR retention, not logistic dropout")
    k_t, k_r = arrays.arms.index(analysis.treatment), arrays.arms.index(analysis.reference)
    delta = float(arrays.mean[k_t, -1] - arrays.mean[k_r, -1])
    cov_t, cov_r = arrays.cov[k_t], arrays.cov[k_r]
    retention = (np.ones(len(design.visit_labels)), np.ones(len(design.visit_labels))) \
        if arrays.retention is None else (arrays.retention[k_t], arrays.retention[k_r])
    rows = []
    for target in targets:
        res = power_mmrm(delta=delta, power=float(target), alpha=alpha, sd=math.sqrt(cov_r[-1, -1]),
                         correlation=_correlation(cov_r), retention=retention[1],
                         correlation_b=_correlation(cov_t), retention_b=retention[0])
        rows.append({"contrast": f"{analysis.treatment} - {analysis.reference}", "delta": delta,
                     "power": float(target), "alpha": alpha, "n_per_arm": int(max(res.sample_size)),
                     "n_total_exact": res.n_total})
    return pd.DataFrame(rows)


def _no_sample_size(design: TrialDesign, analysis: Analysis) -> str | None:
    """Why the analytic sample size (Table 1) does not apply to this design (None: it does)."""
    if analysis.slope is not None:
        return "the analysis estimates a slope, the formula is for the contrast at the last visit"
    if design.arrays.logistic is not None:
        return "the formula needs dropout completely at random (per-visit retention), not a logistic model"
    return None


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def _sample_size_part(design: TrialDesign, analysis: Analysis, s: dict) -> tuple[tables.Table, list]:
    """Table 1, the analytic sample size (:func:`sample_size_table`), and its records."""
    size = sample_size_table(design, analysis, s["alpha"], s["targets"])
    rows = [[r.contrast, fmt_number(r.delta, 2), fmt_number(r.power, 2), str(r.n_per_arm),
             fmt_number(r.n_total_exact, 1)] for r in size.itertuples()]
    table = tables.Table(
        "Table 1. Sample size per arm (Lu, Luo & Chen 2008; MMRM at the last visit with dropout)",
        ["Contrast", "Difference", "Power", "n per arm", "Total n (exact)"], rows, size,
        (f"Two-sided alpha = {s['alpha']:g}; correlation, SD and retention of the design; "
         "n per arm rounded up.",), ("l", "c", "c", "c", "c"))
    return table, size.to_dict("records")


def _operating_part(design: TrialDesign, analysis: Analysis, s: dict,
                    common: dict) -> tuple[tables.Table, list]:
    """Table 2, the simulated operating characteristics (:func:`simulate_power`), and its records."""
    oc = simulate_power(design, analysis, s["n_sim"], s["seed"], **common)
    rows = [[r.measure, fmt_number(r.estimate, 4), fmt_number(r.mc_se, 4), str(int(r.n))]
            for r in oc.summary.itertuples()]
    table = tables.Table(
        f"Table 2. Operating characteristics by simulation ({s['n_sim']} trials, "
        f"{', '.join(f'{a}: {n}' for a, n in zip(design.arms, design.arrays.n))})",
        ["Measure", "Estimate", "Monte-Carlo SE", "Trials"], rows, oc.summary,
        (f"Analysis: {analysis.formula}; {analysis.treatment} - {analysis.reference}; true difference "
         f"{fmt_number(oc.true_effect, 3)}; seed {s['seed']}.",), ("l", "c", "c", "c"))
    return table, oc.summary.to_dict("records")


def _power_curve_part(design: TrialDesign, analysis: Analysis, s: dict,
                      common: dict) -> tuple[tables.Table, list, Figure]:
    """Table 3 and figure 1, the simulated power over ``n_per_arm`` (:func:`power_curve`), and
    the records."""
    curve = power_curve(design, analysis, s["n_sim"], s["seed"], n_per_arm=s["n_per_arm"], **common)
    power = curve[curve["measure"].isin(["power", "type I error"])].reset_index(drop=True)
    rows = [[str(r.n_per_arm), fmt_number(r.estimate, 3), fmt_number(r.mc_se, 3)] for r in power.itertuples()]
    table = tables.Table("Table 3. Simulated power by sample size per arm",
                         ["n per arm", "Power", "Monte-Carlo SE"], rows, power, (), ("c", "c", "c"))
    return table, power.to_dict("records"), _power_figure(power)


def _power_figure(power: pd.DataFrame) -> Figure:
    """Simulated power against subjects per arm with 95% Monte-Carlo intervals (a detached figure)."""
    from ..plots.style import detached_figures, new_axes

    with detached_figures():
        ax = new_axes(None)
    ax.errorbar(power["n_per_arm"], power["estimate"], yerr=1.96 * power["mc_se"], marker="o",
                capsize=3, label="simulated (95% MC interval)")
    ax.set_xlabel("subjects per arm")
    ax.set_ylabel("power")
    ax.set_title("Simulated power by sample size per arm")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax.figure


def design_summary(design: TrialDesign, analysis: Analysis, s: dict) -> list[tuple[str, str]]:
    """(what, text) rows of the design for ``index.html``: arms and sizes, visits, means at the
    last visit, dropout, analysis, contrast and simulation settings."""
    arrays = design.arrays
    last = ", ".join(f"{a} {fmt_number(m, 2)}" for a, m in zip(arrays.arms, arrays.mean[:, -1]))
    if arrays.logistic is not None:
        dropout = "logistic (MAR/MNAR) dropout model"
    elif arrays.retention is None:
        dropout = "none"
    else:
        dropout = "retention at the last visit " + ", ".join(
            f"{a} {fmt_number(r, 2)}" for a, r in zip(arrays.arms, arrays.retention[:, -1]))
    return [("Arms (subjects)", ", ".join(f"{a} ({n})" for a, n in zip(arrays.arms, arrays.n))),
            ("Visits", ", ".join(map(str, design.visit_labels))),
            ("Means at the last visit", last),
            ("Dropout", dropout),
            ("Analysis", analysis.formula),
            ("Contrast", f"{analysis.treatment} - {analysis.reference}"),
            ("Simulation", f"{s['n_sim']} trials per point, seed {s['seed']}, two-sided alpha "
                           f"{s['alpha']:g}")]


def _write_report(folder: Path, made: dict, results: dict, figure: Figure | None, config_path,
                  summary: list[tuple[str, str]], notes: list[str]) -> None:
    """Each table as RTF (header and footer lines), HTML and CSV, the figure in the formats of
    ``[simulation] figures`` (PNG by default, SVG on request), the JSON and ``index.html``."""
    from datetime import datetime

    from .. import __version__

    titles = tables.Titles(header=(f"Power and sample size: {Path(config_path).name}",),
                           source=str(config_path),
                           program=f"trialmlm {__version__} power", run_at=datetime.now())
    for name, table in made.items():
        tables.to_rtf(table, folder / f"{name}.rtf", titles)
        tables.write_html(table, folder / f"{name}.html")
        tables.to_csv(table, folder / f"{name}.csv")
    formats = results["settings"]["figures"]
    if figure is not None:
        for ext in formats:
            figure.savefig(folder / f"f1_power_curve.{ext}", dpi=150, bbox_inches="tight")
    (folder / "power_results.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary)
    parts = [f"<p class=\"links\"><a href=\"{n}.rtf\">RTF</a> | <a href=\"{n}.html\">HTML</a> | "
             f"<a href=\"{n}.csv\">CSV</a></p>{tables.to_html(t)}" for n, t in made.items()]
    links = " | ".join(f'<a href="f1_power_curve.{ext}">{ext.upper()}</a>' for ext in formats)
    shown = "png" if "png" in formats else formats[0]
    image = (f'<figure><img src="f1_power_curve.{shown}" style="max-width: 100%; width: 720px" '
             'alt="Figure 1. Simulated power by sample size per arm">'
             "<figcaption>Figure 1. Simulated power by sample size per arm, with 95% Monte-Carlo intervals "
             f"({results['settings']['n_sim']} simulated trials per point; {links}).</figcaption>"
             "</figure>") if figure is not None else ""
    remarks = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    (folder / "index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Power and sample size</title>"
        f"<style>{tables.render.CSS}</style></head><body>"
        f"<h1>Power and sample size: {html.escape(Path(config_path).name)}</h1>"
        f"<table class=\"model\">{rows}</table>"
        f"<p>Design file: {html.escape(str(config_path))}; all numbers at full precision: "
        '<a href="power_results.json">power_results.json</a> (<code>trialmlm power --config '
        "power_results.json</code> runs the same design again).</p>"
        + remarks + "\n".join(parts) + image + "</body></html>\n", encoding="utf-8")


def run_power(config_path, out, n_sim: int | None = None, workers: int | None = None,
              seed: int | None = None, progress: bool | None = None, overwrite: bool = False,
              figures=None) -> Path:
    """Read the config, simulate, tabulate, plot and write the report folder; returns it.
    ``n_sim``, ``workers``, ``seed``, ``figures`` (formats, e.g. ``"png,svg"``): the command
    line's overrides of the ``[simulation]`` settings (None: the file's)."""
    raw = read_power_config(config_path)
    overrides = {"n_sim": n_sim, "workers": workers, "seed": seed, "figures": figures}
    design, analysis, s = power_settings(raw, config_path, overrides)
    common = dict(alpha=s["alpha"], workers=s["workers"], progress=progress)
    config = {"design": raw["design"], "analysis": raw["analysis"],
              "simulation": {k: v for k, v in s.items() if v is not None}}
    made, results, notes = {}, {"settings": s, "config": config}, []
    why = _no_sample_size(design, analysis)
    if why is None:
        made["t1_sample_size"], results["sample_size"] = _sample_size_part(design, analysis, s)
    else:
        notes.append(f"Table 1 (analytic sample size, Lu, Luo & Chen 2008) is not shown: {why}.")
        results["sample_size"] = why
    made["t2_operating"], results["operating_characteristics"] = _operating_part(design, analysis, s, common)
    figure = None
    if s["n_per_arm"]:
        made["t3_power_curve"], results["power_curve"], figure = _power_curve_part(design, analysis, s,
                                                                                   common)
    with report_folder(Path(out), overwrite) as tmp:
        _write_report(tmp, made, results, figure, config_path, design_summary(design, analysis, s), notes)
    return Path(out)
