"""trialmlm: mixed models for repeated measures in clinical trials, matching SAS PROC MIXED.

>>> import trialmlm
>>> df = trialmlm.read("sample_data/depression_trial.csv", param="HAMD17")
>>> fit = trialmlm.fit("CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)", data=df)

Binary and count endpoints: ``trialmlm.gee("CRIT1FL ~ TRT01P * AVISIT", df, family="binomial",
working="exchangeable", subject="USUBJID", visit="AVISIT")`` and
``trialmlm.marginal_effects(gee_fit, "TRT01P", by="AVISIT")`` (:mod:`trialmlm.genmod`).

The names below are imported on first use (PEP 562), as are the subpackages
(``trialmlm.missing``, ``trialmlm.estimands``, ``trialmlm.power``, ...): ``import trialmlm`` itself loads no
numerical library, so that the command line (:mod:`trialmlm.entry`) handles Ctrl-C from
its first moment.
"""

from __future__ import annotations

import importlib

from .errors import (
    BoundaryWarning,
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    DataWarning,
    FormulaError,
    SelectionTieError,
    SeparationWarning,
    TrialMLMError,
)

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {"fit": ".api", "select_covariance": ".api", "read": ".data.io", "STRUCTURES": ".covariance",
         "MMRMResults": ".engine.results",
         "gee": ".genmod", "marginal_effects": ".genmod", "GEEResults": ".genmod",
         "glmm": ".glimmix", "GLMMResults": ".glimmix",
         "change_lsmeans": ".inference.change", "subgroups": ".inference.subgroups"}

__all__ = ["fit", "select_covariance", "gee", "marginal_effects", "GEEResults", "glmm", "GLMMResults", "read",
           "STRUCTURES", "MMRMResults", "change_lsmeans", "subgroups",
           "BoundaryWarning", "ConvergenceError", "ConvergenceWarning", "DataError", "DataWarning",
           "FormulaError", "SelectionTieError", "SeparationWarning", "TrialMLMError", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
