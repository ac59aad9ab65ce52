r"""Link functions of the GEE mean model, :math:`g(\mu) = \eta = x^\top\beta + \mathrm{offset}`.

:data:`LINKS` is the registry: each :class:`Link` holds :math:`g`, its inverse
:math:`g^{-1}`, the derivative :math:`d\mu/d\eta` (the :math:`D_i = \partial\mu_i/\partial\beta`
of the estimating equations is :math:`\mathrm{diag}(d\mu/d\eta)X_i`), its SAS GENMOD
``LINK=`` and R ``make.link`` names, and what :math:`\exp` of a difference of linear
predictors is (``ratio``: odds ratio under the logit, ratio of means under the log), None
when such a ratio means nothing (probit, cloglog, identity).  ``cloglog`` is the
complementary log-log link :math:`\log(-\log(1-\mu))` (SAS ``LINK=CLOGLOG``).  ``clogit`` is
the logit applied to the cumulative probabilities :math:`P(Y \\le k)` of an ordinal response
(:mod:`.ordinal`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import DataError


@dataclass(frozen=True)
class Link:
    """A link function: ``link`` :math:`g(\\mu)`, ``inverse`` :math:`g^{-1}(\\eta)`,
    ``mu_eta`` :math:`d\\mu/d\\eta`; ``sas`` / ``r`` its names in SAS GENMOD and R."""

    name: str
    link: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]
    sas: str
    r: str
    ratio: str | None = None

    def response_scale(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` (link-scale ``estimate, se, lower, upper``) with SAS's ``ILINK`` columns
        ``mean`` :math:`g^{-1}(\\hat\\eta)`, ``mean_se`` :math:`|d\\mu/d\\eta|\\,\\mathrm{se}` (delta
        method) and ``mean_lower, mean_upper`` (:math:`g^{-1}` of the limits)."""
        est = table["estimate"].to_numpy()
        return table.assign(mean=self.inverse(est), mean_se=np.abs(self.mu_eta(est)) * table["se"],
                            mean_lower=self.inverse(table["lower"].to_numpy()),
                            mean_upper=self.inverse(table["upper"].to_numpy()))

    def ratio_scale(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` of differences with ``ratio, ratio_lower, ratio_upper`` (:math:`\\exp` of
        ``estimate, lower, upper``) when the link has a ratio, else unchanged."""
        if self.ratio is None:
            return table
        return table.assign(ratio=np.exp(table["estimate"]), ratio_lower=np.exp(table["lower"]),
                            ratio_upper=np.exp(table["upper"]))


def _logit_mu_eta(eta: np.ndarray) -> np.ndarray:
    mu = special.expit(eta)
    return np.maximum(mu * (1.0 - mu), np.finfo(float).tiny)


def _cloglog_mu_eta(eta: np.ndarray) -> np.ndarray:
    r""":math:`d\mu/d\eta = \exp(\eta - e^\eta)` of :math:`\mu = 1 - \exp(-e^\eta)`."""
    return np.maximum(np.exp(eta - np.exp(eta)), np.finfo(float).tiny)


LINKS: dict[str, Link] = {k.name: k for k in (
    Link("logit", special.logit, special.expit, _logit_mu_eta, "LOGIT", "logit", "odds ratio"),
    Link("clogit", special.logit, special.expit, _logit_mu_eta, "CLOGIT", "logit", "cumulative odds ratio"),
    Link("probit", stats.norm.ppf, stats.norm.cdf,
         lambda eta: np.maximum(stats.norm.pdf(eta), np.finfo(float).tiny), "PROBIT", "probit"),
    Link("cloglog", lambda mu: np.log(-np.log1p(-mu)), lambda eta: -np.expm1(-np.exp(eta)), _cloglog_mu_eta,
         "CLOGLOG", "cloglog"),
    Link("log", np.log, np.exp, lambda eta: np.maximum(np.exp(eta), np.finfo(float).tiny), "LOG", "log",
         "ratio of means"),
    Link("identity", lambda mu: np.asarray(mu, dtype=float), lambda eta: np.asarray(eta, dtype=float),
         lambda eta: np.ones_like(np.asarray(eta, dtype=float)), "IDENTITY", "identity"),
)}


def get_link(name: str) -> Link:
    """The registry entry of ``name`` (DataError listing the links otherwise)."""
    if name not in LINKS:
        raise DataError(f"link must be one of {', '.join(LINKS)}; got {name!r}")
    return LINKS[name]
