r"""The conditional distribution of a row given the random effects, for the canonical links.

With the linear predictor :math:`\eta = x^\top\beta + z^\top b + \mathrm{offset}` and prior
weight :math:`w` (binomial trials, else 1), the log density of a row is

.. math::  \log f(y \mid \eta) = w\,(y\eta - \kappa(\eta)) + c(y, w),

with the cumulant :math:`\kappa(\eta) = \log(1 + e^\eta)` (binomial, logit link; :math:`y` the
proportion of events) or :math:`e^\eta` (Poisson, log link), and :math:`c` the binomial
coefficient :math:`\log\binom{w}{wy}` or :math:`-\log y!`, so that the GLMM's log-likelihood
is the full one (R ``logLik`` of ``glmer`` with ``nAGQ = 1``; SAS GLIMMIX).  Its derivatives
in :math:`\eta` are :math:`w(y - \mu)` and :math:`-w\,v(\mu)` with :math:`\mu = \kappa'(\eta)`
and :math:`v(\mu) = \kappa''(\eta)` the family's variance function (:mod:`trialmlm.genmod.families`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ..errors import DataError
from ..genmod.families import Family

#: family -> its canonical link, the one link the GLMM takes for now
CANONICAL = {"binomial": "logit", "poisson": "log"}


@dataclass(frozen=True)
class Conditional:
    """Rows' responses ``y``, prior weights ``w`` and the family, with :math:`c(y, w)` summed
    per row once (``constant``)."""

    family: Family
    y: np.ndarray
    w: np.ndarray
    constant: np.ndarray

    @classmethod
    def of(cls, family: Family, link: str, y: np.ndarray, w: np.ndarray) -> Conditional:
        """DataError for a link other than the family's canonical one."""
        if CANONICAL.get(family.name) != link:
            raise DataError(f"the GLMM takes the canonical link of family '{family.name}' "
                            f"({CANONICAL.get(family.name, 'none')}) for now; got link {link!r}")
        if family.name == "binomial":
            events = w * y
            constant = special.gammaln(w + 1) - special.gammaln(events + 1) - special.gammaln(w - events + 1)
        else:
            constant = -special.gammaln(y + 1)
        return cls(family, y, w, constant)

    def cumulant(self, eta: np.ndarray) -> np.ndarray:
        r""":math:`\kappa(\eta)`, elementwise (rows along the first axis)."""
        return np.logaddexp(0.0, eta) if self.family.name == "binomial" else np.exp(eta)

    def mean(self, eta: np.ndarray) -> np.ndarray:
        r""":math:`\mu = \kappa'(\eta)`."""
        return special.expit(eta) if self.family.name == "binomial" else np.exp(eta)

    def log_density(self, eta: np.ndarray) -> np.ndarray:
        r""":math:`\log f(y\mid\eta)` per row; ``eta`` (n,) or (n, K) for K nodes per row."""
        shape = (-1,) + (1,) * (eta.ndim - 1)
        w, y, c = (a.reshape(shape) for a in (self.w, self.y, self.constant))
        return w * (y * eta - self.cumulant(eta)) + c

    def derivatives(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""``(score, weight)``: :math:`w(y - \mu)` and :math:`w\,v(\mu)` (minus the second derivative)."""
        mu = self.mean(eta)
        return self.w * (self.y - mu), self.w * self.family.variance(mu)
