r"""Tables of a responder analysis by a logistic GLMM (:func:`trialmlm.glmm`), in SAS PROC
GLIMMIX's layout: "Solutions for Fixed Effects", "Covariance Parameter Estimates" with the fit
statistics, and the conditional (typical patient) against the population-averaged odds ratios
beside the GEE's.

Every number comes from the fit (``coef_table``, ``covariance_parameters``) or from
:func:`trialmlm.glimmix.margins.conditional_vs_marginal` and is only formatted here: estimates
with 4 decimals (as SAS prints them), odds ratios with 2, p-values as SAS PVALUE6.4.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..glimmix.degrees import DEFAULT_DF, DF_RULES
from .formats import fmt_ci, fmt_number, fmt_p
from .table import Table, blank_repeats, plain

#: The tests of each df rule (:data:`trialmlm.glimmix.degrees.DF_RULES`), in words.
DF_WORDS = {"containment": "t tests with containment degrees of freedom",
            "between-within": "t tests with between-within degrees of freedom",
            "residual": "t tests with residual degrees of freedom (records less the rank of X)",
            "none": "z tests (normal reference)"}

#: The three odds ratios of :func:`conditional_marginal_table`, in the words of the table.
MODEL_WORDS = {"GLMM conditional": "GLMM, typical patient (b = 0)",
               "GLMM marginal": "GLMM, population-averaged",
               "GEE": "GEE (population-averaged)"}


def glmm_footnotes(fit, df: str | None = None) -> tuple[str, ...]:
    """The model of a GLMM fit in words: mean model and random effects, distribution and link,
    integration method, subjects and records, the df rule ``df`` (None: the default,
    :data:`trialmlm.glimmix.degrees.DEFAULT_DF`)."""
    s = fit.settings
    method = ("METHOD=LAPLACE" if s.method == "laplace" else f"METHOD=QUAD(QPOINTS={s.n_points})")
    random = " ".join("INTERCEPT" if n == "Intercept" else n for n in fit.random_names)
    return (f"GLMM by maximum likelihood (SAS PROC GLIMMIX {method}; RANDOM {random} / SUBJECT="
            f"{fit.formula.subject} TYPE=UN): {fit.formula.response} ~ {fit.design.encoding.formula}, "
            f"{s.family} distribution, {s.link} link; {fit.n_subjects} subjects, {fit.n_obs} records.",
            "Standard errors from the observed information; " + DF_WORDS[df or DEFAULT_DF]
            + f" (SAS {DF_RULES[df or DEFAULT_DF].sas}).")


def glmm_parameter_table(fit, alpha: float = 0.05, df: str | None = None, title: str | None = None,
                         footnotes: Sequence[str] = ()) -> Table:
    """SAS GLIMMIX's "Solutions for Fixed Effects" from ``fit.coef_table(alpha=alpha)``: Effect,
    Estimate, Standard Error, DF, t Value, Pr > |t| and the confidence limits.  Tidy columns
    ``term, estimate, se, df, t, p, lower, upper``."""
    data = plain(fit.coef_table(alpha=alpha, df=df)[["term", "estimate", "se", "df", "t", "p", "lower",
                                                     "upper"]])
    rows = [[r.term, fmt_number(r.estimate, 4), fmt_number(r.se, 4), fmt_number(r.df, 0), fmt_number(r.t, 2),
             fmt_p(r.p), fmt_ci(r.lower, r.upper, 4)] for r in data.itertuples()]
    return Table(title or "Solutions for Fixed Effects",
                 ["Effect", "Estimate", "Standard\nError", "DF", "t Value", "Pr > |t|",
                  f"{100 * (1 - alpha):g}% CI"], rows, data, glmm_footnotes(fit, df) + tuple(footnotes),
                 ("l", "r", "r", "r", "r", "c", "c"))


def covariance_parameter_table(fit, title: str | None = None, footnotes: Sequence[str] = ()) -> Table:
    """SAS GLIMMIX's "Covariance Parameter Estimates" (Cov Parm, Subject, Estimate, Standard
    Error) and, below it, the "Fit Statistics" (-2 log likelihood, AIC, BIC) and the
    likelihood-ratio test of G = 0 (SAS ``COVTEST GLM``).  Tidy columns ``parameter, subject,
    estimate, se``."""
    cp = fit.covariance_parameters
    names = {f"UN({i + 1},{i + 1})": f"Var({n})" for i, n in enumerate(fit.random_names)}
    data = plain(cp[["parameter", "subject", "estimate", "se"]])
    rows = [[names.get(r.parameter, r.parameter), str(r.subject), fmt_number(r.estimate, 4),
             fmt_number(r.se, 4) if r.se > 0 else ""] for r in data.itertuples()]
    lrt = fit.likelihood_ratio().iloc[0]
    notes = (f"-2 log likelihood {fmt_number(-2 * fit.loglik, 2)}; AIC {fmt_number(fit.aic, 2)}; BIC "
             f"{fmt_number(fit.bic, 2)} ({fit.n_parameters} parameters).",
             "Likelihood-ratio test of no random effects (G = 0): chi-square "
             f"{fmt_number(lrt['chi_square'], 2)}, p {fmt_p(lrt['p'])} ({lrt['reference']}).",
             "Var: the variance of the random effect on the logit scale; standard errors by the delta method "
             "from the observed information.")
    return Table(title or "Covariance Parameter Estimates", ["Cov Parm", "Subject", "Estimate",
                                                             "Standard\nError"],
                 rows, data, notes + tuple(footnotes), ("l", "l", "r", "r"))


def conditional_marginal_table(odds: pd.DataFrame, visit: str, visit_label: str = "Visit",
                               alpha: float = 0.05, title: str | None = None,
                               footnotes: Sequence[str] = ()) -> Table:
    """The odds ratio of each arm against the reference at each visit three ways (the frame of
    :func:`trialmlm.glimmix.margins.conditional_vs_marginal`): the GLMM's for a typical patient,
    the GLMM's population-averaged one and the GEE's, with CIs and p.  Tidy columns ``visit,
    arm, reference, model, odds_ratio, lower, upper, p``."""
    data = plain(pd.DataFrame({"visit": odds[visit], "arm": odds["arm"], "reference": odds["reference"],
                               "model": odds["model"], "odds_ratio": odds["ratio"],
                               "lower": odds["ratio_lower"], "upper": odds["ratio_upper"], "p": odds["p"]}))
    pairs = [f"{a} vs {r}" for a, r in zip(data["arm"], data["reference"])]
    shown = [p if i == 0 or (pairs[i], data["visit"].iloc[i]) != (pairs[i - 1], data["visit"].iloc[i - 1])
             else "" for i, p in enumerate(pairs)]
    rows = [[v, s, MODEL_WORDS.get(r.model, r.model), fmt_number(r.odds_ratio, 2),
             fmt_ci(r.lower, r.upper, 2), fmt_p(r.p)]
            for v, s, r in zip(blank_repeats(data["visit"]), shown, data.itertuples())]
    notes = ("Typical patient: exp of the GLMM's LS-mean difference on the logit scale (as in Table 2), "
             "the odds ratio for a patient whose random effect is 0 (subject-specific). Population-averaged: "
             "the odds ratio of the GLMM's probabilities averaged over the random-effects distribution "
             "(delta-method CI). GEE: the odds ratio of the marginal model fitted to the same records "
             "(exchangeable working correlation, robust SE).",
             "The population-averaged odds ratios lie nearer 1 than the typical patient's whenever the "
             "random-intercept variance is above 0 (non-collapsibility of the odds ratio); they, not the "
             "conditional one, estimate the effect in the population.")
    return Table(title or "Odds ratios: typical patient against population-averaged",
                 [visit_label, "Comparison", "Model", "Odds ratio", f"{100 * (1 - alpha):g}% CI", "p-value"],
                 rows, data, notes + tuple(footnotes), ("l", "l", "l", "r", "c", "c"))
