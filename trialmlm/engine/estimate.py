"""Maximise the likelihood of an assembled :class:`~trialmlm.engine.model.Model` into a result.

The step between :func:`trialmlm.fit` (formula and data in) and :class:`MMRMResults`;
every refit (:meth:`MMRMResults.refit`, :mod:`trialmlm.engine.refit`) comes here too, with the
fit's model re-used, without parsing and encoding again.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..covariance.random_effects import Independent
from .boundary import boundary_point
from .model import Model
from .optimize import maximise
from .parms import Parms
from .results import ALIASED, FitSettings, MMRMResults, parameter_names
from .threads import blas_threads

SINGULAR_RATIO = 1e-10  # smallest / largest eigenvalue of Sigma below which it counts as singular


def estimate(model: Model, ddf: str, vcov: str, start: np.ndarray | None = None,
             warn: bool = False, parms: Parms | None = None) -> MMRMResults:
    """REML/ML estimates of ``model`` with the settings recorded for inference.

    ``start`` replaces the moment-based starting values (e.g. a previous fit's ``phi``).
    ``parms`` (:func:`trialmlm.engine.parms.resolve_parms`) gives starting values by name, holds
    parameters (their rows and columns of ``phi_cov`` zero, the free block
    :math:`2H_{ff}^{-1}`) or evaluates without iterations (NOITER).
    Convergence problems are recorded in ``warnings`` (and ``converged``); the entry
    points issue them (:meth:`MMRMResults.warn_problems`) where the user called, so that
    no warning depends on how deep in the calls a fit was made.  ``warn=True`` issues them
    at the caller of this function.
    """
    design, lik, parsed = model.design, model.likelihood, model.formula
    term = parsed.covariance
    if parms is not None:
        start = parms.phi
    held = parms.held if parms is not None else np.zeros(lik.n_params, dtype=bool)
    with blas_threads():  # small matrices: one BLAS thread (engine/threads.py)
        opt = maximise(lik, model.start() if start is None else start, held=held,
                       iterate=parms is None or not parms.noiter)
        phi, evaluation = opt.phi, opt.evaluation
        edge = boundary_point(lik, phi, evaluation.value, held) if opt.converged else None
        if edge is not None:
            phi, evaluation, held = edge.phi, edge.evaluation, held | edge.at
            names = [n for n, a in zip(parameter_names(lik, design, model.spec), edge.at) if a]
        phi_cov = covariance_of_phi(evaluation.hess, held)
    problems = []
    if not opt.converged:
        problems.append(f"the optimiser did not converge ({opt.message}); estimates are not reliable")
    if np.isnan(phi_cov).any():
        problems.append("the Hessian of the likelihood is not positive definite at the estimate; "
                        "covariance parameter standard errors are unavailable")
    aliased = [ALIASED + ", ".join(design.aliased)] if design.aliased else []
    settings = FitSettings(formula=parsed.text, method="REML" if lik.reml else "ML", weights=model.weights,
                           structure=term.structure if term else Independent.name, subject=parsed.subject,
                           visit=term.positions if term else (), group=term.group if term else None,
                           response=parsed.response, ddf=ddf, vcov=vcov,
                           random=" + ".join(map(str, parsed.random_terms)) or None,
                           start=parms.start if parms else (), fixed=parms.fixed if parms else (),
                           noiter=bool(parms and parms.noiter))
    result = MMRMResults(
        settings=settings, design=design, structures=model.structures, phi=phi, phi_cov=phi_cov,
        beta=evaluation.beta, beta_cov=evaluation.cov_beta, jac_info=evaluation.jac_info,
        likelihood=lik, loglik=-0.5 * evaluation.value, converged=opt.converged, n_iter=opt.n_iter,
        optimizer=opt.optimizer, warnings=tuple(aliased + problems),
        boundary=tuple(names) if edge is not None else (), model=model,
    )
    singular = singular_residual(result)
    if singular:
        problems.append(singular)
        result = replace(result, converged=False, warnings=result.warnings + (singular,))
    if warn:  # at the caller of estimate
        result.warn_problems(stacklevel=2)
    return result


def covariance_of_phi(hess: np.ndarray, held: np.ndarray) -> np.ndarray:
    r"""Asymptotic covariance of the covariance parameters, :math:`2H_{ff}^{-1}` over the free
    ones (``~held``), zero rows and columns for the held ones; NaN over the free block where
    :math:`H_{ff}` is not positive definite."""
    free = np.flatnonzero(~held)
    out = np.zeros(hess.shape)
    try:
        inv = np.linalg.inv(np.linalg.cholesky(hess[np.ix_(free, free)]))
        out[np.ix_(free, free)] = 2.0 * inv.T @ inv
    except np.linalg.LinAlgError:
        out[np.ix_(free, free)] = np.nan
    return out


def singular_residual(fit: MMRMResults) -> str | None:
    r"""Why the residual covariance matrix of ``fit`` is numerically singular, or None.

    A visit-indexed :math:`\Sigma` (of any group) whose smallest eigenvalue is below
    ``SINGULAR_RATIO`` times its largest has a variance at zero or a correlation at
    :math:`\pm 1`: the (RE)ML objective has no maximum inside the parameter space there
    (with a visit whose responses are all fitted exactly it is unbounded, -2 log L
    :math:`\to -\infty`), whatever the optimiser's stopping rule says.  Checked only
    where :math:`\Sigma` is the marginal covariance: not with random effects (where
    :math:`ZGZ^\top + R` stays positive definite with a singular :math:`R` at a boundary
    estimate such as an antedependence correlation of 1), not for spatial structures
    (a matrix over all observed coordinates, singular as points come close).
    """
    if not fit.spec.marginal or fit.spec.spatial:
        return None
    parameters = fit.likelihood.subject_level.parameters
    for g, label in enumerate(fit.group_labels):
        block = parameters.residual(g)  # the matrix of fit.covariance_matrix(label), without the labels
        sigma = block.transform.matrix(fit.phi[block.at])
        eig = np.linalg.eigvalsh(sigma) if np.all(np.isfinite(sigma)) else np.array([np.nan, 1.0])
        if not eig[0] > SINGULAR_RATIO * eig[-1]:
            where = f" of {fit.spec.group}={label!r}" if fit.spec.group else ""
            return (f"residual covariance matrix{where} numerically singular (smallest/largest eigenvalue "
                    f"{eig[0] / eig[-1]:.3g}, -2 log L = {-2 * fit.loglik:.6g}): a variance at zero or a "
                    "correlation at +-1, not a maximum of the likelihood")
    return None
