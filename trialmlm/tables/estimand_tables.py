"""Tables of the estimand analyses (:mod:`trialmlm.app.estimand_report`): each estimand's ICE handling
and result, and the intercurrent events by arm."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .formats import decimals_for, fmt_ci, fmt_estimate_se, fmt_number, fmt_p
from .table import Table, blank_repeats, plain, with_unit

ESTIMAND_COLUMNS = ("estimand", "handling", "contrast", "visit", "estimate", "se", "df", "lower", "upper",
                    "p")


def estimand_results(estimands, reference, alpha: float = 0.05, visit=None) -> pd.DataFrame:
    """One row per estimand and contrast at ``visit`` (default: the last visit): each arm
    minus ``reference`` from ``result.compare``; columns :data:`ESTIMAND_COLUMNS`."""
    rows = []
    for e in estimands.estimands:
        table = e.result.compare(reference=reference, alpha=alpha)
        vname = e.result.visit
        at = table[vname].iloc[-1] if visit is None else visit
        part = table.loc[table[vname] == at]
        rows.append(part.assign(estimand=e.name, handling=e.handling, visit=at))
    return plain(pd.concat(rows, ignore_index=True)[list(ESTIMAND_COLUMNS)])


def estimand_table(estimands, reference, alpha: float = 0.05, decimals: int | None = None,
                   response=None, unit: str | None = None, title: str | None = None,
                   footnotes: Sequence[str] = ()) -> Table:
    """Each estimand's ICE handling and its treatment differences at the last visit.

    Without a standard error (percentile bootstrap) the estimate stands alone, with a footnote.
    Estimates and limits with :math:`d + 1` decimals, SEs with :math:`d + 2` (``decimals``
    = :math:`d`, default from ``response``, as the other tables)."""
    data = estimand_results(estimands, reference, alpha)
    d = decimals_for(response if response is not None else data["estimate"], decimals)
    names = blank_repeats(data["handling"])
    rows = [[names[i], r["contrast"], fmt_estimate_se(r["estimate"], r["se"], d.mean, d.sd)
             if np.isfinite(r["se"]) else fmt_number(r["estimate"], d.mean),
             fmt_ci(r["lower"], r["upper"], d.mean), fmt_p(r["p"])] for i, r in data.iterrows()]
    if not np.isfinite(data["se"]).all():
        footnotes = ("Percentile bootstrap: no standard error; the interval and the p-value come from the "
                     "bootstrap distribution (R rbmi pool(type = \"percentile\")).", *footnotes)
    columns = ["Estimand (intercurrent events)", "Contrast", with_unit("Estimate (SE)", unit),
               f"{100 * (1 - alpha):g}% CI", "p-value"]
    visit = data["visit"].iloc[0]
    return Table(title or f"Estimands: differences from {reference} at {visit}", columns, rows, data,
                 tuple(footnotes), ("l", "l", "c", "c", "c"))


def ice_counts(estimands) -> pd.DataFrame:
    """Per estimand and arm: subjects, subjects with an ICE, values imputed, observed values
    after a non-MAR ICE left out of the imputation model (``ice_summary`` summed over
    strategies)."""
    parts = []
    for e in estimands.estimands:
        summary = e.result.ice_summary()
        arm = summary.columns[0]
        counts = (summary.groupby(arm, sort=False)[["subjects", "with_ice", "imputed", "excluded"]].sum()
                  .reset_index().rename(columns={arm: "arm"}))
        parts.append(counts.assign(estimand=e.name, handling=e.handling))
    out = pd.concat(parts, ignore_index=True)
    return plain(out[["estimand", "handling", "arm", "subjects", "with_ice", "imputed", "excluded"]])


def ice_table_counts(estimands, arm_label: str = "Arm", title: str | None = None,
                     footnotes: Sequence[str] = ()) -> Table:
    """:func:`ice_counts` as a table."""
    data = ice_counts(estimands)
    names = blank_repeats(data["handling"])
    rows = [[names[i], str(r["arm"]), str(r["subjects"]), str(r["with_ice"]), str(r["imputed"]),
             str(r["excluded"])] for i, r in data.iterrows()]
    columns = ["Estimand (intercurrent events)", arm_label, "Subjects", "Subjects\nwith ICE",
               "Values\nimputed", "Observed values\nnot used"]
    notes = (f"ICE: {estimands.source}.",
             "Observed values not used: observed after a non-MAR intercurrent event, left out of the "
             "imputation model's fit (they stay in the analysed data), as in R rbmi.") + tuple(footnotes)
    return Table(title or "Intercurrent events by estimand and arm", columns, rows, data, notes,
                 ("l", "l", "r", "r", "r", "r"))
