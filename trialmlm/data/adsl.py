"""Merge the subject-level analysis data set (ADSL) into a BDS file, as an ADaM programmer does.

:func:`merge_adsl` adds to each BDS record the ADSL variables it lacks (EOSSTT, DCDECOD,
TRTEDT, AGEGR1, strata, population flags, ...), so that a population flag, a ``where``
selection, an intercurrent-event rule or a covariate can name them:

* **keys**: ``STUDYID`` and the subject column (``USUBJID``) when both files have
  STUDYID, else the subject column alone; ADSL holds one record per key (CDISC ADaMIG
  v1.3, section 3.1: "one record per subject").  Keys are compared as text, stripped,
  so that a numeric ``1`` and a text ``"1"`` (a CSV file beside a SAS file) match;
* **variables in both files** keep the BDS value (ADaM BDS copies ADSL variables, ADaMIG
  section 3.3.1); where the values differ, the variable, its subjects and records are
  counted and named in one :class:`~trialmlm.errors.DataWarning`.  Values are compared
  tolerantly: numbers as numbers (``1 == 1.0``, relative 1e-12 for the rounding of a SAS
  transport file), text stripped, a number and a text as the text of the number, both
  missing equal;
* **BDS subjects missing from ADSL** cannot have an ADSL variable: their records are
  excluded as the counted selection step ``adsl`` ("subject not in ADSL"), with a
  DataWarning naming one; ADSL subjects without BDS records are only counted.

The facts travel in :attr:`trialmlm.data.adam.RecordCounts.adsl` (an :class:`AdslMerge`)
into the records table of a report.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning
from .adam import RecordCounts, count_subjects, exclude_records
from .vocabulary import option

STUDY = "STUDYID"
_SHOWN = 5  # subjects named in a message
_RTOL = 1e-12  # numbers equal to this relative difference (IBM floats of a SAS transport file)


@dataclass(frozen=True)
class Conflict:
    """One variable of both files whose values differ: ``subjects`` and ``records`` (merged
    BDS records) where they differ, and the first such subject with both values."""

    variable: str
    subjects: int
    records: int
    subject: object
    bds: object
    adsl: object


@dataclass(frozen=True)
class AdslMerge:
    """What :func:`merge_adsl` did.

    Attributes
    ----------
    source : the ADSL file name (or "ADSL data frame").
    keys : the merge keys, e.g. ``("STUDYID", "USUBJID")``.
    adsl_subjects : subjects (records) in ADSL.
    merged_subjects : BDS subjects found in ADSL.
    missing_subjects : BDS subjects not in ADSL (their records excluded).
    unused_subjects : ADSL subjects without a BDS record.
    added : the ADSL variables added to the BDS records.
    conflicts : the variables of both files whose values differ (BDS values kept).
    """

    source: str
    keys: tuple[str, ...]
    adsl_subjects: int
    merged_subjects: int
    missing_subjects: int
    unused_subjects: int
    added: tuple[str, ...]
    conflicts: tuple[Conflict, ...] = ()


def _canonical(value):
    """A value as comparable text: text stripped, an integral number without ``.0``
    (``701.0`` -> ``"701"``), another number by ``repr``; missing (or blank) is NaN."""
    if isinstance(value, str):
        return value.strip() or np.nan
    if pd.isna(value):
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        value = float(value)
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _shown(value) -> str:
    """A value in a message: text quoted, a number as :func:`_canonical` writes it."""
    text = _canonical(value)
    return "missing" if pd.isna(text) else repr(text) if isinstance(value, str) else text


def _text(series: pd.Series) -> pd.Series:
    """Each value of ``series`` by :func:`_canonical`."""
    return series.astype(object).map(_canonical)


def _same(bds: pd.Series, adsl: pd.Series) -> np.ndarray:
    """Whether the values agree (module docstring): numbers as numbers, else as text."""
    numeric = [pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (bds, adsl)]
    if all(numeric):
        a, b = bds.to_numpy(float), adsl.to_numpy(float)
        both_missing = np.isnan(a) & np.isnan(b)
        with np.errstate(invalid="ignore"):
            return both_missing | np.isclose(a, b, rtol=_RTOL, atol=0.0)
    if any(pd.api.types.is_datetime64_any_dtype(s) for s in (bds, adsl)):
        return ((bds.isna().to_numpy() & adsl.isna().to_numpy())
                | (bds.astype(object).to_numpy() == adsl.astype(object).to_numpy()))
    a, b = _text(bds), _text(adsl)
    return (a.isna().to_numpy() & b.isna().to_numpy()) | (a.to_numpy() == b.to_numpy())


def _key_text(data: pd.DataFrame, keys: tuple[str, ...]) -> pd.Series:
    """One text per record joining its keys (missing when a key is missing)."""
    parts = [_text(data[k]) for k in keys]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "\x1f" + part  # missing in any part: missing
    return joined


def _check_keys(adsl: pd.DataFrame, keys: tuple[str, ...], key: pd.Series, source: str) -> None:
    """DataError for ADSL records without a key or with a key of another record."""
    missing = key.isna().to_numpy()
    if missing.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(missing)[:_SHOWN])
        raise DataError(f"ADSL '{source}' has {int(missing.sum())} record(s) without {' or '.join(keys)} "
                        f"(record {rows}); ADSL holds one record per subject")
    repeated = key.duplicated(keep=False).to_numpy()
    if repeated.any():
        subjects = pd.unique(adsl[keys[-1]].to_numpy()[repeated])
        named = ", ".join(repr(s) for s in subjects[:_SHOWN])
        more = f" and {len(subjects) - _SHOWN} more" if len(subjects) > _SHOWN else ""
        raise DataError(f"ADSL '{source}' has several records for subject {named}{more} (keys "
                        f"{', '.join(keys)}); ADSL holds one record per subject")


def _conflicts(bds: pd.DataFrame, adsl: pd.DataFrame, subjects: pd.Series) -> tuple[Conflict, ...]:
    """The variables of both frames (row-aligned, merged records only; ``subjects``: each
    record's subject) whose values differ."""
    found = []
    for col in bds.columns:
        differ = ~_same(bds[col].reset_index(drop=True), adsl[col].reset_index(drop=True))
        if differ.any():
            first = int(np.flatnonzero(differ)[0])
            found.append(Conflict(str(col), int(subjects.iloc[differ].nunique()), int(differ.sum()),
                                  subjects.iloc[first], bds[col].iloc[first], adsl[col].iloc[first]))
    return tuple(found)


def _n(count: int, word: str) -> str:
    """``"1 subject"``, ``"3 subjects"``."""
    return f"{count} {word}{'s' if count != 1 else ''}"


def _warn(merge: AdslMerge, missing_records: int, example, bds_source: str) -> None:
    """One DataWarning for the subjects not in ADSL, one for the conflicting variables."""
    if merge.missing_subjects:
        warnings.warn(DataWarning(
            f"{_n(merge.missing_subjects, 'subject')} of '{bds_source}' ({_n(missing_records, 'record')}, "
            f"e.g. {example!r}) not in ADSL '{merge.source}': their records are excluded"), stacklevel=5)
    if merge.conflicts:
        each = "; ".join(f"{c.variable}: {_n(c.subjects, 'subject')}, {_n(c.records, 'record')} (e.g. "
                         f"{c.subject!r}: BDS {_shown(c.bds)}, ADSL {_shown(c.adsl)})"
                         for c in merge.conflicts)
        warnings.warn(DataWarning(f"variables in both '{bds_source}' and ADSL '{merge.source}' differ, the "
                                  f"BDS values are kept: {each}"), stacklevel=5)


def merge_adsl(bds: pd.DataFrame, counts: RecordCounts, adsl: pd.DataFrame, *, subject: str | None,
               source: str, adsl_source: str = "data frame") -> tuple[pd.DataFrame, RecordCounts]:
    """Add the ADSL variables to the BDS records (module docstring).

    Parameters
    ----------
    bds : the BDS records (one parameter); its index is kept.
    counts : the selection steps so far; returned with the step ``adsl`` (records of
        subjects not in ADSL) and the merge facts in ``counts.adsl``.
    adsl : the subject-level data set, one record per subject.
    subject : the subject column (a merge key in both files).
    source, adsl_source : the files' names for messages.

    Returns
    -------
    (pandas.DataFrame, RecordCounts)
        The BDS columns first (values unchanged), then the ADSL variables the BDS lacks;
        the records of subjects not in ADSL left out.

    Raises
    ------
    DataError
        No subject column; a key column missing from either file (named with the file);
        an ADSL record without a key or two with one key (the subjects named); no BDS
        subject in ADSL (with an example key of each file).

    Warns
    -----
    DataWarning
        BDS subjects not in ADSL (their number, records and one subject); variables in
        both files whose values differ (each with its subjects, records and one example).
    """
    if subject is None:
        raise DataError("merging ADSL needs the subject column (subject=None given)")
    keys = (STUDY, subject) if STUDY in bds.columns and STUDY in adsl.columns and subject != STUDY \
        else (subject,)
    for name, frame in ((source, bds), (adsl_source, adsl)):
        if subject not in frame.columns:
            raise DataError(f"'{name}' has no column '{subject}' (subject), the key of the ADSL merge "
                            f"({option('adsl')})")
    bds_key, adsl_key = _key_text(bds, keys), _key_text(adsl, keys)
    _check_keys(adsl, keys, adsl_key, adsl_source)
    row = pd.Index(adsl_key.to_numpy()).get_indexer(bds_key.to_numpy())
    found = row >= 0
    if len(bds) and not found.any():
        first = [next(iter(k.dropna()), "").replace("\x1f", " / ") for k in (bds_key, adsl_key)]
        raise DataError(f"no subject of '{source}' is in ADSL '{adsl_source}' ({option('adsl')}; keys "
                        f"{' / '.join(keys)}: e.g. {first[0]!r} in the BDS, {first[1]!r} in ADSL)")
    kept = bds.loc[found]
    matched = adsl.iloc[row[found]]
    shared = [c for c in adsl.columns if c in bds.columns and c not in keys]
    added = [c for c in adsl.columns if c not in bds.columns]
    conflicts = _conflicts(kept[shared], matched[shared], kept[subject]) if shared else ()
    merged_subjects = count_subjects(kept, subject)
    facts = AdslMerge(Path(adsl_source).name, keys, len(adsl), merged_subjects,
                      count_subjects(bds, subject) - merged_subjects, len(adsl) - len(np.unique(row[found])),
                      tuple(map(str, added)), conflicts)
    missing = bds.loc[~found, subject]
    _warn(facts, len(missing), missing.iloc[0] if len(missing) else None, source)
    counts = dataclasses.replace(counts, adsl=facts)
    _, counts = exclude_records(bds, counts, found, "adsl", f"subject not in ADSL ({facts.source})", subject)
    merged = pd.concat([kept.reset_index(drop=True), matched[added].reset_index(drop=True)], axis=1)
    return merged.set_axis(kept.index), counts
