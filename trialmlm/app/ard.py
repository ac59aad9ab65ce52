"""``ard.csv`` and ``ard.json``: the numbers of ``analysis_results.json`` as an Analysis Results
Dataset (ARD), one row per statistic, in the long layout of the pharmaverse's cards/cardx
packages and of the CDISC Analysis Results Standard (ARS); the mapping is in docs/report.md.

Columns (:data:`COLUMNS`): ``analysis_id`` (the parameter and the section, e.g.
``HAMD17_lsmeans``), ``analysis_method`` (model, estimation, structure, df), ``parameter``
(PARAMCD), ``visit``; the cards columns ``group1, group1_level`` (the visit column and level
the statistic is by), ``variable, variable_level`` (the column and level it is of, e.g. the arm
or the contrast "Drug - Placebo"), ``context``, ``stat_name`` (cards' names: ``estimate``,
``std.error``, ``df``, ``conf.low``, ``conf.high``, ``p.value``, ``statistic``, ``N``, ...),
``stat_label``, ``stat`` (the double of ``analysis_results.json``, or a count or a flag) and
``warning`` (why ``stat`` is missing: a number the model cannot estimate is a row with an
empty ``stat`` and the warning "not estimable", never a silent NaN).

Rows are built from the document that ``analysis_results.json`` is written from, which holds
the very numbers of the report's tables (:mod:`trialmlm.app.analysis_results`).  The entries
of :data:`SECTIONS` become rows; any other entry of the document (the binary endpoint's GEE
tables, the intercurrent-event records) is named in ``ard.json``'s ``left_out``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SCHEMA = "trialmlm.app.ard/1"
COLUMNS = ("analysis_id", "analysis_method", "parameter", "visit", "group1", "group1_level", "variable",
           "variable_level", "context", "stat_name", "stat_label", "stat", "warning")
#: ``analysis_results.json`` field -> (cards ``stat_name``, ``stat_label``).
STATS = {
    "estimate": ("estimate", "Estimate"), "se": ("std.error", "Standard Error"),
    "df": ("df", "Degrees of Freedom"), "lower": ("conf.low", "CI Lower Limit"),
    "upper": ("conf.high", "CI Upper Limit"), "p": ("p.value", "p-value"),
    "num_df": ("num.df", "Num DF"), "den_df": ("den.df", "Den DF"), "f": ("statistic", "F Value"),
    "records": ("n_records", "Records"), "subjects": ("N", "Subjects"),
    "minus2_loglik": ("minus2_loglik", "-2 Log Likelihood"), "aic": ("AIC", "AIC (Smaller is Better)"),
    "aicc": ("AICC", "AICC (Smaller is Better)"), "bic": ("BIC", "BIC (Smaller is Better)"),
    "n_subjects": ("N", "Subjects Used"), "n_obs": ("n_obs", "Observations Used"),
    "converged": ("converged", "Converged"), "iterations": ("iterations", "Iterations"),
    "positive_definite": ("positive_definite", "Positive-Definite Hessian"), "used": ("chosen", "Chosen"),
    "value": ("criterion", "Criterion"), "n_parameters": ("n_parameters", "Covariance Parameters Counted"),
    "with_ice": ("n_ice", "Subjects with an ICE"), "imputed": ("n_imputed", "Imputed"),
    "excluded": ("n_excluded", "Excluded"),
}


@dataclass(frozen=True)
class Section:
    """How the rows of one list of ``analysis_results.json`` become ARD rows: its ``context``,
    the field naming the ``variable_level`` (``level``; None: the field ``variable`` names the
    variable itself, as a type III test's effect), the ``variable`` it is a level of (a
    setting's name such as ``"arm"``, whose value is the column, or a fixed text), and its
    statistics (fields of :data:`STATS`); ``model``: the analysis method is the model's."""

    context: str
    level: str | None
    variable: str
    stats: tuple[str, ...]
    setting: bool = True
    model: bool = True

    def rows(self, entries: list[dict], settings: dict, method: str, analysis_id: str) -> list[dict]:
        out = []
        for entry in entries:
            visit = entry.get("visit")
            if self.level is None:
                variable, level = entry[self.variable], None
            else:
                variable = settings.get(self.variable) if self.setting else self.variable
                level = entry.get(self.level)
            if self.context == "difference":
                level = f"{level} - {entry['reference']}"
            for name in self.stats:
                if name not in entry:
                    continue
                stat_name, label = STATS[name]
                if name == "value":
                    stat_name = entry["criterion"].upper()
                    label = f"{stat_name} (Smaller is Better)"
                value = entry[name]
                group = settings["visit"] if visit is not None else None
                out.append({"analysis_id": analysis_id, "analysis_method": method,
                            "parameter": settings["param"], "visit": visit, "group1": group,
                            "group1_level": visit, "variable": variable, "variable_level": level,
                            "context": self.context, "stat_name": stat_name, "stat_label": label,
                            "stat": value, "warning": _warning(value, entry)})
        return out


def _warning(value, entry: dict) -> str | None:
    """Why a statistic is missing: the reason of a covariance structure that was not usable,
    else "not estimable" (aliased columns of the model)."""
    if value is not None:
        return None
    return entry.get("reason") or "not estimable (the model's aliased columns leave no unique estimate)"


ESTIMATES = ("estimate", "se", "df", "lower", "upper")
#: The entries of ``analysis_results.json`` turned into rows, by key.
SECTIONS = {
    "subjects": Section("subjects", "arm", "arm", ("subjects", "records"), model=False),
    "lsmeans": Section("lsmeans", "arm", "arm", ESTIMATES),
    "differences": Section("difference", "arm", "arm", (*ESTIMATES, "p")),
    "type3": Section("type3", None, "effect", ("num_df", "den_df", "f", "p")),
}
FIT = Section("fit_statistics", "structure", "covariance structure",
              ("minus2_loglik", "aic", "aicc", "bic", "n_subjects", "n_obs", "converged", "iterations"),
              setting=False)
SELECTION = Section("covariance_selection", "structure", "covariance structure",
                    ("minus2_loglik", "n_parameters", "value", "converged", "positive_definite", "used"),
                    setting=False)
RECORDS = Section("records", "step", "records", ("records", "subjects"), setting=False, model=False)
ICE = Section("intercurrent_events", "arm", "arm", ("subjects", "with_ice", "imputed", "excluded"))


def _method(settings: dict, fit: dict) -> str:
    """The analysis method in words: model, estimation, structure, df."""
    return (f"{settings['model'].upper()}, {fit.get('method')}, {fit.get('structure')} covariance, "
            f"ddf={fit.get('ddf')}")


def ard_rows(document: dict) -> tuple[pd.DataFrame, list[str]]:
    """The ARD of an ``analysis_results.json`` document (the dict it is written from) and the
    keys of the entries left out (not in :data:`SECTIONS`)."""
    settings = {**document["settings"]}
    settings["param"] = settings.get("param") or settings.get("response")
    fits = document.get("fit", {})
    fits = fits if isinstance(fits, list) else [fits]
    method = _method(settings, fits[0]) if fits and "structure" in fits[0] else None
    prefix = settings["param"]
    records = document["records"]
    flow = [{"step": "read", **records["read"]},
            *[{**e, "step": f"excluded: {e['reason']}"} for e in records["excluded"]],
            {"step": "analysed", **records["analysed"]}]
    rows = RECORDS.rows(flow, settings, "counts", f"{prefix}_records")
    for key, section in SECTIONS.items():
        if key in document and (method is not None or not section.model):
            rows += section.rows(document[key], settings, method if section.model else "counts",
                                 f"{prefix}_{section.context}")
    if method is not None:
        for fit in fits:
            rows += FIT.rows([fit], settings, method, f"{prefix}_fit")
            chosen = [a for a in fit.get("covariance_attempts", []) if a.get("criterion")]
            rows += SELECTION.rows([{**a, "visit": fit["visit"]} for a in chosen], settings, method,
                                   f"{prefix}_covariance_selection")
    for estimand in document.get("estimands", []):
        how = f"{estimand['method']} imputation, {estimand['handling']}"
        name = f"{prefix}_estimand_{estimand['estimand']}"
        rows += SECTIONS["lsmeans"].rows(estimand["lsmeans"], settings, how, f"{name}_lsmeans")
        rows += SECTIONS["differences"].rows(estimand["differences"], settings, how, f"{name}_difference")
        rows += ICE.rows(estimand["ice"], settings, how, f"{name}_ice")
    covered = {"schema", "settings", "records", "arms", "software", "fit", "estimands", *SECTIONS}
    if method is None:
        covered -= {"fit"}
    left_out = [k for k in document if k not in covered]
    return pd.DataFrame(rows, columns=list(COLUMNS)), left_out


def write_ard(folder, document: dict) -> list[Path]:
    """``ard.csv`` and ``ard.json`` in ``folder`` (module docstring); numbers as in
    ``analysis_results.json`` (shortest round-trip text of each double)."""
    table, left_out = ard_rows(document)
    folder = Path(folder)
    csv, js = folder / "ard.csv", folder / "ard.json"
    table.to_csv(csv, index=False)
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    document = {"schema": SCHEMA, "columns": list(COLUMNS), "rows": rows, "left_out": left_out}
    js.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return [csv, js]
