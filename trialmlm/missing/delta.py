r"""Delta adjustment of conditional mean imputation (R rbmi's ``delta_template``): :func:`delta_template`.

The template has one row per subject and visit.  With ``delta`` :math:`(\delta_1..\delta_K)` and
``dlag`` :math:`(\ell_1..\ell_K)`, a subject whose intercurrent event is at visit :math:`e`
(1-based; any strategy, MAR included) gets at visit :math:`v \ge e`

.. math::
    \Delta_v = \sum_{u=e}^{v} \ell_{u-e+1}\,\delta_u,

and 0 before :math:`e`; subjects without an ICE row get 0 throughout (rbmi's ``d_lagscale``).
With ``missing_only`` the observed values after the event get 0 too.  Edit the ``delta``
column and pass the frame to :func:`trialmlm.missing.condmean` as ``delta=``: it is added to
the completed responses before each analysis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from .ice import ice_plan
from .imputation import check_imputable, infer_arm, prepare
from .visit_results import VisitResults


def delta_template(source, ice: pd.DataFrame | None = None, reference=None, arm: str | None = None,
                   delta: Sequence[float] | None = None, dlag: Sequence[float] | None = None,
                   missing_only: bool = True) -> pd.DataFrame:
    r"""Template of the delta adjustment: a row per subject and visit (rbmi's ``delta_template``).

    Parameters
    ----------
    source : a :func:`trialmlm.missing.condmean` or :func:`trialmlm.missing.bmlmi` result (its
        ICE table is used) or the fitted MMRM that they take, with ``ice``, ``reference`` and ``arm``
        as there.
    delta, dlag : K numbers each (K visits), or both None (``delta`` 0 everywhere);
        :math:`\Delta_v = \sum_{u=e}^{v} \ell_{u-e+1}\delta_u` after the event at visit
        :math:`e`.
    missing_only : set the shift of observed values to 0.

    Returns
    -------
    DataFrame with the subject, visit and arm columns and ``is_mar``, ``is_missing``,
    ``is_post_ice``, ``strategy`` (None for observed values) and ``delta``.
    """
    if isinstance(source, VisitResults):
        if ice is not None or reference is not None or arm is not None:
            raise DataError("delta_template of a condmean or bmlmi result uses its ICE table, reference and "
                            "arm; do not pass ice=, reference= or arm=")
        data, plan = source.data, source.plan
    else:
        visit = check_imputable(source)
        arm = infer_arm(source, visit, arm, reference)
        data = prepare(source, visit, arm, reference)
        plan = ice_plan(ice, data, reference)
    if not isinstance(missing_only, (bool, np.bool_)):
        raise DataError(f"missing_only must be True or False; got {missing_only!r}")
    n, k = data.y.shape
    index = pd.Index(data.visits).get_indexer(plan.ice_visit)  # -1: no ICE row
    post = (index[:, None] >= 0) & (np.arange(k)[None, :] >= index[:, None])
    shift = _lag_scale(_vector(delta, "delta", k), _vector(dlag, "dlag", k), index, k) \
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


def _lag_scale(delta: np.ndarray, dlag: np.ndarray, index: np.ndarray, k: int) -> np.ndarray:
    """(n, K) :math:`\\Delta`: cumulative sums of ``dlag[:K-e] * delta[e:]`` from each event visit ``e``."""
    out = np.zeros((len(index), k))
    for e in np.unique(index[index >= 0]):
        out[index == e, e:] = np.cumsum(dlag[:k - e] * delta[e:])
    return out
