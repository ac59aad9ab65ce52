r"""Tables of a responder (binary) analysis: response rates, the GEE's parameters (SAS GENMOD
layout), response probabilities and odds ratios, marginal effects, intercurrent events.

Every number comes from :func:`trialmlm.inference.proportions.responder_rates`, a
:func:`trialmlm.gee` fit (``coef_table``, ``lsmeans(..., ilink=True)``, ``compare``) or
:func:`trialmlm.marginal_effects` and is only formatted here: percentages and
risk differences (percentage points) with 1 decimal, probabilities with 3, ratios with 2,
GEE parameters with 4 (as SAS prints them), p-values as SAS PVALUE6.4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .formats import fmt_ci, fmt_number, fmt_p
from .table import Table, blank_repeats, display_label, plain

#: Measures of the marginal-effects table: contrast of ``marginal_effects`` -> (tidy name, label,
#: transformation of the estimate and limits to the scale shown).  The ratios are estimated on
#: the log scale (Wald limits of the log ratio, exponentiated: they stay positive).
MARGINAL_MEASURES = {"diff": ("risk_difference", "Risk difference (%)", lambda x: 100 * x),
                     "logrr": ("risk_ratio", "Risk ratio", np.exp),
                     "logor": ("odds_ratio", "Odds ratio", np.exp)}


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}% CI"


def responder_table(rates: pd.DataFrame, visit: str, arm: str, alpha: float = 0.05,
                    labels: Mapping | None = None, title: str | None = None,
                    footnotes: Sequence[str] = ()) -> Table:
    """n/N (%) responders and the Wilson CI by visit and arm, from the tidy ``rates`` of
    :func:`trialmlm.inference.proportions.responder_rates` (its columns are the tidy data)."""
    groups = blank_repeats(rates["visit"])
    rows = [[g, str(r.arm), f"{r.responders}/{r.n} ({fmt_number(r.percent, 1)})" if r.n else "0/0",
             fmt_ci(100 * r.lower, 100 * r.upper, 1)] for g, r in zip(groups, rates.itertuples())]
    columns = [display_label(labels, visit), display_label(labels, arm), "Responders\nn/N (%)",
               f"{_level(alpha)} (%)\n(Wilson)"]
    notes = ("N: records with a known responder status at the visit; n: responders among them. CI: Wilson "
             "score confidence interval.",)
    return Table(title or "Responders by treatment and visit", columns, rows, plain(rates),
                 notes + tuple(footnotes), ("l", "l", "c", "c"))


def gee_parameter_table(fit, alpha: float = 0.05, title: str | None = None,
                        footnotes: Sequence[str] = ()) -> Table:
    """SAS GENMOD's "Analysis Of GEE Parameter Estimates" with empirical (robust) or
    model-based standard errors, from ``fit.coef_table(alpha=alpha)``: Parameter, Estimate,
    Standard Error, confidence limits, Z, Pr > |Z|.  Tidy columns ``term, estimate, se,
    lower, upper, z, p``."""
    t = fit.coef_table(alpha=alpha)
    data = plain(pd.DataFrame({"term": t["term"], "estimate": t["estimate"], "se": t["se"],
                               "lower": t["lower"], "upper": t["upper"], "z": t["t"], "p": t["p"]}))
    rows = [[r.term, fmt_number(r.estimate, 4), fmt_number(r.se, 4), fmt_number(r.lower, 4),
             fmt_number(r.upper, 4), fmt_number(r.z, 2), fmt_p(r.p)] for r in data.itertuples()]
    errors = "Empirical" if fit.settings.vcov == "robust" else "Model-Based"
    level = f"{100 * (1 - alpha):g}%"
    return Table(title or f"Analysis Of GEE Parameter Estimates, {errors} Standard Error Estimates",
                 ["Parameter", "Estimate", "Standard\nError", f"{level} Lower\nConfidence Limit",
                  f"{level} Upper\nConfidence Limit", "Z", "Pr > |Z|"], rows, data,
                 gee_footnotes(fit) + tuple(footnotes), ("l", "r", "r", "r", "r", "r", "c"))


def gee_footnotes(fit) -> tuple[str, ...]:
    """The model of a GEE fit in words: mean model, distribution and link, working
    correlation with its estimate, clusters, standard errors."""
    s, p, d = fit.settings, fit.problem, fit.design
    alpha = fit.alpha
    shown = "" if alpha.empty else " (" + ", ".join(f"{k} = {v:.4f}" for k, v in alpha.items()) + ")"
    errors = "empirical (robust sandwich)" if s.vcov == "robust" else "model-based"
    return (f"GEE (SAS PROC GENMOD with REPEATED SUBJECT={s.subject} / TYPE={p.working.sas}"
            f"{f' WITHINSUBJECT={s.visit}' if s.visit else ''}): {d.encoding.formula}, "
            f"{p.family.sas.lower()} distribution, {p.link.sas.lower()} link.",
            f"Working correlation: {p.working.sas}{shown}; {d.n_subjects} clusters, {len(d.y)} records; "
            f"standard errors: {errors}; Wald tests and limits with the normal reference.")


def probability_results(fit, arm: str, visit: str, reference, alpha: float = 0.05, **options) -> pd.DataFrame:
    """Tidy response probabilities (``fit.lsmeans(arm, by=visit, ilink=True)``) and odds
    ratios vs ``reference`` (``fit.compare``): ``visit, arm, probability, probability_se,
    probability_lower, probability_upper, odds_ratio, odds_ratio_lower, odds_ratio_upper,
    log_odds_ratio, log_odds_ratio_se, p`` (odds ratios empty for the reference arm).
    ``options``: the fit's inference options (a GLMM's ``df``)."""
    ls = fit.lsmeans(arm, by=visit, alpha=alpha, ilink=True, **options)
    cmp = fit.compare(arm, by=visit, reference=reference, alpha=alpha, **options)
    probs = ls[[visit, arm, "mean", "mean_se", "mean_lower", "mean_upper"]].rename(columns={
        "mean": "probability", "mean_se": "probability_se", "mean_lower": "probability_lower",
        "mean_upper": "probability_upper"})
    ratios = cmp[[visit, arm, "ratio", "ratio_lower", "ratio_upper", "estimate", "se", "p"]].rename(columns={
        "ratio": "odds_ratio", "ratio_lower": "odds_ratio_lower", "ratio_upper": "odds_ratio_upper",
        "estimate": "log_odds_ratio", "se": "log_odds_ratio_se"})
    out = probs.merge(ratios, on=[visit, arm], how="left", sort=False)
    return plain(out.rename(columns={visit: "visit", arm: "arm"}))


def probability_table(fit, arm: str, visit: str, reference, alpha: float = 0.05,
                      labels: Mapping | None = None, title: str | None = None,
                      footnotes: Sequence[str] = (), model_notes: Sequence[str] | None = None,
                      typical: bool = False, options: dict | None = None) -> Table:
    """Response probabilities (SE), CI and the odds ratio vs ``reference``, CI, p by visit
    and arm (spanning headers "Response probability" and "Odds ratio vs ``reference``"):
    :func:`probability_results` formatted.  ``model_notes``: the model in words
    (default :func:`gee_footnotes`); ``typical``: the fit is a GLMM, whose LS means are those
    of a typical patient (random effects 0); ``options`` of :func:`probability_results`."""
    data = probability_results(fit, arm, visit, reference, alpha, **(options or {}))
    groups = blank_repeats(data["visit"])
    rows = [[g, str(r.arm), f"{fmt_number(r.probability, 3)} ({fmt_number(r.probability_se, 4)})",
             fmt_ci(r.probability_lower, r.probability_upper, 3), fmt_number(r.odds_ratio, 2),
             fmt_ci(r.odds_ratio_lower, r.odds_ratio_upper, 2), fmt_p(r.p)]
            for g, r in zip(groups, data.itertuples())]
    level = _level(alpha)
    columns = [display_label(labels, visit), display_label(labels, arm), "Estimate (SE)", level, "Estimate",
               level, "p-value"]
    spans = ("", "", "Response probability", "Response probability") + (f"Odds ratio vs {reference}",) * 3
    who = (" for a typical patient (random effects 0; conditional on the covariates at their means)"
           if typical else " (conditional on the covariates at their means)")
    notes = ("Probability: LS mean on the logit scale transformed back (SAS LSMEANS / ILINK), SE by the "
             "delta method, CI the back-transformed logit limits. Odds ratio: exp of the LS-mean difference "
             f"on the logit scale{who}.",) + tuple(gee_footnotes(fit) if model_notes is None else model_notes)
    return Table(title or f"Response probabilities and odds ratios vs {reference}", columns, rows, data,
                 notes + tuple(footnotes), ("l", "l", "c", "c", "c", "c", "c"), spans)


def marginal_effects_table(effects, visit_label: str = "Visit", title: str | None = None,
                           footnotes: Sequence[str] = (), method_note: str | None = None) -> Table:
    """Covariate-adjusted marginal effects per visit (:attr:`MarginalEffects.table` of the
    contrasts in :data:`MARGINAL_MEASURES`): estimate, CI and p of the risk difference (in
    percentage points), risk ratio and odds ratio.  Tidy columns ``visit, arm, reference,
    measure, estimate, lower, upper, se, p``: the risk difference as a proportion, the ratios
    as ratios with ``se`` of the log ratio.  ``method_note``: how the effects were estimated
    (default: g-computation from the GEE, with the variance method of ``effects``)."""
    t = effects.table
    t = t.loc[t["contrast"].isin(list(MARGINAL_MEASURES))]
    t = t.assign(order=t["contrast"].map(list(MARGINAL_MEASURES).index))
    t = t.sort_values(([effects.by] if effects.by else []) + ["arm", "order"], kind="stable")
    shown = {c: np.array([MARGINAL_MEASURES[m][2](x) for m, x in zip(t["contrast"], t[c])], dtype=float)
             for c in ("estimate", "lower", "upper")}
    ratio = (t["contrast"] != "diff").to_numpy()
    data = plain(pd.DataFrame({
        "visit": t[effects.by] if effects.by else None, "arm": t["arm"], "reference": t["reference"],
        "measure": [MARGINAL_MEASURES[m][0] for m in t["contrast"]],
        **{c: np.where(ratio, np.exp(t[c]), t[c]) for c in ("estimate", "lower", "upper")},
        "se": t["se"], "p": t["p"]}))
    pairs = list(zip(data["visit"], [f"{a} vs {r}" for a, r in zip(data["arm"], data["reference"])]))
    rows = []
    for i, (v, r, m) in enumerate(zip(blank_repeats(data["visit"]), data.itertuples(), t["contrast"])):
        d = 1 if m == "diff" else 2
        shown_row = [shown[c][i] for c in ("estimate", "lower", "upper")]
        rows.append([v, "" if i and pairs[i] == pairs[i - 1] else pairs[i][1], MARGINAL_MEASURES[m][1],
                     fmt_number(shown_row[0], d), fmt_ci(shown_row[1], shown_row[2], d), fmt_p(r.p)])
    names = {"Ye": "Ye et al. (2023) variance (robust to misspecification; R beeca method 'Ye')",
             "Ge": "delta method of Ge et al. (2011) (SAS %Margins)",
             "influence": "influence functions of the g-computation estimator and the GEE (valid under any "
                          "working correlation)"}
    method_note = method_note or (
        "Marginal (population-averaged, covariate-adjusted) effects by g-computation: each analysed "
        "subject's response probability under each arm, from the GEE, averaged over the subjects analysed "
        f"at the visit; standard errors by the {names.get(effects.method, effects.method)}.")
    notes = (method_note + " Wald CIs and p-values for the risk difference, and for the log of the ratios "
             "(exponentiated).",)
    return Table(title or "Covariate-adjusted marginal treatment effects by visit",
                 [visit_label, "Comparison", "Measure", "Estimate", _level(effects.alpha), "p-value"], rows,
                 data, notes + tuple(footnotes), ("l", "l", "l", "r", "c", "c"))


def intercurrent_counts(affected: pd.DataFrame, subject: str, visit: str, visits: Sequence,
                        arms: Sequence) -> pd.DataFrame:
    """Records at or after an intercurrent event per visit and arm: ``visit, arm, affected,
    observed`` (the record had a response), ``missing`` (it had none, or no record)."""
    index = pd.MultiIndex.from_product([list(visits), list(arms)], names=["visit", "arm"])
    grouped = affected.groupby([affected[visit].astype(object), affected["arm"].astype(object)])["observed"]
    out = pd.DataFrame({"affected": grouped.size(), "observed": grouped.sum()}).reindex(index, fill_value=0)
    out = out.astype(int).reset_index()
    return out.assign(missing=out["affected"] - out["observed"])


def intercurrent_table(counts: pd.DataFrame, action: str, visit_label: str = "Visit", arm_label: str = "Arm",
                       title: str | None = None, footnotes: Sequence[str] = ()) -> Table:
    """:func:`intercurrent_counts` as a table: records affected by an intercurrent event,
    split by whether a response had been observed there."""
    visits = blank_repeats(counts["visit"])
    rows = [[v, str(r.arm), str(r.affected), str(r.observed), str(r.missing)]
            for v, r in zip(visits, counts.itertuples())]
    columns = [visit_label, arm_label, f"Records\n{action}", "of which\nobserved", "of which\nmissing"]
    total = int(np.sum(counts["affected"]))
    notes = (f"{total} records at or after a subject's intercurrent event: {action}. Observed: the record "
             "had a responder status; missing: it had none (or the subject had no record at the visit).",)
    return Table(title or f"Intercurrent events: records {action}", columns, rows, plain(counts),
                 notes + tuple(footnotes), ("l", "l", "c", "c", "c"))
