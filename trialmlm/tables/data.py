"""Tables of the data: descriptive statistics and missing data (patterns, dropout, Kaplan-Meier).

The missing-data tables format the outputs of :mod:`trialmlm.missing` (``patterns``,
``dropout_table``, ``time_to_dropout``); :func:`missing_data_tables` runs all three.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import missing
from ..engine.design import factor_levels
from ..errors import DataError
from ..missing.patterns import require_columns
from .formats import decimals_for, fmt_ci, fmt_number, p_statement
from .table import Table, blank_repeats, display_label, plain, with_unit


def summary_statistics(df: pd.DataFrame, arm: str | None, visit: str, response: str) -> pd.DataFrame:
    """Tidy ``visit, arm, n, mean, sd, median, min, max`` of the observed ``response``.

    Every arm x visit combination is listed (n = 0 and empty statistics when nothing was
    observed); visits and arms in the fit's order (Categorical order, else natural sort).
    ``sd`` is the sample standard deviation (n - 1 divisor).
    """
    require_columns(df, {"arm": arm, "visit": visit, "response": response})
    arms = factor_levels(df[arm]) if arm is not None else ["All subjects"]
    group = df[arm] if arm is not None else pd.Series("All subjects", index=df.index)
    rows = []
    for v in factor_levels(df[visit]):
        for a in arms:
            y = df.loc[(df[visit] == v) & (group == a), response].dropna().to_numpy(dtype=float)
            rows.append({"visit": v, "arm": a, "n": int(y.size),
                         "mean": y.mean() if y.size else np.nan,
                         "sd": y.std(ddof=1) if y.size > 1 else np.nan,
                         "median": np.median(y) if y.size else np.nan,
                         "min": y.min() if y.size else np.nan, "max": y.max() if y.size else np.nan})
    return plain(pd.DataFrame(rows))


def summary_table(df: pd.DataFrame, arm: str | None, visit: str, response: str, decimals: int | None = None,
                  unit: str | None = None, labels: Mapping | None = None, title: str | None = None,
                  footnotes: Sequence[str] = ()) -> Table:
    """n, mean, SD, median, min and max of ``response`` by visit and arm.

    Decimals (:func:`trialmlm.tables.formats.decimals_for`): :math:`d` = ``decimals``, default the
    precision of ``response`` (1 when it has more than 2 decimals) for min and max,
    :math:`d+1` for mean and median, :math:`d+2` for SD.
    """
    data = summary_statistics(df, arm, visit, response)
    d = decimals_for(df[response], decimals)
    rows = [[v, str(r.arm), str(r.n), fmt_number(r.mean, d.mean), fmt_number(r.sd, d.sd),
             fmt_number(r.median, d.mean),
             "" if r.n == 0 else f"{fmt_number(r.min, d.data)}, {fmt_number(r.max, d.data)}"]
            for v, r in zip(blank_repeats(data["visit"]), data.itertuples())]
    columns = [display_label(labels, visit), display_label(labels, arm) if arm else "", "n",
               *(with_unit(h, unit) for h in ("Mean", "SD", "Median", "Min, Max"))]
    name = display_label(labels, response)
    return Table(title or f"Summary of {name} by {display_label(labels, visit)}" + (
        f" and {display_label(labels, arm)}" if arm else ""), columns, rows, data,
        (f"Observed values of {response}; SD: standard deviation (n - 1 divisor).",) + tuple(footnotes),
        ("l", "l", "c", "r", "r", "r", "c"))


def _snake(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_") or "missing"


def pattern_table(patterns: pd.DataFrame, title: str | None = None, labels: Mapping | None = None,
                  footnotes: Sequence[str] = ()) -> Table:
    """Missing-data patterns from :func:`trialmlm.missing.patterns` (per arm if it has one).

    Tidy columns ``[arm,] pattern, type, n, percent``; the pattern string shows ``X``
    (observed) or ``.`` (missing) at each visit in order.
    """
    cols = list(patterns.columns)
    if "pattern" not in cols:
        raise DataError("not a patterns() table: no 'pattern' column")
    arm = cols[0] if cols.index("pattern") == 1 else None
    visits = [c for c in cols[cols.index("percent") + 1:]]
    data = patterns[([arm] if arm else []) + ["pattern", "type", "n", "percent"]]
    data = plain(data.rename(columns={arm: "arm"} if arm else {}))
    rows = [([g] if arm else []) + [r.pattern, r.type, str(r.n), fmt_number(r.percent, 1)]
            for g, r in zip(blank_repeats(data["arm"]) if arm else [None] * len(data), data.itertuples())]
    head = "Pattern\n(" + " ".join(map(str, visits)) + ")" if visits else "Pattern"
    columns = ([display_label(labels, arm)] if arm else []) + [head, "Type", "n", "%"]
    notes = ("X: observed; .: missing. Monotone: observed up to a visit and missing at every later "
             "one; intermittent: a missing visit followed by an observed one. "
             + ("% of the arm's subjects." if arm else "% of all subjects."),)
    return Table(title or "Missing-data patterns", columns, rows, data, notes + tuple(footnotes),
                 ("l",) * (len(columns) - 3) + ("c", "c", "c"))


def dropout_by_visit_table(dropout: pd.DataFrame, title: str | None = None, labels: Mapping | None = None,
                           footnotes: Sequence[str] = ()) -> Table:
    """Subjects expected, observed and dropping out per arm and visit, from
    :func:`trialmlm.missing.dropout_table` (with one column per reason if it has them).

    Tidy columns ``[arm,] visit, n_expected, n_observed, n_dropout,
    cumulative_dropout_percent`` and ``dropout_<reason>`` per reason.
    """
    cols = list(dropout.columns)
    if "n_expected" not in cols:
        raise DataError("not a dropout_table() table: no 'n_expected' column")
    i = cols.index("n_expected")
    arm, visit = (cols[0], cols[1]) if i == 2 else (None, cols[0])
    reasons = cols[cols.index("cumulative_dropout_percent") + 1:]
    rename = {visit: "visit", **({arm: "arm"} if arm else {}), **{r: f"dropout_{_snake(r)}" for r in reasons}}
    data = plain(dropout.rename(columns=rename))
    groups = blank_repeats(data["arm"]) if arm else [None] * len(data)
    rows = []
    for g, (_, r) in zip(groups, data.iterrows()):
        rows.append(([g] if arm else []) + [str(r["visit"]), str(int(r["n_expected"])),
                                            str(int(r["n_observed"])), str(int(r["n_dropout"])),
                                            fmt_number(r["cumulative_dropout_percent"], 1)]
                    + [str(int(r[rename[x]])) for x in reasons])
    columns = ([display_label(labels, arm)] if arm else []) + [
        display_label(labels, visit), "Expected", "Observed", "Dropped out", "Cumulative\n% dropped out"] + [
        f"Reason:\n{x}" for x in reasons]
    notes = ("Expected: subjects who had not dropped out before the visit; dropped out: subjects "
             "whose first visit after their last observed response it is; cumulative % of the arm's "
             "subjects.",)
    return Table(title or "Dropout by visit", columns, rows, data, notes + tuple(footnotes),
                 ("l",) * (len(columns) - 4 - len(reasons)) + ("c",) * (4 + len(reasons)))


def km_dropout_table(survival, decimals: int = 3, title: str | None = None, labels: Mapping | None = None,
                     footnotes: Sequence[str] = ()) -> Table:
    """Kaplan-Meier proportion still in the study (CI) and number at risk per arm and
    visit, from :class:`trialmlm.missing.DropoutSurvival`; medians and the log-rank test
    in the footnotes.

    Tidy columns ``[arm,] visit, time, n_at_risk, survival, lower, upper``.  Proportions
    and their limits have ``decimals`` decimals; times and median times the precision of
    the visit times (:func:`trialmlm.tables.formats.decimals_for`); chi-square 2 decimals.
    """
    table = survival.survival
    cols = list(table.columns)
    i = cols.index("time")
    arm, visit = (cols[0], cols[1]) if i == 2 else (None, cols[0])
    data = plain(table.rename(columns={visit: "visit", **({arm: "arm"} if arm else {})}))
    groups = blank_repeats(data["arm"]) if arm else [None] * len(data)
    d_time = decimals_for(data["time"]).data
    rows = [([g] if arm else []) + [str(r.visit), fmt_number(r.time, d_time), str(int(r.n_at_risk)),
                                    fmt_number(r.survival, decimals), fmt_ci(r.lower, r.upper, decimals)]
            for g, r in zip(groups, data.itertuples())]
    columns = ([display_label(labels, arm)] if arm else []) + [
        display_label(labels, visit), "Time", "Number at risk", "Proportion still\nin study", "95% CI"]
    med = survival.median
    medians = "; ".join((f"{r[arm]} " if arm else "") + fmt_number(r["median"], d_time) + " "
                        + fmt_ci(r["lower"], r["upper"], d_time) for _, r in med.iterrows())
    notes = [f"Median time to dropout (95% CI): {medians}. NE: not estimable (not reached).",
             "Kaplan-Meier estimate; CI: exponential Greenwood (log-log). Subjects observed at the "
             "last visit are censored there."]
    lr = survival.logrank
    if lr is not None and len(lr):
        notes.append(f"Log-rank test: chi-square {fmt_number(lr['statistic'].iloc[0], 2)} on "
                     f"{int(lr['df'].iloc[0])} df, {p_statement(lr['p'].iloc[0])}.")
    return Table(title or "Time to dropout (Kaplan-Meier)", columns, rows, data,
                 tuple(notes) + tuple(footnotes), ("l",) * (len(columns) - 4) + ("c", "c", "c", "c"))


def missing_data_tables(df: pd.DataFrame, subject: str, visit: str, response: str, arm: str | None = None,
                        time: str | None = None, reason: str | None = None,
                        labels: Mapping | None = None) -> dict[str, Table]:
    """The three missing-data tables: ``{"patterns": ..., "dropout": ..., "time_to_dropout": ...}``.

    Runs :func:`trialmlm.missing.patterns`, :func:`~trialmlm.missing.dropout_table` (with
    ``reason``) and :func:`~trialmlm.missing.time_to_dropout` (with ``time``) and formats
    them with :func:`pattern_table`, :func:`dropout_by_visit_table` and
    :func:`km_dropout_table`.
    """
    return {
        "patterns": pattern_table(missing.patterns(df, subject, visit, response, arm), labels=labels),
        "dropout": dropout_by_visit_table(missing.dropout_table(df, subject, visit, response, arm, reason),
                                          labels=labels),
        "time_to_dropout": km_dropout_table(missing.time_to_dropout(df, subject, visit, response, arm, time),
                                            labels=labels),
    }
