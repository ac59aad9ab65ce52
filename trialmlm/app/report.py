"""One analysis from a data file to a report folder: tables (RTF, HTML, CSV), figures (PNG,
and SVG on request) and an ``index.html`` that shows them all with the model and the software versions.

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
``t4_selection``           the candidate structures with their criterion (with
                           ``covariance_select``)
``t5_patterns``,           missing-data patterns, dropout by arm and visit, Kaplan-Meier
``t5_dropout``, ``t5_km``  time to dropout
``t6_sensitivity``         MAR and reference-based multiple imputation, tipping point
                           (with ``sensitivity=True``)
``t7_estimands``,          each estimand's intercurrent-event handling and differences at
``t7_ice``                 the last visit, and the events by estimand and arm (with
                           ``estimands`` or an ICE source: :mod:`trialmlm.app.estimand_report`)
``t8_subgroups``           differences at the last visit by subgroup level, interaction tests
                           (with ``subgroups``: :mod:`trialmlm.app.subgroup_report`)
``f1`` ... ``f9``          spaghetti, observed means, LS means, differences, missing
                           patterns, time to dropout, residuals, tipping point, subgroups (slopes:
                           individual observed and predicted trajectories and shrinkage
                           in place of LS means and differences; no tipping point)
=========================  ==================================================================

each table as ``.rtf``, ``.html`` and ``.csv`` (plus every table in ``tables.rtf``), each
figure as ``.png`` (``figures``: ``.svg`` as well, or instead).
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

from ..api import fit as fit_model
from ..api import select_covariance
from ..data.adam import (
    arm_order,
    count_model_exclusions,
    derived_counts,
    derived_text,
    exclude_records,
    observed_records,
)
from ..engine.describe import describe_covariance, describe_estimation
from ..engine.design import factor_levels
from ..engine.fallback import failure
from ..errors import ConvergenceError, DataError, DataWarning
from ..estimands import impute, tipping_point
from ..inference.change import change_lsmeans
from ..inference.methods import labels
from ..missing import dropout_table, patterns, time_to_dropout
from .config import MODELS, SELECTION, AnalysisConfig, load_config, make_config  # noqa: F401 (re-exported)
from .context import AnalysisKind, Context, Engine, read_records
from .estimand_report import check_before_fit, run_estimands
from .glmm_report import GLMM_ANALYSES, GLMM_ENGINE
from .report_folder import check_folder, report_folder
from .responder_report import RESPONDER_ANALYSES, RESPONDER_ENGINE
from .subgroup_report import FIGURE as SUBGROUP_FIGURE
from .subgroup_report import FIGURE_TITLE as SUBGROUP_FIGURE_TITLE
from .subgroup_report import SubgroupAnalysis

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
    counts: object = field(default=None, repr=False)

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    @property
    def subjects(self) -> int:
        """Subjects analysed (as the records table counts them)."""
        return self.counts.subjects

    @property
    def records(self) -> int:
        """Records analysed."""
        return self.counts.records


def _fit_models(config: AnalysisConfig, data: pd.DataFrame) -> list[tuple[object, object]]:
    """``[(visit, fit)]``: the model (visit None), or one ANCOVA per visit."""
    options = dict(method=config.method, ddf=config.ddf)
    if config.kind.per_visit:
        if config.at_visit is not None:
            return [(config.at_visit, fit_model(config.formula, data, **options))]
        return [(v, fit_model(config.formula, data.loc[data[config.visit] == v], **options))
                for v in factor_levels(data[config.visit])]
    several = len(config.structures) > 1
    try:
        if config.covariance_select:
            fit = select_covariance(config.formula, data, config.covariance_select[0], config.structures,
                                    **options)
        else:
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
    from .. import __version__
    from ..tables import Titles

    study = config.study
    if study is None and "STUDYID" in df.columns:
        study = ", ".join(map(str, pd.unique(df["STUDYID"].dropna()))) or None
    return Titles(study=study, population=population_label(config, df.attrs.get("labels", {})),
                  source=", ".join(Path(p).name for p in (config.data, config.adsl) if p is not None),
                  program=config.program or f"trialmlm {__version__} analyze",
                  run_at=datetime.now().replace(microsecond=0))


def _figure(draw):
    """Run ``draw`` (returns Axes or an array of Axes) and give back its figure."""
    out = draw()
    ax = np.ravel(out)[0] if isinstance(out, np.ndarray) else out
    return ax.figure


#: ``ModelKind.engine`` -> how the report reads, prepares and fits it.
ENGINES = {
    "linear": Engine(read=lambda config: read_records(config, config.response),
                         prepare=lambda config, records, counts: (records, counts, None), fit=_fit_models,
                         failure=failure, n_obs=lambda fit: fit.n_obs),
    "gee": RESPONDER_ENGINE,
    "glmm": GLMM_ENGINE,
}


def _context(config: AnalysisConfig, progress: bool | None) -> Context:
    """Read and count the records, then fit the model(s): everything the analysis kinds share."""
    engine = ENGINES[config.kind.engine]
    df = engine.read(config)
    levels = arm_order(df, config.arm, config.arm_order, config.reference)  # reference arm first
    df[config.arm] = df[config.arm].cat.reorder_categories(levels)
    model_data, counts = _model_records(config, df)
    model_data, counts, intercurrent = engine.prepare(config, model_data, counts)
    analysed, counts = count_model_exclusions(model_data, counts, config.subject, config.response,
                                              config.covariate_columns)
    derived = derived_counts(analysed)
    if derived and config.kind.mar_based:
        warnings.warn(DataWarning(f"the {config.model} model uses {derived_text(derived)}, which an MMRM "
                                  "normally must not see (MAR-based models handle the missing values "
                                  "themselves); leave out keep_dtype"), stacklevel=3)
    if config.has_estimands:
        check_before_fit(config, analysed)  # impossible estimands before any fitting
    fits = engine.fit(config, model_data)
    used = sum(engine.n_obs(f) for _, f in fits)
    if used != counts.records:
        raise DataError(f"internal record count mismatch: {counts.records} records selected, "
                        f"{used} used by the model")
    by_arm = (analysed.groupby(config.arm, observed=False)
              .agg(subjects=(config.subject, "nunique"), records=(config.response, "size"))
              .reset_index().rename(columns={config.arm: "arm"}))
    by_arm.attrs["arm"] = df.attrs.get("labels", {}).get(config.arm, config.arm)
    return Context(config, df, observed_records(df), analysed, counts, by_arm, levels, fits, derived,
                   _titles(config, df), engine, intercurrent, progress)


def _model_records(config: AnalysisConfig, df: pd.DataFrame):
    """``(records, counts)`` the model sees: all, or those of ``at_visit`` (the exclusion counted)."""
    if config.at_visit is None:
        return df, df.attrs["records"]
    at = df[config.visit].astype(str) == str(config.at_visit)
    if not at.any():
        raise DataError(f"at_visit={config.at_visit!r} is not a visit of the analysed records "
                        f"({config.visit}: {', '.join(map(str, factor_levels(df[config.visit])))})")
    return exclude_records(df, df.attrs["records"], at.to_numpy(), "at_visit",
                           f"another visit than {config.visit} = {config.at_visit} (ANCOVA)", config.subject)




class DataDescription(AnalysisKind):
    """The records (Table 0), missing data and dropout (Tables 5a-c), and the figures of the
    missing data (5, 6): every endpoint."""

    @functools.cached_property
    def _keys(self) -> tuple[str, str, str, str]:
        c = self.ctx.config
        return c.subject, c.visit, c.response, c.arm

    @functools.cached_property
    def survival(self):
        """Time to dropout (table 5c and figure 6), by ``dropout_time`` (default AVISITN)."""
        c, observed = self.ctx.config, self.ctx.observed
        time = c.dropout_time or ("AVISITN" if "AVISITN" in observed.columns else None)
        return time_to_dropout(observed, *self._keys, time=time)

    def tables(self) -> dict:
        from .. import tables

        ctx, c = self.ctx, self.ctx.config
        reason = c.reason or ("DCSREAS" if "DCSREAS" in ctx.data.columns else None)
        notes = dict(labels=ctx.labels, footnotes=ctx.note("table"))
        made = {"t0_records": tables.records_table(ctx.counts, ctx.by_arm, title="Table 0. Records used: "
                                                   "read, excluded by reason, analysed")}
        missing = (tables.pattern_table(patterns(ctx.observed, *self._keys), **notes),
                   tables.dropout_by_visit_table(dropout_table(ctx.observed, *self._keys, reason), **notes),
                   tables.km_dropout_table(self.survival, **notes))
        for letter, name, table in zip("abc", ("t5_patterns", "t5_dropout", "t5_km"), missing):
            made[name] = dataclasses.replace(table, title=f"Table 5{letter}. {table.title}")
        return made

    def figures(self) -> dict:
        from .. import plots

        c, observed = self.ctx.config, self.ctx.observed
        return {
            "f5_missing_patterns": lambda: plots.missing_pattern_heatmap(observed, c.subject, c.visit,
                                                                         c.response, c.arm),
            "f6_km_dropout": lambda: plots.km_dropout(self.survival),
        }


class ObservedValues(AnalysisKind):
    """Summary statistics of the observed values (Table 1), individual profiles and observed
    means (figures 1, 2): a continuous endpoint."""

    endpoints = ("continuous",)

    def tables(self) -> dict:
        from .. import tables

        ctx, c = self.ctx, self.ctx.config
        return {"t1_summary": tables.summary_table(
            ctx.observed, c.arm, c.visit, c.response, unit=ctx.unit, decimals=ctx.decimals, labels=ctx.labels,
            footnotes=ctx.note("table"),
            title=f"Table 1. {ctx.label}: observed values by treatment and visit")}

    def figures(self) -> dict:
        from .. import plots

        c, observed = self.ctx.config, self.ctx.observed
        return {
            "f1_spaghetti": lambda: plots.spaghetti(observed, c.subject, self.ctx.axis, c.response, c.arm,
                                                    n_subjects=40, visit=c.visit),
            "f2_observed_means": lambda: plots.observed_means(observed, c.visit, c.response, c.arm),
        }


#: The figures of the data (observed-case records), not of the model.
DATA_FIGURES = ("f1_spaghetti", "f2_observed_means", "f5_missing_patterns", "f6_km_dropout")

#: Every figure's title in index.html; its number is that of its file name (``f3_...``: Figure 3).
FIGURE_TITLES = {
    "f1_spaghetti": "Individual profiles of the response by arm",
    "f2_observed_means": "Observed means by visit and arm, with 95% confidence intervals",
    "f2_proportions": "Percent responders by visit and arm, with Wilson 95% confidence intervals",
    "f3_lsmeans": "LS means by visit and arm, with 95% confidence intervals",
    "f3_subject_curves": "Response probability by visit: a sample of subjects, the typical patient and the "
                         "population average (GLMM)",
    "f3_trajectories": "Individual fitted trajectories (random intercept and slope)",
    "f4_differences": "Differences in LS means from the reference arm by visit, with confidence intervals",
    "f4_margins": "Risk differences from the reference arm by visit, with confidence intervals",
    "f4_shrinkage": "Subject-specific slopes: own least-squares fit against the model's prediction",
    "f5_missing_patterns": "Missing-data patterns by arm",
    "f6_km_dropout": "Time to dropout (Kaplan-Meier) by arm",
    "f7_residuals": "Residual diagnostics of the model",
    "f8_tipping_point": "Tipping point: the difference and its p-value by the shift applied after dropout",
    SUBGROUP_FIGURE: SUBGROUP_FIGURE_TITLE,
}


def figure_caption(name: str, ctx: Context) -> tuple[str, str]:
    """``("Figure N. Title", "population, subjects and records shown")`` of figure ``name``."""
    number = int(name[1:name.index("_")])
    data = ctx.observed if name in DATA_FIGURES else ctx.analysed
    who = f"{data[ctx.config.subject].nunique()} subjects, {len(data)} records"
    population = ctx.titles.population
    notes = " ".join(ctx.note("figure")) if name in DATA_FIGURES else ""
    shown = f"{population}: {who}." if population else f"{who.capitalize()}."
    return f"Figure {number}. {FIGURE_TITLES[name]}", " ".join(filter(None, (shown, notes)))


#: The model figures a model kind may list (``ModelKind.figures``): name -> (file name, draw(ctx)).
MODEL_FIGURES = {
    "lsmeans": ("f3_lsmeans", lambda ctx, plots: plots.lsmeans_plot(ctx.fit, ctx.config.arm, ctx.config.visit,
                                                                     weights=ctx.config.lsmeans_weights)),
    "differences": ("f4_differences", lambda ctx, plots: plots.difference_forest(
        ctx.fit, ctx.config.arm, ctx.config.visit, reference=ctx.reference, decimals=ctx.decimals,
        weights=ctx.config.lsmeans_weights)),
    "trajectories": ("f3_trajectories", lambda ctx, plots: plots.individual_trajectories(
        ctx.fit, x=ctx.config.time)),
    "shrinkage": ("f4_shrinkage", lambda ctx, plots: plots.shrinkage_plot(ctx.fit)),
}


class ModelAnalysis(AnalysisKind):
    """The fitted model(s) of the model kind: Table 2 (LS means by visit, or slopes in time, and
    differences from the reference), Table 3 (type III tests), Table 4 (covariance parameters
    and fit statistics), the kind's figures and the residuals; ANCOVA at every visit: one table
    of each kind, by visit.  A continuous endpoint."""

    endpoints = ("continuous",)

    def tables(self) -> dict:
        from .. import tables

        ctx, c = self.ctx, self.ctx.config
        t2 = f"t2_{ctx.kind.name}"
        at = f" at {c.visit} = {c.at_visit}" if c.at_visit is not None else ""
        what = ctx.kind.estimates.format(time=c.time)
        selected = "a" if c.covariance_select else ""
        titles = {t2: f"Table 2. {ctx.label}: {what} and differences from {ctx.reference}{at}",
                  "t3_type3": f"Table 3. Type III tests of fixed effects{at}",
                  "t4_covariance": f"Table 4{selected}. Covariance parameter estimates and fit statistics"
                                   f"{at}"}
        if c.covariance_select:
            criterion = c.covariance_select[0].upper()
            titles["t4_selection"] = f"Table 4b. Covariance structure selection by {criterion}, pre-specified"
        if ctx.kind.change:
            titles["t2b_change"] = f"Table 2b. {ctx.label}: LS means of the change from baseline"
        if len(ctx.fits) == 1:
            return {k: dataclasses.replace(t, title=titles[k]) for k, t in self._tables(ctx.fit, t2).items()}
        built = [(visit, self._tables(fit, t2)) for visit, fit in ctx.fits]
        header = ctx.labels.get(c.visit, c.visit)
        return {k: tables.stack_tables([(v, b[k]) for v, b in built], header,
                                       title=titles[k] + f" by {header}") for k in titles}

    def _tables(self, fit, t2: str) -> dict:
        from .. import tables

        ctx, c = self.ctx, self.ctx.config
        common = dict(reference=ctx.reference, alpha=c.alpha, decimals=ctx.decimals, labels=ctx.labels,
                      footnotes=self._weights_note(), weights=c.lsmeans_weights)
        if ctx.kind.trend:
            unit = None if ctx.unit is None else f"{ctx.unit} per unit {c.time}"
            main = tables.mmrm_table(fit, c.arm, None, slope=c.time, unit=unit, **common)
        else:
            by = c.visit if ctx.kind.by_visit else None
            main = tables.mmrm_table(fit, c.arm, by, unit=ctx.unit, **common)
        made = {t2: main, "t3_type3": tables.type3_table(fit), "t4_covariance": tables.covariance_table(fit)}
        if ctx.kind.change:
            made["t2b_change"] = tables.change_table(fit, alpha=c.alpha, decimals=ctx.decimals, unit=ctx.unit,
                                                     labels=ctx.labels, footnotes=self._weights_note(),
                                                     weights=c.lsmeans_weights)
        if c.covariance_select:
            made["t4_selection"] = tables.covariance_selection_table(fit)
        return made

    def _weights_note(self) -> tuple[str, ...]:
        """The footnote of LS means not weighted equally (``lsmeans_weights``)."""
        from ..inference.grid import WEIGHTS

        weights = self.ctx.config.lsmeans_weights
        if weights == "equal":
            return ()
        return (f"LS means weight the levels of the factors they average over {WEIGHTS[weights]} "
                f"(lsmeans_weights = {weights}).",)

    def figures(self) -> dict:
        from .. import plots

        drawings = {}
        for name in self.ctx.kind.figures:
            file, draw = MODEL_FIGURES[name]
            drawings[file] = functools.partial(draw, self.ctx, plots)
        return drawings | {"f7_residuals": lambda: plots.residual_diagnostics(self.ctx.fit)}

    def results(self) -> dict:
        from .analysis_results import estimate_rows, fit_summary, type3_rows

        ctx, c = self.ctx, self.ctx.config
        by = c.visit if ctx.kind.by_visit else None
        slope = {"slope": c.time} if ctx.kind.trend else {}
        lsmeans, differences, type3, summaries = [], [], [], []
        weights = {"weights": c.lsmeans_weights}
        for visit, fit in ctx.fits:
            lsmeans += estimate_rows(fit.lsmeans(c.arm, by=by, alpha=c.alpha, **slope, **weights), c.arm, by,
                                     at=visit)
            differences += estimate_rows(fit.compare(c.arm, by=by, reference=ctx.reference, alpha=c.alpha,
                                                     **slope, **weights), c.arm, by, at=visit,
                                         reference=ctx.reference)
            type3 += type3_rows(fit.anova(), at=visit)
            summaries.append(fit_summary(fit, visit))
        change = {}
        if ctx.kind.change:
            table = change_lsmeans(ctx.fit, alpha=c.alpha, **weights)
            change["change_lsmeans"] = estimate_rows(table, c.arm, by)
        return dict(fit=summaries[0] if len(ctx.fits) == 1 else summaries, lsmeans=lsmeans,
                    differences=differences, type3=type3, **change)

    def rows(self) -> list[tuple[str, str]]:
        ctx, c = self.ctx, self.ctx.config
        s = ctx.fit.settings
        ddf_label, vcov_label = labels(ctx.fit)
        return [
            ("Data", f"{c.data}" + (f" (PARAMCD {c.param})" if c.param else "")
             + (f", merged with ADSL {c.adsl}" if c.adsl else "")),
            ("Model", s.formula + (f", one fit per {c.visit}" if len(ctx.fits) > 1 else "")
             + (f", at {c.visit} = {c.at_visit}" if c.at_visit is not None else "")),
            ("Estimation", self._per_visit(lambda f: describe_estimation(f, optimizer=True))),
            ("Covariance", str(describe_covariance(ctx.fit))),
            ("Degrees of freedom; standard errors",
             f"{ddf_label} (ddf={s.ddf}); {vcov_label} (vcov={s.vcov})"),
            ("Reference arm", str(ctx.reference)),
            ("Subjects / observations used", self._per_visit(lambda f: f"{f.n_subjects} / {f.n_obs}")),
            ("-2 log-likelihood, AIC, BIC",
             self._per_visit(lambda f: f"{-2 * f.loglik:.4f}, {f.aic:.4f}, {f.bic:.4f}")),
            *self._selection_rows(),
        ]

    def _selection_rows(self) -> list[tuple[str, str]]:
        """The covariance selection in one line (with ``covariance_select``); the LS-means weights
        when not equal."""
        c, fit = self.ctx.config, self.ctx.fit
        rows = []
        if c.covariance_select:
            criterion = c.covariance_select[0].upper()
            tried = "; ".join(f"{a.structure} {a.value:.4f}" if a.value is not None else
                              f"{a.structure} not usable ({a.reason})" for a in fit.covariance_attempts)
            rows.append((f"Covariance selection ({criterion}, Table 4b)",
                         f"{fit.settings.structure} chosen, the smallest {criterion} of {tried}"))
        if c.lsmeans_weights != "equal":
            rows.append(("LS-means weights", c.lsmeans_weights))
        return rows

    def _per_visit(self, text) -> str:
        """``text(fit)``, once when every fit says the same, else "visit: text; ..."."""
        said = [text(f) for _, f in self.ctx.fits]
        if len(set(said)) == 1:
            return said[0]
        return "; ".join(f"{v}: {t}" for (v, _), t in zip(self.ctx.fits, said))


class Sensitivity(AnalysisKind):
    """Multiple imputation under MAR and the reference-based methods, and the tipping point
    (default deltas: round steps towards the null, :func:`trialmlm.estimands.delta_steps`):
    Table 6 and figure 8 (with ``sensitivity=True``)."""

    @classmethod
    def applies(cls, config: AnalysisConfig) -> bool:
        return config.sensitivity

    @functools.cached_property
    def analyses(self):
        """``(imputations, tipping point)``."""
        ctx, c = self.ctx, self.ctx.config
        options = dict(n_samples=c.imputations, reference=ctx.reference, arm=c.arm, seed=c.seed,
                       workers=c.workers, progress=ctx.progress)
        imputations = [impute(ctx.fit, method=method, **options) for method in ("mar", *SENSITIVITY_METHODS)]
        return imputations, tipping_point(ctx.fit, c.deltas, alpha=c.alpha, **options)

    def tables(self) -> dict:
        from .. import tables

        ctx, c = self.ctx, self.ctx.config
        imputations, tp = self.analyses
        return {"t6_sensitivity": tables.sensitivity_table(
            ctx.fit, imputations, tp, alpha=c.alpha, decimals=ctx.decimals, unit=ctx.unit,
            title=f"Table 6. Sensitivity analyses: difference from {ctx.reference} at {tp.visit}",
            footnotes=(f"MI: {c.imputations} imputations (bootstrap draws of the MMRM parameters), "
                       f"analysed by the same MMRM, combined by Rubin's rules; seed {c.seed}.",))}

    def figures(self) -> dict:
        from .. import plots

        return {"f8_tipping_point": lambda: plots.tipping_point_plot(self.analyses[1])}


class EstimandAnalysis(AnalysisKind):
    """Each estimand's intercurrent-event handling and differences (Table 7a) and the events by
    estimand and arm (Table 7b): with ``estimands`` or an ICE source (:mod:`trialmlm.app.estimand_report`)."""

    @classmethod
    def applies(cls, config: AnalysisConfig) -> bool:
        return config.has_estimands

    @functools.cached_property
    def estimands(self):
        ctx = self.ctx
        return run_estimands(ctx.fit, ctx.config, ctx.analysed, ctx.reference, ctx.progress)

    def tables(self) -> dict:
        from .. import tables
        from .estimand_report import METHODS

        ctx, c, estimands = self.ctx, self.ctx.config, self.estimands
        on = " and ".join([c.arm, ", ".join(c.covariates)] if c.covariates else [c.arm])
        method = METHODS[estimands.method].format(n=c.imputations)
        if estimands.method != "condmean":  # the jackknife is deterministic
            method += f", seed {c.seed}"
        notes = (f"Each estimand: {method}; imputation model: the MMRM of Table 2, refitted "
                 "without the observed values after non-MAR intercurrent events; analysis: ANCOVA at each "
                 f"visit on {on}.",
                 f"Intercurrent events (ICE): {estimands.source}; subjects without an ICE are MAR "
                 "throughout.")
        main = tables.estimand_table(estimands, ctx.reference, alpha=c.alpha, decimals=ctx.decimals,
                                     unit=ctx.unit, footnotes=notes)
        visit = main.data["visit"].iloc[0]
        title = f"Table 7a. {ctx.label}: estimands, differences from {ctx.reference} at {visit}"
        return {"t7_estimands": dataclasses.replace(main, title=title),
                "t7_ice": tables.ice_table_counts(estimands, ctx.labels.get(c.arm, c.arm),
                                                  title="Table 7b. Intercurrent events by estimand and arm")}

    def results(self) -> dict:
        from .analysis_results import estimand_entries

        return {"estimands": estimand_entries(self.estimands, self.ctx.reference, self.ctx.config.alpha)}

    def rows(self) -> list[tuple[str, str]]:
        e = self.estimands
        return [("Estimands (Tables 7a, 7b)", f"{', '.join(x.name for x in e.estimands)} by {e.method}; "
                                              f"intercurrent events: {e.source}")]


#: The analysis kinds of a report, in order; a new kind is a subclass of AnalysisKind listed here.
ANALYSES = (DataDescription, ObservedValues, ModelAnalysis, Sensitivity, EstimandAnalysis, SubgroupAnalysis,
            *RESPONDER_ANALYSES, *GLMM_ANALYSES)


@dataclass(frozen=True)
class Analysis:
    """One analysis made, before anything is written: the :class:`Context`, its analysis kinds
    (:data:`ANALYSES` that apply), their tables (with the warning footnotes) and figure drawings."""

    ctx: Context
    kinds: list = field(repr=False)
    tables: dict = field(repr=False)
    drawings: dict = field(repr=False)


def analyse(config: AnalysisConfig, progress: bool | None = None) -> Analysis:
    """Read, count and fit, then build every table and figure drawing (nothing written)."""
    ctx = _context(config, progress)
    kinds = [kind(ctx) for kind in ANALYSES if kind.applies(config)]
    return Analysis(ctx, kinds, _with_warnings(_in_order(k.tables() for k in kinds), ctx),
                    _in_order(k.figures() for k in kinds))


def run_analysis(config: AnalysisConfig, progress: bool | None = None, links: tuple = (),
                 inputs: dict | None = None) -> Report:
    """Read, fit, tabulate, plot and write the report folder; returns the :class:`Report`.

    ``links``: (text, relative URL) pairs listed under "See also" in ``index.html``.
    ``inputs``: other files the report folder must not replace, role -> path (the TOML
    file); the data, ADSL and ICE files are always protected
    (:func:`trialmlm.app.report_folder.check_folder`).
    """
    final = Path(config.out)
    inputs = {**input_files(config), **(inputs or {})}
    check_folder(final, config.overwrite, inputs)  # before any work
    a = analyse(config, progress)
    ctx, made = a.ctx, a.tables
    with report_folder(final, config.overwrite, inputs) as out:
        files = write_tables(out, made, ctx.titles) + [write_combined(out, list(made.values()), ctx.titles)]
        files += write_figures(out, figure_files(a.drawings, config.figures))
        files += write_results(out, [results_of(a)])
        figures = [(name, *figure_caption(name, ctx)) for name in a.drawings]
        title = c.title if (c := ctx.config).title else f"{ctx.label}: {c.arm} by {ctx.axis}"
        files.append(render_index(out / "index.html", title, [section_view(a, made, figures)], links,
                                  config.figures))
        names = [p.relative_to(out) for p in files]
    return Report(final, ctx.fit, made, tuple(a.drawings), tuple(final / n for n in names), ctx.counts)


def input_files(config: AnalysisConfig) -> dict:
    """The input files a report folder must not replace: role -> path."""
    return {"data file": config.data, "ADSL file (adsl)": config.adsl, "ICE file (ice)": config.ice}


def _in_order(parts) -> dict:
    """The kinds' tables (or figures) in one dict, by their number (``t5`` of ``t5_km``); the
    order a kind gives its own is kept."""
    merged = {k: v for part in parts for k, v in part.items()}
    return dict(sorted(merged.items(), key=lambda item: item[0].split("_")[0]))


def _with_warnings(made: dict, ctx: Context) -> dict:
    """Every table with a first footnote when the fit is not usable (allowed by
    allow_nonconvergence, else _fit_models raised) or a MAR-based model used derived records."""
    warnings_ = []
    if ctx.derived and ctx.kind.mar_based:
        warnings_.append(f"WARNING: the model used {derived_text(ctx.derived)}, which an MMRM normally must "
                         "not see (MAR-based models handle the missing values themselves).")
    why = "; ".join(f"{v + ': ' if v else ''}{ctx.engine.failure(f)}" for v, f in ctx.fits
                    if ctx.engine.failure(f))
    if why:
        warnings_.append(f"WARNING: the model fit is not usable ({why}); its estimates, standard errors and "
                         "tests are not reliable.")
    return {k: dataclasses.replace(t, footnotes=(*warnings_, *t.footnotes)) for k, t in made.items()}


def write_tables(out: Path, made: dict, titles) -> list[Path]:
    """Each table as RTF, HTML and CSV named by its key (``t2_mmrm.rtf``)."""
    from .. import tables

    files = []
    for name, table in made.items():
        files += [tables.to_rtf(table, out / f"{name}.rtf", titles=titles),
                  tables.write_html(table, out / f"{name}.html", titles=titles),
                  tables.to_csv(table, out / f"{name}.csv")]
    return files


def write_combined(out: Path, made: list, titles) -> Path:
    """Every table of ``made`` in one RTF file, ``tables.rtf``."""
    from .. import tables

    return tables.to_rtf(made, out / "tables.rtf", titles=titles)


def figure_files(drawings: dict, formats: tuple[str, ...]) -> dict:
    """Each figure drawn and saved in each of the file ``formats`` (png, svg, 150 dpi):
    name -> {format: file contents}; the caller's matplotlib backend is left alone."""
    import io

    from ..plots.style import detached_figures

    files = {}
    for name, draw in drawings.items():
        with detached_figures():
            figure = _figure(draw)
        files[name] = {}
        for ext in formats:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=ext, dpi=150, bbox_inches="tight")
            files[name][ext] = buffer.getvalue()
    return files


