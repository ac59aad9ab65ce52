r"""rbmi's tipping point: delta-adjusted approximate-Bayesian multiple imputation over a grid
of shifts, pooled by Rubin's rules at each (:func:`tipping`, the engine of
:func:`trialmlm.estimands.tipping_point`), and :class:`TippingPoint`, its table.

Every delta re-uses the same imputations (common random numbers, as rbmi): each
imputation is drawn once (:mod:`.approxbayes`), each shift of the grid added to it and the
completed data analysed, and the differences from the reference at the visit pooled by a
:class:`.pooled.PooledResult` per delta.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..checks import check_alpha, check_executor, finite_numbers
from ..errors import DataError
from .approxbayes import IMPUTATIONS, analysis_of, pooled_result, prepare, run_imputations
from .delta import delta_matrix
from .imputation import ImputationData, warn_not_converged
from .methods import ApproxBayes
from .pipeline import TIPPING_POINTS, Imputations, analysis_model

ROUND_STEPS = (1.0, 2.0, 2.5, 5.0)
MAX_STEPS = 15
TIPS, DOES_NOT_TIP, NOT_SIGNIFICANT = "tips", "does not tip", "not significant"


@dataclass(frozen=True)
class TippingPoint:
    r"""Result of :func:`trialmlm.estimands.tipping_point`.

    Attributes
    ----------
    table : one row per delta (and contrast): ``delta, contrast, estimate, se, df, t, p, lower, upper, fmi``;
        ``delta`` is the shift applied to the contrast's arm (negative when that arm was
        shifted downwards).
    tipping_deltas : contrast -> first delta of the grid (in the order given) at which
        :math:`p \ge \alpha`, or None if the difference stays significant over the grid.
    primary_p : contrast -> p-value of the fit's own difference at ``visit`` (the primary
        MMRM under MAR, ``fit.compare``).
    alpha, visit, default_strategy, n_samples, arm, reference : the settings.
    """

    table: pd.DataFrame
    tipping_deltas: dict
    alpha: float
    visit: object
    default_strategy: str
    n_samples: int
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


MAX_DELTA_SDS = 1e4  # |delta| / SD of the response beyond which rounding eats the pooled SE


def _check_deltas(deltas, observed: np.ndarray, visit) -> np.ndarray:
    r"""``deltas`` as finite numbers within ``MAX_DELTA_SDS`` SDs of the observed response at
    ``visit``: the between-imputation variance of estimates of size :math:`\delta` loses
    about :math:`\epsilon(\delta/sd)^2` of its value to rounding (2e-8 at the limit)."""
    steps = finite_numbers("deltas", deltas)
    if not steps.size:
        raise DataError("deltas must hold at least one shift")
    sd = float(np.std(observed, ddof=1)) if observed.size > 1 else np.nan
    limit = MAX_DELTA_SDS * sd
    if np.isfinite(limit) and limit > 0 and np.abs(steps).max() > limit:
        raise DataError(f"deltas must lie within +-{limit:.6g} ({MAX_DELTA_SDS:g} SDs of the response at "
                        f"{visit!r}, SD {sd:.4g}): beyond that the pooled SE is lost to rounding; got "
                        f"{np.abs(steps).max():g}")
    return steps


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


def _grid(data: ImputationData, visit, deltas) -> np.ndarray:
    """The checked ``deltas``, or :func:`delta_steps` of the SD of the observed response at ``visit``."""
    observed = data.y[:, data.visits.index(visit)]
    observed = observed[np.isfinite(observed)]
    if deltas is not None:
        return _check_deltas(deltas, observed, visit)
    if observed.size < 2:
        raise DataError(f"visit {visit!r} has {observed.size} observed response(s), too few for the SD "
                        "that scales the default deltas; pass deltas=")
    return delta_steps(np.std(observed, ddof=1))


def _directions(primary: pd.DataFrame, arm: str, shifted: tuple, default: bool) -> dict:
    """Sign of the shift per shifted arm: towards the null (opposite to the primary
    difference from the reference) for the default grid, else +1 (deltas as given)."""
    estimate = dict(zip(primary[arm], primary["estimate"]))
    return {a: -1.0 if default and estimate.get(a, 0.0) > 0 else 1.0 for a in shifted}


def _pool_deltas(result, stats: np.ndarray, steps, direction: dict, visit, alpha: float) -> pd.DataFrame:
    """``delta, contrast`` and the differences from the reference at ``visit`` pooled by the
    result of each delta's imputations (``stats``: (M, n_deltas, 3, R))."""
    tables = []
    for i, d in enumerate(steps):
        table = replace(result, estimates=stats[:, i]).compare(alpha=alpha)
        table = table.loc[table[result.visit] == visit].reset_index(drop=True)
        sign = np.array([direction.get(a, 1.0) for a in table[result.arm]])
        head = pd.DataFrame({"delta": sign * d + 0.0, "contrast": table["contrast"]})
        tables.append(pd.concat([head, table.iloc[:, len(result.compare_labels.columns):]], axis=1))
    return pd.concat(tables, ignore_index=True)


