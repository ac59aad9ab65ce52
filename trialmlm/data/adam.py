"""ADaM BDS record selection, as a statistical analysis plan applies it, with every exclusion counted.

:func:`select_records` keeps the records of one analysis in these steps, in this order; a
record is counted under the first step that excludes it:

=====================  ===============================================================
step                   records excluded
=====================  ===============================================================
``param``              another parameter (``PARAMCD``, else ``PARAM``, differs)
``adsl``               subject not in the ADSL merged in (``adsl=``;
                       :func:`trialmlm.data.adsl.merge_adsl`)
``population``         subject not in the population: its subject-level flag (EFFFL,
                       ITTFL, FASFL, SAFFL, PPROTFL, COMP24FL, ...) is not ``"Y"``
                       (every flag is read by :func:`trialmlm.data.flags.flag_is_yes`: "Y",
                       "Yes", True and 1 are the same; a value that is not a flag is
                       an error listing the values found)
``where``              the :mod:`~trialmlm.data.where` expression is not true
``analysis_flag``      the analysis flag (``ANL01FL``) is not ``"Y"`` (baseline records
                       pass with ``keep_baseline``: ADaM often leaves the flag blank there)
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

import dataclasses
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning
from .duplicates import explain_duplicates
from .flags import flag_is_yes
from .vocabulary import given, option
from .where import parse_where

BASELINE_FLAG = "ABLFL"
#: Record-level flags of ADaMIG v1.3 BDS and OCCDS: baseline, analysis, on-treatment, last
#: value on treatment, treatment-emergent, pre-/post-treatment, criterion, first occurrence.
RECORD_FLAGS = re.compile(r"ABLFL|ANL\d\dFL|ONTRTFL|LVOTFL|TRTEMFL|PREFL|FUPFL|CRIT\d+FL|AOCC\w*FL")
#: Population flags of ADaMIG v1.3 section 3.2 (and the pilot's EFFFL); zz: a numbered variant.
POPULATION_FLAGS = re.compile(r"(FAS|SAF|ITT|PPROT|COMPL|RAND|ENRL|EFF)(\d\d)?FL|COMP\d\dFL")
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
    adsl : what the merge of ADSL did (:class:`trialmlm.data.adsl.AdslMerge`), None
        without ADSL.
    """

    source: str
    read_records: int
    read_subjects: int
    exclusions: tuple[Exclusion, ...] = ()
    adsl: object = None

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
        return dataclasses.replace(self, exclusions=self.exclusions + (Exclusion(step, reason, int(records),
                                                                                 int(subjects)),))

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


def population_flags(data: pd.DataFrame, subject: str | None) -> list[str]:
    """The columns of ``data`` that can be a population flag: named ``*FL``, holding only Y/N
    values (:func:`trialmlm.data.flags.flag_is_yes`) and constant within each subject
    (subject-level, as ADSL's ITTFL, SAFFL, EFFFL, FASFL, PPROTFL).  The record-level flags
    of the ADaMIG (:data:`RECORD_FLAGS`: ABLFL, ANLzzFL, ONTRTFL, ...) are not, even where
    their values happen to be constant within each subject."""
    found = []
    for col in data.columns:
        if not str(col).upper().endswith("FL") or RECORD_FLAGS.fullmatch(str(col).upper()):
            continue
        try:
            yes = flag_is_yes(data[col], str(col))
        except DataError:
            continue
        if subject is None or (pd.Series(yes).groupby(data[subject].to_numpy()).nunique() <= 1).all():
            found.append(str(col))
    return found