def write_figures(out: Path, files: dict) -> list[Path]:
    """The figure files of :func:`figure_files` into ``out`` (``name.ext``)."""
    written = []
    for name, contents in files.items():
        for ext, data in contents.items():
            path = out / f"{name}.{ext}"
            path.write_bytes(data)
            written.append(path)
    return written


def results_of(a: Analysis) -> dict:
    """The ``analysis_results.json`` document of the analysis
    (:func:`trialmlm.app.analysis_results.results_document`): the records, the arms and every
    analysis kind's entries."""
    from .analysis_results import results_document

    ctx = a.ctx
    entries = {k: v for kind in a.kinds for k, v in kind.results().items()}
    return results_document(settings=ctx.config.flat(), counts=ctx.counts, by_arm=ctx.by_arm, arms=ctx.levels,
                            software=software(), **entries)


def write_results(out: Path, documents: list[dict]) -> list[Path]:
    """``analysis_results.json`` of one document (:func:`results_of`), or of several parameters'
    (:func:`trialmlm.app.analysis_results.write_parameter_results`, keyed by PARAMCD), and every
    statistic of them one row each, ``ard.csv`` and ``ard.json`` (:mod:`trialmlm.app.ard`)."""
    from .analysis_results import write_analysis_results, write_parameter_results
    from .ard import write_ard

    path = out / "analysis_results.json"
    ard = write_ard(out, [d for d in documents if "error" not in d])  # a parameter without a usable fit
    if len(documents) == 1:
        return [write_analysis_results(path, documents[0]), *ard]
    return [write_parameter_results(path, documents, software()), *ard]


