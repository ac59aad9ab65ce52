r"""Intercurrent events (ICH E9(R1)): each subject's first affected visit and imputation strategy.

An ICE table has one row per subject with an intercurrent event: the subject, the first
visit affected by the event and the strategy (rbmi's ``data_ice``):

===========  ==============================  ==================================================
strategy     meaning                          :mod:`.strategies` name
===========  ==============================  ==================================================
``MAR``      missing at random                ``mar``
``JR``       jump to reference                ``jump_to_reference``
``CR``       copy reference                   ``copy_reference``
``CIR``      copy increments in reference     ``copy_increments_in_reference``
``LMCF``     last mean carried forward        ``last_mean_carried_forward``
===========  ==============================  ==================================================

``strategies=`` adds user-defined strategies by name (R rbmi's ``getStrategies(AVG = f)``):
``{"AVG": f}`` with ``f(own, ref, index_mar) -> (mu, sigma)`` (:class:`.strategies.UserStrategy`);
the ICE table may then use ``AVG``.  User strategies are non-MAR: values observed at or after
their event are left out of the imputation model, as for JR.  The built-in labels cannot be
redefined.

A subject without a row is MAR.  For a subject with a non-MAR event at the visit with index
:math:`e` (0-based), visits :math:`j < e` are MAR and the strategy governs :math:`j \ge e`
(``n_mar`` :math:`= e`); MAR subjects have ``n_mar`` :math:`= K`.  As in rbmi, values observed
at or after a non-MAR event are left out of the imputation model's fit, but they stay in the
completed data and the imputations are conditioned on them; values observed after a MAR event
are used throughout.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning
from .feasibility import check_observed_left, excluded_values
from .imputation import ImputationData, check_imputable, infer_arm, prepare
from .strategies import STRATEGIES, Strategy, UserStrategy

ICE_STRATEGIES = {"MAR": "mar", "JR": "jump_to_reference", "CR": "copy_reference",
                  "CIR": "copy_increments_in_reference", "LMCF": "last_mean_carried_forward"}
STRATEGY_COLUMN = "strategy"


@dataclass(frozen=True)
class IcePlan:
    """The ICE table resolved against the imputation data (subjects in ``data.subjects`` order).

    Attributes
    ----------
    labels : (n,) strategy label per subject (``"MAR"`` without a row).
    codes : (n,) index into ``strategies``.
    strategies : the distinct strategies, in :data:`ICE_STRATEGIES` order.
    n_mar : (n,) visits before the first non-MAR affected visit (:math:`K` for MAR subjects).
    ice_visit : (n,) first affected visit (None without a row).
    excluded : (n, K) observed values at or after a non-MAR event (left out of the model fit).
    registry : every strategy the ICE table could name, label -> strategy
        (:func:`strategy_registry`).
    """

    labels: np.ndarray
    codes: np.ndarray
    strategies: tuple[Strategy | UserStrategy, ...]
    n_mar: np.ndarray
    ice_visit: np.ndarray
    excluded: np.ndarray
    registry: dict

    def summary(self, data: ImputationData) -> pd.DataFrame:
        """Counts by arm and strategy: ``arm, strategy, subjects, with_ice, imputed, excluded``.

        ``subjects``: subjects imputed under the strategy; ``with_ice``: those with a row in
        the ICE table; ``imputed``: missing values filled; ``excluded``: observed values left
        out of the imputation model.
        """
        arm_of = np.asarray(data.arms, dtype=object)[data.arm_codes]
        frame = pd.DataFrame({
            data.arm: arm_of, "strategy": self.labels, "subjects": 1,
            "with_ice": pd.notna(self.ice_visit).astype(int),
            "imputed": (~data.observed).sum(axis=1), "excluded": self.excluded.sum(axis=1),
        })
        order = {label: i for i, label in enumerate(self.registry)}
        out = frame.groupby([data.arm, "strategy"], sort=False).sum().reset_index()
        out["_arm"] = out[data.arm].map({a: i for i, a in enumerate(data.arms)})
        out["_strategy"] = out["strategy"].map(order)
        out = out.sort_values(["_arm", "_strategy"]).drop(columns=["_arm", "_strategy"])
        return out.reset_index(drop=True)


def strategy_registry(strategies: Mapping[str, Callable] | None = None) -> dict:
    """ICE label -> strategy: the built-in five (:data:`ICE_STRATEGIES`), then ``strategies``
    (label -> function, wrapped in :class:`UserStrategy`).  DataError for a label that is not a
    non-empty string or is built in, and for a value that is not callable."""
    registry = {label: STRATEGIES[name] for label, name in ICE_STRATEGIES.items()}
    if strategies is None:
        return registry
    if not isinstance(strategies, Mapping):
        raise DataError(f"strategies must be a mapping name -> function, e.g. {{'AVG': f}}; got "
                        f"{type(strategies).__name__}")
    for label, function in strategies.items():
        if not isinstance(label, str) or not label:
            raise DataError(f"strategy names must be non-empty strings; got {label!r}")
        if label in registry:
            raise DataError(f"strategy {label!r} is built in and cannot be redefined; give yours another "
                            "name")
        if not callable(function):
            raise DataError(f"strategy {label!r} must be a function f(own, ref, index_mar) -> (mu, sigma); "
                            f"got {type(function).__name__}")
        registry[label] = UserStrategy(label, function)
    return registry


def ice_plan(ice: pd.DataFrame | None, data: ImputationData, reference,
             strategies: Mapping[str, Callable] | None = None) -> IcePlan:
    """Validate ``ice`` (columns: the subject, the visit, ``strategy``) and resolve it per subject;
    ``strategies``: user-defined strategies by label (:func:`strategy_registry`).

    DataError for: a missing column, a subject not in the data, a visit not among the
    visit levels, an unknown strategy, two rows for one subject, a reference-based strategy
    without ``reference``, JR in a study with one arm, LMCF at the first visit (nothing to
    carry forward), a table that leaves the imputation model no observed value overall or
    in one arm (:func:`.feasibility.check_observed_left`).  ``ice`` is not modified.
    """
    registry = strategy_registry(strategies)
    rows = None if ice is None else _check_table(ice, data, registry)
    labels, ice_visit, n_mar = subject_events(rows, data.subject, data.visit, data.subjects, data.visits)
    excluded = excluded_values(data.observed, n_mar)
    check_observed_left(data.observed, excluded, labels, ice_visit, data.arm_codes, data.arms, data.arm,
                        data.visits)
    return _resolve(labels, n_mar, ice_visit, excluded, data, reference, registry)


def subject_events(rows: pd.DataFrame | None, subject: str, visit: str, subjects: pd.Index | np.ndarray,
                   visits: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per subject of ``subjects``: its strategy (``"MAR"`` without a row), first affected
    visit (None) and ``n_mar``, the visits before its first non-MAR visit (:math:`K`).

    ``rows``: an ICE table (subject, visit, ``strategy``; None: no events) whose subjects and
    visits are among ``subjects`` and ``visits`` (rows that are not are left out).
    """
    n, k = len(subjects), len(visits)
    labels, ice_visit, n_mar = np.full(n, "MAR", dtype=object), np.full(n, None, dtype=object), np.full(n, k)
    if rows is None:
        return labels, ice_visit, n_mar
    position = pd.Index(subjects).get_indexer(rows[subject].to_numpy())
    index = pd.Index(visits).get_indexer(rows[visit].to_numpy())
    known = (position >= 0) & (index >= 0)
    position, index = position[known], index[known]
    labels[position] = rows[STRATEGY_COLUMN].to_numpy()[known]
    ice_visit[position] = rows[visit].to_numpy()[known]
    non_mar = labels[position] != "MAR"
    n_mar[position[non_mar]] = index[non_mar]
    return labels, ice_visit, n_mar


