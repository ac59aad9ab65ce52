r"""The responder (binary) analysis by a logistic GLMM (``endpoint="binary"``, ``model="glmm"``).

:data:`GLMM_ENGINE` reads the records and handles intercurrent events as the GEE report does
(:mod:`trialmlm.app.responder_report`), then fits the subject-specific model by maximum
likelihood (:func:`trialmlm.glmm`; SAS PROC GLIMMIX ``METHOD=QUAD | LAPLACE``):

    logit P(RESPONSE = 1 | b_i) = COVARIATES + ARM * VISIT + b_i (+ b_i1 TIME),  b_i ~ N(0, G)

The random effects of ``covariance`` (``intercept``, ``slope``) are tried in order; a fit that
did not converge is not usable, and when none is usable ``analyze`` stops with exit status 3
(unless ``allow_nonconvergence``).  Arm-by-visit cells without responders (or without
non-responders) stop the analysis before any fit, as for the GEE: their terms diverge.
"""

from __future__ import annotations

from ..errors import ConvergenceError
from ..glmm import glmm as fit_glmm
from .config import AnalysisConfig
from .context import Engine
from .responder_report import handle_intercurrent, read_responders, separated_cells


def glmm_failure(fit) -> str:
    """Why a GLMM fit is not usable ("" when it is)."""
    return "" if fit.converged else f"the likelihood maximisation did not converge ({fit.message})"


def fit_glmm_responders(config: AnalysisConfig, records) -> list[tuple[object, object]]:
    """``[(None, fit)]``: the first random-effects choice of ``config.structures`` whose fit is
    usable; ConvergenceError (exit status 3) naming the separated cells, or each choice's
    failure, when there is none (with ``allow_nonconvergence``: the first fit made)."""
    cells = separated_cells(config, records)
    if cells and not config.allow_nonconvergence:
        raise ConvergenceError(f"no usable GLMM fit of {config.formula}: separation in {'; '.join(cells)}; "
                               f"the {config.arm} * {config.visit} terms of these cells diverge. Leave the "
                               "visits out (--where), or write the report anyway with --allow-nonconvergence")
    fits, tried = [], []
    for structure in config.structures:
        fit = fit_glmm(config.formula_with(structure), records, family="binomial",
                       method=config.method.lower(), n_points=config.quadrature_points)
        why = glmm_failure(fit)
        if not why:
            return [(None, fit)]
        fits.append(fit)
        tried.append(f"{structure}: {why}")
    if config.allow_nonconvergence and fits:
        return [(None, fits[0])]
    raise ConvergenceError(f"no usable GLMM fit of {config.formula} ({'; '.join(tried)}); try the random "
                           "intercept alone (--covariance intercept), fewer covariates, or write the report "
                           "anyway with --allow-nonconvergence")


GLMM_ENGINE = Engine(read=read_responders, prepare=handle_intercurrent, fit=fit_glmm_responders,
                     failure=glmm_failure, n_obs=lambda fit: fit.n_obs)