def software() -> dict:
    """Python and the versions of :data:`PACKAGES` (``"not installed"`` when missing)."""
    out = {"Python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def section_view(a: Analysis, tables: dict, figures: list) -> dict:
    """What ``index.html`` shows of one analysis (plain texts, picklable): the header line, the
    model rows of its kinds, ``tables`` (file name -> Table) as HTML, ``figures`` as (file
    name, title, caption); a section of several parameters adds ``heading``, ``anchor`` and
    ``error`` (:mod:`trialmlm.app.parameter_report`)."""
    from ..tables import to_html

    ctx, c, t = a.ctx, a.ctx.config, a.ctx.titles
    header = [f"Study {t.study}" if t.study else None, t.population,
              f"data {Path(c.data).name}: {ctx.analysed[c.subject].nunique()} subjects, "
              f"{len(ctx.analysed)} records analysed", _adsl_header(ctx.counts.adsl)]
    return dict(header="; ".join(filter(None, header)) + ".",
                model=[row for kind in a.kinds for row in kind.rows()],
                tables=[(name, to_html(table)) for name, table in tables.items()], figures=figures,
                heading=None, anchor=None, error=None)


def render_index(path: Path, title: str, sections: list[dict], links: tuple,
                 formats: tuple[str, ...]) -> Path:
    """``index.html`` from the Jinja2 template ``templates/index.html.j2`` (the engine escapes
    every text but the tables' HTML): the title, the software, links and each section of
    :func:`section_view` (one, without a heading, for one analysis; with several, a table of
    contents first)."""
    from markupsafe import Markup

    from ..tables.render import CSS

    shown = [{**s, "tables": [(name, Markup(html)) for name, html in s["tables"]]} for s in sections]
    page = _template("index.html.j2").render(
        title=title, css=Markup(CSS), sections=shown, results="analysis_results.json",
        versions=list(software().items()), links=links, formats=formats)
    path.write_text(page, encoding="utf-8")
    return path


def _adsl_header(merge) -> str | None:
    """The ADSL part of the header of ``index.html`` (None without ADSL)."""
    if merge is None:
        return None
    found = merge.merged_subjects + merge.missing_subjects
    text = f"ADSL {merge.source}: {merge.merged_subjects} of {found} subjects merged"
    if merge.missing_subjects:
        text += f", {merge.missing_subjects} not in ADSL (excluded)"
    if merge.conflicts:
        text += f", BDS values kept where {', '.join(c.variable for c in merge.conflicts)} differ"
    return text


@functools.cache
def _template(name: str):
    """A template of ``trialmlm/app/templates`` (HTML autoescaped; blocks take no blank lines)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("trialmlm.app", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.get_template(name)
