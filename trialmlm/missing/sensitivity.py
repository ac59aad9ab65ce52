r"""Sensitivity analyses by multiple imputation from a fitted MMRM: :func:`impute`, :func:`tipping_point`.

Each imputation :math:`m = 1..M` (i) draws the imputation model's parameters by refitting
the MMRM to a bootstrap sample of subjects, (ii) draws every missing visit of every subject
from the conditional normal distribution of the chosen strategy
(:mod:`trialmlm.missing.strategies`), (iii) adds the delta shift after dropout, and
(iv) fits the same MMRM to the completed data and computes LS means and differences from
the reference arm at every visit.  The :math:`M` results are combined by Rubin's rules
with Barnard-Rubin df (:mod:`trialmlm.missing.rubin`).  See :mod:`.imputation` for the
formulas.
"""

from __future__ import annotations

import warnings
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..checks import check_alpha, check_seed, finite_numbers
from ..errors import ConvergenceWarning, DataError
from ..estimate import estimate
from ..inference.grid import ReferenceGrid
from ..inference.lsmeans import COLUMNS, adjust_table, check_adjust, difference_rows
from ..inference.protocol import check_options
from ..inference.wald import t_table
from ..model import build_model
from ..runner import run_tasks
from .imputation import (
    ImputationData,
    check_imputable,
    covariance_matrices,
    delta_matrix,
    draw_parameters,
    impute_visits,
    infer_arm,
    prepare,
    refit_model,
    subject_strata,
)
from .rubin import pool
from .strategies import STRATEGIES

METHODS = (*STRATEGIES, "delta")
ROUND_STEPS = (1.0, 2.0, 2.5, 5.0)
MAX_STEPS = 15
TIPS, DOES_NOT_TIP, NOT_SIGNIFICANT = "tips", "does not tip", "not significant"


class Analysis:
    """The MMRM of ``fit`` applied to completed data sets: encoded once, refitted per data set."""

    def __init__(self, fit, data: ImputationData, reference):
        s = fit.settings
        completed = impute_visits(data, (STRATEGIES["mar"],), fit.beta, _sigmas(fit), None)
        frame = data.frame.assign(**{s.response: completed.ravel()})
        self.model = build_model(s.formula, frame, s.method)
        self.order = self.model.design.row_position
        self.ddf, self.vcov, self.start = s.ddf, s.vcov, fit.phi
        first = self.fit(completed)
        ls_labels, ls_rows = ReferenceGrid(first).rows([data.arm], [data.visit], "equal", None)
        diff_labels, diff_rows = difference_rows(first, data.arm, [data.visit], reference, "equal", None,
                                                 None)
        self.lsmeans_labels = ls_labels[[data.arm, data.visit]]
        self.compare_labels = diff_labels
        self.rows = np.vstack([ls_rows, diff_rows])

    def fit(self, completed: np.ndarray):
        model = self.model.with_response(completed.ravel()[self.order])
        return estimate(model, self.ddf, self.vcov, start=self.start, warn=False)

    def __call__(self, completed: np.ndarray) -> tuple[np.ndarray, bool]:
        """(3, rows) estimates, variances and df of every LS mean and difference; converged."""
        result = self.fit(completed)
        table = t_table(result, self.rows, self.ddf, self.vcov, 0.05)
        return np.vstack([table["estimate"], table["se"] ** 2, table["df"]]), result.converged


def _sigmas(fit) -> list[np.ndarray]:
    return covariance_matrices(fit.structures, fit.likelihood, fit.phi)


@dataclass(frozen=True)
class _Context:
    fit: object
    model: object
    strata: list
    data: ImputationData
    strategy: object
    analysis: Analysis
    shifts: list
    keep_data: bool


