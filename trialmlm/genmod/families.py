r"""Distribution families of the GEE: variance functions, valid means, response checks.

:data:`FAMILIES` is the registry.  A :class:`Family` gives the variance function
:math:`v(\mu)` (:math:`\mathrm{Var}(y) = \phi\,v(\mu)/w`, :math:`w` the prior weight: the
number of trials of an events/trials response, else 1), the links it takes (the first is
the default, SAS GENMOD's canonical link), the range of valid means (a step of the
scoring that leaves it is halved, as geepack does), the check and encoding of the
response, and the quasi-likelihood :math:`Q(\mu; y)` that QIC sums (Pan 2001, with
:math:`\phi = 1` and unit weights, as geepack's ``QIC()``):

========  ======================  ====================  ===============================================
family    :math:`v(\mu)`          valid :math:`\mu`     :math:`Q(\mu; y)`
========  ======================  ====================  ===============================================
binomial  :math:`\mu(1-\mu)`      :math:`0 < \mu < 1`   :math:`y\,\mathrm{logit}\,\mu + \log(1-\mu)`
poisson   :math:`\mu`             :math:`\mu > 0`       :math:`y\log\mu - \mu`
negbin    :math:`\mu + k\mu^2`    :math:`\mu > 0`       :math:`y\log\frac{k\mu}{1+k\mu} - \frac1k\log(1+k\mu)`
========  ======================  ====================  ===============================================

The negative binomial (SAS ``DIST=NB``; R ``MASS::negative.binomial(theta)``, :math:`\theta =
1/k`) has a second parameter :math:`k`: :meth:`Family.with_k` fixes it.  As SAS GENMOD does
for a GEE, :func:`trialmlm.gee` fixes it at the maximum-likelihood estimate of the independence
negative binomial regression (:mod:`.negbin`) and then treats :math:`v(\mu)` as known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..data.flags import flag_is_yes, missing_values
from ..errors import DataError
from .links import Link, get_link


def _first_rows(labels: pd.Index, bad: np.ndarray) -> str:
    shown = ", ".join(map(repr, labels[bad][:5].tolist()))
    return shown + (", ..." if bad.sum() > 5 else "")


def binary_values(column: pd.Series, name: str) -> pd.Series:
    """A binary response as 0.0/1.0 (missing stays missing): numbers 0/1, booleans or Y/N
    flags read as :func:`trialmlm.data.flags.flag_is_yes` reads them.  DataError naming the
    column and a value that is none of these."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype(float)
    if pd.api.types.is_numeric_dtype(column):
        x = column.to_numpy(dtype=float)
        bad = ~np.isnan(x) & (x != 0) & (x != 1)
        if bad.any():
            raise DataError(f"binomial response '{name}' must be 0/1 (or Y/N, or events with trials=); "
                            f"it holds {x[bad][0]:g} (rows {_first_rows(column.index, bad)})")
        return column.astype(float)
    present = pd.Series(~missing_values(column), index=column.index)
    values = np.full(len(column), np.nan)
    values[present.to_numpy()] = flag_is_yes(column[present], f"binomial response '{name}'")
    return pd.Series(values, index=column.index)


def ordinal_codes(column: pd.Series, name: str, levels=None) -> tuple[pd.Series, list]:
    """An ordinal response as level numbers 0, 1, ... (float; missing stays missing) and the
    ordered levels: ``levels`` as given, else the categories of an ordered Categorical, else
    the sorted values of a numeric column (SAS ``ORDER=``: the levels are in this order, the
    lowest first).  DataError naming the column for text without ``levels=``, a value not in
    ``levels``, or fewer than two levels observed."""
    present = pd.Series(~missing_values(column), index=column.index)
    if levels is None and isinstance(column.dtype, pd.CategoricalDtype) and column.cat.ordered:
        levels = list(column.cat.categories)
    elif levels is None and pd.api.types.is_numeric_dtype(column):
        levels = sorted(column[present].unique().tolist())
    elif levels is None:
        shown = ", ".join(map(repr, column[present].unique()[:4]))
        raise DataError(f"the ordinal response '{name}' holds text ({shown}, ...); give its order, lowest "
                        "first, as levels=[...] or make it an ordered Categorical")
    levels = list(levels)
    code = pd.Series(np.nan, index=column.index)
    known = column[present].isin(levels)
    if not known.all():
        bad = column[present][~known]
        raise DataError(f"the ordinal response '{name}' holds {bad.iloc[0]!r} (row {bad.index[0]!r}), "
                        f"which is not one of levels= {levels}")
    code[present] = [levels.index(v) for v in column[present]]
    observed = code.dropna().unique()
    if observed.size < 2:
        shown = f"only {levels[int(observed[0])]!r}" if observed.size else "no value"
        raise DataError(f"the ordinal response '{name}' has one category ({shown} in the rows used): "
                        "a cumulative logit model needs at least two")
    return code, levels


