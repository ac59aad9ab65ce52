"""The subgroup table: the treatment differences at the primary visit within each subgroup
level and the treatment-by-subgroup interaction tests (:func:`trialmlm.subgroups`)."""

from __future__ import annotations

from collections.abc import Sequence

from .formats import NOT_ESTIMABLE, fmt_ci, fmt_estimate_se, fmt_p
from .table import Table, blank_repeats, display_label, with_unit


def subgroup_table(result, decimals: int = 1, unit: str | None = None, labels: dict | None = None,
                   title: str | None = None, footnotes: Sequence[str] = ()) -> Table:
    """One row per subgroup level and contrast, the overall effect first: Subgroup, Level,
    Comparison, n (arm / reference), Difference (SE), CI, p-value and, on each variable's first
    row, the p-value of the interaction at the visit and over all visits (type III).

    Differences with :math:`d + 1` decimals and SEs with :math:`d + 2` (:math:`d` = ``decimals``),
    as :func:`trialmlm.tables.mmrm_table`; an NE row gives its reason in a footnote.  The tidy
    data are :attr:`SubgroupResult.table` with the interaction p-values (``p_interaction``,
    ``p_interaction_visits``) on every row of their variable.
    """
    labels = {**result.labels, **(labels or {})}
    table = result.table.copy()
    at, over = result.interaction_p("at visit"), result.interaction_p("over visits")
    table["p_interaction"] = table["variable"].map(at)
    table["p_interaction_visits"] = table["variable"].map(over)
    first = ~table["variable"].duplicated()
    variables = blank_repeats([display_label(labels, v) for v in table["variable"]])
    new_level = ~table.duplicated(["variable", "level"])
    notes, rows = [], []
    for r, variable, level, head in zip(table.itertuples(), variables, new_level, first):
        if r.note:
            notes.append(f"{r.variable} = {r.level}, {r.contrast}: {r.note}.")
        difference = NOT_ESTIMABLE if r.note else fmt_estimate_se(r.estimate, r.se, decimals + 1)
        rows.append((variable, r.level if level and r.level != r.variable else "", r.contrast,
                     f"{r.n_arm} / {r.n_reference}",
                     difference, fmt_ci(r.lower, r.upper, decimals + 1), fmt_p(r.p),
                     fmt_p(r.p_interaction) if head else "", fmt_p(r.p_interaction_visits) if head else ""))
    ci = f"{100 * (1 - result.alpha):g}% CI"
    columns = ("Subgroup", "Level", "Comparison", "n\n(arm / ref.)", with_unit("Difference (SE)", unit), ci,
               "p-value", f"Interaction p\nat {result.at_visit}", "Interaction p\nall visits")
    method = {"one-model": "one model with subgroup, subgroup-by-arm, subgroup-by-visit and "
                           "subgroup-by-arm-by-visit terms added to the MMRM (same covariance structure)",
              "separate": "the MMRM fitted to each level's subjects alone"}[result.method]
    notes = (f"Differences at {result.visit} = {result.at_visit}: {method}; LS-means contrasts, df "
             f"{result.ddf}. n: subjects analysed in the compared arm / the reference arm.",
             f"Interaction p at {result.at_visit}: F test that the arm differences at that visit are equal "
             "across the levels; all visits: type III test of subgroup-by-arm-by-visit (both from the one "
             f"model). NE: not estimable, or fewer than {result.min_subjects} subjects in an arm.",
             *notes, *footnotes)
    return Table(title or f"Treatment differences by subgroup at {result.at_visit}", columns, rows, table,
                 notes, ("l", "l", "l", "c", "c", "c", "c", "c", "c"))