def _one_imputation(ctx: _Context, seed: np.random.SeedSequence):
    rng = np.random.default_rng(seed)
    beta, sigmas, draw_ok = draw_parameters(ctx.fit, ctx.model, ctx.strata, rng)
    completed = impute_visits(ctx.data, (ctx.strategy,), beta, sigmas, rng)
    results = [ctx.analysis(completed + shift) for shift in ctx.shifts]
    stats = np.stack([r[0] for r in results])  # (n_shifts, 3, rows)
    ok = draw_ok and all(r[1] for r in results)
    return (completed + ctx.shifts[0]) if ctx.keep_data else None, stats, ok


@dataclass(frozen=True)
class MultipleImputation:
    """Result of :func:`impute`: the per-imputation analyses and their pooled summaries.

    Implements :class:`trialmlm.inference.protocol.Comparisons` (``lsmeans``, ``compare``
    with the keywords, defaults and columns of a fit, plus ``fmi``): each estimate is pooled
    over the completed data sets by Rubin's rules (:mod:`.rubin`).  The LS means of the arm
    by visit and the differences from ``reference`` by visit are computed while imputing;
    any other request analyses every completed data set again with the fit's MMRM (once:
    the analyses are kept).

    Attributes
    ----------
    method, reference, arm, visit : what was imputed and compared.
    n_imputations : M.  seed : the entropy that reproduces the run (``seed=`` of :func:`impute`).
    delta, delta_arms : the shift after dropout and the arms it was applied to.
    estimates : (M, 3, R) per imputation: estimate, variance, df of the R LS means then differences.
    n_not_converged : imputations whose bootstrap or analysis fit did not converge.
    """

    method: str
    reference: object
    arm: str
    visit: str
    n_imputations: int
    seed: int
    delta: object
    delta_arms: tuple
    estimates: np.ndarray = field(repr=False)
    lsmeans_labels: pd.DataFrame = field(repr=False)
    compare_labels: pd.DataFrame = field(repr=False)
    imputed: np.ndarray = field(repr=False)
    data: ImputationData = field(repr=False)
    n_not_converged: int = 0
    analysis: Analysis | None = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def _pooled(self, labels: pd.DataFrame, rows: slice, alpha: float) -> pd.DataFrame:
        e = self.estimates[:, :, rows]
        return pd.concat([labels.reset_index(drop=True), pool(e[:, 0], e[:, 1], e[:, 2], alpha)], axis=1)

    def _fits(self) -> list:
        """The fit's MMRM on each completed data set (computed once)."""
        if "fits" not in self._cache:
            self._cache["fits"] = [self.analysis.fit(y) for y in self.imputed]
        return self._cache["fits"]

    def _pool_each(self, method: str, alpha: float, args: tuple, options: dict) -> pd.DataFrame:
        """``fit_m.method(*args, **options)`` on every completed data set, pooled row by row."""
        alpha = check_alpha(alpha)
        tables = [getattr(f, method)(*args, **options) for f in self._fits()]
        est, se, df = (np.stack([t[c].to_numpy() for t in tables]) for c in ("estimate", "se", "df"))
        labels = tables[0].drop(columns=[c for c in tables[0].columns if c in COLUMNS])
        return pd.concat([labels, pool(est, se**2, df, alpha)], axis=1)

    def lsmeans(self, specs=None, by=None, alpha: float = 0.05, **options) -> pd.DataFrame:
        """Pooled LS means: columns as ``fit.lsmeans`` (factor columns, ``estimate, se, df,
        lower, upper``) plus ``fmi``.  Without ``specs``: the arm by visit (``arm, visit``
        columns), as computed while imputing."""
        if specs is None and by is None and not options:
            n = len(self.lsmeans_labels)
            return self._pooled(self.lsmeans_labels, slice(0, n), alpha).drop(columns=["t", "p"])
        if specs is None:
            raise DataError("lsmeans() with by= or options needs specs=, e.g. lsmeans('ARM', by='AVISIT')")
        options = check_options("lsmeans", options)
        return self._pool_each("lsmeans", alpha, (specs, by), options).drop(columns=["t", "p"])

    def compare(self, spec=None, by=None, reference=None, pairwise: bool = False, adjust: str | None = None,
                alpha: float = 0.05, **options) -> pd.DataFrame:
        """Pooled differences of the levels of ``spec``: the keywords, defaults and columns of
        ``fit.compare`` plus ``fmi``; ``adjust`` is applied to the pooled p-values and limits
        ("dunnett" needs the joint distribution of the differences, which Rubin's rules do not
        give: use "bonferroni" or "holm").  Without ``spec``: the arm's differences from
        ``reference`` (default: the imputation's reference) at each visit, as computed while
        imputing (``compare(arm, by=visit, reference=reference)``)."""
        check_adjust(adjust, pairwise)
        if adjust == "dunnett":
            raise DataError("adjust='dunnett' needs the joint distribution of the pooled differences, which "
                            "Rubin's rules give contrast by contrast only; use adjust='bonferroni' or 'holm'")
        if spec is None:
            spec, by = self.arm, self.visit if by is None else by
            reference = self.reference if reference is None and not pairwise else reference
        stored = (spec == self.arm and by == self.visit and reference == self.reference and not pairwise
                  and not options)
        if stored:
            out = self._pooled(self.compare_labels, slice(len(self.lsmeans_labels), None), alpha)
        else:
            options = {**check_options("compare", options), "pairwise": pairwise}
            out = self._pool_each("compare", alpha, (spec, by, reference), options)
        if adjust is not None:
            adjust_table(out, spec, alpha, adjust)
        return out

    def completed_data(self, m: int) -> pd.DataFrame:
        """Imputed data set ``m`` (0-based): a row per subject and visit; ``imputed`` marks filled values."""
        if not 0 <= m < self.n_imputations:
            raise DataError(f"imputation {m} does not exist; there are {self.n_imputations} (0 to "
                            f"{self.n_imputations - 1})")
        out = self.data.frame.copy()
        out[self.data.response] = self.imputed[m].ravel()
        out["imputed"] = ~self.data.observed.ravel()
        return out


