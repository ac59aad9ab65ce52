r"""The registry of imputation methods (R rbmi's ``method_*`` objects) and their pooling rules.

A method is a frozen value: what :meth:`trialmlm.estimands.pipeline.ImputationModel.draws`
resamples and how :meth:`~trialmlm.estimands.pipeline.Analyses.pool` combines the analyses.
Every method names its number of samples ``n_samples``.

=====================  ==============================  ==========================================
trialmlm               rbmi                            pooling (:mod:`.rubin`, :mod:`.pooling`)
=====================  ==============================  ==========================================
``ApproxBayes(n)``     ``method_approxbayes(n_samples)``  Rubin's rules, Barnard-Rubin df
``CondMean()``         ``method_condmean("jackknife")``   jackknife SE, normal interval
``CondMean("bootstrap", n)``  ``method_condmean("bootstrap")``  bootstrap percentile or normal
``BMLMI(B, D)``        ``method_bmlmi(B, D)``             von Hippel & Bartlett's ANOVA
=====================  ==============================  ==========================================

Each method's :meth:`pool` takes the full-data estimates ``point`` (R,) (None when the method
has none) and the per-sample ``samples`` -- (M, 3, R) estimate, variance and df of each
imputation (approximate Bayes), (S, R) estimates of each resample (conditional mean), (B, D,
R) estimates of each imputation of each bootstrap sample (BMLMI) -- and returns the tidy
table ``estimate, se, df, t, p, lower, upper`` (``fmi`` too under Rubin's rules).  A new
method is one class here plus its engine (:data:`trialmlm.estimands.pipeline.ENGINES`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .pooling import bmlmi_table, bootstrap_table, check_pooling, jackknife_table
from .rubin import pool as rubin_pool

CONDMEAN_TYPES = ("jackknife", "bootstrap")


def check_count(name: str, value) -> int:
    """``value`` as an integer of at least 2 (a number of samples or imputations)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
        raise DataError(f"{name} must be an integer of at least 2, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ApproxBayes:
    """Approximate Bayesian multiple imputation: ``n_samples`` imputations, each from the MMRM
    refitted to a stratified bootstrap sample; pooled by Rubin's rules."""

    n_samples: int = 100
    name = "approxbayes"

    def __post_init__(self):
        check_count("n_samples", self.n_samples)

    def pool(self, point, samples: np.ndarray, alpha: float, pooling=None) -> pd.DataFrame:
        """Rubin's rules over the (M, 3, R) estimates, variances and df (:func:`.rubin.pool`)."""
        if pooling is not None:
            raise DataError(f"pooling={pooling!r} is for condmean(type='bootstrap'); multiple imputation is "
                            "pooled by Rubin's rules")
        return rubin_pool(samples[:, 0], samples[:, 1], samples[:, 2], alpha)


@dataclass(frozen=True)
class CondMean:
    """Conditional mean imputation with jackknife (one refit per subject left out) or
    bootstrap (``n_samples`` refits) inference (Wolbers et al. 2022)."""

    type: str = "jackknife"
    n_samples: int | None = None
    name = "condmean"

    def __post_init__(self):
        if self.type not in CONDMEAN_TYPES:
            raise DataError(f"type must be one of {', '.join(map(repr, CONDMEAN_TYPES))}, got {self.type!r}")
        if self.type == "jackknife" and self.n_samples is not None:
            raise DataError("n_samples and seed are for type='bootstrap'; the jackknife leaves out each "
                            "subject once")
        if self.type == "bootstrap":
            check_count("n_samples", self.n_samples)

    def pool(self, point: np.ndarray, samples: np.ndarray, alpha: float, pooling=None) -> pd.DataFrame:
        """Jackknife SE and normal interval, or bootstrap ``pooling`` "percentile" (default) or
        "normal" (:mod:`.pooling`)."""
        if self.type == "bootstrap":
            return bootstrap_table(point, samples, alpha, check_pooling(pooling))
        if pooling is not None:
            raise DataError(f"pooling={pooling!r} is for type='bootstrap'; the jackknife has one (normal) "
                            "pooling")
        return jackknife_table(point, samples, alpha)


@dataclass(frozen=True)
class BMLMI:
    """Bootstrapped maximum-likelihood multiple imputation: ``B`` bootstrap refits, ``D``
    random imputations of each (von Hippel & Bartlett 2021); ``n_samples`` is ``B``."""

    B: int = 20
    D: int = 2
    name = "bmlmi"

    def __post_init__(self):
        check_count("D", self.D)
        check_count("B", self.B)

    @property
    def n_samples(self) -> int:
        """The number of bootstrap samples ``B``."""
        return self.B

    def pool(self, point, samples: np.ndarray, alpha: float, pooling=None) -> pd.DataFrame:
        """Von Hippel & Bartlett's pooling of the (B, D, R) estimates (:func:`.pooling.bmlmi_table`)."""
        if pooling is not None:
            raise DataError(f"pooling={pooling!r} is for condmean(type='bootstrap'); bootstrapped ML "
                            "multiple imputation is pooled by von Hippel & Bartlett's formula only")
        return bmlmi_table(samples, alpha)


METHODS = {cls.name: cls for cls in (ApproxBayes, CondMean, BMLMI)}
"""Imputation method classes by name (rbmi's ``method_<name>``)."""


def method(name: str, *args, **kwargs):
    """The method ``name`` (a key of :data:`METHODS`) built from ``args``/``kwargs``."""
    if name not in METHODS:
        raise DataError(f"imputation method must be one of {', '.join(map(repr, METHODS))}; got {name!r}")
    return METHODS[name](*args, **kwargs)
