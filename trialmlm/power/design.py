r"""The design of a simulated trial: arms, visits, means, covariance, dropout, covariates.

A :class:`TrialDesign` is checked once, when it is made (every bad input is a
:class:`trialmlm.DataError` before any data are drawn), and is then immutable and picklable:
it can be sent to worker processes and simulated many times with different seeds
(:meth:`TrialDesign.simulate`; :func:`trialmlm.power.simulate_trial` does both in one call).

Model, for subject *i* of arm *g* at visits :math:`1..T` (times :math:`t_1..t_T`):

.. math::

    y_i = \mu_g + \sum_c \gamma_c (x_{ic} - m_c) + e_i,\qquad e_i \sim N(0, \Sigma_g),
    \qquad x_{ic} \sim N(m_c, s_c^2),

with :math:`\mu_g` the arm's mean per visit (or :math:`a_g + b_g t`), :math:`\Sigma_g` a
registered covariance structure, an explicit matrix, a fitted result's matrix, or
:math:`Z G Z^\top + \sigma^2 I` (:math:`Z = [1, t]`, random intercept and slope), and
covariates :math:`x_c` with effects :math:`\gamma_c` (a number, or one per visit).
Dropout is monotone: MCAR with retention :math:`r_{gj}` (a subject is observed at visit *j*
with probability :math:`r_{gj}`), or :class:`LogisticDropout` (MAR / MNAR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..checks import check_seed, real_array, real_number
from ..covariance import get_structure
from ..errors import DataError, FormulaError
from .checks import check_covariance, check_retention, from_fields


@dataclass(frozen=True)
class LogisticDropout:
    r"""Monotone dropout from a logistic model in the last observed and the current value.

    At each visit :math:`j = 2..T` a subject still in the trial drops out (is missing from
    visit *j* on) with probability

    .. math::

        \operatorname{expit}(a_g + \beta_{last}\, y_{j-1} + \beta_{current}\, y_j),

    :math:`y` the simulated response (``CHG`` with a ``BASE`` covariate, else ``AVAL``),
    :math:`y_j` unobserved when the subject drops out.  ``current = 0`` is MAR (dropout
    depends on observed values only), ``current != 0`` MNAR, both 0 MCAR.

    Parameters
    ----------
    intercept : :math:`a_g`, one number for every arm or a mapping arm -> number.
    last, current : :math:`\beta_{last}`, :math:`\beta_{current}`.
    """

    intercept: float | Mapping[str, float]
    last: float = 0.0
    current: float = 0.0

    @property
    def mechanism(self) -> str:
        """"MCAR", "MAR" or "MNAR"."""
        if self.current != 0:
            return "MNAR"
        return "MAR" if self.last != 0 else "MCAR"


@dataclass(frozen=True)
class Covariate:
    r"""A normal covariate :math:`x \sim N(m, s^2)` adding :math:`\gamma (x - m)` to the response.

    ``effect`` :math:`\gamma` is one number or one per visit.  A covariate named ``BASE``
    makes the simulated response the change from baseline: ``CHG``, with
    ``AVAL = BASE + CHG``.
    """

    mean: float
    sd: float
    effect: float | Sequence[float] = 0.0


@dataclass(frozen=True)
class DesignArrays:
    """The design as arrays: arms (k), visit labels and times (T), everything per arm."""

    arms: tuple
    visits: tuple
    times: np.ndarray
    n: np.ndarray  # (k,)
    mean: np.ndarray  # (k, T)
    cov: np.ndarray  # (k, T, T)
    chol: np.ndarray  # (k, T, T)
    retention: np.ndarray | None  # (k, T), MCAR
    logistic: tuple[np.ndarray, float, float] | None  # intercept (k,), last, current
    covariates: tuple[tuple[str, float, float, np.ndarray], ...]  # name, mean, sd, effect (T,)


@dataclass(frozen=True, eq=False)
class TrialDesign:
    r"""A simulated trial's design (module docstring for the model); immutable, checked when made.

    Parameters
    ----------
    n_per_arm : subjects per arm: one integer for every arm, or a mapping arm -> integer.
    visits : visit labels in order, or a mapping label -> time (``TIME``); without times,
        ``TIME`` is ``1..T`` like ``AVISITN``.
    means : per arm and visit: a DataFrame (index arms, columns visits), or a mapping arm ->
        list of T means, or arm -> ``{"intercept": a, "slope": b}`` (mean :math:`a + b\,t`).
        The arms and their order are the keys' (index's).
    covariance : the residual covariance per subject, for every arm or as a mapping arm ->
        one of: ``(name, parameters)`` with ``name`` a registered structure
        (:data:`trialmlm.STRUCTURES`; spatial ones use the visit times as coordinates) and
        its parameters by SAS name (``{"AR(1)": 0.5, "Residual": 4}``) or as a list in the
        structure's order; an explicit (T, T) matrix; a fitted :class:`trialmlm.MMRMResults`
        (its :meth:`covariance_matrix`).
    random_effects : instead of ``covariance``, ``{"G": (2, 2) covariance of the random
        intercept and slope, "residual": sigma^2}``: :math:`\Sigma = Z G Z^\top + \sigma^2 I`,
        :math:`Z = [1, t]`.
    dropout : None (complete data); per-visit retention (MCAR, monotone), a list for every
        arm or a mapping arm -> list; or a :class:`LogisticDropout` (MAR / MNAR).
    covariates : mapping name -> :class:`Covariate` (or a dict of its fields).
    """

    n_per_arm: int | Mapping[str, int]
    visits: Sequence | Mapping
    means: pd.DataFrame | Mapping
    covariance: object = None
    random_effects: Mapping | None = None
    dropout: object = None
    covariates: Mapping | None = None
    arrays: DesignArrays = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "arrays", _normalise(self))

    @property
    def arms(self) -> list:
        return list(self.arrays.arms)

    @property
    def visit_labels(self) -> list:
        return list(self.arrays.visits)

    @property
    def response(self) -> str:
        """The simulated response column: ``CHG`` with a ``BASE`` covariate, else ``AVAL``."""
        return "CHG" if any(c[0] == "BASE" for c in self.arrays.covariates) else "AVAL"

    @property
    def mean_table(self) -> pd.DataFrame:
        """Means per arm (rows) and visit (columns); a copy."""
        return pd.DataFrame(self.arrays.mean.copy(), index=self.arms, columns=self.visit_labels)

    def covariance_matrix(self, arm) -> pd.DataFrame:
        """The (T, T) residual covariance of ``arm``."""
        if arm not in self.arrays.arms:
            raise DataError(f"{arm!r} is not an arm of the design (arms: {', '.join(map(str, self.arms))})")
        k = self.arrays.arms.index(arm)
        return pd.DataFrame(self.arrays.cov[k], index=self.visit_labels, columns=self.visit_labels)

    def simulate(self, seed=None) -> pd.DataFrame:
        """One simulated trial (see :func:`trialmlm.power.simulate_trial`); ``seed``: None, a
        non-negative integer, a :class:`numpy.random.SeedSequence` or ``Generator``."""
        from .simulate import draw

        if not isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
            seed = check_seed(seed)
        return draw(self.arrays, np.random.default_rng(seed))


def _per_arm(name: str, value, arms: tuple) -> list:
    """``value`` for every arm, or a mapping arm -> value with exactly the design's arms."""
    if isinstance(value, Mapping):
        extra = [a for a in value if a not in arms]
        lacking = [a for a in arms if a not in value]
        if extra or lacking:
            raise DataError(f"{name} must give every arm of means ({', '.join(map(str, arms))}); "
                            + (f"unknown: {', '.join(map(str, extra))}" if extra
                               else f"missing: {', '.join(map(str, lacking))}"))
        return [value[a] for a in arms]
    return [value] * len(arms)


