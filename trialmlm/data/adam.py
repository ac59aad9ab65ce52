"""ADaM BDS record selection, as a statistical analysis plan applies it, with every exclusion counted.

:func:`select_records` keeps the records of one analysis in these steps, in this order; a
record is counted under the first step that excludes it:

=====================  ===============================================================
step                   records excluded
=====================  ===============================================================
``param``              another parameter (``PARAMCD``, else ``PARAM``, differs)
``population``         subject not in the population: its subject-level flag (EFFFL,
                       ITTFL, FASFL, SAFFL, PPROTFL, COMP24FL, ...) is not ``"Y"``
                       (every flag is read by :func:`trialmlm.data.flags.flag_is_yes`: "Y",
                       "Yes", True and 1 are the same; a value that is not a flag is
                       an error listing the values found)
``where``              the :mod:`~trialmlm.data.where` expression is not true
``analysis_flag``      the analysis flag (``ANL01FL``) is not ``"Y"``
``dtype``              a derived record (``DTYPE`` not blank: LOCF, WOCF, AVERAGE, ...)
                       whose type is not in ``keep_dtype``
``baseline``           a baseline record (``ABLFL = "Y"``; without ABLFL, a visit named
                       "Baseline"): baseline is a covariate (BASE), not a
                       post-baseline response — unless ``keep_baseline``
=====================  ===============================================================

The counts travel with the data as a :class:`RecordCounts` in ``data.attrs["records"]``;
:func:`trialmlm.app.report.run_analysis` adds the records the model leaves out (missing
response or covariate) and shows the whole flow in the "records used" table.

Derived records kept by ``keep_dtype`` keep their ``DTYPE``: :func:`observed_records` gives
the observed-case records of the same selection (what data summaries and dropout tables
describe), :func:`derived_counts` the derived records by type.

Reference: CDISC ADaM Implementation Guide v1.3, sections 3.3.4 (ANLzzFL, ABLFL),
3.3.5 (DTYPE) and 3.2 (subject-level population flags).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .flags import flag_is_yes
from .where import parse_where

BASELINE_FLAG = "ABLFL"
DERIVATION_TYPE = "DTYPE"


@dataclass(frozen=True)
class Exclusion:
    """One selection step: its reason and what it removed."""

    step: str
    reason: str
    records: int
    subjects: int  # subjects left with no record by this step


@dataclass(frozen=True)
class RecordCounts:
    """Records read, excluded step by step, and analysed (``data.attrs["records"]``).

    Attributes
    ----------
    source : the file (or "data frame").
    read_records, read_subjects : what the file holds.
    exclusions : the steps that removed records, in order (a step that removed
        nothing is listed too, so the table states every rule applied).
    """

    source: str
    read_records: int
    read_subjects: int
    exclusions: tuple[Exclusion, ...] = ()

    @property
    def records(self) -> int:
        """Records left after every step."""
        return self.read_records - sum(e.records for e in self.exclusions)

    @property
    def subjects(self) -> int:
        """Subjects left after every step."""
        return self.read_subjects - sum(e.subjects for e in self.exclusions)

    def then(self, step: str, reason: str, records: int, subjects: int) -> RecordCounts:
        """These counts followed by one more step."""
        return RecordCounts(self.source, self.read_records, self.read_subjects,
                            self.exclusions + (Exclusion(step, reason, int(records), int(subjects)),))

    @property
    def table(self) -> pd.DataFrame:
        """Tidy flow: ``step, reason, records, subjects`` (excluded at that step, with
        the read and the remaining totals as the first and last rows)."""
        rows = [{"step": "read", "reason": f"records in {self.source}", "records": self.read_records,
                 "subjects": self.read_subjects}]
        rows += [{"step": e.step, "reason": e.reason, "records": -e.records, "subjects": -e.subjects}
                 for e in self.exclusions]
        rows.append({"step": "analysed", "reason": "records analysed", "records": self.records,
                     "subjects": self.subjects})
        return pd.DataFrame(rows)


def count_subjects(data: pd.DataFrame, subject: str | None) -> int:
    """Subjects in ``data`` (rows, without a subject column)."""
    return int(data[subject].nunique()) if subject is not None else len(data)


def exclude_records(data: pd.DataFrame, counts: RecordCounts, keep: np.ndarray, step: str, reason: str,
                    subject: str | None) -> tuple[pd.DataFrame, RecordCounts]:
    """Keep the rows ``keep`` of ``data``; ``counts`` followed by the step that removed the others."""
    kept = data.loc[keep]
    counts = counts.then(step, reason, len(data) - len(kept),
                         count_subjects(data, subject) - count_subjects(kept, subject))
    return kept, counts


def _population(data: pd.DataFrame, flag: str, subject: str | None, source: str) -> np.ndarray:
    if flag not in data.columns:
        found = [c for c in data.columns if str(c).upper().endswith("FL")]
        raise DataError(f"population={flag!r}: '{source}' has no such column; its flag columns are "
                        f"{', '.join(found) if found else 'none'}")
    yes = flag_is_yes(data[flag], f"population flag {flag} of '{source}'")
    if subject is not None:
        per = pd.Series(yes, index=data.index).groupby(data[subject].to_numpy()).nunique()
        varying = per.index[per > 1]
        if len(varying):
            raise DataError(f"population flag {flag} is not constant within subject {varying[0]!r} of "
                            f"'{source}'; a population flag is a subject-level (ADSL) variable")
    if not yes.any():
        raise DataError(f"population={flag!r} selects nobody: no record of '{source}' has {flag} = 'Y'")
    return yes


def _baseline(data: pd.DataFrame, visit: str | None, source: str) -> tuple[np.ndarray, str]:
    if BASELINE_FLAG in data.columns:
        yes = flag_is_yes(data[BASELINE_FLAG], f"baseline flag {BASELINE_FLAG} of '{source}'")
        return yes, f"baseline record ({BASELINE_FLAG} = 'Y')"
    if visit is not None and visit in data.columns:
        named = data[visit].astype(str).str.strip().str.lower() == "baseline"
        return named.to_numpy(bool), f"baseline record ({visit} = 'Baseline')"
    return np.zeros(len(data), dtype=bool), "baseline record"


def derivation_types(data: pd.DataFrame) -> pd.Series:
    """Each record's ``DTYPE``, upper case without blanks: ``""`` for an observed record (and
    for every record of data without a DTYPE column), e.g. ``"LOCF"`` for a derived one."""
    if DERIVATION_TYPE not in data.columns:
        return pd.Series("", index=data.index, dtype=object)
    return data[DERIVATION_TYPE].astype(object).map(
        lambda v: v.strip().upper() if isinstance(v, str) else ("" if pd.isna(v) else str(v)))


def observed_records(data: pd.DataFrame) -> pd.DataFrame:
    """The observed-case records of ``data``: those with a blank ``DTYPE``.

    On the records :func:`select_records` kept, these are the records of the same selection
    without the derived records that ``keep_dtype`` let in (LOCF, WOCF, ...): what the data
    summaries, the dropout tables and the figures of the data describe.  Data without a
    DTYPE column are returned whole.
    """
    return data.loc[(derivation_types(data) == "").to_numpy()]


def derived_counts(data: pd.DataFrame) -> dict[str, int]:
    """``{DTYPE: records}`` of the derived records in ``data`` (empty: none), types sorted."""
    types = derivation_types(data)
    return {str(k): int(v) for k, v in types[types != ""].value_counts().sort_index().items()}


def derived_text(counts: dict[str, int]) -> str:
    """``"168 LOCF-derived records (DTYPE = LOCF)"``; several types: ``"200 derived records
    (DTYPE = LOCF: 168, WOCF: 32)"``."""
    total = sum(counts.values())
    plural = "s" if total != 1 else ""
    if len(counts) == 1:
        (kind, n), = counts.items()
        return f"{n} {kind}-derived record{plural} ({DERIVATION_TYPE} = {kind})"
    each = ", ".join(f"{k}: {n}" for k, n in counts.items())
    return f"{total} derived record{plural} ({DERIVATION_TYPE} = {each})"