@dataclass(frozen=True)
class Family:
    """A GEE family (module docstring); ``sas`` / ``r`` its SAS ``DIST=`` and R names,
    ``aliases`` other names ``family=`` takes; ``k`` the negative binomial dispersion
    (``estimates_k``: estimated before the GEE; NaN until then), 0 for the others."""

    name: str
    unit_variance: Callable[[np.ndarray, float], np.ndarray]
    valid_mean: Callable[[np.ndarray], np.ndarray]
    unit_quasi_likelihood: Callable[[np.ndarray, np.ndarray, float], np.ndarray]
    links: tuple[str, ...]
    sas: str
    r: str
    counts: bool  # responses are counts (Poisson, negative binomial) rather than proportions
    aliases: tuple[str, ...] = ()
    estimates_k: bool = False
    k: float = 0.0

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """:math:`v(\\mu)` (module docstring)."""
        return self.unit_variance(mu, self.k)

    def quasi_likelihood(self, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """:math:`Q(\\mu; y)` per row (module docstring)."""
        return self.unit_quasi_likelihood(y, mu, self.k)

    def with_k(self, k: float) -> Family:
        """The family with the dispersion :math:`k` fixed (negative binomial)."""
        return replace(self, k=float(k))

    def link(self, name: str | None) -> Link:
        """The link ``name`` (None: the canonical one); DataError for a link the family does not take."""
        name = self.links[0] if name is None else name
        link = get_link(name)
        if name not in self.links:
            raise DataError(f"family '{self.name}' takes the links {', '.join(self.links)}; got {name!r}")
        return link

    def check(self, y: np.ndarray, trials: np.ndarray | None, response: str, labels: pd.Index
              ) -> tuple[np.ndarray, np.ndarray]:
        """``(y, w)``: the response used (events/trials as a proportion) and the prior
        weights; DataError naming ``response`` and the first offending rows."""
        if trials is not None and self.counts:
            raise DataError(f"trials= is for the binomial family (events/trials); family '{self.name}' "
                            "models counts: give the exposure as offset= (its log)")
        if self.counts:
            bad = (y < 0) | (y != np.round(y))
            if bad.any():
                raise DataError(f"{self.name} response '{response}' must hold counts 0, 1, 2, ...; it holds "
                                f"{y[bad][0]:g} (rows {_first_rows(labels, bad)})")
            return y, np.ones_like(y)
        if trials is None:
            return y, np.ones_like(y)
        bad = ~(trials > 0)
        if bad.any():
            raise DataError(f"trials must be positive; it is {trials[bad][0]:g} at rows "
                            f"{_first_rows(labels, bad)}")
        bad = (y < 0) | (y > trials)
        if bad.any():
            raise DataError(f"events '{response}' must lie between 0 and the trials; rows "
                            f"{_first_rows(labels, bad)} have {y[bad][0]:g} events of {trials[bad][0]:g}")
        return y / trials, trials


def _binomial_quasi(y: np.ndarray, mu: np.ndarray, k: float) -> np.ndarray:
    return y * np.log(mu / (1.0 - mu)) + np.log1p(-mu)


def _poisson_quasi(y: np.ndarray, mu: np.ndarray, k: float) -> np.ndarray:
    return y * np.log(mu) - mu


def _negbin_quasi(y: np.ndarray, mu: np.ndarray, k: float) -> np.ndarray:
    if k == 0:
        return _poisson_quasi(y, mu, k)
    return y * np.log(k * mu / (1.0 + k * mu)) - np.log1p(k * mu) / k


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("binomial", lambda mu, k: mu * (1.0 - mu), lambda mu: (mu > 0) & (mu < 1), _binomial_quasi,
           ("logit", "probit", "cloglog", "log", "identity"), "BINOMIAL", "binomial", counts=False),
    Family("poisson", lambda mu, k: mu, lambda mu: mu > 0, _poisson_quasi, ("log", "identity"),
           "POISSON", "poisson", counts=True),
    Family("negbin", lambda mu, k: mu + k * mu * mu, lambda mu: mu > 0, _negbin_quasi, ("log",),
           "NEGBIN", "MASS::negative.binomial", counts=True, aliases=("nb",), estimates_k=True, k=np.nan),
)}
ALIASES = {a: f.name for f in FAMILIES.values() for a in (f.name, *f.aliases)}


def get_family(name: str) -> Family:
    """The registry entry of ``name`` or of one of its aliases (DataError listing the families
    otherwise); the multinomial (ordinal) response is :mod:`.ordinal`'s."""
    key = str(name).lower()
    if key not in ALIASES:
        raise DataError(f"family must be one of {', '.join(FAMILIES)}, 'nb' or 'multinomial'; got {name!r}")
    return FAMILIES[ALIASES[key]]