def _tipping_deltas(table: pd.DataFrame, alpha: float) -> dict:
    """Contrast -> the first delta at which p >= alpha (None if none)."""
    tipping = {}
    for contrast, rows in table.groupby("contrast", sort=False):
        lost = rows.loc[rows["p"] >= alpha, "delta"]
        tipping[contrast] = float(lost.iloc[0]) if len(lost) else None
    return tipping


def tipping(imputations: Imputations, analysis, deltas, arms, visit, alpha: float) -> TippingPoint:
    """The pipeline's tipping point of :class:`.methods.ApproxBayes`
    (:func:`trialmlm.estimands.tipping_point`): the imputations analysed at every delta of the
    grid, pooled by one :class:`.pooled.PooledResult` per delta."""
    draws = imputations.draws
    model, n, options, fit = draws.model, draws.method.n_samples, draws.run, draws.model.fit
    alpha = check_alpha(alpha)
    check_executor(options["executor"])
    if model.reference is None:
        raise DataError("tipping_point needs reference= (the control arm): the deltas shift the other arms "
                        "and the differences are taken from it")
    setup = prepare(fit, model.default_strategy, n, model.reference, model.arm, arms, draws.seed, model.ice,
                    model.strategies)
    data, vname, arm = setup.data, setup.visit, setup.arm
    visit = data.visits[-1] if visit is None else visit
    if visit not in data.visits:
        raise DataError(f"visit {visit!r} is not a visit of '{vname}' ({', '.join(map(str, data.visits))})")
    steps = _grid(data, visit, deltas)
    primary = fit.compare(arm, by=vname, reference=model.reference, alpha=alpha)
    primary = primary.loc[primary[vname] == visit]
    direction = _directions(primary, arm, setup.shifted, deltas is None)
    shifts = [sum((delta_matrix(data, setup.plan, sign * d, [a]) for a, sign in direction.items()),
                  np.zeros_like(data.y)) for d in steps]
    imputation = analysis_of(fit, setup, analysis)
    out = run_imputations(setup, imputation, shifts, options["workers"], options["progress"], False,
                          "tipping-point imputations", options["executor"])
    failed = warn_not_converged([ok for _, _, ok, _ in out], IMPUTATIONS)
    stats = np.stack([st for _, st, _, _ in out])  # (M, n_deltas, 3, rows)
    result = pooled_result(setup, imputation, stats[:, 0], dict(
        method=draws.method, default_strategy=model.default_strategy, analysis_model=analysis_model(analysis),
        n_not_converged=failed))
    table = _pool_deltas(result, stats, steps, direction, visit, alpha)
    return TippingPoint(table, _tipping_deltas(table, alpha), alpha, visit, model.default_strategy, n,
                        dict(zip(primary["contrast"], primary["p"])), arm, model.reference)


TIPPING_POINTS[ApproxBayes] = tipping
