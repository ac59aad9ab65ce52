"""Maximise the likelihood of an assembled :class:`~trialmlm.model.Model` into a result.

The step between :func:`trialmlm.fit` (formula and data in) and :class:`MMRMResults`;
the multiple-imputation code calls it directly to refit one encoded design with new
responses or resampled subjects, without parsing and encoding again.
"""

from __future__ import annotations

import warnings

import numpy as np

from .covariance.random_effects import Independent
from .errors import ConvergenceWarning
from .model import Model
from .optimize import maximise
from .results import FitSettings, MMRMResults


def estimate(model: Model, ddf: str, vcov: str, start: np.ndarray | None = None,
             warn: bool = True) -> MMRMResults:
    """REML/ML estimates of ``model`` with the settings recorded for inference.

    ``start`` replaces the moment-based starting values (e.g. a previous fit's ``phi``).
    With ``warn=False`` convergence problems are only recorded in ``warnings`` (and
    ``converged``), for callers that aggregate many fits.
    """
    design, lik, parsed = model.design, model.likelihood, model.formula
    term = parsed.covariance
    opt = maximise(lik, model.start() if start is None else start)
    problems = []
    if not opt.converged:
        problems.append(f"the optimiser did not converge ({opt.message}); estimates are not reliable")
    try:
        chol = np.linalg.cholesky(opt.evaluation.hess)
        inv = np.linalg.inv(chol)
        phi_cov = 2.0 * inv.T @ inv
    except np.linalg.LinAlgError:
        phi_cov = np.full((lik.n_params, lik.n_params), np.nan)
        problems.append("the Hessian of the likelihood is not positive definite at the estimate; "
                     "covariance parameter standard errors are unavailable")
    if warn:
        for problem in problems:
            warnings.warn(problem, ConvergenceWarning, stacklevel=3)
    aliased = [f"aliased fixed effects dropped: {', '.join(design.aliased)}"] if design.aliased else []
    settings = FitSettings(formula=parsed.text, method="REML" if lik.reml else "ML", weights=model.weights,
                           structure=term.structure if term else Independent.name, subject=parsed.subject,
                           visit=term.positions if term else (), group=term.group if term else None,
                           response=parsed.response, ddf=ddf, vcov=vcov,
                           random=" + ".join(map(str, parsed.random_terms)) or None)
    return MMRMResults(
        settings=settings, design=design, structures=model.structures, phi=opt.phi, phi_cov=phi_cov,
        beta=opt.evaluation.beta, beta_cov=opt.evaluation.cov_beta, jac_info=opt.evaluation.jac_info,
        likelihood=lik, loglik=-0.5 * opt.evaluation.value, converged=opt.converged, n_iter=opt.n_iter,
        optimizer=opt.optimizer, warnings=tuple(aliased + problems),
    )
