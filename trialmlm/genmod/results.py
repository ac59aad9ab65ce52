r"""``GEEResults``: an immutable GEE fit and its inference (SAS PROC GENMOD ``REPEATED``).

Implements :class:`trialmlm.inference.protocol.Comparisons` (``lsmeans``, ``compare``) with
the LS-means reference grid of the MMRM (:class:`trialmlm.inference.grid.ReferenceGrid`)
on the link scale; ``lsmeans(..., ilink=True)`` adds the mean :math:`g^{-1}(\hat\eta)`
with the delta-method standard error :math:`|d\mu/d\eta|\,\mathrm{se}(\hat\eta)` and the
limits :math:`g^{-1}` of the link-scale limits (SAS ``ILINK``); ``compare`` adds
:math:`\exp` of the difference and of its limits (``ratio``: odds ratio under the logit,
ratio of means under the log link).  Tests are Wald tests (:mod:`.ztests`) with the
normal / chi-square reference or t / F with the df of ``df=`` (:mod:`.degrees`: "none",
"clusters", "fg"), and the type 3 generalized score tests of :mod:`.score`.  ``vcov`` and
``df`` default to the fit's (``trialmlm.gee(vcov=, df=)``) and may be given per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..engine.design import Design
from ..engine.formula import ModelFormula
from ..errors import DataError
from ..inference.anova import term_hypotheses
from ..inference.grid import ReferenceGrid
from ..inference.lsmeans import warn_non_estimable
from ..inference.protocol import check_options
from .degrees import get_df_method
from .score import score_test
from .scoring import Estimate, Problem, solve
from .summary import render
from .variance import get_variance
from .working import WORKING
from .ztests import link_differences, t_table, wald_test

OPTIONS = ("vcov", "df", "weights", "at", "ilink")
TESTS = ("wald", "score")


@dataclass(frozen=True)
class GEESettings:
    """The choices of a fit, as given to :func:`trialmlm.gee`."""

    family: str
    link: str
    working: str
    moments: str
    vcov: str
    df: str
    subject: str
    visit: str | None
    offset: str | None
    trials: str | None
    tol: float
    maxiter: int


@dataclass(frozen=True)
class GEEResults:
    """A fitted GEE.  ``beta`` the coefficients (kept columns of the design, SAS's
    reference coding), ``alpha`` the working-correlation parameters, ``scale`` :math:`\\phi`."""

    formula: ModelFormula
    settings: GEESettings
    design: Design
    problem: Problem = field(repr=False)
    estimate: Estimate = field(repr=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- the estimates -------------------------------------------------------------------
    @property
    def beta(self) -> np.ndarray:
        return self.estimate.beta

    @property
    def names(self) -> list[str]:
        return list(self.design.encoding.columns)

    @property
    def coef(self) -> pd.Series:
        return pd.Series(self.beta, index=self.names, name="estimate")

    @property
    def scale(self) -> float:
        """:math:`\\phi` (:mod:`.working` for its convention)."""
        return self.estimate.phi

    @property
    def alpha(self) -> pd.Series:
        """The working-correlation parameters by name."""
        names = self.problem.working.parameter_names(self.design.position_labels)
        return pd.Series(self.estimate.alpha, index=names, dtype=float, name="estimate")

    @property
    def working_correlation(self) -> pd.DataFrame:
        """:math:`R(\\hat\\alpha)` over the visits (SAS ``CORRW``)."""
        labels = self.design.position_labels
        return pd.DataFrame(self.problem.correlation(self.estimate.alpha), index=labels, columns=labels)

    @property
    def converged(self) -> bool:
        return self.estimate.converged

    @property
    def fitted(self) -> pd.Series:
        """:math:`\\hat\\mu` of the rows used, by their index labels in the data."""
        return pd.Series(self.problem.means(self.beta)[0], index=self.design.row_index, name="fitted")

    def cov(self, vcov: str | None = None) -> np.ndarray:
        """The covariance of :math:`\\hat\\beta` named ``vcov`` (:data:`.variance.VARIANCES`;
        None: the fit's)."""
        method = get_variance(vcov or self.settings.vcov)
        if method.name not in self._cache:
            self._cache[method.name] = method.compute(self.problem, self.estimate)
        return self._cache[method.name]

    @property
    def vcov(self) -> np.ndarray:
        return self.cov()

    def df(self, L: np.ndarray, vcov: str | None = None, df: str | None = None) -> np.ndarray:
        """The df of each row of ``L`` under the df rule ``df`` (:mod:`.degrees`; None: the
        fit's) with the covariance ``vcov``; infinite = normal reference."""
        method = get_df_method(df or self.settings.df)
        L = np.atleast_2d(np.asarray(L, dtype=float))
        return method.rows(self.problem, self.estimate, get_variance(vcov or self.settings.vcov).name, L)

    def _table(self, L: np.ndarray, alpha: float, vcov: str | None, df: str | None) -> pd.DataFrame:
        return t_table(self.beta, self.cov(vcov), L, alpha, self.df(L, vcov, df))

    # -- tables ----------------------------------------------------------------------------
    def coef_table(self, vcov: str | None = None, alpha: float = 0.05, df: str | None = None) -> pd.DataFrame:
        """``term, estimate, se, df, t, p, lower, upper`` (``df`` infinite: ``t`` is SAS's Z)."""
        table = self._table(np.eye(self.beta.size), alpha, vcov, df)
        return pd.concat([pd.DataFrame({"term": self.names}), table], axis=1)

    def lsmeans(self, specs, by=None, alpha: float = 0.05, **options) -> pd.DataFrame:
        """LS means of ``specs`` per ``by`` level on the link scale; ``ilink=True`` adds
        ``mean, mean_se, mean_lower, mean_upper`` (module docstring).  Options: ``vcov``, ``df``,
        ``weights`` (:data:`trialmlm.inference.grid.WEIGHTS`), ``at``, ``ilink``."""
        opts = check_options("lsmeans", options, OPTIONS)
        labels, L = ReferenceGrid(self, opts.get("at")).rows(specs, by, opts.get("weights", "equal"))
        warn_non_estimable(labels, L, "LS mean(s)")
        table = self._table(L, alpha, opts.get("vcov"), opts.get("df")).drop(columns=["t", "p"])
        if opts.get("ilink", False):
            table = self.problem.link.response_scale(table)
        return pd.concat([labels, table], axis=1)

    def compare(self, spec, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, **options) -> pd.DataFrame:
        """Differences of the LS means of ``spec`` on the link scale (protocol columns), with
        ``ratio, ratio_lower, ratio_upper`` (:math:`\\exp`) under the logit and log links."""
        opts = check_options("compare", options, OPTIONS[:-1])
        return link_differences(self, self.problem.link,
                                lambda D: self._table(D, alpha, opts.get("vcov"), opts.get("df")),
                                spec, by, reference, pairwise, adjust, alpha, opts)

    def anova(self, vcov: str | None = None, test: str = "wald", df: str | None = None) -> pd.DataFrame:
        """Type 3 tests of the model terms: ``term, df, chi_square, p``.

        ``test="wald"``: Wald chi-square with the covariance ``vcov`` (SAS GENMOD ``TYPE3
        WALD``); with a finite denominator df (``df`` "clusters" or "fg": :math:`K - p`) also
        ``den_df`` and ``F`` :math:`= W/r`, and ``p`` is the F test's.  ``test="score"``: the
        generalized score statistics (:mod:`.score`; SAS's default "Score Statistics For
        Type 3 GEE Analysis"), chi-square; ``vcov`` and ``df`` do not apply to them."""
        if test not in TESTS:
            raise DataError(f"test must be one of {', '.join(TESTS)}; got {test!r}")
        hypotheses = term_hypotheses(self, 3)
        if test == "score":
            s = self.settings
            rows = [{"term": name, **score_test(self.problem, L, self.beta, s.tol, s.maxiter)}
                    for name, L in hypotheses.items()]
            return pd.DataFrame(rows, columns=["term", "df", "chi_square", "p", "converged"])
        cov = self.cov(vcov)
        den_df = get_df_method(df or self.settings.df).joint(self.problem, self.estimate)
        rows = [{"term": name, **wald_test(self.beta, cov, L, den_df)} for name, L in hypotheses.items()]
        columns = ["term", "df", "chi_square", "p"] + ([] if np.isinf(den_df) else ["den_df", "F"])
        return pd.DataFrame(rows, columns=columns)

    def qic(self) -> pd.Series:
        r"""QIC and QICu (Pan 2001) as geepack's ``QIC()``: quasi-likelihood
        :math:`Q = \sum Q(\hat\mu; y)` (:mod:`.families`), penalty
        :math:`\mathrm{tr}(\hat\Omega_I\hat V_R)` with :math:`\hat\Omega_I` the inverse of the
        model-based covariance of the independence GEE and :math:`\hat V_R` this fit's robust
        one; QIC :math:`= -2(Q - \mathrm{tr})`, QICu :math:`= -2(Q - p)`."""
        mu = self.problem.means(self.beta)[0]
        quasi = float(np.sum(self.problem.family.quasi_likelihood(self.problem.y, mu)))
        independence = replace(self.problem, working=WORKING["independence"])
        est = solve(independence, self.beta, self.settings.tol, self.settings.maxiter)
        trace = float(np.trace(est.H / est.phi @ self.cov("robust")))
        p = self.beta.size
        return pd.Series({"QIC": -2 * (quasi - trace), "QICu": -2 * (quasi - p), "quasi_likelihood": quasi,
                          "trace": trace, "params": p})

    def summary(self) -> str:
        """SAS GENMOD's tables as text: "GEE Model Information", "Working Correlation
        Matrix", "Analysis Of GEE Parameter Estimates" with empirical standard errors."""
        return render(self)
