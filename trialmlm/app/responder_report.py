r"""The responder (binary) analysis of a report (``endpoint="binary"``, model ``gee``).

:data:`RESPONDER_ENGINE` reads the records as every report does (population, ANL01FL,
DTYPE, ABLFL; :func:`trialmlm.app.context.read_records`), derives the responder status
(:func:`trialmlm.data.responders.responder_status`), handles intercurrent events by
``binary_strategy`` (:mod:`trialmlm.app.binary_strategies`) and fits the marginal logistic
model by GEE (SAS PROC GENMOD ``DIST=BIN LINK=LOGIT`` with ``REPEATED SUBJECT= / TYPE=
WITHINSUBJECT=``):

    logit P(RESPONSE = 1) = COVARIATES + ARM * VISIT,  working correlation ``covariance``

The structures of ``covariance`` are tried in order; a fit that did not converge or whose
fitted probabilities reach 0 or 1 (separation) is not usable: the next is tried, and when
none is usable ``analyze`` stops with exit status 3 (unless ``allow_nonconvergence``).

:data:`RESPONDER_ANALYSES` are its parts of the report: responders n/N (%) by arm and visit
(Table 1), response probabilities and odds ratios (Table 2), covariate-adjusted marginal
effects (Table 3: risk difference, risk ratio, odds ratio by g-computation, with the Ye
variance under the independence working correlation and the influence-function variance
under any other, :func:`trialmlm.marginal_effects`), the GEE's parameters (Table 4),
the records affected by intercurrent events (Table 6), and figures of the response rates
(figure 2) and of the risk differences (figure 4).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..data.responders import responder_status
from ..engine.design import factor_levels
from ..errors import ConvergenceError
from ..genmod import gee as fit_gee
from ..genmod.fitting import SATURATED
from ..inference.proportions import responder_rates
from .binary_strategies import BINARY_STRATEGIES, Intercurrent
from .config import AnalysisConfig
from .context import AnalysisKind, Engine, read_records
from .estimand_report import ice_rows

#: The contrasts of the marginal-effects table and figure.
MARGINAL_CONTRASTS = ("diff", "logrr", "logor")


def responder_definition(config: AnalysisConfig, data: pd.DataFrame) -> str:
    """What a response is, in words: the expression, the values, or the flag (with its
    criterion text, e.g. CRIT1 for CRIT1FL, when the data hold one)."""
    if config.responder is not None:
        return config.responder
    if config.responder_values is not None:
        return f"{config.response} in ({', '.join(config.responder_values)})"
    criterion = config.response[:-2] if config.response.upper().endswith("FL") else None
    if criterion in data.columns and data[criterion].nunique() == 1:
        return f"{data[criterion].dropna().iloc[0]} ({config.response} = 'Y')"
    return f"{config.response} = 'Y'"


def read_responders(config: AnalysisConfig) -> pd.DataFrame:
    """The selected records with the responder status (1, 0, NaN) in ``config.response``."""
    records = read_records(config, None)
    column = None if config.responder is not None else config.response
    status = responder_status(records, column, config.responder_values, config.responder)
    records[config.response] = status.to_numpy()
    records.attrs["labels"] = {**records.attrs.get("labels", {}),
                               config.response: f"Responder: {responder_definition(config, records)}"}
    return records


def handle_intercurrent(config: AnalysisConfig, records: pd.DataFrame, counts):
    """``(records, counts, Intercurrent | None)`` after ``binary_strategy``; nothing to do for
    the observed-case strategy without an ICE source (missing values are left out anyway)."""
    strategy = BINARY_STRATEGIES[config.binary_strategy]
    if strategy.name == "observed" and not config.ice_sources and config.ice_where is None:
        return records, counts, None
    ice, source = ice_rows(config, records)
    keys = dict(subject=config.subject, visit=config.visit, response=config.response, arm=config.arm)
    records, counts, affected = strategy.apply(records, counts, ice, keys)
    return records, counts, Intercurrent(strategy.name, source, ice, affected)


def gee_failure(fit) -> str:
    """Why a GEE fit is not usable ("" when it is): no convergence, or fitted probabilities of
    0 or 1 (complete or quasi-complete separation: the estimates diverge)."""
    if not fit.converged:
        return "the GEE scoring did not converge"
    mu = fit.fitted.to_numpy()
    saturated = int(np.sum((mu < SATURATED) | (mu > 1 - SATURATED)))
    return f"separation: {saturated} fitted probabilities are 0 or 1" if saturated else ""


def separated_cells(config: AnalysisConfig, records: pd.DataFrame) -> list[str]:
    """The arm-by-visit cells where every record with a known status is a responder, or none
    is: their terms of ``ARM * VISIT`` diverge (quasi-complete separation), e.g.
    ``["Week 1, Placebo: 0 of 99 responders"]``."""
    rates = responder_rates(records, config.arm, config.visit, config.response, config.alpha)
    cells = rates.loc[(rates["n"] > 0) & ((rates["responders"] == 0) | (rates["responders"] == rates["n"]))]
    return [f"{r.visit}, {r.arm}: {r.responders} of {r.n} responders" for r in cells.itertuples()]


def fit_responders(config: AnalysisConfig, records: pd.DataFrame) -> list[tuple[object, object]]:
    """``[(None, fit)]``: the first working correlation of ``config.structures`` with a usable
    fit.  ConvergenceError (exit status 3) naming the arm-by-visit cells without responders
    or without non-responders, or each structure's failure, when there is none; with
    ``allow_nonconvergence`` the first fit that could be computed is reported instead."""
    cells = separated_cells(config, records)
    if cells and not config.allow_nonconvergence:
        raise ConvergenceError(f"no usable GEE fit of {config.formula}: separation in {'; '.join(cells)}; "
                               f"the {config.arm} * {config.visit} terms of these cells diverge. Leave the "
                               "visits out (--where), or write the report anyway with --allow-nonconvergence")
    fits, tried = [], []
    for structure in config.structures:
        try:
            fit = fit_gee(config.formula_with(structure), records, family="binomial", link="logit",
                          working=structure, subject=config.subject, visit=config.visit)
        except np.linalg.LinAlgError:
            tried.append(f"{structure}: singular information matrix (separation)")
            continue
        why = gee_failure(fit)
        if not why:
            return [(None, fit)]
        fits.append(fit)
        tried.append(f"{structure}: {why}")
    if config.allow_nonconvergence and fits:
        return [(None, fits[0])]
    raise ConvergenceError(f"no usable GEE fit of {config.formula} ({'; '.join(tried)}); try another working "
                           "correlation (--covariance independence), fewer covariates, or write the report "
                           "anyway with --allow-nonconvergence")


def risk_differences(effects, visit: str) -> pd.DataFrame:
    """The risk differences of ``effects`` (:class:`trialmlm.genmod.margins.MarginalEffects`
    by ``visit``) in percentage points, as a ``compare()``-shaped table for the forest plot."""
    t = effects.table
    t = t.loc[t["contrast"] == "diff"]
    scaled = {k: 100 * t[k] for k in ("estimate", "se", "lower", "upper")}
    return pd.DataFrame({visit: t[visit], "arm": t["arm"],
                         "contrast": [f"{a} - {r}" for a, r in zip(t["arm"], t["reference"])],
                         **scaled, "p": t["p"]}).reset_index(drop=True)


RESPONDER_ENGINE = Engine(read=read_responders, prepare=handle_intercurrent, fit=fit_responders,
                          failure=gee_failure, n_obs=lambda fit: len(fit.design.y))


def methods_text(ctx) -> str:
    """How missing values and intercurrent events were handled, for the footnotes."""
    if ctx.intercurrent is None:
        events = "no intercurrent-event handling"
    else:
        strategy = BINARY_STRATEGIES[ctx.intercurrent.strategy]
        events = f"intercurrent events ({ctx.intercurrent.source}): {strategy.description}"
    if ctx.config.kind.mar_based:
        missing = ("left out: the GLMM's likelihood is valid when they are missing at random given the "
                   "observed responses and covariates (MAR)")
    else:
        missing = ("left out (observed case): the GEE is valid when they are missing completely at random "
                   "given the covariates")
    definition = responder_definition(ctx.config, ctx.data)
    return f"Responder: {definition}; {events}. Other missing responses are {missing}."


class ResponderRates(AnalysisKind):
    """Responders n/N (%) by arm and visit (Table 1, figure 2) and the records affected by
    intercurrent events (Table 6): the analysed records, as the GEE sees them."""

    endpoints = ("binary",)

    @functools.cached_property
    def rates(self) -> pd.DataFrame:
        c = self.ctx.config
        return responder_rates(self.ctx.analysed, c.arm, c.visit, c.response, c.alpha)

    def tables(self) -> dict:
        from ..tables.responder_tables import intercurrent_counts, intercurrent_table, responder_table
        from ..tables.table import display_label

        ctx, c = self.ctx, self.ctx.config
        notes = (methods_text(ctx), *ctx.note("table"))
        made = {"t1_responders": responder_table(
            self.rates, c.visit, c.arm, c.alpha, ctx.labels, footnotes=notes,
            title=f"Table 1. {ctx.label}: responders by treatment and visit")}
        if ctx.intercurrent is not None:
            counts = intercurrent_counts(ctx.intercurrent.affected, c.subject, c.visit,
                                         factor_levels(ctx.analysed[c.visit]), ctx.levels)
            action = BINARY_STRATEGIES[ctx.intercurrent.strategy].action
            made["t6_ice"] = intercurrent_table(
                counts, action, display_label(ctx.labels, c.visit), display_label(ctx.labels, c.arm),
                footnotes=(methods_text(ctx),),
                title=f"Table 6. Intercurrent events ({ctx.intercurrent.source}): records {action}")
        return made

    def figures(self) -> dict:
        from ..plots.responders import responder_proportions

        c = self.ctx.config
        return {"f2_proportions": lambda: responder_proportions(self.ctx.analysed, c.visit, c.response, c.arm,
                                                                ci=1 - c.alpha)}

    def results(self) -> dict:
        from .analysis_results import frame_rows

        out = {"responders": frame_rows(self.rates)}
        if self.ctx.intercurrent is not None:
            affected = self.ctx.intercurrent.affected.rename(columns={self.ctx.config.subject: "subject",
                                                                      self.ctx.config.visit: "visit"})
            out["intercurrent"] = {"strategy": self.ctx.intercurrent.strategy,
                                   "source": self.ctx.intercurrent.source, "records": frame_rows(affected)}
        return out


class ResponderModel(AnalysisKind):
    """The GEE: response probabilities and odds ratios (Table 2), marginal effects (Table 3,
    figure 4) and the parameter estimates (Table 4)."""

    endpoints = ("binary",)
    engines = ("gee",)

    @functools.cached_property
    def effects(self):
        from ..genmod.margins import marginal_effects

        c, fit = self.ctx.config, self.ctx.fit
        # the Ye variance needs unbiased predictions in every arm: the independence working correlation
        method = "Ye" if fit.settings.working == "independence" else "influence"
        return marginal_effects(fit, c.arm, contrast=MARGINAL_CONTRASTS, method=method,
                                reference=self.ctx.reference, by=c.visit, alpha=c.alpha)

    def tables(self) -> dict:
        from ..tables.responder_tables import gee_parameter_table, marginal_effects_table, probability_table
        from ..tables.table import display_label

        ctx, c = self.ctx, self.ctx.config
        notes = (methods_text(ctx),)
        return {
            "t2_gee": probability_table(
                ctx.fit, c.arm, c.visit, ctx.reference, c.alpha, ctx.labels, footnotes=notes,
                title=f"Table 2. {ctx.label}: response probabilities and odds ratios vs {ctx.reference} "
                      "(GEE)"),
            "t3_margins": marginal_effects_table(
                self.effects, display_label(ctx.labels, c.visit), footnotes=notes,
                title=f"Table 3. {ctx.label}: covariate-adjusted marginal treatment effects vs "
                      f"{ctx.reference}"),
            "t4_gee_parameters": gee_parameter_table(
                ctx.fit, c.alpha, footnotes=notes,
                title="Table 4. Analysis Of GEE Parameter Estimates, "
                      f"{'Empirical' if ctx.fit.settings.vcov == 'robust' else 'Model-Based'} Standard "
                      "Error Estimates"),
        }

    def figures(self) -> dict:
        from .. import plots

        c = self.ctx.config
        return {"f4_margins": lambda: plots.difference_forest(
            risk_differences(self.effects, c.visit), ci=1 - c.alpha, decimals=0,
            title=f"Covariate-adjusted risk difference vs {self.ctx.reference} by {c.visit}",
            xlabel="Risk difference, percentage points")}

    def results(self) -> dict:
        from ..tables.responder_tables import probability_results
        from .analysis_results import frame_rows, gee_summary

        ctx, c = self.ctx, self.ctx.config
        margins = self.effects.table.rename(columns={c.visit: "visit"})
        return {"fit": gee_summary(ctx.fit),
                "gee_parameters": frame_rows(ctx.fit.coef_table(alpha=c.alpha).rename(columns={"t": "z"})),
                "probabilities": frame_rows(probability_results(ctx.fit, c.arm, c.visit, ctx.reference,
                                                                c.alpha)),
                "marginal_effects": frame_rows(margins.drop(columns=["label"]))}

    def rows(self) -> list[tuple[str, str]]:
        ctx, c = self.ctx, self.ctx.config
        fit = ctx.fit
        alpha = ", ".join(f"{k} = {v:.4f}" for k, v in fit.alpha.items())
        return [
            ("Data", f"{c.data}" + (f" (PARAMCD {c.param})" if c.param else "")),
            ("Responder", responder_definition(c, ctx.data)),
            ("Model", f"GEE, logit link: {fit.formula.response} ~ {fit.design.encoding.formula}"),
            ("Working correlation", f"{fit.problem.working.sas}" + (f" ({alpha})" if alpha else "")
             + f" over {c.visit} within {c.subject}"),
            ("Standard errors", "empirical (robust sandwich); Wald tests, normal reference"),
            ("Intercurrent events and missing values", methods_text(ctx)),
            ("Reference arm", str(ctx.reference)),
            ("Subjects / records used", f"{fit.design.n_subjects} / {len(fit.design.y)}"),
            ("Converged", "yes" if fit.converged else "NO"),
        ]


#: The parts of a report of a binary endpoint.
RESPONDER_ANALYSES = (ResponderRates, ResponderModel)
