r"""The conditional distribution of a row given the random effects.

With the linear predictor :math:`\eta = x^\top\beta + z^\top b + \mathrm{offset}` and prior
weight :math:`w` (binomial trials, else 1), the log density of a row is

.. math::  \log f(y \mid \eta) = w\,\{y\,\log\mu(\eta) + (1 - y)\log(1 - \mu(\eta))\} + c(y, w)
           \quad\text{(binomial, } y \text{ the proportion of events)},

.. math::  \log f(y \mid \eta) = y\eta - e^\eta + c(y) \quad\text{(Poisson, log link)},

.. math::  \log f(y \mid \eta) = y\eta - (y + a)\log(1 + \mu/a) + \log\Gamma(y + a)
           - \log\Gamma(a) - y\log a + c(y) \quad\text{(negative binomial, log link)},

with :math:`\mu = g^{-1}(\eta)` for the link :math:`g` (:mod:`trialmlm.genmod.links`) and
:math:`c` the binomial coefficient :math:`\log\binom{w}{wy}` or :math:`-\log y!`, so that the
GLMM's log-likelihood is the full one (R ``logLik`` of ``glmer`` with ``nAGQ = 1``; SAS GLIMMIX).
For the canonical links (logit, log) this is :math:`w(y\eta - \kappa(\eta)) + c` with the
cumulant :math:`\kappa` (:data:`CUMULANTS`).  For probit and cloglog the binomial
log-probabilities :math:`\log\mu` and :math:`\log(1-\mu)` and their first three
:math:`\eta`-derivatives are written in closed form (:data:`LOG_PROBABILITIES`; no
:math:`\log` of a probability rounded to 0 or 1):

=======  ======================================  ====================================
link     :math:`\log\mu(\eta)`                   :math:`\log(1-\mu(\eta))`
=======  ======================================  ====================================
logit    :math:`-\log(1+e^{-\eta})`              :math:`-\log(1+e^{\eta})`
probit   :math:`\log\Phi(\eta)`                  :math:`\log\Phi(-\eta)`
cloglog  :math:`\log(1-\exp(-e^\eta))`           :math:`-e^\eta`
=======  ======================================  ====================================

:meth:`Conditional.derivatives` returns the score :math:`\partial\log f/\partial\eta` and the
*observed* weight :math:`-\partial^2\log f/\partial\eta^2`; for the canonical links it equals
the expected weight :math:`w\,v(\mu)`, for probit and cloglog it is the exact curvature, so the
Newton iteration of :mod:`.modes` reaches the exact mode and the Laplace approximation uses the
exact Hessian there (the Laplace approximation as SAS GLIMMIX documents it; all three binomial
log-probabilities are concave in :math:`\eta`, so the weight is positive).

The negative binomial (NB2; SAS GLIMMIX ``DIST=NEGBIN``, whose "Scale" is :math:`k`; R
``MASS::dnbinom(size = a)``, lme4 ``glmer.nb``'s theta :math:`= a`) has
:math:`\mathrm{Var}(y\mid b) = \mu + k\mu^2`, :math:`a = 1/k` (:attr:`Family.k`).  With
:math:`r = \mu/(a + \mu)` its score is :math:`y - (y + a)r`, its observed weight
:math:`(y + a)r(1 - r) > 0` (concave in :math:`\eta`) and the weight's slope
:math:`(y + a)r(1 - r)(1 - 2r)`: the binomial cumulant's with :math:`y + a` trials.  Its
dispersion is estimated with the other parameters on :math:`\phi = \log k`
(:meth:`Conditional.dispersion_derivatives`, :mod:`.gradient`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from ..errors import DataError
from ..genmod.families import Family

Derivatives = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
SERIES = 1e-3  # below this e^eta the cloglog's third derivative is taken from its Taylor series


def _probit_event(eta: np.ndarray) -> tuple[np.ndarray, ...]:
    log_mu = special.log_ndtr(eta)
    mills = np.exp(-0.5 * eta * eta - 0.5 * np.log(2.0 * np.pi) - log_mu)
    second = -mills * (eta + mills)
    return log_mu, mills, second, -second * (eta + mills) - mills * (1.0 + second)


def _cloglog_event(eta: np.ndarray) -> tuple[np.ndarray, ...]:
    r""":math:`a(t) = t/(e^t - 1)` with :math:`t = e^\eta`, and :math:`d/d\eta = t\,d/dt`."""
    t = np.exp(eta)
    with np.errstate(over="ignore", invalid="ignore"):
        first = t / np.expm1(t)
        bend = 1.0 + t / np.expm1(-t)
        second = first * bend
        t_bend_t = t * (np.expm1(-t) + t * np.exp(-t)) / np.expm1(-t) ** 2
        third = np.where(t < SERIES, -t / 2 + t * t / 3, second * bend + first * t_bend_t)
    return np.log(-np.expm1(-t)), first, second, np.nan_to_num(third)


def _cloglog_non_event(eta: np.ndarray) -> tuple[np.ndarray, ...]:
    t = np.exp(eta)
    return -t, -t, -t, -t


def _mirrored(event: Derivatives) -> Derivatives:
    r""":math:`\log(1-\mu(\eta)) = \log\mu(-\eta)` for a link symmetric about 0."""
    def non_event(eta: np.ndarray) -> tuple[np.ndarray, ...]:
        value, first, second, third = event(-eta)
        return value, -first, second, -third
    return non_event


#: binomial link -> (log mu, log(1 - mu)), each returning the value and three eta-derivatives
LOG_PROBABILITIES: dict[str, tuple[Derivatives, Derivatives]] = {
    "probit": (_probit_event, _mirrored(_probit_event)),
    "cloglog": (_cloglog_event, _cloglog_non_event),
}

def rising_factorial_ratio(y: np.ndarray, k: float) -> np.ndarray:
    r""":math:`\log\Gamma(y + a) - \log\Gamma(a) - y\log a` with :math:`a = 1/k`, as
    :math:`\log\Gamma(y) - \log B(a, y) - y\log a` for :math:`y > 0` (0 at :math:`y = 0`): it
    tends to 0 as :math:`k \to 0` without the cancellation of two :math:`\log\Gamma(a)`."""
    a = 1.0 / k
    positive = y > 0
    safe = np.where(positive, y, 1.0)
    return np.where(positive, special.gammaln(safe) - special.betaln(a, safe) - safe * np.log(a), 0.0)


@dataclass(frozen=True)
class Cumulant:
    r"""A canonical link's cumulant :math:`\kappa(\eta)`, its mean :math:`\mu = \kappa'(\eta)`
    and, as functions of :math:`\mu`, :math:`\kappa''` and :math:`\kappa'''`."""

    value: Callable[[np.ndarray], np.ndarray]
    mean: Callable[[np.ndarray], np.ndarray]
    second: Callable[[np.ndarray], np.ndarray]
    third: Callable[[np.ndarray], np.ndarray]


#: canonical link -> its cumulant: logit (binomial) and log (Poisson)
CUMULANTS = {
    "logit": Cumulant(lambda eta: np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta))), special.expit,
                      lambda mu: mu * (1.0 - mu), lambda mu: mu * (1.0 - mu) * (1.0 - 2.0 * mu)),
    "log": Cumulant(np.exp, np.exp, lambda mu: mu, lambda mu: mu),
}
#: family -> the links the GLMM takes for it
GLMM_LINKS = {"binomial": ("logit", *LOG_PROBABILITIES), "poisson": ("log",), "negbin": ("log",)}


@dataclass(frozen=True)
class Conditional:
    """Rows' responses ``y``, prior weights ``w``, the family and link, with :math:`c(y, w)`
    per row (``constant``)."""

    family: Family
    link: str
    y: np.ndarray
    w: np.ndarray
    constant: np.ndarray

    @classmethod
    def of(cls, family: Family, link: str, y: np.ndarray, w: np.ndarray) -> Conditional:
        """The rows' distribution; DataError for a family or link the GLMM does not take
        (:data:`GLMM_LINKS`)."""
        if link not in GLMM_LINKS.get(family.name, ()):
            raise DataError(f"the GLMM takes family 'binomial' with link {', '.join(GLMM_LINKS['binomial'])} "
                            f"or 'poisson' or 'negbin' with link log; got family '{family.name}', "
                            f"link {link!r}")
        if family.name == "binomial":
            events = w * y
            constant = special.gammaln(w + 1) - special.gammaln(events + 1) - special.gammaln(w - events + 1)
        else:
            constant = -special.gammaln(y + 1)
        return cls(family, link, y, w, constant)

    def _rows(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``w`` and ``y`` shaped to broadcast against ``eta`` (rows along axis 0)."""
        shape = (-1,) + (1,) * (eta.ndim - 1)
        return self.w.reshape(shape), self.y.reshape(shape)

    def _log_probabilities(self, eta: np.ndarray) -> tuple[np.ndarray, ...]:
        r"""Value and first three eta-derivatives of :math:`\log f - c` for a non-canonical link."""
        w, y = self._rows(eta)
        event, non_event = LOG_PROBABILITIES[self.link]
        (v1, *d1), (v0, *d0) = event(eta), non_event(eta)
        # y = 0 or 1 rows must not carry 0 * (-inf) from the other log-probability
        value = w * (np.where(y > 0, y * v1, 0.0) + np.where(y < 1, (1.0 - y) * v0, 0.0))
        return (value,) + tuple(w * (y * a + (1.0 - y) * b) for a, b in zip(d1, d0))

    def log_density(self, eta: np.ndarray) -> np.ndarray:
        r""":math:`\log f(y\mid\eta)` per row; ``eta`` (n,) or (n, K) for K nodes per row."""
        w, y = self._rows(eta)
        c = self.constant.reshape(w.shape)
        if self._negative_binomial:
            return y * eta + (y + 1.0 / self.family.k) * special.log_expit(-eta - np.log(self.family.k)) \
                + rising_factorial_ratio(y, self.family.k) + c
        if self.link in CUMULANTS:
            with np.errstate(over="ignore"):  # a trial step far out: -inf, which the optimiser rejects
                return w * (y * eta - CUMULANTS[self.link].value(eta)) + c
        return self._log_probabilities(eta)[0] + c

    def derivatives(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""``(score, weight)``: :math:`\partial\log f/\partial\eta` and the observed weight
        :math:`-\partial^2\log f/\partial\eta^2` (module docstring; :math:`w(y-\mu)` and
        :math:`w\kappa''(\eta)` for a canonical link; the negative binomial's of the module docstring)."""
        if self._negative_binomial:
            y, a, r = self._negbin(eta)
            return y - (y + a) * r, (y + a) * r * (1.0 - r)
        if self.link in CUMULANTS:
            w, y = self._rows(eta)
            mu = CUMULANTS[self.link].mean(eta)
            return w * (y - mu), w * CUMULANTS[self.link].second(mu)
        _, score, second, _ = self._log_probabilities(eta)
        return score, -second

    def weight_slope(self, eta: np.ndarray) -> np.ndarray:
        r""":math:`d w/d\eta = -\partial^3\log f/\partial\eta^3` of the observed weight, for the
        derivative of :math:`\log|H_i|` (:mod:`.gradient`)."""
        if self._negative_binomial:
            y, a, r = self._negbin(eta)
            return (y + a) * r * (1.0 - r) * (1.0 - 2.0 * r)
        if self.link in CUMULANTS:
            w, _ = self._rows(eta)
            return w * CUMULANTS[self.link].third(CUMULANTS[self.link].mean(eta))
        return -self._log_probabilities(eta)[3]

    @property
    def estimates_k(self) -> bool:
        r"""Whether the family has the dispersion :math:`k` (negative binomial), estimated with the other
        parameters on :math:`\phi = \log k`."""
        return self.family.estimates_k

    @property
    def _negative_binomial(self) -> bool:
        """A negative binomial with :math:`k \\ne 0`; at :math:`k = 0` (held at its boundary) the rows
        are Poisson."""
        return self.estimates_k and self.family.k != 0

    def with_log_k(self, log_k: float) -> Conditional:
        r"""The rows' distribution with the negative binomial dispersion :math:`k = e^{\phi}`."""
        return replace(self, family=self.family.with_k(np.exp(log_k)))

    def _negbin(self, eta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        r"""``y`` shaped as ``eta``, :math:`a = 1/k` and :math:`r = \mu/(a + \mu)` (module docstring)."""
        _, y = self._rows(eta)
        a = 1.0 / self.family.k
        return y, a, special.expit(eta - np.log(a))

    def dispersion_derivatives(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Derivatives in :math:`\phi = \log k` (:math:`da/d\phi = -a`) of the negative binomial's
        :math:`\log f`, score and observed weight (module docstring), per row:

        .. math::  \partial_a\log f = \psi(y + a) - \psi(a) + \log a + 1 - \log(a + \mu)
                   - \frac{y + a}{a + \mu},\quad
                   \partial_a s = \frac{r(y - \mu)}{a + \mu},\quad
                   \partial_a w = r(1 - r) + \frac{(y + a)\,r\,(\mu - a)}{(a + \mu)^2},

        each times :math:`-a`; zeros at :math:`k = 0` (held there: Poisson rows)."""
        if not self._negative_binomial:
            zeros = np.zeros_like(eta)
            return zeros, zeros, zeros
        y, a, r = self._negbin(eta)
        mu_a = np.logaddexp(np.log(a), eta)          # log(a + mu)
        total = np.exp(mu_a)
        mu = np.exp(eta)
        d_log_f = (special.digamma(y + a) - special.digamma(a) + np.log(a) + 1.0 - mu_a
                   - (y + a) / total)
        d_score = r * (y - mu) / total
        d_weight = r * (1.0 - r) + (y + a) * r * (mu - a) / total ** 2
        return -a * d_log_f, -a * d_score, -a * d_weight
