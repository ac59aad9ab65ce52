"""``analysis_results.json``: every number of a report at full precision, for QC double programming.

Schema ``trialmlm.app.analysis_results/1`` (documented in ``docs/report.md``)::

    {
      "schema": "trialmlm.app.analysis_results/1",
      "settings":    {every AnalysisConfig field},
      "records":     {"read": {"records", "subjects"},
                      "excluded": [{"step", "reason", "records", "subjects"}, ...],
                      "analysed": {"records", "subjects"},
                      "adsl": {"source", "adsl_subjects", "merged_subjects", "missing_subjects",
                               "unused_subjects", "keys", "added", "conflicts": [{"variable",
                               "subjects", "records", "subject", "bds", "adsl"}, ...]}
                               -- only with an ADSL merge (settings "adsl": its path)},
      "subjects":    [{"arm", "subjects", "records"}, ...]        (analysed, table order),
      "arms":        [arm, ...]                                    (table order, reference first),
      "fit":         {"visit", "formula", "method", "structure", "minus2_loglik", "aic", "aicc", "bic",
                      "converged", "iterations", "optimizer", "n_subjects", "n_obs", "ddf", "vcov",
                      "covariance_attempts": [...]}
                     -- or a list of such objects, one per visit, for ANCOVA at every visit,
      "lsmeans":     [{"arm", "visit", "estimate", "se", "df", "lower", "upper"}, ...],
      "differences": [{"arm", "reference", "visit", "estimate", "se", "df", "lower", "upper", "p"}, ...],
      "type3":       [{"visit", "effect", "num_df", "den_df", "f", "p"}, ...],
      "estimands":   [{"estimand", "handling", "method", "ice_source",
                       "lsmeans": [...], "differences": [...] (every visit, as above),
                       "ice": [{"arm", "subjects", "with_ice", "imputed", "excluded"}, ...]}, ...]
                     -- only when the report has estimand analyses,
      "software":    {"Python": ..., "trialmlm": ..., ...}
    }

A binary endpoint (``endpoint="binary"``, the GEE) has, in place of ``fit`` ...
``type3``::

      "fit":              {"formula", "family", "link", "working", "alpha": {name: value}, "scale",
                           "converged", "iterations", "n_subjects", "n_obs", "vcov", "qic", "qicu"},
      "responders":       [{"visit", "arm", "responders", "n", "percent", "lower", "upper"}, ...],
      "probabilities":    [{"visit", "arm", "probability", "probability_se", "probability_lower",
                            "probability_upper", "odds_ratio", "odds_ratio_lower", "odds_ratio_upper",
                            "log_odds_ratio", "log_odds_ratio_se", "p"}, ...],
      "marginal_effects": [{"visit", "contrast", "arm", "reference", "estimate", "se", "df", "t", "p",
                            "lower", "upper"}, ...]     (contrasts diff, rr, or; Ye variance),
      "gee_parameters":   [{"term", "estimate", "se", "df", "z", "p", "lower", "upper"}, ...],
      "intercurrent":     {"strategy", "source", "records": [{"subject", "visit", "arm", "observed",
                           "action"}, ...]}        -- only with intercurrent-event handling

Numbers are written with Python's shortest round-trip representation (``repr`` of the
double), so reading the file back gives the very doubles of the fit; a missing value
(not estimable) is ``null``.  ``visit`` is ``null`` for a model without visits (slopes).
For the trajectory model ``lsmeans`` and ``differences`` hold slopes per unit of time.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd

SCHEMA = "trialmlm.app.analysis_results/1"


def _plain(value):
    """JSON-ready scalar: numpy numbers as Python numbers, NaN/inf and missing as None."""
    if value is None:
        return None
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return bool(value)
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (int, str)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _rows(frame: pd.DataFrame, columns: dict) -> list[dict]:
    """``frame``'s rows with columns renamed by ``columns`` (source -> JSON name)."""
    return [{new: _plain(r[old]) if old is not None else None for old, new in columns.items()}
            for _, r in frame.iterrows()]


def frame_rows(frame: pd.DataFrame) -> list[dict]:
    """Every row of ``frame`` as a JSON object of all its columns."""
    return _rows(frame, {c: c for c in frame.columns})


def gee_summary(fit) -> dict:
    """The settings, working correlation, convergence and QIC of a GEE fit."""
    qic = fit.qic()
    return {"formula": f"{fit.formula.response} ~ {fit.design.encoding.formula}",
            "family": fit.settings.family,
            "link": fit.settings.link, "working": fit.settings.working,
            "alpha": {k: _plain(v) for k, v in fit.alpha.items()}, "scale": _plain(fit.scale),
            "converged": bool(fit.converged), "iterations": int(fit.estimate.iterations),
            "n_subjects": int(fit.design.n_subjects), "n_obs": len(fit.design.y), "vcov": fit.settings.vcov,
            "qic": _plain(qic["QIC"]), "qicu": _plain(qic["QICu"])}


