r"""Covariances of :math:`\hat\beta` that cost more than a solve, computed once per fit.

The sandwich covariances, their Satterthwaite df terms and the Kenward-Roger adjusted
covariance (formulas in :mod:`.vcov`) are kept in the fit's one store
(:meth:`trialmlm.engine.results.MMRMResults.cached`), read-only because every caller shares them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .vcov import empirical_covariance, empirical_df_terms, kenward_roger_covariance


def _cached(fit, key: tuple, make: Callable):
    """``make()`` once per ``fit`` and ``key``, its arrays read-only."""
    def made():
        value = make()
        for a in value if isinstance(value, tuple) else (value,):
            a.setflags(write=False)  # shared by every caller: read-only, as the fit's own arrays
        return value

    return fit.cached(("inference", *key), made)


def covariance(fit, vcov: str) -> np.ndarray:
    """The covariance of :math:`\\hat\\beta` named ``vcov``: the fit's model-based
    :math:`(X^\\top V^{-1}X)^{-1}` or a sandwich (:func:`.vcov.empirical_covariance`)."""
    if vcov == "model":
        return fit.beta_cov
    return _cached(fit, ("sandwich", vcov), lambda: empirical_covariance(fit, vcov))


def sandwich_df_terms(fit, vcov: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster matrices of the Satterthwaite df of the sandwich ``vcov``
    (:func:`.vcov.empirical_df_terms`)."""
    return _cached(fit, ("sandwich-df", vcov), lambda: empirical_df_terms(fit, vcov))


def kenward_roger(fit, linear: bool) -> np.ndarray:
    """Kenward-Roger's adjusted covariance (:func:`.vcov.kenward_roger_covariance`)."""
    return _cached(fit, ("kenward-roger", linear), lambda: kenward_roger_covariance(fit, linear))
