r"""Draws of the imputation model and of the missing visits (the engine behind :func:`impute`).

1. **Layout.**  Every subject of the fitted data (rows with a missing response
   included) gets one row per visit; covariates of visits without a row are copied from
   the subject's other rows when constant within the subject.
2. **Parameters.**  Draw :math:`m` refits the same MMRM to a bootstrap sample of the
   subjects, stratified by arm (approximate Bayesian draw; von Hippel & Bartlett 2021,
   rbmi ``method_approxbayes``), giving :math:`(\beta^{(m)}, \Sigma^{(m)})`.
3. **Missing visits.**  For each subject the strategy (:mod:`.strategies`) gives the joint
   :math:`(\tilde\mu, \tilde\Sigma)`; missing visits :math:`m` given observed :math:`o` are
   drawn from

   .. math::
       y_m \mid y_o \sim N\!\left(\tilde\mu_m + \tilde\Sigma_{mo}\tilde\Sigma_{oo}^{-1}(y_o - \tilde\mu_o),\;
       \tilde\Sigma_{mm} - \tilde\Sigma_{mo}\tilde\Sigma_{oo}^{-1}\tilde\Sigma_{om}\right),

   vectorised over the subjects that share (arm group, reference group, observed
   pattern, last observed visit).
4. **Delta.**  A shift :math:`\delta_j` is added to imputed values after the last
   observed visit of subjects in the shifted arms (rbmi's delta adjustment), never to
   intermittent gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..checks import finite_numbers
from ..covariance.random_effects import RandomEffects
from ..design import ALIAS_TOLERANCE
from ..errors import DataError
from ..formula import parse_formula
from ..model import Model
from ..optimize import maximise
from .patterns import last_observed
from .strategies import Strategy

MAX_REDRAWS = 100


@dataclass(frozen=True)
class ImputationData:
    """Wide layout of the trial for imputation: ``n`` subjects by ``K`` visits.

    Attributes
    ----------
    frame : one row per subject and visit (subject-major, visits in fitted order) with the
        mean-model variables and the observed response (NaN where missing).
    y : (n, K) observed responses, NaN where missing.
    observed : (n, K) bool.
    n_mar : (n,) number of visits up to and including the last observed one.
    arm_codes : (n,) index into ``arms``.
    own_group, ref_group : (n,) covariance group of the subject and of the reference arm.
    X_own, X_ref : (n * K, p) mean-model rows with the subject's own arm / the reference arm.
    """

    subject: str
    visit: str
    arm: str
    response: str
    subjects: np.ndarray
    visits: list
    arms: list
    frame: pd.DataFrame
    y: np.ndarray
    observed: np.ndarray
    n_mar: np.ndarray
    arm_codes: np.ndarray
    own_group: np.ndarray
    ref_group: np.ndarray
    X_own: np.ndarray
    X_ref: np.ndarray


def check_imputable(fit) -> str:
    """The visit variable of ``fit``; DataError if the fit is not an MMRM over visits."""
    s = fit.settings
    if any(isinstance(st, RandomEffects) for st in fit.structures) or fit.design.outer or not s.visit:
        raise DataError("multiple imputation needs an MMRM with a residual structure over visits, e.g. "
                        "us(AVISIT | USUBJID); random-effect models are not supported")
    if fit.design.coordinates is not None:
        raise DataError(f"multiple imputation needs visits as classes; {s.structure}"
                        f"({', '.join(s.visit)} | ...) uses continuous coordinates")
    if s.weights is not None:
        raise DataError("multiple imputation does not support SAS WEIGHT (weights=); refit without weights")
    visit = s.visit[0]
    if visit not in fit.design.encoding.levels:
        raise DataError(f"multiple imputation needs the visit '{visit}' as a factor of the mean model, "
                        "e.g. ARM * AVISIT, so that each visit has its own mean")
    return visit


def infer_arm(fit, visit: str, arm: str | None, reference) -> str:
    """The treatment factor: ``arm`` if given, else the one class variable other than the visit."""
    levels = fit.design.encoding.levels
    if arm is not None:
        if arm not in levels:
            raise DataError(f"arm '{arm}' is not a factor of the mean model "
                            f"({', '.join(levels) or 'no factors'})")
        return arm
    candidates = [v for v in levels if v != visit]
    with_reference = [v for v in candidates if reference in levels[v]]
    candidates = with_reference or candidates
    if len(candidates) != 1:
        raise DataError("cannot tell the treatment factor from the model; pass arm= one of "
                        f"{', '.join(v for v in levels if v != visit)}")
    return candidates[0]


def _subject_constant(grid: pd.DataFrame, source: pd.DataFrame, subject: str, var: str) -> pd.Series:
    """Fill ``var`` on grid rows without a value from the subject's constant value."""
    values = source[[subject, var]].dropna()
    varying = values.groupby(subject)[var].nunique()
    if (varying > 1).any():
        first = varying.index[varying.to_numpy() > 1][0]
        missing = grid[var].isna() & (grid[subject] == first)
        if missing.any():
            raise DataError(f"'{var}' changes between the visits of subject {first!r}, so its value "
                            "at visit(s) without a row cannot be imputed; add rows with the value for every "
                            "visit")
    constant = values.groupby(subject)[var].first()
    filled = grid[var].where(grid[var].notna(), grid[subject].map(constant))
    if filled.isna().any():
        bad = grid.loc[filled.isna(), subject].iloc[0]
        raise DataError(f"subject {bad!r} has no value of '{var}'; it is needed to impute the subject's "
                        "visits")
    return filled