def _resolve(labels: np.ndarray, n_mar: np.ndarray, ice_visit: np.ndarray, excluded: np.ndarray,
             data: ImputationData, reference, registry: dict) -> IcePlan:
    """The plan of per-subject ``labels``, after checking each strategy used."""
    used = [label for label in registry if label in set(labels)]
    strategies = tuple(registry[label] for label in used)
    for label, strategy in zip(used, strategies):
        _check_strategy(label, strategy, labels, n_mar, data, reference)
    return IcePlan(labels, pd.Index(used).get_indexer(labels), strategies, n_mar, ice_visit, excluded,
                   registry)


def update_plan(plan: IcePlan, update: pd.DataFrame, data: ImputationData, reference,
                strategies: Mapping[str, Callable] | None = None) -> IcePlan:
    """``plan`` with the strategies of ``update`` (rbmi's ``impute(update_strategy = )``);
    ``strategies``: the user-defined strategies (default: those of ``plan``).

    ``update`` has the subject column and ``strategy``: new strategies for subjects of the
    original ICE table, at their original ICE visits (a visit column, if present, must
    repeat them).  The imputation model is not refitted, so ``excluded`` (the values left
    out of its fit) is kept.  DataError for: a subject without a row in the original ICE
    table, a moved visit, an unknown strategy, two rows for one subject, and MAR to non-MAR
    for a subject with observed values at or after the ICE visit (they were used in the
    fit; as rbmi).  Non-MAR to MAR for such a subject warns (:class:`DataWarning`): those
    values were left out of the fit, which the update cannot undo.
    """
    columns = [data.subject, STRATEGY_COLUMN]
    rows = table_rows(update, "update_strategy", "update_strategy", columns, [data.subject], columns)
    registry = plan.registry if strategies is None else strategy_registry(strategies)
    unknown = ~rows[STRATEGY_COLUMN].isin(list(registry))
    if unknown.any():
        raise DataError(f"update_strategy: strategy {rows[STRATEGY_COLUMN][unknown].iloc[0]!r} is unknown; "
                        f"the strategies are {', '.join(registry)}")
    position = pd.Index(data.subjects).get_indexer(rows[data.subject].to_numpy())
    without = (position < 0) | pd.isna(plan.ice_visit[np.maximum(position, 0)])
    if without.any():
        raise DataError(f"update_strategy: subject {rows[data.subject][without].iloc[0]!r} has no row in the "
                        "ICE table, so it has no ICE visit; add it to the ICE table and rerun")
    if data.visit in update.columns:
        moved = update[data.visit].to_numpy(dtype=object) != plan.ice_visit[position]
        if moved.any():
            raise DataError(f"update_strategy changes the ICE visit of subject "
                            f"{rows[data.subject][moved].iloc[0]!r}; only strategies can be updated, rerun "
                            "with the new ICE table")
    k = len(data.visits)
    index = pd.Index(data.visits).get_indexer(plan.ice_visit[position])
    new = rows[STRATEGY_COLUMN].to_numpy(dtype=object)
    old = plan.labels[position]
    post_ice = data.observed[position] & (np.arange(k)[None, :] >= index[:, None])
    locked = post_ice.any(axis=1)
    to_non_mar = locked & (old == "MAR") & (new != "MAR")
    if to_non_mar.any():
        raise DataError(f"update_strategy: subject {rows[data.subject][to_non_mar].iloc[0]!r} has observed "
                        "values after its ICE, which the imputation model used under MAR; a non-MAR "
                        "strategy would leave them out, so rerun with the new ICE table instead")
    to_mar = locked & (old != "MAR") & (new == "MAR")
    if to_mar.any():
        warnings.warn(f"update_strategy: subject {rows[data.subject][to_mar].iloc[0]!r} (and "
                      f"{to_mar.sum() - 1} other(s)) has observed values after its ICE that the imputation "
                      "model was fitted without; rerun with the new ICE table to use them", DataWarning,
                      stacklevel=3)
    labels, n_mar = plan.labels.copy(), plan.n_mar.copy()
    labels[position] = new
    n_mar[position] = np.where(new == "MAR", k, index)
    return _resolve(labels, n_mar, plan.ice_visit, plan.excluded, data, reference, registry)