@dataclass(frozen=True)
class TippingPoint:
    r"""Result of :func:`tipping_point`.

    Attributes
    ----------
    table : one row per delta (and contrast): ``delta, contrast, estimate, se, df, t, p, lower, upper, fmi``;
        ``delta`` is the shift applied to the contrast's arm (negative when that arm was
        shifted downwards).
    tipping_deltas : contrast -> first delta of the grid (in the order given) at which
        :math:`p \ge \alpha`, or None if the difference stays significant over the grid.
    primary_p : contrast -> p-value of the fit's own difference at ``visit`` (the primary
        MMRM under MAR, ``fit.compare``).
    alpha, visit, method, n_imputations, arm, reference : the settings.
    """

    table: pd.DataFrame
    tipping_deltas: dict
    alpha: float
    visit: object
    method: str
    n_imputations: int
    primary_p: dict
    arm: str
    reference: object

    @property
    def tipping_delta(self) -> float | None:
        """The tipping delta of the single contrast (DataError with several: see ``tipping_deltas``)."""
        if len(self.tipping_deltas) != 1:
            raise DataError(f"there are {len(self.tipping_deltas)} contrasts; see tipping_deltas")
        return next(iter(self.tipping_deltas.values()))

    def status(self, contrast) -> str:
        r"""``"not significant"``: nothing to tip, the primary MMRM's :math:`p \ge \alpha` or
        already the imputations at :math:`\delta = 0` give :math:`p \ge \alpha`; ``"tips"``:
        a later delta of the grid does; ``"does not tip"``: significant over the whole grid."""
        if contrast not in self.tipping_deltas:
            raise DataError(f"contrast {contrast!r} is not in the tipping point "
                            f"({', '.join(map(str, self.tipping_deltas))})")
        delta = self.tipping_deltas[contrast]
        if self.primary_p[contrast] >= self.alpha or delta == 0:
            return NOT_SIGNIFICANT
        return TIPS if delta is not None else DOES_NOT_TIP

    def summary(self) -> pd.DataFrame:
        """One row per contrast: the row of ``table`` that answers "where does it tip?".

        ``"tips"``: the row at the tipping delta, "tips at delta = 3"; ``"does not tip"``: the
        last delta of the grid, "does not tip within the range (deltas 0 to 12)"; ``"not
        significant"``: no numbers, "not significant under MAR; no tipping point" when the
        primary MMRM is not significant, else the row at delta 0, "not significant at delta =
        0; no tipping point".  Columns: those of ``table``, then ``primary_p`` and ``tipping``.
        """
        rows = []
        for contrast, part in self.table.groupby("contrast", sort=False):
            status, delta = self.status(contrast), self.tipping_deltas[contrast]
            deltas = part["delta"].to_numpy()
            if status == DOES_NOT_TIP:
                row = part.iloc[[-1]]
                text = f"does not tip within the range (deltas {deltas[0]:g} to {deltas[-1]:g})"
            elif self.primary_p[contrast] >= self.alpha:
                row = part.iloc[[0]].assign(**{c: np.nan for c in part.columns if c != "contrast"})
                text = "not significant under MAR; no tipping point"
            else:
                row = part.loc[part["delta"] == delta].iloc[[0]]
                text = (f"tips at delta = {delta:g}" if status == TIPS
                        else "not significant at delta = 0; no tipping point")
            rows.append(row.assign(primary_p=self.primary_p[contrast], tipping=text))
        return pd.concat(rows, ignore_index=True)


