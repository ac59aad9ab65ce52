"""GLMMResults: the immutable result of :func:`trialmlm.glmm`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.design import Design
from ..engine.formula import ModelFormula
from ..errors import BoundaryWarning, ConvergenceWarning
from .problem import covariance_jacobian


@dataclass(frozen=True)
class GLMMSettings:
    """What was asked: family, link, ``method`` ("laplace" or "quad"), ``n_points`` used
    (1 for Laplace), ``offset`` and ``trials`` columns."""

    family: str
    link: str
    method: str
    n_points: int
    offset: str | None
    trials: str | None


@dataclass(frozen=True)
class GLMMResults:
    """A fitted GLMM.  ``beta``, ``vcov`` (inverse observed information of :math:`\\beta`),
    ``theta`` the log-Cholesky parameters of G (:class:`.problem.Problem`; ``-inf`` for a
    standard deviation held at its boundary 0), ``parameter_vcov`` the inverse observed
    information of :math:`(\\beta, \\theta)` (rows/columns of held parameters are 0),
    ``G`` the random-effects covariance (boundary variances reported as 0), ``loglik`` the
    full marginal log-likelihood at the optimum, ``n_parameters`` (:math:`p` + the free
    parameters of :math:`G`), ``modes`` the conditional modes :math:`\\hat b_i = L\\hat u_i`
    (one row per subject), ``converged``, ``iterations``, ``message``, ``warnings``;
    ``design`` the encoded rows (reference grids, marginal means of :mod:`.margins`).

    With several random-effect terms (:mod:`.multilevel`), ``blocks`` lists each term's
    grouping factor and number of random effects, in formula order: ``G`` is block diagonal
    over them, ``random_names`` are ``FACTOR:EFFECT``, ``theta`` the terms' log-Cholesky
    parameters one after the other, and ``modes`` has one row per (``group``, ``level``)."""

    formula: ModelFormula
    settings: GLMMSettings
    names: tuple[str, ...]
    random_names: tuple[str, ...]
    beta: np.ndarray
    vcov: np.ndarray
    theta: np.ndarray
    parameter_vcov: np.ndarray
    G: np.ndarray
    loglik: float
    n_parameters: int
    n_obs: int
    n_subjects: int
    modes: pd.DataFrame
    converged: bool
    iterations: int
    message: str
    warnings: tuple[str, ...] = ()
    blocks: tuple[tuple[str, int], ...] = ()
    design: Design | None = field(default=None, repr=False, compare=False)

    def coef_table(self, alpha: float = 0.05) -> pd.DataFrame:
        r"""Wald z table of :math:`\beta`: ``estimate, se, z, p, lower, upper``
        (:math:`z = \hat\beta/\mathrm{se}`, two-sided normal p,
        :math:`\hat\beta \pm z_{1-\alpha/2}\mathrm{se}`)."""
        se = np.sqrt(np.diag(self.vcov))
        z = self.beta / se
        half = stats.norm.ppf(1 - alpha / 2) * se
        return pd.DataFrame({"estimate": self.beta, "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z)),
                             "lower": self.beta - half, "upper": self.beta + half}, index=list(self.names))

    @property
    def covariance_parameters(self) -> pd.DataFrame:
        r"""SAS's "Covariance Parameter Estimates": ``parameter`` UN(i,j) (lower triangle, row
        by row), ``subject``, ``estimate`` (the element of G) and ``se``, its standard error by
        the delta method, :math:`\sqrt{\mathrm{diag}(J V_\theta J^\top)}` with :math:`J =
        \partial\,\mathrm{vech}\,G/\partial\theta` (:func:`.problem.covariance_jacobian`)
        and :math:`V_\theta` the :math:`\theta` block of ``parameter_vcov`` (SAS GLIMMIX's Standard
        Error from the inverse Hessian; 0 for a variance held at its boundary).  With several
        terms one block per term (SAS: per RANDOM statement), ``subject`` its grouping factor."""
        frames, start, at = [], 0, self.beta.size
        for factor, q in self.blocks or ((self.formula.subject, self.G.shape[0]),):
            rows, cols = np.tril_indices(q)
            k = rows.size
            J = covariance_jacobian(self.theta[at - self.beta.size: at - self.beta.size + k])
            V = self.parameter_vcov[at:at + k, at:at + k]
            se = np.sqrt(np.maximum(np.einsum("ak,kl,al->a", J, V, J), 0.0))
            frames.append(pd.DataFrame({"parameter": [f"UN({i + 1},{j + 1})" for i, j in zip(rows, cols)],
                                        "subject": factor, "estimate": self.G[start + rows, start + cols],
                                        "se": se}))
            start, at = start + q, at + k
        return pd.concat(frames, ignore_index=True)

    @property
    def aic(self) -> float:
        """:math:`-2\\ell + 2k`, k = ``n_parameters``."""
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        """:math:`-2\\ell + k\\log n` with n the number of rows (R ``BIC`` of ``glmer``; SAS
        GLIMMIX uses the number of subjects)."""
        return -2 * self.loglik + self.n_parameters * np.log(self.n_obs)


def fit_notes(converged: bool, message: str, at_zero: list[str], stacklevel: int) -> tuple[str, ...]:
    """The notes of a fit, each also warned (``stacklevel`` from the caller): the variances of G
    held at 0 (``at_zero``, BoundaryWarning) and a maximisation that did not converge
    (``message``, ConvergenceWarning)."""
    notes = []
    if at_zero:
        notes.append(f"a variance of G is at its boundary 0 ({', '.join(at_zero)}): reported as 0 and held "
                     "there (SAS: 'Estimated G matrix is not positive definite')")
        warnings.warn(notes[-1], BoundaryWarning, stacklevel=stacklevel + 1)
    if not converged:
        notes.append(f"the likelihood maximisation did not converge: {message}; the estimates are not usable")
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=stacklevel + 1)
    return tuple(notes)


def held_inverse(information: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The inverse (pseudo-inverse) of the observed ``information`` of the ``free`` parameters,
    with rows and columns of 0 for the parameters held at a boundary."""
    inverse = np.zeros((free.size, free.size))
    inverse[np.ix_(free, free)] = np.linalg.pinv(information)
    return inverse
