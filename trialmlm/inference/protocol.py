r"""The one result API of an analysis: LS means and their comparisons (SAS ``LSMEANS / DIFF``).

A fit (:class:`trialmlm.MMRMResults`) and a pooled imputation result
(:class:`trialmlm.estimands.PooledResult`, every method) both implement :class:`Comparisons`:
the same method names, keyword names, defaults, validation and columns, so that code written
for one runs on the other:

* ``lsmeans(specs, by=None, alpha=0.05, **options)``: factor columns, then ``estimate, se,
  df, lower, upper``;
* ``compare(spec, by=None, reference=None, pairwise=False, adjust=None, alpha=0.05,
  **options)``: ``by`` columns, ``spec``, ``contrast`` ("i - j"), then ``estimate, se, df, t,
  p, lower, upper``; each level minus ``reference`` (default: the first level) or, with
  ``pairwise=True``, every pair; ``adjust`` None, "bonferroni", "holm", "dunnett" (with a
  reference) or "tukey" (pairs), within each ``by`` level.

``options`` are the fit's choices of the reference grid and of inference: ``ddf``, ``vcov``,
``weights`` ("equal", "proportional", "outer" or "cells": :data:`trialmlm.inference.grid.WEIGHTS`),
``at`` (covariate values) and ``slope``
(:meth:`trialmlm.MMRMResults.lsmeans`).  An unknown factor, level or keyword is a
:class:`~trialmlm.errors.DataError` that names it.  A pooled result adds the column ``fmi``
(fraction of missing information).  ``contrast(L)`` and ``anova()`` are defined for a fit only.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from ..errors import DataError

OPTIONS = ("ddf", "vcov", "weights", "at", "slope")


@runtime_checkable
class Comparisons(Protocol):
    """LS means and comparisons of levels, as described in :mod:`trialmlm.inference.protocol`."""

    def lsmeans(self, specs, by=None, alpha: float = 0.05, **options) -> pd.DataFrame:
        """LS means of ``specs`` per ``by`` level."""

    def compare(self, spec, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, **options) -> pd.DataFrame:
        """Differences of the levels of ``spec`` per ``by`` level."""


def check_options(method: str, options: dict, allowed: tuple[str, ...] = OPTIONS) -> dict:
    """``options`` of ``method`` (``"lsmeans"`` or ``"compare"``); DataError naming an unknown
    keyword.  ``allowed``: the result's options (a GEE's: ``vcov``, ``weights``, ``at``, ``ilink``)."""
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise DataError(f"{method}() has no keyword {', '.join(map(repr, unknown))}; its options are "
                        f"{', '.join(allowed)}")
    return options
