r"""Covariate-adjusted marginal treatment effects of a GEE or GLM by g-computation.

``marginal_effects(fit, "TRT01P")`` standardises the fitted model over the trial's own
covariate distribution: for each arm :math:`a` (and visit :math:`v` with ``by=``), every
analysed subject's treatment is set to :math:`a` and the predictions are averaged,

.. math:: \hat\theta_{va} = n_v^{-1}\sum_{i\in S_v} g^{-1}(x_{iv}(a)^\top\hat\beta + o_{iv}),

:math:`S_v` the subjects with a response at visit :math:`v` (all subjects of a
single-visit model).  Contrasts of arm :math:`a` with the reference :math:`r` (beeca's
names), with their gradients for the delta method,

=========  =======================================  =========================================
contrast   estimate                                 null value
=========  =======================================  =========================================
diff       :math:`\theta_a - \theta_r`              0
rr         :math:`\theta_a/\theta_r` (risk ratio;   1
           ratio of means for counts)
or         :math:`\frac{\theta_a/(1-\theta_a)}      1
           {\theta_r/(1-\theta_r)}`
logrr      :math:`\log(\theta_a/\theta_r)`          0
logor      :math:`\log` of the odds ratio           0
=========  =======================================  =========================================

standard error :math:`\sqrt{g^\top V g}`, :math:`V` the covariance of the means
(:mod:`.margin_variance`: ``Ge``, ``Ye`` or ``influence``), Wald limits estimate
:math:`\mp z_{1-\alpha/2}\,\mathrm{se}` on the scale of the contrast, :math:`t = `
(estimate - null)/se with the normal reference (``df`` infinite).  The stacked means of
all visits have one covariance (:attr:`MarginalEffects.cov`), so contrasts of visits and
joint tests across visits are available (:meth:`MarginalEffects.contrast`,
:meth:`MarginalEffects.joint_test`).  See ``docs/marginal_effects.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..checks import check_alpha
from ..errors import DataError
from .margin_variance import Counterfactuals, get_method
from .results import GEEResults
from .ztests import t_table, wald_test


@dataclass(frozen=True)
class Contrast:
    """A contrast of arm means: ``value(a, r)``, ``gradient(a, r)`` -> (d/d theta_a,
    d/d theta_r), the ``null`` value, ``label`` template, whether it needs proportions."""

    name: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    gradient: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    null: float
    label: str
    proportions: bool


def _odds(p):
    return p / (1.0 - p)


def _dlogodds(p):
    return 1.0 / (p * (1.0 - p))


CONTRASTS: dict[str, Contrast] = {c.name: c for c in (
    Contrast("diff", lambda a, r: a - r, lambda a, r: (np.ones_like(a), -np.ones_like(r)), 0.0,
             "diff: {a}-{r}", False),
    Contrast("rr", lambda a, r: a / r, lambda a, r: (1.0 / r, -a / r ** 2), 1.0, "rr: {a}/{r}", False),
    Contrast("or", lambda a, r: _odds(a) / _odds(r),
             lambda a, r: (_odds(a) / _odds(r) * _dlogodds(a), -_odds(a) / _odds(r) * _dlogodds(r)), 1.0,
             "or: odds({a}) / odds({r})", True),
    Contrast("logrr", lambda a, r: np.log(a / r), lambda a, r: (1.0 / a, -1.0 / r), 0.0,
             "logrr: log({a}/{r})", False),
    Contrast("logor", lambda a, r: np.log(_odds(a) / _odds(r)), lambda a, r: (_dlogodds(a), -_dlogodds(r)),
             0.0, "logor: log(odds({a}) / odds({r}))", True),
)}

ALL_CONTRASTS = tuple(CONTRASTS)


def contrast_names(contrast: str | Sequence[str], family: str) -> list[str]:
    """``contrast`` (one name or several) as a list of registry names, each checked by
    :func:`get_contrast`; DataError for none."""
    names = [contrast] if isinstance(contrast, str) else list(contrast)
    if not names:
        raise DataError("contrast must name at least one of " + ", ".join(map(repr, CONTRASTS)))
    for name in names:
        get_contrast(name, family)
    return names


def get_contrast(name: str, family: str) -> Contrast:
    """The registry entry of ``name``; DataError for an unknown name or an odds ratio of counts."""
    if name not in CONTRASTS:
        raise DataError(f"contrast must be among {', '.join(map(repr, CONTRASTS))}; got {name!r}")
    c = CONTRASTS[name]
    if c.proportions and family != "binomial":
        raise DataError(f"contrast {name!r} compares odds, which need proportions; a {family} model's means "
                        "are compared by 'diff', 'rr' (ratio of means) or 'logrr'")
    return c


@dataclass(frozen=True)
class MarginalEffects:
    """Standardised arm means and their contrasts (module docstring).

    ``means``: ``visit, arm, n, estimate, se, lower, upper``; :attr:`table`: the
    ``contrasts``; ``cov``: the covariance of the stacked means (rows ``(visit, arm)``,
    visit-major; visit None for a single-visit model); ``method``, ``vcov``,
    ``reference``, ``alpha``; ``family`` of the fit.
    """

    means: pd.DataFrame
    contrasts: tuple[str, ...]
    cov: pd.DataFrame
    arms: tuple
    visits: tuple
    method: str
    vcov: str | None
    reference: object
    by: str | None
    family: str
    alpha: float

    def _gradient(self, name: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """``(info, values, G)`` of contrast ``name`` vs the reference at every visit:
        rows ``G`` of :math:`\\partial c/\\partial\\theta^\\top`."""
        c = get_contrast(name, self.family)
        arms, visits = self.arms, self.visits
        K = len(arms)
        theta = self.means["estimate"].to_numpy()
        r = list(arms).index(self.reference)
        rows, values, grads = [], [], []
        for v, visit in enumerate(visits):
            for k, arm in enumerate(arms):
                if k == r:
                    continue
                ta, tr = theta[v * K + k], theta[v * K + r]
                da, dr = c.gradient(ta, tr)
                g = np.zeros(theta.size)
                g[v * K + k], g[v * K + r] = da, dr
                rows.append({"visit": visit, "contrast": name, "arm": arm, "reference": self.reference,
                             "label": c.label.format(a=arm, r=self.reference)})
                values.append(c.value(ta, tr))
                grads.append(g)
        return pd.DataFrame(rows), np.array(values, dtype=float), np.array(grads)

    @cached_property
    def table(self) -> pd.DataFrame:
        """``[by,] contrast, label, arm, reference, estimate, se, df, t, p, lower, upper``
        of every contrast in ``contrasts`` (``t`` = (estimate - null)/se, normal reference)."""
        parts = []
        for name in self.contrasts:
            info, values, G = self._gradient(name)
            null = CONTRASTS[name].null
            table = t_table(values - null, G @ self.cov.to_numpy() @ G.T, np.eye(values.size), self.alpha)
            for col in ("estimate", "lower", "upper"):
                table[col] += null
            parts.append(pd.concat([info, table], axis=1))
        out = pd.concat(parts, ignore_index=True)
        return out.drop(columns="visit") if self.by is None else out.rename(columns={"visit": self.by})

    def covariance(self, contrast: str | None = None) -> pd.DataFrame:
        """The covariance of the stacked means (None) or of the estimates of ``contrast``
        at every visit, :math:`GVG^\\top` (delta method)."""
        if contrast is None:
            return self.cov
        info, _, G = self._gradient(contrast)
        index = pd.MultiIndex.from_frame(info[["visit", "arm"]])
        return pd.DataFrame(G @ self.cov.to_numpy() @ G.T, index=index, columns=index)

    def contrast(self, L, labels: Sequence[str] | None = None) -> pd.DataFrame:
        """Linear functions :math:`L\\hat\\theta` of the stacked means (columns of ``L`` in
        the order of :attr:`cov`), e.g. a difference of risk differences between visits:
        ``label, estimate, se, df, t, p, lower, upper``."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        if L.shape[1] != len(self.cov):
            raise DataError(f"L must have {len(self.cov)} columns (the stacked means "
                            f"{list(self.cov.index)}); got {L.shape[1]}")
        labels = list(labels) if labels is not None else [f"L{i + 1}" for i in range(L.shape[0])]
        table = t_table(self.means["estimate"].to_numpy(), self.cov.to_numpy(), L, self.alpha)
        return pd.concat([pd.DataFrame({"label": labels}), table], axis=1)

    def joint_test(self, contrast: str = "diff", L=None) -> pd.Series:
        """Wald chi-square test that ``L`` times the vector of ``contrast`` estimates (every
        visit and arm, rows of :meth:`covariance`) equals ``L`` times its null value
        (``L`` None: all of them are null): ``df, chi_square, p``."""
        _, values, G = self._gradient(contrast)
        null = get_contrast(contrast, self.family).null
        L = np.eye(values.size) if L is None else np.atleast_2d(np.asarray(L, dtype=float))
        if L.shape[1] != values.size:
            raise DataError(f"L must have {values.size} columns (the {contrast!r} estimates); "
                            f"got {L.shape[1]}")
        test = wald_test(values - null, G @ self.cov.to_numpy() @ G.T, L)
        return pd.Series({key: test[key] for key in ("df", "chi_square", "p")})


