r"""The responder (binary) analysis by a logistic GLMM (``endpoint="binary"``, ``model="glmm"``).

:data:`GLMM_ENGINE` reads the records and handles intercurrent events as the GEE report does
(:mod:`trialmlm.app.responder_report`), then fits the subject-specific model by maximum
likelihood (:func:`trialmlm.glmm`; SAS PROC GLIMMIX ``METHOD=QUAD | LAPLACE``):

    logit P(RESPONSE = 1 | b_i) = COVARIATES + ARM * VISIT + b_i,  b_i ~ N(0, sigma_b^2)

A fit that did not converge is not usable: ``analyze`` stops with exit status 3 (unless
``allow_nonconvergence``).  Arm-by-visit cells without responders (or without
non-responders) stop the analysis before any fit, as for the GEE: their terms diverge.
"""

from __future__ import annotations

import functools

import pandas as pd

from ..errors import ConvergenceError
from ..genmod import gee as fit_gee
from ..glimmix.fitting import glmm as fit_glmm
from ..glimmix.margins import conditional_vs_marginal, marginal_effects
from .config import MODEL_KINDS, AnalysisConfig
from .context import AnalysisKind, Engine
from .responder_report import (
    MARGINAL_CONTRASTS,
    handle_intercurrent,
    methods_text,
    read_responders,
    responder_definition,
    risk_differences,
    separated_cells,
)

#: The GEE of the same records (Table 7's third odds ratio).
GEE_FORMULA = MODEL_KINDS["gee"]


def glmm_failure(fit) -> str:
    """Why a GLMM fit is not usable ("" when it is)."""
    return "" if fit.converged else f"the likelihood maximisation did not converge ({fit.message})"


def fit_glmm_responders(config: AnalysisConfig, records) -> list[tuple[object, object]]:
    """``[(None, fit)]``; ConvergenceError (exit status 3) naming the separated cells, or the
    failure of the fit, when it is not usable (with ``allow_nonconvergence``: the fit anyway)."""
    cells = separated_cells(config, records)
    if cells and not config.allow_nonconvergence:
        raise ConvergenceError(f"no usable GLMM fit of {config.formula}: separation in {'; '.join(cells)}; "
                               f"the {config.arm} * {config.visit} terms of these cells diverge. Leave the "
                               "visits out (--where), or write the report anyway with --allow-nonconvergence")
    fit = fit_glmm(config.formula, records, family="binomial", method=config.method.lower(),
                   n_points=config.quadrature_points)
    why = glmm_failure(fit)
    if why and not config.allow_nonconvergence:
        raise ConvergenceError(f"no usable GLMM fit of {config.formula} ({why}); try --method LAPLACE, fewer "
                               "covariates, or write the report anyway with --allow-nonconvergence")
    return [(None, fit)]


GLMM_ENGINE = Engine(read=read_responders, prepare=handle_intercurrent, fit=fit_glmm_responders,
                     failure=glmm_failure, n_obs=lambda fit: fit.n_obs)


