r"""LS means of a cLDA fit as a SAP reports them: change from baseline and treatment differences.

In a cLDA model (:mod:`trialmlm.engine.clda`, ``AVAL ~ clda(ARM, VISIT) + us(VISIT | ID)``)
every arm has the same baseline LS mean :math:`m_0 = l_0^\top\hat\beta` (the term's columns
are zero at baseline), and the LS mean of arm :math:`a` at visit :math:`k` is
:math:`m_{a,k} = l_{a,k}^\top\hat\beta` (:meth:`MMRMResults.lsmeans`).

* :func:`change_lsmeans`: the LS mean of the change from baseline,
  :math:`m_{a,k} - m_0 = (l_{a,k} - l_0)^\top\hat\beta`, with its SE
  :math:`\sqrt{(l_{a,k} - l_0)^\top\hat C(l_{a,k} - l_0)}` and df (Satterthwaite,
  Kenward-Roger, ... of that one row), per arm and post-baseline visit.
* the treatment differences are :meth:`MMRMResults.compare` ``(ARM, by=VISIT)``: arm minus
  reference at each post-baseline visit, :math:`m_{a,k} - m_{\mathrm{ref},k} = \hat\tau_{a,k}`.
  As the baselines are constrained equal, this is also the difference in change from
  baseline :math:`(m_{a,k} - m_0) - (m_{\mathrm{ref},k} - m_0)`.  At baseline the arms are
  equal by construction and ``compare`` leaves the pairs out.

:func:`change_lsmeans` takes the options of :meth:`MMRMResults.lsmeans` (``ddf``, ``vcov``,
``weights``, ``alpha``) with the fit's defaults.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .grid import ReferenceGrid
from .lsmeans import warn_non_estimable
from .methods import resolve
from .wald import t_table


def _term(fit):
    """The fit's cLDA term and its baseline level; DataError for a fit without one."""
    term = fit.spec.clda
    if term is None:
        raise DataError("the fit has no clda(ARM, VISIT) term: change from baseline LS means of this kind "
                        "are for cLDA fits such as 'AVAL ~ clda(TRT01P, AVISIT) + us(AVISIT | USUBJID)'")
    return term, term.baseline_level(fit.design.encoding.levels[term.visit])


def change_lsmeans(fit, ddf: str | None = None, vcov: str | None = None, weights: str = "equal",
                   alpha: float = 0.05) -> pd.DataFrame:
    """LS means of the change from baseline per arm and post-baseline visit (module docstring):
    columns ARM, VISIT, ``estimate, se, df, lower, upper``."""
    term, baseline = _term(fit)
    labels, L = ReferenceGrid(fit).rows([term.arm], term.visit, weights)
    at_baseline = (labels[term.visit] == baseline).to_numpy()
    base_row = L[np.flatnonzero(at_baseline)[0]]
    labels = labels[~at_baseline].reset_index(drop=True)
    rows = L[~at_baseline] - base_row
    warn_non_estimable(labels, rows, "change(s) from baseline")
    table = t_table(fit, rows, *resolve(fit, ddf, vcov), alpha).drop(columns=["t", "p"])
    return pd.concat([labels, table], axis=1)