def _analysis_records(data: pd.DataFrame, flag: str, source: str) -> np.ndarray:
    """The records flagged ``"Y"`` by the analysis flag ``flag`` (ADaM ANLzzFL); DataError if
    it is not a column or flags nothing."""
    if flag not in data.columns:
        raise DataError(f"analysis_flag={flag!r}: '{source}' has no such column")
    keep = flag_is_yes(data[flag], f"analysis_flag {flag} of '{source}'")
    if not keep.any():
        raise DataError(f"no record of '{source}' has {flag} = 'Y' (after the steps before "
                        "it); pass analysis_flag=None to keep every record")
    return keep


def _derived(data: pd.DataFrame, keep_dtype: tuple[str, ...], source: str) -> tuple[np.ndarray, str]:
    """The observed records and those of a type in ``keep_dtype``, and the reason the other
    derived records are left out; DataError for a kept type no record has."""
    dtype = derivation_types(data)
    kept_types = {str(t).strip().upper() for t in keep_dtype}
    present = sorted(set(dtype) - {""})
    unknown = sorted(kept_types - set(present))
    if unknown:
        raise DataError(f"keep_dtype={', '.join(unknown)}: no record of '{source}' has {DERIVATION_TYPE} "
                        f"= {unknown[0]!r}; its derived records are {', '.join(present) or 'none'}")
    dropped = sorted(set(present) - kept_types)
    reason = (f"derived record ({DERIVATION_TYPE} = {', '.join(dropped)})" if dropped
              else f"derived record ({DERIVATION_TYPE} not blank)")
    if kept_types:
        reason = reason[:-1] + f"; kept: {', '.join(sorted(kept_types))})"
    return ((dtype == "") | dtype.isin(kept_types)).to_numpy(), reason


