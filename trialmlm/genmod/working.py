r"""Working correlations :math:`R(\alpha)` of the GEE and their moment estimators.

Notation: subject :math:`i` is observed at the visits (positions) :math:`j` of its cluster;
:math:`e_{ij} = (y_{ij} - \mu_{ij})/\sqrt{v(\mu_{ij})}` is the Pearson residual and
:math:`w_{ij}` the prior weight (trials).  The correlation between visits :math:`j` and
:math:`k` of a subject is indexed by the visits themselves (SAS ``WITHINSUBJECT=``,
geepack ``waves=``), so a subject with an intermittent missing visit keeps the
correlations of the visits it has; the distance of AR(1) and m-dependence is the
difference of the visits' level numbers (1, 2, 3, ... in level order, geepack's
``as.integer(factor(waves))``).  Without a visit column the positions are the order of a
subject's rows.

Every estimator is a function of the cross-product sums over subjects, per pair of
visits, :math:`S_{jk} = \sum_i a_{ij}a_{ik}r_{ij}r_{ik}` and :math:`C_{jk} = \sum_i
a_{ij}a_{ik}` (subjects observed at both visits), and of the scale :math:`\phi` (see
:class:`Moments` for :math:`a` and :math:`r` under each convention); :math:`S_t, C_t` sum
them over the pairs :math:`j < k` at distance :math:`t = k - j`, :math:`d = 0` for the
convention of geepack and :math:`d = p` (the number of coefficients) for SAS's:

==============  ===================================  =========================================
working         :math:`R_{jk}` (:math:`j \ne k`)     estimator
==============  ===================================  =========================================
independence    0                                    none
exchangeable    :math:`\alpha`                       :math:`\sum_{j<k}S_{jk} / ((\sum_{j<k}C_{jk} - d)\phi)`
ar1             :math:`\alpha^{|k-j|}`               SAS: :math:`S_1/((C_1 - d)\phi)`; geepack:
                                                     least squares of :math:`S_{jk}/(C_{jk}\phi)`
                                                     on :math:`\alpha^{k-j}` over all pairs, weights
                                                     :math:`C_{jk}` (Gauss-Newton to convergence)
mdep(m)         :math:`\alpha_{|k-j|}` up to m, 0    :math:`\alpha_t = S_t/((C_t - d)\phi)`
unstructured    :math:`\alpha_{jk}`                  :math:`S_{jk}/((C_{jk} - d)\phi)`
==============  ===================================  =========================================

Sources of the ``sas`` convention (checked with the search tool, issue 22): the Pearson
residual :math:`r = (y - \mu)\sqrt{w/v(\mu)}` is verified in SAS GENMOD's "Residuals"
section (SAS/STAT 13.2 and v_023 pages).  The divisors :math:`N - p` of :math:`\phi`, the
number of pairs minus :math:`p` of the exchangeable, AR(1) (adjacent pairs), m-dependent
and unstructured estimators are those of the GENMOD "Generalized Estimating Equations"
details section, table "Working Correlation Structures", as recalled; the stored copies of
that page end before the table, so they could **not** be verified against the
documentation's text.  SAS's printed output confirms the unstructured estimator with missing
visits (pairs observed at both visits minus :math:`p`) and the scale's :math:`N - p`: the
skin cancer trial's Poisson GEE (``type=un``, 1683 subjects, 7081 rows) is matched in all 18
printed numbers, where the geepack divisors miss 4 (tests/test_gee_sas_printed.py).  The
exchangeable, AR(1) and m-dependent divisors are not compared with SAS output.

References: Liang & Zeger (1986), Biometrika 73:13-22; SAS/STAT User's Guide, The GENMOD
Procedure, "Generalized Estimating Equations" (table "Working Correlation Structures");
geepack (Halekoh, Højsgaard & Yan 2006), ``src/gee2.cc`` ``update_alpha`` and
``src/famstr.cc`` (``cor_rho_ar1``).  geepack has no m-dependent structure.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .clusters import Clusters
from .precision import Precision


@dataclass(frozen=True)
class Moments:
    r"""A convention for the scale and the correlation moments.

    ``geepack``: :math:`r = e`, :math:`a = w`, :math:`\phi = \sum w e^2/\sum w` (the
    scale's estimating equation of ``update_gamma``), :math:`d = 0`, AR(1) by least
    squares over all pairs.  ``sas``: :math:`r = \sqrt w\,e`, :math:`a = 1`,
    :math:`\phi = \sum r^2/(N - p)`, :math:`d = p`, AR(1) from adjacent visits.
    """

    name: str
    weighted_pairs: bool
    subtract_p: bool
    ar1_all_pairs: bool

    def residuals(self, e: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(r, a)`` of the rows (module docstring)."""
        return (e, w) if self.weighted_pairs else (e * np.sqrt(w), np.ones_like(w))

    def scale(self, r: np.ndarray, a: np.ndarray, p: int) -> float:
        r""":math:`\phi = \sum a r^2 / (\sum a - d)`."""
        return float(np.sum(a * r * r) / (np.sum(a) - (p if self.subtract_p else 0)))

    def ddof(self, p: int) -> int:
        return p if self.subtract_p else 0


MOMENTS: dict[str, Moments] = {m.name: m for m in (
    Moments("geepack", weighted_pairs=True, subtract_p=False, ar1_all_pairs=True),
    Moments("sas", weighted_pairs=False, subtract_p=True, ar1_all_pairs=False),
)}


@dataclass(frozen=True)
class CrossProducts:
    """``S``, ``C`` (P, P) of the module docstring, the scale ``phi`` and the ``ddof`` d."""

    S: np.ndarray
    C: np.ndarray
    phi: float
    ddof: int

    def by_distance(self, t: int) -> tuple[float, float]:
        """:math:`(S_t, C_t)`: sums over the pairs of visits ``t`` apart."""
        return float(np.trace(self.S, offset=t)), float(np.trace(self.C, offset=t))

    def ratio(self, s: float | np.ndarray, c: float | np.ndarray):
        """:math:`s/((c - d)\\phi)`; NaN where no pair is observed."""
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.asarray(c)
            return np.where(c > 0, np.asarray(s) / ((c - self.ddof) * self.phi), np.nan)


class Working(ABC):
    """A working correlation structure (module docstring): ``name`` as written in
    ``trialmlm.gee(working=)``, ``sas`` its SAS ``TYPE=``, ``geepack`` its geepack ``corstr``
    (None if geepack has none).  A structure gives :math:`R(\\alpha)` over the visits, the
    moment estimate of :math:`\\alpha`, and :math:`R^{-1}` over the rows
    (:class:`~.precision.Precision`) in closed form where there is one; the default inverts
    each pattern's block (Cholesky, which also checks it is positive definite)."""

    name: str
    sas: str
    geepack: str | None

    @abstractmethod
    def n_params(self, P: int) -> int:
        """Number of correlation parameters with ``P`` visits."""

    def label(self) -> str:
        return self.name

    def parameter_names(self, visits: list) -> list[str]:
        """Names of the parameters, e.g. ``alpha`` or ``alpha(V1,V2)``."""
        return ["alpha"] * self.n_params(len(visits))

    @abstractmethod
    def matrix(self, alpha: np.ndarray, P: int) -> np.ndarray:
        """:math:`R(\\alpha)` over the ``P`` visits."""

    @abstractmethod
    def estimate(self, cp: CrossProducts, moments: Moments, previous: np.ndarray | None) -> np.ndarray:
        """The moment estimate of :math:`\\alpha` (module docstring)."""

    def precision(self, alpha: np.ndarray, clusters: Clusters) -> Precision:
        """:math:`R^{-1}` over the rows: the inverse of each pattern's block; DataError if a
        block is not positive definite."""
        R = self.matrix(alpha, clusters.n_positions)
        P = clusters.n_positions
        inverses = np.zeros((len(clusters.patterns), P, P))
        for g, observed in enumerate(clusters.patterns):
            pos = np.flatnonzero(observed)
            block = R[np.ix_(pos, pos)]
            try:
                root = np.linalg.cholesky(block)
            except np.linalg.LinAlgError:
                raise self.not_positive_definite(pos, block) from None
            inverse = np.linalg.inv(root)
            inverses[g, :pos.size, :pos.size] = inverse.T @ inverse
        return Precision.of_blocks(clusters, inverses)

    def not_positive_definite(self, positions: np.ndarray, block: np.ndarray) -> DataError:
        """The error for an estimate whose block over the visits ``positions`` is ``block``."""
        return DataError(f"the {self.label()} working correlation estimate is not positive definite over "
                         f"the visits {positions.tolist()} (level numbers from 0): "
                         f"{np.round(block, 4).tolist()}; choose a simpler working structure")

    def check_largest(self, alpha: np.ndarray, clusters: Clusters, positive_definite: bool) -> None:
        """DataError naming the block of a largest cluster unless ``positive_definite``."""
        if not positive_definite:
            pos = np.flatnonzero(clusters.patterns[np.argmax(clusters.patterns.sum(axis=1))])
            raise self.not_positive_definite(pos, self.matrix(alpha, clusters.n_positions)[np.ix_(pos, pos)])


class Independence(Working):
    r""":math:`R = I`; no parameter, :math:`R^{-1} = I`."""

    name, sas, geepack = "independence", "IND", "independence"

    def n_params(self, P: int) -> int:
        return 0

    def matrix(self, alpha: np.ndarray, P: int) -> np.ndarray:
        return np.eye(P)

    def estimate(self, cp: CrossProducts, moments: Moments, previous: np.ndarray | None) -> np.ndarray:
        return np.zeros(0)

    def precision(self, alpha: np.ndarray, clusters: Clusters) -> Precision:
        return Precision(clusters, (1.0,))


class Exchangeable(Working):
    r""":math:`R_{jk} = \alpha` (:math:`j \ne k`), :math:`\hat\alpha = \sum_{j<k}S_{jk} /
    ((\sum_{j<k}C_{jk} - d)\phi)`.  A cluster of :math:`m` visits has
    :math:`R^{-1} = (I - c_m\mathbf 1\mathbf 1^\top)/(1-\alpha)`, :math:`c_m = \alpha/(1 +
    (m-1)\alpha)`, positive definite iff :math:`-1/(m-1) < \alpha < 1`."""

    name, sas, geepack = "exchangeable", "EXCH", "exchangeable"

    def n_params(self, P: int) -> int:
        return 1

    def matrix(self, alpha: np.ndarray, P: int) -> np.ndarray:
        return np.where(np.eye(P, dtype=bool), 1.0, alpha[0])

    def estimate(self, cp: CrossProducts, moments: Moments, previous: np.ndarray | None) -> np.ndarray:
        iu = np.triu_indices(cp.S.shape[0], 1)
        return np.atleast_1d(cp.ratio(cp.S[iu].sum(), cp.C[iu].sum()))

    def precision(self, alpha: np.ndarray, clusters: Clusters) -> Precision:
        a, m = float(alpha[0]), clusters.size
        largest = int(m.max(initial=1))
        if largest == 1:  # no pair of visits: alpha is not estimated and R = I
            return Independence().precision(alpha, clusters)
        self.check_largest(alpha, clusters, -1.0 / (largest - 1) < a < 1.0)
        return Precision(clusters, (1.0 / (1.0 - a),), a / ((1.0 - a) * (1.0 + (m - 1) * a)))


class AR1(Working):
    r""":math:`R_{jk} = \alpha^{|t_k - t_j|}` (:math:`t` the visits' level numbers); SAS:
    :math:`\hat\alpha = S_1/((C_1 - d)\phi)`, geepack: least squares of
    :math:`S_{jk}/(C_{jk}\phi)` on :math:`\alpha^{k-j}` (geepack's ``cor_rho_ar1``).  The
    visits of a cluster form a Markov chain with lag-one correlations :math:`\rho_j =
    \alpha^{t_{j+1} - t_j}`, so :math:`R^{-1}` is tridiagonal: :math:`(R^{-1})_{j,j+1} =
    -\rho_j/(1-\rho_j^2)`, :math:`(R^{-1})_{jj} = 1/(1-\rho_{j-1}^2) + \rho_j^2/(1-\rho_j^2)`
    (:math:`\rho_0 = \rho_m = 0`); positive definite iff :math:`|\alpha| < 1`."""

    name, sas, geepack = "ar1", "AR(1)", "ar1"

    def n_params(self, P: int) -> int:
        return 1

    def matrix(self, alpha: np.ndarray, P: int) -> np.ndarray:
        return alpha[0] ** np.abs(np.subtract.outer(np.arange(P), np.arange(P)))

    def estimate(self, cp: CrossProducts, moments: Moments, previous: np.ndarray | None) -> np.ndarray:
        lag1 = cp.ratio(*cp.by_distance(1))
        if not moments.ar1_all_pairs:
            return np.atleast_1d(lag1)
        return np.array([_ar1_least_squares(cp, float(lag1) if previous is None else float(previous[0]))])

    def precision(self, alpha: np.ndarray, clusters: Clusters) -> Precision:
        same = clusters.subject[1:] == clusters.subject[:-1]
        if not same.any():
            return Independence().precision(alpha, clusters)
        a = float(alpha[0])
        self.check_largest(alpha, clusters, abs(a) < 1.0)
        rho = np.where(same, a ** np.diff(clusters.position).clip(min=0), 0.0)
        odds = rho * rho / (1.0 - rho * rho)
        diagonal = np.concatenate([[0.0], odds]) + 1.0 + np.concatenate([odds, [0.0]])
        return Precision(clusters, (diagonal, -rho / (1.0 - rho * rho)))


@dataclass(frozen=True)
class MDependent(Working):
    r""":math:`R_{jk} = \alpha_{|t_k - t_j|}` for :math:`|t_k - t_j| \le m`, 0 beyond;
    :math:`\hat\alpha_t = S_t/((C_t - d)\phi)`.  SAS ``TYPE=MDEP(m)``; geepack has none."""

    m: int = 1
    name = "mdep"
    geepack = None

    @property
    def sas(self) -> str:
        return f"MDEP({self.m})"

    def n_params(self, P: int) -> int:
        return min(self.m, P - 1)

    def label(self) -> str:
        return f"mdep({self.m})"

    def parameter_names(self, visits: list) -> list[str]:
        return [f"alpha{t}" for t in range(1, self.n_params(len(visits)) + 1)]

    def matrix(self, alpha: np.ndarray, P: int) -> np.ndarray:
        values = np.concatenate([[1.0], alpha, np.zeros(P)])
        return values[np.abs(np.subtract.outer(np.arange(P), np.arange(P)))]

    def estimate(self, cp: CrossProducts, moments: Moments, previous: np.ndarray | None) -> np.ndarray:
        return np.array([cp.ratio(*cp.by_distance(t)) for t in range(1, self.n_params(cp.S.shape[0]) + 1)])


class Unstructured(Working):
    r""":math:`R_{jk} = \alpha_{jk}`, :math:`\hat\alpha_{jk} = S_{jk}/((C_{jk} - d)\phi)`."""

    name, sas, geepack = "unstructured", "UN", "unstructured"

    def n_params(self, P: int) -> int:
        return P * (P - 1) // 2

    def parameter_names(self, visits: list) -> list[str]:
        return [f"alpha({visits[j]},{visits[k]})" for j, k in zip(*np.triu_indices(len(visits), 1))]

    def matrix(self, alpha: np.ndarray, P: int) -> np.ndarray:
        R = np.eye(P)
        R[np.triu_indices(P, 1)] = alpha
        return np.triu(R) + np.triu(R, 1).T

    def estimate(self, cp: CrossProducts, moments: Moments, previous: np.ndarray | None) -> np.ndarray:
        iu = np.triu_indices(cp.S.shape[0], 1)
        return cp.ratio(cp.S[iu], cp.C[iu])


def _ar1_least_squares(cp: CrossProducts, start: float) -> float:
    r"""geepack's AR(1) estimate: the root of :math:`\sum_t t\alpha^{t-1}(S_t/\phi - C_t\alpha^t)`
    found by Gauss-Newton from ``start``."""
    P = cp.S.shape[0]
    t = np.arange(1, P)
    s, c = np.array([cp.by_distance(k) for k in t]).T
    a = start
    for _ in range(200):
        e = t * a ** (t - 1)
        step = float(np.sum(e * (s / cp.phi - c * a ** t)) / np.sum(c * e * e))
        a += step
        if abs(step) < 1e-15 * max(1.0, abs(a)):
            break
    return a


_ALIASES = {"independence": "independence", "ind": "independence", "exchangeable": "exchangeable",
            "exch": "exchangeable", "cs": "exchangeable", "ar1": "ar1", "ar(1)": "ar1",
            "unstructured": "unstructured", "un": "unstructured", "unstr": "unstructured"}
WORKING: dict[str, Working] = {w.name: w for w in (
    Independence(), Exchangeable(), AR1(), MDependent(1), Unstructured())}


def get_working(name: str | Working) -> Working:
    """The structure named ``name`` (any case; ``"mdep(2)"`` for 2-dependence); DataError
    listing the names otherwise."""
    if isinstance(name, Working):
        return name
    text = str(name).strip().lower().replace(" ", "")
    mdep = re.fullmatch(r"mdep\((\d+)\)", text)
    if mdep and int(mdep.group(1)) >= 1:
        return MDependent(int(mdep.group(1)))
    if text not in _ALIASES:
        raise DataError(f"working correlation must be one of independence, exchangeable, ar1, "
                        f"unstructured or mdep(m) with m >= 1; got {name!r}")
    return WORKING[_ALIASES[text]]


def get_moments(name: str) -> Moments:
    """The convention ``name`` of :data:`MOMENTS` (DataError otherwise)."""
    if name not in MOMENTS:
        raise DataError(f"moments must be one of {', '.join(MOMENTS)}; got {name!r}")
    return MOMENTS[name]
