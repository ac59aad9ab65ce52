"""One analysis from a data file to a report folder: tables (RTF, HTML, CSV), figures (PNG,
SVG) and an ``index.html`` that shows them all with the model and the software versions.

:class:`AnalysisConfig` holds every choice (from the command line or a TOML file);
:func:`run_analysis` reads the data with :func:`trialmlm.read`, fits the MMRM

    RESPONSE ~ COVARIATES + ARM * VISIT + STRUCTURE(VISIT | SUBJECT)

(``model="mmrm"``, the default) or the trajectory model with random intercepts and slopes

    RESPONSE ~ COVARIATES + ARM * TIME + (1 + TIME | SUBJECT) [+ STRUCTURE(... | SUBJECT)]

(``model="slopes"``, TIME continuous) and writes, into ``out``:

=========================  ==================================================================
``t1_summary``             observed values by arm and visit (n, mean, SD, median, min, max)
``t2_mmrm``                LS means by arm and visit, differences from the reference, CI, p
                           (``t2_slopes``: slope per arm and difference from the reference)
``t3_type3``               type III tests of the fixed effects
``t4_covariance``          covariance parameters and fit statistics
``t5_patterns``,           missing-data patterns, dropout by arm and visit, Kaplan-Meier
``t5_dropout``, ``t5_km``  time to dropout
``t6_sensitivity``         MAR and reference-based multiple imputation, tipping point
                           (with ``sensitivity=True``)
``t7_estimands``,          each estimand's intercurrent-event handling and differences at
``t7_ice``                 the last visit, and the events by estimand and arm (with
                           ``estimands`` or an ICE source: :mod:`trialmlm.estimands`)
``f1`` ... ``f8``          spaghetti, observed means, LS means, differences, missing
                           patterns, time to dropout, residuals, tipping point (slopes:
                           individual observed and predicted trajectories and shrinkage
                           in place of LS means and differences; no tipping point)
=========================  ==================================================================

each table as ``.rtf``, ``.html`` and ``.csv`` (plus every table in ``tables.rtf``), each
figure as ``.png`` and ``.svg``.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .adam import (
    arm_order,
    count_model_exclusions,
    derived_counts,
    derived_text,
    exclude_records,
    observed_records,
)
from .api import fit as fit_model
from .classes import grouping_name, quiet_codes, warn_codes
from .config import MODELS, SELECTION, AnalysisConfig, load_config, make_config  # noqa: F401 (re-exported)
from .describe import describe_covariance, describe_estimation
from .design import factor_levels
from .errors import ConvergenceError, DataError, DataWarning
from .estimands import check_before_fit, run_estimands
from .fallback import failure
from .formats import decimals_for
from .inference.methods import labels
from .io import read
from .missing import dropout_table, impute, patterns, time_to_dropout, tipping_point
from .report_folder import check_folder, report_folder

SENSITIVITY_METHODS = ("jump_to_reference", "copy_reference", "copy_increments_in_reference")
PACKAGES = ("trialmlm", "numpy", "scipy", "pandas", "matplotlib", "lifelines", "formulaic")


@dataclass(frozen=True)
class Report:
    """What :func:`run_analysis` produced."""

    out: Path
    fit: object = field(repr=False)
    tables: dict = field(repr=False)
    figures: tuple[str, ...]
    files: tuple[Path, ...]

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def _read(config: AnalysisConfig) -> pd.DataFrame:
    """The analysis records: :func:`trialmlm.read` with the config's selection; every
    column the analysis names must be in the file.  A covariate written as a bare column
    that looks like codes of an ADaM grouping variable (:mod:`trialmlm.classes`) gets a
    one-line DataWarning naming ``--class`` (read's own warning names the Python keyword)."""
    with quiet_codes():
        df = read(config.data, response=config.response, subject=config.subject, visit=config.visit,
                  arm=config.arm, **config.selection)
    needed = {f"covariate {c}": c for c in config.covariate_columns}
    if config.model == "slopes":
        needed["time"] = config.time
    missing = [f"{what} '{col}'" for what, col in needed.items() if col not in df.columns]
    if missing:
        raise DataError(f"{config.data}: no column for {', '.join(missing)}; "
                        f"columns: {', '.join(df.columns)}")
    bare = [c for c in config.covariates if c in df.columns and grouping_name(c)]
    warn_codes(df, bare, "--class {column} (TOML class = ['{column}']) or --covariates 'C({column})'",
               what="covariate")
    return df


def _fit_models(config: AnalysisConfig, data: pd.DataFrame) -> list[tuple[object, object]]:
    """``[(visit, fit)]``: the model (visit None), or one ANCOVA per visit."""
    options = dict(method=config.method, ddf=config.ddf)
    if config.model == "ancova":
        if config.at_visit is not None:
            return [(config.at_visit, fit_model(config.formula, data, **options))]
        return [(v, fit_model(config.formula, data.loc[data[config.visit] == v], **options))
                for v in factor_levels(data[config.visit])]
    several = len(config.structures) > 1
    try:
        fit = fit_model(config.formula, data, covariance=list(config.structures) if several else None,
                        **options)
    except ConvergenceError as exc:
        if not config.allow_nonconvergence:
            raise ConvergenceError(_nonconvergence_text(config, exc.attempts), exc.attempts) from None
        fit = fit_model(config.formula, data, **options)  # the first structure, reported as not converged
    else:
        if failure(fit) and not config.allow_nonconvergence:
            raise ConvergenceError(_nonconvergence_text(config, fit.covariance_attempts),
                                   fit.covariance_attempts)
    return [(None, fit)]


def _nonconvergence_text(config: AnalysisConfig, attempts) -> str:
    """One line: each structure tried and why it failed, and what to do."""
    tried = "; ".join(f"{a.structure}: {a.reason}" for a in attempts)
    return (f"no usable fit of {config.formula} ({tried}); list fallback structures "
            "(--covariance us,toeph,ar1h,cs) or write the report anyway with --allow-nonconvergence")


#: Header text of the usual ADaM population flags (used when the file has no label for the flag).
POPULATIONS = {"ITTFL": "Intent-to-Treat Population", "FASFL": "Full Analysis Set",
               "SAFFL": "Safety Population",
               "EFFFL": "Efficacy Population", "PPROTFL": "Per-Protocol Population",
               "COMPLFL": "Completers Population", "RANDFL": "Randomized Population"}


def population_label(config: AnalysisConfig, labels: dict) -> str:
    """The population line of the table headers: ``population_label``; else the flag's SAS
    label without "Flag" ("Efficacy Population Flag" -> "Efficacy Population"); else the
    usual name of an ADaM flag; else ``FLAG = "Y"``; "All subjects" without a flag."""
    if config.population_label is not None:
        return config.population_label
    flag = config.population
    if flag is None:
        return "All subjects"
    label = str(labels.get(flag, "")).strip()
    if label:
        return re.sub(r"\s+flag$", "", label, flags=re.IGNORECASE)
    return POPULATIONS.get(flag, f"{flag} = 'Y'")


def _titles(config: AnalysisConfig, df: pd.DataFrame):
    """The header and footer lines of every table (:class:`trialmlm.tables.Titles`)."""
    from . import __version__
    from .tables import Titles

    study = config.study
    if study is None and "STUDYID" in df.columns:
        study = ", ".join(map(str, pd.unique(df["STUDYID"].dropna()))) or None
    return Titles(study=study, population=population_label(config, df.attrs.get("labels", {})),
                  source=Path(config.data).name, program=config.program or f"trialmlm {__version__} analyze",
                  run_at=datetime.now().replace(microsecond=0))


def _response_label(df: pd.DataFrame, config: AnalysisConfig) -> str:
    names = {"CHG": "change from baseline", "AVAL": "value", "PCHG": "percent change from baseline"}
    if "PARAM" in df.columns and df["PARAM"].nunique() == 1:
        what = names.get(config.response, config.response)
        return f"{df['PARAM'].iloc[0]}, {what}"
    return config.response


def _unit(df: pd.DataFrame, config: AnalysisConfig) -> str | None:
    if config.unit is not None or "PARAM" not in df.columns or df["PARAM"].nunique() != 1:
        return config.unit
    found = re.search(r"\(([^()]+)\)\s*$", str(df["PARAM"].iloc[0]))
    return found.group(1) if found else None


def _figure(draw):
    """Run ``draw`` (returns Axes or an array of Axes) and give back its figure."""
    out = draw()
    ax = np.ravel(out)[0] if isinstance(out, np.ndarray) else out
    return ax.figure


def _sensitivity(fit, config: AnalysisConfig, reference, progress):
    """The MI analyses (MAR and reference-based) and the tipping point (default deltas: round
    steps towards the null, :func:`trialmlm.missing.delta_steps`)."""
    options = dict(n_imputations=config.imputations, reference=reference, arm=config.arm, seed=config.seed,
                   workers=config.workers, progress=progress)
    imputations = [impute(fit, method=method, **options) for method in ("mar", *SENSITIVITY_METHODS)]
    return imputations, tipping_point(fit, config.deltas, alpha=config.alpha, **options)


def run_analysis(config: AnalysisConfig, progress: bool | None = None, links: tuple = (),
                 inputs: dict | None = None) -> Report:
    """Read, fit, tabulate, plot and write the report folder; returns the :class:`Report`.

    ``links``: (text, relative URL) pairs listed under "See also" in ``index.html``.
    ``inputs``: other files the report folder must not replace, role -> path (the TOML
    file); the data and ICE files are always protected (:func:`trialmlm.report_folder.check_folder`).
    """
    from . import plots, tables
    from .plots._style import detached_figures

    final = Path(config.out)
    inputs = {"data file": config.data, "ICE file (ice)": config.ice, **(inputs or {})}
    check_folder(final, config.overwrite, inputs)  # before any work
    df = _read(config)
    levels = arm_order(df, config.arm, config.arm_order, config.reference)  # reference arm first
    df[config.arm] = df[config.arm].cat.reorder_categories(levels)
    reference = levels[0]
    reason = config.reason or ("DCSREAS" if "DCSREAS" in df.columns else None)
    dropout_time = config.dropout_time or ("AVISITN" if "AVISITN" in df.columns else None)
    counts = df.attrs["records"]
    if config.model == "ancova" and config.at_visit is not None:
        at = df[config.visit].astype(str) == str(config.at_visit)
        if not at.any():
            raise DataError(f"at_visit={config.at_visit!r} is not a visit of the analysed records "
                            f"({config.visit}: {', '.join(map(str, factor_levels(df[config.visit])))})")
        model_data, counts = exclude_records(
            df, counts, at.to_numpy(), "at_visit",
            f"another visit than {config.visit} = {config.at_visit} (ANCOVA)", config.subject)
    else:
        model_data = df
    analysed, counts = count_model_exclusions(model_data, counts, config.subject, config.response,
                                              config.covariate_columns)
    observed = observed_records(df)  # what the data tables and figures describe
    derived = derived_counts(analysed)
    if derived and config.model != "ancova":
        warnings.warn(DataWarning(f"the {config.model} model uses {derived_text(derived)}, which an MMRM "
                                  "normally must not see (MAR-based models handle the missing values "
                                  "themselves); leave out keep_dtype"), stacklevel=2)
    data_note = _observed_note(derived, observed, config.subject)
    if config.has_estimands:
        check_before_fit(config, analysed)  # impossible estimands before any fitting
    fits = _fit_models(config, model_data)
    usable = all(not failure(f) for _, f in fits)
    if sum(f.n_obs for _, f in fits) != counts.records:
        raise DataError(f"internal record count mismatch: {counts.records} records selected, "
                        f"{sum(f.n_obs for _, f in fits)} used by the model")
    fit = fits[0][1]
    label, unit = _response_label(df, config), _unit(df, config)
    labels = df.attrs.get("labels", {})
    decimals = decimals_for(df[config.response], config.data_decimals()).data
    titles = _titles(config, df)
    by_arm = (analysed.groupby(config.arm, observed=False)
              .agg(subjects=(config.subject, "nunique"), records=(config.response, "size"))
              .reset_index().rename(columns={config.arm: "arm"}))
    by_arm.attrs["arm"] = labels.get(config.arm, config.arm)

    made = {
        "t0_records": tables.records_table(counts, by_arm, title="Table 0. Records used: read, excluded "
                                           "by reason, analysed"),
        "t1_summary": tables.summary_table(observed, config.arm, config.visit, config.response, unit=unit,
                                           decimals=decimals, labels=labels, footnotes=data_note("table"),
                                           title=f"Table 1. {label}: observed values by treatment and visit"),
        **_model_tables(fits, config, reference, label, unit, decimals, labels, tables),
    }
    keys = (config.subject, config.visit, config.response, config.arm)
    survival = time_to_dropout(observed, *keys, time=dropout_time)  # table 5c and figure 6
    notes = dict(labels=labels, footnotes=data_note("table"))
    missing = (tables.pattern_table(patterns(observed, *keys), **notes),
               tables.dropout_by_visit_table(dropout_table(observed, *keys, reason), **notes),
               tables.km_dropout_table(survival, **notes))
    for letter, name, table in zip("abc", ("t5_patterns", "t5_dropout", "t5_km"), missing):
        made[name] = dataclasses.replace(table, title=f"Table 5{letter}. {table.title}")
    tp = None
    if config.sensitivity:
        imputations, tp = _sensitivity(fit, config, reference, progress)
        made["t6_sensitivity"] = tables.sensitivity_table(
            fit, imputations, tp, alpha=config.alpha, decimals=decimals, unit=unit,
            title=f"Table 6. Sensitivity analyses: difference from {reference} at {tp.visit}",
            footnotes=(f"MI: {config.imputations} imputations (bootstrap draws of the MMRM parameters), "
                       f"analysed by the same MMRM, combined by Rubin's rules; seed {config.seed}.",))

    estimands = None
    if config.has_estimands:
        estimands = run_estimands(fit, config, analysed, reference, progress)
        made |= _estimand_tables(estimands, config, reference, label, unit, decimals, labels, tables)

    if not usable:  # allowed by allow_nonconvergence (else _fit_models raised)
        why = "; ".join(f"{v + ': ' if v else ''}{failure(f)}" for v, f in fits if failure(f))
        warning = (f"WARNING: the model fit is not usable ({why}); its estimates, standard errors and "
                   "tests are not reliable.")
        made = {k: dataclasses.replace(t, footnotes=(warning, *t.footnotes)) for k, t in made.items()}
    if derived and config.model != "ancova":
        warning = (f"WARNING: the model used {derived_text(derived)}, which an MMRM normally must not see "
                   "(MAR-based models handle the missing values themselves).")
        made = {k: dataclasses.replace(t, footnotes=(warning, *t.footnotes)) for k, t in made.items()}

    x = config.time if config.model == "slopes" else config.visit
    drawings = {
        "f1_spaghetti": lambda: plots.spaghetti(observed, config.subject, x, config.response, config.arm,
                                                n_subjects=40, visit=config.visit),
        "f2_observed_means": lambda: plots.observed_means(observed, config.visit, config.response,
                                                          config.arm),
    }
    if config.model == "mmrm":
        drawings["f3_lsmeans"] = lambda: plots.lsmeans_plot(fit, config.arm, config.visit)
        drawings["f4_differences"] = lambda: plots.difference_forest(fit, config.arm, config.visit,
                                                                     reference=reference, decimals=decimals)
    elif config.model == "slopes":
        drawings["f3_trajectories"] = lambda: plots.individual_trajectories(fit, x=config.time)
        drawings["f4_shrinkage"] = lambda: plots.shrinkage_plot(fit)
    drawings |= {
        "f5_missing_patterns": lambda: plots.missing_pattern_heatmap(observed, config.subject, config.visit,
                                                                     config.response, config.arm),
        "f6_km_dropout": lambda: plots.km_dropout(survival),
        "f7_residuals": lambda: plots.residual_diagnostics(fit),
    }
    if tp is not None:
        drawings["f8_tipping_point"] = lambda: plots.tipping_point_plot(tp)

    with report_folder(final, config.overwrite, inputs) as out:
        files = []
        for name, table in made.items():
            files += [tables.to_rtf(table, out / f"{name}.rtf", titles=titles),
                      tables.write_html(table, out / f"{name}.html", titles=titles),
                      tables.to_csv(table, out / f"{name}.csv")]
        files.append(tables.to_rtf(list(made.values()), out / "tables.rtf", titles=titles))
        for name, draw in drawings.items():
            with detached_figures():  # the caller's matplotlib backend is left alone
                figure = _figure(draw)
            for ext in ("png", "svg"):
                path = out / f"{name}.{ext}"
                figure.savefig(path, dpi=150, bbox_inches="tight")
                files.append(path)
        files.append(_write_results(out / "analysis_results.json", config, counts, by_arm, levels, fits,
                                    reference, estimands))
        index = out / "index.html"
        captions = {name: " ".join(data_note("figure")) for name in DATA_FIGURES if name in drawings}
        page = _index_html(config, fits, made, list(drawings), reference, label, links, estimands, captions)
        index.write_text(page, encoding="utf-8")
        files.append(index)
        names = [p.relative_to(out) for p in files]
    return Report(final, fit, made, tuple(drawings), tuple(final / n for n in names))


#: The figures of the data (observed-case records), not of the model.
DATA_FIGURES = ("f1_spaghetti", "f2_observed_means", "f5_missing_patterns", "f6_km_dropout")


def _observed_note(derived: dict, observed: pd.DataFrame, subject: str):
    """``note(what)``: the footnote of a data table (``what="table"``) or figure caption when
    the analysis used derived records; an empty tuple when it used none.  E.g. "The analysis
    used 168 LOCF-derived records (DTYPE = LOCF); this table describes the 537 observed
    records (DTYPE blank) of 236 subjects." """
    def note(what: str) -> tuple[str, ...]:
        if not derived:
            return ()
        return (f"The analysis used {derived_text(derived)}; this {what} describes the {len(observed)} "
                f"observed records (DTYPE blank) of {observed[subject].nunique()} subjects.",)
    return note


def _estimand_tables(estimands, config: AnalysisConfig, reference, label: str, unit: str | None, decimals,
                     labels: dict, tables) -> dict:
    """Tables 7a (estimands and their differences) and 7b (intercurrent events by arm)."""
    from .estimands import METHODS

    on = " and ".join([config.arm, ", ".join(config.covariates)] if config.covariates else [config.arm])
    method = METHODS[estimands.method].format(n=config.imputations)
    if estimands.method != "condmean":  # the jackknife is deterministic
        method += f", seed {config.seed}"
    notes = (f"Each estimand: {method}; imputation model: the MMRM of Table 2, refitted "
             "without the observed values after non-MAR intercurrent events; analysis: ANCOVA at each visit "
             f"on {on}.",
             f"Intercurrent events (ICE): {estimands.source}; subjects without an ICE are MAR throughout.")
    main = tables.estimand_table(estimands, reference, alpha=config.alpha, decimals=decimals, unit=unit,
                                 footnotes=notes)
    visit = main.data["visit"].iloc[0]
    return {"t7_estimands": dataclasses.replace(
                main, title=f"Table 7a. {label}: estimands, differences from {reference} at {visit}"),
            "t7_ice": tables.ice_table_counts(estimands, labels.get(config.arm, config.arm),
                                              title="Table 7b. Intercurrent events by estimand and arm")}


def _model_tables(fits, config: AnalysisConfig, reference, label: str, unit: str | None, decimals,
                  labels: dict, tables) -> dict:
    """Tables 2-4 of the fitted model(s): LS means by visit (MMRM, ANCOVA) or slopes in time
    (trajectory model) with differences from the reference; type III tests; covariance
    parameters and fit statistics.  ANCOVA at every visit: one table of each kind, by visit."""
    common = dict(reference=reference, alpha=config.alpha, decimals=decimals, labels=labels)
    what = {"mmrm": "MMRM least-squares means", "ancova": "ANCOVA least-squares means",
            "slopes": f"rate of change per unit {config.time}"}[config.model]
    t2 = {"mmrm": "t2_mmrm", "ancova": "t2_ancova", "slopes": "t2_slopes"}[config.model]
    at = f" at {config.visit} = {config.at_visit}" if config.at_visit is not None else ""
    titles = {t2: f"Table 2. {label}: {what} and differences from {reference}{at}",
              "t3_type3": f"Table 3. Type III tests of fixed effects{at}",
              "t4_covariance": f"Table 4. Covariance parameter estimates and fit statistics{at}"}

    def build(fit) -> dict:
        if config.model == "slopes":
            main = tables.mmrm_table(fit, config.arm, None, slope=config.time, **common,
                                     unit=None if unit is None else f"{unit} per unit {config.time}")
        else:
            main = tables.mmrm_table(fit, config.arm, config.visit if config.model == "mmrm" else None,
                                     unit=unit, **common)
        return {t2: main, "t3_type3": tables.type3_table(fit), "t4_covariance": tables.covariance_table(fit)}

    if len(fits) == 1:
        return {k: dataclasses.replace(t, title=titles[k]) for k, t in build(fits[0][1]).items()}
    built = [(visit, build(fit)) for visit, fit in fits]
    header = labels.get(config.visit, config.visit)
    return {k: tables.stack_tables([(v, b[k]) for v, b in built], header, title=titles[k] + f" by {header}")
            for k in titles}


def _write_results(path: Path, config: AnalysisConfig, counts, by_arm, arms, fits, reference,
                   estimands=None) -> Path:
    """``analysis_results.json`` (:mod:`trialmlm.analysis_results`) of the fitted model(s)."""
    from .analysis_results import (
        estimand_entries,
        estimate_rows,
        fit_summary,
        type3_rows,
        write_analysis_results,
    )

    lsmeans, differences, type3, summaries = [], [], [], []
    for visit, fit in fits:
        by = config.visit if config.model == "mmrm" else None
        slope = {"slope": config.time} if config.model == "slopes" else {}
        lsmeans += estimate_rows(fit.lsmeans(config.arm, by=by, **slope), config.arm, by, at=visit)
        differences += estimate_rows(fit.compare(config.arm, by=by, reference=reference, alpha=config.alpha,
                                                 **slope), config.arm, by, at=visit, reference=reference)
        type3 += type3_rows(fit.anova(), at=visit)
        summaries.append(fit_summary(fit, visit))
    return write_analysis_results(
        path, settings=dataclasses.asdict(config), counts=counts, by_arm=by_arm, arms=arms,
        fit=summaries[0] if len(fits) == 1 else summaries, lsmeans=lsmeans, differences=differences,
        type3=type3, software=dict(_versions()),
        estimands=estimand_entries(estimands, reference, config.alpha) if estimands is not None else None)


def _versions() -> list[tuple[str, str]]:
    out = [("Python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def _index_html(config: AnalysisConfig, fits, made: dict, figures: list[str], reference, label: str,
                links: tuple, estimands=None, captions: dict | None = None) -> str:
    """``index.html``: the model, the software, links, every table and figure, from the Jinja2
    template ``templates/index.html.j2`` (the engine escapes every text)."""
    from markupsafe import Markup

    from .tables import to_html
    from .tables.render import CSS

    axis = config.time if config.model == "slopes" else config.visit
    title = config.title or f"{label}: {config.arm} by {axis}"
    captions = captions or {}
    return _template("index.html.j2").render(
        title=title, css=Markup(CSS), model=_model_rows(config, fits, reference, estimands),
        results="analysis_results.json", versions=_versions(), links=links,
        tables=[(name, Markup(to_html(table))) for name, table in made.items()],
        figures=[(name, captions.get(name)) for name in figures])


def _model_rows(config: AnalysisConfig, fits, reference, estimands) -> list[tuple[str, str]]:
    """The rows of the model table of ``index.html``: (what, text)."""
    fit = fits[0][1]
    s = fit.settings
    ddf_label, vcov_label = labels(fit)

    def per_visit(text) -> str:
        said = [text(f) for _, f in fits]
        if len(set(said)) == 1:
            return said[0]
        return "; ".join(f"{v}: {t}" for (v, _), t in zip(fits, said))

    rows = [
        ("Data", f"{config.data}" + (f" (PARAMCD {config.param})" if config.param else "")),
        ("Model", s.formula + (f", one fit per {config.visit}" if len(fits) > 1 else "")
         + (f", at {config.visit} = {config.at_visit}" if config.at_visit is not None else "")),
        ("Estimation", per_visit(lambda f: describe_estimation(f, optimizer=True))),
        ("Covariance", str(describe_covariance(fit))),
        ("Degrees of freedom; standard errors", f"{ddf_label} (ddf={s.ddf}); {vcov_label} (vcov={s.vcov})"),
        ("Reference arm", str(reference)),
        ("Subjects / observations used", per_visit(lambda f: f"{f.n_subjects} / {f.n_obs}")),
        ("-2 log-likelihood, AIC, BIC",
         per_visit(lambda f: f"{-2 * f.loglik:.4f}, {f.aic:.4f}, {f.bic:.4f}")),
    ]
    if estimands is not None:
        rows.append(("Estimands (Tables 7a, 7b)",
                     f"{', '.join(e.name for e in estimands.estimands)} by {estimands.method}; "
                     f"intercurrent events: {estimands.source}"))
    return rows


@functools.cache
def _template(name: str):
    """A template of ``trialmlm/templates`` (HTML autoescaped; blocks take no blank lines)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("trialmlm", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.get_template(name)