def select_records(data: pd.DataFrame, counts: RecordCounts, *, subject: str | None, visit: str | None,
                   population: str | None = None, where: str | None = None,
                   analysis_flag: str | None = "ANL01FL", keep_dtype: tuple[str, ...] = (),
                   keep_baseline: bool = False) -> tuple[pd.DataFrame, RecordCounts]:
    """Apply the population, ``where``, analysis-flag, derived-record and baseline steps.

    ``data`` holds one parameter; ``counts`` the steps so far.  A file without
    ``analysis_flag`` (when it is the default ANL01FL), ``DTYPE`` or baseline records
    passes those steps unchanged (they are listed with 0 excluded).

    Raises
    ------
    DataError
        A ``population`` flag that is not a column, varies within a subject or selects
        nobody; a ``where`` that cannot be parsed, names an unknown column or selects
        nothing; an ``analysis_flag`` (other than the default) that is not a column or
        flags nothing; nothing left after the derived-record or baseline step.
    """
    source = counts.source
    if population is not None:
        keep = _population(data, population, subject, source)
        data, counts = exclude_records(data, counts, keep, "population",
                                       f"not in the population ({population} != 'Y')", subject)
    if where is not None:
        keep = parse_where(where).mask(data)
        if not keep.any():
            raise DataError(f"where={where!r} selects no record of '{source}'")
        data, counts = exclude_records(data, counts, keep, "where", f"not selected by: {where}", subject)
    if analysis_flag is not None and (analysis_flag in data.columns or analysis_flag != "ANL01FL"):
        keep = _analysis_records(data, analysis_flag, source)
        data, counts = exclude_records(data, counts, keep, "analysis_flag",
                                       f"not an analysis record ({analysis_flag} != 'Y')", subject)
    if DERIVATION_TYPE in data.columns:
        keep, reason = _derived(data, keep_dtype, source)
        data, counts = exclude_records(data, counts, keep, "dtype", reason, subject)
    elif keep_dtype:
        raise DataError(f"keep_dtype given but '{source}' has no {DERIVATION_TYPE} column")
    if not keep_baseline:
        is_base, reason = _baseline(data, visit, source)
        data, counts = exclude_records(data, counts, ~is_base, "baseline", reason, subject)
    if data.empty:
        raise DataError(f"no record of '{source}' is left after the record selection: "
                        + "; ".join(f"{e.reason}: {e.records}" for e in counts.exclusions))
    return data, counts