def _visits(visits) -> tuple[tuple, np.ndarray]:
    if isinstance(visits, (str, bytes)) or not hasattr(visits, "__iter__"):
        raise DataError(f"visits must be a list of labels or a mapping label -> time, got {visits!r}")
    if isinstance(visits, Mapping):
        labels, times = tuple(visits), real_array("visits (the times)", list(visits.values()))
        if np.any(np.diff(times) <= 0):
            raise DataError(f"visit times must increase with the visits, got {dict(visits)}")
    else:
        labels = tuple(visits)
        times = np.arange(1.0, len(labels) + 1)
    if not labels or len(set(labels)) != len(labels):
        raise DataError(f"visits must be distinct labels, at least one, got {list(labels)}")
    return labels, times


def _means(means, labels: tuple, times: np.ndarray) -> tuple[tuple, np.ndarray]:
    if isinstance(means, pd.DataFrame):
        if list(means.columns) != list(labels):
            raise DataError(f"the columns of means ({', '.join(map(str, means.columns))}) must be the visits "
                            f"({', '.join(map(str, labels))})")
        rows = {a: real_array(f"means of arm {a!r}", means.loc[a].to_numpy()) for a in means.index}
    elif isinstance(means, Mapping):
        rows = {}
        for arm, spec in means.items():
            if isinstance(spec, Mapping):
                if set(spec) != {"intercept", "slope"}:
                    raise DataError(f"means of arm {arm!r}: a mapping must have exactly the keys "
                                    f"intercept and slope, got {', '.join(map(str, spec))}")
                rows[arm] = (real_number(f"means of arm {arm!r}: intercept", spec["intercept"])
                             + real_number(f"means of arm {arm!r}: slope", spec["slope"]) * times)
            else:
                rows[arm] = real_array(f"means of arm {arm!r}", spec)
    else:
        raise DataError("means must be a DataFrame (arms x visits) or a mapping arm -> means per visit")
    for arm, row in rows.items():
        if row.shape != (len(labels),) or not np.all(np.isfinite(row)):
            raise DataError(f"means of arm {arm!r} must be {len(labels)} finite numbers (one per visit "
                            f"{', '.join(map(str, labels))}), got {list(np.ravel(row))}")
    if not rows:
        raise DataError("means names no arm")
    return tuple(rows), np.array(list(rows.values()))