def table_rows(table, argument: str, name: str, columns: list, keys: list, complete: list,
               data: ImputationData | None = None) -> pd.DataFrame:
    """``table[columns]`` of a per-subject (or per-subject-and-visit) input table: the ICE,
    update_strategy or delta table.

    DataError for: ``table`` (the argument ``argument``) not a DataFrame, a missing column,
    a missing value in ``complete``, two rows with the same ``keys``; with ``data``, a
    subject not in the data and (when ``columns`` has the visit) a visit not among its levels.
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{argument} must be a DataFrame with columns {', '.join(map(repr, columns))}; "
                        f"got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"the {name} table has no column {', '.join(map(repr, missing))} (it needs "
                        f"{', '.join(map(repr, columns))})")
    rows = table[columns]
    for column in complete:
        if rows[column].isna().any():
            raise DataError(f"the {name} table has a missing value in '{column}' "
                            f"(row {rows.index[rows[column].isna()].tolist()[0]!r})")
    twice = rows.duplicated(keys)
    if twice.any():
        where = f" for visit {rows[keys[1]][twice].iloc[0]!r}" if len(keys) > 1 else ""
        raise DataError(f"subject {rows[keys[0]][twice].iloc[0]!r} has more than one row{where} in the "
                        f"{name} table")
    if data is None:
        return rows
    unknown = ~rows[data.subject].isin(data.subjects)
    if unknown.any():
        raise DataError(f"{name} table: subject {rows[data.subject][unknown].iloc[0]!r} is not in the data")
    if data.visit in columns:
        unknown = ~rows[data.visit].isin(data.visits)
        if unknown.any():
            raise DataError(f"{name} table: visit {rows[data.visit][unknown].iloc[0]!r} is not a level of "
                            f"'{data.visit}' ({', '.join(map(str, data.visits))})")
    return rows


def _check_table(ice: pd.DataFrame, data: ImputationData, registry: dict) -> pd.DataFrame:
    columns = [data.subject, data.visit, STRATEGY_COLUMN]
    rows = table_rows(ice, "ice", "ICE", columns, [data.subject], columns, data)
    unknown = ~rows[STRATEGY_COLUMN].isin(list(registry))
    if unknown.any():
        raise DataError(f"ICE table: strategy {rows[STRATEGY_COLUMN][unknown].iloc[0]!r} is unknown; the "
                        f"strategies are {', '.join(registry)} (define others with strategies=)")
    return rows


def _check_strategy(label: str, strategy: Strategy | UserStrategy, labels: np.ndarray, n_mar: np.ndarray,
                    data: ImputationData, reference) -> None:
    if strategy.needs_reference and reference is None:
        raise DataError(f"ICE strategy {label} needs reference= (the control arm's level)")
    if label == "JR" and len(data.arms) < 2:
        raise DataError(f"ICE strategy JR needs a reference arm to jump to, but '{data.arm}' has one level "
                        f"({data.arms[0]!r})")
    if strategy.needs_observation:
        first = (labels == label) & (n_mar == 0)
        if first.any():
            raise DataError(f"ICE strategy {label} of subject {data.subjects[first][0]!r} starts at the "
                            "first visit, so there is no mean to carry forward")


def fit_without_excluded(fit, data: ImputationData, plan: IcePlan, arm: str, reference):
    """The imputation model and its data: ``fit`` refitted without the observed values after
    non-MAR events (``fit`` itself if there are none, as rbmi), and ``data`` laid out for it
    (the refit's design; the observed responses and ``plan.n_mar`` of ``data``)."""
    if not plan.excluded.any():
        return fit, replace(data, n_mar=plan.n_mar)
    source = fit.design.source
    k = len(data.visits)
    cells = pd.MultiIndex.from_arrays([np.repeat(data.subjects, k),
                                       np.tile(np.asarray(data.visits, dtype=object), len(data.subjects))])
    flags = pd.Series(plan.excluded.ravel(), index=cells)
    rows = pd.MultiIndex.from_arrays([source[data.subject].to_numpy(dtype=object),
                                      source[data.visit].to_numpy(dtype=object)])
    drop = flags.reindex(rows, fill_value=False).to_numpy(dtype=bool)
    masked = source.assign(**{data.response: source[data.response].where(~drop)})
    refit = fit.refit(data=masked, start=fit.phi, warn=False)
    layout = replace(prepare(refit, data.visit, arm, reference), y=data.y, observed=data.observed,
                     frame=data.frame, n_mar=plan.n_mar)
    return refit, layout


def imputation_setup(fit, arm: str | None, reference, plan_of: Callable[[ImputationData], IcePlan],
                     check: Callable[[ImputationData], None] | None = None) -> tuple:
    """What every imputation method builds once from ``fit``: ``(visit, arm, data, plan,
    imputation_fit)`` -- the checked visit and arm, the wide data, the ICE plan
    ``plan_of(data)`` and the imputation model refitted without the values after non-MAR
    events (:func:`fit_without_excluded`).  ``check(data)`` runs before the plan and the refit."""
    visit = check_imputable(fit)
    arm = infer_arm(fit, visit, arm, reference)
    data = prepare(fit, visit, arm, reference)
    if check is not None:
        check(data)
    plan = plan_of(data)
    imputation_fit, data = fit_without_excluded(fit, data, plan, arm, reference)
    return visit, arm, data, plan, imputation_fit
