"""The "records used" table: records read, excluded by reason, analysed, and subjects by arm."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..data.adam import RecordCounts
from .table import Table, plain


def records_table(counts: RecordCounts, by_arm: pd.DataFrame | None = None, title: str | None = None,
                  footnotes: Sequence[str] = ()) -> Table:
    """Every record of the input accounted for.

    ``counts``: the selection steps (:class:`trialmlm.data.adam.RecordCounts`, e.g.
    ``df.attrs["records"]``, with the records the model left out added by the caller);
    ``by_arm``: the analysed data per arm, columns ``arm, subjects, records``.

    Tidy columns ``section, step, reason, records, subjects``: the read totals, one row
    per exclusion (negative counts: removed; a step with a negative count of excluded
    records added them, shown as "Added: ..." with a positive count), the analysed totals,
    then one row per arm.
    A subject is counted as excluded at the step that removed its last record.
    """
    flow = counts.table.assign(section="flow")
    rows = [["Records read", str(counts.read_records), str(counts.read_subjects)]]
    for e in counts.exclusions:
        if e.records < 0:  # a step that adds records (the composite strategy's imputed non-responses)
            rows.append([f"  Added: {e.reason}", f"+{-e.records}", "0"])
            continue
        rows.append([f"  Excluded: {e.reason}", f"-{e.records}" if e.records else "0",
                     f"-{e.subjects}" if e.subjects else "0"])
    rows.append(["Records analysed", str(counts.records), str(counts.subjects)])
    parts = [flow]
    if by_arm is not None and len(by_arm):
        arm_rows = pd.DataFrame({"section": "arm", "step": "arm", "reason": by_arm["arm"].astype(str),
                                 "records": by_arm["records"].astype(int),
                                 "subjects": by_arm["subjects"].astype(int)})
        parts.append(arm_rows)
        rows.append([f"Analysed, by {by_arm.attrs.get('arm', 'arm')}:", "", ""])
        rows += [[f"  {r.reason}", str(r.records), str(r.subjects)] for r in arm_rows.itertuples()]
    data = plain(pd.concat(parts, ignore_index=True)[["section", "step", "reason", "records", "subjects"]])
    notes = ("Each record is counted under the first step that excludes it, in the order shown; a "
             "subject is counted where its last record is excluded.",) + tuple(footnotes)
    return Table(title or "Records used in the analysis", ["", "Records", "Subjects"], rows, data, notes,
                 ("l", "r", "r"))
