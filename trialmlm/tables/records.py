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
    one row per arm, then (with ``counts.adsl``) the ADSL merge (:func:`adsl_rows`).
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
    if counts.adsl is not None:
        merge = adsl_rows(counts)
        parts.append(merge.iloc[1:])
        rows.append([merge["reason"].iloc[0], "", ""])
        rows += [[f"  {r.reason}", "" if pd.isna(r.records) else str(int(r.records)), str(int(r.subjects))]
                 for r in merge.iloc[1:].itertuples()]
    data = plain(pd.concat(parts, ignore_index=True)[["section", "step", "reason", "records", "subjects"]])
    notes = ("Each record is counted under the first step that excludes it, in the order shown; a "
             "subject is counted where its last record is excluded.",) + tuple(footnotes)
    return Table(title or "Records used in the analysis", ["", "Records", "Subjects"], rows, data, notes,
                 ("l", "r", "r"))


def adsl_rows(counts: RecordCounts) -> pd.DataFrame:
    """The ADSL merge of ``counts.adsl`` (:class:`trialmlm.data.adsl.AdslMerge`) as tidy rows
    ``section, step, reason, records, subjects`` (section ``adsl``; records missing where
    a row counts subjects only): a heading, the subjects in ADSL, the BDS subjects found in
    it, those not in it (their records, excluded by the step ``adsl``), the ADSL subjects
    without a record, and one row per variable whose values differ (BDS value kept)."""
    merge = counts.adsl
    excluded = sum(e.records for e in counts.exclusions if e.step == "adsl")
    bds = counts.source
    rows = [("adsl", f"ADSL merge ({merge.source}; by {', '.join(merge.keys)}):", None, None),
            ("adsl_subjects", f"Subjects in {merge.source}", None, merge.adsl_subjects),
            ("merged", f"Subjects of {bds} found in ADSL", None, merge.merged_subjects),
            ("not_in_adsl", f"Subjects of {bds} not in ADSL (records excluded)", excluded,
             merge.missing_subjects),
            ("without_records", f"ADSL subjects without records in {bds}", None, merge.unused_subjects)]
    rows += [("conflict", f"{c.variable} differs from ADSL (BDS value kept)", c.records, c.subjects)
             for c in merge.conflicts]
    frame = pd.DataFrame(rows, columns=["step", "reason", "records", "subjects"])
    return frame.assign(section="adsl", records=frame["records"].astype("Int64"),
                        subjects=frame["subjects"].astype("Int64"))
