"""GLMMResults: the immutable result of :func:`trialmlm.glmm`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.design import Design
from ..engine.formula import ModelFormula


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
    ``design`` the encoded rows (reference grids, marginal means of :mod:`.margins`)."""

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
        """SAS's "Covariance Parameter Estimates": ``parameter`` UN(i,j) (lower triangle, row
        by row), ``subject``, ``estimate`` (the element of G)."""
        rows, cols = np.tril_indices(self.G.shape[0])
        return pd.DataFrame({"parameter": [f"UN({i + 1},{j + 1})" for i, j in zip(rows, cols)],
                             "subject": self.formula.subject, "estimate": self.G[rows, cols]})

    @property
    def aic(self) -> float:
        """:math:`-2\\ell + 2k`, k = ``n_parameters``."""
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        """:math:`-2\\ell + k\\log n` with n the number of rows (R ``BIC`` of ``glmer``; SAS
        GLIMMIX uses the number of subjects)."""
        return -2 * self.loglik + self.n_parameters * np.log(self.n_obs)