def structure_matrix(name: str, parameters, times: np.ndarray) -> np.ndarray:
    """The (T, T) matrix of registered structure ``name`` at ``parameters`` (SAS names or order)."""
    try:
        structure = get_structure(name)(times.size)
    except FormulaError as exc:
        raise DataError(str(exc)) from None
    names = structure.param_names()
    if isinstance(parameters, Mapping):
        lacking = [p for p in names if p not in parameters]
        extra = [p for p in parameters if p not in names]
        if lacking or extra:
            raise DataError(f"structure {name!r} with {times.size} visits has the parameters "
                            f"{', '.join(names)}; " + (f"missing: {', '.join(lacking)}" if lacking
                                                       else f"unknown: {', '.join(map(str, extra))}"))
        phi = np.array([real_number(f"parameter {p!r} of structure {name!r}", parameters[p]) for p in names])
    else:
        phi = real_array(f"the parameters of structure {name!r}", parameters)
        if phi.shape != (len(names),):
            raise DataError(f"structure {name!r} with {times.size} visits takes {len(names)} parameters "
                            f"({', '.join(names)}), got {phi.size}")
    if structure.spatial:
        return structure.matrix_at(phi, times[:, None])
    return structure.matrix(phi)


def _covariance(spec, times: np.ndarray, arm) -> np.ndarray:
    from ..engine.results import MMRMResults

    where = f"covariance of arm {arm!r}"
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        matrix = structure_matrix(spec[0], spec[1], times)
    elif isinstance(spec, MMRMResults):
        matrix = spec.covariance_matrix().to_numpy()
    elif spec is None:
        raise DataError("give covariance= (a structure, a matrix or a fit) or random_effects=")
    else:
        matrix = spec
    return check_covariance(where, matrix, times.size)


