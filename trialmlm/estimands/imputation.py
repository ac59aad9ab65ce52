r"""Draws of the imputation model and of the missing visits (the engine behind :func:`impute`).

1. **Layout.**  Every subject of the fitted data (rows with a missing response
   included) gets one row per visit; covariates of visits without a row are copied from
   the subject's other rows when constant within every subject.  A time-varying covariate
   (e.g. the on/off-treatment status of a retrieved-dropout model) needs a value at every
   visit.  Means of cells without observed data (not estimable from the fit) are NaN and
   refused where a strategy uses them.
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
4. **Delta.**  A shift is added to imputed values after the intercurrent event
   (:mod:`.delta`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.design import ALIAS_TOLERANCE
from ..engine.model import Model
from ..engine.refit import fit_model
from ..engine.refit import refit_model as model_on
from ..errors import ConvergenceWarning, DataError
from ..inference.grid import ESTIMABLE_TOL
from ..missing.patterns import last_observed
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
    own_estimable, ref_estimable : (n, K) rows whose mean the fit estimates (a row of a cell
        without observed data, e.g. an arm x visit x status cell of a retrieved-dropout model,
        is not); None: all.
    time_varying : mean-model variables other than the visit that change within a subject.
    reference : the reference arm of ``X_ref`` (None: ``X_ref`` is ``X_own``).
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
    own_estimable: np.ndarray | None = None
    ref_estimable: np.ndarray | None = None
    time_varying: tuple = ()
    reference: object = None

    def arm_by_visit(self) -> pd.DataFrame:
        """The arm and visit of each LS mean of the arm by visit, visit-major (arms within visits)."""
        arms, k = np.asarray(self.arms, dtype=object), len(self.visits)
        return pd.DataFrame({self.arm: np.tile(arms, k),
                             self.visit: np.repeat(np.asarray(self.visits, dtype=object), len(arms))})

    def completed_frame(self, values: np.ndarray) -> pd.DataFrame:
        """``frame`` with the (n, K) completed responses ``values`` and ``imputed`` marking filled values."""
        out = self.frame.copy()
        out[self.response] = values.ravel()
        out["imputed"] = ~self.observed.ravel()
        return out


def check_imputable(fit) -> str:
    """The visit variable of ``fit``; DataError if the fit is not an MMRM over visits."""
    s = fit.settings
    if not fit.spec.marginal:
        raise DataError("multiple imputation needs an MMRM with a residual structure over visits, e.g. "
                        "us(AVISIT | USUBJID); random-effect models are not supported")
    if fit.spec.spatial:
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


def _subject_constant(grid: pd.DataFrame, source: pd.DataFrame, subject: str, visit: str,
                      var: str) -> pd.Series:
    """Fill ``var`` on grid rows without a value from the subject's constant value.

    A covariate that changes between the visits of any subject is time-varying (e.g. the
    on/off-treatment status of a retrieved-dropout model): its value at a visit cannot be
    inferred from other visits, so every subject needs it at every visit.
    """
    values = source[[subject, var]].dropna()
    varying = values.groupby(subject)[var].nunique()
    if (varying > 1).any():
        missing = grid[var].isna()
        if missing.any():
            first = varying.index[varying.to_numpy() > 1][0]
            row = grid.loc[missing].iloc[0]
            raise DataError(f"'{var}' changes between the visits of subject {first!r}, so it is a "
                            f"time-varying covariate and needs a value at every visit; subject "
                            f"{row[subject]!r} has none at {visit} = {row[visit]!r} (add a row per subject "
                            f"and visit with '{var}' set and the response missing)")
        return grid[var]
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
            grid[var] = _subject_constant(grid, source, subject, visit, var)
        if isinstance(source[var].dtype, pd.CategoricalDtype):  # the analysis keeps the level order
            grid[var] = pd.Categorical(grid[var], categories=source[var].cat.categories)
    y = grid[response].to_numpy(dtype=float).reshape(n, k)
    observed = np.isfinite(y)
    last = last_observed(observed) + 1  # visits up to and including the last observed one
    arm_codes = pd.Index(arms).get_indexer(grid[arm].to_numpy()[::k])
    full_own = design.encoding.full_matrix(grid)
    full_ref = design.encoding.full_matrix(grid.assign(**{arm: reference})) if reference is not None \
        else full_own
    own_group, ref_group = _groups(fit, grid[::k], arm, reference)
    varying = grid.groupby(subject, observed=True)[list(design.encoding.variables)].nunique().max() > 1
    return ImputationData(subject, visit, arm, response, subjects, visits, arms, grid, y, observed, last,
                          arm_codes, own_group, ref_group, full_own[:, design.encoding.kept],
                          full_ref[:, design.encoding.kept], _estimable(design, full_own).reshape(n, k),
                          _estimable(design, full_ref).reshape(n, k),
                          tuple(v for v in varying.index[varying.to_numpy()] if v != visit), reference)


def _estimable(design, X_full: np.ndarray) -> np.ndarray:
    r"""Rows :math:`x` whose mean :math:`x^\top\beta` the fit estimates:
    :math:`|x^\top N| \le 10^{-6}\max(|x|, 1)` with :math:`N` the null space of the fitted design
    (the rule of the LS-means grid)."""
    if not design.null_space.size:
        return np.ones(len(X_full), dtype=bool)
    gap = np.abs(X_full @ design.null_space).max(axis=1)
    return gap <= ESTIMABLE_TOL * np.maximum(np.abs(X_full).max(axis=1), 1.0)


def _not_estimable(data: ImputationData, rows: np.ndarray, strategy) -> None:
    """DataError for subjects ``rows`` whose joint mean under ``strategy`` is not finite: it uses a
    mean the model cannot estimate (the arm x visit x time-varying covariate cells are named), or
    the strategy returned non-finite values."""
    k = len(data.visits)
    cell = (rows[:, None] * k + np.arange(k)).ravel()
    if data.own_estimable is None:
        own = ref = np.zeros(cell.size, dtype=bool)
    else:
        own = ~data.own_estimable.ravel()[cell]
        ref = ~data.ref_estimable.ravel()[cell] & strategy.needs_reference
    if not (own.any() or ref.any()):
        raise DataError(f"strategy {strategy.label!r} returned a mean with non-finite values for subject "
                        f"{data.subjects[rows[0]]!r}")
    shown = [data.arm, data.visit, *data.time_varying]
    cells = pd.concat([data.frame[shown].iloc[cell[own]],
                       data.frame[shown].iloc[cell[ref]].assign(**{data.arm: data.reference})])
    cells = cells.astype(object).drop_duplicates()
    names = [", ".join(f"{v} = {value!r}" for v, value in zip(shown, row))
             for row in cells.itertuples(index=False)]
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    raise DataError(f"the imputation model has no observed data to estimate the mean at "
                    f"{'; '.join(names[:3])}{more}, which {strategy.label} imputation of subject "
                    f"{data.subjects[rows[0]]!r} needs; collect or keep such data (observed values after a "
                    "non-MAR ICE are left out of the model), use fewer parameters for the time-varying "
                    "covariates (e.g. one per arm instead of one per arm and visit) or another strategy")


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
    return fit.model


def draw_parameters(fit, model: Model, strata: list[np.ndarray], rng: np.random.Generator):
    r"""One approximate-Bayesian draw :math:`(\beta^{(m)}, [\Sigma_g^{(m)}], \text{converged})`: a
    stratified bootstrap refit (:func:`bootstrap_sample`, :func:`refit_sample`)."""
    return bootstrap_sample(strata, rng, lambda codes: refit_sample(fit, model, codes))


def bootstrap_sample(strata: list[np.ndarray], rng: np.random.Generator, use):
    """``use(sample)`` of a bootstrap sample: the members of each stratum drawn with
    replacement (as many as it has), concatenated.  A sample for which ``use`` gives None
    (its design loses rank: an arm or visit without observations) is redrawn, at most
    :data:`MAX_REDRAWS` times."""
    for _ in range(MAX_REDRAWS):
        out = use(np.concatenate([rng.choice(members, size=members.size) for members in strata]))
        if out is not None:
            return out
    raise DataError(f"{MAX_REDRAWS} bootstrap samples in a row lost a column of the design (an arm or visit "
                    "without observations); the data are too sparse for the bootstrap")


def refit_sample(fit, model: Model, chosen: np.ndarray):
    """``(beta, sigmas, converged)`` of ``model`` refitted to the design subjects ``chosen``
    (codes, repeats allowed; started from ``fit.phi``), or None if their design loses rank."""
    boot = model.design.resample(chosen)
    if not full_rank(boot.X):
        return None
    return refit_parameters(model_on(model, boot), fit.structures, fit.phi)


def refit_parameters(model: Model, structures, phi: np.ndarray):
    """``(beta, sigmas, converged)`` of ``model`` (on a sample's design), started from ``phi``."""
    fit = fit_model(model, "residual", "model", start=phi)  # the one refit path
    return fit.beta, covariance_matrices(structures, fit.likelihood, fit.phi), fit.converged


def warn_not_converged(converged: Sequence[bool], what: str) -> int:
    """The number of False in ``converged`` (one flag per refit or imputation); if any, a
    :class:`ConvergenceWarning` "k of n ``what`` did not converge; their estimates are used as
    they are" (the one warning of every imputation method)."""
    failed = sum(not ok for ok in converged)
    if failed:
        warnings.warn(f"{failed} of {len(converged)} {what} did not converge; their estimates are used as "
                      "they are", ConvergenceWarning, stacklevel=3)
    return failed


def rank_error(what: str) -> DataError:
    """The DataError of a resample of the imputation model (``what``: which) whose design lost a
    column (:func:`full_rank`): a cell of the mean model (e.g. arm x visit x on/off-treatment
    status) whose observed data all come from the subjects left out."""
    return DataError(f"the imputation model {what} cannot be estimated: some cell of its mean model "
                     "(e.g. an arm x visit x time-varying covariate combination) has observed data from "
                     "the left-out subject(s) only; use fewer parameters for sparse cells")


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


@dataclass(frozen=True)
class ImputationBlock:
    """Subjects ``rows`` with missing visits that share their strategy (``code``), own and
    reference covariance group, number ``d`` of MAR visits and observed visits ``obs``
    (positions; ``mis`` the missing ones); ``oo``, ``mo``, ``mm``: the (observed, observed),
    (missing, observed), (missing, missing) indices of a visits-by-visits matrix, ``ro``,
    ``rm`` the (rows, observed), (rows, missing) ones of a subjects-by-visits array."""

    code: int
    own: int
    ref: int
    d: int
    rows: np.ndarray
    obs: np.ndarray
    mis: np.ndarray
    oo: tuple
    mo: tuple
    mm: tuple
    ro: tuple
    rm: tuple


def imputation_blocks(data: ImputationData, codes: np.ndarray | None = None) -> list[ImputationBlock]:
    """The subjects of ``data`` with missing visits in :class:`ImputationBlock` s (``codes``: the
    strategy of each subject, None: all the first); what :func:`impute_visits` works on, fixed
    for given data and strategies."""
    n = data.y.shape[0]
    codes = np.zeros(n, dtype=int) if codes is None else codes
    keys = np.column_stack([codes, data.own_group, data.ref_group, data.n_mar, data.observed])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    order = np.argsort(inverse.reshape(-1), kind="stable")  # subjects block by block, in order
    edges = np.searchsorted(inverse.reshape(-1)[order], np.arange(len(unique) + 1))
    blocks = []
    for j, key in enumerate(unique):
        obs, mis = np.flatnonzero(key[4:]), np.flatnonzero(key[4:] == 0)
        if not mis.size:
            continue
        rows = order[edges[j]:edges[j + 1]]
        blocks.append(ImputationBlock(int(key[0]), int(key[1]), int(key[2]), int(key[3]), rows, obs, mis,
                                      np.ix_(obs, obs), np.ix_(mis, obs), np.ix_(mis, mis), np.ix_(rows, obs),
                                      np.ix_(rows, mis)))
    return blocks


def impute_visits(data: ImputationData, strategies: tuple[Strategy, ...], beta: np.ndarray, sigmas: list,
                  rng: np.random.Generator | None, codes: np.ndarray | None = None,
                  blocks: list[ImputationBlock] | None = None) -> np.ndarray:
    """Completed (n, K) responses; ``rng=None`` gives the conditional means instead of draws.

    Subject ``i`` is imputed under ``strategies[codes[i]]`` (``codes=None``: all under the first).
    A draw uses one standard normal :math:`z_{ij}` per subject and visit (an (n, K) array drawn
    first), so a subject's draw given ``rng`` does not depend on the other subjects' strategies.
    ``blocks``: :func:`imputation_blocks` of ``data`` and ``codes``, if at hand.
    """
    n, k = data.y.shape
    z = rng.standard_normal((n, k)) if rng is not None else None
    own, ref = (data.X_own @ beta).reshape(n, k), (data.X_ref @ beta).reshape(n, k)
    if data.own_estimable is not None:  # a mean the model cannot estimate is NaN, so that using it shows
        own, ref = np.where(data.own_estimable, own, np.nan), np.where(data.ref_estimable, ref, np.nan)
    out = data.y.copy()
    for b in imputation_blocks(data, codes) if blocks is None else blocks:
        rows = b.rows
        mu, cov = strategies[b.code].joint(own[rows], ref[rows], sigmas[b.own], sigmas[b.ref], b.d)
        if not np.isfinite(mu).all():
            _not_estimable(data, rows[~np.isfinite(mu).all(axis=1)], strategies[b.code])
        s_oo, s_mo, s_mm = cov[b.oo], cov[b.mo], cov[b.mm]
        coef = np.linalg.solve(s_oo, s_mo.T).T if b.obs.size else np.zeros((b.mis.size, 0))
        mean = mu[:, b.mis] + (data.y[b.ro] - mu[:, b.obs]) @ coef.T
        if z is not None:
            chol = np.linalg.cholesky(s_mm - coef @ s_mo.T)
            mean = mean + z[b.rm] @ chol.T
        out[b.rm] = mean
    return out