def marginal_effects(fit: GEEResults, treatment: str, contrast: str | Sequence[str] = ALL_CONTRASTS,
                     method: str = "Ye", vcov: str | None = None, reference=None, strata=None,
                     by: str | None = None, alpha: float = 0.05) -> MarginalEffects:
    """Covariate-adjusted (standardised, g-computation) marginal treatment effects.

    Parameters
    ----------
    fit : a :func:`trialmlm.gee` fit (binomial or Poisson); a single-visit analysis is a
        GEE of one row per subject with the independence working correlation (a GLM).
    treatment : the randomised treatment, a factor of the mean model, constant within subject.
    contrast : one or more of "diff", "rr", "or", "logrr", "logor" (module docstring;
        the odds ratios only for the binomial family).
    method : "Ye" (default; robust to a misspecified working model, beeca / RobinCar2),
        "Ge" (delta method, SAS %Margins) or "influence" (:mod:`.margin_variance`).
    vcov : for "Ge" only: "model" (default; scale 1, = SAS %Margins and beeca
        ``type = "model-based"``) or "robust" (the sandwich, = beeca's default HC0).
    reference : the reference arm (default: the first level of ``treatment``).
    strata : for "Ye": the stratification factor(s) of a stratified (permuted-block)
        randomisation, as column name(s) of the model or a Series / DataFrame indexed like
        the fitted data (e.g. ``data["REGION"]``); constant within subject.
    by : the visit column of a GEE over visits (its ``visit=`` or a factor of the model):
        the means and effects at each visit, with one joint covariance.
    alpha : 1 - the confidence level of the Wald limits.

    Returns
    -------
    MarginalEffects
    """
    alpha = check_alpha(alpha)
    names = contrast_names(contrast, fit.settings.family)
    var = get_method(method)
    if vcov is not None and var.name != "Ge":
        raise DataError(f"vcov= chooses the covariance of beta for method='Ge'; method={method!r} "
                        "does not use it")
    if strata is not None and var.name != "Ye":
        raise DataError(f"strata= adjusts method='Ye' for stratified randomisation; method={method!r} "
                        "does not take it")
    cf, subject_rows = _counterfactuals(fit, treatment, by)
    reference = cf.arms[0] if reference is None else level_of(reference, cf.arms, treatment)
    beta_cov = _beta_cov(fit, vcov) if var.name == "Ge" else None
    strata_codes = None if strata is None else _strata(fit, strata, subject_rows)
    cov = var.compute(cf, beta_cov, strata_codes)
    index = pd.MultiIndex.from_product([list(cf.visits), list(cf.arms)], names=["visit", "arm"])
    counts = np.array([[np.sum(cf.observed[:, v] & (cf.arm == k)) for k in range(len(cf.arms))]
                       for v in range(len(cf.visits))]).ravel()
    means = t_table(cf.means, cov, np.eye(cf.means.size), alpha).drop(columns=["df", "t", "p"])
    means = pd.concat([index.to_frame(index=False), pd.DataFrame({"n": counts}), means], axis=1)
    return MarginalEffects(means, tuple(names), pd.DataFrame(cov, index=index, columns=index), cf.arms,
                           cf.visits, var.name, (vcov or "model") if var.name == "Ge" else None, reference,
                           by, fit.settings.family, alpha)


