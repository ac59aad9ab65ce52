"""The friendly entry points of trialmlm."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .covariance import get_structure
from .covariance.random_effects import Independent, RandomEffects
from .design import build_design
from .errors import ConvergenceWarning, DataError
from .formula import parse_formula
from .identifiability import check_combination, check_estimable
from .inference.ddf import check_ddf
from .inference.vcov import check_vcov
from .likelihood import Likelihood
from .optimize import maximise
from .patterns import build_batches
from .results import FitSettings, MMRMResults


def fit(formula: str, data: pd.DataFrame, method: str = "REML", weights: str | None = None,
        ddf: str = "satterthwaite", vcov: str = "model") -> MMRMResults:
    """Fit a mixed model for repeated measures (MMRM) by REML or ML.

    Parameters
    ----------
    formula : str
        ``"RESPONSE ~ mean model + STRUCT(VISIT | SUBJECT)"``, e.g.
        ``"FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"``.  The mean model is
        Wilkinson syntax; ``STRUCT`` is one of :data:`trialmlm.STRUCTURES`;
        ``STRUCT(VISIT | GROUP / SUBJECT)`` fits a separate matrix per ``GROUP`` level
        (SAS ``GROUP=``); ``sp_exp(TIME | SUBJECT)`` takes numeric coordinates.
    data : pandas.DataFrame
        One row per subject and visit; never modified.  Rows with a missing response
        or covariate are dropped; every other observed visit is used (valid under MAR).
    method : "REML" (default) or "ML".
    weights : str, optional
        Column of positive weights with SAS ``WEIGHT`` semantics: the residual
        covariance of a subject is :math:`W^{-1/2}\\Sigma W^{-1/2}`.
    ddf : default degrees-of-freedom method of the inference methods: "satterthwaite",
        "kenward-roger", "kenward-roger-linear", "between-within", "residual", "containment".
    vcov : default covariance of beta: "model", "empirical" (CR0, SAS EMPIRICAL),
        "empirical-bias-reduced" (CR2), "empirical-jackknife" (CR3).

    Returns
    -------
    MMRMResults

    Raises
    ------
    FormulaError, DataError
        With the offending column, level, subject or visit named.
    """
    method_u = str(method).upper()
    if method_u not in ("REML", "ML"):
        raise DataError(f"method must be 'REML' or 'ML', got {method!r}")
    check_ddf(ddf)
    check_vcov(vcov)
    parsed = parse_formula(formula)
    term = parsed.covariance
    cls = get_structure(term.structure) if term else Independent
    check_combination(parsed, cls)
    design = build_design(data, parsed, weights, cls.spatial)
    dim = len(term.positions) if cls.spatial else len(design.position_labels)
    grouped = term is not None and term.group is not None
    structures = tuple(cls(dim, grouped=grouped) for _ in design.group_labels)
    if parsed.random:
        structures = tuple(RandomEffects(s, design.random_names, parsed.random.diagonal) for s in structures)
    check_estimable(design, cls, term, sum(s.n_params for s in structures))

    batches = build_batches(design)
    lik = Likelihood(batches, list(structures), design.y.size, design.X.shape[1],
                     float(np.log(design.weights).sum()), reml=method_u == "REML")
    moments = lik.ols_moments()
    start = np.concatenate([s.start(parts) for s, parts in zip(structures, moments)])
    opt = maximise(lik, start)

    notes = []
    if design.aliased:
        notes.append(f"aliased fixed effects dropped: {', '.join(design.aliased)}")
    if not opt.converged:
        msg = f"the optimiser did not converge ({opt.message}); estimates are not reliable"
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        notes.append(msg)
    try:
        chol = np.linalg.cholesky(opt.evaluation.hess)
        inv = np.linalg.inv(chol)
        phi_cov = 2.0 * inv.T @ inv
    except np.linalg.LinAlgError:
        phi_cov = np.full((lik.n_params, lik.n_params), np.nan)
        msg = "the Hessian of the likelihood is not positive definite at the estimate; " \
              "covariance parameter standard errors are unavailable"
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        notes.append(msg)
    settings = FitSettings(formula=formula, method=method_u, weights=weights,
                           structure=term.structure if term else Independent.name, subject=parsed.subject,
                           visit=term.positions if term else (), group=term.group if term else None,
                           response=parsed.response, ddf=ddf, vcov=vcov,
                           random=str(parsed.random) if parsed.random else None)
    return MMRMResults(
        settings=settings, design=design, structures=structures, phi=opt.phi, phi_cov=phi_cov,
        beta=opt.evaluation.beta, beta_cov=opt.evaluation.cov_beta, jac_info=opt.evaluation.jac_info,
        loglik=-0.5 * opt.evaluation.value, converged=opt.converged, n_iter=opt.n_iter,
        optimizer=opt.optimizer, warnings=tuple(notes),
    )