def _setup(fit, method, n_imputations, reference, arm, delta_arms, seed):
    seed = check_seed(seed)
    if method not in METHODS:
        raise DataError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    strategy = STRATEGIES["mar" if method == "delta" else method]
    if not isinstance(n_imputations, (int, np.integer)) or n_imputations < 2:
        raise DataError(f"n_imputations must be an integer of at least 2, got {n_imputations!r}")
    if strategy.needs_reference and reference is None:
        raise DataError(f"method {method!r} needs reference= (the control arm's level)")
    visit = check_imputable(fit)
    arm = infer_arm(fit, visit, arm, reference)
    data = prepare(fit, visit, arm, reference)
    reference = data.arms[0] if reference is None else reference
    if strategy.needs_observation and (data.n_mar == 0).any():
        bad = data.subjects[data.n_mar == 0][0]
        raise DataError(f"method {method!r} carries a subject's last mean forward, but subject {bad!r} has "
                        "no observed visit")
    shifted = tuple(a for a in data.arms if a != reference) if delta_arms is None else tuple(delta_arms)
    entropy = np.random.SeedSequence(seed).entropy
    seeds = np.random.SeedSequence(entropy).spawn(n_imputations)
    return strategy, visit, arm, data, reference, shifted, entropy, seeds


def _run(fit, strategy, data, reference, arm, shifts, seeds, workers, progress, keep_data, desc, executor):
    analysis = Analysis(fit, data, reference)
    ctx = _Context(fit, refit_model(fit), subject_strata(fit, arm), data, strategy, analysis, shifts,
                   keep_data)
    out = run_tasks(_one_imputation, ctx, seeds, workers, progress, desc, executor)
    failed = sum(not ok for _, _, ok in out)
    if failed:
        warnings.warn(f"{failed} of {len(seeds)} imputations had a bootstrap or analysis fit that did not "
                      "converge; their estimates are used as they are", ConvergenceWarning, stacklevel=3)
    return analysis, out, failed


