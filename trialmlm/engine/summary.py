"""Plain-text summary of a fit, laid out like SAS PROC MIXED's default output.

A linear model (no covariance or random-effect term) is described as PROC MIXED describes
a model without RANDOM and REPEATED statements: a diagonal covariance with the one
parameter ``Residual``, no subject, residual degrees of freedom.
"""

from __future__ import annotations

import pandas as pd

from .boundary import boundary_note
from .describe import describe_covariance, describe_estimation


def _table(title: str, frame: pd.DataFrame, floatfmt: str = "{:.6g}") -> str:
    shown = frame.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else floatfmt.format(v))
    return f"{title}\n{'-' * len(title)}\n{shown.to_string()}\n"


def _attempts_text(attempts) -> str:
    """The covariance fallback (each structure tried, used or why not) or selection (each
    candidate's criterion, chosen or why not)."""
    criterion = next((a.criterion for a in attempts if a.criterion), None)
    title = ("Covariance Structures Tried (first usable one used)" if criterion is None else
             f"Covariance Structure Selection ({criterion.upper()}, smallest chosen)")
    width = max(len(a.structure) for a in attempts)

    def status(a) -> str:
        value = f"{criterion.upper()} {a.value:.4f}  " if a.value is not None else ""
        return value + ("used" if a.used else "not used" + (": " + a.reason if a.reason else ""))

    lines = [f"{a.structure:<{width}}  {status(a)}" for a in attempts]
    return "\n".join([title, "-" * len(title), *lines]) + "\n"


def _parms_table(s) -> pd.DataFrame:
    """The covariance parameter values given (SAS PARMS): each value and how it was used."""
    use = "used as given (NOITER)" if s.noiter else "starting value"
    rows = {name: (value, use) for name, value in s.start}
    rows.update({name: (value, "held (HOLD=)") for name, value in s.fixed})
    return pd.DataFrame.from_dict(rows, orient="index", columns=["value", "use"]).rename_axis("parameter")


def _null_model_text(test) -> list[str]:
    """SAS's "Null Model Likelihood Ratio Test" table, none for a model without one."""
    if test is None:
        return []
    frame = pd.DataFrame({"DF": [test.df], "Chi-Square": [test.chisq], "Pr > ChiSq": [test.p]},
                         index=[""])
    return [_table("Null Model Likelihood Ratio Test", frame, "{:.4g}")]


def format_summary(fit) -> str:
    s = fit.settings
    repeated = {} if s.linear else {"Repeated Effect": ", ".join(s.visit), "Subject Effect": s.subject}
    info = pd.Series({
        "Dependent Variable": s.response, **repeated,
        "Covariance Structure": describe_covariance(fit).sas(),
        "Weight Variable": s.weights or "none", "Estimation Method": describe_estimation(fit),
        "Fixed Effects SE Method (vcov)": s.vcov, "Degrees of Freedom Method (ddf)": s.ddf,
        **({} if s.linear else {"Optimizer": f"{fit.optimizer} ({fit.n_iter} iterations, "
                                             f"{'converged' if fit.converged else 'NOT converged'})"}),
    }, name="value").to_frame()
    levels = {f"Levels of {lv.factor}": lv.labels.size for lv in fit.design.outer}
    units = {"Residual DF": fit.df_residual} if s.linear else {"Subjects": fit.n_subjects_read,
                                                                "Subjects Used": fit.n_subjects}
    dims = pd.Series({
        "Covariance Parameters": fit.n_covariance_parameters, "Columns in X (estimable)": fit.n_fixed,
        **levels, **units, "Number of Observations Read": fit.n_obs + fit.n_obs_dropped,
        "Number of Observations Used": fit.n_obs, "Number of Observations Not Used": fit.n_obs_dropped,
    }, name="value").to_frame()
    label = "Res Log Likelihood" if s.method == "REML" else "Log Likelihood"
    stats = pd.DataFrame(
        {"value": [-2 * fit.loglik, fit.aic, fit.aicc, fit.bic]},
        index=[f"-2 {label}", "AIC (Smaller is Better)", "AICC (Smaller is Better)",
               "BIC (Smaller is Better)"],
    )
    parts = [
        f"trialmlm {'linear model' if s.linear else 'MMRM'} fit: {s.formula}\n",
        _table("Model Information", info),
        _table("Dimensions", dims),
        _table("Fit Statistics", stats, "{:.4f}"),
        *([_table("Parameter Search (PARMS)", _parms_table(s))] if s.start or s.fixed else []),
        *_null_model_text(fit.null_model_test),
        _table("Covariance Parameter Estimates", fit.covariance_parameters_table()),
        _table("Solution for Fixed Effects", fit.coef_table().drop(columns=["lower", "upper"])),
    ]
    if len(fit.covariance_attempts) > 1:
        parts.append(_attempts_text(fit.covariance_attempts))
    if fit.aliased:
        parts.append("Aliased (dropped) fixed effects: " + ", ".join(fit.aliased) + "\n")
    if fit.design.dropped_by_column:
        parts.append("Rows dropped for missing values, by column: "
                     + ", ".join(f"{c}: {n}" for c, n in fit.design.dropped_by_column.items()) + "\n")
    if fit.boundary:
        parts.append(f"NOTE: {boundary_note(fit.boundary)}\n")
    for w in fit.warnings:
        if not w.startswith("aliased"):
            parts.append(f"WARNING: {w}\n")
    return "\n".join(parts)


__all__ = ["format_summary"]
