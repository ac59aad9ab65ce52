r"""Tables of a fit: LS means and differences by visit, type III tests, covariance
parameters and fit statistics, and the comparison of sensitivity analyses.

Every number comes from :class:`trialmlm.MMRMResults` (``lsmeans``, ``compare``,
``anova``, ``covariance_parameters_table``, ``loglik``/``aic``/``aicc``/``bic``) and is only
formatted here; the footnotes describe the model from ``fit.settings``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..engine.describe import describe_covariance, describe_estimation
from ..engine.fallback import CRITERIA
from ..errors import DataError
from ..estimands.strategies import STRATEGIES
from ..inference.change import change_lsmeans
from ..inference.methods import labels
from .formats import decimals_for, fmt_ci, fmt_estimate_se, fmt_number, fmt_p
from .table import Table, blank_repeats, display_label, plain, with_unit


def model_footnotes(fit, arm: str | None = None, visit: str | None = None, ddf: str | None = None,
                    vcov: str | None = None) -> tuple[str, ...]:
    """Footnotes stating the model: mean model (and, given ``arm``, the covariates: the
    other variables of the mean model), covariance structure or random effects,
    estimation method, df method and standard errors (as resolved for ``ddf``/``vcov``)."""
    s = fit.settings
    enc = fit.design.encoding
    covariates = [v for v in enc.variables if v not in (arm, visit, *s.visit)] if arm else []
    lines = [f"Model for {s.response}: fixed effects {enc.formula}"
             + (f"; covariates: {', '.join(covariates)}." if covariates else ".")]
    lines.append(f"{describe_covariance(fit)}.")
    ddf_name, vcov_name = labels(fit, ddf, vcov)
    lines.append(f"Estimation: {describe_estimation(fit)}; denominator degrees of freedom: {ddf_name}; "
                 f"standard errors: {vcov_name}.")
    if fit.spec.clda is not None:
        lines.append(f"cLDA: the baseline is a repeated measurement of {s.response} with one mean for all "
                     f"arms ({fit.spec.clda}); a difference between arms after baseline is also the "
                     "difference in change from baseline.")
    return tuple(lines)



def _default_visit(fit, visit):
    if visit is not None:
        return visit
    return fit.spec.repeated


def _counts(fit, arm: str, visit: str | None) -> pd.Series:
    """Observations used per (visit, arm) (= subjects with a response there)."""
    d = fit.design
    d.require_rows("counting the observations per arm and visit")
    frame = d.fixed_frame
    if arm not in frame:
        raise DataError(f"'{arm}' is not a variable of the fit's mean model")
    keys = {"arm": frame[arm].to_numpy()}
    if visit is not None:
        if visit in frame:
            keys["visit"] = frame[visit].to_numpy()
        elif fit.spec.repeated is not None and visit == fit.spec.repeated:
            keys["visit"] = np.asarray(d.position_labels, dtype=object)[d.position]
        else:
            raise DataError(f"'{visit}' is not a variable of the fit")
    return pd.DataFrame(keys).groupby(list(keys)[::-1] if visit else ["arm"]).size()


def mmrm_results(fit, arm: str, visit: str | None = None, reference=None, alpha: float = 0.05,
                 **options) -> pd.DataFrame:
    """Tidy LS means per visit and arm with the difference from ``reference``.

    Columns: ``visit`` (if any), ``arm``, ``n`` (observations used), ``lsmean, lsmean_se,
    lsmean_df, lsmean_lower, lsmean_upper`` from ``fit.lsmeans(arm, by=visit)``, and
    ``contrast, difference, difference_se, difference_df, difference_lower,
    difference_upper, t, p`` from ``fit.compare(arm, by=visit, reference=reference)``
    (empty for the reference arm).  ``options``: ``ddf``, ``vcov``, ``weights``, ``at``
    passed to both.
    """
    visit = _default_visit(fit, visit)
    levels = list(fit.design.class_levels.get(arm, []))
    if not levels:
        raise DataError(f"'{arm}' is not a factor of the fit")
    if reference is not None and reference not in levels:
        raise DataError(f"reference {reference!r} is not a level of '{arm}' ({', '.join(map(str, levels))})")
    ls = fit.lsmeans(arm, by=visit, alpha=alpha, **options)
    cmp = fit.compare(arm, by=visit, reference=reference, alpha=alpha, **options)
    keys = ([visit] if visit else []) + [arm]
    ls = ls.rename(columns={"estimate": "lsmean", "se": "lsmean_se", "df": "lsmean_df",
                            "lower": "lsmean_lower", "upper": "lsmean_upper"})
    cmp = cmp.rename(columns={"estimate": "difference", "se": "difference_se", "df": "difference_df",
                              "lower": "difference_lower", "upper": "difference_upper"})
    out = ls.merge(cmp, on=keys, how="left", sort=False)
    out = out[keys + [c for c in out.columns if c not in keys]]
    counts = _counts(fit, arm, visit)
    idx = list(zip(out[visit], out[arm])) if visit else list(out[arm])
    out.insert(len(keys), "n", counts.reindex(idx).fillna(0).astype(int).to_numpy())
    return plain(out.rename(columns={arm: "arm", **({visit: "visit"} if visit else {})}))


def mmrm_table(fit, arm: str, visit: str | None = None, reference=None, alpha: float = 0.05,
               decimals: int | None = None, unit: str | None = None, labels: Mapping | None = None,
               title: str | None = None, footnotes: Sequence[str] = (), **options) -> Table:
    """LS means (SE), CI, and difference from ``reference`` (SE), CI, p, per visit and arm.

    The numbers are :func:`mmrm_results` (``fit.lsmeans`` and ``fit.compare``) formatted
    with :math:`d+1` decimals for means, differences and limits and :math:`d+2` for SEs
    (``decimals`` = :math:`d`, default: the precision of the response data, 1 when it has
    more than 2 decimals; :func:`trialmlm.tables.formats.decimals_for`).  ``labels``
    maps column names to display names (e.g. ``{"TRT": "Treatment"}``).
    """
    data = mmrm_results(fit, arm, visit, reference, alpha, **options)
    visit = _default_visit(fit, visit)
    ref = reference if reference is not None else fit.design.class_levels[arm][0]
    d = decimals_for(fit.design.y, decimals)
    level = f"{100 * (1 - alpha):g}% CI"
    rows = []
    groups = blank_repeats(data["visit"]) if visit else None
    for i, r in data.iterrows():
        row = [groups[i]] if visit else []
        row += [str(r["arm"]), str(r["n"]), fmt_estimate_se(r["lsmean"], r["lsmean_se"], d.mean, d.sd),
                fmt_ci(r["lsmean_lower"], r["lsmean_upper"], d.mean),
                fmt_estimate_se(r["difference"], r["difference_se"], d.mean, d.sd),
                fmt_ci(r["difference_lower"], r["difference_upper"], d.mean), fmt_p(r["p"])]
        rows.append(row)
    slope = options.get("slope")
    estimate = with_unit("Estimate (SE)", unit)
    columns = ([display_label(labels, visit)] if visit else []) + [
        display_label(labels, arm), "n", estimate, level, estimate, level, "p-value"]
    spans = (("",) * (len(columns) - 5) + ("Slope" if slope else "LS Mean",) * 2
             + (f"Difference vs {ref}",) * 3)
    response = display_label(labels, fit.settings.response)
    what = f"slopes in {slope}" if slope else "LS means"
    default_title = f"Analysis of {response}: {what} and differences from {ref}" + (
        f" by {display_label(labels, visit)}" if visit else "")
    notes = model_footnotes(fit, arm, visit or slope, options.get("ddf"), options.get("vcov"))
    counted = "at the visit " if visit else ""
    notes += (f"n: observations of {fit.settings.response} {counted}used in the model. "
              + (f"Slope: rate of change of the LS mean per unit of {slope}. " if slope else "")
              + "LS: least squares; SE: standard error; CI: confidence interval; NE: not estimable.",)
    return Table(title or default_title, columns, rows, data, notes + tuple(footnotes),
                 ("l",) * (len(columns) - 7) + ("l", "c", "r", "c", "r", "c", "c"), spans)


def change_table(fit, alpha: float = 0.05, decimals: int | None = None, unit: str | None = None,
                 labels: Mapping | None = None, title: str | None = None, footnotes: Sequence[str] = (),
                 **options) -> Table:
    """LS means of the change from baseline (SE) and CI per post-baseline visit and arm of a cLDA
    fit (:func:`trialmlm.inference.change.change_lsmeans`; ``options``: ``ddf``, ``vcov``,
    ``weights``), formatted as :func:`mmrm_table`.  Tidy columns ``visit, arm, n, estimate, se,
    df, lower, upper``; ``n``: observations at the visit."""
    data = change_lsmeans(fit, alpha=alpha, **options)  # DataError for a fit without a clda term
    term = fit.spec.clda
    counts = _counts(fit, term.arm, term.visit)
    data.insert(2, "n", counts.reindex(list(zip(data[term.visit], data[term.arm]))).fillna(0)
                .astype(int).to_numpy())
    data = plain(data[[term.visit, term.arm, *data.columns[2:]]].rename(
        columns={term.arm: "arm", term.visit: "visit"}))
    d = decimals_for(fit.design.y, decimals)
    groups = blank_repeats(data["visit"])
    rows = [[groups[i], str(r["arm"]), str(r["n"]), fmt_estimate_se(r["estimate"], r["se"], d.mean, d.sd),
             fmt_ci(r["lower"], r["upper"], d.mean)] for i, r in data.iterrows()]
    columns = [display_label(labels, term.visit), display_label(labels, term.arm), "n",
               with_unit("LS Mean Change (SE)", unit), f"{100 * (1 - alpha):g}% CI"]
    response = display_label(labels, fit.settings.response)
    notes = model_footnotes(fit, term.arm, term.visit, options.get("ddf"), options.get("vcov"))
    notes += (f"LS mean change: the LS mean at the visit minus the common baseline LS mean; n: observations "
              f"of {fit.settings.response} at the visit used in the model.",)
    default_title = f"Analysis of {response}: LS means of the change from baseline (cLDA)"
    return Table(title or default_title, columns, rows, data, notes + tuple(footnotes),
                 ("l", "l", "r", "r", "c"))


def type3_table(fit, title: str | None = None, footnotes: Sequence[str] = (), ddf: str | None = None,
                vcov: str | None = None) -> Table:
    """Type III tests of fixed effects (SAS layout: Effect, Num DF, Den DF, F Value, Pr > F).

    Tidy columns ``effect, num_df, den_df, f, p`` from ``fit.anova(ddf, vcov)``.  Den DF is
    shown with 1 decimal, F with 2.
    """
    a = fit.anova(ddf=ddf, vcov=vcov)
    data = pd.DataFrame({"effect": a.index.astype(str), "num_df": a["num_df"].to_numpy(),
                         "den_df": a["den_df"].to_numpy(dtype=float), "f": a["F"].to_numpy(dtype=float),
                         "p": a["p"].to_numpy(dtype=float)})
    rows = [[r.effect, f"{int(r.num_df)}", fmt_number(r.den_df, 1), fmt_number(r.f, 2), fmt_p(r.p)]
            for r in data.itertuples()]
    return Table(title or f"Type III tests of fixed effects: {fit.settings.response}",
                 ["Effect", "Num DF", "Den DF", "F Value", "Pr > F"], rows, data,
                 model_footnotes(fit, ddf=ddf, vcov=vcov) + tuple(footnotes), ("l", "c", "c", "c", "c"))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _criteria_count(fit) -> str:
    """What AIC/AICC/BIC count and what BIC's log is of, as :class:`~trialmlm.MMRMResults`
    computes them (SAS's conventions)."""
    held = len(fit.settings.fixed)
    what = " (the residual variance)" if fit.spec.linear else ""
    covariance = _plural(fit.n_covariance_parameters - held, "covariance parameter") + what
    fixed = _plural(fit.n_fixed, "fixed effect")
    if fit.method == "ML":
        counted = f"{_plural(fit.n_ic_parameters, 'parameter')}: {covariance} and {fixed}"
    else:
        counted = f"{covariance}, not the {fixed} (under REML, SAS counts covariance parameters only)"
    if held:
        counted += f"; {held} held (HOLD=) not counted"
    if not fit.spec.linear:
        return f"AIC/AICC/BIC count {counted}; BIC uses the {fit.n_subjects_read} subjects read."
    # the same words for every visit's ANCOVA: a stacked table says it once
    return f"AIC/AICC/BIC count {counted}; BIC uses " + (
        "n - p (observations minus fixed effects)." if fit.method == "REML" else "n (observations).")


def covariance_table(fit, decimals: int = 4, title: str | None = None,
                     footnotes: Sequence[str] = ()) -> Table:
    """Covariance parameter estimates (SE, Z, Pr > Z as SAS COVTEST) and fit statistics.

    Tidy columns ``section`` ("covariance parameter" / "fit statistic"), ``parameter,
    estimate, se, z, p``.  Fit statistics: -2 (Res) Log Likelihood, AIC, AICC, BIC (SAS
    conventions).  p-values of variances are one-sided, others two-sided.

    Decimals, not the data rule: the parameters mix variances (squared units),
    covariances and correlations, so estimates and SEs get a fixed ``decimals`` (default 4,
    as SAS prints them); Z 2 decimals; fit statistics 1 decimal, as SAS "Fit Statistics".
    """
    cov = fit.covariance_parameters_table()
    label_ll = "-2 Res Log Likelihood" if fit.method == "REML" else "-2 Log Likelihood"
    stats = {label_ll: -2 * fit.loglik, "AIC (Smaller is Better)": fit.aic,
             "AICC (Smaller is Better)": fit.aicc, "BIC (Smaller is Better)": fit.bic}
    data = pd.concat([
        pd.DataFrame({"section": "covariance parameter", "parameter": cov.index.astype(str),
                      "estimate": cov["estimate"].to_numpy(), "se": cov["se"].to_numpy(),
                      "z": cov["z"].to_numpy(), "p": cov["p"].to_numpy()}),
        pd.DataFrame({"section": "fit statistic", "parameter": list(stats), "estimate": list(stats.values()),
                      "se": np.nan, "z": np.nan, "p": np.nan}),
    ], ignore_index=True)
    rows = []
    for r in data.itertuples():
        if r.section == "fit statistic":
            if r.parameter == label_ll:
                rows.append(["Fit statistics", "", "", "", ""])
            rows.append([r.parameter, fmt_number(r.estimate, 1), "", "", ""])
        else:
            rows.append([r.parameter, fmt_number(r.estimate, decimals), fmt_number(r.se, decimals),
                         fmt_number(r.z, 2), fmt_p(r.p)])
    notes = model_footnotes(fit) + (
        "Pr > Z: one-sided for variances, two-sided for covariances and correlations (SAS COVTEST).",
        _criteria_count(fit))
    return Table(title or f"Covariance parameter estimates and fit statistics: {fit.settings.response}",
                 ["Covariance Parameter", "Estimate", "Standard Error", "Z Value", "Pr > Z"], rows, data,
                 notes + tuple(footnotes), ("l", "r", "r", "r", "c"))


def covariance_selection_table(fit, title: str | None = None, footnotes: Sequence[str] = ()) -> Table:
    """The candidates of a covariance selection by an information criterion
    (:func:`trialmlm.select_covariance`): each structure with its -2 (Res) Log Likelihood,
    the parameters the criterion counts, the criterion, convergence and which was chosen.

    Tidy data: ``fit.covariance_attempts_table()`` (``structure, converged, positive_definite,
    reason, used, criterion, value, minus2_loglik, n_parameters``).  -2 log-likelihood and
    criterion with 1 decimal, as SAS "Fit Statistics"; a candidate that is not usable has
    no value and is never chosen (its reason in the last column).  DataError if ``fit`` was
    not chosen by a criterion.
    """
    data = fit.covariance_attempts_table()
    criterion = next((c for c in data.get("criterion", ()) if c), None)
    if criterion is None:
        raise DataError("covariance_selection_table: the fit was not chosen by an information criterion "
                        "(trialmlm.select_covariance)")
    label = criterion.upper()
    rows = [[r.structure, fmt_number(r.minus2_loglik, 1),
             "" if pd.isna(r.n_parameters) else f"{int(r.n_parameters)}", fmt_number(r.value, 1),
             "Yes" if r.converged and r.positive_definite else "No",
             "chosen" if r.used else (r.reason or "not chosen")] for r in data.itertuples()]
    ll = "-2 Res Log Likelihood" if fit.method == "REML" else "-2 Log Likelihood"
    notes = (f"Each structure was fitted; the usable fit (converged, positive-definite Hessian, non-singular "
             f"residual covariance) with the smallest {label} is used.",
             f"{label} = {CRITERIA[criterion]}; d = Parameters: the covariance parameters estimated"
             + (" and the fixed effects (ML)." if fit.method == "ML" else
                " (REML: SAS counts no fixed effects)."))
    return Table(title or f"Covariance structure selection by {label}: {fit.settings.response}",
                 ["Structure", ll, "Parameters", f"{label} (Smaller is Better)", "Converged", "Result"], rows,
                 data, notes + tuple(footnotes), ("l", "r", "c", "r", "c", "l"))


NUMBERS = ("estimate", "se", "df", "lower", "upper", "p")
SENSITIVITY_COLUMNS = ("analysis", "contrast", "visit", "delta", *NUMBERS, "primary_p", "tipping")


def _mi_label(mi) -> str:
    """"MI, MAR", "MI, jump to reference", ...; "MI, MAR + delta" for a delta adjustment."""
    if mi.default_strategy == "delta":
        return "MI, MAR + delta"
    label = STRATEGIES[mi.default_strategy].label
    return f"MI, {label if mi.default_strategy == 'mar' else label.lower()}"


def _mi_delta(mi) -> float:
    """The shift of a ``"delta"`` imputation when it is one number, else NaN."""
    return float(mi.delta) if mi.default_strategy == "delta" and np.ndim(mi.delta) == 0 else np.nan


def _tipping_label(tp) -> str:
    what = STRATEGIES[tp.default_strategy].label
    return f"Tipping point ({what if tp.default_strategy == 'mar' else what.lower()} + delta)"


def _text(value) -> str:
    return "" if pd.isna(value) else str(value)


def _same_setting(results, name: str):
    values = {getattr(r, name) for r in results}
    if len(values) != 1:
        raise DataError(f"the sensitivity analyses differ in {name}: {', '.join(sorted(map(str, values)))}; "
                        "run them all with the same one")
    return values.pop()


def sensitivity_results(fit, imputations: Sequence = (), tipping=None, alpha: float = 0.05) -> pd.DataFrame:
    r"""Tidy comparison of the primary MMRM with the multiple-imputation sensitivity analyses.

    One row per (analysis, contrast, delta) at one visit, contrasts in the fit's order and,
    within a contrast: the primary MMRM (``fit.compare``, MAR), each of ``imputations``
    (:class:`~trialmlm.estimands.PooledResult`, ``mi.compare(arm, by=visit, reference=reference,
    alpha=alpha)``), then the
    tipping point (:class:`~trialmlm.estimands.TippingPoint`, ``tipping.summary()``): the row
    at the tipping delta (first delta with :math:`p \ge \alpha`); the last delta of the
    grid with "does not tip within the range (deltas a to b)" when the difference stays
    significant; no numbers and "not significant under MAR; no tipping point" when the
    primary :math:`p \ge \alpha`.

    The arm and reference are those of the analyses (which must agree); the visit is the
    tipping point's, else the last visit.  ``alpha`` must equal ``tipping.alpha``.

    Columns: ``analysis, contrast, visit, delta`` (NaN except the tipping point and a
    ``"delta"`` imputation), ``estimate, se, df, lower, upper, p``, ``primary_p`` (the
    primary MAR p-value of the same contrast) and ``tipping`` (the tipping point's status in
    words; missing on the other rows).
    """
    results = [*imputations, *([tipping] if tipping is not None else [])]
    if not results:
        raise DataError("sensitivity_results needs at least one multiple imputation or tipping point")
    arm, reference = _same_setting(results, "arm"), _same_setting(results, "reference")
    if tipping is not None and tipping.alpha != alpha:
        raise DataError(f"alpha = {alpha} but the tipping point was computed at alpha = {tipping.alpha}")
    vname = fit.spec.repeated
    visit = tipping.visit if tipping is not None else fit.design.position_labels[-1]
    primary = fit.compare(arm, by=vname, reference=reference, alpha=alpha)
    parts = [("MMRM (primary, MAR)", primary, np.nan)]
    parts += [(_mi_label(mi), mi.compare(arm, by=vname, reference=reference, alpha=alpha), _mi_delta(mi))
              for mi in imputations]
    labels = [name for name, _, _ in parts] + ([_tipping_label(tipping)] if tipping is not None else [])
    repeated = [name for name in labels if labels.count(name) > 1]
    if repeated:
        raise DataError(f"two sensitivity analyses are both '{repeated[0]}'; pass each method once")
    frames = [table.loc[table[vname] == visit, ["contrast", *NUMBERS]].assign(analysis=name, delta=delta)
              for name, table, delta in parts]
    if tipping is not None:
        frames.append(tipping.summary().assign(analysis=labels[-1]))
    out = pd.concat(frames, ignore_index=True)
    first = out.loc[out["analysis"] == labels[0]]
    primary_p = dict(zip(first["contrast"], first["p"]))
    out = out.assign(visit=visit, primary_p=out["contrast"].map(primary_p), tipping=out.get("tipping"),
                     order=out["contrast"].map(list(primary_p).index))
    return plain(out.sort_values("order", kind="stable")[list(SENSITIVITY_COLUMNS)])


def sensitivity_table(fit, imputations: Sequence = (), tipping=None, alpha: float = 0.05,
                      decimals: int | None = None, unit: str | None = None, title: str | None = None,
                      footnotes: Sequence[str] = ()) -> Table:
    r"""Contrast by contrast: primary MMRM, MI analyses and tipping point, with the primary p beside.

    The numbers are :func:`sensitivity_results` formatted with :math:`d + 1` decimals for
    estimates and limits, :math:`d + 2` for SEs (``decimals`` = :math:`d`, default: the
    precision of the response data, :func:`trialmlm.tables.formats.decimals_for`, as
    :func:`mmrm_table`) and the deltas with the decimals of the grid (as the tipping-point
    figure).  Footnotes
    state the tipping rule.
    """
    data = sensitivity_results(fit, imputations, tipping, alpha)
    d = decimals_for(fit.design.y, decimals)
    deltas = data["delta"].dropna()
    delta_d = decimals_for(deltas).data
    contrasts = blank_repeats(data["contrast"])
    show_delta = not deltas.empty
    show_tipping = bool(data["tipping"].notna().any())
    rows = []
    for i, r in data.iterrows():
        row = [contrasts[i], r["analysis"]] + ([fmt_number(r["delta"], delta_d)] if show_delta else [])
        row += [fmt_estimate_se(r["estimate"], r["se"], d.mean, d.sd), fmt_ci(r["lower"], r["upper"], d.mean),
                fmt_p(r["p"]), fmt_p(r["primary_p"])] + ([_text(r["tipping"])] if show_tipping else [])
        rows.append(row)
    level = f"{100 * (1 - alpha):g}% CI"
    columns = (["Contrast", "Analysis"] + (["Delta"] if show_delta else [])
               + [with_unit("Estimate (SE)", unit), level, "p-value", "Primary\np-value (MAR)"]
               + (["Tipping point"] if show_tipping else []))
    notes = ("Primary p-value (MAR): p-value of the same contrast in the primary MMRM.",)
    if tipping is not None:
        notes += (f"Tipping point ({tipping.n_samples} imputations): Delta is added to the values "
                  "imputed after dropout in the contrast's active arm; shown is the first Delta at which "
                  f"p >= {alpha:g}, or the last Delta of the range when the difference stays significant.",)
    visit = data["visit"].iloc[0]
    return Table(title or f"Sensitivity analyses of the treatment differences at {visit}", columns, rows,
                 data, notes + tuple(footnotes),  # the tipping-point note is text: it may wrap
                 ("l", "l") + ("c",) * (len(columns) - 2 - show_tipping) + ("l",) * show_tipping)
