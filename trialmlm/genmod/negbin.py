r"""The dispersion :math:`k` of a negative binomial GEE: maximum likelihood of the independence
model (SAS GENMOD ``DIST=NB``; R ``MASS::glm.nb``, :math:`\theta = 1/k`).

SAS GENMOD's GEE for ``DIST=NB`` uses the variance function :math:`v(\mu) = \mu + k\mu^2`
"where k is the maximum likelihood estimate of the negative binomial dispersion parameter"
(SAS/STAT User's Guide, The GENMOD Procedure, Details, "Generalized Estimating Equations"),
the estimate of the ordinary (independence) negative binomial regression that also gives the
GEE's initial values; :math:`k` is then held fixed while :math:`\beta`, :math:`\phi` and
:math:`\alpha` are estimated.  The maximum-likelihood fit alternates, as ``glm.nb``, between

* :math:`\beta` given :math:`\theta`: the GLM with :math:`v(\mu) = \mu + \mu^2/\theta`
  (the independence GEE of :mod:`.scoring`), and
* :math:`\theta` given :math:`\mu`: the root of the profile score
  :math:`\sum_j \psi(y_j+\theta) - \psi(\theta) + \log\theta + 1 - \log(\theta+\mu_j)
  - (y_j+\theta)/(\theta+\mu_j)` (``MASS::theta.ml``), found on :math:`\log\theta`,

from the Poisson fit, until :math:`\theta` changes by less than ``1e-10`` relative and
:math:`\beta` has converged.  If the score stays positive as :math:`\theta \to \infty` there is
no overdispersion (:func:`theta_ml`): :math:`k = 0` (the Poisson model) with a
:class:`~trialmlm.errors.BoundaryWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from scipy import optimize, special

from ..errors import BoundaryWarning, ConvergenceWarning
from .scoring import Problem, glm_start, solve
from .working import WORKING

THETA_MAX = 1e8  # theta beyond this is k = 0: the Poisson limit
THETA_MIN = 1e-8
THETA_TOL = 1e-10


def theta_score(log_theta: float, y: np.ndarray, mu: np.ndarray) -> float:
    """The profile score of :math:`\\theta` (module docstring) at ``exp(log_theta)``."""
    t = np.exp(log_theta)
    return float(np.sum(special.digamma(y + t) - special.digamma(t) + np.log(t) + 1.0 - np.log(t + mu)
                        - (y + t) / (t + mu)))


def theta_ml(y: np.ndarray, mu: np.ndarray) -> float:
    """:math:`\\hat\\theta` given the means ``mu``; ``inf`` in the Poisson limit, when
    :math:`\\sum_j (y_j-\\mu_j)^2 - y_j \\le 0` (the score's leading term as
    :math:`\\theta \\to \\infty`, :math:`\\sum_j ((y_j-\\mu_j)^2 - y_j)/(2\\theta^2)`) or the score
    is still positive at ``THETA_MAX``."""
    hi = np.log(THETA_MAX)
    if np.sum((y - mu) ** 2 - y) <= 0 or theta_score(hi, y, mu) >= 0:
        return np.inf
    lo = np.log(THETA_MIN)
    if theta_score(lo, y, mu) <= 0:
        return THETA_MIN
    return float(np.exp(optimize.brentq(theta_score, lo, hi, args=(y, mu), xtol=1e-14, rtol=1e-14)))


def maximum_likelihood_k(problem: Problem, tol: float, maxiter: int) -> float:
    """:math:`\\hat k = 1/\\hat\\theta` of the independence negative binomial regression of
    ``problem`` (module docstring); warns when it is 0 or when the alternation does not settle."""
    independence = replace(problem, working=WORKING["independence"])
    family = problem.family
    beta = solve(replace(independence, family=family.with_k(0.0)), glm_start(problem), tol, maxiter).beta
    theta = np.nan
    for _ in range(maxiter):
        new = theta_ml(problem.y, problem.means(beta)[0])
        if not np.isfinite(new):
            warnings.warn("the negative binomial dispersion k is estimated at 0 (no overdispersion): the "
                          "model is the Poisson model; fit family='poisson'", BoundaryWarning, stacklevel=4)
            return 0.0
        settled = np.isfinite(theta) and abs(new - theta) <= THETA_TOL * theta
        theta = new
        est = solve(replace(independence, family=family.with_k(1.0 / theta)), beta, tol, maxiter)
        beta = est.beta
        if settled and est.iterations <= 2:
            return 1.0 / theta
    warnings.warn(f"the maximum-likelihood estimate of the negative binomial dispersion did not settle in "
                  f"{maxiter} alternations (theta = {theta:.6g})", ConvergenceWarning, stacklevel=4)
    return 1.0 / theta