def prepare(fit, visit: str, arm: str, reference) -> ImputationData:
    """The wide layout of ``fit``'s data; see :class:`ImputationData`."""
    s, design = fit.settings, fit.design
    subject, response = s.subject, s.response
    source = design.source.loc[design.source[subject].notna() & design.source[visit].notna()]
    visits = list(design.position_labels)
    source = source.loc[source[visit].isin(visits)]
    arms = list(design.encoding.levels[arm])
    if reference is not None and reference not in arms:
        raise DataError(f"reference {reference!r} is not a level of '{arm}' "
                        f"(levels: {', '.join(map(str, arms))})")
    n_arms = source.groupby(subject)[arm].nunique()
    if (n_arms != 1).any():
        label = n_arms.index[(n_arms != 1).to_numpy()][0]
        how_many = "no" if n_arms[label] == 0 else "more than one"
        raise DataError(f"subject {label!r} has {how_many} value of '{arm}'")
    subjects = np.asarray(sorted(n_arms.index, key=str), dtype=object)
    n, k = len(subjects), len(visits)
    visit_codes = np.tile(np.asarray(visits, dtype=object), n)
    grid = pd.DataFrame({subject: np.repeat(subjects, k),
                         visit: pd.Categorical(visit_codes, categories=visits)})
    keyed = source.drop_duplicates([subject, visit]).set_index([subject, visit])
    if len(keyed) < len(source):
        dup = source.loc[source.duplicated([subject, visit]), [subject, visit]].iloc[0]
        raise DataError(f"subject {dup[subject]!r} has more than one row at {visit} = {dup[visit]!r}")
    index = pd.MultiIndex.from_frame(grid[[subject, visit]])
    for var in dict.fromkeys([*design.encoding.variables, response]):
        if var in (subject, visit):
            continue
        grid[var] = keyed[var].reindex(index).to_numpy()
        if var != response:
            grid[var] = _subject_constant(grid, source, subject, var)
        if isinstance(source[var].dtype, pd.CategoricalDtype):  # the analysis keeps the level order
            grid[var] = pd.Categorical(grid[var], categories=source[var].cat.categories)
    y = grid[response].to_numpy(dtype=float).reshape(n, k)
    observed = np.isfinite(y)
    last = last_observed(observed) + 1  # visits up to and including the last observed one
    arm_codes = pd.Index(arms).get_indexer(grid[arm].to_numpy()[::k])
    X_own = design.encoding.matrix(grid)
    X_ref = design.encoding.matrix(grid.assign(**{arm: reference})) if reference is not None else X_own
    own_group, ref_group = _groups(fit, grid[::k], arm, reference)
    return ImputationData(subject, visit, arm, response, subjects, visits, arms, grid, y, observed, last,
                          arm_codes, own_group, ref_group, X_own, X_ref)


def _groups(fit, first_rows: pd.DataFrame, arm: str, reference) -> tuple[np.ndarray, np.ndarray]:
    group = fit.settings.group
    n = len(first_rows)
    if group is None:
        return np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    if group != arm:
        raise DataError(f"the covariance matrices differ by '{group}', not by the arm '{arm}'; "
                        "reference-based imputation needs one covariance matrix or one per arm")
    labels = pd.Index(fit.design.group_labels)
    own = labels.get_indexer(first_rows[arm])
    ref = np.full(n, labels.get_loc(reference)) if reference is not None else own
    return own, ref


def refit_model(fit) -> Model:
    """The assembled model of ``fit`` (design, structures, likelihood), to resample."""
    return Model(parse_formula(fit.settings.formula), fit.design, fit.structures, fit.likelihood,
                 weights=fit.settings.weights)


def draw_parameters(fit, model: Model, strata: np.ndarray, rng: np.random.Generator):
    r"""One approximate-Bayesian draw :math:`(\beta^{(m)}, [\Sigma_g^{(m)}])`: a stratified bootstrap refit.

    A bootstrap sample whose design loses rank (a visit or arm without data) is redrawn.
    """
    design = model.design
    for _ in range(MAX_REDRAWS):
        chosen = np.concatenate([rng.choice(members, size=members.size) for members in strata])
        boot = design.resample(chosen)
        if full_rank(boot.X):
            lik = model.with_design(boot).likelihood
            opt = maximise(lik, fit.phi)
            return opt.evaluation.beta, covariance_matrices(fit.structures, lik, opt.phi), opt.converged
    raise DataError(f"{MAX_REDRAWS} bootstrap samples in a row lost a column of the design (an arm or visit "
                    "without observations); the data are too sparse for bootstrap imputation")


