"""The immutable result of an MMRM fit.

Everything is computed at fit time and stored read-only; accessors return fresh
pandas objects, so a caller cannot change a fit by editing what it got back.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import stats

from ..covariance import CovarianceStructure
from ..covariance.random_effects import Independent
from ..errors import BoundaryWarning, ConvergenceWarning, DataError, DataWarning
from ..inference.anova import term_hypotheses
from ..inference.conditional import conditional_moments, residual_variances
from ..inference.lsmeans import compare_table, lsmeans_table
from ..inference.methods import beta_covariance, resolve
from ..inference.wald import contrast_matrix, f_test, t_table
from .blups import RandomEffectsResults
from .boundary import boundary_note
from .design import Design
from .likelihood import MarginalLikelihood, independence_deviance, independence_deviance_of_sums
from .model import Model
from .specification import ModelSpec

ALIASED = "aliased fixed effects dropped: "  # the one entry of MMRMResults.warnings that is no problem


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class FitSettings:
    """What was asked for: the audit trail of a fit.

    ``start`` and ``fixed`` are the covariance parameter values given by name (SAS PARMS
    and HOLD=; ``fixed`` parameters were held), ``noiter`` whether the fit was evaluated
    at the given values without iterations (:mod:`trialmlm.engine.parms`).
    """

    formula: str
    method: str
    weights: str | None
    structure: str
    subject: str
    visit: tuple[str, ...]
    group: str | None
    response: str
    ddf: str = "satterthwaite"
    vcov: str = "model"
    random: str | None = None
    start: tuple[tuple[str, float], ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()
    noiter: bool = False

    @property
    def linear(self) -> bool:
        """The linear model (no covariance or random-effect term): no subject, independent rows."""
        return self.subject is None


@dataclass(frozen=True)
class CovarianceAttempt:
    """One covariance structure tried by :func:`trialmlm.fit` (see :mod:`trialmlm.engine.fallback`).

    ``reason`` is empty for a usable fit, else why the structure was not used;
    ``used`` marks the structure of the fit returned.  A selection by an information
    criterion (:func:`trialmlm.select_covariance`) adds, for each usable candidate, the
    ``criterion`` ("aic", "aicc" or "bic"), its ``value``, ``minus2_loglik`` and
    ``n_parameters``, the parameters the criterion counts (:attr:`MMRMResults.n_ic_parameters`);
    they are None otherwise.
    """

    structure: str
    converged: bool
    positive_definite: bool
    reason: str
    used: bool = False
    criterion: str | None = None
    value: float | None = None
    minus2_loglik: float | None = None
    n_parameters: int | None = None


@dataclass(frozen=True)
class NullModelTest:
    r"""SAS's "Null Model Likelihood Ratio Test": the fitted covariance against :math:`\sigma^2I`.

    ``chisq`` = -2 log-likelihood of the null model (same fixed effects and method,
    :math:`V = \sigma^2W^{-1}`: no random effects, independent residuals with one variance)
    minus the model's; ``df`` = number of covariance parameters - 1; ``p`` = its
    :math:`\chi^2_{df}` upper tail.
    """

    df: int
    chisq: float
    p: float


@dataclass(frozen=True)
class MMRMResults(RandomEffectsResults):
    """Result of :func:`trialmlm.fit` (read-only).

    Attributes
    ----------
    loglik : REML or ML log-likelihood with all constants (SAS ``-2 Res Log Likelihood`` / -2).
    aic, aicc, bic : SAS information criteria (smaller is better).
    null_model_test : SAS's "Null Model Likelihood Ratio Test" (:class:`NullModelTest`).
    n_subjects, n_obs, n_obs_dropped : data used and rows dropped for missing values.
    n_subjects_read : subjects in the rows read, used or not (SAS's "Subjects", BIC's count).
    converged, n_iter, optimizer, warnings : the optimisation report.
    boundary : covariance parameters estimated at 0, the boundary (:mod:`trialmlm.engine.boundary`).
    covariance_attempts : the :class:`CovarianceAttempt` of each structure tried, in order
        (one for a fit without a fallback list; see :meth:`covariance_attempts_table`).
    model : the assembled :class:`~trialmlm.engine.model.Model` (parsed formula, covariance term,
        design, likelihood) that :meth:`refit` refits without parsing anything again.
    """

    settings: FitSettings
    design: Design = field(repr=False)
    structures: tuple[CovarianceStructure, ...] = field(repr=False)
    phi: np.ndarray = field(repr=False)
    phi_cov: np.ndarray = field(repr=False)
    beta: np.ndarray = field(repr=False)
    beta_cov: np.ndarray = field(repr=False)
    jac_info: np.ndarray = field(repr=False)
    likelihood: MarginalLikelihood = field(repr=False, compare=False)
    loglik: float = 0.0
    converged: bool = True
    n_iter: int = 0
    optimizer: str = ""
    warnings: tuple[str, ...] = ()
    covariance_attempts: tuple[CovarianceAttempt, ...] = ()
    boundary: tuple[str, ...] = ()
    model: Model | None = field(default=None, repr=False, compare=False)  # the parsed model, to refit
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # see cached()

    def __post_init__(self):
        for name in ("phi", "phi_cov", "beta", "beta_cov", "jac_info"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    # -- sizes and fit statistics ------------------------------------------------------
    @property
    def method(self) -> str:
        return self.settings.method

    @property
    def n_obs(self) -> int:
        return self.design.n_obs

    @property
    def n_obs_dropped(self) -> int:
        return int(self.design.n_obs_dropped)

    @property
    def n_subjects(self) -> int:
        """Subjects analysed: those with at least one row used."""
        return self.design.n_subjects

    @property
    def n_subjects_read(self) -> int:
        """Subjects in the rows read, used or not: SAS's "Subjects" (Dimensions), which counts
        a subject whose every response is missing; the number BIC is based on."""
        read = self.design.n_subjects_read
        return self.n_subjects if read is None else int(read)

    @property
    def n_fixed(self) -> int:
        return int(self.beta.size)

    @property
    def n_covariance_parameters(self) -> int:
        return int(self.phi.size)

    @property
    def n_ic_parameters(self) -> int:
        """The parameters AIC, AICC and BIC count (:math:`d`).  SAS counts covariance
        parameters for REML, plus fixed effects for ML; held parameters (``fixed``, SAS
        HOLD=) and those estimated on the boundary (:attr:`boundary`) are constrained, not
        estimated, and not counted."""
        covariance = self.n_covariance_parameters - len(self.settings.fixed) - len(self.boundary)
        return covariance + (self.n_fixed if self.method == "ML" else 0)

    @property
    def aic(self) -> float:
        r""":math:`-2\ell + 2d`."""
        return -2 * self.loglik + 2 * self.n_ic_parameters

    @property
    def aicc(self) -> float:
        r""":math:`-2\ell + 2dn^*/(n^*-d-1)`, :math:`n^* = n - p` (REML) or :math:`n` (ML)."""
        d = self.n_ic_parameters
        n_star = self.n_obs - (self.n_fixed if self.method == "REML" else 0)
        return -2 * self.loglik + 2 * d * n_star / (n_star - d - 1) if n_star - d - 1 > 0 else np.nan

    @property
    def bic(self) -> float:
        r""":math:`-2\ell + d\log s`, :math:`s` = ``n_subjects_read``, the subjects in the rows
        read (SAS's "Subjects", which counts subjects without a usable row); for the linear
        model (no subject) :math:`s = n - p` (REML) or :math:`n` (ML), as SAS with one
        subject and no RANDOM statement."""
        s = self.n_subjects_read if not self.spec.linear else self.n_obs - (
            self.n_fixed if self.method == "REML" else 0)
        return -2 * self.loglik + self.n_ic_parameters * np.log(s)

    @property
    def null_model_test(self) -> NullModelTest | None:
        """SAS's null model likelihood ratio test (:class:`NullModelTest`); None for a model
        with a single covariance parameter (the linear model, ``vc``), which is its own null model.

        SAS counts only parameters not estimated on a boundary (:attr:`boundary`).
        """
        df = self.n_covariance_parameters - len(self.boundary) - 1
        if self.spec.linear or df < 1:
            return None
        d, reml = self.design, self.method == "REML"
        if self.spec.from_sums:
            null = independence_deviance_of_sums(d.statistics.cross, d.n_obs, d.statistics.log_weights, reml)
        else:
            null = independence_deviance(d.X, d.y, d.weights, reml)
        chisq = max(null + 2 * self.loglik, 0.0)  # 0 up to rounding when the model is the null model
        return NullModelTest(df, chisq, float(stats.chi2.sf(chisq, df)))

    # -- fixed effects ------------------------------------------------------------------
    @property
    def coef_names(self) -> list[str]:
        return list(self.design.encoding.columns)

    @property
    def coef(self) -> pd.Series:
        r"""Fixed-effect estimates :math:`\hat\beta` (aliased columns are left out; see ``aliased``)."""
        return pd.Series(self.beta.copy(), index=self.coef_names, name="estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        r""":math:`\mathrm{Cov}(\hat\beta)` as the fit's settings say, the one behind
        ``coef_table()``: the sandwich of ``fit(..., vcov=)``, Kenward-Roger's adjusted
        covariance with ``ddf="kenward-roger"`` (``-linear``), else the model-based
        :math:`(X^\top V^{-1}X)^{-1}` (see :attr:`vcov_model`)."""
        c = beta_covariance(self, *resolve(self))
        return pd.DataFrame(c.copy(), index=self.coef_names, columns=self.coef_names)

    @property
    def vcov_model(self) -> pd.DataFrame:
        r"""Model-based :math:`\mathrm{Cov}(\hat\beta) = (X^\top V^{-1}X)^{-1}`, whatever the settings."""
        return pd.DataFrame(self.beta_cov.copy(), index=self.coef_names, columns=self.coef_names)

    @property
    def aliased(self) -> tuple[str, ...]:
        """Design columns dropped as linear combinations of earlier columns."""
        return self.design.aliased

    @property
    def df_residual(self) -> int:
        r"""SAS DDFM=RESIDUAL: :math:`n - \mathrm{rank}(X)`."""
        return self.n_obs - self.n_fixed

    def coef_table(self, ddf: str | None = None, vcov: str | None = None,
                   alpha: float = 0.05) -> pd.DataFrame:
        """Fixed effects with ``estimate, se, df, t, p, lower, upper``.

        ``ddf``/``vcov`` default to the fit's (see :func:`trialmlm.fit`).
        """
        table = t_table(self, np.eye(self.n_fixed), *self._methods(ddf, vcov), alpha)
        table.index = pd.Index(self.coef_names, name="term")
        return table

    # -- inference (SAS LSMEANS / ESTIMATE / CONTRAST / type III) ------------------------
    def _methods(self, ddf, vcov) -> tuple[str, str]:
        """The ``(ddf, vcov)`` a call uses (:func:`trialmlm.inference.methods.resolve`)."""
        return resolve(self, ddf, vcov)

    def lsmeans(self, specs, by=None, ddf: str | None = None, vcov: str | None = None,
                weights: str = "equal", at: dict | None = None, slope: str | None = None,
                alpha: float = 0.05) -> pd.DataFrame:
        """LS means of ``specs`` (per ``by`` level): factor columns, ``estimate, se, df, lower, upper``.

        Equal weights over the other factors and covariates at their means (SAS LSMEANS,
        emmeans); ``weights="proportional"`` is SAS OM, ``"outer"`` and ``"cells"`` emmeans'
        (:data:`trialmlm.inference.grid.WEIGHTS`, docs/inference.md).  ``slope="TIME"`` gives the rate of
        change in that covariate instead of the mean.  Non-estimable rows are NaN.
        """
        return lsmeans_table(self, specs, by, *self._methods(ddf, vcov), weights, at, slope, alpha)

    def compare(self, spec: str, by=None, reference=None, ddf: str | None = None, vcov: str | None = None,
                slope: str | None = None, alpha: float = 0.05, adjust: str | None = None,
                weights: str = "equal", at: dict | None = None, pairwise: bool = False) -> pd.DataFrame:
        """Each level of ``spec`` minus ``reference`` (default: first level), per ``by`` level;
        with ``pairwise=True`` every pair instead: level i minus level j for i before j in the
        level order (emmeans ``pairs()``), without ``reference``.

        Columns: ``by`` factors, ``spec`` (the level, i for pairs), ``contrast`` ("i - j"),
        then ``estimate, se, df, t, p, lower, upper``.  ``adjust`` (within each ``by``
        level): None, "bonferroni", "holm", "dunnett" (with a reference) or "tukey" (pairs).
        """
        return compare_table(self, spec, by, reference, *self._methods(ddf, vcov), weights, at, slope,
                             alpha, adjust, pairwise)

    def contrast(self, L, ddf: str | None = None, vcov: str | None = None, joint: bool = False,
                 alpha: float = 0.05) -> pd.DataFrame:
        """t test of each row of ``L`` or, with ``joint=True``, one F test of all rows.

        ``L``: array (rows x coefficients), a dict ``{coef: weight}`` or a list of them, or a
        DataFrame whose columns are coefficient names.
        """
        rows, index = contrast_matrix(L, self.coef_names)
        ddf, vcov = self._methods(ddf, vcov)
        if joint:
            return pd.DataFrame([f_test(self, rows, ddf, vcov)], index=["joint"])
        table = t_table(self, rows, ddf, vcov, alpha)
        table.index = index
        return table

    def anova(self, ddf: str | None = None, vcov: str | None = None, type: int | str = 3) -> pd.DataFrame:
        r"""Tests of the model terms, one row per term: ``num_df, den_df, F, p, chisq, p_chisq``.

        ``type``: 3 (default), 2 or 1 as SAS PROC MIXED ``HTYPE=`` defines them, or
        ``"joint"`` for emmeans's ``joint_tests`` (:mod:`trialmlm.inference.anova`).

        ``chisq`` = ``num_df`` :math:`\times` ``F``, the Wald chi-square of SAS's MODEL /
        CHISQ ("Chi-Square"), and ``p_chisq`` its :math:`\chi^2_{num\_df}` p-value
        ("Pr > ChiSq"; the F test with infinite denominator df).
        """
        ddf, vcov = self._methods(ddf, vcov)
        rows = {term: f_test(self, L, ddf, vcov) for term, L in term_hypotheses(self, type).items()}
        table = pd.DataFrame.from_dict(rows, orient="index", columns=["num_df", "den_df", "F", "p"])
        table = table.rename_axis("term")
        table["chisq"] = table["num_df"] * table["F"]
        table["p_chisq"] = stats.chi2.sf(table["chisq"], table["num_df"])
        return table

    # -- quantities for inference, computed once on demand --------------------------------
    def cached(self, key, make):
        """``make()`` once per ``key``: the fit's one store of derived quantities (pattern
        blocks, BLUPs, sandwich and Kenward-Roger covariances).  A fit is immutable, so
        nothing goes stale; ``dataclasses.replace`` gives the new fit an empty store."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def pattern_blocks(self, order: int = 0):
        """Per-batch covariance blocks at the estimate (see :mod:`trialmlm.engine.likelihood`)."""
        return self.cached(("blocks", order), lambda: self.likelihood.pattern_blocks(self.phi, order))

    def kenward_roger_vcov(self, linear: bool = False) -> np.ndarray:
        r"""Kenward-Roger adjusted :math:`\mathrm{Cov}(\hat\beta)` (SAS DDFM=KR / KR(LINEAR))."""
        ddf = "kenward-roger-linear" if linear else "kenward-roger"
        return beta_covariance(self, *resolve(self, ddf, "model"))

    def empirical_vcov(self, kind: str = "empirical") -> np.ndarray:
        r"""Sandwich :math:`\mathrm{Cov}(\hat\beta)`: "empirical" (CR0), "-bias-reduced", "-jackknife"."""
        return beta_covariance(self, *resolve(self, "residual", kind))  # residual df go with every vcov

    # -- covariance ------------------------------------------------------------------
    @property
    def group_labels(self) -> list:
        return list(self.design.group_labels)

    def _group_index(self, group) -> int:
        labels = self.design.group_labels
        if group is None:
            if len(labels) == 1:
                return 0
            raise DataError(
                f"the fit has a separate covariance matrix per level of '{self.spec.group}'; "
                f"pass group= one of {', '.join(map(str, labels))}"
            )
        if group not in labels:
            raise DataError(f"group {group!r} is not a level of '{self.spec.group}' "
                            f"(levels: {', '.join(map(str, labels))})")
        return labels.index(group)

    def _phi_of(self, g: int) -> np.ndarray:
        """Group ``g``'s structure parameters (with random effects: G's, then its residual's)."""
        return self.phi[self.likelihood.parameters.at(g)]

    def covariance_matrix(self, group=None) -> pd.DataFrame:
        r"""Estimated :math:`\Sigma` over the visits (or observed coordinate points), weight 1.

        For random-effect models this is the residual matrix :math:`R` of the residual
        structure (see ``random_effects_covariance`` for :math:`G`).
        """
        s, phi = self._residual(self._group_index(group))
        if isinstance(s, Independent):
            also = " and random_effects_covariance" if self.spec.random_effects else ""
            raise DataError(f"the residuals are independent (R = sigma^2 I); see residual_variance{also}")
        if s.spatial:
            mat = s.matrix_at(phi, self.design.coordinates)
        else:
            mat = s.matrix(phi)
        labels = self.design.position_labels
        return pd.DataFrame(mat, index=pd.Index(labels, name=self._position_name),
                            columns=pd.Index(labels, name=self._position_name))

    def correlation_matrix(self, group=None) -> pd.DataFrame:
        r""":math:`D^{-1/2}\Sigma D^{-1/2}` of :meth:`covariance_matrix`."""
        cov = self.covariance_matrix(group)
        sd = np.sqrt(np.diag(cov.to_numpy()))
        return cov / np.outer(sd, sd)

    @property
    def _position_name(self) -> str:
        return ", ".join(self.spec.positions)

    @property
    def covariance_parameter_names(self) -> list[str]:
        """SAS names of the covariance parameters (see :func:`parameter_names`)."""
        return parameter_names(self.likelihood, self.design, self.spec)

    @property
    def covariance_parameters(self) -> pd.Series:
        """Covariance parameters in SAS's parameterisation and naming."""
        return pd.Series(self.phi.copy(), index=self.covariance_parameter_names, name="estimate")

    @property
    def covariance_parameters_vcov(self) -> pd.DataFrame:
        """Asymptotic covariance of the covariance parameters, :math:`2H^{-1}` (SAS ASYCOV); with
        held parameters (``fixed``) :math:`2H_{ff}^{-1}` over the free ones, zero rows and
        columns for the held ones."""
        names = self.covariance_parameter_names
        return pd.DataFrame(self.phi_cov.copy(), index=names, columns=names)

    def covariance_parameters_table(self) -> pd.DataFrame:
        """``estimate, se, z, p`` as SAS COVTEST: one-sided p for variances, two-sided otherwise;
        ``se, z, p`` missing for held parameters (``fixed``)."""
        held = np.isin(self.covariance_parameter_names,
                       [name for name, _ in self.settings.fixed] + list(self.boundary))
        se = np.where(held, np.nan, np.sqrt(np.clip(np.diag(self.phi_cov), 0, None)))
        z = self.phi / se
        variance = self.likelihood.parameters.variance_mask()
        p = np.where(variance, stats.norm.sf(z), 2 * stats.norm.sf(np.abs(z)))
        return pd.DataFrame({"estimate": self.phi.copy(), "se": se, "z": z, "p": p},
                            index=pd.Index(self.covariance_parameter_names, name="parameter"))

    def covariance_attempts_table(self) -> pd.DataFrame:
        """``structure, converged, positive_definite, reason, used``: one row per structure tried;
        after a selection by an information criterion also ``criterion, value, minus2_loglik,
        n_parameters`` (missing for a candidate that is not usable)."""
        columns = [f.name for f in fields(CovarianceAttempt)]
        if not any(a.criterion for a in self.covariance_attempts):
            columns = columns[:columns.index("criterion")]
        return pd.DataFrame([asdict(a) for a in self.covariance_attempts], columns=columns)

    # -- refitting ---------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        """What kind of model this is (:class:`~trialmlm.engine.specification.ModelSpec`): ask it
        instead of probing ``settings`` or ``design``."""
        return self.model.spec

    def refit(self, data=None, response=None, weights: str | None = None, start=None, fixed=None, *,
              warn: bool = True) -> MMRMResults:
        """The same model (formula, covariance structure, method, ddf, vcov) fitted again.

        Nothing is parsed again: the fit's :attr:`model` is re-used, re-encoded only when the
        data change (:func:`trialmlm.engine.refit.refit_model`, ``docs/mmrm.md``).  ``data``: new
        data (a DataFrame; partitioned data for a fit from partitions) or a
        :class:`~trialmlm.engine.design.Design` resampled from this fit's; ``response``: new values
        of the response column, in the order of the data's rows or as a Series by their
        index; ``weights``: another weight column (None keeps the fit's); ``start`` and
        ``fixed`` as in :func:`trialmlm.fit` (None keeps the fit's), or ``start`` an array
        of every parameter (e.g. ``fit.phi``), a warm start not recorded in the settings.
        ``refit()`` equals the fit; ``refit(response=y)`` a fresh :func:`trialmlm.fit` of
        the data with ``y``.  ``warn=False`` only records convergence problems.
        """
        from .refit import refit  # refit builds fits (estimate imports this module)

        out = refit(self, data=data, response=response, weights=weights, start=start, fixed=fixed)
        if warn:
            out.warn_problems(stacklevel=2)
        return out

    def warn_problems(self, stacklevel: int = 2) -> None:
        """Issue this fit's boundary note (:class:`BoundaryWarning`) and convergence problems
        (:class:`ConvergenceWarning`) as warnings; ``stacklevel`` as for :func:`warnings.warn`,
        counted from the caller of this method."""
        if self.boundary:
            warnings.warn(boundary_note(self.boundary), BoundaryWarning, stacklevel=stacklevel + 1)
        for problem in self.warnings:
            if not problem.startswith(ALIASED):
                warnings.warn(problem, ConvergenceWarning, stacklevel=stacklevel + 1)

    # -- predictions -------------------------------------------------------------------
    def _in_caller_order(self, values: np.ndarray, name: str) -> pd.Series:
        order = np.argsort(self.design.row_position)
        return pd.Series(values[order], index=self.design.row_index[order], name=name)

    def fitted(self) -> pd.Series:
        r"""Population-mean fitted values :math:`X\hat\beta` for the rows used, in data order."""
        return self._in_caller_order(self.design.X @ self.beta, "fitted")

    def residuals(self) -> pd.Series:
        r"""Raw marginal residuals :math:`y - X\hat\beta` for the rows used, in data order."""
        return self._in_caller_order(self.design.y - self.design.X @ self.beta, "residual")

    def predict(self, newdata: pd.DataFrame | None = None, conditional: bool = False,
                se: bool = False, interval: str | None = None, level: float = 0.95
                ) -> pd.Series | pd.DataFrame:
        r"""Predicted means for the rows of ``newdata`` (default: the rows used).

        ``conditional=False``: population mean :math:`x^\top\hat\beta`.
        ``conditional=True``: with random effects, the subject's trajectory
        :math:`x^\top\hat\beta + z^\top\hat b_i` from its BLUPs (subjects not in the fit get
        :math:`b = 0`, with a DataWarning; SAS OUTP=); without random effects, the mean of
        each row given the same subject's observed responses in ``newdata``
        (:mod:`trialmlm.inference.conditional`; SAS OUTP= under REPEATED, mmrm
        ``predict(conditional = TRUE)``): rows with a response are their own value.

        ``se=True`` returns a DataFrame ``estimate, se`` with the confidence SE
        (:math:`x^\top Cx`; with BLUPs :math:`x^\top Cx + 2x^\top C_{12}z +
        z^\top\mathrm{PEV}_iz`).  ``interval="confidence"`` or ``"prediction"`` adds
        ``lower, upper`` (normal quantile, as mmrm) and makes ``se`` that interval's: the
        prediction SE adds the residual variance of the row (conditional on the observed
        responses for a marginal model).  Rows with missing covariates are NaN.
        """
        if interval not in (None, "confidence", "prediction"):
            raise DataError(f"interval must be None, 'confidence' or 'prediction', got {interval!r}")
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise DataError(f"level must be a number between 0 and 1, got {level!r}")
        d = self.design
        if newdata is None:  # the rows used, in data order: the design already holds them
            order = np.argsort(d.row_position)
            index, x = d.row_index[order], d.X[order]
        else:
            index, x = newdata.index, d.encoding.matrix(newdata)
        est = x @ self.beta
        c = self.vcov.to_numpy()  # the fit's: KR-adjusted under Kenward-Roger, as SAS
        var = np.einsum("np,pq,nq->n", x, c, x)
        pred = None
        if self.spec.random_effects:
            if conditional:
                est, var = self._blup_prediction(newdata, x, order if newdata is None else None)
            if interval == "prediction":
                data = newdata if newdata is not None else d.source.iloc[d.row_position[order]]
                pred = var + residual_variances(self, data)
        elif conditional or interval == "prediction":
            if self.spec.linear:
                if conditional:
                    raise DataError("conditional predictions need a subject: the linear model has none")
                pred = var + self.phi[0]
            else:
                data = newdata if newdata is not None else d.source.iloc[d.row_position[order]]
                response = self.settings.response
                observed = data[response] if conditional and response in data.columns else None
                est, var, pred = conditional_moments(self, data, x, observed, c)
        if not se and interval is None:
            return pd.Series(est, index=index, name="predicted")
        out = pd.DataFrame({"estimate": est, "se": np.sqrt(pred if interval == "prediction" else var)},
                           index=index)
        if interval is not None:
            half = stats.norm.ppf(0.5 + level / 2) * out["se"]
            out["lower"], out["upper"] = out["estimate"] - half, out["estimate"] + half
        return out

    def _blup_prediction(self, newdata, x, order) -> tuple[np.ndarray, np.ndarray]:
        """Estimate and variance of :math:`x^\top\\hat\beta + z^\top\\hat b_i` (random effects)."""
        d, pred = self.design, self._random_predictions
        if newdata is None:
            z, idx = (d.Z[order] if d.Z is not None else np.zeros((order.size, 0))), d.subject[order]
        else:
            z, idx = self._random_design(newdata)
        w = np.hstack([x, self._outer_design(newdata, order)])  # (x, z_o): theta's design
        known = idx >= 0
        est = w[:, x.shape[1]:] @ pred.outer + x @ self.beta
        est = est + np.where(known, np.einsum("nr,nr->n", z, pred.blup[np.maximum(idx, 0)]), 0.0)
        var = np.einsum("np,pq,nq->n", w, pred.joint, w)
        cross = np.einsum("np,npr,nr->n", w, pred.cross[np.maximum(idx, 0)], z)
        pev = np.einsum("nr,nrs,ns->n", z, pred.pev[np.maximum(idx, 0)], z)
        return est, var + np.where(known, 2 * cross + pev, 0.0)

    def _random_design(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Z rows and subject indices (-1 for subjects not in the fit) of ``data``."""
        z, idx = _level_rows(data, self.settings.subject, self.design.subject_labels, self.design.random_spec)
        return (z if z is not None else np.zeros((len(data), 0))), idx

    def _outer_design(self, data: pd.DataFrame | None, rows: np.ndarray | None) -> np.ndarray:
        """Dense design (n, Q) of the outer factors' effects u for ``data`` (or the rows used,
        in the order ``rows``); unknown levels get 0."""
        loc = self.likelihood.outer
        out = [np.zeros((len(data) if data is not None else rows.size, 0))]
        for f, level in enumerate(self.design.outer):
            if data is None:
                z, codes = level.Z[rows], level.codes[rows]
            else:
                z, codes = _level_rows(data, level.factor, level.labels, level.spec)
            q = z.shape[1]
            block = np.zeros((z.shape[0], loc.sizes[f] * q))
            known = np.flatnonzero(codes >= 0)
            block[known[:, None], codes[known][:, None] * q + np.arange(q)] = z[known]
            out.append(block)
        return np.hstack(out)

    def summary(self) -> str:
        """SAS-style text: Model Information, Dimensions, Fit Statistics, Null Model Likelihood
        Ratio Test, Covariance Parameter Estimates, Solution for Fixed Effects."""
        from .summary import format_summary

        return format_summary(self)

    def __str__(self) -> str:
        return self.summary()



def _level_rows(data: pd.DataFrame, factor: str, labels, spec) -> tuple[np.ndarray | None, np.ndarray]:
    """Values of a random-effect term (None without ``spec``) and level indices (-1 for
    levels not in the fit, with a DataWarning) of ``data``'s rows."""
    from formulaic import model_matrix

    if factor not in data:
        raise DataError(f"conditional predictions need the column '{factor}' in newdata")
    z = None if spec is None else np.asarray(model_matrix(spec, data, na_action="ignore"), dtype=float)
    lookup = {s: i for i, s in enumerate(labels)}
    idx = np.array([lookup.get(s, -1) for s in data[factor]])
    if (idx < 0).any() and spec is not None:
        new = data[factor][idx < 0].iloc[0]
        warnings.warn(f"{factor} {new!r} (and {int((idx < 0).sum()) - 1} more rows) is not in the fit; "
                      "its random effects are predicted as 0", DataWarning, stacklevel=4)
    return z, idx


def parameter_names(likelihood: MarginalLikelihood, design: Design, spec: ModelSpec) -> list[str]:
    r"""SAS names; with outer grouping factors, G parameters carry their factor as SAS's
    Subject column does (``UN(1,1) USUBJID``, ``UN(1,1) SITE``), in :math:`\phi` order:
    the subject's G, the residual parameters, then each outer factor's G.  Per-group
    parameters (SAS GROUP=) carry their group (``AR(1) TRT=ACT``); with random effects
    and a per-group residual structure the one G is named after the subject
    (``UN(1,1) USUBJID``), then come each group's residual parameters."""
    names, subject, group = [], spec.subject, spec.group
    for b in likelihood.subject_level.parameters.blocks:
        if b.group is None:  # G, shared by the groups
            suffix = f" {subject}" if group or spec.nested else ""
        else:
            suffix = f" {group}={design.group_labels[b.group]}" if group else ""
        names += [n + suffix for n in b.transform.param_names()]
    for level, cov in zip(design.outer, likelihood.covariances):
        names += [f"{n} {level.factor}" for n in cov.param_names()]
    return names