def glmm_summary(fit) -> dict:
    """The settings, fit statistics and convergence of a GLMM fit."""
    s = fit.settings
    return {"formula": f"{fit.formula.response} ~ {fit.design.encoding.formula}", "family": s.family,
            "link": s.link, "method": s.method, "n_points": int(s.n_points), "random": list(fit.random_names),
            "subject": fit.formula.subject, "minus2_loglik": _plain(-2 * fit.loglik), "aic": _plain(fit.aic),
            "bic": _plain(fit.bic), "n_parameters": int(fit.n_parameters), "converged": bool(fit.converged),
            "iterations": int(fit.iterations), "n_subjects": int(fit.n_subjects), "n_obs": int(fit.n_obs),
            "notes": list(fit.warnings)}


def fit_summary(fit, visit=None) -> dict:
    """The fit statistics and settings of one fit."""
    attempts = getattr(fit, "covariance_attempts", ())
    return {
        "visit": _plain(visit), "formula": fit.settings.formula, "method": fit.settings.method,
        "structure": fit.settings.structure, "minus2_loglik": _plain(-2 * fit.loglik), "aic": _plain(fit.aic),
        "aicc": _plain(fit.aicc), "bic": _plain(fit.bic), "converged": bool(fit.converged),
        "iterations": int(fit.n_iter), "optimizer": fit.optimizer, "n_subjects": int(fit.n_subjects),
        "n_obs": int(fit.n_obs), "ddf": fit.settings.ddf, "vcov": fit.settings.vcov,
        "covariance_attempts": [{k: _plain(v) for k, v in dataclasses.asdict(a).items()} for a in attempts],
    }


def estimate_rows(table: pd.DataFrame, arm: str, visit: str | None, at=None, **fixed) -> list[dict]:
    """Rows of ``fit.lsmeans(arm, by=visit)`` or ``fit.compare(...)`` (or of a slope table) as
    JSON objects ``arm, visit, estimate, se, df, lower, upper[, p]``; ``visit`` is ``at``
    when the table has no visit column; ``fixed`` adds constant fields (``reference=``)."""
    names = {arm: "arm", "estimate": "estimate", "se": "se", "df": "df", "lower": "lower", "upper": "upper"}
    if "p" in table.columns:
        names["p"] = "p"
    if visit in table.columns:
        names = {visit: "visit", **names}
    rows = _rows(table, names)
    for r in rows:
        r.setdefault("visit", _plain(at))
        r.update({k: _plain(v) for k, v in fixed.items()})
    return rows


def type3_rows(table: pd.DataFrame, at=None) -> list[dict]:
    """Rows of ``fit.anova()`` as JSON objects."""
    frame = table.reset_index()
    return [{"visit": _plain(at), "effect": str(r["term"]), "num_df": _plain(r["num_df"]),
             "den_df": _plain(r["den_df"]), "f": _plain(r["F"]), "p": _plain(r["p"])}
            for _, r in frame.iterrows()]


def estimand_entries(estimands, reference, alpha: float) -> list[dict]:
    """The ``estimands`` entries of :class:`trialmlm.app.estimand_report.Estimands`."""
    from ..tables.estimand_tables import ice_counts

    counts = ice_counts(estimands)
    out = []
    for e in estimands.estimands:
        arm, visit = e.result.arm, e.result.visit
        ice = counts.loc[counts["estimand"] == e.name]
        out.append({
            "estimand": e.name, "handling": e.handling, "method": estimands.method,
            "ice_source": estimands.source,
            "lsmeans": estimate_rows(e.result.lsmeans(alpha=alpha), arm, visit),
            "differences": estimate_rows(e.result.compare(reference=reference, alpha=alpha), arm, visit,
                                         reference=reference),
            "ice": _rows(ice, {c: c for c in ("arm", "subjects", "with_ice", "imputed", "excluded")})})
    return out


def _adsl_entry(merge) -> dict:
    """The ADSL merge (:class:`trialmlm.data.adsl.AdslMerge`) as JSON values."""
    lists = ("keys", "added", "conflicts")
    entry = {k: _plain(v) for k, v in dataclasses.asdict(merge).items() if k not in lists}
    return {**entry, "keys": list(merge.keys), "added": list(merge.added),
            "conflicts": [{"variable": c.variable, "subjects": c.subjects, "records": c.records,
                           "subject": _plain(c.subject), "bds": _plain(c.bds), "adsl": _plain(c.adsl)}
                          for c in merge.conflicts]}


def write_analysis_results(path, document: dict) -> Path:
    """Write the :func:`results_document` ``document`` as JSON (numbers as the shortest
    round-trip text of each double, missing values ``null``)."""
    path = Path(path)
    path.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def results_document(*, settings: dict, counts, by_arm: pd.DataFrame, arms: list, software: dict,
                     **entries) -> dict:
    """The document of the file (see the module docstring): the records and arms, then
    ``entries`` (each analysis kind's: ``fit`` a dict or a list of dicts, ``lsmeans``, ...),
    then the software; every value JSON-ready."""
    return {
        "schema": SCHEMA,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
        "records": {"read": {"records": counts.read_records, "subjects": counts.read_subjects},
                    "excluded": [dataclasses.asdict(e) for e in counts.exclusions],
                    "analysed": {"records": counts.records, "subjects": counts.subjects},
                    **({} if counts.adsl is None else {"adsl": _adsl_entry(counts.adsl)})},
        "subjects": _rows(by_arm, {"arm": "arm", "subjects": "subjects", "records": "records"}),
        "arms": [_plain(a) for a in arms],
        **entries, "software": software,
    }