def impute(fit, method: str = "mar", n_imputations: int = 100, reference=None, arm: str | None = None,
           delta=0.0, delta_arms=None, seed: int | None = None, workers: int = 1,
           progress: bool | None = None, executor: Executor | None = None) -> MultipleImputation:
    r"""Multiple imputation from the fitted MMRM, analysed by the same MMRM and pooled by Rubin's rules.

    Parameters
    ----------
    fit : MMRMResults of an MMRM with visits as classes, e.g.
        ``CHG ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID)`` (also ``GROUP=`` by arm).
    method : "mar", "delta" (MAR plus ``delta``), "jump_to_reference", "copy_reference",
        "copy_increments_in_reference", "last_mean_carried_forward" (Carpenter et al. 2013).
    n_imputations : M (at least 2).
    reference : control level of the arm; needed by the reference-based methods; also the
        reference of the reported differences (default: the arm's first level).
    arm : treatment factor (default: the one factor of the mean model besides the visit).
    delta : number or mapping visit -> number, added to the imputed values after each
        subject's last observed visit in ``delta_arms`` (default: every arm but the reference).
    seed : makes the run reproducible (the result's ``seed`` reproduces a run made without one).
    workers : processes over imputations; results do not depend on it.
    progress : progress bar (None: on interactive terminals only).
    executor : run the imputations on this :class:`concurrent.futures.Executor` (e.g. a Dask
        ``Client.get_executor()``) instead of ``workers`` local processes; results do not
        depend on it (:mod:`trialmlm.runner`).

    Notes
    -----
    Dropout is the visit after the last observed one; earlier gaps are imputed under the
    strategy's joint distribution without delta.  Every subject with a row in the fitted
    data (also those without any observed response) is imputed and analysed.
    """
    strategy, visit, arm, data, reference, shifted, entropy, seeds = _setup(
        fit, method, n_imputations, reference, arm, delta_arms, seed)
    shift = delta_matrix(data, delta, shifted)
    if method == "delta" and not shift.any():
        raise DataError("method 'delta' needs a non-zero delta= applied to at least one dropout")
    analysis, out, failed = _run(fit, strategy, data, reference, arm, [shift], seeds, workers, progress, True,
                                 f"{method} imputations", executor)
    return MultipleImputation(
        method=method, reference=reference, arm=arm, visit=visit, n_imputations=n_imputations, seed=entropy,
        delta=delta, delta_arms=shifted, estimates=np.stack([s[0] for _, s, _ in out]),
        lsmeans_labels=analysis.lsmeans_labels, compare_labels=analysis.compare_labels,
        imputed=np.stack([y for y, _, _ in out]), data=data, n_not_converged=failed, analysis=analysis)


def delta_steps(sd: float, span: float = 2.0) -> np.ndarray:
    r"""The default tipping-point grid :math:`0, h, 2h, \dots, nh` in round steps covering ``span`` SDs.

    The step :math:`h` is the smallest of :math:`\{1, 2, 2.5, 5\} \times 10^k` for which
    :math:`n = \lceil \mathrm{span} \cdot sd / h \rceil \le 15`, so that the grid reaches at
    least :math:`\mathrm{span} \cdot sd` in 8 to 15 steps; e.g. :math:`sd = 6.2` gives
    :math:`h = 1`, :math:`0, 1, \dots, 13`; :math:`sd = 0.83` gives :math:`h = 0.2`,
    :math:`0, 0.2, \dots, 1.8`.
    """
    sd = float(sd)
    if not np.isfinite(sd) or sd <= 0:
        raise DataError(f"the default deltas need a positive SD of the response; got {sd!r}")
    target = span * sd
    exponent = int(np.floor(np.log10(target / MAX_STEPS)))  # a step of 10^(exponent + 1) always fits
    candidates = [m * 10.0 ** e for e in (exponent, exponent + 1) for m in ROUND_STEPS]
    n_steps = [int(np.ceil(target / h - 1e-9)) for h in candidates]
    h, n = next((h, n) for h, n in zip(candidates, n_steps) if n <= MAX_STEPS)
    return np.round(np.arange(n + 1) * h, max(0, 1 - exponent))


def _directions(primary: pd.DataFrame, arm: str, shifted: tuple, default: bool) -> dict:
    """Sign of the shift per shifted arm: towards the null (opposite to the primary
    difference from the reference) for the default grid, else +1 (deltas as given)."""
    estimate = dict(zip(primary[arm], primary["estimate"]))
    return {a: -1.0 if default and estimate.get(a, 0.0) > 0 else 1.0 for a in shifted}


