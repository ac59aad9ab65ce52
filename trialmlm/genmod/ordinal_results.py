r"""``OrdinalResults``: an immutable cumulative logit GEE fit and its inference (SAS GENMOD
``DIST=MULTINOMIAL LINK=CLOGIT`` with ``REPEATED``; model and estimator in :mod:`.ordinal`).

The mean model's LS-means grid, differences and type 3 hypotheses are the MMRM's, written
over the design's columns (intercept first); a row :math:`l` of them becomes a row over
:math:`\theta = (\alpha_1, \dots, \alpha_{K-1}, \beta)`:

* LS mean of :math:`\mathrm{logit}\,P(Y \le k)`: :math:`(e_k\,l_0, l_{1:})` for each
  :math:`k < K` (``lsmeans(..., ilink=True)`` adds the cumulative probability, SAS ``ILINK``);
* a difference or a type 3 hypothesis (intercept coefficient 0): :math:`(0, l_{1:})`, the
  same for every :math:`k` (proportional odds); ``compare`` adds its :math:`\exp`, the
  odds ratio of :math:`Y \le k` (a lower level), with limits.

Tests are Wald tests with the normal reference (:mod:`.ztests`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..engine.design import Design
from ..engine.formula import ModelFormula
from ..errors import DataError
from ..inference.anova import term_hypotheses
from ..inference.grid import ReferenceGrid
from ..inference.lsmeans import adjust_table, check_adjust, difference_rows, warn_non_estimable
from ..inference.protocol import check_options
from .ordinal import OrdinalEstimate, OrdinalProblem
from .results import OPTIONS, GEESettings
from .variance import get_variance, sandwich
from .ztests import t_table, wald_test


@dataclass(frozen=True)
class OrdinalResults:
    """A fitted cumulative logit GEE: ``theta`` (intercepts, slopes), ``levels`` the ordered
    response values, ``names`` SAS's ("Intercept1", ..., then the design's columns)."""

    formula: ModelFormula
    settings: GEESettings
    design: Design
    levels: tuple
    problem: OrdinalProblem = field(repr=False)
    estimate: OrdinalEstimate = field(repr=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def theta(self) -> np.ndarray:
        return self.estimate.theta

    beta = theta

    @property
    def names(self) -> list[str]:
        return [f"Intercept{k}" for k in range(1, self.problem.K)] + list(self.design.encoding.columns[1:])

    @property
    def coef(self) -> pd.Series:
        return pd.Series(self.theta, index=self.names, name="estimate")

    @property
    def converged(self) -> bool:
        return self.estimate.converged

    @property
    def loglik(self) -> float:
        return self.estimate.loglik

    def cov(self, vcov: str | None = None) -> np.ndarray:
        """``robust`` :math:`H^{-1}(\\sum_i U_iU_i^\\top)H^{-1}` or ``model`` :math:`H^{-1}`."""
        name = get_variance(vcov or self.settings.vcov).name
        if name not in ("robust", "model"):
            raise DataError(f"the ordinal GEE has the robust and the model-based covariances; got "
                            f"vcov={name!r}")
        if name not in self._cache:
            H = self.estimate.H
            self._cache[name] = sandwich(H, self.estimate.U) if name == "robust" else np.linalg.inv(H)
        return self._cache[name]

    @property
    def vcov(self) -> np.ndarray:
        return self.cov()

    def _slopes(self, L: np.ndarray) -> np.ndarray:
        """Rows :math:`(0, l_{1:})` over :math:`\\theta` of design rows ``L``."""
        L = np.atleast_2d(L)
        return np.hstack([np.zeros((L.shape[0], self.problem.K - 1)), L[:, 1:]])

    def coef_table(self, vcov: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """``term, estimate, se, df, t, p, lower, upper`` (``df`` infinite, ``t`` is SAS's Z)."""
        table = t_table(self.theta, self.cov(vcov), np.eye(self.theta.size), alpha)
        return pd.concat([pd.DataFrame({"term": self.names}), table], axis=1)

    def lsmeans(self, specs, by=None, alpha: float = 0.05, **options) -> pd.DataFrame:
        """LS means of :math:`\\mathrm{logit}\\,P(Y \\le k)` per level of ``specs`` (and ``by``)
        and ``k`` (column ``cumulative``: "<= level"); ``ilink=True`` adds the cumulative
        probabilities ``mean, mean_se, mean_lower, mean_upper``."""
        opts = check_options("lsmeans", options, OPTIONS)
        labels, L = ReferenceGrid(self, opts.get("at")).rows(specs, by, opts.get("weights", "equal"))
        warn_non_estimable(labels, L, "LS mean(s)")
        K, rows, info = self.problem.K, [], []
        for k in range(K - 1):
            Lk = self._slopes(L)
            Lk[:, k] = L[:, 0]
            rows.append(Lk)
            info.append(labels.assign(cumulative=f"<= {self.levels[k]}"))
        table = t_table(self.theta, self.cov(opts.get("vcov")), np.vstack(rows), alpha)
        table = table.drop(columns=["t", "p"])
        if opts.get("ilink", False):
            table = self.problem.link.response_scale(table)
        return pd.concat([pd.concat(info, ignore_index=True), table], axis=1)

    def compare(self, spec, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, **options) -> pd.DataFrame:
        """Differences of the LS means of ``spec`` (log cumulative odds ratios, the same for
        every level) with ``ratio, ratio_lower, ratio_upper``: the odds ratio of a lower level."""
        opts = check_options("compare", options, OPTIONS[:-1])
        check_adjust(adjust, pairwise)
        info, D = difference_rows(self, spec, by, reference, opts.get("weights", "equal"), opts.get("at"),
                                  None, pairwise)
        warn_non_estimable(info, D, "difference(s)")
        rows = self._slopes(D)
        cov = self.cov(opts.get("vcov"))
        out = pd.concat([info, t_table(self.theta, cov, rows, alpha)], axis=1)
        if adjust is not None:
            adjust_table(out, spec, alpha, adjust, rows @ cov @ rows.T if adjust == "dunnett" else None)
        return self.problem.link.ratio_scale(out)

    def anova(self, vcov: str | None = None) -> pd.DataFrame:
        """Type 3 Wald chi-square tests of the model terms (SAS GENMOD ``TYPE3 WALD``):
        ``term, df, chi_square, p``."""
        cov = self.cov(vcov)
        rows = [{"term": name, **wald_test(self.theta, cov, self._slopes(L))}
                for name, L in term_hypotheses(self, 3).items() if name != "Intercept"]
        return pd.DataFrame(rows, columns=["term", "df", "chi_square", "p"])
