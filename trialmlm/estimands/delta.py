r"""Delta adjustment (R rbmi's ``delta_template`` and ``analyse(delta = )``): :func:`delta_template`.

Two ways to give a delta to :func:`trialmlm.estimands.impute` (and :func:`~trialmlm.estimands.condmean`,
tables only):

* a **number** or a mapping visit -> number :math:`\delta_v` (:func:`delta_matrix`): added to
  the imputed (missing) values at or after each shifted subject's intercurrent event -- the
  ICE visit of its row in the ICE table, else the visit after its last observation --
  never to intermittent gaps before it;
* a **table** (:func:`delta_shift`), built with :func:`delta_template`: a shift per subject
  and visit, added as it stands (rbmi's ``analyse(delta = )``).

The template has one row per subject and visit.  With ``delta`` :math:`(\delta_1..\delta_K)` and
``dlag`` :math:`(\ell_1..\ell_K)`, a subject whose intercurrent event is at visit :math:`e`
(1-based; any strategy, MAR included) gets at visit :math:`v \ge e`

.. math::
    \Delta_v = \sum_{u=e}^{v} \ell_{u-e+1}\,\delta_u,

and 0 before :math:`e`; subjects without an ICE get 0 throughout (rbmi's ``d_lagscale``; the
template of an :func:`~trialmlm.estimands.impute` result counts the ICE that ``method`` implies
after a subject's last observation).  With ``missing_only`` the observed values after the
event get 0 too.  Edit the ``delta`` column and pass the frame to
:func:`trialmlm.estimands.condmean` or :func:`trialmlm.estimands.impute` as ``delta=``: it is
added to the completed responses before each analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..checks import finite_numbers
from ..errors import DataError
from .ice import IcePlan, ice_plan, table_rows
from .imputation import ImputationData, check_imputable, infer_arm, prepare


def delta_template(source, ice: pd.DataFrame | None = None, reference=None, arm: str | None = None,
                   delta: Sequence[float] | None = None, dlag: Sequence[float] | None = None,
                   missing_only: bool = True,
                   strategies: Mapping[str, Callable] | None = None) -> pd.DataFrame:
    r"""Template of the delta adjustment: a row per subject and visit (rbmi's ``delta_template``).

    Parameters
    ----------
    source : a :func:`trialmlm.estimands.condmean`, :func:`trialmlm.estimands.bmlmi` or
        :func:`trialmlm.estimands.impute` result (its ICE table is used) or the fitted MMRM that
        they take, with ``ice``, ``reference``, ``arm`` and ``strategies`` as there.
    delta, dlag : K numbers each (K visits), or both None (``delta`` 0 everywhere);
        :math:`\Delta_v = \sum_{u=e}^{v} \ell_{u-e+1}\delta_u` after the event at visit
        :math:`e`.
    missing_only : set the shift of observed values to 0.

    Returns
    -------
    DataFrame with the subject, visit and arm columns and ``is_mar``, ``is_missing``,
    ``is_post_ice``, ``strategy`` (None for observed values) and ``delta``.
    """
    if getattr(source, "plan", None) is not None:  # a condmean or impute result
        if ice is not None or reference is not None or arm is not None or strategies is not None:
            raise DataError("delta_template of an imputation result uses its ICE table, reference, arm and "
                            "strategies; do not pass ice=, reference=, arm= or strategies=")
        data, plan = source.data, source.plan
    else:
        visit = check_imputable(source)
        arm = infer_arm(source, visit, arm, reference)
        data = prepare(source, visit, arm, reference)
        plan = ice_plan(ice, data, reference, strategies)
    if not isinstance(missing_only, (bool, np.bool_)):
        raise DataError(f"missing_only must be True or False; got {missing_only!r}")
    n, k = data.y.shape
    start = ice_start(plan, data)  # K: no ICE row
    post = np.arange(k)[None, :] >= start[:, None]
    shift = _lag_scale(_vector(delta, "delta", k), _vector(dlag, "dlag", k), start, k) \
        if delta is not None or dlag is not None else np.zeros((n, k))
    if missing_only:
        shift[data.observed] = 0.0
    is_mar = np.arange(k)[None, :] < plan.n_mar[:, None]
    strategy = np.where(is_mar, "MAR", plan.labels[:, None]).astype(object)
    strategy[data.observed] = None
    return pd.DataFrame({
        data.subject: np.repeat(data.subjects, k),
        data.visit: np.tile(np.asarray(data.visits, dtype=object), n),
        data.arm: np.repeat(np.asarray(data.arms, dtype=object)[data.arm_codes], k),
        "is_mar": is_mar.ravel(), "is_missing": ~data.observed.ravel(), "is_post_ice": post.ravel(),
        "strategy": strategy.ravel(), "delta": shift.ravel()})


def _vector(values, name: str, k: int) -> np.ndarray:
    if values is None:
        raise DataError(f"delta_template needs both delta and dlag ({name} is missing)")
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be {k} numbers (one per visit); got {values!r}") from None
    if out.ndim != 1 or out.size != k:
        raise DataError(f"{name} must be {k} numbers (one per visit); got {out.size}")
    if not np.isfinite(out).all():
        raise DataError(f"{name} must be finite; got {values!r}")
    return out


def _lag_scale(delta: np.ndarray, dlag: np.ndarray, start: np.ndarray, k: int) -> np.ndarray:
    """(n, K) :math:`\\Delta`: cumulative sums of ``dlag[:K-e] * delta[e:]`` from each event visit ``e``."""
    out = np.zeros((len(start), k))
    for e in np.unique(start[start < k]):
        out[start == e, e:] = np.cumsum(dlag[:k - e] * delta[e:])
    return out


def delta_shift(delta: pd.DataFrame | None, data: ImputationData) -> np.ndarray:
    """(n, K) shift from the ``delta`` table (0 without a row); DataError for a missing column,
    a missing or unknown subject or visit, two rows for one subject and visit, a non-finite delta."""
    n, k = data.y.shape
    shift = np.zeros((n, k))
    if delta is None:
        return shift
    keys = [data.subject, data.visit]
    rows = table_rows(delta, "delta", "delta", [*keys, "delta"], keys, keys, data)
    value = pd.to_numeric(rows["delta"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(value).all():
        bad = ~np.isfinite(value)
        raise DataError(f"the delta table's 'delta' must be finite numbers; row "
                        f"{rows.index[bad].tolist()[0]!r} has {rows['delta'][bad].iloc[0]!r}")
    i = pd.Index(data.subjects).get_indexer(rows[data.subject].to_numpy())
    v = pd.Index(data.visits).get_indexer(rows[data.visit].to_numpy())
    shift[i, v] = value
    return shift


def ice_start(plan: IcePlan, data: ImputationData) -> np.ndarray:
    """(n,) index of each subject's ICE visit (:math:`K` for a subject without an ICE)."""
    index = pd.Index(data.visits).get_indexer(plan.ice_visit)
    return np.where(index >= 0, index, len(data.visits))


def delta_matrix(data: ImputationData, plan: IcePlan, delta, arms) -> np.ndarray:
    r"""(n, K) shifts :math:`\delta_v` on the missing visits at or after the ICE of each subject of ``arms``.

    ``delta`` is a number (every visit) or a mapping visit -> number (0 for visits not named).
    """
    k = len(data.visits)
    if isinstance(delta, (dict, pd.Series)):
        unknown = [v for v in dict(delta) if v not in data.visits]
        if unknown:
            raise DataError(f"delta names visit(s) {', '.join(map(repr, unknown))}, not visits of "
                            f"'{data.visit}' ({', '.join(map(str, data.visits))})")
        per_visit = finite_numbers("delta (per visit)", [dict(delta).get(v, 0.0) for v in data.visits])
    else:
        if np.ndim(delta) != 0:
            raise DataError(f"delta must be a number or a mapping visit -> number, or a delta table (see "
                            f"delta_template); got {delta!r}")
        per_visit = np.full(k, finite_numbers("delta", delta)[0])
    unknown = [a for a in arms if a not in data.arms]
    if unknown:
        raise DataError(f"delta arm(s) {', '.join(map(repr, unknown))} are not levels of '{data.arm}' "
                        f"({', '.join(map(str, data.arms))})")
    arm_of = np.asarray(data.arms, dtype=object)[data.arm_codes]
    shifted = np.isin(arm_of, np.asarray(list(arms), dtype=object))
    after = (np.arange(k)[None, :] >= ice_start(plan, data)[:, None]) & ~data.observed
    return np.where(after & shifted[:, None], per_visit[None, :], 0.0)
