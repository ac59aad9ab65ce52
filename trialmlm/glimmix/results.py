"""GLMMResults: the immutable result of :func:`trialmlm.glmm`, and its inference as SAS PROC GLIMMIX
(``METHOD=LAPLACE | QUAD``): Wald t / F tests with the df rules of :mod:`.degrees` (``df=``), the
model-based or empirical covariances of :mod:`.empirical` (``vcov=``), LS means and their
differences through :class:`trialmlm.inference.protocol.Comparisons` (link scale, ``ILINK``, odds
and rate ratios), type 3 tests, likelihood-ratio tests and the conditional modes with their
prediction standard errors (:mod:`.prediction`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.design import Design
from ..engine.formula import ModelFormula
from ..errors import BoundaryWarning, ConvergenceWarning, DataError
from ..genmod.families import get_family
from ..genmod.ztests import link_differences, t_table, wald_test
from ..inference.anova import term_hypotheses
from ..inference.grid import ReferenceGrid
from ..inference.lsmeans import warn_non_estimable
from ..inference.protocol import check_options
from .degrees import degrees_of_freedom, effect_df
from .empirical import get_covariance, subject_gradients
from .optimize import maximise
from .prediction import conditional_variance, modes_at, prediction_variance
from .problem import Problem, covariance_jacobian

OPTIONS = ("vcov", "df", "weights", "at", "ilink")
PREDICTION = ("sas", "lme4")


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
    ``design`` the encoded rows (reference grids, marginal means of :mod:`.margins`).

    With several random-effect terms (:mod:`.multilevel`), ``blocks`` lists each term's
    grouping factor and number of random effects, in formula order: ``G`` is block diagonal
    over them, ``random_names`` are ``FACTOR:EFFECT``, ``theta`` the terms' log-Cholesky
    parameters one after the other, and ``modes`` has one row per (``group``, ``level``).

    ``design`` (the encoded rows: LS-means grid, df rules) and ``problem`` (the numbers of the
    likelihood: sandwich, conditional modes) serve the inference methods at the end of the class
    (one random-effect term; None for several).

    A negative binomial fit has ``scale`` :math:`\\hat k` of :math:`\\mathrm{Var}(y\\mid b) = \\mu + k\\mu^2`
    (SAS GLIMMIX ``DIST=NEGBIN`` "Scale"; lme4 ``glmer.nb``'s theta is :math:`1/k`) and ``scale_se``
    :math:`\\hat k\\,\\mathrm{se}(\\log\\hat k)` from the inverse observed information of
    :math:`(\\beta, \\theta, \\log k)`; ``vcov`` and ``parameter_vcov`` are blocks of that inverse, and
    ``problem`` holds :math:`k` at :math:`\\hat k` (the sandwich covariances and the prediction
    variances of the random effects treat it as known); None for the other families."""

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
    blocks: tuple[tuple[str, int], ...] = ()
    design: Design | None = field(default=None, repr=False, compare=False)
    problem: Problem | None = field(default=None, repr=False, compare=False)
    scale: float | None = None
    scale_se: float | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def covariance_parameters(self) -> pd.DataFrame:
        r"""SAS's "Covariance Parameter Estimates": ``parameter`` UN(i,j) (lower triangle, row
        by row), ``subject``, ``estimate`` (the element of G) and ``se``, its standard error by
        the delta method, :math:`\sqrt{\mathrm{diag}(J V_\theta J^\top)}` with :math:`J =
        \partial\,\mathrm{vech}\,G/\partial\theta` (:func:`.problem.covariance_jacobian`)
        and :math:`V_\theta` the :math:`\theta` block of ``parameter_vcov`` (SAS GLIMMIX's Standard
        Error from the inverse Hessian; 0 for a variance held at its boundary).  With several
        terms one block per term (SAS: per RANDOM statement), ``subject`` its grouping factor.  A
        negative binomial fit ends with the row ``Scale`` (``scale``, ``scale_se``; SAS's last row)."""
        frames, start, at = [], 0, self.beta.size
        for factor, q in self.blocks or ((self.formula.subject, self.G.shape[0]),):
            rows, cols = np.tril_indices(q)
            k = rows.size
            J = covariance_jacobian(self.theta[at - self.beta.size: at - self.beta.size + k])
            V = self.parameter_vcov[at:at + k, at:at + k]
            se = np.sqrt(np.maximum(np.einsum("ak,kl,al->a", J, V, J), 0.0))
            frames.append(pd.DataFrame({"parameter": [f"UN({i + 1},{j + 1})" for i, j in zip(rows, cols)],
                                        "subject": factor, "estimate": self.G[start + rows, start + cols],
                                        "se": se}))
            start, at = start + q, at + k
        if self.scale is not None:
            frames.append(pd.DataFrame({"parameter": ["Scale"], "subject": [None], "estimate": [self.scale],
                                        "se": [self.scale_se]}))
        return pd.concat(frames, ignore_index=True)

    @property
    def aic(self) -> float:
        """:math:`-2\\ell + 2k`, k = ``n_parameters``."""
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        """:math:`-2\\ell + k\\log n` with n the number of rows (R ``BIC`` of ``glmer``; SAS
        GLIMMIX uses the number of subjects)."""
        return -2 * self.loglik + self.n_parameters * np.log(self.n_obs)

    # -- inference as SAS GLIMMIX (module docstrings of .degrees, .empirical, .prediction) ---------
    @property
    def free(self) -> np.ndarray:
        """Which of :math:`(\\beta, \\theta)` were estimated (False: held at the boundary 0)."""
        rows, cols = np.tril_indices(self.G.shape[0])
        held = np.isin(rows, np.flatnonzero(~np.isfinite(self.theta[rows == cols])))
        return np.concatenate([np.ones(self.beta.size, dtype=bool), ~held])

    def parameter_cov(self, vcov: str = "model") -> np.ndarray:
        """The covariance of the free :math:`(\\hat\\beta, \\hat\\theta)` named ``vcov``
        ("model", "empirical", "mbn"; :mod:`.empirical`)."""
        self._one_term("parameter_cov")
        method = get_covariance(vcov)
        if method.name not in self._cache:
            free = self.free
            x = np.concatenate([self.beta, self.theta])
            information = np.linalg.inv(self.parameter_vcov[np.ix_(free, free)])

            def gradients():
                return subject_gradients(self.problem, x, free, self.settings.n_points)
            self._cache[method.name] = method.compute(information, gradients, self.problem)
        return self._cache[method.name]

    def cov(self, vcov: str | None = None) -> np.ndarray:
        """The covariance of :math:`\\hat\\beta` named ``vcov`` (None: "model", ``vcov`` the field)."""
        if vcov in (None, "model"):
            return self.vcov
        p = self.beta.size
        return self.parameter_cov(vcov)[:p, :p]

    def df(self, L: np.ndarray, df: str | None = None) -> np.ndarray:
        """The df of each row of ``L`` under the rule ``df`` (:mod:`.degrees`; None: containment;
        with several random-effect terms only "none", the default there)."""
        L = np.atleast_2d(L)
        if self.problem is None and df in (None, "none"):
            return np.full(L.shape[0], np.inf)
        self._one_term("df")
        return degrees_of_freedom(self.design, self.problem, L, df).rows

    def coef_table(self, vcov: str | None = None, alpha: float = 0.05, df: str | None = None) -> pd.DataFrame:
        """``term, estimate, se, df, t, p, lower, upper`` of :math:`\\hat\\beta` (t with the df
        rule ``df``; ``df="none"``: z tests, as lme4)."""
        L = np.eye(self.beta.size)
        table = t_table(self.beta, self.cov(vcov), L, alpha, self.df(L, df))
        return pd.concat([pd.DataFrame({"term": list(self.names)}), table], axis=1)

    def lsmeans(self, specs, by=None, alpha: float = 0.05, **options) -> pd.DataFrame:
        """LS means of ``specs`` per ``by`` level on the link scale (SAS ``LSMEANS``);
        ``ilink=True`` adds ``mean, mean_se, mean_lower, mean_upper`` (SAS ``ILINK``: the inverse
        link, delta-method SE).  Options: ``vcov``, ``df``, ``weights``, ``at``, ``ilink``."""
        self._one_term("lsmeans")
        opts = check_options("lsmeans", options, OPTIONS)
        labels, L = ReferenceGrid(self, opts.get("at")).rows(specs, by, opts.get("weights", "equal"))
        warn_non_estimable(labels, L, "LS mean(s)")
        table = t_table(self.beta, self.cov(opts.get("vcov")), L, alpha,
                        self._lsmeans_df(L, specs, by, opts.get("df"))).drop(columns=["t", "p"])
        if opts.get("ilink", False):
            table = self._link.response_scale(table)
        return pd.concat([labels, table], axis=1)

    def compare(self, spec, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, **options) -> pd.DataFrame:
        """Differences of the LS means of ``spec`` on the link scale (protocol columns), with
        ``ratio, ratio_lower, ratio_upper`` (odds ratios under the logit, rate ratios under the log)."""
        self._one_term("compare")
        opts = check_options("compare", options, OPTIONS[:-1])
        cov = self.cov(opts.get("vcov"))
        return link_differences(self, self._link,
                                lambda D: t_table(self.beta, cov, D, alpha,
                                                  self._lsmeans_df(D, spec, by, opts.get("df"))),
                                spec, by, reference, pairwise, adjust, alpha, opts)

    def anova(self, vcov: str | None = None, df: str | None = None) -> pd.DataFrame:
        """Type 3 Wald tests of the model terms (SAS "Type III Tests of Fixed Effects"): ``term,
        df, den_df, F, p`` with :math:`F = W/r` and the denominator df of the rule ``df``; with
        ``df="none"`` ``term, df, chi_square, p`` (SAS ``CHISQ``; lme4 / emmeans asymptotic)."""
        self._one_term("anova")
        cov = self.cov(vcov)
        rows = []
        for name, L in term_hypotheses(self, 3).items():
            rows.append({"term": name, **wald_test(self.beta, cov, L, self._joint_df(L, df))})
        table = pd.DataFrame(rows, columns=["term", "df", "chi_square", "den_df", "F", "p"])
        if df == "none":
            return table.drop(columns=["den_df", "F"])
        return table.drop(columns="chi_square")

    def likelihood_ratio(self, reduced: GLMMResults | None = None) -> pd.DataFrame:
        """Likelihood-ratio test of ``reduced`` (nested in this fit, same rows, family, method and
        points) against this fit: :math:`\\chi^2 = 2(\\ell - \\ell_0)` on the difference in
        ``n_parameters`` (R ``anova(reduced, full)``).  ``reduced=None``: the test of
        :math:`G = 0` against the fit without random effects (SAS ``COVTEST GLM``); with one
        variance its p-value is that of the 50:50 mixture of :math:`\\chi^2_0` and
        :math:`\\chi^2_1` (Self & Liang 1987; SAS's boundary rule; 1 when the variance is already
        0), with more the :math:`\\chi^2` on the number of G parameters (conservative).
        Columns ``loglik_reduced, loglik, df, chi_square, p, reference``."""
        self._one_term("likelihood_ratio")
        if reduced is None:
            loglik0, df = self._loglik_without_random_effects(), self.theta.size
            reference = "0.5 chi2(0) + 0.5 chi2(1)" if self.G.shape[0] == 1 else f"chi2({df})"
        else:
            self._check_nested(reduced)
            loglik0, df = reduced.loglik, self.n_parameters - reduced.n_parameters
            reference = f"chi2({df})"
        statistic = max(0.0, 2.0 * (self.loglik - loglik0))
        p = stats.chi2.sf(statistic, df)
        if reference.startswith("0.5"):
            p = 0.5 * p if statistic > 0 else 1.0
        return pd.DataFrame([{"loglik_reduced": loglik0, "loglik": self.loglik, "df": df,
                              "chi_square": statistic, "p": float(p), "reference": reference}])

    def random_effects(self, se: bool = True, kind: str = "sas", vcov: str | None = None) -> pd.DataFrame:
        """The conditional modes :math:`\\hat b_i` (SAS "Solution for Random Effects"): ``subject,
        effect, estimate`` and, with ``se``, ``se`` the prediction standard error of ``kind``
        "sas" (GLIMMIX: conditional variance plus the uncertainty of the parameters, with the
        covariance ``vcov``) or "lme4" (``condVar``) (:mod:`.prediction`)."""
        self._one_term("random_effects")
        if kind not in PREDICTION:
            raise DataError(f"kind must be one of {', '.join(PREDICTION)}; got {kind!r}")
        x = np.concatenate([self.beta, self.theta])
        b, _ = modes_at(self.problem, x)
        m, q = b.shape
        table = pd.DataFrame({self.formula.subject: np.repeat(self.modes.index.to_numpy(), q),
                              "effect": np.tile(list(self.random_names), m), "estimate": b.ravel()})
        if se:
            variance = (conditional_variance(self.problem, x) if kind == "lme4" else
                        prediction_variance(self.problem, x, self.free, self.parameter_cov(vcov or "model")))
            table["se"] = np.sqrt(np.diagonal(variance, axis1=1, axis2=2)).ravel()
        return table

    def _one_term(self, method: str) -> None:
        """DataError for a fit with several random-effect terms (its inference is not written yet)."""
        if self.problem is None:
            raise DataError(f"{method}() is available for GLMMs with one random-effect term; this fit has "
                            f"{len(self.blocks)} ({', '.join(f for f, _ in self.blocks)})")

    @property
    def _link(self):
        return get_family(self.settings.family).link(self.settings.link)

    def _lsmeans_df(self, L: np.ndarray, specs, by, df: str | None) -> np.ndarray:
        """The df of the effect ``specs`` x ``by`` for all rows (SAS), else per row (:mod:`.degrees`)."""
        keys = [k for k in ([specs] if isinstance(specs, str) else list(specs))
                + ([] if by is None else [by] if isinstance(by, str) else list(by))]
        if self.problem is not None:
            value = effect_df(self.design, self.problem, keys, df)
            if value is not None:
                return np.where(np.all(np.isfinite(L), axis=1), value, np.nan)
        return self._row_df(L, df)

    def _row_df(self, L: np.ndarray, df: str | None) -> np.ndarray:
        out = np.full(L.shape[0], np.nan)
        ok = np.all(np.isfinite(L), axis=1)
        if ok.any():
            out[ok] = self.df(L[ok], df)
        return out

    def _joint_df(self, L: np.ndarray, df: str | None) -> float:
        return degrees_of_freedom(self.design, self.problem, L, df).joint if L.size else np.inf

    def _loglik_without_random_effects(self) -> float:
        """The maximum log-likelihood with :math:`G = 0` (the GLM), from this fit's :math:`\\beta`
        (and :math:`\\log\\hat k`, re-estimated, for the negative binomial)."""
        rows, cols = np.tril_indices(self.G.shape[0])
        scale = [] if self.scale is None else [np.log(self.scale)]
        x0 = np.concatenate([self.beta, np.where(rows == cols, -np.inf, 0.0), scale])
        free = np.concatenate([np.ones(self.beta.size, dtype=bool), np.zeros(rows.size, dtype=bool),
                               np.isfinite(scale)])
        problem = replace(self.problem, estimates_scale=bool(scale))
        return maximise(problem, self.settings.n_points, x0, free).loglik

    def _check_nested(self, reduced: GLMMResults) -> None:
        """DataError unless ``reduced`` was fitted to the same rows with the same family, method
        and points, and has fewer parameters."""
        same = (reduced.n_obs == self.n_obs and reduced.design.row_index.equals(self.design.row_index))
        if not same:
            raise DataError(f"likelihood_ratio: the fits used different data rows ({reduced.n_obs} and "
                            f"{self.n_obs}); refit both on the same rows")
        for what in ("family", "method", "n_points"):
            a, b = getattr(reduced.settings, what), getattr(self.settings, what)
            if a != b:
                raise DataError(f"likelihood_ratio: the fits differ in {what} ({a!r} and {b!r})")
        if reduced.n_parameters >= self.n_parameters:
            raise DataError(f"likelihood_ratio: the reduced fit has {reduced.n_parameters} parameters, not "
                            f"fewer than the full fit's {self.n_parameters}")

def fit_notes(converged: bool, message: str, at_zero: list[str], stacklevel: int) -> tuple[str, ...]:
    """The notes of a fit, each also warned (``stacklevel`` from the caller): the variances of G
    held at 0 (``at_zero``, BoundaryWarning) and a maximisation that did not converge
    (``message``, ConvergenceWarning)."""
    notes = []
    if at_zero:
        notes.append(f"a variance of G is at its boundary 0 ({', '.join(at_zero)}): reported as 0 and held "
                     "there (SAS: 'Estimated G matrix is not positive definite')")
        warnings.warn(notes[-1], BoundaryWarning, stacklevel=stacklevel + 1)
    if not converged:
        notes.append(f"the likelihood maximisation did not converge: {message}; the estimates are not usable")
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=stacklevel + 1)
    return tuple(notes)


def held_inverse(information: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The inverse (pseudo-inverse) of the observed ``information`` of the ``free`` parameters,
    with rows and columns of 0 for the parameters held at a boundary."""
    inverse = np.zeros((free.size, free.size))
    inverse[np.ix_(free, free)] = np.linalg.pinv(information)
    return inverse