def full_rank(X: np.ndarray) -> bool:
    """Column rank p, judged by pivot-free QR of the column-scaled matrix (as the alias check)."""
    norms = np.linalg.norm(X, axis=0)
    if np.any(norms == 0):
        return False
    r = np.abs(np.diag(np.linalg.qr(X / norms, mode="r")))
    return bool(r.min() > ALIAS_TOLERANCE)


def covariance_matrices(structures, likelihood, phi: np.ndarray) -> list[np.ndarray]:
    """The visits-by-visits matrix of each group's structure at ``phi``."""
    return [s.matrix(phi[likelihood.parameters.at(g)]) for g, s in enumerate(structures)]


def subject_strata(fit, arm: str) -> list[np.ndarray]:
    """Design subject codes per arm, for the stratified bootstrap."""
    design = fit.design
    first = np.searchsorted(design.subject, np.arange(design.subject_labels.size))
    arms = design.fixed_frame[arm].to_numpy()[first]
    return [np.flatnonzero(arms == a) for a in pd.unique(arms)]


def impute_visits(data: ImputationData, strategies: tuple[Strategy, ...], beta: np.ndarray, sigmas: list,
                  rng: np.random.Generator | None, codes: np.ndarray | None = None) -> np.ndarray:
    """Completed (n, K) responses; ``rng=None`` gives the conditional means instead of draws.

    Subject ``i`` is imputed under ``strategies[codes[i]]`` (``codes=None``: all under the first).
    """
    n, k = data.y.shape
    codes = np.zeros(n, dtype=int) if codes is None else codes
    own, ref = (data.X_own @ beta).reshape(n, k), (data.X_ref @ beta).reshape(n, k)
    mu = np.empty((n, k))
    for c, strategy in enumerate(strategies):
        rows = codes == c
        mu[rows] = strategy.mean(own[rows], ref[rows], data.n_mar[rows])
    out = data.y.copy()
    keys = np.column_stack([codes, data.own_group, data.ref_group, data.n_mar, data.observed])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for j, key in enumerate(unique):
        obs = key[4:].astype(bool)
        if obs.all():
            continue
        rows = np.flatnonzero(inverse == j)
        cov = strategies[key[0]].covariance(sigmas[key[1]], sigmas[key[2]], int(key[3]))
        mis = ~obs
        s_oo, s_mo, s_mm = cov[np.ix_(obs, obs)], cov[np.ix_(mis, obs)], cov[np.ix_(mis, mis)]
        coef = np.linalg.solve(s_oo, s_mo.T).T if obs.any() else np.zeros((mis.sum(), 0))
        mean = mu[np.ix_(rows, mis)] + (data.y[np.ix_(rows, obs)] - mu[np.ix_(rows, obs)]) @ coef.T
        if rng is not None:
            chol = np.linalg.cholesky(s_mm - coef @ s_mo.T)
            mean = mean + rng.standard_normal((rows.size, mis.sum())) @ chol.T
        out[np.ix_(rows, mis)] = mean
    return out


def delta_matrix(data: ImputationData, delta, arms) -> np.ndarray:
    r"""(n, K) shifts :math:`\delta_j` on the visits after each shifted subject's last observation."""
    k = len(data.visits)
    if isinstance(delta, (dict, pd.Series)):
        unknown = [v for v in dict(delta) if v not in data.visits]
        if unknown:
            raise DataError(f"delta names visit(s) {', '.join(map(repr, unknown))}, not visits of "
                            f"'{data.visit}' ({', '.join(map(str, data.visits))})")
        per_visit = finite_numbers("delta (per visit)", [dict(delta).get(v, 0.0) for v in data.visits])
    else:
        if np.ndim(delta) != 0:
            raise DataError(f"delta must be a number or a mapping visit -> number, got {delta!r}")
        per_visit = np.full(k, finite_numbers("delta", delta)[0])
    unknown = [a for a in arms if a not in data.arms]
    if unknown:
        raise DataError(f"delta arm(s) {', '.join(map(repr, unknown))} are not levels of '{data.arm}' "
                        f"({', '.join(map(str, data.arms))})")
    arm_of = np.asarray(data.arms, dtype=object)[data.arm_codes]
    shifted = np.isin(arm_of, np.asarray(list(arms), dtype=object))
    after = np.arange(k)[None, :] >= data.n_mar[:, None]
    return np.where(after & shifted[:, None], per_visit[None, :], 0.0)