def duplicated_visit(rows: pd.DataFrame, subject: str, visit: str) -> tuple | None:
    """``(subject, visit, number of records)`` of the first subject with several records at
    one visit (rows with a subject and a visit), or None."""
    dup = rows.duplicated([subject, visit], keep=False)
    if not dup.any():
        return None
    first = rows.loc[dup].iloc[0]
    n = int((dup & (rows[subject] == first[subject]) & (rows[visit] == first[visit])).sum())
    return first[subject], first[visit], n


def check_one_record_per_visit(data: pd.DataFrame, subject: str, visit: str, source: str) -> None:
    """DataError naming the first subject with two records at one visit after selection."""
    found = duplicated_visit(data.dropna(subset=[subject, visit]), subject, visit)
    if found is not None:
        label, at, n = found
        raise DataError(f"subject {label!r} has {n} records at {visit} = {at!r} in '{source}' after the "
                        "record selection; select one per visit (analysis_flag, keep_dtype or where)")


def arm_order(data: pd.DataFrame, arm: str, order=None, reference=None) -> list:
    """The order of the arms in every table and figure.

    ``order`` (a list of every level) if given; else the numeric companion variable
    ``ARM + "N"`` (TRTPN for TRTP, TRT01PN for TRT01P, TRTAN for TRTA) when the data have
    it; else the Categorical order of ``arm``; else sorted labels.  The ``reference``
    arm is moved first.

    Raises
    ------
    DataError
        ``order`` missing a level or naming one that is not in the data; the numeric
        companion not one-to-one with the arm; ``reference`` not an arm.
    """
    if arm not in data.columns:
        raise DataError(f"arm column '{arm}' is not in the data")
    labels = data[arm].dropna()
    present = list(pd.unique(labels.astype(object)))
    if order is not None:
        order = list(order)
        as_text = {str(v): v for v in present}
        unknown = [o for o in order if str(o) not in as_text]
        if unknown:
            raise DataError(f"arm_order names {unknown[0]!r}, which is not a level of '{arm}' "
                            f"(levels: {', '.join(map(str, present))})")
        left = [v for v in present if str(v) not in {str(o) for o in order}]
        if left:
            raise DataError(f"arm_order misses level {left[0]!r} of '{arm}'; list every level")
        levels = [as_text[str(o)] for o in order]
    elif f"{arm}N" in data.columns:
        pairs = data[[arm, f"{arm}N"]].dropna().drop_duplicates()
        several = pairs[arm].duplicated(keep=False) | pairs[f"{arm}N"].duplicated(keep=False)
        if several.any():
            bad = pairs.loc[several].iloc[0]
            raise DataError(f"'{arm}N' is not one number per level of '{arm}' (e.g. {bad[arm]!r}); "
                            "give the order with arm_order")
        levels = pairs.sort_values(f"{arm}N", kind="stable")[arm].tolist()
        levels += [v for v in present if v not in levels]  # arms without a number, in data order
    elif isinstance(data[arm].dtype, pd.CategoricalDtype):
        levels = [v for v in data[arm].cat.categories if v in set(present)]
    else:
        levels = sorted(present, key=str)
    if reference is not None:
        match = [v for v in levels if str(v) == str(reference)]
        if not match:
            raise DataError(f"reference arm {reference!r} is not a level of '{arm}' in the analysed data "
                            f"(levels: {', '.join(map(str, levels))})")
        levels = match + [v for v in levels if v is not match[0]]
    return levels


def count_model_exclusions(data: pd.DataFrame, counts: RecordCounts, subject: str, response: str,
                           covariates=()) -> tuple[pd.DataFrame, RecordCounts]:
    """The records a model leaves out — a missing ``response``, then a missing value of each
    covariate in turn — removed from ``data`` and counted as steps ``response`` and
    ``covariate``."""
    data, counts = exclude_records(data, counts, data[response].notna().to_numpy(), "response",
                         f"missing {response}", subject)
    for cov in covariates:
        data, counts = exclude_records(data, counts, data[cov].notna().to_numpy(), "covariate",
                             f"missing covariate {cov}", subject)
    return data, counts
