r"""Marginal (population-averaged) means and treatment effects of a fitted GLMM.

A GLMM's :math:`\beta` is subject-specific: :math:`g^{-1}(x^\top\beta)` is the mean of a
"typical" subject, :math:`b = 0`.  The population-averaged mean of a covariate row
:math:`(x, z)` averages over the random effects :math:`b \sim N(0, G)`:

.. math::  \bar\mu(x, z) = E_b\,g^{-1}(x^\top\beta + z^\top b)
           = \int \phi(e)\,g^{-1}(x^\top\beta + s\,e)\,de, \qquad s^2 = z^\top G z,

exactly one-dimensional for any number :math:`q` of random effects, because
:math:`z^\top b \sim N(0, z^\top Gz)`.  The integral (no closed form under the logit) is
the trapezoidal rule on the nodes :math:`e_j = jh`, :math:`|e_j| \le 9 + s`, with weights
:math:`h\phi(e_j)` and step :math:`h = \min(0.25, 0.5/s)` (:func:`normal_average`).  For an
integrand analytic in the strip :math:`|\mathrm{Im}\,e| < d` its error is of order
:math:`e^{-2\pi d/h}` (Trefethen & Weideman 2014, SIAM Review 56:385); the logistic
function's poles lie at :math:`d = \pi/s`, so the error is below :math:`e^{-2\pi^2/0.5}
\approx 10^{-17}` whatever :math:`s` (a Gauss-Hermite rule would need thousands of points
for the toenail trial's :math:`s \approx 4.6` to 28).

**Standard errors** (delta method): :math:`\mathrm{Var}\,\bar\mu \approx J V J^\top` with
:math:`V` the fit's ``parameter_vcov`` (inverse observed information of
:math:`(\beta, \theta)`, :math:`\theta` the log-Cholesky factor of :math:`G`,
:mod:`.problem`) and the analytic derivatives, again by the same rule,

.. math::  \frac{\partial\bar\mu}{\partial\beta} = x\,E\,\mu'(\eta + se), \qquad
           \frac{\partial\bar\mu}{\partial\theta_k} = E\,[e\,\mu'(\eta + se)]\,
           \frac{(L^\top z)_c\,z_r\,a_k}{s},

with :math:`\mu' = d\mu/d\eta`, :math:`\theta_k` the element :math:`(r, c)` of :math:`L`
and :math:`a_k = L_{rr}` on the diagonal (log scale), 1 below it.

**Which rows are averaged** (``average=``): ``"grid"`` (default) the LS-means reference
grid of the mean model (:class:`trialmlm.inference.grid.ReferenceGrid`; covariates at
their mean or at ``at=``; other factors averaged on the link scale, as SAS ``LSMEANS /
ILINK``), then :math:`\bar\mu` of that row: the population-averaged mean of a patient with
the grid's covariates, the same reference grid as the fit's LS means.  ``"rows"``: the
predictive margin (SAS GLIMMIX's ``%Margins`` / Stata ``margins``): every row used in the
fit, with the ``specs`` factors set to each level and the ``at=`` covariates set, is
averaged over :math:`b` and the results over the rows (within each ``by`` level), so the
mean is over the trial's own covariate distribution.  Both give the same value when the
model has no covariates beyond the factors and ``at=`` ones.  Grid is the default because
it needs no assumption about who the patients are and it is the population of the fit's
other LS means.

``marginal_effects`` compares the arms at each level of ``by`` (a factor) or each value of
one ``at=`` covariate (a visit time) with the contrast registry of the GEE's marginal
effects (:data:`trialmlm.genmod.margins.CONTRASTS`: risk difference ``diff``, log odds ratio
``logor``, log risk ratio ``logrr``, ...; Wald limits on that scale, so ratios' limits are
:math:`\exp` of the log-scale ones).  ``conditional_vs_marginal`` lays the GLMM's
conditional odds ratio, its marginal odds ratio and a GEE's odds ratio side by side.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..checks import check_alpha
from ..errors import DataError
from ..genmod.links import Link, get_link
from ..genmod.margins import MarginalEffects, contrast_names, level_of
from ..genmod.results import GEEResults
from ..genmod.ztests import COLUMNS, t_table
from ..inference.grid import ReferenceGrid
from .problem import cholesky_factor
from .results import GLMMResults

STEP = 0.25  # largest step h of the trapezoidal rule
SCALED_STEP = 0.5  # h * s for large s: the logistic poles at distance pi / s stay 2 pi^2 / 0.5 steps away
RANGE = 9.0  # nodes cover |e| <= RANGE + s (the normal mass beyond 9 is 2e-19)
CHUNK = 2 ** 21  # rows x nodes evaluated at once
AVERAGES = ("grid", "rows")
EFFECT_CONTRASTS = ("diff", "logor", "logrr")


def normal_average(link: Link, eta: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":math:`E\,g^{-1}(\eta + se)`, :math:`E\,\mu'(\eta + se)` and :math:`E\,[e\,\mu'(\eta +
    se)]` for :math:`e \sim N(0, 1)`, elementwise, by the trapezoidal rule of the module
    docstring (one step for all elements, from the largest ``s``)."""
    eta, s = np.asarray(eta, dtype=float), np.asarray(s, dtype=float)
    if eta.size == 0:
        return eta.copy(), eta.copy(), eta.copy()
    top = float(np.max(s))
    h = STEP if top * STEP <= SCALED_STEP else SCALED_STEP / top
    J = int(np.ceil((RANGE + top) / h))
    e = h * np.arange(-J, J + 1)
    w = h * stats.norm.pdf(e)
    out = np.empty((3, eta.size))
    size = max(1, CHUNK // e.size)
    for lo in range(0, eta.size, size):
        arg = eta[lo:lo + size, None] + s[lo:lo + size, None] * e
        slope = link.mu_eta(arg)
        out[0, lo:lo + size] = link.inverse(arg) @ w
        out[1, lo:lo + size] = slope @ w
        out[2, lo:lo + size] = slope @ (w * e)
    return out[0], out[1], out[2]


def averaged_means(link: Link, X: np.ndarray, Z: np.ndarray, W: np.ndarray, beta: np.ndarray,
                   theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(mean, J)``: :math:`\sum_r W_{kr}\bar\mu(x_r, z_r)` per row :math:`k` of ``W`` and its
    Jacobian (k, p + len(theta)) in :math:`(\beta, \theta)` (module docstring); each distinct
    row of ``[X, Z]`` is integrated once."""
    L = cholesky_factor(theta)
    p, q = X.shape[1], Z.shape[1]
    unique, inverse = np.unique(np.hstack([X, Z]), axis=0, return_inverse=True)
    Xu, Zu = unique[:, :p], unique[:, p:]
    LZ = Zu @ L  # row r: (L'z_r)'
    s = np.sqrt(np.sum(LZ * LZ, axis=1))
    mean, d_eta, d_s = normal_average(link, Xu @ beta, s)
    rows, cols = np.tril_indices(q)
    a = np.where(rows == cols, np.diag(L)[rows], 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_s = np.where(s > 0, d_s / s, 0.0)
    grad = np.hstack([d_eta[:, None] * Xu, per_s[:, None] * LZ[:, cols] * Zu[:, rows] * a])
    Wu = np.zeros((unique.shape[0], W.shape[0]))
    np.add.at(Wu, np.ravel(inverse), W.T)
    return Wu.T @ mean, Wu.T @ grad


def marginal_means(fit: GLMMResults, specs, by=None, at: dict | None = None, average: str = "grid",
                   weights: str = "equal", alpha: float = 0.05) -> pd.DataFrame:
    r"""Population-averaged means :math:`\bar\mu` (probabilities, rates) of ``specs`` per ``by``
    level (module docstring).

    Parameters
    ----------
    fit : a :func:`trialmlm.glmm` fit.
    specs, by : factor(s) of the mean model, as for LS means.
    at : covariate values, e.g. ``{"time": 12}``; a list of values gives the means at each
        (a column named after the covariate), e.g. ``{"time": [0, 1, 2, 3, 6, 12]}``.
    average : "grid" (default; the LS-means reference grid) or "rows" (predictive margin over
        the fitted rows).
    weights : one of :data:`trialmlm.inference.grid.WEIGHTS`: the grid's weights of the other
        factors ("grid" only).
    alpha : 1 - the confidence level of the Wald limits :math:`\bar\mu \mp z_{1-\alpha/2}\,
        \mathrm{se}`.

    Returns
    -------
    DataFrame: the factor columns, the list-valued ``at`` covariates, ``estimate, se, df, lower,
    upper`` (``df`` infinite: normal reference).
    """
    labels, mean, J = _means(fit, specs, by, at, average, weights)
    table = t_table(mean, J @ fit.parameter_vcov @ J.T, np.eye(mean.size), check_alpha(alpha))
    return pd.concat([labels, table.drop(columns=["t", "p"])], axis=1)


def marginal_effects(fit: GLMMResults, treatment: str, by: str | None = None, at: dict | None = None,
                     average: str = "grid", reference=None, contrast: str | Sequence[str] = EFFECT_CONTRASTS,
                     alpha: float = 0.05) -> MarginalEffects:
    """Population-averaged treatment effects: each arm against ``reference`` (default the first
    level of ``treatment``) at each level of ``by`` or each value of the one list-valued
    ``at`` covariate (module docstring).

    Returns
    -------
    :class:`trialmlm.genmod.margins.MarginalEffects`: ``means`` (``visit, arm, n, estimate,
    se, lower, upper``; ``n`` the fitted subjects of the arm), ``table`` of the ``contrast``
    estimates (``diff``: risk difference or difference of rates; ``logor``, ``logrr``: log
    odds ratio, log ratio, whose limits exponentiate to the ratio's), ``cov`` of the means
    (method "delta", covariance ``parameter_vcov``).
    """
    alpha = check_alpha(alpha)
    names = contrast_names(contrast, fit.settings.family)
    visit, values = _visit_dimension(fit, treatment, by, at)
    labels, mean, J = _means(fit, treatment, by, at, average, "equal")
    cov = J @ fit.parameter_vcov @ J.T
    arms = tuple(fit.design.encoding.levels[treatment])
    reference = arms[0] if reference is None else level_of(reference, arms, treatment)
    visits = tuple(values) if visit is not None else (None,)
    visit_column = labels[visit].tolist() if visit is not None else [None] * len(labels)
    index = pd.MultiIndex.from_arrays([visit_column, labels[treatment].tolist()], names=["visit", "arm"])
    subjects = subject_arms(fit, treatment)
    counts = np.array([np.sum(subjects == arm) for arm in labels[treatment]])
    means = t_table(mean, cov, np.eye(mean.size), alpha).drop(columns=["df", "t", "p"])
    means = pd.concat([index.to_frame(index=False), pd.DataFrame({"n": counts}), means], axis=1)
    return MarginalEffects(means, tuple(names), pd.DataFrame(cov, index=index, columns=index), arms, visits,
                           "delta", "parameter_vcov", reference, visit, fit.settings.family, alpha)


def conditional_vs_marginal(fit: GLMMResults, gee: GEEResults, treatment: str, by: str | None = None,
                            at: dict | None = None, reference=None, alpha: float = 0.05,
                            df: str | None = "none") -> pd.DataFrame:
    r"""The odds ratio of each arm against ``reference`` at each ``by`` level / ``at`` value,
    three ways (binomial, logit link):

    * ``"GLMM conditional"``: :math:`\exp(l^\top\hat\beta)`, :math:`l` the difference of the
      arms' reference-grid rows: the odds ratio for a typical patient (:math:`b = 0`), or
      for any one patient; covariance ``fit.vcov``, the numbers of ``fit.compare`` with the df
      rule ``df`` (default "none": normal reference, as the marginal row);
    * ``"GLMM marginal"``: the odds ratio of the population-averaged probabilities
      (:func:`marginal_effects`, ``logor``);
    * ``"GEE"``: :math:`\exp` of the same difference of the GEE's reference-grid rows, with
      the GEE's covariance and df (``gee.cov()``, ``gee.df``: the numbers of ``gee.compare``).

    Estimates, se and limits are on the log scale;
    ``ratio, ratio_lower, ratio_upper`` are their exponentials.  The population-averaged
    odds ratios are nearer 1 than the conditional one (non-collapsibility: Zeger, Liang &
    Albert 1988), and the GLMM marginal one estimates what the GEE does.

    Returns
    -------
    DataFrame: [``by`` / ``at`` column,] ``arm, reference, model, estimate, se, df, t, p,
    lower, upper, ratio, ratio_lower, ratio_upper``.
    """
    alpha = check_alpha(alpha)
    if fit.settings.link != "logit" or gee.settings.link != "logit":
        raise DataError(f"odds ratios need the logit link in both fits; the GLMM has {fit.settings.link!r}, "
                        f"the GEE {gee.settings.link!r}")
    if fit.formula.response != gee.formula.response:
        raise DataError(f"the GLMM models '{fit.formula.response}', the GEE '{gee.formula.response}': "
                        "compare fits of the same response")
    arms = tuple(fit.design.encoding.levels[treatment]) if treatment in fit.design.encoding.levels else ()
    if treatment not in gee.design.encoding.levels or tuple(gee.design.encoding.levels[treatment]) != arms:
        raise DataError(f"treatment '{treatment}' must be a factor of the GLMM and of the GEE, with the same "
                        "levels")
    marginal = marginal_effects(fit, treatment, by, at, "grid", reference, "logor", alpha)
    visit = marginal.by
    listed, points = _at_points(at)
    parts = []
    for point in points:
        for model, result in (("GLMM conditional", fit), ("GEE", gee)):
            labels, L = ReferenceGrid(result, point or None).rows(treatment, by)
            info, D = _differences(labels, L, treatment, by, marginal.reference)
            if result is fit:  # the rows of compare(), in the same order (differences vs reference)
                table = fit.compare(treatment, by=by, reference=marginal.reference, alpha=alpha,
                                    at=point or None, df=df)[list(COLUMNS)].reset_index(drop=True)
            else:
                table = t_table(gee.beta, gee.cov(), D, alpha, gee.df(D))
            if visit is not None and visit != by:
                info.insert(0, visit, point[visit])
            parts.append(pd.concat([info.assign(model=model), table], axis=1))
    parts.append(marginal.table.drop(columns=["contrast", "label"]).assign(model="GLMM marginal"))
    out = pd.concat(parts, ignore_index=True)
    visits = [] if visit is None else [visit]
    rank = {"GLMM conditional": 0, "GLMM marginal": 1, "GEE": 2}
    order = [out[visit].map({v: i for i, v in enumerate(marginal.visits)})] if visit else []
    order += [out["arm"].map({a: i for i, a in enumerate(arms)}), out["model"].map(rank)]
    out = out.iloc[np.lexsort(order[::-1])].reset_index(drop=True)
    out = out[visits + ["arm", "reference", "model", "estimate", "se", "df", "t", "p", "lower", "upper"]]
    return out.assign(ratio=np.exp(out["estimate"]), ratio_lower=np.exp(out["lower"]),
                      ratio_upper=np.exp(out["upper"]))


def conditional_means(fit: GLMMResults, specs, effects: np.ndarray, by=None,
                      at: dict | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    r"""Subject-specific means :math:`g^{-1}(x^\top\hat\beta + z^\top b)` on the reference
    grid of :func:`marginal_means` (same ``specs``, ``by``, ``at``), for each row ``b`` of
    ``effects`` (k, q), e.g. the conditional modes (``fit.modes``) or zeros (the typical
    subject).  Returns the grid's labels and the means (k, grid rows)."""
    _check_fit(fit)
    effects = np.atleast_2d(np.asarray(effects, dtype=float))
    if effects.shape[1] != len(fit.random_names):
        raise DataError(f"effects needs {len(fit.random_names)} columns ({', '.join(fit.random_names)}); "
                        f"got {effects.shape[1]}")
    listed, points = _at_points(at)
    labels, etas = [], []
    for point in points:
        lab, X, Z, _ = _grid_rows(fit, specs, by, point, "equal")
        for name in listed:
            lab[name] = point[name]
        labels.append(lab)
        etas.append((X @ fit.beta)[None, :] + effects @ Z.T)
    return pd.concat(labels, ignore_index=True), get_link(fit.settings.link).inverse(np.hstack(etas))


def subject_arms(fit: GLMMResults, treatment: str) -> np.ndarray:
    """The level of ``treatment`` of each fitted subject (rows of ``fit.modes``), from its
    first row."""
    design = fit.design
    if design is None or treatment not in design.encoding.levels:
        raise DataError(f"treatment '{treatment}' must be a factor of the fit's mean model")
    subject = np.asarray(design.subject)
    first = np.r_[True, subject[1:] != subject[:-1]]
    return design.fixed_frame[treatment].to_numpy()[first]


# -- the rows to average -----------------------------------------------------------------------
def _means(fit: GLMMResults, specs, by, at, average: str, weights: str):
    """Labels (factor columns, then the list-valued ``at`` covariates), means and Jacobian."""
    _check_fit(fit)
    if average not in AVERAGES:
        raise DataError(f"average must be one of {', '.join(map(repr, AVERAGES))}; got {average!r}")
    if average == "rows" and weights != "equal":
        raise DataError("weights= sets the reference grid's weights; average='rows' weights the fitted rows")
    link = get_link(fit.settings.link)
    listed, points = _at_points(at)
    labels, means, jacobians = [], [], []
    for point in points:
        if average == "grid":
            lab, X, Z, W = _grid_rows(fit, specs, by, point, weights)
        else:
            lab, X, Z, W = _fitted_rows(fit, specs, by, point)
        mean = np.full(len(lab), np.nan)
        J = np.full((len(lab), fit.parameter_vcov.shape[0]), np.nan)
        ok = ~np.any((W != 0) & ~np.all(np.isfinite(X), axis=1), axis=1)  # no non-estimable row used
        if ok.any():
            used = np.any(W[ok] != 0, axis=0)
            mean[ok], J[ok] = averaged_means(link, X[used], Z[used], W[np.ix_(ok, used)], fit.beta, fit.theta)
        for name in listed:
            lab[name] = point[name]
        labels.append(lab)
        means.append(mean)
        jacobians.append(J)
    return pd.concat(labels, ignore_index=True), np.concatenate(means), np.vstack(jacobians)


def _check_fit(fit: GLMMResults) -> None:
    """DataError for a fit without its design or with several random-effect terms (whose
    :math:`s^2` would sum over the terms; not done)."""
    if fit.design is None:
        raise DataError("the fit carries no design (it was not made by trialmlm.glmm)")
    if len(fit.formula.random_terms) != 1:
        raise DataError("population-averaged means are computed for one random-effect term (1 + TIME | "
                        f"SUBJECT); this fit has {len(fit.formula.random_terms)}")


def _at_points(at: dict | None) -> tuple[list[str], list[dict]]:
    """The names of the list-valued ``at`` entries and every combination of their values."""
    at = dict(at or {})
    listed = [k for k, v in at.items() if isinstance(v, (list, tuple, np.ndarray, pd.Series))]
    for name in listed:
        if len(at[name]) == 0:
            raise DataError(f"at={{{name!r}: []}} gives no value")
    combos = itertools.product(*[list(at[k]) for k in listed])
    return listed, [dict(at, **dict(zip(listed, combo))) for combo in combos]


def _random_matrix(fit: GLMMResults, frame: pd.DataFrame) -> np.ndarray:
    """The random-effects design of the rows of ``frame`` (the fit's frozen encoding)."""
    spec = fit.design.random_spec
    absent = [v for v in sorted(getattr(spec, "required_variables", ())) if v not in frame.columns]
    if absent:
        raise DataError(f"the random-effect variable(s) {', '.join(map(repr, absent))} are not in the mean "
                        "model: the population-averaged mean needs their values from the reference grid")
    return np.asarray(spec.get_model_matrix(frame), dtype=float)


def _grid_rows(fit: GLMMResults, specs, by, point: dict, weights: str):
    """Reference-grid rows: labels, X (k, p; NaN if not estimable), Z (k, q), W = I.  The
    grid rows averaged into one LS mean must share their random-effects row."""
    grid = ReferenceGrid(fit, point or None)
    labels, X = grid.rows(specs, by, weights)
    keys = list(labels.columns)
    Z = _random_matrix(fit, grid.frame)
    if keys:
        group = grid.frame[keys].merge(labels.reset_index(), on=keys, how="left")["index"].to_numpy()
    else:
        group = np.zeros(len(grid.frame), dtype=int)
    first = np.zeros((len(labels), Z.shape[1]))
    first[group] = Z
    if np.any(np.abs(Z - first[group]) > 1e-12):
        raise DataError("the random-effects design varies across the grid rows that one mean averages over "
                        f"(the factors outside {keys}): give them in specs/by or use average='rows'")
    return labels, X, first, np.eye(len(labels))


def _fitted_rows(fit: GLMMResults, specs, by, point: dict):
    """Predictive-margin rows: the fitted rows once per combination of the ``specs`` levels
    (those factors set, and the ``at`` covariates), weights 1/n within each ``by`` level."""
    design = fit.design
    levels = design.encoding.levels
    spec_names = [specs] if isinstance(specs, str) else list(specs)
    by_names = [b for b in ([by] if isinstance(by, str) else list(by or [])) if b not in spec_names]
    for name in spec_names + by_names:
        if name not in levels:
            raise DataError(f"'{name}' is not a factor of the mean model "
                            f"(factors: {', '.join(levels) or 'none'})")
    for name in point:
        if name not in design.encoding.variables or name in levels:
            raise DataError(f"at={{{name!r}: ...}} must name a covariate of the mean model; with "
                            "average='rows' factors are set by specs")
    frame = design.fixed_frame.assign(**point)
    combos = list(itertools.product(*[levels[n] for n in spec_names]))
    if by_names:
        group, by_levels = _codes(frame, by_names, levels)
    else:
        group, by_levels = np.zeros(len(frame), dtype=int), [()]
    X, Z = [], []
    for combo in combos:
        counterfactual = frame.assign(**{n: pd.Categorical([v] * len(frame), categories=levels[n])
                                         for n, v in zip(spec_names, combo)})
        X.append(design.encoding.matrix(counterfactual))
        Z.append(_random_matrix(fit, counterfactual))
    n = len(frame)
    counts = np.bincount(group, minlength=len(by_levels))
    W = np.zeros((len(by_levels) * len(combos), len(combos) * n))
    rows = []
    for v, by_level in enumerate(by_levels):
        for c, combo in enumerate(combos):
            k = v * len(combos) + c
            W[k, c * n + np.flatnonzero(group == v)] = 1.0 / counts[v]
            rows.append(dict(zip(spec_names, combo), **dict(zip(by_names, by_level))))
    return pd.DataFrame(rows, columns=spec_names + by_names), np.vstack(X), np.vstack(Z), W


def _codes(frame: pd.DataFrame, names: list[str], levels: dict) -> tuple[np.ndarray, list[tuple]]:
    """Per row, the code of its combination of the factors ``names`` (observed combinations,
    in level order), and the combinations."""
    index = pd.MultiIndex.from_frame(frame[names].astype(object))
    observed = set(index)
    combos = [c for c in itertools.product(*[levels[n] for n in names]) if c in observed]
    return pd.Index(combos).get_indexer(index), combos


def _visit_dimension(fit: GLMMResults, treatment: str, by, at) -> tuple[str | None, list]:
    """The name and values of the one dimension the arms are compared along: ``by`` (a
    factor), the one list-valued ``at`` covariate, or none."""
    _check_fit(fit)
    levels = fit.design.encoding.levels
    if treatment not in levels:
        raise DataError(f"treatment '{treatment}' must be a factor of the mean model "
                        f"(factors: {', '.join(levels) or 'none'})")
    listed, _ = _at_points(at)
    if by is not None and not isinstance(by, str):
        raise DataError(f"by= takes one factor for treatment effects; got {by!r}")
    if len(listed) + (by is not None) > 1:
        raise DataError("treatment effects are compared along one dimension: by= a visit factor or one "
                        f"list-valued at= covariate; got by={by!r} and lists for {listed}")
    if by is not None:
        if by not in levels or by == treatment:
            raise DataError(f"by={by!r} must be a factor of the mean model other than the treatment")
        return by, list(levels[by])
    if listed:
        return listed[0], list(at[listed[0]])
    return None, []


def _differences(labels: pd.DataFrame, L: np.ndarray, treatment: str, by, reference):
    """``(info, D)``: rows ``arm, reference`` (and ``by``) and :math:`l_a - l_r` for every arm
    other than ``reference`` at each ``by`` level of an LS-means grid ``(labels, L)``."""
    keys = [by] if by is not None else []
    info, rows = [], []
    for key, part in labels.groupby(keys, sort=False) if keys else [((), labels)]:
        ref = part.index[part[treatment] == reference][0]
        for i in part.index[part[treatment] != reference]:
            info.append(dict(zip(keys, key if isinstance(key, tuple) else (key,)),
                             arm=part.at[i, treatment], reference=reference))
            rows.append(L[i] - L[ref])
    return pd.DataFrame(info, columns=keys + ["arm", "reference"]), np.array(rows)
