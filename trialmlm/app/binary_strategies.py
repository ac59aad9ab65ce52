r"""Intercurrent events in a responder (binary) analysis: :data:`BINARY_STRATEGIES`.

Each subject's intercurrent event (ICE) is placed at the first visit it affects
(:func:`trialmlm.app.estimand_report.ice_rows`: an ICE file, a record flag, a subject-level
date, or else dropout); :math:`v_1 < \dots < v_K` are the visits of the analysed records
and :math:`v_e` a subject's first affected visit.

``nonresponder`` (composite strategy, ICH E9(R1)): the subject is a non-responder at every
    visit :math:`v \ge v_e`: an observed response there is replaced by 0, a missing one (a
    record without a value, or no record) is imputed as 0; the added records copy the
    subject's last record (arm, covariates) and are counted in the records table.
``observed`` (observed case, a while-on-treatment view): the records at :math:`v \ge v_e`
    are left out, counted in the records table.

Missing values of subjects without an ICE are left out in both (observed case: the GEE is
then valid when they are missing completely at random given the covariates).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.adam import RecordCounts, exclude_records
from ..engine.design import factor_levels
from ..errors import DataError


@dataclass(frozen=True)
class Intercurrent:
    """What a strategy did: the ICE rows used (subject, first affected visit), their
    ``source`` in words, the strategy, and ``affected``: per record at or after an ICE,
    ``subject, visit, arm, observed`` (the record had a response), ``action``
    ("imputed non-response" or "left out")."""

    strategy: str
    source: str
    ice: pd.DataFrame
    affected: pd.DataFrame


@dataclass(frozen=True)
class BinaryStrategy(ABC):
    """One way to handle an ICE: its ``name`` (``binary_strategy``), its description for the
    methods text, and the ``action`` taken on each affected record; a subclass says what is
    done to the records at or after the ICE (:meth:`handle`)."""

    name: str
    description: str
    action: str

    def apply(self, data: pd.DataFrame, counts: RecordCounts, ice: pd.DataFrame, keys: dict
              ) -> tuple[pd.DataFrame, RecordCounts, pd.DataFrame]:
        """``(records, counts, affected)`` after the strategy (module docstring); ``keys``: the
        ``subject``, ``visit``, ``response`` and ``arm`` columns."""
        subject, visit, response = keys["subject"], keys["visit"], keys["response"]
        grid = _post_event_grid(data, ice, subject, visit)
        present = data.reset_index().merge(grid, on=[subject, visit], how="inner")
        seen = present.assign(observed=present[response].notna())[["index", subject, visit, "observed"]]
        data, counts, affected = self.handle(data, counts, grid, seen, keys)
        arms = data.drop_duplicates(subject).set_index(subject)[keys["arm"]]
        affected = affected.assign(arm=affected[subject].map(arms).to_numpy(), action=self.action)
        return data, counts, affected[[subject, visit, "arm", "observed", "action"]]

    @abstractmethod
    def handle(self, data: pd.DataFrame, counts: RecordCounts, grid: pd.DataFrame, seen: pd.DataFrame,
               keys: dict) -> tuple[pd.DataFrame, RecordCounts, pd.DataFrame]:
        """``(records, counts, affected)`` given the post-ICE ``grid`` (subject, visit) and the
        records ``seen`` on it (``index``, subject, visit, ``observed``)."""


class Nonresponder(BinaryStrategy):
    """Composite strategy: responses on the grid overruled to 0, visits without a record added
    as 0 (copies of the subject's last record), counted in the records table."""

    def handle(self, data, counts, grid, seen, keys):
        subject, visit, response = keys["subject"], keys["visit"], keys["response"]
        data = data.copy()
        data.loc[seen["index"], response] = 0.0
        missing = grid.merge(seen[[subject, visit]], how="left", indicator=True)
        missing = missing.loc[missing["_merge"] == "left_only", [subject, visit]]
        last = data.groupby(subject, observed=True, sort=False).tail(1).set_index(subject)
        added = last.loc[missing[subject]].reset_index()
        added[visit] = _like(missing[visit].to_numpy(), data[visit])
        added[response] = 0.0
        data = pd.concat([data, added], ignore_index=True)
        counts = counts.then("ice", "non-response imputed after an intercurrent event where no record "
                             "(composite strategy)", -len(added), 0)
        return data, counts, pd.concat([seen, missing.assign(observed=False)], ignore_index=True)


class ObservedCase(BinaryStrategy):
    """Observed case: the records on the grid are left out, counted in the records table."""

    def handle(self, data, counts, grid, seen, keys):
        keep = ~data.index.isin(seen["index"])
        data, counts = exclude_records(data, counts, keep, "ice",
                                       "at or after an intercurrent event (observed-case strategy)",
                                       keys["subject"])
        return data, counts, seen


def _post_event_grid(data: pd.DataFrame, ice: pd.DataFrame, subject: str, visit: str) -> pd.DataFrame:
    """Every (subject, visit) at or after the subject's ICE visit, visits of the analysed records."""
    visits = factor_levels(data[visit])
    position = {str(v): i for i, v in enumerate(visits)}
    first = np.array([position.get(str(v), -1) for v in ice[visit]])
    if (first < 0).any():
        bad = ice[visit].to_numpy()[first < 0][0]
        raise DataError(f"intercurrent event at {visit} = {bad!r}, which is not a visit of the analysed "
                        f"records ({', '.join(map(str, visits))})")
    k = len(visits)
    n_after = k - first
    rows = np.repeat(np.arange(len(ice)), n_after)
    at = first[rows] + (np.arange(rows.size) - np.repeat(np.cumsum(n_after) - n_after, n_after))
    return pd.DataFrame({subject: ice[subject].to_numpy()[rows],
                         visit: _like(np.asarray(visits, dtype=object)[at], data[visit])})


def _like(values: np.ndarray, column: pd.Series):
    """``values`` with the Categorical type of the visit ``column`` (when it has one)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical(values, dtype=column.dtype)
    return values


#: ``binary_strategy`` -> the strategy.
BINARY_STRATEGIES = {s.name: s for s in (
    Nonresponder("nonresponder", "composite strategy: subjects with an intercurrent event are "
                   "non-responders from the first visit it affects on (observed responses there are "
                   "overruled, missing ones imputed as non-response)", "imputed non-response"),
    ObservedCase("observed", "observed case: the records at and after an intercurrent event are left "
                   "out", "left out"),
)}