class GLMMModel(AnalysisKind):
    """The GLMM: response probabilities of a typical patient and conditional odds ratios
    (Table 2), population-averaged probabilities and effects (Table 3, figure 4), the fixed
    effects (Table 4a), the variance of the random intercept (Table 4b), the three odds ratios
    side by side (Table 7) and the subject-specific against the population-averaged
    probabilities (figure 3)."""

    endpoints = ("binary",)
    engines = ("glmm",)

    @functools.cached_property
    def effects(self):
        """Population-averaged means and effects by visit
        (:func:`trialmlm.glimmix.margins.marginal_effects`)."""
        c = self.ctx.config
        return marginal_effects(self.ctx.fit, c.arm, by=c.visit, reference=self.ctx.reference,
                                contrast=MARGINAL_CONTRASTS, alpha=c.alpha)

    @functools.cached_property
    def odds_ratios(self) -> pd.DataFrame:
        """:func:`trialmlm.glimmix.margins.conditional_vs_marginal` with a GEE (exchangeable) of the
        same records."""
        c, ctx = self.ctx.config, self.ctx
        gee = fit_gee(GEE_FORMULA.formula(c, "exchangeable"), ctx.analysed, family="binomial", link="logit",
                      working="exchangeable", subject=c.subject, visit=c.visit)
        return conditional_vs_marginal(ctx.fit, gee, c.arm, by=c.visit, reference=ctx.reference,
                                       alpha=c.alpha, df=c.ddf)

    def tables(self) -> dict:
        from ..tables.glmm_tables import (
            conditional_marginal_table,
            covariance_parameter_table,
            glmm_footnotes,
            glmm_parameter_table,
        )
        from ..tables.responder_tables import marginal_effects_table, probability_table
        from ..tables.table import display_label

        ctx, c = self.ctx, self.ctx.config
        notes = (methods_text(ctx),)
        visit_label = display_label(ctx.labels, c.visit)
        return {
            "t2_glmm": probability_table(
                ctx.fit, c.arm, c.visit, ctx.reference, c.alpha, ctx.labels, footnotes=notes,
                model_notes=glmm_footnotes(ctx.fit, c.ddf), typical=True, options={"df": c.ddf},
                title=f"Table 2. {ctx.label}: response probabilities and odds ratios vs {ctx.reference} "
                      "for a typical patient (GLMM)"),
            "t3_margins": marginal_effects_table(
                self.effects, visit_label, footnotes=notes, method_note=(
                    "Population-averaged probabilities: the GLMM's probability at each visit and arm "
                    "averaged over the normal distribution of the random intercept (covariates at their "
                    "means); risk difference, risk ratio and odds ratio of these averages, standard errors "
                    "by the delta method from the observed information of all the GLMM's parameters."),
                title=f"Table 3. {ctx.label}: population-averaged treatment effects vs {ctx.reference} "
                      "(GLMM)"),
            "t4_glmm_parameters": glmm_parameter_table(
                ctx.fit, c.alpha, c.ddf, footnotes=notes,
                title="Table 4a. Solutions for Fixed Effects (GLMM)"),
            "t4_covariance": covariance_parameter_table(
                ctx.fit, title="Table 4b. Covariance Parameter Estimates and fit statistics (GLMM)"),
            "t7_odds_ratios": conditional_marginal_table(
                self.odds_ratios, c.visit, visit_label, c.alpha, footnotes=notes,
                title=f"Table 7. {ctx.label}: odds ratios vs {ctx.reference}, typical patient against "
                      "population-averaged"),
        }

    def figures(self) -> dict:
        from .. import plots
        from ..tables.table import display_label

        c = self.ctx.config
        return {
            "f4_margins": lambda: plots.difference_forest(
                risk_differences(self.effects, c.visit), ci=1 - c.alpha, decimals=0,
                title=f"Population-averaged risk difference vs {self.ctx.reference} by {c.visit} (GLMM)",
                xlabel="Risk difference, percentage points"),
            "f3_subject_curves": lambda: plots.subject_curves(
                self.ctx.fit, c.arm, c.visit, ci=1 - c.alpha, xlabel=display_label(self.ctx.labels, c.visit),
                title="Response probability: subjects, typical patient and population average (GLMM)"),
        }

    def results(self) -> dict:
        from ..tables.responder_tables import probability_results
        from .analysis_results import frame_rows, glmm_summary

        ctx, c = self.ctx, self.ctx.config
        fit = ctx.fit
        return {"fit": glmm_summary(fit),
                "fixed_effects": frame_rows(fit.coef_table(alpha=c.alpha, df=c.ddf)),
                "covariance_parameters": frame_rows(fit.covariance_parameters),
                "probabilities_typical_patient": frame_rows(
                    probability_results(fit, c.arm, c.visit, ctx.reference, c.alpha, df=c.ddf)),
                "marginal_effects": frame_rows(self.effects.table.rename(columns={c.visit: "visit"})),
                "odds_ratios": frame_rows(self.odds_ratios.rename(columns={c.visit: "visit"}))}

    def rows(self) -> list[tuple[str, str]]:
        ctx, c = self.ctx, self.ctx.config
        fit = ctx.fit
        s = fit.settings
        method = ("Laplace" if s.method == "laplace"
                  else f"adaptive Gauss-Hermite quadrature, {s.n_points} points")
        var = fit.covariance_parameters.iloc[0]
        variance = f"{var['estimate']:.4f} (SE {var['se']:.4f}) on the logit scale"
        return [
            ("Data", f"{c.data}" + (f" (PARAMCD {c.param})" if c.param else "")),
            ("Responder", responder_definition(c, ctx.data)),
            ("Model", f"GLMM, logit link: {fit.formula.response} ~ {fit.design.encoding.formula} + random "
                      f"intercept per {c.subject}"),
            ("Estimation", f"maximum likelihood, {method}; -2 log likelihood {-2 * fit.loglik:.2f}"),
            ("Random intercept variance", variance),
            ("Intercurrent events and missing values", methods_text(ctx)),
            ("Reference arm", str(ctx.reference)),
            ("Subjects / records used", f"{fit.n_subjects} / {fit.n_obs}"),
            ("Converged", "yes" if fit.converged else "NO"),
        ]


#: The parts of a report of a binary endpoint by a GLMM (with :class:`ResponderRates`).
GLMM_ANALYSES = (GLMMModel,)