def level_of(value, levels: tuple, column: str):
    """``value`` as one of ``levels`` (compared as text too: ``reference=1`` for level '1')."""
    for level in levels:
        if value == level or str(value) == str(level):
            return level
    raise DataError(f"reference {value!r} is not a level of '{column}' "
                    f"(levels: {', '.join(map(str, levels))})")


def _beta_cov(fit: GEEResults, vcov: str | None) -> np.ndarray:
    """:math:`H^{-1}` (``model``: scale 1, the ML covariance of a binomial / Poisson GLM) or
    the fit's robust sandwich."""
    vcov = vcov or "model"
    if vcov == "model":
        return np.linalg.inv(fit.estimate.H)
    if vcov == "robust":
        return fit.cov("robust")
    raise DataError(f"vcov must be 'model' or 'robust'; got {vcov!r}")


def _visits(fit: GEEResults, by: str | None) -> tuple[np.ndarray, tuple]:
    """Per row of the design, the code of its ``by`` level, and the levels."""
    design = fit.design
    if by is None:
        return np.zeros(design.n_obs, dtype=np.int64), (None,)
    if by == fit.settings.visit:
        return np.asarray(design.position), tuple(design.position_labels)
    if by in design.encoding.levels:
        levels = tuple(design.encoding.levels[by])
        return np.asarray(pd.Categorical(design.fixed_frame[by], categories=levels).codes), levels
    raise DataError(f"by={by!r} must be the fit's visit column ({fit.settings.visit!r}) or a factor of "
                    f"its mean model ({', '.join(design.encoding.levels) or 'none'})")


