"""A fit refits itself: the one path from a fitted model and new data to a new fit.

:meth:`MMRMResults.refit` (and through it multiple imputation, the jackknife, the
bootstrap, the covariance fallback and fits from partitions) re-uses the fit's
:class:`~trialmlm.engine.model.Model`: its parsed formula and covariance term (a value,
:class:`~trialmlm.engine.formula.CovarianceTerm`, reconciled with the formula once, when the
formula was parsed), its encoding where the data keep it.  Nothing travels as formula
text; the covariance is parsed once per fit.

=========================  =====================================================
new                        model
=========================  =====================================================
nothing                    the fit's own
``response``, same rows     :meth:`Model.with_response` (the design's patterns kept)
  observed
``response`` otherwise,    :func:`~trialmlm.engine.model.build_model` of the parsed formula
``data``, ``weights``      on the data (the fit's rows with the new response)
a :class:`Design`           :meth:`Model.with_design` (a resample of the fit's)
a subset of the subjects   :func:`subset_model` (the jackknife: the left-out subjects'
                           sums subtracted, no new reduction)
partitioned ``data``       :func:`~trialmlm.engine.partitioned.reduce_partitions`
=========================  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import DataError
from .design import Design
from .estimate import estimate
from .fallback import attempt
from .model import Model, build_model
from .moments import without_subjects
from .parms import resolve_parms
from .partitioned import is_partitioned, reduce_partitions
from .results import MMRMResults, parameter_names
from .threads import blas_threads

Values = Mapping[str, float] | Sequence[float] | np.ndarray | None


def fit_model(model: Model, ddf: str, vcov: str, start: Values = None, fixed: Values | str = None,
              noiter: bool = False) -> MMRMResults:
    """The fit of an assembled ``model``: ``start``/``fixed``/``noiter`` as in :func:`trialmlm.fit`
    (SAS PARMS, HOLD=, NOITER; recorded in the settings), or ``start`` an array of every
    covariance parameter, a warm start of the optimiser that is not recorded.  Problems are
    recorded, not warned (:meth:`MMRMResults.warn_problems`)."""
    warm = np.array(start, dtype=float) if isinstance(start, np.ndarray) else None
    names = parameter_names(model.likelihood, model.design, model.spec)
    default = model.start if warm is None else (lambda: warm)
    resolved = resolve_parms(model.likelihood, names, default, None if warm is not None else start, fixed,
                             noiter)
    fit = estimate(model, ddf=ddf, vcov=vcov, start=warm, parms=resolved)
    return replace(fit, covariance_attempts=(attempt(fit, used=True),))


def refit(fit: MMRMResults, data=None, response=None, weights: str | None = None, start: Values = None,
          fixed: Values | str = None) -> MMRMResults:
    """``fit``'s model refitted (see :meth:`MMRMResults.refit` and the module docstring)."""
    s = fit.settings
    start = (dict(s.start) or None) if start is None else start
    fixed = (dict(s.fixed) or None) if fixed is None else fixed
    with blas_threads():  # the moments and the likelihood's small matrices: one BLAS thread
        model = refit_model(fit.model, data, response, weights)
        return fit_model(model, s.ddf, s.vcov, start, fixed, s.noiter)


def refit_model(model: Model, data=None, response=None, weights: str | None = None) -> Model:
    """``model`` on new data, responses or weights (module docstring); its parsed formula and
    covariance term re-used."""
    method = "REML" if model.likelihood.reml else "ML"
    if isinstance(data, Design):
        return model.with_design(data)
    if data is not None and is_partitioned(data):
        reduced = reduce_partitions(data, model.formula, weights or model.weights)
        return reduced.model(model.formula, method)
    if model.spec.from_sums and (data is not None or response is not None or weights):
        raise DataError("a fit from partitions is refitted on partitioned data only (data= a Dask "
                        "DataFrame or Parquet dataset); it keeps no rows to change")
    if response is not None:
        if data is not None:
            raise DataError("refit takes new data= or a new response=, not both: assign the response to "
                            "the data")
        values = _response(model, response)
        y = values[model.design.row_position]
        if weights is None and np.array_equal(np.isfinite(values), _observed(model)):
            return model.with_response(y)
        data = model.design.source.assign(**{model.formula.response: values})
    if data is None and weights is None:
        return model
    return build_model(model.formula, model.design.source if data is None else data, method,
                       weights or model.weights)


def subset_model(model: Model, subjects: np.ndarray) -> Model:
    """``model`` on the subjects ``subjects`` (design codes, increasing: a subset in the design's
    order, e.g. a jackknife sample): the design resampled
    (:meth:`~trialmlm.engine.design.Design.resample`) and the per-pattern sums downdated by the
    subjects left out (:func:`~trialmlm.engine.moments.without_subjects`) instead of reduced anew."""
    design = model.design
    if model.spec.independent_residuals:  # per-subject sums: one pass over the rows, nothing to downdate
        return model.with_design(design.resample(subjects))
    left_out = np.ones(design.subject_labels.size, dtype=bool)
    left_out[subjects] = False
    return model.with_design(design.resample(subjects),
                             without_subjects(model.likelihood.batches, design, np.flatnonzero(left_out)))


def _observed(model: Model) -> np.ndarray:
    """Which rows of the fit's data are analysed."""
    used = np.zeros(len(model.design.source), dtype=bool)
    used[model.design.row_position] = True
    return used


def _response(model: Model, response) -> np.ndarray:
    """New response values for every row of the fit's data, in its row order."""
    source = model.design.source
    if isinstance(response, pd.Series):
        values = response.reindex(source.index).to_numpy(dtype=float)
    else:
        values = np.asarray(response, dtype=float)
    if values.shape != (len(source),):
        raise DataError(f"response= needs one value per row of the fitted data ({len(source)} rows), "
                        f"got shape {values.shape}")
    return values