def _random_effects(spec: Mapping, times: np.ndarray) -> np.ndarray:
    if not isinstance(spec, Mapping) or set(spec) != {"G", "residual"}:
        raise DataError(f"random_effects must be a mapping with exactly the keys G and residual, "
                        f"got {spec!r}")
    g = check_covariance("random_effects['G']", spec["G"], 2)
    residual = real_number("random_effects['residual']", spec["residual"])
    if not residual > 0:
        raise DataError(f"random_effects['residual'] must be a positive variance, got {spec['residual']!r}")
    z = np.column_stack([np.ones_like(times), times])
    return z @ g @ z.T + residual * np.eye(times.size)


def _sizes(n_per_arm, arms: tuple) -> np.ndarray:
    sizes = _per_arm("n_per_arm", n_per_arm, arms)
    for arm, n in zip(arms, sizes):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise DataError(f"n_per_arm of arm {arm!r} must be a whole number >= 1, got {n!r}")
    return np.array(sizes, dtype=int)


def _dropout(dropout, arms: tuple, n_visits: int):
    if dropout is None:
        return None, None
    if isinstance(dropout, LogisticDropout):
        intercepts = _per_arm("LogisticDropout.intercept", dropout.intercept, arms)
        values = np.array([real_number(f"LogisticDropout.intercept of arm {a!r}", v)
                           for a, v in zip(arms, intercepts)])
        return None, (values, real_number("LogisticDropout.last", dropout.last),
                      real_number("LogisticDropout.current", dropout.current))
    rows = _per_arm("dropout", dropout, arms)
    return np.array([check_retention(f"dropout (retention) of arm {a!r}", r, n_visits)
                     for a, r in zip(arms, rows)]), None


def _covariates(covariates, n_visits: int) -> tuple:
    if covariates is not None and not isinstance(covariates, Mapping):
        raise DataError("covariates must be a mapping name -> Covariate (or a mapping of its fields mean, "
                        f"sd, effect), got {covariates!r}")
    out = []
    for name, spec in (covariates or {}).items():
        where = f"covariates[{name!r}]"
        cov = spec if isinstance(spec, Covariate) else from_fields(Covariate, where, spec)
        effect = real_array(f"{where}.effect", cov.effect)
        if effect.size not in (1, n_visits) or effect.ndim > 1:
            raise DataError(f"covariate {name!r}: effect must be one number or one per visit ({n_visits}), "
                            f"got {cov.effect!r}")
        mean, sd = real_number(f"{where}.mean", cov.mean), real_number(f"{where}.sd", cov.sd)
        if not sd >= 0:
            raise DataError(f"{where}.sd must be >= 0, got {cov.sd!r}")
        out.append((str(name), mean, sd, np.broadcast_to(effect, (n_visits,)).copy()))
    return tuple(out)


def _normalise(design: TrialDesign) -> DesignArrays:
    labels, times = _visits(design.visits)
    arms, mean = _means(design.means, labels, times)
    n = _sizes(design.n_per_arm, arms)
    if (design.covariance is None) == (design.random_effects is None):
        raise DataError("give exactly one of covariance= and random_effects=")
    if design.random_effects is not None:
        cov = np.array([_random_effects(design.random_effects, times)] * len(arms))
    else:
        specs = _per_arm("covariance", design.covariance, arms)
        cov = np.array([_covariance(s, times, a) for a, s in zip(arms, specs)])
    retention, logistic = _dropout(design.dropout, arms, len(labels))
    return DesignArrays(arms=arms, visits=labels, times=times, n=n, mean=mean, cov=cov,
                   chol=np.linalg.cholesky(cov), retention=retention, logistic=logistic,
                   covariates=_covariates(design.covariates, len(labels)))