def _counterfactuals(fit: GEEResults, treatment: str, by: str | None) -> tuple[Counterfactuals, np.ndarray]:
    """The :class:`Counterfactuals` of ``fit`` and, per subject, one of its rows in the design."""
    design, problem = fit.design, fit.problem
    levels = design.encoding.levels
    if treatment not in levels:
        kind = "a covariate" if treatment in design.encoding.variables else "not in the model"
        raise DataError(f"treatment '{treatment}' must be a factor of the mean model; it is {kind} "
                        f"(factors: {', '.join(levels) or 'none'}; give a numeric arm code as text)")
    arms = tuple(levels[treatment])
    if len(arms) < 2:
        raise DataError(f"treatment '{treatment}' has one level ({arms[0]!r}) in the analysed rows: "
                        "there is no treatment effect to estimate")
    if by == treatment:
        raise DataError(f"by={by!r} is the treatment; give the visit column")
    frame = design.fixed_frame
    subject = np.asarray(design.subject)
    n, K = design.n_subjects, len(arms)
    arm_row = np.asarray(pd.Categorical(frame[treatment], categories=arms).codes)
    arm = np.full(n, -1)
    arm[subject] = arm_row
    moved = arm[subject] != arm_row
    if moved.any():
        raise DataError(f"treatment '{treatment}' changes within subject "
                        f"{design.subject_labels[subject[moved][0]]!r}: give the randomised arm")
    visit, visits = _visits(fit, by)
    V = len(visits)
    observed = np.zeros((n, V), dtype=bool)
    observed[subject, visit] = True
    if observed.sum() != subject.size:
        cell = np.bincount(subject * V + visit, minlength=n * V)
        s = int(np.argmax(cell)) // V
        raise DataError(f"subject {design.subject_labels[s]!r} has several rows"
                        + (" per level of '" + by + "'" if by else "") + ": give by= the visit column "
                        "(the marginal effects at each visit)")
    mu_rows = problem.means(fit.beta)[0]
    predicted = np.zeros((n, V, K))
    J = np.zeros((V, K, fit.beta.size))
    for k, level in enumerate(arms):
        X = design.encoding.matrix(frame.assign(**{treatment: pd.Categorical([level] * len(frame),
                                                                              categories=arms)}))
        eta = X @ fit.beta + problem.offset
        predicted[subject, visit, k] = problem.link.inverse(eta)
        np.add.at(J[:, k, :], visit, problem.link.mu_eta(eta)[:, None] * X)
    J /= observed.sum(axis=0)[:, None, None]

    def wide(values):
        out = np.zeros((n, V))
        out[subject, visit] = values
        return out

    first = np.zeros(n, dtype=np.int64)
    first[subject[::-1]] = np.arange(subject.size)[::-1]
    cf = Counterfactuals(arms, visits, observed, wide(problem.y), wide(mu_rows), predicted, arm,
                         J.reshape(V * K, -1), fit.estimate.U, fit.estimate.H)
    return cf, first


def _strata(fit: GEEResults, strata, subject_rows: np.ndarray) -> tuple[np.ndarray, list]:
    """Per subject, the code of its stratum (the combination of the strata's levels), and
    the stratum labels; DataError for a stratum that changes within subject."""
    design = fit.design
    if isinstance(strata, (pd.Series, pd.DataFrame)):
        frame = strata.to_frame() if isinstance(strata, pd.Series) else strata
        missing = design.row_index.difference(frame.index)
        if len(missing):
            raise DataError(f"strata are not given for the fitted rows {list(missing[:5])}: "
                            "index them like the data")
        frame = frame.loc[design.row_index]
    else:
        names = [strata] if isinstance(strata, str) else list(strata)
        absent = [c for c in names if c not in design.fixed_frame.columns]
        if absent:
            raise DataError(f"strata {', '.join(map(repr, absent))} are not columns of the model; "
                            "pass them as data[[...]] (a DataFrame indexed like the fitted data)")
        frame = design.fixed_frame[names]
    if frame.isna().any().any():
        raise DataError(f"strata {list(frame.columns)} are missing for some fitted rows")
    key = frame.astype(str).agg("-".join, axis=1).to_numpy()
    codes_row, labels = pd.factorize(key, sort=True)
    codes = codes_row[subject_rows]
    moved = codes[np.asarray(design.subject)] != codes_row
    if moved.any():
        raise DataError(f"stratum {list(frame.columns)} changes within subject "
                        f"{design.subject_labels[np.asarray(design.subject)[moved][0]]!r}")
    return codes, list(labels)