def _population(data: pd.DataFrame, flag: str, subject: str | None, source: str) -> np.ndarray:
    def flags() -> str:
        found = population_flags(data, subject)
        named = [f for f in found if POPULATION_FLAGS.fullmatch(f.upper())]
        other = [f for f in found if f not in named]
        if not named:
            return f"its subject-level flags are {', '.join(other) if other else 'none'}"
        return f"its population flags are {', '.join(named)}" + (
            f" (other subject-level flags: {', '.join(other)})" if other else "")

    if flag not in data.columns:
        raise DataError(f"{given('population', flag)}: '{source}' has no such column; {flags()}")
    yes = flag_is_yes(data[flag], f"population flag {flag} of '{source}'")
    if subject is not None:
        per = pd.Series(yes, index=data.index).groupby(data[subject].to_numpy()).nunique()
        varying = per.index[per > 1]
        if len(varying):
            raise DataError(f"population flag {flag} is not constant within subject {varying[0]!r} of "
                            f"'{source}'; a population flag is a subject-level (ADSL) variable: {flags()}")
    if not yes.any():
        raise DataError(f"{given('population', flag)} selects nobody: no record of '{source}' has "
                        f"{flag} = 'Y'; {flags()}")
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
        raise DataError(f"{given('analysis_flag', flag)}: '{source}' has no such column")
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
        raise DataError(f"{given('keep_dtype', unknown)}: no record of '{source}' has {DERIVATION_TYPE} "
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
            raise DataError(f"{given('where', where)} selects no record of '{source}'")
        data, counts = exclude_records(data, counts, keep, "where", f"not selected by: {where}", subject)
    if analysis_flag is not None and (analysis_flag in data.columns or analysis_flag != "ANL01FL"):
        keep = _analysis_records(data, analysis_flag, source)
        if keep_baseline:  # baseline records are responses then (cLDA), flagged for analysis or not
            keep |= _baseline(data, visit, source)[0]
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


def check_one_record_per_visit(data: pd.DataFrame, subject: str, visit: str, source: str,
                               where: str | None = None) -> None:
    """DataError naming the first subject with two records at one visit after selection, the
    columns that tell its records apart and a ``where`` keeping one per visit
    (:func:`trialmlm.data.duplicates.explain_duplicates`; ``where``: the selection applied)."""
    found = explain_duplicates(data.dropna(subset=[subject, visit]), subject, visit, where)
    if found is None:
        return
    message = (f"subject {found.subject!r} has {found.records} records at {visit} = {found.visit!r} in "
               f"'{source}' after the record selection")
    if found.columns:
        verb = "distinguishes" if len(found.columns) == 1 else "distinguish"
        message += f"; {', '.join(found.columns)} {verb} them ({found.columns[0]}: {', '.join(found.values)})"
    if found.where is not None:
        message += (f"; keep one record per visit, e.g. {given('where', found.where)} (keeps {found.kept} "
                    f"of {found.total} records)")
    else:
        message += (f"; select one per visit ({option('analysis_flag')}, {option('keep_dtype')} or "
                    f"{option('where')})")
    raise DataError(message)


def arm_order(data: pd.DataFrame, arm: str, order=None, reference=None) -> list:
    """The order of the arms in every table and figure.

    ``order`` (a list of every level) if given; else the numeric companion variable
    ``ARM + "N"`` (TRTPN for TRTP, TRT01PN for TRT01P, TRTAN for TRTA) when the data have
    it; else the Categorical order of ``arm``; else sorted labels, with a one-line
    DataWarning listing the order used and the ``arm_order`` (``--arm-order``) that gives
    another (not for two arms one of which is the ``reference``).  The
    ``reference`` arm is moved first.

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
    alphabetical = order is None and f"{arm}N" not in data.columns and not isinstance(
        data[arm].dtype, pd.CategoricalDtype)
    if order is not None:
        order = list(order)
        as_text = {str(v): v for v in present}
        unknown = [o for o in order if str(o) not in as_text]
        if unknown:
            raise DataError(f"{given('arm_order', order)} names {unknown[0]!r}, which is not a level of "
                            f"'{arm}' (levels: {', '.join(map(str, present))})")
        left = [v for v in present if str(v) not in {str(o) for o in order}]
        if left:
            raise DataError(f"{given('arm_order', order)} misses level {left[0]!r} of '{arm}'; list every "
                            "level")
        levels = [as_text[str(o)] for o in order]
    elif f"{arm}N" in data.columns:
        pairs = data[[arm, f"{arm}N"]].dropna().drop_duplicates()
        several = pairs[arm].duplicated(keep=False) | pairs[f"{arm}N"].duplicated(keep=False)
        if several.any():
            bad = pairs.loc[several].iloc[0]
            raise DataError(f"'{arm}N' is not one number per level of '{arm}' (e.g. {bad[arm]!r}); "
                            f"give the order with {option('arm_order')}")
        levels = pairs.sort_values(f"{arm}N", kind="stable")[arm].tolist()
        levels += [v for v in present if v not in levels]  # arms without a number, in data order
    elif not alphabetical:  # a Categorical: its order
        levels = [v for v in data[arm].cat.categories if v in set(present)]
    else:
        levels = sorted(present, key=str)
    if reference is not None:
        match = [v for v in levels if str(v) == str(reference)]
        if not match:
            raise DataError(f"reference arm {reference!r} is not a level of '{arm}' in the analysed data "
                            f"(levels: {', '.join(map(str, levels))})")
        levels = match + [v for v in levels if v is not match[0]]
    if alphabetical and len(levels) - (reference is not None) > 1:
        after = " after the reference" if reference is not None else ""
        shown, hint = ", ".join(map(str, levels)), given("arm_order", levels)
        warnings.warn(DataWarning(f"arms of '{arm}' in alphabetical order{after} ({shown}): the data have no "
                                  f"numeric {arm}N; give the table order with {hint}"), stacklevel=2)
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