def tipping_point(fit, deltas=None, arms=None, visit=None, method: str = "mar", n_imputations: int = 100,
                  reference=None, arm: str | None = None, alpha: float = 0.05, seed: int | None = None,
                  workers: int = 1, progress: bool | None = None,
                  executor: Executor | None = None) -> TippingPoint:
    r"""Delta-adjusted multiple imputation over a grid of shifts; where does significance tip?

    For each :math:`\delta` in ``deltas`` the imputed values after dropout in ``arms``
    (default: every arm but the reference) are shifted by :math:`\delta` and the difference
    from the reference at ``visit`` (default: the last visit) is pooled over the same
    ``n_imputations`` imputations (common random numbers across deltas, as in rbmi);
    ``reference`` (the control arm) is required.  A positive :math:`\delta` raises the
    shifted arm's imputed values, so it raises its difference from the reference.  Order
    ``deltas`` from the primary assumption (0) towards the unfavourable direction (positive
    when higher is worse); the tipping delta is the first at which :math:`p \ge \alpha`.

    ``deltas=None``: :func:`delta_steps` of the SD of the observed response at ``visit``,
    applied to each shifted arm in the direction that moves its difference towards the null:
    upwards when the primary (MAR) difference from the reference is negative, downwards
    (negative deltas in ``table``) when it is positive.  Other arguments as :func:`impute`.
    """
    alpha = check_alpha(alpha)
    if reference is None:
        raise DataError("tipping_point needs reference= (the control arm): the deltas shift the other arms "
                        "and the differences are taken from it")
    strategy, vname, arm, data, reference, shifted, entropy, seeds = _setup(
        fit, method, n_imputations, reference, arm, arms, seed)
    visit = data.visits[-1] if visit is None else visit
    if visit not in data.visits:
        raise DataError(f"visit {visit!r} is not a visit of '{vname}' ({', '.join(map(str, data.visits))})")
    if deltas is None:
        observed = data.y[:, data.visits.index(visit)]
        observed = observed[np.isfinite(observed)]
        if observed.size < 2:
            raise DataError(f"visit {visit!r} has {observed.size} observed response(s), too few for the SD "
                            "that scales the default deltas; pass deltas=")
        steps = delta_steps(np.std(observed, ddof=1))
    else:
        steps = finite_numbers("deltas", deltas)
        if not steps.size:
            raise DataError("deltas must hold at least one shift")
    primary = fit.compare(arm, by=vname, reference=reference, alpha=alpha)
    primary = primary.loc[primary[vname] == visit]
    direction = _directions(primary, arm, shifted, deltas is None)
    shifts = [sum((delta_matrix(data, sign * d, [a]) for a, sign in direction.items()), np.zeros_like(data.y))
              for d in steps]
    analysis, out, _ = _run(fit, strategy, data, reference, arm, shifts, seeds, workers, progress, False,
                            "tipping-point imputations", executor)
    stats = np.stack([s for _, s, _ in out])  # (M, n_deltas, 3, rows)
    n_ls = len(analysis.lsmeans_labels)
    labels = analysis.compare_labels
    at_visit = np.flatnonzero(labels[vname].to_numpy() == visit)
    sign = np.array([direction.get(a, 1.0) for a in labels[arm].to_numpy()[at_visit]])
    tables = []
    for i, d in enumerate(steps):
        e = stats[:, i][:, :, n_ls + at_visit]
        pooled = pool(e[:, 0], e[:, 1], e[:, 2], alpha)
        head = pd.DataFrame({"delta": sign * d + 0.0, "contrast": labels["contrast"].to_numpy()[at_visit]})
        tables.append(pd.concat([head, pooled], axis=1))
    table = pd.concat(tables, ignore_index=True)
    tipping = {}
    for contrast, rows in table.groupby("contrast", sort=False):
        lost = rows.loc[rows["p"] >= alpha, "delta"]
        tipping[contrast] = float(lost.iloc[0]) if len(lost) else None
    return TippingPoint(table, tipping, alpha, visit, method, n_imputations,
                        dict(zip(primary["contrast"], primary["p"])), arm, reference)
